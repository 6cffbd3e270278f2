"""Joint discs blitted from images drawn once (app/widgets/hand_paint.py) look like the
antialiased ellipses they replace, wherever the joints fall and at any pixel ratio."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPointF, QSize
from PySide6.QtGui import QBrush, QColor, QImage, QPainter, QPen

from app.qimage import qimage_rgb
from app.widgets import hand_paint
from app.widgets.colors import OUTLINE

pytestmark = pytest.mark.gui

BACKGROUND = QColor(90, 110, 70)
COLOR = QColor(255, 140, 60)
WIDTH = 2.2


def _joints() -> tuple[np.ndarray, np.ndarray]:
    """21 joints at fractional positions spread out (two partly off the left edge), one not
    drawn."""
    rng = np.random.default_rng(7)
    grid = np.stack(np.meshgrid(np.arange(7), np.arange(3)), -1).reshape(-1, 2)[:21]
    xy = grid * (28.0, 45.0) + 14 + rng.uniform(-3, 3, (21, 2))
    xy[0, 0], xy[7, 0] = -1.3, 0.4
    ok = np.ones(21, bool)
    ok[5] = False
    return xy, ok


def _paint(dpr: float, draw) -> np.ndarray:
    image = QImage(round(200 * dpr), round(150 * dpr), QImage.Format.Format_RGB32)
    image.setDevicePixelRatio(dpr)
    image.fill(BACKGROUND)
    p = QPainter(image)
    p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
    draw(p)
    p.end()
    return qimage_rgb(image).astype(float)


def _ellipses(p: QPainter, xy: np.ndarray, ok: np.ndarray) -> None:
    """The discs as paint_hand drew them before: one antialiased ellipse each."""
    r = WIDTH + 1.5
    p.setPen(QPen(OUTLINE, 1.5))
    p.setBrush(QBrush(COLOR))
    for j in np.flatnonzero(ok):
        p.drawEllipse(QPointF(*xy[j]), r, r)


def _centre(img: np.ndarray, x: float, y: float, dpr: float) -> np.ndarray:
    """Where the disc near (x, y) is: the centroid of its difference from the background."""
    bg = np.array([BACKGROUND.red(), BACKGROUND.green(), BACKGROUND.blue()], float)
    x0, y0 = max(0, int((x - 6) * dpr)), max(0, int((y - 6) * dpr))
    win = np.abs(img[y0 : int((y + 7) * dpr), x0 : int((x + 7) * dpr)] - bg).sum(-1)
    ys, xs = np.mgrid[: win.shape[0], : win.shape[1]]
    return np.array([(win * xs).sum(), (win * ys).sum()]) / win.sum() + (x0, y0)


@pytest.mark.parametrize("dpr", [1.0, 2.0])
def test_blitted_discs_match_drawn_ellipses(qtbot, dpr):
    xy, ok = _joints()
    r = WIDTH + 1.5
    got = _paint(dpr, lambda p: hand_paint.paint_discs(p, xy[ok].tolist(), COLOR, r))
    want = _paint(dpr, lambda p: _ellipses(p, xy, ok))
    diff = np.abs(got - want)
    assert diff.mean() < 0.5 and diff.max() < 200, (diff.mean(), diff.max())
    for j in np.flatnonzero(ok):
        if xy[j, 0] - r - 1 < 0:
            continue  # cut by the edge: the centroid moves with what is cut
        a, b = _centre(got, *xy[j], dpr), _centre(want, *xy[j], dpr)
        assert np.abs(a - b).max() < 0.2 * dpr, (j, a, b)
    # the discs partly off the edge are there too
    for j in (0, 7):
        y = int(xy[j, 1] * dpr)
        assert (
            np.abs(got[y, 0] - want[y, 0]).max() < 60
            and np.abs(got[y, 0] - (90, 110, 70)).max() > 30
        )
    # nothing where the joint that is not drawn is
    x, y = (xy[5] * dpr).astype(int)
    assert np.array_equal(got[y, x], [90, 110, 70])


def test_disc_images_are_kept_per_colour_radius_and_ratio():
    a = hand_paint.disc_images(QColor(10, 20, 30), 3.7)
    assert hand_paint.disc_images(QColor(10, 20, 30), 3.7) is a
    assert hand_paint.disc_images(QColor(10, 20, 31), 3.7) is not a
    assert hand_paint.disc_images(QColor(10, 20, 30), 3.7, 2.0) is not a
    images, half = a
    assert len(images) == hand_paint.SUB**2 and images[0].width() == 2 * half


def test_a_painter_with_a_transform_gets_the_ellipses(qtbot):
    xy, ok = _joints()

    def hand(p: QPainter) -> None:
        p.translate(10, 5)
        hand_paint.paint_hand(p, xy, ok, COLOR, WIDTH)

    def reference(p: QPainter) -> None:
        p.translate(10, 5)
        pts, good = xy.tolist(), ok.tolist()
        from PySide6.QtCore import QLineF, Qt

        from core.labels.joints import BONES

        lines = [QLineF(*pts[a], *pts[b]) for a, b in BONES if good[a] and good[b]]
        p.setPen(QPen(OUTLINE, WIDTH + 3, Qt.PenStyle.SolidLine, Qt.PenCapStyle.FlatCap))
        p.drawLines(lines)
        p.setPen(QPen(COLOR, WIDTH, Qt.PenStyle.SolidLine, Qt.PenCapStyle.FlatCap))
        p.drawLines(lines)
        _ellipses(p, xy, ok)

    assert np.array_equal(_paint(1.0, hand), _paint(1.0, reference))


@pytest.mark.parametrize("dpr", [1.0, 2.0])
def test_the_blitted_badge_matches_the_drawn_one(qtbot, dpr):
    """The L/R badge, drawn once and blitted, is where and what drawing it afresh gives."""
    xy, ok = _joints()
    xy[0], xy[9] = (100.3, 60.6), (100.3, 20.0)  # wrist, middle knuckle: the badge goes below
    bounds = QSize(200, 150)
    rects = []

    def blitted(p: QPainter) -> None:
        rects.append(hand_paint.paint_hand_mark(p, "R", xy, ok, COLOR, 3.7, "DejaVu Sans", bounds))

    def drawn(p: QPainter) -> None:
        r = rects[0]
        hand_paint._draw_badge(p, r, "R", COLOR, "DejaVu Sans")

    got, want = _paint(dpr, blitted), _paint(dpr, drawn)
    r = rects[0]
    assert r.top() > 60.6 and abs(r.center().x() - 100.3) < 1  # below the wrist, centred
    assert np.abs(got - want).mean() < 0.2 and np.abs(got - want).max() < 40
    assert np.abs(got - (90, 110, 70)).sum() > 1000  # something was drawn
    a, b = (
        hand_paint.badge_image("R", COLOR, "DejaVu Sans"),
        hand_paint.badge_image("L", COLOR, "DejaVu Sans"),
    )
    assert hand_paint.badge_image("R", COLOR, "DejaVu Sans") is a and b is not a
