"""Per-user folders: settings, caches, autosave journals. Never relative to the working directory.

The folders are platformdirs' for the app name `vidihand` (on Linux the XDG Base Directory
ones: `$XDG_CONFIG_HOME/vidihand`, default `~/.config/vidihand`; `$XDG_CACHE_HOME/vidihand`,
`~/.cache/vidihand`; `$XDG_DATA_HOME/vidihand`, `~/.local/share/vidihand`; the platform's
conventions elsewhere). `VIDIHAND_CONFIG_DIR`, `VIDIHAND_CACHE_DIR` and `VIDIHAND_DATA_DIR`
override each one. A folder is created when asked for.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import platformdirs

APP_NAME = "vidihand"


def _folder(env: str, default: Callable[..., Path]) -> Path:
    value = os.environ.get(env)
    p = Path(value) if value else default(APP_NAME, appauthor=False)
    p.mkdir(parents=True, exist_ok=True)
    return p


def config_dir() -> Path:
    return _folder("VIDIHAND_CONFIG_DIR", platformdirs.user_config_path)


def cache_dir() -> Path:
    return _folder("VIDIHAND_CACHE_DIR", platformdirs.user_cache_path)


def data_dir() -> Path:
    """Where generated data lives (the project's own sample, proxies)."""
    return _folder("VIDIHAND_DATA_DIR", platformdirs.user_data_path)


def user_data_home() -> Path:
    """The user's data folder itself (`$XDG_DATA_HOME`, default `~/.local/share` on Linux):
    where desktop entries and icons go."""
    return platformdirs.user_data_path()
