"""Refinement (core/recon/refine): each term on synthetic tracks with known answers, the
constraints, handedness, gaps and bad input. The sample-based figures are in
test_refine_sample.py."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.hands.rotations import axis_angle_to_matrix
from core.hands.skeleton import RELAXED_FINGERS, hand_joints
from core.labels.document import LabelDocument, Source, VideoMeta
from core.labels.joints import LEFT, RIGHT
from core.recon.refine import RefineError, RefineSettings, energy, plan_refinement, refine_document
from core.recon.refine.kinematics import forward, inverse, project, rodrigues, skeleton_tensors
from core.recon.refine.lbfgs import lbfgs
from core.recon.refine.perframe import T_UNIT, joint_jacobian, project_jacobian
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


def test_analytic_jacobians_match_finite_differences() -> None:
    """The per-frame LM's derivatives (perframe.joint_jacobian, project_jacobian) are the
    kinematic chain's: central differences of `forward` agree to 1e-7 for every unknown."""
    gt = truth(RIGHT)
    skel = skeleton_tensors([estimate_skeleton(gt, np.ones(T), RIGHT)])
    rng = np.random.default_rng(3)
    n = 4
    R = axis_angle_to_matrix(rng.normal(0, 1, (n, 3)))
    R, t = torch.as_tensor(R), torch.tensor([[0.02, -0.01, 0.5]] * n, dtype=torch.float64)
    ang = torch.as_tensor(rng.normal(0, 0.4, (n, 5, 3, 2)))
    J, dJ = joint_jacobian(R, t, ang, skel)

    def joints(p: torch.Tensor) -> torch.Tensor:
        R_, t_ = R @ rodrigues(p[:, :3]), t + T_UNIT * p[:, 3:6]
        return forward(R_[None], t_[None], (ang + p[:, 6:].reshape(n, 5, 3, 2))[None], skel)[0]

    zero = torch.zeros(n, 36, dtype=torch.float64)
    assert torch.allclose(J, joints(zero), atol=1e-12)
    for k in range(36):
        e = zero.clone()
        e[:, k] = 1e-6
        num = (joints(e) - joints(-e)) / 2e-6
        assert torch.allclose(dJ[:, :, k], num, atol=1e-7), k
    K = torch.tensor(
        [[600.0, 1.5, 320.0], [0.0, 610.0, 240.0], [0.0, 0.0, 1.0]], dtype=torch.float64
    )
    dP = project_jacobian(J, K)
    for k in range(3):
        e = torch.zeros(3, dtype=torch.float64)
        e[k] = 1e-7
        assert torch.allclose(dP[..., k], (project(J + e, K) - project(J - e, K)) / 2e-7, atol=1e-4)


def test_interpenetration_skips_only_frames_where_the_hands_cannot_touch() -> None:
    """The bounding-ball test changes nothing: value and gradient equal the full sum."""
    rng = np.random.default_rng(4)
    left = torch.as_tensor(truth(LEFT)[:20])
    shift = rng.normal(0, 0.05, (20, 1, 3))
    shift[10:, 0, 0] += 0.3  # half the frames far apart: skipped
    right = (left + torch.as_tensor(shift)).requires_grad_(True)
    radii = torch.as_tensor(energy.SPHERE_RADII)
    a, b = energy.sphere_centres(left), energy.sphere_centres(right)
    full = ((radii[:, None] + radii[None] - torch.cdist(a, b)).clamp(min=0) * 1000).pow(2).sum()
    (g_full,) = torch.autograd.grad(full, right)
    fast = energy.interpenetration(left, right, radii)
    (g_fast,) = torch.autograd.grad(fast, right)
    assert float(full.detach()) > 0 and torch.allclose(fast, full)
    assert torch.allclose(g_fast, g_full) and g_full[:10].abs().max() > 0


def test_reprojection_is_the_same_at_any_resolution_and_distance() -> None:
    """2D errors count as millimetres at the hand: the same scene at twice the resolution,
    or twice as far with twice the focal length, costs the same."""
    rng = np.random.default_rng(5)
    J = torch.as_tensor(truth(RIGHT)[:5])
    K = torch.tensor(
        [[500.0, 0.0, 320.0], [0.0, 500.0, 240.0], [0.0, 0.0, 1.0]], dtype=torch.float64
    )
    noise = torch.as_tensor(rng.normal(0, 3.0, (5, 21, 2)))
    w = torch.full((5, 21), 0.8, dtype=torch.float64)

    def cost(J_: torch.Tensor, K_: torch.Tensor, k: float) -> float:
        uv = project(J_, K_)
        mm_per_px = (1000.0 * J_[:, 0, 2] / K_[0, 0])[:, None, None]
        return float(energy.reprojection(uv, uv + k * noise, w, 10.0, mm_per_px))

    base = cost(J, K, 1.0)
    K2 = K.clone()
    K2[:2] *= 2.0  # twice the resolution: errors are twice as many pixels
    assert abs(cost(J, K2, 2.0) - base) < 1e-9 * base
    far = J.clone()
    far[..., 2] *= 2.0  # twice as far, seen with twice the focal length: the same image
    K3 = K.clone()
    K3[0, 0] *= 2.0
    K3[1, 1] *= 2.0
    assert abs(cost(far, K3, 1.0) - base) < 1e-9 * base


def test_lbfgs_keeps_going_where_one_term_dominates_the_gradient() -> None:
    """A badly scaled quadratic (curvatures near 1e-8, like a preconditioned energy divided
    once too often): L-BFGS still collects curvature and converges (a fixed 1e-12 threshold
    on s.y kept none and took tiny gradient steps for ever)."""
    c = torch.linspace(5e-9, 1e-8, 50, dtype=torch.float64)

    def fun(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return 0.5 * (c * (x - 1e5) ** 2).sum(), c * (x - 1e5)

    x = lbfgs(fun, torch.zeros(50, dtype=torch.float64), 60)
    assert float(fun(x)[0]) < 1e-3 * float(fun(torch.zeros(50, dtype=torch.float64))[0])


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
    # bad intrinsics are named as such, also when the refinement runs in several segments
    doc.K[0, 0] = np.nan
    before = doc.copy()
    for settings in (RefineSettings(), RefineSettings(chunk=4)):  # 1 segment, then 2 (32 + 28)
        with pytest.raises(RefineError, match="camera intrinsics"):
            refine_document(doc, settings)
    for h in (0, 1):
        assert np.array_equal(doc.hands[h].joints_3d, before.hands[h].joints_3d)


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


def _crossing_doc(rng: np.random.Generator) -> tuple[LabelDocument, list[np.ndarray]]:
    """The right hand leaves the picture across the right border, the left hand enters across
    the left one (both at 7.7 px/frame); the detector has a hand only while all of it is in
    the image."""
    doc = LabelDocument(VideoMeta(T, 30.0, W, H))
    s = np.linspace(0.0, 1.0, T)[:, None]
    fingers = RELAXED_FINGERS + 0.0 * s[:, :, None]
    gts = []
    for side, x in ((LEFT, -0.40 + 0.36 * s), (RIGHT, 0.0 + 0.36 * s)):
        transl = np.concatenate([x, -0.04 + 0.0 * s, 0.5 + 0.0 * s], 1)
        rot = np.concatenate([0.0 * s + 0.2, 0.3 + 0.0 * s, 0.1 + 0.0 * s], 1)
        gt = hand_joints(rot, transl, fingers, side)
        gts.append(gt)
        uv = _project(gt, doc.K)
        seen = _inside(uv) == 1.0
        f = np.flatnonzero(seen)
        doc.write(side, f, {
            "present": True, "confidence": 0.9, "joints_3d": gt[f],
            "joints_2d": uv[f] + rng.normal(0, 0.5, (len(f), 21, 2)),
            "source": int(Source.PREDICTED),
        })  # fmt: skip
    return doc, gts


def _inside(uv: np.ndarray) -> np.ndarray:
    x, y = uv[..., 0], uv[..., 1]
    return ((x > -0.5) & (x < W - 0.5) & (y > -0.5) & (y < H - 0.5)).mean(-1)


def test_a_hand_crossing_the_border_is_continued_while_partly_in_the_picture() -> None:
    doc, gts = _crossing_doc(np.random.default_rng(7))
    seen = [t.present.copy() for t in doc.hands]
    refine_document(doc, RefineSettings(edge_frames=3))
    for h, (first, step) in ((RIGHT, (np.flatnonzero(seen[RIGHT])[-1] + 1, 1)),
                             (LEFT, (np.flatnonzero(seen[LEFT])[0] - 1, -1))):  # fmt: skip
        track = doc.hands[h]
        partly = _inside(_project(gts[h], doc.K)) > 0
        want = [first + step * k for k in range(3) if partly[first + step * k]]
        assert len(want) >= 2  # the clip is made so that the hand is partly in for a while
        got = np.flatnonzero(track.present & ~seen[h])
        assert sorted(got.tolist()) == sorted(want), h
        assert (track.source[want] == Source.INTERPOLATED).all()
        assert (track.confidence[want] < 0.9).all()
        err = 1000 * np.linalg.norm(track.joints_3d[want] - gts[h][want], axis=-1).mean()
        assert err < 15.0
    # frames of a hand wholly out of the picture, and beyond edge_frames, stay empty
    assert doc.present_counts()["left"] + doc.present_counts()["right"] == (
        seen[LEFT].sum() + seen[RIGHT].sum() + 6
    )


def test_a_hand_lost_in_the_picture_or_not_moving_out_is_not_continued() -> None:
    # lost while wholly in the picture (moving towards the border, but not there yet)
    doc, _ = _crossing_doc(np.random.default_rng(7))
    doc.write(RIGHT, np.arange(20, T), {"present": False, "confidence": 0.0})
    assert _inside(doc.hands[RIGHT].joints_2d[19]) == 1.0
    refine_document(doc, RefineSettings(edge_frames=3))
    assert not doc.hands[RIGHT].present[20:].any()
    # lost where it sits partly out of the picture, without moving out
    doc, _ = make_doc(np.random.default_rng(8), scale_noise=0.02)
    assert 0 < _inside(doc.hands[RIGHT].joints_2d[44]) < 1.0
    doc.write(RIGHT, np.arange(45, T), {"present": False, "confidence": 0.0})
    doc.write(LEFT, np.arange(0, 12), {"present": False, "confidence": 0.0})
    refine_document(doc, RefineSettings(edge_frames=3))
    assert not doc.hands[RIGHT].present[45:].any()
    assert not doc.hands[LEFT].present[:12].any()


def test_edge_frames_zero_never_continues_a_track() -> None:
    doc, _ = _crossing_doc(np.random.default_rng(7))
    seen = [t.present.copy() for t in doc.hands]
    refine_document(doc, RefineSettings(edge_frames=0))
    for h in (LEFT, RIGHT):
        assert np.array_equal(doc.hands[h].present, seen[h])


def test_long_refinement_is_written_a_segment_at_a_time_without_seams() -> None:
    # 8 chunks of 16 frames make a segment of 128: 300 frames are three segments
    n, rng = 300, np.random.default_rng(9)
    doc = LabelDocument(VideoMeta(n, 30.0, W, H))
    gts = []
    for side in (LEFT, RIGHT):
        gt = truth(side, n)
        gts.append(gt)
        k = 1.0 + rng.normal(0, 0.02, (n, 1, 1))
        doc.write(side, np.arange(n), {
            "present": True, "confidence": 0.9, "joints_3d": gt * k,
            "joints_2d": _project(gt, doc.K) + rng.normal(0, 0.7, (n, 21, 2)),
            "source": int(Source.PREDICTED),
        })  # fmt: skip
    doc.write(LEFT, np.arange(126, 131), {"present": False, "confidence": 0.0})  # a gap on a seam
    settings = RefineSettings(chunk=16, overlap=8)
    whole = plan_refinement(doc, settings)  # one window: the reference
    seen: list[tuple[int, int]] = []
    plan = refine_document(doc, settings, on_progress=lambda d, t: seen.append((d, t)))
    assert plan.n_written == whole.n_written == 2 * n
    done = [d for d, _ in seen]
    assert done == sorted(done) and done[-1] == n and {t for _, t in seen} == {n}
    assert plan.summary["filled"] == {"left": 5, "right": 0}
    for h in (LEFT, RIGHT):
        ref = whole.patches[h].values["joints_3d"]
        out = doc.hands[h].joints_3d
        assert 1000 * np.abs(out - ref).max() < 3.0  # the same answer, within a few mm
        acc = 1000 * np.linalg.norm(out[2:] - 2 * out[1:-1] + out[:-2], axis=-1).mean(-1)
        assert acc[120:140].max() < 3 * np.median(acc) + 0.5  # no kink where segments meet
    assert (doc.hands[LEFT].source[126:131] == Source.INTERPOLATED).all()
