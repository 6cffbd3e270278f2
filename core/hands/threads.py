"""Torch thread settings for the small batched tensors of the hand models (used by
core/hands/mano.py and core/hands/fit.py; a module of its own so neither imports the other)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


@contextlib.contextmanager
def single_thread() -> Iterator[None]:
    """Run torch on one intra-op thread for the duration. MANO's tensors are small: extra
    threads only add synchronisation, and on a busy machine that costs 10-20x (measured)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
