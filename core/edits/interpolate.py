"""Keyframe interpolation and temporal smoothing of one hand's track.

Interpolation between keyframes `start` and `end` (frames strictly between are overwritten and
become INTERPOLATED; start and end become keyframes), with t = (f - start) / (end - start):
- MANO (when both ends have it): global_orient and each of the 15 hand_pose rotations by
  slerp along the shorter arc (scipy.spatial.transform), transl and betas linearly.
- joints: from the interpolated MANO parameters through the MANO model when one is available;
  otherwise the palm frame's rotation by slerp and the wrist linearly, each bone's direction (in
  the palm frame) by slerp on the unit sphere and its length linearly (`interpolate_skeleton`).
  Rigid motions are reproduced exactly and the hand never shrinks mid-way, unlike a per-joint
  lerp.
- joints_2d are the projection of the joints, confidence is linear, present is True.

Smoothing (`smooth`, with `preview_smooth` to show the result first) is a Gaussian of `sigma`
frames over start..end, computed only from frames where the hand has a pose; keyframes inside the
range are pinned (kept as they are).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.ndimage import gaussian_filter1d

from core.camera import project
from core.edits.registry import get_float, get_range, one_hand, register
from core.errors import EditError
from core.hands.model import hand_model
from core.hands.rotations import (
    axis_angle_to_matrix,
    axis_angle_to_quat,
    matrix_to_axis_angle,
    quat_to_axis_angle,
    slerp_rotvec,
)
from core.labels.document import MANO_FIELDS, LabelDocument, Patch, Source
from core.labels.joints import BONES, MIDDLE_MCP, WRIST

if TYPE_CHECKING:
    from core.edits.registry import Editor


# ------------------------------------------------------------------------------ rotation math
def slerp_axis_angle(a0: np.ndarray, a1: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Slerp between axis-angle rotations a0, a1 (..., 3); t (N,) gives (N, ..., 3)."""
    t = np.asarray(t, np.float64)
    return slerp_rotvec(a0[None], a1[None], t.reshape((len(t),) + (1,) * (np.ndim(a0) - 1)))


def slerp_directions(d0: np.ndarray, d1: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Slerp between unit vectors d0, d1 (..., 3) at fractions t (N,): (N, ..., 3)."""
    t = np.asarray(t, np.float64).reshape((-1,) + (1,) * np.ndim(d0))
    cos = np.clip(np.sum(d0 * d1, axis=-1, keepdims=True), -1.0, 1.0)
    omega = np.arccos(cos)
    so = np.sin(omega)
    near = so < 1e-6
    w0 = np.where(near, 1.0 - t, np.sin((1.0 - t) * omega) / np.where(near, 1.0, so))
    w1 = np.where(near, t, np.sin(t * omega) / np.where(near, 1.0, so))
    out = w0 * d0 + w1 * d1
    unit: np.ndarray = out / np.maximum(np.linalg.norm(out, axis=-1, keepdims=True), 1e-12)
    return unit


def palm_frame(joints: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotation whose columns are the palm's axes: y wrist -> middle MCP, z the palm
    normal (index MCP x little MCP, from the wrist), x = y x z."""
    y = joints[..., MIDDLE_MCP, :] - joints[..., WRIST, :]
    y = y / np.linalg.norm(y, axis=-1, keepdims=True)
    n = np.cross(
        joints[..., 5, :] - joints[..., WRIST, :], joints[..., 17, :] - joints[..., WRIST, :]
    )
    z = n - np.sum(n * y, axis=-1, keepdims=True) * y
    z = z / np.linalg.norm(z, axis=-1, keepdims=True)
    return np.stack([np.cross(y, z), y, z], axis=-1)


def interpolate_skeleton(j0: np.ndarray, j1: np.ndarray, t: np.ndarray) -> np.ndarray:
    """(N, 21, 3) joints between two (21, 3) poses, without a hand model.

    The palm frame (wrist, index, middle and little MCPs) is slerped as one rotation and the
    wrist moves linearly; every bone's direction, expressed in the palm frame, is slerped on the
    unit sphere and its length interpolated linearly (parents first). A rigidly moving hand is
    reproduced exactly and no hand shrinks mid-way, unlike a per-joint lerp.
    """
    t = np.asarray(t, np.float64)
    j0, j1 = np.asarray(j0, np.float64), np.asarray(j1, np.float64)
    R0, R1 = palm_frame(j0), palm_frame(j1)
    a0, a1 = matrix_to_axis_angle(R0), matrix_to_axis_angle(R1)
    R = axis_angle_to_matrix(slerp_rotvec(a0, a1, t))  # (N, 3, 3)
    out = np.empty((len(t), *j0.shape))
    out[:, 0] = (1 - t)[:, None] * j0[0] + t[:, None] * j1[0]
    for parent, child in BONES:  # parents come before their children
        b0, b1 = (j0[child] - j0[parent]) @ R0, (j1[child] - j1[parent]) @ R1  # palm frame
        l0, l1 = np.linalg.norm(b0), np.linalg.norm(b1)
        d = slerp_directions(b0 / max(l0, 1e-12), b1 / max(l1, 1e-12), t)  # (N, 3)
        length = (1 - t) * l0 + t * l1
        out[:, child] = out[:, parent] + np.einsum("nij,nj->ni", R, d) * length[:, None]
    return out


# ------------------------------------------------------------------------------ interpolation
def interpolated_values(
    doc: LabelDocument, hand: int, start: int, end: int
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Frames strictly between start and end and their interpolated values (not written)."""
    track = doc.hands[hand]
    for f in (start, end):
        if not track.present[f] or not np.isfinite(track.joints_3d[f]).all():
            raise EditError(
                f"frame {f} has no pose for the {('left', 'right')[hand]} hand to interpolate from",
                hint="Interpolation needs a present hand with 3D joints at start and end.",
            )
    if end - start < 2:
        return np.empty(0, np.int64), {}
    frames = np.arange(start + 1, end)
    t = (frames - start) / float(end - start)

    def lerp(a: np.ndarray | np.float64, b: np.ndarray | np.float64) -> np.ndarray:
        shape = (-1, *[1] * a.ndim)
        out: np.ndarray = (1 - t).reshape(shape) * a + t.reshape(shape) * b
        return out

    p0 = {k: getattr(track, k)[start].astype(np.float64) for k in MANO_FIELDS}
    p1 = {k: getattr(track, k)[end].astype(np.float64) for k in MANO_FIELDS}
    has_mano = all(np.isfinite(v).all() for v in (*p0.values(), *p1.values()))
    values: dict[str, np.ndarray] = {}
    if has_mano:
        values["global_orient"] = slerp_axis_angle(p0["global_orient"], p1["global_orient"], t)
        pose = slerp_axis_angle(p0["hand_pose"].reshape(15, 3), p1["hand_pose"].reshape(15, 3), t)
        values["hand_pose"] = pose.reshape(len(t), 45)
        values["transl"] = lerp(p0["transl"], p1["transl"])
        values["betas"] = lerp(p0["betas"], p1["betas"])
    else:
        values.update({k: np.full((len(t), *p0[k].shape), np.nan) for k in MANO_FIELDS})
    model = hand_model() if has_mano else None  # loads MANO only when it is needed
    if has_mano and model is not None:
        joints = np.asarray(model.joints(hand, {k: values[k] for k in MANO_FIELDS}), np.float64)
    else:
        joints = interpolate_skeleton(
            track.joints_3d[start].astype(np.float64), track.joints_3d[end].astype(np.float64), t
        )
    values["joints_3d"] = joints
    values["joints_2d"] = project(joints, doc.K)
    values["confidence"] = lerp(
        np.float64(track.confidence[start]), np.float64(track.confidence[end])
    )
    values["present"] = np.ones(len(t), bool)
    values["source"] = np.full(len(t), int(Source.INTERPOLATED), np.uint8)
    values["keyframe"] = np.zeros(len(t), bool)
    return frames, values


@register("interpolate", ("hand", "start", "end"))
def interpolate(h: Editor, e: dict[str, Any]) -> None:
    """Make start and end keyframes and fill the frames strictly between by interpolation."""
    hand = one_hand(e)
    start, end = get_range(h.doc, e)
    if start == end:
        raise EditError("interpolate needs two different frames", hint="Use start < end.")
    frames, values = interpolated_values(h.doc, hand, start, end)
    h.write(hand, [start, end], {"keyframe": True})
    if len(frames):
        h.write(hand, frames, values)


# ------------------------------------------------------------------------------ smoothing
def _smooth_series(x: np.ndarray, valid: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing along axis 0 using only valid rows (normalised convolution)."""
    w = valid.astype(np.float64)
    flat = np.where(valid[:, None], x.reshape(len(x), -1), 0.0)
    num = gaussian_filter1d(flat * w[:, None], sigma, axis=0, mode="nearest")
    den = gaussian_filter1d(w, sigma, mode="nearest")
    smooth: np.ndarray = (num / np.maximum(den, 1e-12)[:, None]).reshape(x.shape)
    return smooth


def _smooth_rotations(aa: np.ndarray, valid: np.ndarray, sigma: float) -> np.ndarray:
    """Smooth (N, K, 3) rotations: quaternions made sign-continuous, averaged, renormalised."""
    q = axis_angle_to_quat(aa)
    for i in range(1, len(q)):
        flip = np.sum(q[i] * q[i - 1], axis=-1) < 0
        q[i][flip] *= -1
    qs = _smooth_series(q, valid, sigma)
    return quat_to_axis_angle(qs)


def preview_smooth(
    doc: LabelDocument, hand: int | str, start: int, end: int, sigma: float
) -> Patch:
    """What `smooth` would write (frames and values), without changing the document."""
    from core.labels.joints import hand_index

    h = hand_index(hand)
    from core.edits.registry import MAX_SIGMA

    if not 0 < sigma <= MAX_SIGMA:
        raise EditError(
            f"sigma must be in (0, {MAX_SIGMA:g}] frames, got {sigma:g}",
            hint="Sigma is in frames, e.g. 2.",
        )
    if not (0 <= start <= end < doc.n_frames):
        raise EditError(f"range {start}..{end} is outside the video's frames 0..{doc.n_frames - 1}")
    track = doc.hands[h]
    frames = np.arange(start, end + 1)
    joints = track.joints_3d[frames].astype(np.float64)
    valid = track.present[frames] & np.isfinite(joints).all(axis=(1, 2))
    values: dict[str, np.ndarray] = {"joints_3d": _smooth_series(joints, valid, sigma)}
    mano_ok = valid & track.has_mano()[frames]
    if mano_ok.any():
        go = track.global_orient[frames].astype(np.float64)[:, None]
        pose = track.hand_pose[frames].astype(np.float64).reshape(-1, 15, 3)
        values["global_orient"] = _smooth_rotations(go, mano_ok, sigma)[:, 0]
        values["hand_pose"] = _smooth_rotations(pose, mano_ok, sigma).reshape(-1, 45)
        for k in ("transl", "betas"):
            values[k] = _smooth_series(getattr(track, k)[frames].astype(np.float64), mano_ok, sigma)
        model = hand_model()
        if model is not None and mano_ok.all():
            values["joints_3d"] = np.asarray(
                model.joints(h, {k: values[k] for k in MANO_FIELDS}), np.float64
            )
        for k in MANO_FIELDS:  # frames without full MANO keep what they have
            mask = mano_ok.reshape(-1, *[1] * (values[k].ndim - 1))
            values[k] = np.where(mask, values[k], getattr(track, k)[frames])
    keep = valid & ~track.keyframe[frames]
    out = {k: v[keep] for k, v in values.items()}
    out["joints_2d"] = project(out["joints_3d"], doc.K)
    out["source"] = np.full(int(keep.sum()), int(Source.EDITED), np.uint8)
    return Patch(h, frames[keep], out)


@register("smooth", ("hand", "start", "end", "sigma"))
def smooth(h: Editor, e: dict[str, Any]) -> None:
    """Gaussian-smooth a hand over start..end (sigma in frames); keyframes are pinned."""
    hand = one_hand(e)
    start, end = get_range(h.doc, e)
    patch = preview_smooth(h.doc, hand, start, end, get_float(e, "sigma"))
    if len(patch.frames):
        h.write(hand, patch.frames, patch.values)
