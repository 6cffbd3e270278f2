"""Register ViDiHand Studio with the desktop for the current user (freedesktop.org specs).

`install_desktop()` copies the desktop entry to `$XDG_DATA_HOME/applications/` (default
`~/.local/share/applications`) and the icon to `$XDG_DATA_HOME/icons/hicolor/<size>/apps/`,
so the launcher lists "ViDiHand Studio", file managers offer it for videos ("Open with"), and
the taskbar shows its icon. `Exec=` is the `vidihand` found on PATH, or the absolute path of
this installation's `vidihand` when the one on PATH is another (or none: a virtualenv that is
not activated). Then `update-desktop-database` and `gtk-update-icon-cache` refresh the caches
when they are installed. `uninstall_desktop()` removes exactly those files.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from core.io.atomic import atomic_write_bytes
from core.paths import user_data_home
from core.resources import DESKTOP_FILE, ICON_NAME, ICON_SIZES, resource


def data_home() -> Path:
    """$XDG_DATA_HOME, or ~/.local/share (the XDG Base Directory default; platformdirs)."""
    return user_data_home()


def vidihand_command() -> str:
    """How a launcher starts this installation's `vidihand`."""
    here = Path(sys.executable).parent / "vidihand"
    on_path = shutil.which("vidihand")
    if on_path and (not here.exists() or Path(on_path).resolve() == here.resolve()):
        return "vidihand"
    return str(here) if here.exists() else "vidihand"


def desktop_entry(command: str = "vidihand") -> str:
    """The shipped entry with `Exec=`/`TryExec=` pointing at `command`."""
    lines = []
    for line in resource(DESKTOP_FILE).read_text(encoding="utf-8").splitlines():
        if line.startswith("Exec="):
            line = f"Exec={_quote(command)} review %f"
        elif line.startswith("TryExec="):
            line = f"TryExec={command}"
        lines.append(line)
    return "\n".join(lines) + "\n"


def _quote(arg: str) -> str:
    """Quote an Exec argument as the Desktop Entry spec asks (only when it needs it)."""
    if not any(c in arg for c in " \t\"'\\><~|&;$*?#()`"):
        return arg
    escaped = "".join("\\" + c if c in '"`$\\' else c for c in arg)
    return f'"{escaped}"'


def installed_files(base: Path | None = None) -> list[Path]:
    base = base or data_home()
    files = [base / "applications" / DESKTOP_FILE]
    files += [base / "icons/hicolor" / f"{s}x{s}" / "apps" / f"{ICON_NAME}.png" for s in ICON_SIZES]
    files.append(base / "icons/hicolor/scalable/apps" / f"{ICON_NAME}.svg")
    return files


def install_desktop(base: Path | None = None, command: str | None = None) -> list[Path]:
    """Install the desktop entry and the icons for the current user; returns the files."""
    base = base or data_home()
    entry, *pngs, svg = installed_files(base)
    atomic_write_bytes(entry, desktop_entry(command or vidihand_command()).encode())
    for size, path in zip(ICON_SIZES, pngs, strict=True):
        atomic_write_bytes(path, resource(f"icons/vidihand-{size}.png").read_bytes())
    atomic_write_bytes(svg, resource("icons/vidihand.svg").read_bytes())
    _refresh_caches(base)
    return [entry, *pngs, svg]


def uninstall_desktop(base: Path | None = None) -> list[Path]:
    """Remove what `install_desktop` installed; returns the files removed."""
    base = base or data_home()
    removed = []
    for path in installed_files(base):
        if path.exists():
            path.unlink()
            removed.append(path)
    _refresh_caches(base)
    return removed


def _refresh_caches(base: Path) -> None:
    """Best effort: desktops also rescan on their own, so a missing tool is no error."""
    for cmd in (
        ["update-desktop-database", "-q", str(base / "applications")],
        ["gtk-update-icon-cache", "-q", "-t", str(base / "icons" / "hicolor")],
    ):
        if shutil.which(cmd[0]):
            subprocess.run(cmd, check=False, capture_output=True, timeout=30)
