"""QImage -> numpy, for screenshots, the 3D canvas and tests."""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage


def qimage_rgb(image: QImage) -> np.ndarray:
    """(H, W, 3) uint8 copy of a QImage's pixels, whatever its format."""
    img = image.convertToFormat(QImage.Format.Format_RGB888)
    arr = np.frombuffer(img.constBits(), np.uint8, count=img.bytesPerLine() * img.height())
    return (
        arr.reshape(img.height(), img.bytesPerLine())[:, : img.width() * 3]
        .reshape(img.height(), img.width(), 3)
        .copy()
    )
