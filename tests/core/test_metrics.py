"""Paper-protocol metrics on hand-built cases whose answers are computed by hand here."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.camera import project
from core.errors import LabelMismatchError
from core.hands.rotations import axis_angle_to_matrix, matrix_to_axis_angle
from core.hands.skeleton import RELAXED_FINGERS, hand_joints
from core.io.labels_h5 import save_labels
from core.labels.document import LabelDocument, Source, VideoMeta
from core.labels.joints import LEFT, RIGHT
from core.metrics import SPECS, canonical_joints, evaluate

W, H = 640, 480


def make_doc(n: int = 12, *, seed: int = 0) -> LabelDocument:
    """Two hands moving smoothly in front of the camera, both present on every frame."""
    doc = LabelDocument(VideoMeta(n_frames=n, fps=30.0, width=W, height=H))
    rng = np.random.default_rng(seed)
    t = np.arange(n)[:, None]
    for side, x0 in ((LEFT, -0.09), (RIGHT, 0.09)):
        transl = np.array([x0, 0.02, 0.45]) + 0.002 * t * np.array([1.0, -0.5, 0.3])
        rot = np.array([0.2, -0.3, 0.1]) + 0.01 * t * rng.normal(size=3)
        joints = hand_joints(rot, transl, np.broadcast_to(RELAXED_FINGERS, (n, 5, 4)), side=side)
        doc.write(side, slice(None), {
            "present": True, "confidence": 0.9, "joints_3d": joints,
            "joints_2d": project(joints, doc.K), "global_orient": rot, "transl": transl,
            "source": int(Source.PREDICTED),
        })  # fmt: skip
    return doc


def set_joints(doc: LabelDocument, side: int, joints: np.ndarray) -> None:
    doc.write(side, slice(None), {"joints_3d": joints, "joints_2d": project(joints, doc.K)})


def test_translation_offset_gives_mpjpe_10_and_pa_0() -> None:
    gt = make_doc()
    pred = gt.copy()
    for side in (LEFT, RIGHT):
        set_joints(pred, side, gt.hands[side].joints_3d + np.array([0.006, 0.0, 0.008]))  # 10 mm
    ev = evaluate(pred, gt)
    for name in ("MPJPE", "MPJPE-p", "MPJPE/left", "MPJPE-p/right"):
        assert ev.value(name) == pytest.approx(10.0, abs=1e-3), name
    for name in ("PA-MPJPE", "PA-MPJPE-p", "RR-MPJPE", "MRRPE"):
        assert ev.value(name) == pytest.approx(0.0, abs=1e-3), name
    assert ev.value("TranslErr") == pytest.approx(0.010, abs=1e-6)
    assert ev.metrics["MPJPE"].n == 2 * gt.n_frames
    assert np.allclose(ev.per_frame["MPJPE"], 10.0, atol=1e-3)
    assert np.allclose(ev.per_joint["MPJPE"], 10.0, atol=1e-3)
    assert ev.value("FAcc") == 1.0 and ev.value("F1") == 1.0


def test_rotated_scaled_copy_has_pa_mpjpe_zero() -> None:
    gt = make_doc()
    pred = gt.copy()
    R = axis_angle_to_matrix(np.array([0.3, -0.5, 0.8]))
    g = gt.hands[RIGHT].joints_3d.astype(np.float64)
    c = g.mean(axis=1, keepdims=True)
    moved = 1.3 * (g - c) @ R.T + c + np.array([0.01, 0.02, 0.05])
    set_joints(pred, RIGHT, moved)
    ev = evaluate(pred, gt)
    assert ev.value("PA-MPJPE/right") == pytest.approx(0.0, abs=1e-3)
    assert ev.value("MPJPE/right") > 30.0
    assert ev.value("MPJPE/left") == pytest.approx(0.0, abs=1e-6)


def test_missed_hand_under_penalty_scores_canonical_hand() -> None:
    gt = make_doc(n=10)
    pred = gt.copy()
    missed = np.array([2, 3, 7])
    pred.write(RIGHT, missed, {"present": False, "joints_3d": np.nan, "joints_2d": np.nan})
    ev = evaluate(pred, gt)
    g = gt.hands[RIGHT].joints_3d.astype(np.float64)
    d_canon = np.linalg.norm(g[missed] - canonical_joints(RIGHT), axis=-1).mean(axis=1) * 1000
    # by hand: 7 perfect frames (error 0) and 3 frames at the canonical hand's distance
    assert ev.value("MPJPE-p/right") == pytest.approx(d_canon.sum() / 10, rel=1e-6)
    assert ev.metrics["MPJPE-p/right"].n == 10
    assert ev.value("MPJPE/right") == pytest.approx(0.0, abs=1e-6)
    assert ev.metrics["MPJPE/right"].n == 7
    # pooled over both hands: 20 samples, the three penalties among them
    assert ev.value("MPJPE-p") == pytest.approx(d_canon.sum() / 20, rel=1e-6)
    # 2D penalty: distance of every GT joint to the principal point
    g2 = gt.hands[RIGHT].joints_2d.astype(np.float64)
    pp = gt.K[:2, 2]
    d2 = np.linalg.norm(g2[missed] - pp, axis=-1).mean(axis=1)
    assert ev.value("EPE-p/right") == pytest.approx(d2.sum() / 10, rel=1e-5)
    # root: distance of the GT wrist to the camera origin
    assert ev.value("TranslErr-p/right") == pytest.approx(
        np.linalg.norm(g[missed, 0], axis=-1).sum() / 10, rel=1e-5
    )
    # orientation: angle of the GT rotation itself (canonical = identity)
    ang = np.degrees(np.linalg.norm(gt.hands[RIGHT].global_orient[missed], axis=-1))
    assert ev.value("OrientErr-p/right") == pytest.approx(ang.sum() / 10, rel=1e-4)
    assert ev.value("recall/right") == pytest.approx(7 / 10)
    assert np.isnan(ev.per_frame["MPJPE"][RIGHT, missed]).all()
    assert ev.per_frame["MPJPE-p"][RIGHT, missed] == pytest.approx(d_canon, rel=1e-6)


def test_jitter_of_constant_acceleration_equals_acceleration() -> None:
    gt = make_doc(n=15)
    pred = gt.copy()
    t = np.arange(15)[:, None, None]
    a = np.array([0.003, 0.0, -0.004])  # 5 mm/frame^2
    v = np.array([0.001, 0.002, 0.0])
    base = np.broadcast_to(canonical_joints(LEFT) + np.array([0, 0, 0.5]), (15, 21, 3))
    for side in (LEFT, RIGHT):
        set_joints(pred, side, base + v * t + 0.5 * a * t**2)
        set_joints(gt, side, base + v * t)  # constant velocity: no jitter
    ev = evaluate(pred, gt)
    assert ev.value("Jitter") == pytest.approx(5.0, abs=1e-3)
    assert ev.metrics["Jitter"].n == 2 * 13
    assert ev.value("Jitter-GT") == pytest.approx(0.0, abs=1e-3)
    assert ev.value("Jitter-diff") == pytest.approx(5.0, abs=2e-3)
    assert ev.value("AccelErr") == pytest.approx(5.0, abs=1e-3)


def test_jitter_skips_triples_with_an_absent_frame() -> None:
    gt = make_doc(n=10)
    pred = gt.copy()
    pred.write(LEFT, [5], {"present": False, "joints_3d": np.nan})
    ev = evaluate(pred, gt)
    # left: interior frames 1..8 (8), minus t = 4, 5, 6 whose triple touches frame 5
    assert ev.metrics["Jitter/left"].n == 5
    assert ev.metrics["Jitter/right"].n == 8


def test_presence_scores_on_a_hand_built_pattern() -> None:
    gt = make_doc(n=10)
    pred = gt.copy()
    g_pat = np.array([1, 1, 1, 1, 0, 0, 0, 0, 1, 1], bool)
    p_pat = np.array([1, 1, 0, 0, 1, 0, 0, 0, 1, 1], bool)
    gt.write(LEFT, slice(None), {"present": g_pat})
    pred.write(LEFT, slice(None), {"present": p_pat})
    ev = evaluate(pred, gt)
    # TP = 4, FN = 2 (frames 2, 3), FP = 1 (frame 4), TN = 3
    assert ev.value("FAcc/left") == pytest.approx(7 / 10)
    assert ev.value("precision/left") == pytest.approx(4 / 5)
    assert ev.value("recall/left") == pytest.approx(4 / 6)
    f1 = 2 * (4 / 5) * (4 / 6) / (4 / 5 + 4 / 6)
    assert ev.value("F1/left") == pytest.approx(f1)
    # right is perfect: pooled over 20 pairs, 17 right; TP 14, FP 1, FN 2
    assert ev.value("FAcc") == pytest.approx(17 / 20)
    assert ev.value("precision") == pytest.approx(14 / 15)
    assert ev.value("recall") == pytest.approx(14 / 16)


def test_orientation_error_and_mrrpe() -> None:
    gt = make_doc()
    pred = gt.copy()
    R_err = axis_angle_to_matrix(np.array([0.0, 0.0, np.radians(30.0)]))
    R = axis_angle_to_matrix(gt.hands[LEFT].global_orient.astype(np.float64))
    pred.write(LEFT, slice(None), {"global_orient": matrix_to_axis_angle(R @ R_err)})
    set_joints(pred, RIGHT, gt.hands[RIGHT].joints_3d + np.array([0.02, 0.0, 0.0]))
    ev = evaluate(pred, gt)
    assert ev.value("OrientErr/left") == pytest.approx(30.0, abs=1e-3)
    assert ev.value("OrientErr/right") == pytest.approx(0.0, abs=1e-3)
    assert ev.value("MRRPE") == pytest.approx(20.0, abs=1e-3)
    assert ev.metrics["MRRPE"].n == gt.n_frames


def test_orientation_needs_mano_on_both() -> None:
    gt = make_doc()
    pred = gt.copy()
    pred.write(RIGHT, slice(None), {"global_orient": np.nan})
    ev = evaluate(pred, gt)
    assert ev.metrics["OrientErr/right"].n == 0 and ev.value("OrientErr/right") is None
    assert ev.metrics["OrientErr-p/right"].n == 0


def test_mismatched_frames_refused_unless_overlap() -> None:
    gt = make_doc(n=12)
    pred = make_doc(n=10)
    with pytest.raises(LabelMismatchError, match="10 frames.*12") as info:
        evaluate(pred, gt)
    assert "--overlap" in (info.value.hint or "")
    ev = evaluate(pred, gt, overlap=True)
    assert ev.n_frames == 10 and ev.value("MPJPE") == pytest.approx(0.0, abs=1e-6)
    assert ev.notes and "first 10" in ev.notes[0]
    other = make_doc(n=12)
    other.meta.width = 1280
    with pytest.raises(LabelMismatchError, match="1280x480"):
        evaluate(other, gt)


def test_json_holds_every_metric_with_definition() -> None:
    gt = make_doc()
    pred = gt.copy()
    pred.write(LEFT, [0, 1], {"present": False, "joints_3d": np.nan, "joints_2d": np.nan})
    out = json.loads(json.dumps(evaluate(pred, gt).to_json(per_frame=True)))
    for name, spec in SPECS.items():
        m = out["metrics"][name]
        assert set(m) == {"value", "unit", "definition", "n"}
        assert m["definition"] == spec.definition and m["unit"] == spec.unit
    assert "canonical hand" in out["protocol"]["penalty"]
    assert out["per_frame"]["MPJPE"]["left"][0] is None
    assert out["per_frame"]["MPJPE-p"]["left"][0] > 50


def test_cli_eval_prints_table_and_writes_json(tmp_path, capsys) -> None:
    from core.cli.main import main

    gt = make_doc()
    pred = gt.copy()
    set_joints(pred, LEFT, gt.hands[LEFT].joints_3d + np.array([0.0, 0.0, 0.01]))
    save_labels(gt, tmp_path / "gt.h5")
    save_labels(pred, tmp_path / "pred.h5")
    rc = main(["eval", str(tmp_path / "pred.h5"), str(tmp_path / "gt.h5"),
               "-o", str(tmp_path / "m.json")])  # fmt: skip
    out = capsys.readouterr().out
    assert rc == 0
    assert "MPJPE-p" in out and "PA-MPJPE" in out
    data = json.loads((tmp_path / "m.json").read_text())
    # --json: the same JSON on stdout, the table on stderr
    rc = main(["eval", str(tmp_path / "pred.h5"), str(tmp_path / "gt.h5"), "--json"])
    captured = capsys.readouterr()
    assert rc == 0 and json.loads(captured.out)["metrics"] == data["metrics"]
    assert "MPJPE-p" in captured.err
    # -o never replaces an existing file without --force
    rc = main(["eval", str(tmp_path / "pred.h5"), str(tmp_path / "gt.h5"),
               "-o", str(tmp_path / "m.json")])  # fmt: skip
    assert rc == 2 and "m.json exists" in capsys.readouterr().err
    assert data["metrics"]["MPJPE/left"]["value"] == pytest.approx(10.0, abs=1e-3)
    assert data["metrics"]["MPJPE/right"]["value"] == pytest.approx(0.0, abs=1e-3)

    save_labels(make_doc(n=8), tmp_path / "short.h5")
    rc = main(["eval", str(tmp_path / "short.h5"), str(tmp_path / "gt.h5")])
    err = capsys.readouterr().err
    assert rc == 2 and "8 frames" in err and "--overlap" in err
    rc = main(["eval", str(tmp_path / "short.h5"), str(tmp_path / "gt.h5"), "--overlap"])
    assert rc == 0


def test_present_without_joints_is_penalised_like_a_miss() -> None:
    gt = make_doc(n=6)
    pred = gt.copy()
    pred.write(LEFT, [1], {"joints_3d": np.nan, "joints_2d": np.nan})  # present, no joints
    ev = evaluate(pred, gt)
    g = gt.hands[LEFT].joints_3d[1].astype(np.float64)
    d = np.linalg.norm(g - canonical_joints(LEFT), axis=-1).mean() * 1000
    assert ev.value("MPJPE-p/left") == pytest.approx(d / 6, rel=1e-6)
    assert ev.metrics["MPJPE/left"].n == 5
    assert ev.value("FAcc/left") == 1.0  # presence itself was right


@given(
    rotvec=st.lists(st.floats(-3.0, 3.0), min_size=3, max_size=3),
    scale=st.floats(0.3, 3.0),
    shift=st.lists(st.floats(-1.0, 1.0), min_size=3, max_size=3),
)
def test_procrustes_undoes_any_similarity_transform(rotvec, scale, shift) -> None:
    from core.metrics.alignment import procrustes_align

    x = canonical_joints(RIGHT) + np.array([0.0, 0.0, 0.5])
    y = scale * x @ axis_angle_to_matrix(np.array(rotvec)).T + np.array(shift)
    assert np.abs(procrustes_align(x, y) - y).max() < 1e-9
    # a reflection is not a rotation: the mirrored hand cannot be aligned perfectly
    assert np.abs(procrustes_align(x * [-1, 1, 1], x) - x).max() > 1e-3
