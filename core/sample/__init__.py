"""The project's own sample: two moving hands rendered from a known motion, with exact ground
truth. `make_sample(dir)` writes it, `ensure_sample()` keeps one in the user's data folder."""

from core.sample.generate import ensure_sample, make_sample

__all__ = ["ensure_sample", "make_sample"]
