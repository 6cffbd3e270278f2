"""The 3D view's two canvases (app/widgets/vtk_canvas.py): the off-screen canvas painted by Qt
and pyvistaqt's embedded QtInteractor, each driven like a user drives it.

    xvfb-run -a -s '-screen 0 1600x1000x24' .venv/bin/pytest tests/app/test_view3d_canvas.py
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import pyvista as pv
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QImage

from app.screenshot import grab_window, region_array
from app.widgets.vtk_canvas import EmbeddedCanvas, VtkCanvas, make_canvas, software_opengl
from core.settings import Settings

pytestmark = pytest.mark.gui


def _red_pixels(rgb: np.ndarray) -> int:
    r, g, b = (rgb[..., i].astype(int) for i in range(3))
    return int(((r > 150) & (g < 80) & (b < 80)).sum())


def _scene(canvas) -> None:
    canvas.plotter.add_mesh(pv.Sphere(radius=0.3, center=(0, 0, 2)), color="red")
    cam = canvas.plotter.camera
    cam.position, cam.focal_point, cam.up = (0, 0, 0), (0, 0, 2), (0, -1, 0)
    canvas.plotter.renderer.ResetCameraClippingRange()


def _shown_with_scene(qtbot, canvas):
    """The canvas on screen at 320x240 with the test scene."""
    qtbot.addWidget(canvas)
    canvas.resize(320, 240)
    canvas.show()
    qtbot.waitExposed(canvas)
    _scene(canvas)
    return canvas


@pytest.mark.parametrize("kind", ["offscreen", "opengl"])
def test_canvas_renders_and_steers_the_camera(qtbot, kind):
    canvas = make_canvas(None, kind)
    assert canvas.kind == kind
    assert isinstance(canvas, VtkCanvas if kind == "offscreen" else EmbeddedCanvas)
    _shown_with_scene(qtbot, canvas)
    renders = []
    canvas.rendered.connect(lambda: renders.append(1))
    rgb = canvas.image_array()
    assert rgb.shape[2] == 3 and rgb.shape[0] >= 200
    assert _red_pixels(rgb) > 2000, "the red sphere is not in the rendered image"
    assert renders, "no rendered signal"

    # left-drag rotates (VTK's trackball camera), the wheel zooms
    cam = canvas.plotter.camera
    before = np.array(cam.position)
    c = QPoint(160, 120)
    qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, pos=c)
    for dx in (10, 30, 60):
        qtbot.mouseMove(canvas, c + QPoint(dx, 0))
    qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=c + QPoint(60, 0))
    after = np.array(cam.position)
    assert np.linalg.norm(after - before) > 0.05, "a drag did not move the camera"
    dist = np.linalg.norm(np.array(cam.focal_point) - after)
    # QtTest has no wheel helper: post a real wheel event
    from PySide6.QtCore import QPointF
    from PySide6.QtGui import QWheelEvent
    from PySide6.QtWidgets import QApplication

    ev = QWheelEvent(
        QPointF(c),
        QPointF(canvas.mapToGlobal(c)),
        QPoint(0, 0),
        QPoint(0, 120),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(canvas, ev)
    assert np.linalg.norm(np.array(cam.focal_point) - np.array(cam.position)) < dist - 1e-3
    canvas.close()


def test_offscreen_canvas_coalesces_renders_and_paints_axes(qtbot):
    canvas = _shown_with_scene(qtbot, VtkCanvas())
    n = []
    canvas.plotter.ren_win.AddObserver("EndEvent", lambda *_a: n.append(1))
    for _ in range(5):
        canvas.request_render()
    qtbot.waitUntil(lambda: len(n) >= 1)
    qtbot.wait(50)  # the event loop runs on without new requests: no further render
    assert len(n) == 1, f"5 requests before a paint rendered {len(n)} times"
    # Qt's grab sees the scene (it is a plain widget) and the axes painted over it
    grab = canvas.grab().toImage().convertToFormat(QImage.Format.Format_RGB888)
    px = region_array(grab, 0, 0, grab.width(), grab.height())
    assert _red_pixels(px) > 2000
    # looking down +z with -y up: x points right, y down, z away from the viewer
    d = canvas.axes_directions()
    np.testing.assert_allclose(d, [[1, 0, 0], [0, 1, 0], [0, 0, -1]], atol=1e-9)
    corner = px[-60:, :60].astype(int)  # lower left: the x axis is red, the y axis green
    assert ((corner[..., 0] > 180) & (corner[..., 1] < 120)).sum() > 10
    assert ((corner[..., 1] > 140) & (corner[..., 0] < 120)).sum() > 10
    canvas.close()


def test_auto_picks_offscreen_for_software_gl_and_a_typo_falls_back(qtbot, capsys):
    software = software_opengl()
    canvas = make_canvas(None, "auto")
    qtbot.addWidget(canvas)
    assert canvas.kind == ("offscreen" if software else "opengl")
    canvas.close()
    canvas = make_canvas(None, "gpu-please")
    qtbot.addWidget(canvas)
    assert canvas.kind == ("offscreen" if software else "opengl")  # what "auto" picks
    assert "unknown 3D canvas 'gpu-please'" in capsys.readouterr().err
    canvas.close()


def test_window_with_the_embedded_opengl_canvas(qtbot, tmp_path, sample, artifacts, monkeypatch):
    """The whole window with pyvistaqt's QtInteractor (the choice on a GPU): frames step, the
    hands are in the screenshot, and Ctrl+drag moves the selected hand."""
    from PySide6.QtWidgets import QApplication

    from app.main_window import MainWindow
    from app.theme import apply_theme

    monkeypatch.delenv("VIDIHAND_3D", raising=False)
    settings = Settings.load(tmp_path / "settings.json")
    settings.view3d_canvas = "opengl"
    apply_theme(QApplication.instance())
    window = MainWindow(settings)
    window.confirm_discard = lambda: "discard"
    qtbot.addWidget(window)
    window.resize(1400, 880)
    window.show()
    qtbot.waitExposed(window)
    assert window.view3d.canvas.kind == "opengl"
    video, gt = sample
    # a copy: the Ctrl+drag below edits it, and closing keeps the crash journal of unsaved
    # work, which would offer a restore to every later test opening the shared file
    labels = tmp_path / "labels.h5"
    shutil.copy(gt, labels)
    assert window.open_video(video) and window.open_labels(labels)
    doc = window.session.doc
    f = int(np.flatnonzero(doc.hands[0].present & doc.hands[1].present)[10])
    window.goto(f)
    qtbot.waitUntil(lambda: window.view3d.shown_frame == f and window.video_view.shown_frame == f)
    img = grab_window(window)
    img.save(str(artifacts / "app_opengl_canvas.png"))
    v3 = window.view3d.canvas
    pos = v3.mapTo(window, QPoint(0, 0))
    px = region_array(img, pos.x(), pos.y(), v3.width(), v3.height())
    r, b = px[..., 0].astype(int), px[..., 2].astype(int)
    assert ((r > 150) & (r - b > 60)).sum() > 200, "no right-hand (orange) pixels"
    assert ((b > 150) & (b - r > 60)).sum() > 200, "no left-hand (blue) pixels"
    ed = window.editing
    ed.select(hand=1)
    j1 = doc.hands[1].joints_3d[f].astype(np.float64)
    c = QPoint(v3.width() // 2, v3.height() // 2)
    ctrl = Qt.KeyboardModifier.ControlModifier
    qtbot.mousePress(v3, Qt.MouseButton.LeftButton, ctrl, c)
    qtbot.mouseMove(v3, c + QPoint(30, 0))
    qtbot.mouseRelease(v3, Qt.MouseButton.LeftButton, ctrl, c + QPoint(30, 0))
    d = doc.hands[1].joints_3d[f] - j1
    assert np.abs(d).max() > 1e-3 and np.abs(d - d[0]).max() < 1e-6  # moved rigidly
    window.errors.close_dialog()
    window.close()


def test_view_menu_keeps_the_3d_canvas_choice_for_the_next_start(window, monkeypatch):
    """View > 3D Rendering saves the choice; a window built from those settings uses it."""
    import json

    from app.main_window import MainWindow

    monkeypatch.delenv("VIDIHAND_3D", raising=False)
    acts = window.canvas_actions
    assert set(acts) == {"auto", "offscreen", "opengl"} and acts["auto"].isChecked()
    acts["opengl"].trigger()
    assert acts["opengl"].isChecked() and not acts["auto"].isChecked()
    saved = json.loads(window.settings.path.read_text())
    assert saved["view3d_canvas"] == "opengl"
    assert "from the next start" in window.statusBar().currentMessage()
    nxt = MainWindow(Settings.load(window.settings.path))
    try:
        assert nxt.view3d.canvas.kind == "opengl" and nxt.canvas_actions["opengl"].isChecked()
    finally:
        nxt.view3d.canvas.close()
        nxt.session.close()
        nxt.deleteLater()
    acts["offscreen"].trigger()
    assert json.loads(window.settings.path.read_text())["view3d_canvas"] == "offscreen"


def test_offscreen_canvas_draws_axes_and_note_once_until_they_change(qtbot, monkeypatch):
    """The axes and the note are drawn into an image once and blitted on later paints (drawn
    afresh they were ~1 ms of every frame step); a camera move, a new note or a resize draws
    them again, and what is shown follows."""
    canvas = _shown_with_scene(qtbot, VtkCanvas())
    qtbot.waitUntil(lambda: canvas._overlay_key is not None)  # the first paint
    drawn = []
    real = canvas._draw_overlay
    monkeypatch.setattr(canvas, "_draw_overlay", lambda dpr: drawn.append(1) or real(dpr))

    def corner() -> np.ndarray:
        grab = canvas.grab().toImage().convertToFormat(QImage.Format.Format_RGB888)
        return region_array(grab, 0, 0, grab.width(), grab.height())[-60:, :60].astype(int)

    canvas.set_note("a note")
    qtbot.waitUntil(lambda: len(drawn) == 1) and canvas.note_rect is not None
    for _ in range(3):  # frame steps: the scene changes, the camera does not
        canvas.request_render()
        canvas.repaint()
    assert len(drawn) == 1
    red_right = ((corner()[..., 0] > 180) & (corner()[..., 1] < 120)).sum()
    assert len(drawn) == 1 and red_right > 10  # grabs paint from the kept image too
    # the camera turned half way round the view axis: the x axis (red) now points left
    cam = canvas.plotter.camera
    cam.up = (0, 1, 0)
    cam.position = (0, 0, 0)
    canvas.request_render()
    canvas.repaint()
    assert len(drawn) == 2
    np.testing.assert_allclose(canvas.axes_directions()[0], [-1, 0, 0], atol=1e-9)
    px = corner()
    red = np.argwhere((px[..., 0] > 180) & (px[..., 1] < 120))
    assert len(red) > 10 and red[:, 1].mean() < 30  # left of the axes' origin (x = 12 + size)
    canvas.set_note("")
    canvas.repaint()
    assert len(drawn) == 3 and canvas.note_rect is None
    canvas.resize(300, 220)
    canvas.repaint()
    assert len(drawn) == 4
    canvas.close()
