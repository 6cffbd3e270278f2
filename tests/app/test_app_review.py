"""The review window end to end on demo3.mp4: reconstruct through the UI, scrub, check that the
video, overlay, 3D view and timeline agree, screenshot, save and reopen."""

from __future__ import annotations

import time

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from core.io.labels_h5 import load_labels
from core.labels.document import Source

pytestmark = pytest.mark.gui


def settle(window, rounds: int = 3) -> None:
    for _ in range(rounds):
        QApplication.processEvents()


def assert_views_agree(window, frame: int) -> None:
    """Every view shows `frame` and draws exactly the hands the document has there."""
    # key presses reach the window through the window system: wait for the clock to get there
    # (a guard, not a speed check: a loaded 2-core machine can take seconds)
    deadline = time.monotonic() + 60.0
    settle(window)
    while window.session.clock.frame != frame and time.monotonic() < deadline:
        QTest.qWait(20)
    # the pane may wait a moment for the decode-ahead thread (`LongVideo.waits_for_worker`)
    while window.views_state()["video_pending"] and time.monotonic() < deadline:
        QTest.qWait(5)
    settle(window)
    window.video_view.repaint()
    window.timeline.repaint()
    doc = window.session.doc
    state = window.views_state()
    assert state["clock"] == frame
    assert state["video"] == frame and state["view3d"] == frame and state["timeline"] == frame, (
        state
    )
    present = [h for h in (0, 1) if doc.hands[h].present[frame]]
    assert state["overlay"] == present, state
    assert state["view3d_hands"] == present, state
    for h in present:
        np.testing.assert_array_equal(
            window.video_view.drawn_joints[h], doc.hands[h].joints_2d[frame]
        )
        np.testing.assert_array_equal(window.view3d.drawn_joints[h], doc.hands[h].joints_3d[frame])
        # the mesh in the 3D scene sits on those joints
        np.testing.assert_allclose(
            window.view3d._skel[h].points, doc.hands[h].joints_3d[frame], atol=1e-6
        )
    cols = window.timeline.column_values(frame)
    assert [h for h in (0, 1) if cols["present"][h] > 0.5] == present
    for h in present:
        assert cols["source"][h] == int(doc.hands[h].source[frame])


def press(window, key, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    """A key press as the window system delivers it (so window shortcuts apply)."""
    QTest.keyClick(window.windowHandle(), key, modifier)


def image_std(img: np.ndarray) -> float:
    return float(img.astype(np.float64).std())


def test_reconstruct_scrub_save_reopen(window, qtbot, demo3, artifacts, tmp_path):
    from app.screenshot import grab_window, region_array, save_screenshot

    assert window.open_video(demo3)
    doc = window.session.doc
    assert doc.n_frames == 500
    assert doc.present_counts()["any"] == 0

    # run MediaPipe through the UI: choose the backend, press Run
    panel = window.recon_panel
    panel.backend.setCurrentIndex(panel.backend.findData("mediapipe"))
    panel.refine.setChecked(False)  # the raw stream; refined runs: test_recon_refine.py
    progress_seen: list[int] = []
    partial_seen: list[int] = []
    window.recon.progressed.connect(lambda st: progress_seen.append(st.done))
    window.recon.batchApplied.connect(
        lambda f: partial_seen.append(int(window.session.doc.present_counts()["any"]))
    )
    with qtbot.waitSignal(window.recon.finished, timeout=180_000) as blocker:
        qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
        assert not panel.run_button.isEnabled() and panel.cancel_button.isEnabled()
    assert blocker.args == ["done"], window.errors.history
    # results streamed in: several progress updates, the document filled batch by batch
    assert len(progress_seen) >= 5 and progress_seen == sorted(progress_seen)
    assert progress_seen[-1] == 500
    assert partial_seen[0] < partial_seen[-1]
    assert "fps" in panel.progress.format() and "500/500" in panel.progress.format()
    counts = doc.present_counts()
    assert counts["any"] >= 450 and counts["both"] >= 350, counts
    for h in (0, 1):
        t = doc.hands[h]
        assert (t.source[t.present] == Source.PREDICTED).all()
    assert doc.backend == "mediapipe"
    assert window.windowTitle().startswith("*")

    # scrub: clock API, keyboard, timeline click
    for f in (0, 57, 250, 499, 123):
        window.goto(f)
        assert_views_agree(window, f)
    window.video_view.setFocus()
    press(window, Qt.Key.Key_Right)
    assert_views_agree(window, 124)
    press(window, Qt.Key.Key_Right, Qt.KeyboardModifier.ShiftModifier)
    assert_views_agree(window, 134)
    press(window, Qt.Key.Key_Left)
    assert_views_agree(window, 133)
    press(window, Qt.Key.Key_Left, Qt.KeyboardModifier.ShiftModifier)
    assert_views_agree(window, 123)
    press(window, Qt.Key.Key_End)
    assert_views_agree(window, 499)
    press(window, Qt.Key.Key_Home)
    assert_views_agree(window, 0)
    tl = window.timeline
    x = int(round((tl.x_of(310) + tl.x_of(311)) / 2))
    qtbot.mouseClick(tl, Qt.MouseButton.LeftButton, pos=QPoint(x, 60))
    assert_views_agree(window, 310)
    # the 3D view's keyboard focus must not swallow the window's shortcuts
    window.view3d.canvas.setFocus()
    press(window, Qt.Key.Key_Right)
    assert_views_agree(window, 311)
    # J / K / L: play backward, pause, forward (again: faster)
    press(window, Qt.Key.Key_L)
    assert window.session.clock.rate == 1.0
    press(window, Qt.Key.Key_L)
    assert window.session.clock.rate == 2.0
    press(window, Qt.Key.Key_K)
    assert not window.session.clock.playing
    press(window, Qt.Key.Key_J)
    assert window.session.clock.rate == -1.0
    press(window, Qt.Key.Key_Space)
    assert not window.session.clock.playing
    f = window.session.clock.frame
    assert_views_agree(window, f)

    # screenshot at a frame with both hands: video and 3D areas are not blank
    both = np.flatnonzero(doc.hands[0].present & doc.hands[1].present)
    f = int(both[len(both) // 2])
    window.goto(f)
    assert_views_agree(window, f)
    path = save_screenshot(window, artifacts / "app_review_demo3.png")
    image = grab_window(window)
    vv = window.video_view
    pos = vv.mapTo(window, QPoint(0, 0))
    video_px = region_array(image, pos.x(), pos.y(), vv.width(), vv.height())
    v3 = window.view3d.canvas
    pos3 = v3.mapTo(window, QPoint(0, 0))
    view3d_px = region_array(image, pos3.x(), pos3.y(), v3.width(), v3.height())
    assert image_std(video_px) > 20, "video area is blank"
    assert image_std(view3d_px) > 8, "3D area is blank"
    # the hands' colours are in the 3D area (orange right hand, blue left hand)
    r, g, b = (view3d_px[..., i].astype(int) for i in range(3))
    assert ((r > 150) & (r - b > 60)).sum() > 200, "no right-hand (orange) pixels in the 3D view"
    assert ((b > 150) & (b - r > 60)).sum() > 200, "no left-hand (blue) pixels in the 3D view"
    assert path.stat().st_size > 50_000
    for preset in ("side", "top"):
        window.view3d.set_preset(preset)
        save_screenshot(window, artifacts / f"app_review_demo3_{preset}.png")
    window.view3d.set_preset("camera")

    # save, then reopen the labels into the window
    out = tmp_path / "demo3_labels.h5"
    assert window.save_as(out)
    assert not window.session.dirty and not window.windowTitle().startswith("*")
    saved = load_labels(out)
    assert saved.equals(doc)
    window.session.doc.write("left", 5, {"reviewed": True})  # a change that must not survive
    assert window.open_labels(out)
    assert window.session.doc is not doc
    assert window.session.doc.equals(saved)
    assert not window.session.doc.hands[0].reviewed[5]
    window.goto(f)
    assert_views_agree(window, f)
    assert str(out.resolve()) in window.settings.recent_labels


def test_screenshot_command(demo3, artifacts, tmp_path, qapp, monkeypatch):
    """`vidihand review VIDEO --labels L --frame N --screenshot OUT` renders the real window:
    the PNG's video pane shows frame N (not another frame) with the hand's overlay on it."""
    from core.cli.main import main
    from core.io.labels_h5 import save_labels
    from core.labels.document import LabelDocument
    from core.recon.base import meta_for
    from core.video.hashing import video_sha256
    from core.video.reader import open_video

    # labels with one known hand on frame 42, projected into the image
    with open_video(demo3) as v:
        doc = LabelDocument(meta_for(v, video_sha256(demo3)))
    j3 = np.array([[0.05 + 0.01 * (k % 5), 0.02 * (k // 5), 0.45] for k in range(21)], np.float32)
    from core.camera import project

    doc.write(
        "right",
        42,
        {
            "present": True,
            "confidence": 0.9,
            "joints_3d": j3,
            "joints_2d": project(j3, doc.K).astype(np.float32),
            "source": 1,
        },
    )
    labels = tmp_path / "one.h5"
    save_labels(doc, labels)
    out = artifacts / "app_screenshot_cli.png"
    # where the window put the video pane and the picture in it, read as the shot is taken
    import app.screenshot

    layout: dict = {}
    real_save = app.screenshot.save_screenshot

    def save_and_measure(window, path):  # noqa: ANN001
        vv = window.video_view
        pos = vv.mapTo(window, QPoint(0, 0))
        layout["offset"] = np.array([pos.x(), pos.y()], float)
        layout["corners"] = vv.image_to_widget(np.array([[-0.5, -0.5], [v.info.width - 0.5,
                                                         v.info.height - 0.5]]))  # fmt: skip
        layout["joints"] = vv.image_to_widget(doc.hands[1].joints_2d[42])
        layout["dpr"] = window.devicePixelRatioF()
        return real_save(window, path)

    monkeypatch.setattr(app.screenshot, "save_screenshot", save_and_measure)
    assert (
        main(
            [
                "review",
                str(demo3),
                "--labels",
                str(labels),
                "--frame",
                "42",
                "--screenshot",
                str(out),
                "--size",
                "1280x800",
            ]
        )
        == 0
    )
    from PySide6.QtGui import QImage

    img = QImage(str(out))
    assert img.width() == 1280 and img.height() == 800 and layout["dpr"] == 1.0
    from app.screenshot import region_array

    shot = region_array(img, 0, 0, img.width(), img.height()).astype(np.float64)
    (x0, y0), (x1, y1) = np.round(layout["corners"] + layout["offset"]).astype(int)
    pane = shot[y0:y1, x0:x1]
    assert pane.shape[0] > 200 and pane.shape[1] > 300, pane.shape
    # the overlay: the right hand's joints are drawn in its colour where they project
    from app.widgets.colors import HAND_COLORS, confidence_color

    want = confidence_color(HAND_COLORS[1], 0.9)
    want = np.array([want.red(), want.green(), want.blue()], float)
    joints = np.round(layout["joints"] + layout["offset"]).astype(int)
    at_joints = shot[joints[:, 1], joints[:, 0]]
    assert (np.abs(at_joints - want).max(1) < 40).mean() > 0.8, (want, at_joints)
    # the picture: frame 42 scaled to the pane, far closer to it than to frames around it
    # (the overlay's neighbourhood left out)
    mask = np.ones(pane.shape[:2], bool)
    for x, y in joints - [x0, y0]:
        mask[max(0, y - 12) : y + 12, max(0, x - 12) : x + 12] = False

    def scaled(frame: int) -> np.ndarray:
        with open_video(demo3) as video:
            rgb = video.frame(frame)
        h, w = pane.shape[:2]
        ys = ((np.arange(h) + 0.5) * rgb.shape[0] / h).astype(int)
        xs = ((np.arange(w) + 0.5) * rgb.shape[1] / w).astype(int)
        return rgb[ys][:, xs].astype(np.float64)

    want42 = scaled(42)
    shown = float(np.abs(want42 - pane)[mask].mean())
    assert shown < 3, shown  # the whole picture is frame 42 (scaling differences only)
    for f in (0, 30, 41, 43, 60):
        # where frame f looks different from frame 42, the screenshot looks like frame 42
        other = scaled(f)
        moved = mask & (np.abs(other - want42).max(-1) > 30)
        to42 = float(np.abs(pane - want42)[moved].mean())
        to_f = float(np.abs(pane - other)[moved].mean())
        print(f"frame {f}: {moved.sum()} px differ; screenshot to 42 {to42:.1f}, to {f} {to_f:.1f}")
        assert moved.sum() > 100 and to42 < 0.4 * to_f, (f, to42, to_f)


def test_3d_presets_look_from_the_side_and_from_above(window, demo3, artifacts):
    """Two hands apart on every camera axis (the right hand right of, above and nearer than the
    left one): each preset puts them where its viewpoint says, in the real window's pixels
    (the three presets give three different arrangements, so a swapped or unchanged view
    fails)."""
    from app.screenshot import grab_window, region_array, save_screenshot
    from core.camera import project
    from core.hands.skeleton import RELAXED_FINGERS, hand_joints

    assert window.open_video(demo3)
    doc = window.session.doc
    frames = np.arange(100, 111)
    wrist = {0: np.array([-0.12, 0.06, 0.65]), 1: np.array([0.10, -0.04, 0.40])}
    rot = {0: np.array([np.pi, 0, 0.3]), 1: np.array([np.pi, 0, -0.3])}
    for h in (0, 1):
        j3 = hand_joints(rot[h], wrist[h], RELAXED_FINGERS, side=h)
        doc.write(h, frames, {"present": True, "confidence": 1.0,
                              "joints_3d": np.repeat(j3[None], len(frames), 0),
                              "joints_2d": np.repeat(project(j3, doc.K)[None], len(frames), 0)})  # fmt: skip
    window.goto(105)
    d = wrist[1] - wrist[0]  # right minus left: +x (right), -y (up), -z (nearer)
    # screen (x right, y down) direction of right minus left expected from each viewpoint:
    # camera: (x, y); side, from +x looking at -x with -y up: (z, y); top, from -y with +z up:
    # (x, -z)
    expected = {"camera": (d[0], d[1]), "side": (d[2], d[1]), "top": (d[0], -d[2])}
    canvas = window.view3d.canvas
    seen = {}
    for preset in ("camera", "side", "top"):
        window.view3d.set_preset(preset)
        save_screenshot(window, artifacts / f"view3d_preset_{preset}.png")
        image = grab_window(window)
        pos = canvas.mapTo(window, QPoint(0, 0))
        px = region_array(image, pos.x(), pos.y(), canvas.width(), canvas.height()).astype(int)
        px[-90:, :90] = 0  # the axes gizmo in the lower-left corner
        r, g, b = px[..., 0], px[..., 1], px[..., 2]
        masks = {1: (r > 120) & (r - b > 60) & (g > 0.35 * r), 0: (b > 120) & (b - r > 60)}
        cy, cx = {}, {}
        for h, m in masks.items():
            ys, xs = np.nonzero(m)
            assert len(xs) > 150, f"{preset}: hand {h} not drawn ({len(xs)} px)"
            cy[h], cx[h] = ys.mean(), xs.mean()
        seen[preset] = (cx[1] - cx[0], cy[1] - cy[0], int(masks[0].sum()), int(masks[1].sum()))
    print(seen)  # camera (184, -65), side (-66, -26), top (67, 69) px when written
    window.view3d.set_preset("camera")
    for preset, (ex, ey) in expected.items():
        dx, dy = seen[preset][:2]
        assert np.sign(dx) == np.sign(ex) and abs(dx) > 10, (preset, seen[preset])
        assert np.sign(dy) == np.sign(ey) and abs(dy) > 10, (preset, seen[preset])
