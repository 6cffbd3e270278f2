"""Editing in the real window on the project's sample (exact ground truth as the labels).

A joint dragged with the mouse in the overlay, range operations and interpolation through the
window's actions (checked against the same edits applied by core and against independent
expectations), a smoothing preview, crash recovery of a killed app process, and the MANO mesh
with the synthetic MANO-format model.

    xvfb-run -a -s '-screen 0 1600x1000x24' .venv/bin/pytest tests/app/test_editing.py
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt

pytestmark = pytest.mark.gui

ROOT = Path(__file__).resolve().parents[2]


def _labels_copy(sample, tmp_path: Path) -> tuple[Path, Path]:
    video, gt = sample
    labels = tmp_path / "labels.h5"
    shutil.copy(gt, labels)
    return video, labels


def _open(window, qtbot, video, labels, frame: int) -> None:
    assert window.open_video(video) and window.open_labels(labels)
    assert window.editing.recovery_dialog is None
    window.goto(frame)
    view = window.video_view  # the exact frame (a jump into a long GOP shows a stand-in first)
    qtbot.waitUntil(
        lambda: view.shown_frame == frame and 1 in view.drawn_joints and view.proxy_of is None,
        timeout=30000,
    )


def _arrays(doc) -> dict[str, np.ndarray]:
    return {f"{h}/{k}": v.copy() for h in (0, 1) for k, v in doc.hands[h].arrays().items()}


def _assert_same(a, b) -> None:
    """Two documents (or array dicts) hold exactly the same track values, NaNs included."""
    a = a if isinstance(a, dict) else _arrays(a)
    b = b if isinstance(b, dict) else _arrays(b)
    assert a.keys() == b.keys()
    for k in a:
        assert np.array_equal(a[k], b[k], equal_nan=a[k].dtype.kind == "f"), k


def _both_hands_frame(doc, start: int = 0) -> int:
    both = doc.hands[0].present & doc.hands[1].present
    return int(np.flatnonzero(both[start:])[0] + start)


def test_drag_joint_in_overlay_is_one_undo_step(window, qtbot, sample, tmp_path, artifacts):
    from app.mano_ui import NO_MANO_NOTE
    from app.screenshot import save_screenshot

    video, labels = _labels_copy(sample, tmp_path)
    window.editing.mano.set_folder(None)  # this test: no MANO files
    assert window.open_video(video) and window.open_labels(labels)
    doc = window.session.doc
    f = _both_hands_frame(doc, 20)
    window.goto(f)
    view = window.video_view
    qtbot.waitUntil(
        lambda: view.shown_frame == f and 1 in view.drawn_joints and view.proxy_of is None,
        timeout=30000,
    )
    assert window.view3d.canvas.note == NO_MANO_NOTE
    before = _arrays(doc)
    hist_len = len(doc.history)

    # press on the right hand's index tip where the overlay drew it, drag, release
    joint = 8
    uv0 = doc.hands[1].joints_2d[f, joint].astype(np.float64)
    assert window.video_view.joint_at(_qpointf(view.image_to_widget(uv0))) == (1, joint)
    p0 = view.image_to_widget(uv0)
    press = QPoint(int(round(p0[0])), int(round(p0[1])))
    release = press + QPoint(34, -21)
    qtbot.mousePress(view, Qt.MouseButton.LeftButton, pos=press)
    for t in np.linspace(0.2, 1.0, 5):
        qtbot.mouseMove(view, press + QPoint(int(34 * t), int(-21 * t)))
        qtbot.wait(5)
    # live preview while dragging: the document already holds the moved joint
    assert window.editing.drag.active and window.editing.history.in_gesture
    qtbot.mouseRelease(view, Qt.MouseButton.LeftButton, pos=release)
    assert not window.editing.drag.active

    target = view.widget_to_image(np.array([release.x(), release.y()], np.float64))
    moved = doc.hands[1].joints_2d[f, joint]
    assert np.abs(moved - target).max() <= 2.0, (moved, target)
    assert np.abs(moved - uv0).max() > 10
    # the 3D joint followed at its depth and projects onto the new 2D position
    from core.camera import project

    j3 = doc.hands[1].joints_3d[f, joint]
    assert abs(j3[2] - before["1/joints_3d"][f, joint, 2]) < 1e-4
    assert np.abs(project(j3, doc.K) - moved).max() < 0.05
    # nothing else changed (the right hand's other joints, the other hand, other frames)
    after = _arrays(doc)
    for k in after:
        if k.startswith("0/"):
            assert np.array_equal(after[k], before[k], equal_nan=True), k
    for name in ("joints_2d", "joints_3d"):
        a, b = after[f"1/{name}"].copy(), before[f"1/{name}"].copy()
        a[f, joint] = b[f, joint] = 0
        assert np.array_equal(a, b, equal_nan=True), name
    assert after["1/keyframe"][f] and after["1/source"][f] == 2  # EDITED keyframe
    assert window.editing.selection_overlay is not None and window.editing.hand == 1
    # one undo step for the whole drag, named after it
    h = window.editing.history
    assert len(h) == 1 and h.undo_label == "drag right index tip"
    assert window.editing.act_undo.text() == "&Undo drag right index tip"
    assert len(doc.history) == hist_len + window.editing.drag.moves
    qtbot.waitUntil(lambda: np.allclose(view.drawn_joints[1][joint], moved))
    assert window.windowTitle().startswith("*")
    save_screenshot(window, artifacts / "app_editing_drag.png")

    window.editing.act_undo.trigger()
    _assert_same(doc, before)
    assert len(doc.history) == hist_len and not h.can_undo
    # the values are the file's again, but "unsaved" counts changes, not undo positions
    # (issue #15): the document changed twice since the load
    assert window.windowTitle().startswith("*") and window.session.dirty
    window.editing.act_redo.trigger()
    _assert_same(doc, after)
    assert window.windowTitle().startswith("*")

    # Escape during a drag rolls it back
    window.editing.act_undo.trigger()
    p = view.image_to_widget(doc.hands[1].joints_2d[f, 4])
    press = QPoint(int(round(p[0])), int(round(p[1])))
    qtbot.mousePress(view, Qt.MouseButton.LeftButton, pos=press)
    qtbot.mouseMove(view, press + QPoint(20, 20))
    assert window.editing.drag.active
    window.editing.act_escape.trigger()
    qtbot.mouseRelease(view, Qt.MouseButton.LeftButton, pos=press + QPoint(20, 20))
    _assert_same(doc, before)
    assert not h.can_undo


def _qpointf(xy):
    from PySide6.QtCore import QPointF

    return QPointF(float(xy[0]), float(xy[1]))


def test_range_ops_and_interpolation_through_the_ui(window, qtbot, sample, tmp_path, artifacts):
    from app.screenshot import save_screenshot
    from core.edits import apply_edits
    from core.io.labels_h5 import load_labels

    video, labels = _labels_copy(sample, tmp_path)
    _open(window, qtbot, video, labels, 30)
    ed = window.editing
    doc = window.session.doc
    original = doc.copy()
    expected = load_labels(labels)
    edits: list[dict] = []

    def check(new_edits):
        edits.extend(new_edits)
        ref = expected.copy()
        apply_edits(ref, edits)
        _assert_same(doc, ref)

    # Ctrl+drag on the timeline selects the edit range
    tl = window.timeline
    y = tl.height() // 2
    x0, x1 = tl.x_of(40) + 1, tl.x_of(50) + 1
    qtbot.mousePress(
        tl, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ControlModifier, QPoint(int(x0), y)
    )
    qtbot.mouseMove(tl, QPoint(int(x1), y))
    qtbot.mouseRelease(
        tl, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ControlModifier, QPoint(int(x1), y)
    )
    assert ed.range == (tl.frame_at(x0), tl.frame_at(x1))
    ed.set_range((40, 50))
    assert window.session.clock.frame == 30  # Ctrl+drag does not scrub

    ed.act_swap.trigger()
    check([{"op": "swap_hands", "start": 40, "end": 50}])
    # independently: the hands' joints exchanged on 40..50, untouched elsewhere
    assert np.array_equal(
        doc.hands[0].joints_3d[40:51], original.hands[1].joints_3d[40:51], equal_nan=True
    )
    assert np.array_equal(
        doc.hands[1].joints_3d[40:51], original.hands[0].joints_3d[40:51], equal_nan=True
    )
    assert np.array_equal(
        doc.hands[0].joints_3d[51:], original.hands[0].joints_3d[51:], equal_nan=True
    )

    ed.select(hand=0)
    ed.set_range((60, 62))
    ed.act_set_absent.trigger()
    check([{"op": "set_present", "hand": "left", "start": 60, "end": 62, "present": False}])
    assert not doc.hands[0].present[60:63].any()

    ed.set_range(None)
    window.goto(61)
    ed.act_copy_prev.trigger()
    check([{"op": "copy_pose", "hand": "left", "frame": 61, "from": "prev"}])
    assert np.array_equal(doc.hands[0].joints_3d[61], doc.hands[0].joints_3d[59])

    ed.select(hand=1)
    ed.set_range((100, 104))
    ed.act_delete.trigger()
    check([{"op": "delete_range", "hand": "right", "start": 100, "end": 104}])
    assert np.isnan(doc.hands[1].joints_3d[100:105]).all()

    # review: mark, flag, note, jump
    ed.set_range(None)
    window.goto(5)
    ed.act_reviewed.trigger()
    check([{"op": "set_reviewed", "hand": "both", "start": 5, "end": 5, "reviewed": True}])
    ed.inspector.flags["motion_blur"].setChecked(True)
    check(
        [
            {
                "op": "set_flags",
                "hand": "right",
                "start": 5,
                "end": 5,
                "flags": ["motion_blur"],
                "on": True,
            }
        ]
    )
    ed.inspector.note.setText("blurry")
    ed.inspector.note.editingFinished.emit()
    check([{"op": "set_note", "frame": 5, "text": "blurry"}])
    window.goto(0)
    ed.act_next_flag.trigger()
    assert window.session.clock.frame == 5
    ed.act_next_unrev.trigger()
    assert window.session.clock.frame == 6
    window.goto(0)
    ed.act_next_key.trigger()
    assert window.session.clock.frame == 60  # the first keyframe (set absent; a swap moves keys)

    # interpolation: keyframes at 120 and 140 (Ctrl+K), then I on a frame between them
    ed.select(hand=0)
    for k in (120, 140):
        window.goto(k)
        ed.act_keyframe.trigger()
    check([{"op": "set_keyframe", "hand": "left", "start": k, "end": k, "keyframe": True}
           for k in (120, 140)])  # fmt: skip
    window.goto(131)
    ed.act_interpolate.trigger()
    check([{"op": "interpolate", "hand": "left", "start": 120, "end": 140}])
    from core.labels.document import Source

    assert (doc.hands[0].source[121:140] == Source.INTERPOLATED).all()
    # rigid motion check independent of core: wrist moves linearly between the keys
    w = doc.hands[0].joints_3d[:, 0]
    t = (np.arange(121, 140) - 120) / 20.0
    lin = w[120] + t[:, None] * (w[140] - w[120])
    assert np.abs(w[121:140] - lin).max() < 1e-5
    save_screenshot(window, artifacts / "app_editing_interpolate.png")

    # smoothing: preview (dashed in the overlay, document unchanged), then Apply
    ed.select(hand=1)
    ed.set_range((10, 28))
    state = _arrays(doc)
    window.goto(15)
    ed.act_smooth.trigger()
    assert ed.preview is not None and ed.smooth_bar.isVisible()
    qtbot.waitUntil(lambda: 1 in ed.selection_overlay.drawn_preview)
    assert ed.preview3d.drawn == 15 and ed.preview3d.actor.GetVisibility()
    _assert_same(doc, state)
    save_screenshot(window, artifacts / "app_editing_smooth_preview.png")
    ed.smooth_bar.sigma_box.setValue(3.0)
    ed.smooth_bar.apply_button.click()
    assert ed.preview is None and not ed.smooth_bar.isVisible()
    assert ed.preview3d.drawn == -1 and not ed.preview3d.actor.GetVisibility()
    check([{"op": "smooth", "hand": "right", "start": 10, "end": 28, "sigma": 3.0}])

    # every step undoes back to the file's state
    while ed.history.can_undo:
        ed.act_undo.trigger()
    _assert_same(doc, original)
    assert doc.notes == original.notes


def test_whole_hand_transform_from_the_inspector(window, qtbot, sample, tmp_path):
    from app.widgets.inspector import euler_to_axis_angle
    from core.hands.rotations import axis_angle_to_matrix

    video, labels = _labels_copy(sample, tmp_path)
    _open(window, qtbot, video, labels, 30)
    ed, doc = window.editing, window.session.doc
    ed.select(hand=1)
    j0 = doc.hands[1].joints_3d[30].astype(np.float64)
    ins = ed.inspector
    ins.rot[2].setValue(30.0)
    ins.move[0].setValue(20.0)
    assert ins.apply_transform()
    R = axis_angle_to_matrix(euler_to_axis_angle(np.array([0.0, 0.0, 30.0])))
    assert np.allclose(R[:2, :2], [[np.cos(np.pi / 6), -0.5], [0.5, np.cos(np.pi / 6)]], atol=1e-9)
    expect = (j0 - j0[0]) @ R.T + j0[0] + [0.02, 0, 0]
    assert np.abs(doc.hands[1].joints_3d[30] - expect).max() < 1e-5
    assert ins.rot[2].value() == 0.0 and len(ed.history) == 1

    # in the 3D view: Ctrl+drag moves the selected hand in the view's plane, Ctrl+Shift+drag
    # rotates it about the wrist; each drag is one undo step
    w3 = window.view3d.canvas
    right, up, scale = ed.drag3d._axes()
    j1 = doc.hands[1].joints_3d[30].astype(np.float64)
    c = QPoint(w3.width() // 2, w3.height() // 2)
    ctrl = Qt.KeyboardModifier.ControlModifier
    qtbot.mousePress(w3, Qt.MouseButton.LeftButton, ctrl, c)
    for k in (10, 25, 40):
        qtbot.mouseMove(w3, c + QPoint(k, 0))
    qtbot.mouseRelease(w3, Qt.MouseButton.LeftButton, ctrl, c + QPoint(40, 0))
    j2 = doc.hands[1].joints_3d[30].astype(np.float64)
    d = j2 - j1
    assert np.abs(d - d[0]).max() < 1e-6  # rigid translation
    assert np.abs(d[0] - 40 * scale * right).max() < 1e-5
    assert len(ed.history) == 2 and ed.history.undo_label == "move right hand in 3D"
    shift = ctrl | Qt.KeyboardModifier.ShiftModifier
    qtbot.mousePress(w3, Qt.MouseButton.LeftButton, shift, c)
    qtbot.mouseMove(w3, c + QPoint(30, 10))
    qtbot.mouseRelease(w3, Qt.MouseButton.LeftButton, shift, c + QPoint(30, 10))
    j3 = doc.hands[1].joints_3d[30].astype(np.float64)
    assert np.abs(j3[0] - j2[0]).max() < 1e-6 and np.abs(j3 - j2).max() > 1e-3
    bones = lambda j: np.linalg.norm(j[1:] - j[0], axis=1)  # noqa: E731
    assert np.allclose(bones(j3), bones(j2), atol=1e-6)
    assert len(ed.history) == 3
    ed.act_undo.trigger()
    ed.act_undo.trigger()
    assert np.abs(doc.hands[1].joints_3d[30] - j1).max() < 1e-6


def test_crash_recovery_after_kill(window, qtbot, sample, tmp_path):
    """An app process edits, then is SIGKILLed in the middle of a drag; reopening offers the
    work back and restores exactly the state after the last finished gesture."""
    from core.io.journal import Journal

    video, labels = _labels_copy(sample, tmp_path)
    expected = tmp_path / "expected.npz"
    script = tmp_path / "edit_then_hang.py"
    script.write_text(
        textwrap.dedent(f"""
        import json, os, sys, time
        os.environ["QT_API"] = "pyside6"
        import numpy as np
        from PySide6.QtWidgets import QApplication
        app = QApplication([])
        from app.main_window import MainWindow
        from core.settings import Settings
        w = MainWindow(Settings.load({str(tmp_path / "child_settings.json")!r}), interactive_errors=False)
        w.show()
        assert w.open_video({str(video)!r}) and w.open_labels({str(labels)!r})
        ed = w.editing
        ed.set_range((40, 50)); ed.swap_hands()
        ed.select(hand=0); ed.set_range((60, 62)); ed.set_present(False)
        ed.set_range(None); w.goto(12); ed.mark_reviewed(); ed.set_note("kept after a crash")
        ed.select(hand=1); ed.set_range((70, 80)); ed.start_smooth(2.0); ed.apply_smooth()
        ed.undo(); ed.redo()
        w.goto(20)
        ed.history.apply("move_joint_2d", hand="right", frame=20, joint=8, uv=[300.0, 200.0])
        doc = w.session.doc
        np.savez({str(expected)!r}, **{{f"{{h}}/{{k}}": v for h in (0, 1) for k, v in doc.hands[h].arrays().items()}},
                 notes=json.dumps(doc.notes), history=json.dumps(doc.history))
        print("EDITS DONE", flush=True)
        ed.history.begin_gesture("drag")   # killed in the middle of this drag
        ed.history.apply("move_joint_2d", hand="left", frame=20, joint=4, uv=[100.0, 100.0])
        print("IN GESTURE", flush=True)
        time.sleep(120)
    """)
    )
    proc = subprocess.Popen(
        [sys.executable, str(script)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, env={**os.environ, "QT_API": "pyside6"},
    )  # fmt: skip
    lines = []
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.startswith("IN GESTURE"):
                break
        assert lines and lines[-1].startswith("IN GESTURE"), "".join(lines)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    assert proc.returncode == -signal.SIGKILL
    journal = Journal.open_for(labels)
    assert journal.has_recovery()

    assert window.open_video(video) and window.open_labels(labels)
    ed = window.editing
    assert ed.recovery_dialog is not None and ed.recovery_dialog.isVisible()
    assert "Restore" in [b.text() for b in ed.recovery_dialog.buttons()]
    assert not ed.apply("Mark reviewed", {"op": "set_reviewed", "frame": 0})  # must answer first
    ed.answer_recovery(True)
    assert ed.recovery_dialog is None
    doc = window.session.doc
    exp = np.load(expected)
    _assert_same(doc, {k: exp[k] for k in exp.files if "/" in k})
    import json

    assert {int(k): v for k, v in json.loads(str(exp["notes"])).items()} == doc.notes
    assert json.loads(str(exp["history"])) == doc.history
    assert doc.dirty and window.windowTitle().startswith("*")
    # the restored session keeps journaling: an edit and an undo work, and Save clears it
    assert ed.apply("Mark reviewed", {"op": "set_reviewed", "frame": 0})
    assert window.save()
    assert not Journal.open_for(labels).has_recovery()
    assert not window.windowTitle().startswith("*")
    # reopening the saved file offers nothing
    assert window.open_labels(labels) and ed.recovery_dialog is None
    # a journal holding only the starting snapshot of unsaved labels (e.g. left by a session
    # that only ran a reconstruction) offers nothing either
    stale = Journal.open_for(video_sha256=window.session.doc.meta.video_sha256)
    stale.start(window.session.doc)
    stale.close()
    assert stale.has_recovery()
    assert window.open_video(video) and ed.recovery_dialog is None
    # ... and the new session starts its journal afresh there: the stale snapshot is gone
    assert window.editing.edit.journal.path == stale.path
    assert [r.kind for r in stale.records()] == ["header", "blank"]
    assert not stale.has_recovery() and not window.session.doc.dirty
    assert ed.apply("Mark reviewed", {"op": "set_reviewed", "frame": 3})  # journaled from here
    assert stale.describe()["changes"] == 1 and stale.has_recovery()


def test_mano_folder_shows_the_mano_mesh(
    window, qtbot, sample, tmp_path, synthetic_mano_dir, artifacts
):
    from app.screenshot import grab_window, region_array
    from core.edits import hand_model

    video, labels = _labels_copy(sample, tmp_path)
    _open(window, qtbot, video, labels, 30)
    ed = window.editing
    assert ed.mano.choose_folder(str(synthetic_mano_dir))
    assert hand_model() is not None and window.settings.mano_dir == str(synthetic_mano_dir)
    assert "MANO" in ed.mano.status.text() and "no MANO" not in ed.mano.status.text()
    doc = window.session.doc
    assert not doc.hands[1].has_mano()[30]  # the sample's truth has joints only
    assert 1 not in ed.mano.drawn
    # a drag ends with a MANO refit: the frame gets MANO parameters and the 3D view its mesh
    view = window.video_view
    p = view.image_to_widget(doc.hands[1].joints_2d[30, 8])
    press = QPoint(int(round(p[0])), int(round(p[1])))
    qtbot.mousePress(view, Qt.MouseButton.LeftButton, pos=press)
    qtbot.mouseMove(view, press + QPoint(6, 4))
    qtbot.mouseRelease(view, Qt.MouseButton.LeftButton, pos=press + QPoint(6, 4))
    assert doc.hands[1].has_mano()[30]
    assert ed.mano.drawn.get(1) == 30
    assert ed.mano._actors[1].GetVisibility()
    verts = np.asarray(ed.mano._meshes[1].points)
    joints = doc.hands[1].joints_3d[30]
    # the mesh sits on the hand: every joint near the mesh
    d = np.linalg.norm(verts[None] - joints[:, None], axis=-1).min(1)
    assert d.max() < 0.03, d
    # inspector: the joint rotation is editable now
    assert ed.inspector.joint_button.isEnabled()
    window.view3d.set_preset("camera")
    img = grab_window(window)
    img.save(str(artifacts / "app_editing_mano.png"))
    v3 = window.view3d.canvas
    pos = v3.mapTo(window, QPoint(0, 0))
    region = region_array(img, pos.x(), pos.y(), v3.width(), v3.height())
    orange = (
        (region[..., 0] > 150)
        & (region[..., 1] > 60)
        & (region[..., 1] < 170)
        & (region[..., 2] < 120)
    )
    assert orange.sum() > 300  # the right hand's mesh is drawn
    ed.mano.set_folder(None, save=False)
