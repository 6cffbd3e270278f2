"""Colours shared by the views, so left/right and sources read the same everywhere."""

from __future__ import annotations

from PySide6.QtGui import QColor

from core.labels.document import Source
from core.labels.joints import HAND_COLORS_HEX

#: left = 0, right = 1
HAND_COLORS = (QColor(HAND_COLORS_HEX[0]), QColor(HAND_COLORS_HEX[1]))
HAND_RGB = tuple((c.redF(), c.greenF(), c.blueF()) for c in HAND_COLORS)
HAND_LABELS = ("Left", "Right")

SOURCE_COLORS: dict[int, QColor] = {
    Source.NONE: QColor(0, 0, 0, 0),
    Source.PREDICTED: QColor("#5c7cfa"),
    Source.EDITED: QColor("#40c057"),
    Source.INTERPOLATED: QColor("#fab005"),
    Source.IMPORTED: QColor("#be4bdb"),
}
REVIEWED_COLOR = QColor("#20c997")
FLAG_COLOR = QColor("#fa5252")
BACKGROUND = QColor("#1e1f22")
LANE_BACKGROUND = QColor("#2a2c30")
TEXT = QColor("#d8dadf")
TEXT_DIM = QColor("#8b8f98")
MARKER = QColor("#ffd43b")


def confidence_alpha(confidence: float) -> float:
    """Opacity for a hand drawn with this confidence: faint but visible at 0, opaque at 1."""
    c = 0.0 if confidence != confidence else max(0.0, min(1.0, float(confidence)))
    return 0.25 + 0.75 * c


#: what a hand's overlay colour fades toward as its confidence drops (a neutral mid grey)
FADE_TO = QColor("#7c7f86")
#: the dark edge under the overlay's bones and around its joints
OUTLINE = QColor("#111214")


def confidence_color(color: QColor, confidence: float) -> QColor:
    """`color` faded toward grey by confidence, and opaque: an opaque pen takes Qt's fast path
    for antialiased lines (~6x faster than a translucent one: most of a frame step's overlay)."""
    a = confidence_alpha(confidence)
    return QColor.fromRgbF(
        *(
            a * x + (1 - a) * y
            for x, y in zip(color.getRgbF()[:3], FADE_TO.getRgbF()[:3], strict=True)
        )
    )
