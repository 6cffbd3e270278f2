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
    hint = (
        "Run it on a desktop, over `ssh -X`, under `xvfb-run`, or with "
        "QT_QPA_PLATFORM=offscreen for --screenshot."
    )
    display = os.environ.get("DISPLAY", "")
    wayland = os.environ.get("WAYLAND_DISPLAY", "")
    if not (display or wayland):
        raise VidihandError(
            "no display: `vidihand review` needs a graphical session (DISPLAY and "
            "WAYLAND_DISPLAY are not set).",
            hint=hint,
        )
    if display and (platform.startswith("xcb") or not (platform or wayland)):
        problem = x_display_problem(display)  # Qt would use X11: is the server there?
        if problem:
            raise VidihandError(
                f"cannot connect to the X display {display} (DISPLAY): {problem}.", hint=hint
            )


#: libxcb's xcb_connection_has_error codes, in words
_XCB_ERRORS = {
    1: "no X server answers there, or it refused this user (X authority)",
    2: "the X server does not support a required extension",
    3: "out of memory",
    4: "the X server's request length limit was exceeded",
    5: "the DISPLAY value cannot be parsed (expected e.g. :0 or host:0.0)",
    6: "the X server has no such screen",
    7: "a file descriptor could not be passed",
}


def x_display_problem(display: str) -> str:
    """Why the X display `display` cannot be used ("" when it can, or when libxcb is missing,
    which Qt's xcb plugin then reports itself). Connects with libxcb, as Qt's xcb plugin does,
    so the answer is Qt's own; libxcb's own complaints on stderr are kept off the terminal."""
    import ctypes
    import ctypes.util
    import os

    name = ctypes.util.find_library("xcb")
    if not name:
        return ""
    try:
        xcb = ctypes.CDLL(name)
    except OSError:
        return ""
    xcb.xcb_connect.restype = ctypes.c_void_p
    xcb.xcb_connect.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
    xcb.xcb_connection_has_error.argtypes = [ctypes.c_void_p]
    xcb.xcb_disconnect.argtypes = [ctypes.c_void_p]
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        conn = xcb.xcb_connect(display.encode(), None)
        code = int(xcb.xcb_connection_has_error(conn))
        xcb.xcb_disconnect(conn)
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
    return _XCB_ERRORS.get(code, f"libxcb error {code}") if code else ""


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
