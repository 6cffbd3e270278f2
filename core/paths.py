"""Per-user folders: settings, caches, autosave journals. Never relative to the working directory."""

from __future__ import annotations

import os
from pathlib import Path


def _xdg(var: str, default: str) -> Path:
    return Path(os.environ.get(var) or Path.home() / default)


def config_dir() -> Path:
    p = Path(
        os.environ.get("VIDIHAND_CONFIG_DIR") or _xdg("XDG_CONFIG_HOME", ".config") / "vidihand"
    )
    p.mkdir(parents=True, exist_ok=True)
    return p


def cache_dir() -> Path:
    p = Path(os.environ.get("VIDIHAND_CACHE_DIR") or _xdg("XDG_CACHE_HOME", ".cache") / "vidihand")
    p.mkdir(parents=True, exist_ok=True)
    return p


def data_dir() -> Path:
    """Where generated data lives (the project's own sample, proxies)."""
    p = Path(
        os.environ.get("VIDIHAND_DATA_DIR") or _xdg("XDG_DATA_HOME", ".local/share") / "vidihand"
    )
    p.mkdir(parents=True, exist_ok=True)
    return p
