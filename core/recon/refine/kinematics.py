"""The hand model the fit solves for: a rigid palm, three bones per finger, angles per bone.

Per frame and hand: a global rotation R (hand frame -> camera), the wrist position t (metres,
camera frame) and two angles per finger bone, abduction a (about the bone frame's dorsal axis)
then flexion b (about its lateral axis; positive bends towards the palm). A bone's frame is its
parent's rotated by Rz(a) Ry(b); the first bone's parent is the finger's rest frame
(`TrackSkeleton.rest_frames`). Bone lengths and the palm come from the track's skeleton, so the
hand's size cannot change from frame to frame.

`forward` is batched torch (what the optimiser differentiates); `inverse` is the closed form in
numpy that turns detected 3D joints into angles (the fit's starting point).
"""

from __future__ import annotations

import numpy as np
import torch

from core.labels.joints import FINGERS
from core.recon.refine.shape import PALM, TrackSkeleton, hand_frames

_FINGER_IDX = np.asarray(FINGERS)  # (5, 4): base joint, then the three joints bones end at


def skeleton_tensors(skeletons: list[TrackSkeleton]) -> dict[str, torch.Tensor]:
    """Stack skeletons (one per hand) into float64 tensors shaped (H, ...)."""
    return {
        "palm": torch.as_tensor(np.stack([s.palm for s in skeletons])),
        "lengths": torch.as_tensor(np.stack([s.lengths for s in skeletons])),
        "rest": torch.as_tensor(np.stack([s.rest_frames() for s in skeletons])),
    }


def bone_rotation(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) Rz(a) @ Ry(b)."""
    ca, sa, cb, sb = torch.cos(a), torch.sin(a), torch.cos(b), torch.sin(b)
    zero = torch.zeros_like(a)
    rows = [
        torch.stack([ca * cb, -sa, ca * sb], -1),
        torch.stack([sa * cb, ca, sa * sb], -1),
        torch.stack([-sb, zero, cb], -1),
    ]
    return torch.stack(rows, -2)


def rodrigues(w: torch.Tensor) -> torch.Tensor:
    """(..., 3) axis-angle -> (..., 3, 3), differentiable at zero."""
    theta2 = (w * w).sum(-1, keepdim=True)[..., None]
    theta = torch.sqrt(theta2 + 1e-16)
    x, y, z = w.unbind(-1)
    zero = torch.zeros_like(x)
    k = torch.stack(
        [
            torch.stack([zero, -z, y], -1),
            torch.stack([z, zero, -x], -1),
            torch.stack([-y, x, zero], -1),
        ],
        -2,
    )
    small = theta2 < 1e-8
    s = torch.where(small, 1.0 - theta2 / 6.0, torch.sin(theta) / theta)
    c = torch.where(small, 0.5 - theta2 / 24.0, (1.0 - torch.cos(theta)) / (theta2 + 1e-30))
    eye = torch.eye(3, dtype=w.dtype).expand_as(k)
    return eye + s * k + c * matmul3(k, k)


def matmul3(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """a @ b for stacks of 3x3 matrices, broadcasting the leading axes."""
    return a @ b


def forward(
    R: torch.Tensor, t: torch.Tensor, angles: torch.Tensor, skel: dict[str, torch.Tensor]
) -> torch.Tensor:
    """Joints (H, T, 21, 3) from R (H, T, 3, 3), t (H, T, 3), angles (H, T, 5, 3, 2)."""
    H, T = R.shape[:2]
    palm = torch.einsum("htij,hkj->htki", R, skel["palm"])  # (H, T, 6, 3)
    F = matmul3(R[:, :, None], skel["rest"][:, None])  # (H, T, 5, 3, 3)
    M = bone_rotation(angles[..., 0], angles[..., 1])  # (H, T, 5, 3, 3, 3)
    pos = palm[:, :, 1:, :]  # finger bases (H, T, 5, 3)
    lengths = skel["lengths"][:, None]  # (H, 1, 5, 3)
    chain = []
    for k in range(3):
        F = matmul3(F, M[:, :, :, k])
        pos = pos + lengths[..., k, None] * F[..., :, 0]
        chain.append(pos)
    joints: list[torch.Tensor | None] = [None] * 21
    for i, j in enumerate(PALM):
        joints[j] = palm[:, :, i]
    for f in range(5):
        for k in range(3):
            joints[int(_FINGER_IDX[f, k + 1])] = chain[k][:, :, f]
    return torch.stack(joints, dim=2) + t[:, :, None, :]  # type: ignore[arg-type]


def project(points: torch.Tensor, K: torch.Tensor, min_depth: float = 0.02) -> torch.Tensor:
    """(..., 3) camera points -> (..., 2) pixels (pixel-centre convention)."""
    z = points[..., 2].clamp(min=min_depth)
    x, y = points[..., 0] / z, points[..., 1] / z
    return torch.stack([K[0, 0] * x + K[0, 1] * y + K[0, 2], K[1, 1] * y + K[1, 2]], -1)


def inverse(joints: np.ndarray, skeleton: TrackSkeleton) -> tuple[np.ndarray, np.ndarray]:
    """Closed-form pose of 3D joints (T, 21, 3): rotation (T, 3, 3) and angles (T, 5, 3, 2).

    The rotation is the joints' hand frame; each bone's angles turn its parent's frame onto the
    bone's direction (lengths are the skeleton's, so only directions are used).
    """
    j = np.asarray(joints, dtype=np.float64)
    R = hand_frames(j, skeleton.side)
    F = np.einsum("tij,fjk->tfik", R, skeleton.rest_frames())  # (T, 5, 3, 3)
    angles = np.zeros((len(j), 5, 3, 2))
    for k in range(3):
        d = j[:, _FINGER_IDX[:, k + 1]] - j[:, _FINGER_IDX[:, k]]  # (T, 5, 3)
        d /= np.maximum(np.linalg.norm(d, axis=-1, keepdims=True), 1e-12)
        v = np.einsum("tfji,tfj->tfi", F, d)  # F^T d
        b = -np.arcsin(np.clip(v[..., 2], -1.0, 1.0))
        a = np.arctan2(v[..., 1], v[..., 0])
        angles[:, :, k, 0], angles[:, :, k, 1] = a, b
        M = bone_rotation(torch.as_tensor(a), torch.as_tensor(b)).numpy()
        F = F @ M
    return R, angles


def place(
    local: np.ndarray, uv: np.ndarray, weights: np.ndarray, K: np.ndarray, min_depth: float = 0.05
) -> np.ndarray:
    """Wrist positions t (T, 3) so that joints `local` (T, 21, 3) (camera orientation, wrist at
    the origin) + t project onto `uv` (T, 21, 2): weighted linear least squares per frame.

    With normalised coordinates (x, y) of a landmark, P + t projects onto it when
    P_x + t_x = x (P_z + t_z) and P_y + t_y = y (P_z + t_z).
    """
    fx, fy, cx, cy, s = K[0, 0], K[1, 1], K[0, 2], K[1, 2], K[0, 1]
    y = (uv[..., 1] - cy) / fy
    x = (uv[..., 0] - cx - s * y) / fx
    w = np.where(np.isfinite(x) & np.isfinite(y), weights, 0.0)
    x, y = np.nan_to_num(x), np.nan_to_num(y)
    P = local
    # rows: [1, 0, -x] t = x Pz - Px ; [0, 1, -y] t = y Pz - Py
    A = np.zeros((*x.shape, 2, 3))
    A[..., 0, 0], A[..., 0, 2] = 1.0, -x
    A[..., 1, 1], A[..., 1, 2] = 1.0, -y
    b = np.stack([x * P[..., 2] - P[..., 0], y * P[..., 2] - P[..., 1]], -1)
    AtA = np.einsum("tj,tjri,tjrk->tik", w, A, A) + 1e-9 * np.eye(3)
    Atb = np.einsum("tj,tjri,tjr->ti", w, A, b)
    t = np.linalg.solve(AtA, Atb[..., None])[..., 0]
    t[:, 2] = np.maximum(t[:, 2], min_depth - P[..., 2].min(axis=-1))
    return t
