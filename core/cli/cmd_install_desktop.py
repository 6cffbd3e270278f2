"""`vidihand install-desktop`: register the app with the desktop for the current user."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "install-desktop",
        help="add ViDiHand Studio to the desktop's launcher and 'Open with' for videos "
        "(current user, $XDG_DATA_HOME)",
    )
    p.add_argument("--uninstall", action="store_true", help="remove what install-desktop installed")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from core.desktop import data_home, install_desktop, uninstall_desktop

    if args.uninstall:
        removed = uninstall_desktop()
        print(f"removed {len(removed)} files from {data_home()}")
        return 0
    files = install_desktop()
    print(f"installed {files[0]}")
    print(f"installed the icon in {len(files) - 1} sizes under {data_home() / 'icons/hicolor'}")
    return 0
