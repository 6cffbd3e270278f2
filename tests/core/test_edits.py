"""Edits on a label document: each operation's result, undo/redo per gesture, errors, navigation.

Documents are built from the project's kinematic hand model (core.hands.skeleton): two moving,
articulating hands with MANO-shaped parameters, 48 frames at 1280x720.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation, Slerp

from core.camera import project
from core.edits import (
    EditHistory,
    apply_edits,
    next_flagged,
    next_keyframe,
    next_marked,
    next_unreviewed,
    prev_keyframe,
    preview_smooth,
    use_hand_model,
)
from core.errors import EditError
from core.hands.skeleton import RELAXED_FINGERS, bone_lengths, hand_joints
from core.labels.document import (
    TRACK_FIELDS,
    Flag,
    LabelDocument,
    Source,
    VideoMeta,
)
from core.labels.joints import BONES

T = 48


def make_doc(n: int = T, seed: int = 0) -> LabelDocument:
    """Two articulating hands in front of the camera, with MANO-shaped parameters."""
    rng = np.random.default_rng(seed)
    doc = LabelDocument(VideoMeta(n, 30.0, 1280, 720, video_sha256="ab" * 32))
    t = np.arange(n) / n
    for h in range(2):
        rot = np.stack([0.4 * np.sin(2 * np.pi * t + h), 0.3 * np.cos(2 * np.pi * t), 0.6 * t], 1)
        transl = np.stack(
            [(-0.12 if h == 0 else 0.12) + 0.03 * np.sin(5 * t), 0.04 * t, 0.55 + 0.05 * t], 1
        )
        curl = (1.0 + 0.6 * np.sin(6 * t + h))[:, None, None]
        joints = hand_joints(rot, transl, RELAXED_FINGERS * curl, side=h)
        joints += rng.normal(0, 0.002, joints.shape)  # reconstructor jitter
        doc.write(
            h,
            slice(None),
            {
                "present": True,
                "confidence": rng.uniform(0.6, 1.0, n),
                "joints_3d": joints,
                "joints_2d": project(joints, doc.K),
                "global_orient": rot,
                "hand_pose": rng.normal(0, 0.25, (n, 45)),
                "betas": rng.normal(0, 0.5, (1, 10)).repeat(n, 0),
                "transl": transl,
                "source": int(Source.PREDICTED),
            },
        )
    # a gap in the left hand
    doc.write(0, [40, 41], {"present": False, "confidence": 0.0, "joints_3d": np.nan})
    doc.history = [{"op": "set_note", "frame": 0, "text": "from an earlier session"}]
    doc.dirty = False
    return doc


@pytest.fixture(autouse=True)
def _no_mano():
    """These tests check the documented fallbacks without MANO files."""
    use_hand_model(None)
    yield


@pytest.fixture
def doc() -> LabelDocument:
    return make_doc()


# ------------------------------------------------------------------------------ the ops
def test_move_joint_2d_follows_the_ray_at_its_depth(doc):
    before = doc.hands[1].joints_3d[10].copy()
    h = EditHistory(doc)
    h.apply({"op": "move_joint_2d", "hand": "right", "frame": 10, "joint": 8, "uv": [700.5, 410]})
    tr = doc.hands[1]
    np.testing.assert_allclose(project(tr.joints_3d[10, 8], doc.K), [700.5, 410], atol=1e-3)
    assert tr.joints_3d[10, 8, 2] == pytest.approx(before[8, 2], abs=1e-6)  # same depth
    np.testing.assert_array_equal(np.delete(tr.joints_3d[10], 8, 0), np.delete(before, 8, 0))
    np.testing.assert_array_equal(tr.joints_2d[10, 8], np.float32([700.5, 410]))
    assert tr.source[10] == Source.EDITED and tr.keyframe[10] and tr.present[10]
    assert np.isnan(tr.hand_pose[10]).all()  # no MANO model: documented fallback
    assert not np.isnan(doc.hands[1].hand_pose[11]).any()  # other frames untouched
    assert doc.history[-1]["op"] == "move_joint_2d"


def test_swap_hands_matches_an_independent_exchange(doc):
    ref = doc.copy()
    EditHistory(doc).apply({"op": "swap_hands", "start": 5, "end": 12})
    for name in TRACK_FIELDS:
        for h in range(2):
            got = getattr(doc.hands[h], name)
            want = getattr(ref.hands[h], name).copy()
            want[5:13] = getattr(ref.hands[1 - h], name)[5:13]
            if name == "source":
                want[5:13] = np.where(want[5:13] != 0, int(Source.EDITED), 0)
            np.testing.assert_array_equal(got, want, err_msg=name)


def test_set_present_marks_frames(doc):
    EditHistory(doc).apply(
        {"op": "set_present", "hand": "left", "frames": [20, 21], "present": False}
    )
    tr = doc.hands[0]
    assert not tr.present[20:22].any() and tr.present[19] and tr.present[22]
    assert (tr.confidence[20:22] == 0).all() and tr.keyframe[20:22].all()
    assert np.isfinite(tr.joints_3d[20]).all()  # pose kept, so toggling back restores it


def _palm(j):
    y = (j[9] - j[0]) / np.linalg.norm(j[9] - j[0])
    n = np.cross(j[5] - j[0], j[17] - j[0])
    z = n - (n @ y) * y
    z /= np.linalg.norm(z)
    return Rotation.from_matrix(np.stack([np.cross(y, z), y, z], axis=1))


def _independent_bone_interp(j0, j1, t):
    """Palm rotation by scipy Slerp, wrist lerp, bone directions (palm frame) turned by the
    scipy rotation between them, lengths lerped: the documented rule, computed another way."""
    P0, P1 = _palm(j0), _palm(j1)
    P = Slerp([0, 1], Rotation.concatenate([P0, P1]))([t])[0]
    out = np.zeros((21, 3))
    out[0] = (1 - t) * j0[0] + t * j1[0]
    for p, c in BONES:
        b0, b1 = P0.inv().apply(j0[c] - j0[p]), P1.inv().apply(j1[c] - j1[p])
        d0, d1 = b0 / np.linalg.norm(b0), b1 / np.linalg.norm(b1)
        axis = np.cross(d0, d1)
        angle = np.arctan2(np.linalg.norm(axis), d0 @ d1)
        rot = Rotation.from_rotvec(axis / np.linalg.norm(axis) * angle * t)
        length = (1 - t) * np.linalg.norm(b0) + t * np.linalg.norm(b1)
        out[c] = out[p] + P.apply(rot.apply(d0)) * length
    return out


def test_interpolate_matches_independent_slerp_and_lerp(doc):
    ref = doc.copy()
    EditHistory(doc).apply({"op": "interpolate", "hand": "left", "start": 20, "end": 30})
    tr, r = doc.hands[0], ref.hands[0]
    assert tr.keyframe[20] and tr.keyframe[30] and not tr.keyframe[21:30].any()
    assert (tr.source[21:30] == Source.INTERPOLATED).all()
    assert tr.source[20] == r.source[20] and tr.source[30] == r.source[30]
    np.testing.assert_array_equal(tr.joints_3d[20], r.joints_3d[20])  # ends untouched
    key_rots = Rotation.from_rotvec(np.stack([r.global_orient[20], r.global_orient[30]]))
    go = Slerp([0.0, 1.0], key_rots)
    for f in range(21, 30):
        t = (f - 20) / 10
        # global orientation and every hand_pose joint: scipy slerp, compared as rotations
        got = Rotation.from_rotvec(tr.global_orient[f].astype(np.float64))
        assert (got * go([t])[0].inv()).magnitude() < 1e-5
        for k in range(15):
            s = slice(3 * k, 3 * k + 3)
            want = Slerp(
                [0, 1], Rotation.from_rotvec(np.stack([r.hand_pose[20, s], r.hand_pose[30, s]]))
            )
            got = Rotation.from_rotvec(tr.hand_pose[f, s].astype(np.float64))
            assert (got * want([t])[0].inv()).magnitude() < 1e-5
        np.testing.assert_allclose(
            tr.transl[f], (1 - t) * r.transl[20] + t * r.transl[30], atol=1e-6
        )
        np.testing.assert_allclose(tr.betas[f], (1 - t) * r.betas[20] + t * r.betas[30], atol=1e-6)
        want_j = _independent_bone_interp(
            r.joints_3d[20].astype(np.float64), r.joints_3d[30].astype(np.float64), t
        )
        np.testing.assert_allclose(tr.joints_3d[f], want_j, atol=2e-6)
        np.testing.assert_allclose(tr.joints_2d[f], project(tr.joints_3d[f], doc.K), atol=1e-3)
        assert tr.present[f]
    # bones keep lengths between their key lengths (no shrinking through the middle)
    lo = np.minimum(bone_lengths(r.joints_3d[20]), bone_lengths(r.joints_3d[30]))
    assert (bone_lengths(tr.joints_3d[25]) >= lo - 1e-5).all()


def test_interpolating_a_rigid_motion_is_exact(doc):
    rv, t = np.array([0.4, -0.9, 0.6]), np.array([0.06, -0.02, 0.03])
    j0 = doc.hands[1].joints_3d[10].astype(np.float64)
    h = EditHistory(doc)
    h.apply("copy_pose", hand="right", frame=18, from_frame=10)
    h.apply("transform_hand", hand="right", frame=18, rotation=rv, translation=t)
    h.apply("interpolate", hand="right", start=10, end=18)
    for f in range(11, 18):
        s = (f - 10) / 8
        want = Rotation.from_rotvec(rv * s).apply(j0 - j0[0]) + j0[0] + s * t
        np.testing.assert_allclose(doc.hands[1].joints_3d[f], want, atol=2e-5)


def test_interpolate_over_a_gap_needs_poses_at_the_ends(doc):
    with pytest.raises(EditError, match="frame 40 has no pose"):
        EditHistory(doc).apply("interpolate", hand="left", start=40, end=45)
    EditHistory(doc).apply("interpolate", hand="left", start=39, end=42)
    assert doc.hands[0].present[40:42].all()


# ------------------------------------------------------------------------------ other ops
def test_copy_pose_from_prev_skips_frames_without_pose(doc):
    EditHistory(doc).apply({"op": "copy_pose", "hand": "left", "frame": 41, "from": "prev"})
    tr = doc.hands[0]
    np.testing.assert_array_equal(tr.joints_3d[41], tr.joints_3d[39])  # 40 has no pose
    assert tr.present[41] and tr.source[41] == Source.EDITED and tr.keyframe[41]
    EditHistory(doc).apply({"op": "copy_pose", "hand": "left", "frame": 40, "from_frame": 45})
    np.testing.assert_array_equal(tr.hand_pose[40], tr.hand_pose[45])


def test_delete_range(doc):
    EditHistory(doc).apply({"op": "delete_range", "hand": "right", "start": 3, "end": 6})
    tr = doc.hands[1]
    assert not tr.present[3:7].any() and np.isnan(tr.joints_3d[3:7]).all()
    assert np.isnan(tr.global_orient[3:7]).all() and (tr.source[3:7] == Source.NONE).all()
    assert tr.present[2] and tr.present[7]


def test_transform_hand_rotates_about_the_wrist(doc):
    ref = doc.copy()
    rv, t = np.array([0.1, -0.2, 0.3]), np.array([0.01, 0.02, -0.03])
    EditHistory(doc).apply("transform_hand", hand="right", frame=7, rotation=rv, translation=t)
    j0, j1 = ref.hands[1].joints_3d[7].astype(np.float64), doc.hands[1].joints_3d[7]
    want = Rotation.from_rotvec(rv).apply(j0 - j0[0]) + j0[0] + t
    np.testing.assert_allclose(j1, want, atol=1e-6)
    go = Rotation.from_rotvec(rv) * Rotation.from_rotvec(ref.hands[1].global_orient[7])
    got = Rotation.from_rotvec(doc.hands[1].global_orient[7].astype(np.float64))
    assert (got * go.inv()).magnitude() < 1e-5
    np.testing.assert_allclose(doc.hands[1].transl[7], ref.hands[1].transl[7] + t, atol=1e-6)


def test_set_joint_rotation_turns_the_finger_below_the_joint(doc):
    ref = doc.copy()
    EditHistory(doc).apply(
        {
            "op": "set_joint_rotation",
            "hand": "right",
            "frame": 9,
            "joint": 6,
            "axis_angle": [0, 0, 0.7],
        }
    )
    before, after = ref.hands[1].joints_3d[9], doc.hands[1].joints_3d[9]
    moved = np.flatnonzero(np.abs(after - before).max(1) > 1e-6)
    assert set(moved) == {7, 8}  # index DIP and tip turn about the index PIP (6)
    np.testing.assert_allclose(bone_lengths(after), bone_lengths(before), atol=1e-5)
    np.testing.assert_allclose(doc.hands[1].hand_pose[9, 3:6], [0, 0, 0.7], atol=1e-7)
    with pytest.raises(EditError, match="fingertip"):
        EditHistory(doc).apply(
            "set_joint_rotation", hand="right", frame=9, joint=8, axis_angle=[0, 0, 1]
        )


def test_review_flags_notes_and_navigation(doc):
    h = EditHistory(doc)
    h.apply("set_reviewed", hand="both", start=0, end=9)
    h.apply("set_reviewed", hand="left", frames=[10, 11])
    h.apply("set_flags", hand="right", frames=[15, 30], flags=["occluded", "motion_blur"])
    h.apply("set_flags", hand="right", frames=[15], flags=["occluded"], on=False)
    h.apply("set_note", frame=22, text="thumb hidden behind the cup")
    assert next_unreviewed(doc, 0) == 10 and next_unreviewed(doc, 0, "left") == 12
    assert doc.hands[1].flags[15] == Flag.MOTION_BLUR
    assert doc.hands[1].flags[30] == Flag.OCCLUDED | Flag.MOTION_BLUR
    assert (
        next_flagged(doc, 0) == 15 and next_flagged(doc, 15) == 22 and next_flagged(doc, 22) == 30
    )
    assert next_flagged(doc, 15, flags=["occluded"]) == 30 and next_flagged(doc, 30) is None
    h.apply("interpolate", hand="right", start=20, end=26)
    assert next_keyframe(doc, 0, "right") == 20 and prev_keyframe(doc, 30) == 26
    assert doc.notes[22] == "thumb hidden behind the cup"
    # the app's jump actions (N, G, keyframe keys) go through next_marked
    assert next_marked(doc, 0, "unreviewed") == 10
    assert (
        next_marked(doc, 22, "flagged") == 30
        and next_marked(doc, 22, "flagged", forward=False) == 15
    )
    assert (
        next_marked(doc, 0, "keyframe") == 20
        and next_marked(doc, 30, "keyframe", forward=False) == 26
    )
    with pytest.raises(ValueError, match="unreviewed, flagged, keyframe"):
        next_marked(doc, 0, "bookmark")


def test_smooth_preview_then_apply(doc):
    before = doc.copy()
    doc.write(1, 25, {"keyframe": True})
    patch = preview_smooth(doc, "right", 10, 40, 2.0)
    assert doc.hands[1].joints_3d[10:41].tobytes() == before.hands[1].joints_3d[10:41].tobytes()
    assert 25 not in patch.frames and len(patch.frames) == 30  # keyframe pinned
    EditHistory(doc).apply({"op": "smooth", "hand": "right", "start": 10, "end": 40, "sigma": 2.0})
    np.testing.assert_array_equal(
        doc.hands[1].joints_3d[patch.frames], patch.values["joints_3d"].astype(np.float32)
    )

    def accel(j):
        return np.linalg.norm(np.diff(j, 2, axis=0), axis=-1).mean()

    assert accel(doc.hands[1].joints_3d[12:38]) < 0.5 * accel(before.hands[1].joints_3d[12:38])


def gaussian_reference(x: np.ndarray, valid: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing along axis 0 written out: weights exp(-k^2 / 2 sigma^2) for |k| up
    to 4 sigma, the series' ends repeated, each frame the weighted mean of the valid frames."""
    n, r = len(x), int(4.0 * sigma + 0.5)
    k = np.arange(-r, r + 1)
    w = np.exp(-0.5 * (k / sigma) ** 2)
    out = np.empty(x.shape, np.float64)
    for i in range(n):
        idx = np.clip(i + k, 0, n - 1)
        wi = w * valid[idx]
        out[i] = np.tensordot(wi, x[idx], axes=1) / wi.sum()
    return out


@pytest.mark.parametrize("sigma", [2.0, 3.0])
def test_smooth_is_the_gaussian_with_the_requested_sigma(doc, sigma):
    """Smoothing equals an independent Gaussian of the same sigma, frame for frame, over the
    range only and skipping absent frames (sigma 2 and 3 give clearly different results)."""
    start, end = 6, 40
    doc.write(1, 20, {"present": False})  # a hole: left out of its neighbours' means
    before = doc.hands[1].joints_3d[start : end + 1].astype(np.float64)
    valid = doc.hands[1].present[start : end + 1].copy()
    EditHistory(doc).apply(
        {"op": "smooth", "hand": "right", "start": start, "end": end, "sigma": sigma}
    )
    got = doc.hands[1].joints_3d[start : end + 1].astype(np.float64)
    want = gaussian_reference(before, valid, sigma)
    other = gaussian_reference(before, valid, 5.0 - sigma)  # the other sigma of the two
    np.testing.assert_allclose(got[valid], want[valid], atol=1e-6)  # float32 storage
    assert np.abs(got[valid] - other[valid]).max() > 1e-3  # metres: a wrong sigma fails
    assert np.isnan(got[~valid]).all() or (got[~valid] == before[~valid]).all()  # hole kept
    # outside the range nothing moved
    assert (doc.hands[1].source[:start] != Source.EDITED).all()
    assert (doc.hands[1].source[end + 1 :] != Source.EDITED).all()


# ------------------------------------------------------------------------------ undo and redo
def test_a_drag_is_one_undo_step_and_redo_restores_it(doc):
    ref = doc.copy()
    h = EditHistory(doc)
    with h.gesture("drag joint"):
        for k in range(20):
            h.apply("move_joint_2d", hand="right", frame=10, joint=8, uv=[600 + k, 300 + k])
    dragged = doc.copy()
    assert len(h) == 1 and h.undo_label == "drag joint"
    assert len(doc.history) == len(ref.history) + 20
    h.undo()
    assert doc.equals(ref) and doc.history == ref.history and h.can_redo
    h.redo()
    assert doc.equals(dragged) and doc.history == dragged.history
    h.apply("set_reviewed", frames=[1])
    assert not h.can_redo  # a new edit clears redo


def test_a_failing_gesture_changes_nothing(doc):
    ref = doc.copy()
    h = EditHistory(doc)
    with pytest.raises(EditError, match="frame 99"):
        with h.gesture("two edits"):
            h.apply("swap_hands", start=0, end=5)
            h.apply("set_present", hand="left", frames=[99], present=True)
    assert doc.equals(ref) and doc.history == ref.history and not h.can_undo


def test_undo_memory_is_bounded(doc):
    h = EditHistory(doc, max_bytes=40_000)
    for f in range(30):
        h.apply("swap_hands", start=f, end=f + 5)
    assert h.nbytes <= 40_000 and 1 <= len(h) < 30


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ({"op": "warp_hand", "hand": "left"}, "unknown op 'warp_hand'"),
        ({"op": "swap_hands", "start": 3}, "swap_hands needs field"),
        ({"op": "swap_hands", "start": 3, "end": 5, "hnd": 1}, "unknown field"),
        (
            {"op": "set_present", "hand": "left", "frames": [48], "present": True},
            r"frame 48 \(frames\) is outside",
        ),
        (
            {"op": "move_joint_2d", "hand": "right", "frame": 1, "joint": 21, "uv": [1, 2]},
            "joint 21",
        ),
        (
            {"op": "move_joint_2d", "hand": "middle", "frame": 1, "joint": 2, "uv": [1, 2]},
            "hand must be",
        ),
        (
            {"op": "move_joint_2d", "hand": "left", "frame": 40, "joint": 2, "uv": [1, 2]},
            "no 3D joints",
        ),
        ({"op": "set_flags", "frames": [1], "flags": ["blurry"]}, "unknown flag"),
    ],
)
def test_bad_edits_are_refused_with_a_clear_message(doc, edit, message):
    ref = doc.copy()
    with pytest.raises(EditError, match=message):
        apply_edits(doc, [{"op": "set_reviewed", "frames": [0]}, edit])
    try:
        apply_edits(doc, [{"op": "set_reviewed", "frames": [0]}, edit])
    except EditError as exc:
        assert exc.message.startswith(f"edit #1 ({edit['op']})")
    assert doc.equals(ref)


def test_a_gesture_across_gui_events_and_its_cancel(doc):
    ref = doc.copy()
    h = EditHistory(doc)
    h.begin_gesture("drag joint")  # mouse press
    for k in range(3):  # mouse moves, each a separate event
        h.apply("move_joint_2d", hand="left", frame=5, joint=12, uv=[400 + k, 300])
    assert h.in_gesture and not h.can_undo
    with pytest.raises(EditError, match="already open"):
        h.begin_gesture("another")
    h.cancel_gesture()  # Escape
    assert doc.equals(ref) and doc.history == ref.history and not h.in_gesture
    h.begin_gesture("drag joint")
    h.apply("move_joint_2d", hand="left", frame=5, joint=12, uv=[410, 300])
    step = h.end_gesture()  # mouse release
    assert step is not None and h.undo_label == "drag joint" and len(h) == 1
    assert h.begin_gesture("click") and h.end_gesture() is None and len(h) == 1
