"""Render resources/icons/vidihand.svg to the PNG sizes shipped beside it (needs PySide6)."""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

ICONS = Path(__file__).resolve().parents[1] / "resources" / "icons"
SIZES = (16, 24, 32, 48, 64, 128, 256, 512)


def main() -> int:
    app = QGuiApplication([sys.argv[0], "-platform", "offscreen"])  # noqa: F841 - Qt needs it
    svg = QSvgRenderer(str(ICONS / "vidihand.svg"))
    if not svg.isValid():
        print("vidihand.svg is not a valid SVG", file=sys.stderr)
        return 1
    for size in SIZES:
        img = QImage(size, size, QImage.Format.Format_ARGB32)
        img.fill(Qt.GlobalColor.transparent)
        p = QPainter(img)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        svg.render(p)
        p.end()
        img.save(str(ICONS / f"vidihand-{size}.png"))
        print(f"wrote {ICONS / f'vidihand-{size}.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
