"""Refinement (core/recon/refine): each term on synthetic tracks with known answers, the
constraints, handedness, gaps and bad input. The sample-based figures are in
test_refine_sample.py."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.hands.skeleton import RELAXED_FINGERS, hand_joints
from core.labels.document import LabelDocument, Source, VideoMeta
from core.labels.joints import LEFT, RIGHT
from core.recon.refine import RefineError, RefineSettings, energy, plan_refinement, refine_document
from core.recon.refine.kinematics import forward, inverse, project, skeleton_tensors
from core.recon.refine.shape import estimate_skeleton
from core.recon.refine.temporal import smooth_series

W, H, T = 640, 480, 60


def truth(side: int, n: int = T) -> np.ndarray:
    """A hand moving smoothly (translation and rotation), fingers slowly curling."""
    s = np.linspace(0.0, 1.0, n)[:, None]
    x0 = -0.12 if side == LEFT else 0.12
    transl = np.concatenate([x0 + 0.06 * s, 0.02 + 0.03 * np.sin(3 * s), 0.5 + 0.05 * s], 1)
    rot = np.concatenate([0.3 * s, 0.2 + 0.4 * s, 0.1 * np.cos(2 * s)], 1)
    fingers = RELAXED_FINGERS + 0.3 * s[:, :, None] * np.array([0.0, 1, 1, 1])
    return hand_joints(rot, transl, fingers, side)


def make_doc(rng: np.random.Generator, scale_noise: float = 0.08, px_noise: float = 0.7):
    """Both hands as a per-frame detector would give them: 2D = projection + noise, 3D =
    a shape with a per-frame scale guess placed on the 2D joints (depth inversely)."""
    doc = LabelDocument(VideoMeta(T, 30.0, W, H))
    gts = []
    for side in (LEFT, RIGHT):
        gt = truth(side)
        gts.append(gt)
        uv = _project(gt, doc.K) + rng.normal(0, px_noise, (T, 21, 2))
        k = 1.0 + rng.normal(0, scale_noise, (T, 1, 1))  # scale guess: depth scales with it
        j3 = gt * k
        doc.write(side, np.arange(T), {
            "present": True, "confidence": 0.9, "joints_3d": j3, "joints_2d": uv,
            "source": int(Source.PREDICTED),
        })  # fmt: skip
    return doc, gts


def _project(j: np.ndarray, K: np.ndarray) -> np.ndarray:
    return project(torch.as_tensor(j), torch.as_tensor(K)).numpy()


def mpjpe_mm(a: np.ndarray, b: np.ndarray) -> float:
    return float(1000 * np.linalg.norm(a - b, axis=-1).mean())


def jitter_mm(j: np.ndarray) -> float:
    return float(1000 * np.linalg.norm(j[2:] - 2 * j[1:-1] + j[:-2], axis=-1).mean())


# ------------------------------------------------------------------------------- the model
def test_kinematics_round_trip_is_exact() -> None:
    for side in (LEFT, RIGHT):
        gt = truth(side)
        skel = estimate_skeleton(gt, np.ones(T), side)
        R, angles = inverse(gt, skel)
        out = forward(torch.as_tensor(R)[None], torch.as_tensor(gt[:, 0])[None],
                      torch.as_tensor(angles)[None], skeleton_tensors([skel]))[0]  # fmt: skip
        assert np.abs(out.numpy() - gt).max() < 1e-9
        # relaxed fingers flex towards the palm on both sides
        assert (angles[:, 1:, :, 1] > 0).mean() > 0.9


def test_skeleton_is_robust_to_outlier_frames() -> None:
    gt = truth(RIGHT)
    noisy = gt.copy()
    noisy[::7] *= 1.5  # every 7th frame a wildly wrong size
    skel = estimate_skeleton(noisy, np.ones(T), RIGHT)
    true_palm = np.linalg.norm(gt[0, 9] - gt[0, 0])
    assert abs(skel.palm_length - true_palm) < 0.002


# ------------------------------------------------------------------------------- the terms
def test_terms_have_known_values() -> None:
    r2 = torch.tensor([0.0, 1.0, 1e6])
    gm = energy.geman_mcclure(r2, 2.0)
    assert gm[0] == 0 and abs(float(gm[1]) - 0.8) < 1e-6 and float(gm[2]) < 4.0  # bounded
    line = torch.arange(10, dtype=torch.float64)[None, :, None, None].expand(1, 10, 21, 3)
    assert float(energy.acceleration(line, torch.ones(1, 8))) == 0.0  # uniform motion is free
    lim = torch.as_tensor(energy.ANGLE_LIMITS)
    inside = lim.mean(-1)[None, None]  # (1, 1, 5, 3, 2) mid-range angles
    assert float(energy.angle_limits(inside, torch.ones(1, 1), lim)) == 0.0
    outside = inside.clone()
    outside[..., 1, 0, 1] = lim[1, 0, 1, 1] + 0.1
    assert abs(float(energy.angle_limits(outside, torch.ones(1, 1), lim)) - 0.01) < 1e-9
    left, right = torch.as_tensor(truth(LEFT)[:1]), torch.as_tensor(truth(RIGHT)[:1])
    radii = torch.as_tensor(energy.SPHERE_RADII)
    assert float(energy.interpenetration(left, right, radii)) == 0.0  # 24 cm apart
    assert float(energy.interpenetration(left, left + 0.005, radii)) > 0.0


def test_smoother_keeps_lines_and_passes_through_hard_frames() -> None:
    t = np.arange(20, dtype=float)
    y = np.stack([2 * t + 1, -t], 1)
    w = np.ones(20)
    w[5:9] = 0.0  # a gap is filled by the prior
    assert np.allclose(smooth_series(y, w, 100.0), y, atol=1e-6)
    bumped = y.copy()
    bumped[10] += 5.0
    hard = np.ones(20)
    hard[10] = 1e10
    out = smooth_series(bumped, hard, 100.0)
    assert abs(out[10, 0] - bumped[10, 0]) < 1e-6


# ----------------------------------------------------------------------- whole-fit answers
def test_rigid_hand_moving_smoothly_is_recovered() -> None:
    doc, gts = make_doc(np.random.default_rng(0))
    raw = [t.joints_3d.astype(float).copy() for t in doc.hands]
    refine_document(doc, RefineSettings())
    for h in (0, 1):
        out = doc.hands[h].joints_3d.astype(float)
        assert mpjpe_mm(out, gts[h]) < 0.5 * mpjpe_mm(raw[h], gts[h])
        assert mpjpe_mm(out, gts[h]) < 20.0  # the size itself comes from noisy guesses
        assert jitter_mm(out) < 1.0 < jitter_mm(raw[h]) / 10
        palm = np.linalg.norm(out[:, 9] - out[:, 0], axis=-1)
        assert palm.std() < 1e-6  # one size for the whole track
        # still on the 2D evidence
        uv = _project(out, doc.K)
        assert np.median(np.linalg.norm(uv - doc.hands[h].joints_2d, axis=-1)) < 2.0


def test_five_cm_single_frame_jump_is_removed() -> None:
    doc, gts = make_doc(np.random.default_rng(1), scale_noise=0.02)
    f = 30
    jump = np.array([0.05, 0.0, 0.0])
    j3 = doc.hands[RIGHT].joints_3d[f] + jump
    doc.write(RIGHT, f, {"joints_3d": j3, "joints_2d": _project(j3.astype(float), doc.K)})
    refine_document(doc, RefineSettings())
    err = 1000 * np.linalg.norm(doc.hands[RIGHT].joints_3d[f] - gts[RIGHT][f], axis=-1).mean()
    assert err < 12.0  # the 50 mm jump is gone


def test_left_right_swap_is_fixed() -> None:
    doc, gts = make_doc(np.random.default_rng(2), scale_noise=0.02)
    frames = np.arange(20, 26)
    a = doc.read(LEFT, frames, ("joints_3d", "joints_2d"))
    b = doc.read(RIGHT, frames, ("joints_3d", "joints_2d"))
    doc.write(LEFT, frames, b.values)
    doc.write(RIGHT, frames, a.values)
    plan = refine_document(doc, RefineSettings())
    assert plan.summary["swapped_frames"] == 12
    for h in (0, 1):
        err = 1000 * np.linalg.norm(doc.hands[h].joints_3d[frames] - gts[h][frames], axis=-1)
        assert err.mean() < 15.0


def test_constraint_frames_are_untouched_to_the_bit() -> None:
    doc, _ = make_doc(np.random.default_rng(3))
    doc.write(
        LEFT, 15, {"source": int(Source.EDITED), "joints_3d": doc.hands[LEFT].joints_3d[15] + 0.01}
    )
    doc.write(RIGHT, 16, {"keyframe": True})
    doc.write(RIGHT, 40, {"reviewed": True})
    doc.write(LEFT, 41, {"source": int(Source.IMPORTED)})
    doc.write(LEFT, 42, {"source": int(Source.EDITED), "present": False})  # a hard "absent"
    pinned = [(LEFT, 15), (RIGHT, 16), (RIGHT, 40), (LEFT, 41), (LEFT, 42)]
    before = {
        k: {n: v[f].copy() for n, v in doc.hands[h].arrays().items()}
        for k, (h, f) in enumerate(pinned)
    }
    refine_document(doc, RefineSettings())
    for k, (h, f) in enumerate(pinned):
        for name, value in doc.hands[h].arrays().items():
            assert value[f].tobytes() == before[k][name].tobytes(), (h, f, name)
    # the fit passes through the edited frame: its neighbours follow it
    step = np.linalg.norm(doc.hands[LEFT].joints_3d[16] - doc.hands[LEFT].joints_3d[15], axis=-1)
    assert 1000 * step.mean() < 12.0


def test_short_gaps_are_filled_and_marked_long_gaps_stay_empty() -> None:
    doc, gts = make_doc(np.random.default_rng(4), scale_noise=0.02)
    doc.write(LEFT, np.arange(20, 26), {"present": False, "confidence": 0.0})  # 6 frames
    doc.write(RIGHT, np.arange(20, 32), {"present": False, "confidence": 0.0})  # 12 frames
    refine_document(doc, RefineSettings(max_gap=8))
    left = doc.hands[LEFT]
    assert left.present[20:26].all()
    assert (left.source[20:26] == Source.INTERPOLATED).all()
    assert (left.confidence[20:26] < left.confidence[19]).all()
    err = 1000 * np.linalg.norm(left.joints_3d[20:26] - gts[LEFT][20:26], axis=-1).mean()
    assert err < 15.0
    assert not doc.hands[RIGHT].present[20:32].any()
    assert doc.extras["refine"]["settings"]["max_gap"] == 8
    assert doc.extras["refine"]["backend"].startswith("refine")


def test_range_limits_what_changes() -> None:
    doc, _ = make_doc(np.random.default_rng(5))
    before = doc.copy()
    refine_document(doc, RefineSettings(), frames=range(20, 40))
    for h in (0, 1):
        a, b = before.hands[h].joints_3d, doc.hands[h].joints_3d
        assert np.array_equal(a[:20], b[:20]) and np.array_equal(a[40:], b[40:])
        assert not np.array_equal(a[20:40], b[20:40])


# ------------------------------------------------------------------------------ bad input
def test_file_without_2d_joints_is_refused_clearly() -> None:
    doc, _ = make_doc(np.random.default_rng(6))
    for h in (0, 1):
        doc.write(h, np.arange(T), {"joints_2d": np.nan})
    before = doc.copy()
    with pytest.raises(RefineError, match="no 2D joints"):
        refine_document(doc, RefineSettings())
    assert doc.equals(before)


def test_range_without_detections_is_a_no_op() -> None:
    doc, _ = make_doc(np.random.default_rng(7))
    for h in (0, 1):
        doc.write(h, np.arange(10, 30), {"present": False, "confidence": 0.0})
    before = doc.copy()
    plan = refine_document(doc, RefineSettings(), frames=range(12, 28))
    assert plan.n_written == 0
    for h in (0, 1):
        assert np.array_equal(before.hands[h].joints_3d, doc.hands[h].joints_3d, equal_nan=True)


def test_nans_in_the_input_do_not_crash_or_spread() -> None:
    doc, _ = make_doc(np.random.default_rng(8))
    j3 = doc.hands[LEFT].joints_3d[10].copy()
    j3[5] = np.nan
    doc.write(LEFT, 10, {"joints_3d": j3})
    uv = doc.hands[RIGHT].joints_2d[12].copy()
    uv[3:7] = np.nan
    doc.write(RIGHT, 12, {"joints_2d": uv})
    doc.write(LEFT, 30, {"joints_3d": np.nan, "joints_2d": np.nan})
    doc.write(RIGHT, 5, {"source": int(Source.EDITED), "joints_3d": np.nan})
    edited = {n: v[5].copy() for n, v in doc.hands[RIGHT].arrays().items()}
    refine_document(doc, RefineSettings())
    for h in (0, 1):
        t = doc.hands[h]
        written = t.present & (t.source != Source.EDITED)
        assert np.isfinite(t.joints_3d[written]).all()
    for name, value in doc.hands[RIGHT].arrays().items():
        assert value[5].tobytes() == edited[name].tobytes()


def test_bad_range_and_settings_are_refused() -> None:
    doc, _ = make_doc(np.random.default_rng(9))
    with pytest.raises(RefineError):
        plan_refinement(doc, RefineSettings(), range(50, 80))
    with pytest.raises(ValueError, match="unknown refine option"):
        RefineSettings().with_options(max_gapp=3)


# ------------------------------------------------------------------ the edit (app's loop)
def test_refine_edit_is_one_undo_step_and_follows_keyframes() -> None:
    from core.edits import EditHistory
    from core.recon.refine.edit_op import preview_refine

    doc, _ = make_doc(np.random.default_rng(10))
    history = EditHistory(doc)
    # the annotator fixes two keyframes (moved 2 cm), then refines the range between them
    for f in (20, 40):
        j3 = doc.hands[LEFT].joints_3d[f] + np.array([0.02, 0.0, 0.0], np.float32)
        history.apply("move_joint_3d", hand="left", frame=f, joint=0, xyz=j3[0].tolist())
    before = doc.copy()
    preview = preview_refine(doc, 15, 45)
    assert doc.equals(before)  # a preview writes nothing
    history.apply({"op": "refine", "start": 15, "end": 45})
    assert doc.history[-1] == {"op": "refine", "start": 15, "end": 45}
    for patch in preview:
        assert np.array_equal(
            doc.hands[patch.hand].joints_3d[patch.frames], patch.values["joints_3d"]
        )
    for f in (20, 40):  # keyframes kept to the bit
        assert doc.hands[LEFT].joints_3d[f].tobytes() == before.hands[LEFT].joints_3d[f].tobytes()
    history.undo()
    assert doc.equals(before)
    history.redo()
    assert not doc.equals(before)
