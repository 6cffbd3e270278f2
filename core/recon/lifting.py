"""Lift a 2D hand detection to metric camera space.

Detectors such as MediaPipe Hands give two things per hand: 2D landmarks in the image and a
*metric but hand-centred* 3D shape (metres, axes aligned with the camera, origin near the hand's
centre). What is unknown is where that shape sits in front of the camera: its translation t.

Method (docs/reconstructors.md):

1. Translation by linear least squares. With normalised image coordinates
   x_i = (u_i - cx) / fx, y_i = (v_i - cy) / fy and shape points P_i, a joint P_i + t projects
   onto (x_i, y_i) when
       (P_ix + t_x) = x_i (P_iz + t_z)   and   (P_iy + t_y) = y_i (P_iz + t_z),
   two linear equations in t per joint; 42 equations, 3 unknowns, solved in closed form.
2. A few Gauss-Newton steps on the reprojection error in pixels (the linear solve minimises an
   algebraic error weighted by depth; the refinement makes it the geometric one).
3. Snapping: each joint keeps the depth of the placed shape, z_i = P_iz + t_z, and is moved
   within its depth plane onto the ray through the detected 2D landmark. The returned 3D joints
   therefore project exactly onto the detector's 2D joints (the 2D detection is the more
   accurate of the two in the image plane), while depth and metric scale come from the shape.
   `snap=False` keeps the rigid shape instead and returns its projection as the 2D joints.

Either way `joints_2d` is the projection of `joints_3d`; `LiftResult.rms_px` is the rigid fit's
residual, a measure of how well the 3D shape agrees with the 2D detection.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: the shape must stay at least this far in front of the camera (metres)
MIN_DEPTH = 0.02


@dataclass
class LiftResult:
    """One lifted hand."""

    joints_3d: np.ndarray  #: (21, 3) metres, OpenCV camera frame
    joints_2d: np.ndarray  #: (21, 2) pixels (pixel-centre convention); projection of joints_3d
    translation: np.ndarray  #: (3,) metres: where the hand-centred shape was placed
    rms_px: float  #: RMS reprojection error of the rigid shape before snapping


def normalized_to_pixels(xy: np.ndarray, width: int, height: int) -> np.ndarray:
    """MediaPipe's normalised image coordinates (0..1 across the image, corner convention) to
    pixels in the pixel-centre convention used by the label files."""
    xy = np.asarray(xy, dtype=np.float64)
    return np.stack([xy[..., 0] * width - 0.5, xy[..., 1] * height - 0.5], axis=-1)


def _normalise(uv: np.ndarray, K: np.ndarray) -> np.ndarray:
    y = (uv[:, 1] - K[1, 2]) / K[1, 1]
    x = (uv[:, 0] - K[0, 2] - K[0, 1] * y) / K[0, 0]
    return np.stack([x, y], axis=1)


def _project(points: np.ndarray, K: np.ndarray) -> np.ndarray:
    z = points[:, 2]
    x, y = points[:, 0] / z, points[:, 1] / z
    return np.stack([K[0, 0] * x + K[0, 1] * y + K[0, 2], K[1, 1] * y + K[1, 2]], axis=1)


def solve_translation(
    shape: np.ndarray, uv: np.ndarray, K: np.ndarray, iterations: int = 3
) -> np.ndarray:
    """Translation t (3,) placing `shape` (N, 3) so that it projects onto `uv` (N, 2) pixels.

    Closed-form linear least squares, then `iterations` Gauss-Newton steps on the pixel error.
    """
    P = np.asarray(shape, dtype=np.float64)
    uv = np.asarray(uv, dtype=np.float64)
    K = np.asarray(K, dtype=np.float64)
    xy = _normalise(uv, K)
    n = len(P)
    A = np.zeros((2 * n, 3))
    b = np.empty(2 * n)
    A[0::2, 0] = 1.0
    A[0::2, 2] = -xy[:, 0]
    A[1::2, 1] = 1.0
    A[1::2, 2] = -xy[:, 1]
    b[0::2] = xy[:, 0] * P[:, 2] - P[:, 0]
    b[1::2] = xy[:, 1] * P[:, 2] - P[:, 1]
    t = np.linalg.lstsq(A, b, rcond=None)[0]
    t[2] = max(t[2], MIN_DEPTH - P[:, 2].min())
    fx, fy, s = K[0, 0], K[1, 1], K[0, 1]
    for _ in range(iterations):
        Q = P + t
        z = Q[:, 2]
        r = (_project(Q, K) - uv).reshape(-1)
        # d(u)/dt = (fx/z, s/z, -(fx*X + s*Y)/z^2), d(v)/dt = (0, fy/z, -fy*Y/z^2)
        J = np.zeros((2 * n, 3))
        J[0::2, 0] = fx / z
        J[0::2, 1] = s / z
        J[0::2, 2] = -(fx * Q[:, 0] + s * Q[:, 1]) / z**2
        J[1::2, 1] = fy / z
        J[1::2, 2] = -fy * Q[:, 1] / z**2
        step = np.linalg.lstsq(J, -r, rcond=None)[0]
        t = t + step
        t[2] = max(t[2], MIN_DEPTH - P[:, 2].min())
        if np.abs(step).max() < 1e-7:
            break
    return t


def lift_hand(shape: np.ndarray, uv: np.ndarray, K: np.ndarray, *, snap: bool = True) -> LiftResult:
    """Place a metric hand-centred `shape` (21, 3) in the camera frame to match `uv` (21, 2).

    See the module docstring for the method. Returns float32 joints.
    """
    P = np.asarray(shape, dtype=np.float64)
    uv = np.asarray(uv, dtype=np.float64)
    K = np.asarray(K, dtype=np.float64)
    t = solve_translation(P, uv, K)
    placed = P + t
    rigid_uv = _project(placed, K)
    rms = float(np.sqrt(np.mean(np.sum((rigid_uv - uv) ** 2, axis=1))))
    if snap:
        z = placed[:, 2]
        xy = _normalise(uv, K)
        joints_3d = np.stack([xy[:, 0] * z, xy[:, 1] * z, z], axis=1)
        joints_2d = uv
    else:
        joints_3d = placed
        joints_2d = rigid_uv
    return LiftResult(
        joints_3d=joints_3d.astype(np.float32),
        joints_2d=joints_2d.astype(np.float32),
        translation=t,
        rms_px=rms,
    )


def chirality(joints_3d: np.ndarray) -> np.ndarray:
    """Signed handedness evidence (metres) of 3D hands (..., 21, 3) in a right-handed frame.

    n = (index_mcp - wrist) x (little_mcp - wrist) points out of the palm of a right hand and
    out of the back of a left hand; fingers flex towards the palm. The mean offset of the four
    fingertips from their knuckles along n is therefore positive for a right hand and negative
    for a left one. Near zero (flat hand) it says nothing: compare its magnitude with ~1 cm.
    """
    j = np.asarray(joints_3d, dtype=np.float64)
    n = np.cross(j[..., 5, :] - j[..., 0, :], j[..., 17, :] - j[..., 0, :])
    n = n / np.linalg.norm(n, axis=-1, keepdims=True)
    offsets = j[..., [8, 12, 16, 20], :] - j[..., [5, 9, 13, 17], :]
    return np.einsum("...fk,...k->...f", offsets, n).mean(axis=-1)
