"""Screenshots of the real window, 3D view included.

With the off-screen canvas (app/widgets/vtk_canvas.py) the 3D view is painted by Qt, so
`QWidget.grab()` sees it like any other widget. The embedded OpenGL canvas is not seen by Qt's
painter: there the scene's own rendering is painted over its place in the grab. Either way the
saved image is what a user sees on screen. `settle` renders the scene first.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import QPoint
from PySide6.QtGui import QImage, QPainter
from PySide6.QtWidgets import QApplication

from app.main_window import MainWindow
from app.qimage import qimage_rgb


def settle(window: MainWindow, rounds: int = 5, exact_within: float = 30.0) -> None:
    """Let pending layout, paint and render events run, and wait (up to `exact_within`
    seconds) for the exact frame where the video pane shows a stand-in while it decodes."""
    for _ in range(rounds):
        QApplication.processEvents()
    deadline = time.monotonic() + exact_within
    while window.video_view.proxy_of is not None and time.monotonic() < deadline:
        QApplication.processEvents()
        time.sleep(0.01)
    window.view3d.render()
    QApplication.processEvents()


def grab_window(window: MainWindow) -> QImage:
    settle(window)
    image = window.grab().toImage().convertToFormat(QImage.Format.Format_RGB888)
    canvas = window.view3d.canvas
    if canvas.kind == "opengl" and canvas.isVisible() and canvas.width() > 1:
        rgb = np.ascontiguousarray(canvas.image_array())
        h, w = rgb.shape[:2]
        scene = QImage(rgb.data, w, h, rgb.strides[0], QImage.Format.Format_RGB888).copy()
        pos = canvas.mapTo(window, QPoint(0, 0))
        dpr = image.devicePixelRatio() or 1.0
        scene = scene.scaled(int(canvas.width() * dpr), int(canvas.height() * dpr))
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
    """(h, w, 3) uint8 copy of a region of an image (for blank checks)."""
    return qimage_rgb(image.copy(x, y, w, h))
