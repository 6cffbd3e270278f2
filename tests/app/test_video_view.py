"""The video pane paints frames the decode-ahead thread already scaled to its size
(core/video/display.py): the same picture as scaling on the GUI thread, the right frame, and
again after the pane was resized."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtWidgets import QApplication, QWidget

from app.screenshot import region_array

pytestmark = [pytest.mark.gui, pytest.mark.usefixtures("opencv")]  # OpenCV missing: fails


def pane(window, frame: int, copies: bool) -> np.ndarray:
    """The video pane's pixels at `frame`, painted from a display copy or scaled here."""
    view, session = window.video_view, window.session
    session.clock.set_frame(frame)
    session.prefetcher.wait_idle(30)
    QApplication.processEvents()
    frames = session.display_frames
    if not copies:
        session.display_frames = None  # the pane scales the frame itself
    try:
        blits, scaled = view.display_blits, view.scaled_paints
        img = view.grab()
        assert view.shown_frame == frame
        if copies:
            assert view.display_blits == blits + 1, "the display copy was not used"
        else:
            assert view.scaled_paints == scaled + 1
    finally:
        session.display_frames = frames
    return region_array(img.toImage(), 0, 0, img.width(), img.height())


def test_display_copies_show_the_same_frame_as_scaling_here(window, demo3, qtbot, artifacts):
    window.open_video(demo3)
    view = window.video_view
    qtbot.waitUntil(lambda: view.shown_frame == 0, timeout=10000)
    assert view.zoom < 1.0  # demo3 (720p) is shrunk to fit the pane
    for frame in (0, 1, 2, 150):
        fast, slow = pane(window, frame, True), pane(window, frame, False)
        diff = np.abs(fast.astype(np.int16) - slow.astype(np.int16))
        # two bilinear scalers: the same picture up to rounding and a sub-pixel shift
        assert diff.mean() < 2.0, (frame, diff.mean())
    other = pane(window, 400, False)
    assert np.abs(fast.astype(np.int16) - other.astype(np.int16)).mean() > 3 * diff.mean()
    # the copy is exactly the pane's size for the frame
    size = window.session.display_frames.size
    w, h = window.session.video.info.width, window.session.video.info.height
    assert size == (round(w * view.zoom), round(h * view.zoom))

    # resized: copies are made again at the new size and used
    window.resize(1100, 760)
    qtbot.waitUntil(lambda: window.session.display_frames.size != size, timeout=5000)
    new = window.session.display_frames.size
    assert new == (round(w * view.zoom), round(h * view.zoom)) and new != size
    qtbot.waitUntil(lambda: window.session.display_frames.get(400) is not None, timeout=10000)
    pane(window, 401, True)
    # zoomed in past 100%: Qt paints the pixels (nearest), no copies are wanted
    view.zoom_by(4.0)
    QApplication.processEvents()
    view.grab()
    assert window.session.display_frames.size is None
    assert view.grab().save(str(artifacts / "video_view_zoomed.png"))


HIDPI = r"""
import sys
import numpy as np
from PySide6.QtWidgets import QApplication
app = QApplication([])
from app.session import Session
from app.widgets.video_view import VideoView
from app.screenshot import region_array
session = Session()
session.open_video(sys.argv[1])
view = VideoView(session)
view.resize(400, 260)
view.show()
from PySide6.QtTest import QTest
assert QTest.qWaitForWindowExposed(view, 20000)
for _ in range(20):
    app.processEvents()
dpr = view.devicePixelRatioF()
session.clock.set_frame(30)
session.prefetcher.wait_idle(30)
view.refresh()  # the exact frame (the window does this when the decode-ahead reports it)
view.repaint()  # the first paint with a frame tells the session the pane's size
session.prefetcher.wait_idle(30)
w, h = session.video.info.width, session.video.info.height
size = session.display_frames.size
assert size == (round(w * view.zoom * dpr), round(h * view.zoom * dpr)), (size, view.zoom, dpr)
blits = view.display_blits
fast = view.grab().toImage()
assert view.display_blits == blits + 1
frames, session.display_frames = session.display_frames, None
slow = view.grab().toImage()
session.display_frames = frames
assert fast.size() == slow.size() and fast.width() == round(400 * dpr), fast.size()
a = region_array(fast, 0, 0, fast.width(), fast.height()).astype(int)
b = region_array(slow, 0, 0, slow.width(), slow.height()).astype(int)
print("dpr", dpr, "size", size, "diff", np.abs(a - b).mean())
assert np.abs(a - b).mean() < 2.0
# the band below the picture (260 - 225 widget px high, split above and below) is background
from app.widgets.colors import BACKGROUND
bg = [BACKGROUND.red(), BACKGROUND.green(), BACKGROUND.blue()]
assert (a[-int(15 * dpr):] == bg).all() and not (a[fast.height() // 2] == bg).all()
session.close()
"""


def test_display_copies_are_made_in_device_pixels_on_hidpi_screens(demo3, tmp_path):
    """At 200% scaling the pane paints twice the widget's pixels: copies are made at that size
    (a widget-sized copy would be blurred up 2x)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = tmp_path / "hidpi.py"
    script.write_text(HIDPI)
    env = dict(os.environ, QT_SCALE_FACTOR="2", QT_API="pyside6")
    root = Path(__file__).resolve().parents[2]
    env["PYTHONPATH"] = str(root) + os.pathsep + env.get("PYTHONPATH", "")
    r = subprocess.run(
        [sys.executable, str(script), str(demo3)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=root,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "dpr 2.0" in r.stdout, r.stdout


def test_a_jump_into_a_long_gop_never_blocks_the_window(window, qtbot, tmp_path):
    """A short file with one keyframe in 600 frames: a jump near its end would decode ~600
    frames on the GUI thread. It goes to the decode-ahead thread instead: the jump returns at
    once with the last exact frame standing in (the badge names it), the exact frame swaps in
    when decoded, and nearby steps still decode on the spot."""
    import os
    import threading

    from app.long_video import async_decode_frames
    from core.video.synth import write_clip

    clip = write_clip(tmp_path / "onekey.mp4", n_frames=600, width=1280, height=720, gop=600)
    window.open_video(clip)
    view, session = window.video_view, window.session
    qtbot.waitUntil(lambda: view.shown_frame == 0, timeout=10000)
    assert not session.long_video.active  # a small file: not the long-video path
    limit = async_decode_frames(1280, 720)
    assert (
        limit == 12
        and async_decode_frames(1920, 1080) == 5
        and async_decode_frames(3840, 2160) == 2
    )
    assert session.video.decode_cost(590) > limit
    doc = session.doc  # a right hand on frame 590, to try a drag while it decodes
    uv = np.stack([np.linspace(500, 700, 21), np.linspace(300, 400, 21)], 1)
    doc.write(1, np.array([590]), {"present": True, "confidence": 1.0, "joints_2d": uv[None]})
    # record decodes on the GUI thread; hold the decode-ahead thread's "frame 590 is ready"
    # until the test has looked at the stand-in (however fast or slow the machine decodes)
    video, pre = session.video, session.prefetcher
    gui_decodes: list[int] = []
    real_frame, real_on_frame = video.frame, pre.on_frame
    decoded = threading.Event()

    def frame(i: int) -> np.ndarray:
        if threading.current_thread() is threading.main_thread():
            gui_decodes.append(i)
        return real_frame(i)

    def on_frame(i: int) -> None:
        if i == 590:
            decoded.set()
            release.wait(60)
        real_on_frame(i)

    release = threading.Event()
    video.frame, pre.on_frame = frame, on_frame
    try:
        session.clock.set_frame(590)
        assert view.proxy_of == 0 and view._frame == 590  # frame 0's image stands in, named
        view.repaint()
        assert view.shown_frame == 590
        # the pane waits for the decode-ahead thread: it decodes at full priority (at idle
        # priority a machine busy with other work would give it no CPU at all)
        assert os.sched_getscheduler(pre._thread.native_id) == os.SCHED_OTHER
        # the jump returned without decoding on the GUI thread: the decode-ahead thread does it
        assert decoded.wait(60) and gui_decodes == []
        # no joint drag against another frame's picture: said in the status bar, nothing moves
        from PySide6.QtCore import QPointF

        assert view.proxy_of == 0  # the exact frame is held back: still the stand-in
        xy = view.image_to_widget(uv[8])
        assert window.editing.drag.press(QPointF(*xy))
        assert not window.editing.drag.active
        assert "still decoding" in window.statusBar().currentMessage()
        np.testing.assert_array_equal(doc.hands[1].joints_2d[590], uv)
    finally:
        release.set()
    qtbot.waitUntil(lambda: view.proxy_of is None, timeout=60000)
    view.repaint()
    exact = session.video.frame(590)
    if view._display_only:  # shown from its display copy alone: that copy is of frame 590
        from core.video.display import scale_to_bgra

        copy = session.display_frames.get(590).astype(int)[..., :3]

        def err(i: int) -> float:
            ref = scale_to_bgra(session.video.frame(i), (copy.shape[1], copy.shape[0]))
            return float(np.abs(copy - ref.astype(int)[..., :3]).mean())

        # (swscale's area scaling, not OpenCV's: close to, not equal to, this reference)
        assert err(590) < 8.0 and err(590) < min(err(589), err(591))
    else:
        assert view._array is not None and np.array_equal(view._array, exact)
    # a step forward from there: cached or one frame on: no stand-in
    session.clock.set_frame(591)
    assert view.proxy_of is None and view._frame == 591
    # shown from its display copy alone, a frame still stands in for a jump (scaled back to
    # the frame's size, so the overlay keeps its place) and the badge names it
    session.prefetcher.wait_idle(30)
    view.repaint()
    session.clock.set_frame(592)
    session.prefetcher.wait_idle(30)
    view.repaint()
    assert view._display_only and view.shown_frame == 592
    session.clock.set_frame(20)  # 21 frames from the only keyframe: decoded in the background
    assert view.proxy_of == 592 and view._image is not None
    assert (view._image.width(), view._image.height()) == (1280, 720)


def test_a_frame_step_paints_the_views_not_the_window_under_them(window, sample, qtbot, wait_quiet):
    """The video pane and the timeline cover themselves when they paint, so a frame step does
    not make Qt paint the main window and the timeline's dock under them first (that was
    ~0.85 ms of the GUI thread's time in each 1080p step)."""
    from PySide6.QtCore import QEvent, QObject

    video, labels = sample
    assert window.open_video(video) and window.open_labels(labels)
    clock = window.session.clock
    clock.set_frame(10)
    qtbot.waitUntil(lambda: window.video_view.shown_frame == 10)
    # the failure detectors' result repaints the timeline and the failures dock (not a step's)
    qtbot.waitUntil(lambda: not window.analysis.failures.busy, timeout=60000)
    wait_quiet()  # the docks' layout settles after opening (a one-time repaint of all)
    painted: list[str] = []

    class Paints(QObject):
        def eventFilter(self, obj, event):  # noqa: N802 - Qt API
            if event.type() == QEvent.Type.Paint:
                painted.append(obj.objectName() or type(obj).__name__)
            return False

    spy = Paints()
    QApplication.instance().installEventFilter(spy)
    try:
        for f in range(11, 16):
            clock.set_frame(f)
            qtbot.waitUntil(lambda f=f: window.video_view.shown_frame == f)
    finally:
        QApplication.instance().removeEventFilter(spy)
    assert painted.count("videoView") >= 5 and "timeline" in painted
    assert "mainWindow" not in painted and "dockTimeline" not in painted, painted


def _at_frame_50_with_display_copies(window, demo3, qtbot):
    """demo3 open at frame 50, the decode-ahead thread done around it and the pane's display
    size known: (video pane, session)."""
    window.open_video(demo3)
    view, session = window.video_view, window.session
    qtbot.waitUntil(lambda: view.shown_frame == 0, timeout=10000)
    session.clock.set_frame(50)
    session.prefetcher.wait_idle(30)
    view.repaint()  # the display size is known from the first paints
    session.prefetcher.wait_idle(30)
    return view, session


def test_steps_paint_display_copies_alone_and_zooming_in_brings_the_full_frame(
    window, demo3, qtbot
):
    """Stepping, the pane paints the decode-ahead thread's display copy of the frame without
    ever holding the full-size RGB frame (the thread did not convert it); zoomed in past 100%
    it shows the exact full frame."""
    view, session = _at_frame_50_with_display_copies(window, demo3, qtbot)
    blits = view.display_blits
    for f in (51, 52, 53):
        session.clock.step(1)
        session.prefetcher.wait_idle(30)
        view.repaint()
        assert view.shown_frame == f and view._display_only and view._array is None
        assert session.video.cache.peek(f) is None  # nobody converted it to RGB
    assert view.display_blits == blits + 3
    # the picture is that frame
    img = view.grab().toImage()
    shot = region_array(img, 0, 0, img.width(), img.height()).astype(int)
    copy = session.display_frames.get(53)
    t = view.transform()
    x0, y0 = round(t.dx()), round(t.dy())
    pane = shot[y0 : y0 + copy.shape[0], x0 : x0 + copy.shape[1]]
    # (the overlay and the frame counter are drawn over it; compare the picture's median)
    assert np.median(np.abs(pane - copy[..., 2::-1].astype(int))) <= 2
    # zoomed in: the full frame, exact
    view.zoom_by(4.0)
    view.repaint()
    assert not view._display_only and view._array is not None
    assert np.array_equal(view._array, session.video.frame(53))
    assert view.shown_frame == 53


def test_zooming_in_while_the_worker_converts_the_frame_shows_it_exact_at_once(
    window, demo3, qtbot
):
    """Zoomed in, the pane stops painting display copies and the decode-ahead thread goes back
    to converting frames to RGB, starting with the frame shown. The frame it holds while
    converting is neither kept nor cached for those milliseconds: the pane took it for a long
    decode and painted a stand-in (a thumbnail, or black) until the thread was done (a CI run
    caught it). It waits for that conversion instead."""
    import threading

    view, session = _at_frame_50_with_display_copies(window, demo3, qtbot)
    session.clock.step(1)
    session.prefetcher.wait_idle(30)
    view.repaint()
    assert view._display_only and session.video.raw_frame(51) is not None
    worker = session.prefetcher._worker_video
    started, go = threading.Event(), threading.Event()
    convert = worker._convert

    def slow_convert(frame):
        started.set()
        go.wait(30)
        return convert(frame)

    worker._convert = slow_convert
    try:
        # what a zoom past 100% does first (the paint finds no display size), in this order
        session.display_frames.set_size(None)
        session.prefetcher.refresh()
        assert started.wait(30)  # the thread holds frame 51 now, converting it
        threading.Timer(0.1, go.set).start()
        view.zoom_by(4.0)
        view.repaint()
        assert view.proxy_of is None and not view._display_only
        assert np.array_equal(view._array, session.video.frame(51)) and view.shown_frame == 51
    finally:
        go.set()


def test_a_step_onto_a_frame_decoded_but_not_scaled_yet_scales_it_here(
    window, demo3, qtbot, monkeypatch
):
    """A step that catches up with the decode-ahead thread, onto a frame it decoded but has
    not made the display copy of yet: the pane makes that copy itself from the decoded frame
    (one swscale pass) and paints it, instead of converting the full frame to RGB, scaling it
    in the paint, and scaling the previous copy back up on the way."""
    import app.widgets.video_view as video_view_module

    view, session = _at_frame_50_with_display_copies(window, demo3, qtbot)
    session.clock.step(1)  # shown from its display copy now
    session.prefetcher.wait_idle(30)
    view.repaint()
    assert view._display_only and session.video.raw_frame(52) is not None
    made = session.display_frames.get(52)
    session.display_frames.cache.clear()  # decoded, not scaled: what a busy worker leaves

    def no(*_a):
        raise AssertionError("the full frame was converted or a copy scaled back up")

    monkeypatch.setattr(session, "frame_image", no)
    monkeypatch.setattr(video_view_module, "copy_at_size", no)
    session.prefetcher.close()  # the worker makes no copy meanwhile
    session.clock.step(1)
    view.repaint()
    assert view.shown_frame == 52 and view._display_only and view._array is None
    assert session.video.cache.peek(52) is None
    here = session.display_frames.get(52)
    assert here is not None and here.shape == made.shape
    assert np.median(np.abs(here.astype(int) - made.astype(int))) <= 1  # the same picture
    # and exactly one swscale pass of the decoded frame: PyAV's own reformat, pixel for pixel
    raw, size = session.video.raw_frame(52), session.display_frames.size
    ref = raw.reformat(
        width=size[0], height=size[1], format="bgra", interpolation="AREA", threads=1
    )
    assert np.array_equal(here, ref.to_ndarray())


def test_a_frame_the_worker_is_decoding_is_not_decoded_again_here(window, demo3, qtbot):
    """A step to a frame the decode-ahead thread is about to decode (any frame size): the pane
    keeps the frame it shows instead of decoding the same frame a second time on the GUI
    thread, the thread decodes at full priority meanwhile (no yielding for the step's paint),
    the pane shows the frames the thread decodes on the way (stepping faster than it), and the
    wanted one as soon as the thread reports it."""
    import os
    import threading

    window.open_video(demo3)
    view, session = window.video_view, window.session
    qtbot.waitUntil(lambda: view.shown_frame == 0, timeout=10000)
    view.repaint()  # the display size is known from the first paints
    session.prefetcher.wait_idle(30)
    uv = np.stack([np.linspace(500, 700, 21), np.linspace(300, 400, 21)], 1)
    for f in (100, 104):  # a right hand on both, to try a drag while the pane waits
        session.doc.write(
            1, np.array([f]), {"present": True, "confidence": 1.0, "joints_2d": uv[None]}
        )
    worker = session.prefetcher._worker_video
    frame_raw = worker.frame_raw
    gates = {
        103: (threading.Event(), threading.Event()),
        104: (threading.Event(), threading.Event()),
    }

    def held(i: int):  # the worker stops before frames 103 and 104 until let go
        if i in gates:
            reached, go = gates[i]
            reached.set()
            assert go.wait(30)
        return frame_raw(i)

    worker.frame_raw = held
    try:
        session.clock.set_frame(100)
        assert gates[103][0].wait(30)
        qtbot.waitUntil(lambda: view.shown_frame == 100, timeout=10000)
        decoded_here = session.video.decoded_frames
        session.clock.set_frame(104)  # inside the pass under way, not decoded yet
        view.repaint()
        assert view.waiting_for == 104 and view.shown_frame == 100
        assert window.views_state()["video_pending"]
        assert window.views_state()["view3d"] == 104  # the other views do not wait
        tid = session.prefetcher._thread.native_id
        assert os.sched_getscheduler(tid) == os.SCHED_OTHER  # not yielding: it is waited for
        # no joint drag against frame 100's picture while frame 104 is on its way
        from PySide6.QtCore import QPointF

        assert 1 in view.drawn_joints  # frame 100's right hand, drawn
        xy = view.image_to_widget(session.doc.hands[1].joints_2d[100][8:9])[0]
        assert window.editing.drag.press(QPointF(*xy)) and not window.editing.drag.active
        assert "still decoding" in window.statusBar().currentMessage()
        np.testing.assert_array_equal(session.doc.hands[1].joints_2d[104], uv)
        gates[103][1].set()  # frame 103 decodes: shown while 104 is still on its way
        qtbot.waitUntil(lambda: view.shown_frame == 103, timeout=10000)
        assert view.waiting_for == 104
    finally:
        for _reached, go in gates.values():
            go.set()
    qtbot.waitUntil(lambda: view.shown_frame == 104, timeout=10000)
    assert view.waiting_for == -1 and view._display_only
    assert session.video.decoded_frames == decoded_here  # the GUI thread decoded nothing


def test_the_decode_ahead_thread_yields_the_cores_for_a_step_and_takes_them_back(
    window, demo3, qtbot
):
    """A frame step puts the decode-ahead thread at idle priority (the step's paint has the
    cores) and YIELD_MS later it is back at normal priority; where the kernel would not give
    the priority back, nothing changes."""
    import os

    from app.session import YIELD_MS
    from core.video.prefetch import idle_is_reversible

    window.open_video(demo3)
    view, session = window.video_view, window.session
    qtbot.waitUntil(lambda: view.shown_frame == 0, timeout=10000)
    session.prefetcher.wait_idle(30)  # frame 1 decoded: the step does not wait for the thread
    tid = session.prefetcher._thread.native_id
    session.clock.step(1)
    during = os.sched_getscheduler(tid)
    assert during == (os.SCHED_IDLE if idle_is_reversible() else os.SCHED_OTHER)
    qtbot.waitUntil(lambda: os.sched_getscheduler(tid) == os.SCHED_OTHER, timeout=10 * YIELD_MS)
    qtbot.waitUntil(lambda: view.shown_frame == 1, timeout=10000)


def test_the_pane_paints_the_background_around_a_display_copy_and_nothing_twice(
    window, demo3, qtbot
):
    """Painted from a display copy, the pane fills only the bands around the picture (filling
    it all first wrote every pixel twice): the bands are the background, however the pane's
    shape leaves them (above and below, or left and right), and the picture is the copy."""
    from app.widgets.colors import BACKGROUND

    view, session = _at_frame_50_with_display_copies(window, demo3, qtbot)
    bg = np.array([BACKGROUND.red(), BACKGROUND.green(), BACKGROUND.blue()])
    for size in ((1500, 1100), (1600, 520)):  # tall pane: bands above/below; wide: left/right
        window.resize(*size)
        qtbot.waitUntil(
            lambda: session.display_frames.size == view._display_size(view.transform()),
            timeout=5000,
        )
        session.prefetcher.refresh()
        qtbot.waitUntil(lambda: session.display_frames.get(50) is not None, timeout=10000)
        blits = view.display_blits
        img = view.grab().toImage()
        assert view.display_blits == blits + 1
        shot = region_array(img, 0, 0, img.width(), img.height()).astype(int)
        copy = session.display_frames.get(50)
        t = view.transform()
        x0, y0 = round(t.dx()), round(t.dy())
        h, w = copy.shape[:2]
        assert (x0 > 0) != (y0 > 0), (x0, y0)  # letterboxed on one axis
        mask = np.ones(shot.shape[:2], bool)
        mask[y0 : y0 + h, x0 : x0 + w] = False
        mask[:48, :360] = False  # the frame counter's badge
        assert mask.sum() > 1000
        assert (shot[mask] == bg).all(), np.unique(shot[mask].reshape(-1, 3), axis=0)[:5]
        pic = shot[y0 : y0 + h, x0 : x0 + w]
        pic_mask = ~np.zeros(pic.shape[:2], bool)
        pic_mask[: max(0, 48 - y0), : max(0, 360 - x0)] = False
        for card in view.findChildren(QWidget):  # the "no labels yet" card over the picture
            if card.isVisible():
                g = card.geometry()
                mask_y, mask_x = (
                    slice(g.top() - y0, g.bottom() + 1 - y0),
                    slice(g.left() - x0, g.right() + 1 - x0),
                )
                pic_mask[
                    max(0, mask_y.start) : max(0, mask_y.stop),
                    max(0, mask_x.start) : max(0, mask_x.stop),
                ] = False
        bad = np.argwhere((pic != copy[..., 2::-1].astype(int)).any(-1) & pic_mask)
        assert not len(bad), (bad.min(0), bad.max(0), len(bad), pic.shape)
