"""`vidihand review [VIDEO] [--labels L]`: the review app. With no video it opens the sample."""

from __future__ import annotations

import argparse
from collections.abc import Callable


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "review",
        help="open the review app (video, 2D overlay, 3D view, timeline, reconstruction)",
        description="Open the review window. Without VIDEO, the project's own sample is opened "
        "(generated on first use). With --screenshot, render frame --frame of the real window "
        "to a PNG and exit.",
    )
    p.add_argument("video", nargs="?", help="video file or folder of images")
    p.add_argument("--labels", help="label file (.h5) to open with the video")
    p.add_argument("--frame", type=int, help="frame to show first")
    p.add_argument(
        "--screenshot", metavar="OUT.png", help="save a screenshot of the window and exit"
    )
    p.add_argument("--size", default="1600x960", help="window size for --screenshot (WxH)")
    p.set_defaults(func=run)


#: the entry-point group the GUI registers its launchers in (pyproject.toml): core finds the app
#: by name, never by importing it, so core stays importable without Qt
APP_GROUP = "vidihand.apps"


def load_app(name: str) -> Callable[..., int]:
    """The launcher the installed app registered as `name` in the `vidihand.apps` group."""
    from importlib.metadata import entry_points

    from core.errors import VidihandError

    for ep in entry_points(group=APP_GROUP):
        if ep.name == name:
            launcher: Callable[..., int] = ep.load()
            return launcher
    raise VidihandError(
        f"The review app is not installed with this copy of vidihand (no {name!r} entry point in "
        f"the {APP_GROUP!r} group).",
        hint="Install the project with its app: bash scripts/setup.sh (or pip install -e .).",
    )


def require_display() -> None:
    """Refuse to start without a display, in one line: Qt would abort the process (exit 134)
    after printing a page about platform plugins."""
    import os
    import sys

    from core.errors import VidihandError

    platform = os.environ.get("QT_QPA_PLATFORM", "")
    if platform and not platform.startswith(("xcb", "wayland")):
        return  # offscreen, vnc, eglfs, ...: Qt needs no window system
    if sys.platform in ("darwin", "win32"):
        return
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise VidihandError(
            "no display: `vidihand review` needs a graphical session (DISPLAY and "
            "WAYLAND_DISPLAY are not set).",
            hint="Run it on a desktop, over `ssh -X`, under `xvfb-run`, or with "
            "QT_QPA_PLATFORM=offscreen for --screenshot.",
        )


def run(args: argparse.Namespace) -> int:
    import os

    os.environ.setdefault("QT_API", "pyside6")
    from core.errors import VidihandError

    try:
        w, h = (int(v) for v in str(args.size).lower().split("x"))
    except ValueError:
        raise VidihandError(f"--size must look like 1600x960, got {args.size!r}.") from None
    require_display()
    return load_app("review")(
        args.video, args.labels, frame=args.frame, screenshot=args.screenshot, size=(w, h)
    )
