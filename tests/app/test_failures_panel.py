"""The failures dock on the project's sample with faults injected into its ground truth: the
detectors run off the GUI thread and list the faults, a click jumps the clock, confirm / dismiss
decisions are saved with the labels and come back on reopening, edits rerun the detectors, the
timeline shows the scores, and the report is written from the app."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from core.analysis import KINDS, detect
from core.analysis.review import decisions
from core.camera import project
from core.io.labels_h5 import load_labels, save_labels
from core.labels.document import POSE_FIELDS, LabelDocument

pytestmark = pytest.mark.gui

SWAP = (20, 34)  # both hands exchanged
JUMP = (45, 54)  # left hand displaced 4 cm
DROPOUT = (82, 84)  # left hand missing


def inject_faults(doc: LabelDocument) -> None:
    """A swap, a jump and a dropout (as tests/core/test_analysis_faults.py injects them)."""
    f = np.arange(SWAP[0], SWAP[1] + 1)
    left, right = doc.read(0, f, POSE_FIELDS).values, doc.read(1, f, POSE_FIELDS).values
    doc.write(0, f, right)
    doc.write(1, f, left)
    f = np.arange(JUMP[0], JUMP[1] + 1)
    j = doc.hands[0].joints_3d[f].astype(np.float64) + np.array([0.04, 0.0, 0.0])
    doc.write(0, f, {"joints_3d": j, "joints_2d": project(j, doc.K)})
    f = np.arange(DROPOUT[0], DROPOUT[1] + 1)
    doc.write(0, f, {"present": False, "confidence": 0.0, "joints_3d": np.nan,
                     "joints_2d": np.nan})  # fmt: skip


@pytest.fixture
def faulty(sample, tmp_path):
    """(video, faulty labels path, ground-truth path)."""
    video, gt_path = sample
    doc = load_labels(gt_path).copy()
    inject_faults(doc)
    path = tmp_path / "faulty.h5"
    save_labels(doc, path)
    return video, path, gt_path


def settle(rounds: int = 3) -> None:
    for _ in range(rounds):
        QApplication.processEvents()


def wait_detections(qtbot, window) -> None:
    model = window.analysis.failures
    qtbot.waitUntil(lambda: model.detections is not None and not model.busy, timeout=30_000)
    settle()


def click_row(qtbot, table, row: int) -> None:
    table.scrollToItem(table.item(row, 0))
    rect = table.visualRect(table.model().index(row, 1))
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def test_failures_listed_jump_review_persist(
    window, qtbot, faulty, artifacts, tmp_path, settle_views
):
    from app.screenshot import save_screenshot
    from app.widgets.analysis_lanes import failure_columns
    from app.widgets.timeline import Columns

    video, labels, _gt = faulty
    assert window.open_video(video) and window.open_labels(labels)
    ui = window.analysis
    panel, model = ui.failures_panel, ui.failures
    wait_detections(qtbot, window)

    # the panel lists exactly what the core detectors find, highest score first
    expected = detect(load_labels(labels)).ranked()
    assert panel.rows == expected
    assert panel.table.rowCount() == len(expected)
    assert [float(panel.table.item(r, 0).text()) for r in range(3)] == [
        round(s.score, 2) for s in expected[:3]
    ]
    kinds = {(s.kind, s.hand) for s in expected}
    assert {("lr_swap", 0), ("lr_swap", 1), ("accel_spike", 0), ("dropout", 0)} <= kinds
    swap = next(s for s in expected if s.kind == "lr_swap" and s.hand == 0)
    assert swap.overlaps(*SWAP)
    assert panel.table.item(expected.index(swap), 1).text() == "lr swap"

    # a click on a row moves the clock (and every view) to the segment's first frame
    window.goto(0)
    click_row(qtbot, panel.table, expected.index(swap))
    settle_views(window)
    assert window.session.clock.frame == swap.start
    assert window.video_view.shown_frame == swap.start == window.view3d.shown_frame
    assert panel.selected() == swap

    # filters: kind, hand, review status
    panel.kind_filter.setCurrentIndex(panel.kind_filter.findData("dropout"))
    assert panel.rows and all(s.kind == "dropout" for s in panel.rows)
    panel.kind_filter.setCurrentIndex(0)
    panel.hand_filter.setCurrentIndex(panel.hand_filter.findData(1))
    assert panel.rows and all(s.hand == 1 for s in panel.rows)
    panel.hand_filter.setCurrentIndex(0)
    assert panel.rows == expected

    # confirm the swap with a category and a note; dismiss the jump's spike
    click_row(qtbot, panel.table, panel.rows.index(swap))
    assert panel.category.currentData() == "lr_swap"  # proposed from the kind
    panel.category.setCurrentIndex(panel.category.findData("occlusion"))
    panel.note.setText("hands cross behind the cup")
    qtbot.mouseClick(panel.confirm_button, Qt.MouseButton.LeftButton)
    spike = next(s for s in panel.rows if s.kind == "accel_spike" and s.hand == 0)
    click_row(qtbot, panel.table, panel.rows.index(spike))
    assert window.session.clock.frame == spike.start
    qtbot.mouseClick(panel.dismiss_button, Qt.MouseButton.LeftButton)
    d = decisions(window.session.doc)
    assert d[swap.key].status == "confirmed" and d[swap.key].category == "occlusion"
    assert d[swap.key].note == "hands cross behind the cup"
    assert d[spike.key].status == "dismissed"
    assert window.session.dirty and window.windowTitle().startswith("*")
    # each decision is one undo step of the document's history (issue #15)
    assert window.editing.act_undo.text() == "&Undo Dismiss " + spike.key.replace(":", " ")
    window.editing.act_undo.trigger()
    assert spike.key not in decisions(window.session.doc) and window.session.dirty
    window.editing.act_redo.trigger()
    assert decisions(window.session.doc)[spike.key].status == "dismissed"
    row = panel.rows.index(swap)
    assert panel.table.item(row, 4).text() == "confirmed: occlusion (hands cross behind the cup)"
    panel.status_filter.setCurrentIndex(panel.status_filter.findData("confirmed"))
    assert panel.rows == [swap]
    panel.status_filter.setCurrentIndex(panel.status_filter.findData("unreviewed"))
    assert swap not in panel.rows and spike not in panel.rows
    assert len(panel.rows) == len(expected) - 2
    panel.status_filter.setCurrentIndex(0)

    # the timeline shows the scores: a failures lane inside each hand's group, coloured by kind
    tl = window.timeline
    for h, lane in enumerate(ui.failure_lanes):
        i = tl.lanes.index(lane)
        assert tl.lanes[i - 1].group == lane.group == ("Left", "Right")[h]
    tl.set_view(0, 90)
    cols = Columns(0, 90, tl._lanes_width())
    score, kind = failure_columns(model, 0, cols)
    mid = (SWAP[0] + SWAP[1]) // 2
    c = int(np.searchsorted(cols.ends, mid, side="right"))
    assert score[c] > 1 and KINDS[kind[c]] == "lr_swap"
    c = int(np.searchsorted(cols.ends, DROPOUT[0], side="right"))
    assert score[c] > 1 and KINDS[kind[c]] == "dropout"
    tl.reset_view()

    # screenshot with the swap selected
    ui.dock_failures.raise_()
    click_row(qtbot, panel.table, panel.rows.index(swap))
    window.goto(swap.start + 3)
    save_screenshot(window, artifacts / "app_failures_panel.png")

    # an edit reruns the detectors (debounced, off the GUI thread)
    doc = window.session.doc
    f = np.arange(150, 153)
    doc.write(1, f, {"present": False, "joints_3d": np.nan, "joints_2d": np.nan})
    qtbot.waitUntil(
        lambda: any(s.kind == "dropout" and s.hand == 1 and s.start == 150 for s in panel.rows),
        timeout=30_000,
    )
    assert panel.rows == detect(doc).ranked()

    # save, reopen: the decisions come back and the list shows them
    out = tmp_path / "reviewed.h5"
    assert window.save_as(out)
    back = decisions(load_labels(out))
    assert back[swap.key].status == "confirmed" and back[swap.key].note.startswith("hands")
    assert back[spike.key].status == "dismissed"
    assert window.open_labels(labels)  # the unreviewed file: no decisions
    wait_detections(qtbot, window)
    assert all(model.decision(s) is None for s in panel.rows)
    assert window.open_labels(out)
    wait_detections(qtbot, window)
    panel.status_filter.setCurrentIndex(panel.status_filter.findData("confirmed"))
    assert panel.rows == [swap]
    assert panel.table.item(0, 4).text().startswith("confirmed: occlusion")
    panel.status_filter.setCurrentIndex(panel.status_filter.findData("dismissed"))
    assert panel.rows == [spike]
    panel.status_filter.setCurrentIndex(0)
    # clearing a decision
    click_row(qtbot, panel.table, panel.rows.index(spike))
    qtbot.mouseClick(panel.clear_button, Qt.MouseButton.LeftButton)
    assert spike.key not in decisions(window.session.doc)

    # thresholds from JSON: a bad file is reported, a stricter dropout limit drops the dropout
    bad = tmp_path / "bad.json"
    bad.write_text('{"dropout_frames": 1}')
    assert not ui.load_thresholds(bad)
    assert "dropout_frames" in window.errors.last.message
    window.errors.close_dialog()
    window.errors.history.clear()
    good = tmp_path / "th.json"
    good.write_text('{"dropout_max": 2}')
    with qtbot.waitSignal(model.updated, timeout=30_000):
        assert ui.load_thresholds(good)
    assert model.thresholds.dropout_max == 2
    assert not any(s.kind == "dropout" and s.start == DROPOUT[0] for s in panel.rows)
    assert panel.rows == detect(window.session.doc, model.thresholds).ranked()
    assert any(s.kind == "lr_swap" for s in panel.rows)

    # the report, written from the app off the GUI thread
    report = tmp_path / "report.html"
    with qtbot.waitSignal(ui.report_job.finished, timeout=60_000):
        assert ui.report(report, open_after=False)
    html = report.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and "lr_swap" in html and "confirmed" in html
    assert ui.last_report == report
    # asked where (here: given) and whether to open it: a non-blocking box offers "Open"
    with qtbot.waitSignal(ui.report_job.finished, timeout=60_000):
        assert ui.report(tmp_path / "again.html")
    box = ui.report_dialog
    assert box is not None and box.isVisible() and "again.html" in box.text()
    assert "Open" in [b.text() for b in box.buttons()]
    box.close()
    assert not window.errors.history, window.errors.history
