"""Where the application's resources are (icon, desktop entry, theme): no Qt here.

In a source checkout they are the folder `resources/` beside `core/`; an installed copy has
them as the package `vidihand_resources` (setup.py maps the folder onto that name).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

#: the icon's name in icon themes and in the desktop entry's Icon=
ICON_NAME = "vidihand-studio"
DESKTOP_FILE = "vidihand-studio.desktop"
#: PNG sizes shipped in resources/icons (vidihand-<N>.png)
ICON_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)


@cache
def resources_dir() -> Path:
    """The resources folder: the checkout's, else the installed package's."""
    here = Path(__file__).resolve().parents[1] / "resources"
    if (here / "theme").is_dir():
        return here
    import importlib.util

    spec = importlib.util.find_spec("vidihand_resources")
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    raise FileNotFoundError(
        "ViDiHand Studio's resources are missing: reinstall it (pip install vidihand-studio)."
    )


def resource(name: str) -> Path:
    """Path of a resource file, e.g. `resource("icons/vidihand.svg")`."""
    return resources_dir() / name


@cache
def theme_colors() -> dict[str, Any]:
    """resources/theme/colors.json: {"palette": {role: "#rrggbb"}, "failure_kinds": {...}}."""
    data: dict[str, Any] = json.loads(resource("theme/colors.json").read_text(encoding="utf-8"))
    return data
