"""How one hand is drawn over the video: bones, joint discs and its L/R badge, in widget
coordinates (the video pane computes where; these only paint, given what they use)."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QLineF, QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QPainter, QPen

from app.widgets.colors import OUTLINE
from core.labels.joints import BONES, MIDDLE_MCP, N_JOINTS, WRIST


def paint_hand(p: QPainter, xy: np.ndarray, ok: np.ndarray, color: QColor, width: float) -> float:
    """Bones and joint discs of one hand at widget points `xy` (21, 2) where `ok`; returns the
    discs' radius."""
    # bones: a dark outline under a coloured line so it reads on any background. Separate
    # flat-capped lines, not one round-capped path: the joint discs cover the line ends, and
    # Qt strokes this 4-6x faster (a path was the largest cost of a frame step)
    lines = [QLineF(*xy[a], *xy[b]) for a, b in BONES if ok[a] and ok[b]]
    p.setBrush(Qt.BrushStyle.NoBrush)
    # 1.5 px of outline each side: the orange right hand stays distinct on skin, and both
    # on dark or bright video
    p.setPen(QPen(OUTLINE, width + 3, Qt.PenStyle.SolidLine, Qt.PenCapStyle.FlatCap))
    p.drawLines(lines)
    p.setPen(QPen(color, width, Qt.PenStyle.SolidLine, Qt.PenCapStyle.FlatCap))
    p.drawLines(lines)
    r = width + 1.5
    p.setPen(QPen(OUTLINE, 1.5))
    p.setBrush(QBrush(color))
    for j in range(N_JOINTS):
        if ok[j]:
            p.drawEllipse(QPointF(*xy[j]), r, r)
    return r


def paint_hand_mark(
    p: QPainter,
    letter: str,
    xy: np.ndarray,
    ok: np.ndarray,
    color: QColor,
    r: float,
    font_family: str,
    bounds: QSize,
) -> QRectF:
    """The hand's letter (L/R) in a badge of its colour with a dark border and dark text,
    beyond the wrist (away from the middle knuckle) so it covers no finger, kept inside
    `bounds`; returns where it was drawn."""
    away = np.array([0.0, 1.0])
    if ok[MIDDLE_MCP]:
        d = xy[WRIST] - xy[MIDDLE_MCP]
        n = float(np.hypot(*d))
        if n > 1e-6:
            away = d / n
    p.setFont(QFont(font_family, 11, QFont.Weight.Bold))
    fm = p.fontMetrics()
    w, h = fm.horizontalAdvance(letter) + 10, fm.height() + 2
    centre = xy[WRIST] + away * (r + 4 + 0.5 * float(np.hypot(w, h)))
    cx = min(max(float(centre[0]), w / 2 + 2), bounds.width() - w / 2 - 2)
    cy = min(max(float(centre[1]), h / 2 + 2), bounds.height() - h / 2 - 2)
    rect = QRectF(cx - w / 2, cy - h / 2, w, h)
    p.setPen(QPen(OUTLINE, 1.5))
    p.setBrush(QBrush(color))
    p.drawRoundedRect(rect, 4, 4)
    p.setPen(OUTLINE)
    p.drawText(rect, Qt.AlignmentFlag.AlignCenter, letter)
    return rect
