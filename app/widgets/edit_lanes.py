"""Timeline lanes for editing: keyframes per hand, and the edit range.

Both are ordinary `Lane`s (app/widgets/timeline.py): rendered per pixel column from prefix sums,
so they cost the same at any zoom.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QColor

from app.selection import Selection
from app.widgets.colors import HAND_COLORS, HAND_LABELS, TEXT
from app.widgets.timeline import Columns, Lane, lane_fill, prefix_sums
from core.labels.document import LabelDocument

KEYFRAME_COLOR = QColor("#f8f9fa")
RANGE_COLOR = QColor("#ffd43b")


def keyframe_lane(hand: int) -> Lane:
    """Columns holding at least one keyframe of `hand` (a person fixed that frame)."""

    def render(doc: LabelDocument, cols: Columns, h: int, cache: dict) -> np.ndarray:
        n = cols.sum(prefix_sums(cache, doc, ("keyframe", hand)))
        img = lane_fill((n > 0).astype(np.float64), KEYFRAME_COLOR, h).copy()
        if h > 4:  # a diamond-ish tick: keep the top and bottom rows dim so keys read as marks
            img[[0, -1]] = lane_fill(0.35 * (n > 0), KEYFRAME_COLOR, 2)
        return img

    return Lane("keyframes", 9, render, HAND_LABELS[hand], HAND_COLORS[hand])


def range_lane(selection: Selection) -> Lane:
    """The edit range the range operations work on (Ctrl+drag on the timeline, [ and ])."""

    def render(doc: LabelDocument, cols: Columns, h: int, cache: dict) -> np.ndarray:
        rng = selection.range
        if rng is None:
            on = np.zeros(cols.width)
        else:
            a, b = rng
            overlap = np.minimum(cols.ends, b + 1) - np.maximum(cols.starts, a)
            on = np.clip(overlap / cols.count, 0, 1)
            on[overlap > 0] = np.maximum(on[overlap > 0], 0.6)
        return lane_fill(on, RANGE_COLOR, h)

    return Lane("edit range", 10, render, "Review", TEXT)
