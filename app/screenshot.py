"""Screenshots of the real window, 3D view included.

`QWidget.grab()` renders widgets through Qt's painter, which does not see the OpenGL content of
the VTK render window; the 3D view's own rendering (`plotter.screenshot`) is painted over its
place in the grab, so the saved image is what a user sees on screen.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QPoint
from PySide6.QtGui import QImage, QPainter
from PySide6.QtWidgets import QApplication

from app.main_window import MainWindow


def settle(window: MainWindow, rounds: int = 5) -> None:
    """Let pending layout, paint and render events run."""
    for _ in range(rounds):
        QApplication.processEvents()
    window.view3d.render()
    QApplication.processEvents()


def grab_window(window: MainWindow) -> QImage:
    settle(window)
    image = window.grab().toImage().convertToFormat(QImage.Format.Format_RGB888)
    view = window.view3d
    if view.isVisible() and view.width() > 1 and view.height() > 1:
        rgb = view.grab_image()
        h, w = rgb.shape[:2]
        rgb = np.ascontiguousarray(rgb)
        scene = QImage(rgb.data, w, h, rgb.strides[0], QImage.Format.Format_RGB888).copy()
        target = view.plotter.interactor
        pos = target.mapTo(window, QPoint(0, 0))
        dpr = image.devicePixelRatio() or 1.0
        scene = scene.scaled(int(target.width() * dpr), int(target.height() * dpr))
        p = QPainter(image)
        p.drawImage(QPoint(int(pos.x() * dpr), int(pos.y() * dpr)), scene)
        p.end()
    return image


def save_screenshot(window: MainWindow, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    image = grab_window(window)
    if not image.save(str(path)):
        raise OSError(f"cannot write the screenshot {path}")
    return path


def region_array(image: QImage, x: int, y: int, w: int, h: int) -> np.ndarray:
    """(h, w, 3) uint8 copy of a region of an RGB888 image (for blank checks)."""
    img = image.convertToFormat(QImage.Format.Format_RGB888).copy(x, y, w, h)
    ptr = img.constBits()
    arr = np.frombuffer(ptr, np.uint8, count=img.bytesPerLine() * img.height())
    return (
        arr.reshape(img.height(), img.bytesPerLine())[:, : img.width() * 3]
        .reshape(img.height(), img.width(), 3)
        .copy()
    )
