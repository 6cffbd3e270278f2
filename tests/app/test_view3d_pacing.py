"""The 3D view's renders follow the video, never hold it back (app/widgets/view3d.py and the
off-screen canvas's coalescing in app/widgets/vtk_canvas.py): frame changes within one
event-loop turn render once, showing the last; a single step renders its frame in the same
turn, after the video pane's paint; during playback a render that does not fit before the
clock's next frame is put off (not one for the user's input on the canvas), and a pause renders
the frame playback stopped at.

    xvfb-run -a -s '-screen 0 1600x1000x24' .venv/bin/pytest tests/app/test_view3d_pacing.py
"""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtWidgets import QApplication

pytestmark = pytest.mark.gui


def _open(window, sample):
    """The sample with its labels, the off-screen canvas, on a frame with both hands; returns
    frames with both hands present."""
    video, labels = sample
    assert window.open_video(video) and window.open_labels(labels)
    canvas = window.view3d.canvas
    if canvas.kind != "offscreen":
        pytest.skip("the render pacing belongs to the off-screen canvas (software OpenGL)")
    doc = window.session.doc
    both = np.flatnonzero(doc.hands[0].present & doc.hands[1].present)
    return both


def _settle(qtbot, window, frame: int) -> None:
    """All views at `frame`, the failure detectors done and the decode-ahead thread done around
    it: the next steps find their frames decoded (a step that catches up with that thread
    paints the video after the other views: `LongVideo.waits_for_worker`)."""
    canvas = window.view3d.canvas
    # the failure detectors run off the GUI thread after a document opens; their result
    # repaints the timeline's lanes, a paint pass of its own in the middle of a counted step
    failures = window.analysis.failures
    qtbot.waitUntil(lambda: not failures.busy, timeout=60000)
    qtbot.waitUntil(
        lambda: (
            not canvas.dirty
            and window.view3d.shown_frame == frame
            and window.video_view.shown_frame == frame
        )
    )
    assert window.session.prefetcher.wait_idle(30)
    QApplication.processEvents()  # the paint pass of anything that ended meanwhile


def _assert_scene_at(window, frame: int) -> None:
    doc = window.session.doc
    for h in (0, 1):
        np.testing.assert_allclose(
            window.view3d._jointpd[h].points, doc.hands[h].joints_3d[frame], atol=1e-6
        )


def _wheel(canvas) -> None:
    """One wheel step forward (zoom in) at the canvas's centre, as a real event."""
    from PySide6.QtCore import QPoint, QPointF, Qt
    from PySide6.QtGui import QWheelEvent

    c = QPointF(canvas.width() / 2, canvas.height() / 2)
    ev = QWheelEvent(
        c, QPointF(canvas.mapToGlobal(c)), QPoint(0, 0), QPoint(0, 120),
        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase, False,
    )  # fmt: skip
    QApplication.sendEvent(canvas, ev)


def test_frame_changes_in_one_turn_render_once_showing_the_last(window, sample, qtbot):
    both = _open(window, sample)
    canvas, clock = window.view3d.canvas, window.session.clock
    clock.set_frame(int(both[0]))
    _settle(qtbot, window, int(both[0]))
    order: list[str] = []
    reads_at_video: list[int] = []
    window.video_view.framePainted.connect(lambda _f: order.append("video"))
    window.video_view.framePainted.connect(lambda _f: reads_at_video.append(canvas.readbacks))
    canvas.rendered.connect(lambda: order.append("3d"))
    renders, reads = canvas.renders, canvas.readbacks
    targets = [int(f) for f in both[1:6]]
    for f in targets:  # five frame changes before the event loop runs again
        clock.set_frame(f)
    assert canvas.renders == renders and canvas.dirty  # nothing rendered inside the changes
    _settle(qtbot, window, targets[-1])
    assert canvas.renders == renders + 1  # one render for the five changes
    _assert_scene_at(window, targets[-1])
    # paused: the scene rendered as the window's paint pass began, and the pass painted the
    # video pane (and the canvas) after it: all views reach the screen together
    assert order == ["3d", "video"]
    # the render's pixels were read back when the canvas was painted, after the video pane:
    # software OpenGL rasterized them on its threads while the GUI thread painted the video
    assert reads_at_video == [reads] and canvas.readbacks == reads + 1
    # what the canvas shows is that render: a fresh render of the scene gives the same picture
    shown = canvas.image_array()
    canvas.render()
    np.testing.assert_array_equal(canvas.image_array(), shown)


def test_a_single_step_renders_its_frame_in_the_same_turn(window, sample, qtbot):
    both = _open(window, sample)
    canvas, clock = window.view3d.canvas, window.session.clock
    f = int(both[0])
    clock.set_frame(f)
    _settle(qtbot, window, f)
    before = canvas.image_array()
    renders = canvas.renders
    clock.step(1)
    QApplication.processEvents()  # one turn: the zero-time render timer fires in it
    assert canvas.renders == renders + 1 and not canvas.dirty
    assert window.view3d.shown_frame == window.video_view.shown_frame == f + 1
    _assert_scene_at(window, f + 1)
    assert not np.array_equal(canvas.image_array(), before)  # the hands moved in the picture


def test_playback_puts_off_renders_that_do_not_fit_and_a_pause_renders(
    window, sample, qtbot, monkeypatch
):
    """With a wall clock that stands still the clock's next frame is always 1/30 s away; a
    render said to take 1 s cannot fit, and is put off until playback pauses."""
    from app.widgets import view3d as view3d_module

    both = _open(window, sample)
    canvas, clock = window.view3d.canvas, window.session.clock
    f = int(both[0])
    clock.set_frame(f)
    _settle(qtbot, window, f)
    monkeypatch.setattr(view3d_module, "STALE_SECONDS", 1e9)  # no forced render by age
    monkeypatch.setattr(clock, "_now", lambda: 100.0)
    clock.play()
    canvas.render_seconds = 1.0
    renders, deferred = canvas.renders, canvas.deferred
    for g in (int(both[1]), int(both[2])):
        clock.set_frame(g)
        qtbot.waitUntil(lambda d=deferred: canvas.deferred > d)
        deferred = canvas.deferred
        # the video follows every frame; the 3D scene moved but was not rendered
        qtbot.waitUntil(lambda g=g: window.video_view.shown_frame == g)
        assert canvas.renders == renders and canvas.dirty
        _assert_scene_at(window, g)
    # a render that fits is done at once while playing
    canvas.render_seconds = 0.0
    g = int(both[3])
    clock.set_frame(g)
    qtbot.waitUntil(lambda: not canvas.dirty)
    assert canvas.renders == renders + 1
    # put off again; the user's own input on the canvas (the wheel zooms) renders at once
    canvas.render_seconds = 1.0
    clock.set_frame(int(both[4]))
    qtbot.waitUntil(lambda: canvas.deferred > deferred)
    assert canvas.dirty and canvas.renders == renders + 1
    distance = canvas.plotter.camera.distance
    _wheel(canvas)
    qtbot.waitUntil(lambda: not canvas.dirty)
    assert canvas.renders == renders + 2 and canvas.plotter.camera.distance < distance
    # put off again, then the pause renders the frame playback stopped at
    deferred = canvas.deferred
    g = int(both[5])
    clock.set_frame(g)
    qtbot.waitUntil(lambda: canvas.deferred > deferred)
    assert canvas.dirty and canvas.renders == renders + 2
    clock.pause()
    qtbot.waitUntil(lambda: not canvas.dirty)
    assert canvas.renders == renders + 3 and window.view3d.shown_frame == g
    _assert_scene_at(window, g)


def test_a_stale_picture_renders_during_playback(window, sample, qtbot, monkeypatch):
    """However little time playback leaves, the 3D view renders once its picture is
    STALE_SECONDS old (here: at once)."""
    from app.widgets import view3d as view3d_module

    both = _open(window, sample)
    canvas, clock = window.view3d.canvas, window.session.clock
    clock.set_frame(int(both[0]))
    _settle(qtbot, window, int(both[0]))
    monkeypatch.setattr(view3d_module, "STALE_SECONDS", 0.0)
    monkeypatch.setattr(clock, "_now", lambda: 100.0)
    clock.play()
    canvas.render_seconds = 1.0
    renders = canvas.renders
    clock.set_frame(int(both[1]))
    qtbot.waitUntil(lambda: not canvas.dirty)
    assert canvas.renders == renders + 1
    clock.pause()


def test_paused_steps_paint_all_views_in_one_pass_playback_paints_the_video_first(
    window, sample, qtbot
):
    """Paused, the 3D scene renders when the window's paint pass starts and that pass paints
    the canvas with the video pane (one flush to the screen); while the clock plays (the 3D
    view's `with_paint` says no) the video pane is painted and flushed first, then the scene
    renders and the canvas is painted on its own."""
    from PySide6.QtCore import QEvent, QObject

    both = _open(window, sample)
    canvas, clock = window.view3d.canvas, window.session.clock
    f = int(both[0])
    clock.set_frame(f)
    _settle(qtbot, window, f)
    events: list[str] = []

    class Spy(QObject):
        def eventFilter(self, obj, event):  # noqa: N802 - Qt API
            if event.type() == QEvent.Type.Paint and obj in (canvas, window.video_view):
                events.append("canvas" if obj is canvas else "video")
            elif event.type() == QEvent.Type.UpdateRequest and obj is window:
                events.append("pass")
            return False

    spy = Spy()
    QApplication.instance().installEventFilter(spy)
    canvas.rendered.connect(lambda: events.append("3d"))
    try:
        clock.step(1)
        _settle(qtbot, window, f + 1)
        assert events[:4] in (
            ["pass", "3d", "video", "canvas"],
            ["pass", "3d", "canvas", "video"],
        ), events
        # one render, and the video and the canvas each painted once, both in that first pass;
        # under load Qt may send the window a second update request that paints nothing (seen
        # in CI: ['pass', '3d', 'video', 'canvas', 'pass']): not a paint of these views
        assert events.count("3d") == 1, events
        assert events.count("video") == 1 and events.count("canvas") == 1, events
        # the 3D view's answer follows the clock
        assert canvas.with_paint() is True
        clock.play()
        assert canvas.with_paint() is False
        clock.pause()
        _settle(qtbot, window, clock.frame)
        # as during playback: the video's pass first, the render after it
        canvas.with_paint = lambda: False
        events.clear()
        g = clock.frame + 1
        clock.set_frame(g)
        _settle(qtbot, window, g)
        assert events.index("video") < events.index("3d") < events.index("canvas"), events
        assert events.count("3d") == 1
    finally:
        QApplication.instance().removeEventFilter(spy)
