"""The report's plots (core/analysis/plots.py) draw the numbers they are given: each figure's
lines, bars, points and image hold exactly the evaluation's and detectors' values (read back
from the matplotlib figure the PNG was rendered from), and the PNG is a real image of the
figure's size."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from core.analysis import plots
from core.analysis.detectors import KINDS, detect
from core.camera import project
from core.io.labels_h5 import load_labels
from core.labels.document import LabelDocument
from core.labels.joints import HAND_COLORS_HEX, JOINT_NAMES
from core.metrics.evaluate import evaluate


@pytest.fixture(scope="module")
def docs(sample) -> tuple[LabelDocument, LabelDocument]:
    """(prediction, ground truth): the sample's ground truth with the left hand 3 cm too far on
    frames 40-59, the right hand lost on 100-109, and confidences that vary."""
    gt = load_labels(sample[1])
    pred = gt.copy()
    f = np.arange(40, 60)
    j = pred.hands[0].joints_3d[f] + np.float32([0.0, 0.0, 0.03])
    pred.write(0, f, {"joints_3d": j, "joints_2d": project(j, pred.K)})
    pred.write(1, np.arange(100, 110), {"present": False, "joints_3d": np.nan, "joints_2d": np.nan})
    rng = np.random.default_rng(0)
    for h in (0, 1):
        p = pred.hands[h].present
        pred.write(h, slice(None), {"confidence": np.where(p, rng.uniform(0.3, 1.0, p.size), 0)})
    return pred, gt


@pytest.fixture
def figures(monkeypatch) -> list:
    """The matplotlib figures the plot functions render, in order."""
    seen: list = []
    real = plots._png

    def keep(fig) -> bytes:  # noqa: ANN001
        seen.append(fig)
        return real(fig)

    monkeypatch.setattr(plots, "_png", keep)
    return seen


def _check_png(png: bytes, fig) -> None:  # noqa: ANN001
    img = Image.open(io.BytesIO(png))
    w, h = fig.get_size_inches() * fig.dpi
    assert img.format == "PNG" and img.size == (round(w), round(h))
    assert np.asarray(img.convert("L")).std() > 5  # drawn, not blank


def test_error_over_time_plots_the_per_frame_errors(docs, figures) -> None:
    pred, gt = docs
    ev = evaluate(pred, gt)
    png = plots.error_over_time(ev, 30.0)
    (fig,) = figures
    _check_png(png, fig)
    lines = {ln.get_label(): ln for ln in fig.axes[0].get_lines()}
    for h, name in enumerate(("left", "right")):
        for key in ("MPJPE", "PA-MPJPE"):
            y = lines[f"{key} {name}"].get_ydata()
            np.testing.assert_array_equal(y, ev.per_frame[key][h])
            assert lines[f"{key} {name}"].get_color() == HAND_COLORS_HEX[h]
    # the left hand's 3 cm error on frames 40-59 and only there (the rest is exact)
    left = lines["MPJPE left"].get_ydata()
    np.testing.assert_allclose(left[40:60], 30.0, atol=1e-3)
    assert np.nanmax(np.abs(np.delete(left, np.arange(40, 60)))) < 1e-3
    # frames where the right hand was missed are marked, at exactly those frames
    missed = lines["right missed (penalty)"].get_xdata()
    gt_has = gt.hands[1].present[100:110]
    np.testing.assert_array_equal(missed, np.arange(100, 110)[gt_has])
    assert "left missed (penalty)" not in lines


def test_error_per_joint_bars_are_the_per_joint_errors(docs, figures) -> None:
    pred, gt = docs
    ev = evaluate(pred, gt)
    png = plots.error_per_joint(ev)
    (fig,) = figures
    _check_png(png, fig)
    ax = fig.axes[0]
    heights = np.array([p.get_height() for p in ax.patches]).reshape(2, len(JOINT_NAMES))
    np.testing.assert_allclose(heights, np.nan_to_num(ev.per_joint["MPJPE"]))
    # 20 of the left hand's frames are 30 mm off: its mean per joint is 30 mm x their share
    both = np.isfinite(ev.per_frame["MPJPE"][0]).sum()
    np.testing.assert_allclose(heights[0], 30.0 * 20 / both, rtol=1e-3)
    assert [t.get_text() for t in ax.get_xticklabels()] == list(JOINT_NAMES)


def test_confidence_against_error_scatters_the_right_pairs(docs, figures) -> None:
    pred, gt = docs
    ev = evaluate(pred, gt)
    conf = np.stack([t.confidence for t in pred.hands])
    png = plots.confidence_vs_error(ev, conf)
    (fig,) = figures
    _check_png(png, fig)
    for h, points in enumerate(fig.axes[0].collections):
        e = ev.per_frame["MPJPE"][h]
        ok = np.isfinite(e)
        np.testing.assert_allclose(points.get_offsets(), np.stack([conf[h][ok], e[ok]], 1))


def test_confidence_over_time_has_gaps_where_the_hand_is_absent(docs, figures) -> None:
    pred, _ = docs
    conf = np.stack([t.confidence for t in pred.hands])
    present = np.stack([t.present for t in pred.hands])
    png = plots.confidence_over_time(conf, present, 30.0)
    (fig,) = figures
    _check_png(png, fig)
    for h, line in enumerate(fig.axes[0].get_lines()):
        np.testing.assert_array_equal(line.get_ydata(), np.where(present[h], conf[h], np.nan))
    assert np.isnan(fig.axes[0].get_lines()[1].get_ydata()[100:110]).all()


def test_detector_lanes_show_the_scores_and_box_the_segments(docs, figures) -> None:
    pred, _ = docs
    det = detect(pred)
    assert det.segments  # the far-off frames and the dropout are found
    png = plots.detector_lanes(det, 30.0)
    (fig,) = figures
    _check_png(png, fig)
    ax = fig.axes[0]
    rows = [(k, h) for k in KINDS for h in range(2)]
    want = np.clip(np.stack([det.scores[k][h] for k, h in rows]), 0, 3)
    got = np.ma.filled(ax.images[0].get_array().astype(float), np.nan)
    np.testing.assert_array_equal(got, want)
    boxes = sorted((r.get_x() + 0.5, r.get_y() + 0.45, r.get_width()) for r in ax.patches)
    expected = sorted((s.start, rows.index((s.kind, s.hand)), s.length) for s in det.segments)
    np.testing.assert_allclose(boxes, expected)
