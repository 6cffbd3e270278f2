"""Stage 2 of the fit: the per-frame poses smoothed over time, exactly, as a linear problem.

Per channel (wrist position x, y, z; the rotation as a sign-continuous quaternion; the finger
angles) and per run of consecutive frames in the fit, minimise

    sum_t  w_t (x_t - y_t)^2  +  lam * sum_t (x_{t-1} - 2 x_t + x_{t+1})^2

where y_t is the per-frame estimate and w_t its precision: the maximum a-posteriori track
under Gaussian detection noise and a Gaussian acceleration prior (a fixed-interval smoother).
The precisions follow from the 2D noise, expressed as millimetres at the hand (pixels x z / f):
a wrist moving sideways by d shifts the joints by d, in depth only by about L d / z (L the
hand's size: the change of its apparent size), so depth is smoothed more than the image-plane
position. Frames without evidence (gaps) have w = 0 and are filled by the
prior (a cubic through their neighbours); FIXED frames get an overwhelming weight (the track
passes through them). A banded solve: linear in the number of frames.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import solveh_banded

from core.hands.rotations import axis_angle_to_matrix, matrix_to_axis_angle
from core.recon.refine.modes import ACTIVE, FIXED, NONE

_HARD = 1e10


def runs(inside: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) of the runs of True."""
    d = np.diff(np.concatenate([[0], inside.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1), strict=True))


def smooth_series(y: np.ndarray, w: np.ndarray, lam: float) -> np.ndarray:
    """argmin_x sum w (x - y)^2 + lam sum (second difference of x)^2, per column of y (T, C)."""
    n = len(y)
    if n < 3 or lam <= 0:
        return y.copy()
    # D^T D of the second-difference operator, banded (upper form, 2 super-diagonals)
    main = np.full(n, 6.0)
    main[[0, -1]] = 1.0
    main[[1, -2]] = 5.0 if n > 3 else 4.0
    if n == 3:
        main[:] = [1.0, 4.0, 1.0]
    off1 = np.full(n - 1, -4.0)
    off1[[0, -1]] = -2.0
    off2 = np.ones(n - 2)
    ab = np.zeros((3, n))
    ab[2] = lam * main + w + 1e-12
    ab[1, 1:] = lam * off1
    ab[0, 2:] = lam * off2
    return solveh_banded(ab, w[:, None] * y, lower=False, check_finite=False)


def quaternions(R: np.ndarray) -> np.ndarray:
    """(T, 4) unit quaternions (w, x, y, z) of rotations (T, 3, 3), signs made continuous."""
    aa = matrix_to_axis_angle(R)
    angle = np.linalg.norm(aa, axis=-1, keepdims=True)
    axis = aa / np.maximum(angle, 1e-12)
    q = np.concatenate([np.cos(angle / 2), axis * np.sin(angle / 2)], axis=-1)
    for t in range(1, len(q)):
        if np.dot(q[t], q[t - 1]) < 0:
            q[t] = -q[t]
    return q


def from_quaternions(q: np.ndarray) -> np.ndarray:
    q = q / np.maximum(np.linalg.norm(q, axis=-1, keepdims=True), 1e-12)
    angle = 2.0 * np.arctan2(np.linalg.norm(q[:, 1:], axis=-1), q[:, 0])
    axis = q[:, 1:] / np.maximum(np.linalg.norm(q[:, 1:], axis=-1, keepdims=True), 1e-12)
    return axis_angle_to_matrix(axis * angle[:, None])


def smooth_track(
    mode: np.ndarray, conf: np.ndarray, R: np.ndarray, t: np.ndarray, angles: np.ndarray,
    hand_size: float, obs_mm: float, accel_mm: float, rot_obs: float,
    rot_accel: float, angle_obs: float, angle_accel: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """Smooth one hand's per-frame poses over every run of frames in the fit (mode != NONE).

    `conf` (T,) scales each frame's precision (0: no evidence); FIXED frames are hard."""
    R, t, angles = R.copy(), t.copy(), angles.copy()
    for a, b in runs(mode != NONE):
        m, c = mode[a:b], np.clip(conf[a:b], 0.0, None)
        c = np.where(m == ACTIVE, c, 0.0)
        hard = np.where(m == FIXED, _HARD, 0.0)
        z = np.clip(t[a:b, 2], 0.05, None)
        sxy = np.full(b - a, obs_mm / 1000.0)
        sz = sxy * z / hand_size
        lam_t = 1.0 / (accel_mm / 1000.0) ** 2
        for cols, sig in (([0, 1], sxy), ([2], sz)):
            w = c / sig**2 + hard
            t[a:b, cols] = smooth_series(t[a:b, cols], w, lam_t)
        q = quaternions(R[a:b])
        q = smooth_series(q, c / rot_obs**2 + hard, 1.0 / rot_accel**2)
        R[a:b] = from_quaternions(q)
        flat = angles[a:b].reshape(b - a, -1)
        angles[a:b] = smooth_series(flat, c / angle_obs**2 + hard, 1.0 / angle_accel**2).reshape(
            angles[a:b].shape
        )
    return R, t, angles


__all__ = ["ACTIVE", "FIXED", "NONE", "runs", "smooth_series", "smooth_track"]
