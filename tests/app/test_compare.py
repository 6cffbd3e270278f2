"""Compare mode on the project's sample: faulty labels against the exact ground truth as the
reference. The reference is drawn in the overlay and in 3D, the per-frame error lanes and the
metrics table show what core.metrics computes on the same data, edits recompute them off the
GUI thread, and a mismatched reference goes through the window's error presenter."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint
from PySide6.QtWidgets import QApplication

from core.camera import project
from core.io.labels_h5 import load_labels, save_labels
from core.metrics import evaluate
from core.metrics.evaluate import slice_frames

pytestmark = pytest.mark.gui

PER_FRAME = ("MPJPE", "PA-MPJPE", "EPE", "MPJPE-p", "PA-MPJPE-p", "EPE-p")


def settle(rounds: int = 3) -> None:
    for _ in range(rounds):
        QApplication.processEvents()


def wait_evaluation(qtbot, window) -> None:
    model = window.analysis.compare
    qtbot.waitUntil(lambda: model.evaluation is not None and not model.busy, timeout=30_000)
    settle()


def test_compare_mode_matches_core_metrics(
    window, qtbot, sample, artifacts, tmp_path, settle_views
):
    from app.screenshot import grab_window, region_array, save_screenshot
    from app.widgets.analysis_lanes import ERROR_METRICS, error_columns
    from app.widgets.compare_panel import format_value
    from app.widgets.timeline import Columns

    video, gt_path = sample
    gt = load_labels(gt_path)
    pred = gt.copy()
    # a 4 cm jump of the left hand on frames 15-24, and the right hand missed on 60-64
    f = np.arange(15, 25)
    j = pred.hands[0].joints_3d[f].astype(np.float64) + np.array([0.04, 0.0, 0.0])
    pred.write(0, f, {"joints_3d": j, "joints_2d": project(j, pred.K)})
    pred.write(1, np.arange(60, 65), {"present": False, "joints_3d": np.nan, "joints_2d": np.nan})
    labels = save_labels(pred, tmp_path / "pred.h5")

    assert window.open_video(video) and window.open_labels(labels)
    ui = window.analysis
    panel, model = ui.compare_panel, ui.compare
    n_lanes = len(window.timeline.lanes)
    assert not model.active and panel.cell("MPJPE-p", "both") == ""
    assert ui.open_reference(gt_path)
    wait_evaluation(qtbot, window)

    # per-frame errors and every metric are what core.metrics gives on the same data
    expected = evaluate(load_labels(labels), gt)
    for name in PER_FRAME:
        np.testing.assert_allclose(
            model.evaluation.per_frame[name], expected.per_frame[name], equal_nan=True, atol=1e-9
        )
    assert abs(expected.per_frame["MPJPE"][0, 20] - 40.0) < 1e-3  # the 4 cm jump
    assert np.isnan(expected.per_frame["MPJPE"][1, 62])  # missed: only with the penalty
    assert expected.per_frame["MPJPE-p"][1, 62] > 100
    for name in panel.row_of:
        for col, suffix in (("both", ""), ("left", "/left"), ("right", "/right")):
            m = expected.metrics.get(name + suffix)
            assert panel.cell(name, col) == ("" if m is None else format_value(m.value)), name
        assert panel.cell(name, "n") == str(expected.metrics[name].n)
    assert panel.cell("MPJPE-p", "both") != "-" and panel.cell("EPE", "left") != "-"

    # the timeline has the error lanes in each hand's group; their columns show those errors
    tl = window.timeline
    assert len(tl.lanes) == n_lanes + 2 * len(ERROR_METRICS)
    assert [lane.group for lane in ui.error_lanes] == ["Left"] * 3 + ["Right"] * 3
    tl.set_view(10, 70)  # at least one pixel column per frame
    cols = Columns(10, 70, tl._lanes_width())
    for frame in (14, 20, 62):
        c = int(np.searchsorted(cols.ends, frame, side="right"))
        for name in ERROR_METRICS:
            for h in (0, 1):
                mean, missed = error_columns(model, name, h, cols)
                want = expected.per_frame[name][h, frame]
                if np.isnan(want):
                    assert np.isnan(mean[c])
                else:
                    assert mean[c] == pytest.approx(want, abs=1e-6)
                assert missed[c] == float(
                    np.isfinite(expected.per_frame[f"{name}-p"][h, frame]) and np.isnan(want)
                )
    tl.reset_view()

    # the reference is drawn in the overlay (2D) and in the 3D view, next to the prediction
    window.goto(20)
    settle_views(window)
    for h in (0, 1):
        np.testing.assert_array_equal(ui.reference_overlay.drawn[h], gt.hands[h].joints_2d[20])
        np.testing.assert_array_equal(ui.reference_3d.drawn[h], gt.hands[h].joints_3d[20])
        np.testing.assert_allclose(ui.reference_3d._lines[h].points, gt.hands[h].joints_3d[20])
    assert sorted(window.video_view.drawn_joints) == [0, 1]
    ui.dock_compare.raise_()
    path = save_screenshot(window, artifacts / "app_compare.png")
    assert path.stat().st_size > 50_000

    # the dashed reference skeleton is visible: white pixels around the true left hand, where
    # the prediction (4 cm away) is not, and they go when the reference is hidden
    def white_pixels() -> int:
        image = grab_window(window)
        vv = window.video_view
        pos = vv.mapTo(window, QPoint(0, 0))
        uv = vv.image_to_widget(gt.hands[0].joints_2d[20])
        x0, y0 = (uv.min(0) - 5).astype(int)
        x1, y1 = (np.minimum(uv.max(0) + 5, [vv.width(), vv.height()])).astype(int)
        px = region_array(image, pos.x() + x0, pos.y() + y0, x1 - x0, y1 - y0).astype(int)
        return int((px.min(axis=2) > 225).sum())

    shown = white_pixels()
    panel.show_check.setChecked(False)
    window.video_view.repaint()
    assert ui.reference_overlay.drawn == {} and ui.reference_3d.drawn == {}
    hidden = white_pixels()
    assert shown > 30 and hidden < shown / 5, (shown, hidden)
    panel.show_check.setChecked(True)

    # an edit (fixing the jump) recomputes the metrics off the GUI thread
    window.session.doc.write(0, f, {"joints_3d": gt.hands[0].joints_3d[f],
                                    "joints_2d": gt.hands[0].joints_2d[f]})  # fmt: skip
    qtbot.waitUntil(
        lambda: (
            model.evaluation is not None
            and model.evaluation.per_frame["MPJPE"][0, 20] < 1e-3
            and not model.busy
        ),
        timeout=30_000,
    )
    settle()
    fixed = evaluate(window.session.doc, gt)
    assert panel.cell("MPJPE-p", "left") == format_value(fixed.value("MPJPE-p/left"))
    assert panel.cell("MPJPE", "left") == format_value(fixed.value("MPJPE/left"))

    # a reference with another frame count: the presenter offers "Open anyway"
    short = save_labels(slice_frames(gt, 150), tmp_path / "short.h5")
    window.errors.interactive = True
    assert not ui.open_reference(short)
    assert window.errors.last.title and "150" in window.errors.last.message
    assert "Open anyway" in window.errors.last.actions
    assert model.reference_path == gt_path.resolve()  # the previous reference stays
    window.errors.trigger("Open anyway")
    assert model.forced and model.reference_path == short.resolve()
    wait_evaluation(qtbot, window)
    assert model.evaluation.n_frames == 150 and model.evaluation.notes
    assert "common frames" in panel.source.text()
    window.goto(160)  # beyond the reference: nothing drawn, nothing breaks
    window.video_view.repaint()
    assert ui.reference_overlay.drawn == {}

    # leaving compare mode removes the lanes and empties the table
    ui.act_close_reference.trigger()
    assert not model.active and len(tl.lanes) == n_lanes
    assert panel.cell("MPJPE-p", "both") == ""
    assert len(window.errors.history) == 1  # only the mismatch
