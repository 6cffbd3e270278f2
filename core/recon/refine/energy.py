"""The terms of the two-hand fit, each a small function of torch tensors (summed by solve.py).

Units are chosen so the weights read naturally: 2D errors in millimetres at the hand (pixels x
the hand's depth / the focal length: the distance across the line of sight that the error
stands for, so the balance against the 3D terms does not depend on the video's resolution or
on how far the hand is), 3D in millimetres, angles in radians. Every term takes masks saying which frames it applies to; none of them looks at
frames the fit does not solve or hold fixed.
"""

from __future__ import annotations

import numpy as np
import torch

from core.labels.joints import BONES

#: per finger (thumb..little), per bone (base, middle, end): (abduction, flexion) limits, degrees
_LIMITS_DEG = np.array(
    [
        [[[-70, 70], [-50, 80]], [[-25, 25], [-30, 90]], [[-20, 20], [-30, 100]]],  # thumb
        *[[[[-35, 35], [-30, 100]], [[-15, 15], [-10, 120]], [[-15, 15], [-15, 100]]]] * 4,
    ],
    dtype=np.float64,
)
#: (5, 3, 2, 2): low/high per finger, bone, angle
ANGLE_LIMITS = np.deg2rad(_LIMITS_DEG)


def _spheres() -> tuple[np.ndarray, np.ndarray]:
    """Spheres covering the failure detector's capsules (core/analysis/two_hands.py): every
    joint, the middle of every finger bone, three points along each palm bone and the middle
    of each knuckle-line segment. Returns weights (S, 21) (centres = weights @ joints) and
    radii (S,) in metres: 12 mm on the palm, 8 mm on the fingers."""
    rows, radii = [], []
    for j in range(21):
        rows.append(np.eye(21)[j])
        radii.append(0.012 if j in _PALM_JOINTS else 0.008)
    for a, b in BONES:
        palm = a == 0
        for f in (0.25, 0.5, 0.75) if palm else (0.5,):
            rows.append((1 - f) * np.eye(21)[a] + f * np.eye(21)[b])
            radii.append(0.012 if palm else 0.008)
    for a, b in ((5, 9), (9, 13), (13, 17)):
        rows.append(0.5 * (np.eye(21)[a] + np.eye(21)[b]))
        radii.append(0.012)
    return np.stack(rows), np.asarray(radii)


_PALM_JOINTS = {0, 1, 5, 9, 13, 17}
SPHERE_WEIGHTS, SPHERE_RADII = _spheres()


def geman_mcclure(r2: torch.Tensor, sigma: float) -> torch.Tensor:
    """sigma^2 r^2 / (sigma^2 + r^2): like r^2 for small errors, bounded by sigma^2."""
    s2 = sigma * sigma
    return s2 * r2 / (s2 + r2)


def reprojection(
    uv_pred: torch.Tensor,
    uv_obs: torch.Tensor,
    weights: torch.Tensor,
    sigma: float,
    mm_per_px: torch.Tensor | float,
) -> torch.Tensor:
    """Robust, confidence-weighted 2D error (sum). `weights` (..., 21) is 0 where there is no
    detection; `mm_per_px` (broadcast to (..., 1, 1)) turns pixels into millimetres at the
    hand (its depth / the focal length), so the balance against the 3D terms is the same at
    any resolution and distance."""
    r2 = ((uv_pred - uv_obs) * mm_per_px).pow(2).sum(-1)
    return (weights * geman_mcclure(r2, sigma)).sum()


def acceleration(joints_mm: torch.Tensor, triples: torch.Tensor) -> torch.Tensor:
    """Sum of squared second differences (mm/frame^2)^2 over joints, for frames t whose
    triple (t-1, t, t+1) is valid. joints_mm (H, T, 21, 3); triples (H, T-2) bool."""
    acc = joints_mm[:, 2:] - 2.0 * joints_mm[:, 1:-1] + joints_mm[:, :-2]
    return (acc.pow(2).sum((-1, -2)) * triples).sum()


def rotation_acceleration(R: torch.Tensor, triples: torch.Tensor) -> torch.Tensor:
    """Sum of squared Frobenius norms of second differences of rotations (H, T, 3, 3)."""
    acc = R[:, 2:] - 2.0 * R[:, 1:-1] + R[:, :-2]
    return (acc.pow(2).sum((-1, -2)) * triples).sum()


def angle_limits(angles: torch.Tensor, active: torch.Tensor, limits: torch.Tensor) -> torch.Tensor:
    """Squared radians beyond the limits. angles (H, T, 5, 3, 2); limits (5, 3, 2, 2)."""
    below = (limits[..., 0] - angles).clamp(min=0.0)
    above = (angles - limits[..., 1]).clamp(min=0.0)
    return ((below.pow(2) + above.pow(2)).sum((-1, -2, -3)) * active).sum()


def hinge_twist(angles: torch.Tensor, active: torch.Tensor) -> torch.Tensor:
    """Squared abduction of the middle and end joints (anatomically hinges)."""
    return (angles[:, :, :, 1:, 0].pow(2).sum((-1, -2)) * active).sum()


def sphere_centres(joints: torch.Tensor) -> torch.Tensor:
    """(..., S, 3) sphere centres of joints (..., 21, 3) (see SPHERE_WEIGHTS)."""
    return torch.as_tensor(SPHERE_WEIGHTS, dtype=joints.dtype) @ joints


def interpenetration(left: torch.Tensor, right: torch.Tensor, radii: torch.Tensor) -> torch.Tensor:
    """Sum over frames of squared sphere overlaps (mm^2) between the hands. left/right
    (N, 21, 3) metres, on the frames where both hands are in the fit."""
    # only frames where the hands can touch: every sphere centre lies in its hand's bounding
    # ball (centres are averages of joints), so balls further apart than two radii have no
    # overlapping spheres (exactly the same value and gradient, at a fraction of the cost)
    with torch.no_grad():
        ca, cb = left.mean(-2, keepdim=True), right.mean(-2, keepdim=True)
        ra = (left - ca).norm(dim=-1).amax(-1)
        rb = (right - cb).norm(dim=-1).amax(-1)
        gap = (ca - cb)[:, 0].norm(dim=-1) - ra - rb
        near = torch.nonzero(gap < 2.0 * float(radii.max()))[:, 0]
    if near.numel() == 0:
        return left.sum() * 0.0
    a, b = sphere_centres(left[near]), sphere_centres(right[near])
    d = torch.cdist(a, b)  # (N, S, S)
    overlap = (radii[:, None] + radii[None, :] - d).clamp(min=0.0) * 1000.0
    return overlap.pow(2).sum()
