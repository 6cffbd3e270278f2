"""How one hand is drawn over the video: bones, joint discs and its L/R badge, in widget
coordinates (the video pane computes where; these only paint, given what they use).

Joint discs are antialiased ellipses drawn once per colour, radius and quarter-pixel offset
into small images and then blitted (`disc_images`): 42 antialiased ellipses were ~0.35 ms of
every frame step's paint, the blits a third of that. A disc lands within 1/8 pixel of its
joint. Painters with a transform (none in the app today) get the ellipses themselves.
"""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QLineF, QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetrics, QImage, QPainter, QPen

from app.widgets.colors import OUTLINE
from core.labels.joints import BONES, MIDDLE_MCP, WRIST


def paint_hand(p: QPainter, xy: np.ndarray, ok: np.ndarray, color: QColor, width: float) -> float:
    """Bones and joint discs of one hand at widget points `xy` (21, 2) where `ok`; returns the
    discs' radius."""
    # bones: a dark outline under a coloured line so it reads on any background. Separate
    # flat-capped lines, not one round-capped path: the joint discs cover the line ends, and
    # Qt strokes this 4-6x faster (a path was the largest cost of a frame step)
    pts, good = xy.tolist(), ok.tolist()
    lines = [QLineF(*pts[a], *pts[b]) for a, b in BONES if good[a] and good[b]]
    p.setBrush(Qt.BrushStyle.NoBrush)
    # 1.5 px of outline each side: the orange right hand stays distinct on skin, and both
    # on dark or bright video
    p.setPen(QPen(OUTLINE, width + 3, Qt.PenStyle.SolidLine, Qt.PenCapStyle.FlatCap))
    p.drawLines(lines)
    p.setPen(QPen(color, width, Qt.PenStyle.SolidLine, Qt.PenCapStyle.FlatCap))
    p.drawLines(lines)
    r = width + 1.5
    paint_discs(p, [pt for pt, g in zip(pts, good, strict=True) if g], color, r)
    return r


def paint_discs(p: QPainter, points: list[list[float]], color: QColor, r: float) -> None:
    """Joint discs of radius `r` at widget `points`: blitted (`disc_images`), or drawn as
    ellipses where the painter has a transform."""
    if not p.transform().isIdentity():
        p.setPen(QPen(OUTLINE, 1.5))
        p.setBrush(QBrush(color))
        for x, y in points:
            p.drawEllipse(QPointF(x, y), r, r)
        return
    dpr = p.device().devicePixelRatioF() if p.device() is not None else 1.0
    images, half = disc_images(color, r, dpr)
    for x, y in points:
        # the device pixel and the quarter of it the centre falls in
        kx, ky = math.floor(x * dpr * SUB + 0.5), math.floor(y * dpr * SUB + 0.5)
        px, py = kx // SUB, ky // SUB
        p.drawImage(
            QPointF((px - half) / dpr, (py - half) / dpr), images[(ky % SUB) * SUB + kx % SUB]
        )


#: sub-pixel positions per axis a joint disc is drawn at
SUB = 4
_discs: dict[tuple[int, int, float], tuple[list[QImage], int]] = {}


def disc_images(color: QColor, r: float, dpr: float = 1.0) -> tuple[list[QImage], int]:
    """The joint disc of `color` and radius `r` (dark outline) in SUB x SUB images, centred
    `half` + (x, y) / SUB device pixels from their corner for image y * SUB + x; and `half`.
    Kept per colour, radius and pixel ratio (the confidence fades colours: a video has up to a
    few hundred)."""
    key = (color.rgba(), round(r * 16), dpr)
    found = _discs.get(key)
    if found is not None:
        return found
    if len(_discs) >= 1024:
        _discs.clear()
    half = math.ceil((r + 1) * dpr) + 1
    images = []
    for k in range(SUB * SUB):
        image = QImage(2 * half, 2 * half, QImage.Format.Format_ARGB32_Premultiplied)
        image.fill(Qt.GlobalColor.transparent)
        q = QPainter(image)
        q.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        q.scale(dpr, dpr)
        q.setPen(QPen(OUTLINE, 1.5))
        q.setBrush(QBrush(color))
        centre = (half + (k % SUB) / SUB) / dpr, (half + (k // SUB) / SUB) / dpr
        q.drawEllipse(QPointF(*centre), r, r)
        q.end()
        image.setDevicePixelRatio(dpr)
        images.append(image)
    _discs[key] = images, half
    return _discs[key]


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
    dpr = p.device().devicePixelRatioF() if p.device() is not None else 1.0
    image, w, h = badge_image(letter, color, font_family, dpr)
    centre = xy[WRIST] + away * (r + 4 + 0.5 * float(np.hypot(w, h)))
    cx = min(max(float(centre[0]), w / 2 + 2), bounds.width() - w / 2 - 2)
    cy = min(max(float(centre[1]), h / 2 + 2), bounds.height() - h / 2 - 2)
    # on a whole device pixel: the badge is blitted as drawn (its text stays crisp)
    x, y = round((cx - w / 2) * dpr) / dpr, round((cy - h / 2) * dpr) / dpr
    if p.transform().isIdentity():
        p.drawImage(QPointF(x - _MARGIN, y - _MARGIN), image)
    else:
        _draw_badge(p, QRectF(x, y, w, h), letter, color, font_family)
    return QRectF(x, y, w, h)


_badges: dict[tuple[str, int, str, float], tuple[QImage, int, int]] = {}
#: room around a badge's box in its image for the border (drawn half outside the box)
_MARGIN = 1


def badge_image(
    letter: str, color: QColor, family: str, dpr: float = 1.0
) -> tuple[QImage, int, int]:
    """The hand's badge (its letter in a rounded box of its colour, dark border and text) as an
    image (_MARGIN units of room around the box), and the box's size in widget units; drawn once per letter, colour, font and pixel ratio
    (the text and the rounded box were ~0.35 ms of every step's paint)."""
    key = (letter, color.rgba(), family, dpr)
    found = _badges.get(key)
    if found is not None:
        return found
    if len(_badges) >= 1024:
        _badges.clear()
    fm = QFontMetrics(_badge_font(family))
    w, h = fm.horizontalAdvance(letter) + 10, fm.height() + 2
    size = round((w + 2 * _MARGIN) * dpr), round((h + 2 * _MARGIN) * dpr)
    image = QImage(*size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    q = QPainter(image)
    q.setRenderHint(QPainter.RenderHint.Antialiasing, True)
    q.scale(dpr, dpr)
    _draw_badge(q, QRectF(_MARGIN, _MARGIN, w, h), letter, color, family)
    q.end()
    image.setDevicePixelRatio(dpr)
    _badges[key] = image, w, h
    return _badges[key]


def _badge_font(family: str) -> QFont:
    return QFont(family, 11, QFont.Weight.Bold)


def _draw_badge(p: QPainter, rect: QRectF, letter: str, color: QColor, family: str) -> None:
    p.setFont(_badge_font(family))
    p.setPen(QPen(OUTLINE, 1.5))
    p.setBrush(QBrush(color))
    p.drawRoundedRect(rect, 4, 4)
    p.setPen(OUTLINE)
    p.drawText(rect, Qt.AlignmentFlag.AlignCenter, letter)
