"""A dark neutral theme and the application icon, loaded from resources/ (core/resources.py):
Fusion style, the palette of resources/theme/colors.json and the style sheet
resources/theme/dark.qss."""

from __future__ import annotations

from functools import cache

from PySide6.QtCore import QSize
from PySide6.QtGui import QColor, QIcon, QPalette
from PySide6.QtWidgets import QApplication

from core.resources import ICON_SIZES, resource, theme_colors


def stylesheet() -> str:
    return resource("theme/dark.qss").read_text(encoding="utf-8")


def palette() -> QPalette:
    """The palette of resources/theme/colors.json (roles named as in QPalette.ColorRole)."""
    colors = theme_colors()
    pal = QPalette()
    for role, value in colors["palette"].items():
        pal.setColor(QPalette.ColorRole[role], QColor(value))
    for role, value in colors.get("palette_disabled", {}).items():
        pal.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole[role], QColor(value))
    return pal


@cache
def app_icon() -> QIcon:
    """The application icon: the PNG sizes rendered from the SVG (crisp at each size the
    window manager asks for; resources/README.md)."""
    icon = QIcon()
    for size in ICON_SIZES:
        icon.addFile(str(resource(f"icons/vidihand-{size}.png")), QSize(size, size))
    return icon


def apply_theme(app: QApplication) -> None:
    """Style, palette, style sheet and the icon every window and dialog shows."""
    app.setStyle("Fusion")
    app.setPalette(palette())
    app.setStyleSheet(stylesheet())
    app.setWindowIcon(app_icon())
