"""Geometric building blocks of the metrics: Procrustes alignment and rotation distances.

Everything is batched over leading axes (frames) so a whole track is aligned in one call.
"""

from __future__ import annotations

import numpy as np

from core.hands.rotations import axis_angle_to_matrix


def procrustes_align(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Align `pred` (..., J, 3) to `gt` (..., J, 3) by the similarity transform (rotation,
    uniform scale, translation) that minimises the summed squared joint distance (Umeyama).

    One transform per leading index (per hand per frame). Reflections are excluded. Rows with
    any NaN give NaN.
    """
    x = np.asarray(pred, dtype=np.float64)
    y = np.asarray(gt, dtype=np.float64)
    mx = x.mean(axis=-2, keepdims=True)
    my = y.mean(axis=-2, keepdims=True)
    xc, yc = x - mx, y - my
    bad = ~(np.isfinite(xc).all(axis=(-2, -1)) & np.isfinite(yc).all(axis=(-2, -1)))
    xc = np.where(bad[..., None, None], 0.0, xc)
    yc = np.where(bad[..., None, None], 0.0, yc)
    cov = np.swapaxes(xc, -1, -2) @ yc  # (..., 3, 3): sum_j x_j y_j^T
    u, s, vt = np.linalg.svd(cov)
    d = np.sign(np.linalg.det(np.swapaxes(vt, -1, -2) @ np.swapaxes(u, -1, -2)))
    d = np.where(d == 0, 1.0, d)
    sign = np.ones((*d.shape, 3))
    sign[..., 2] = d
    # rotation taking x to y: R = V diag(1,1,d) U^T
    rot = np.swapaxes(vt, -1, -2) @ (sign[..., :, None] * np.swapaxes(u, -1, -2))
    var_x = np.sum(xc**2, axis=(-2, -1))
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.sum(s * sign, axis=-1) / var_x
    scale = np.where(var_x > 0, scale, 1.0)
    aligned = scale[..., None, None] * (xc @ np.swapaxes(rot, -1, -2)) + my
    return np.where(bad[..., None, None], np.nan, aligned)


def joint_errors(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """(..., J) Euclidean distances between corresponding joints."""
    return np.linalg.norm(np.asarray(pred, np.float64) - np.asarray(gt, np.float64), axis=-1)


def rotation_angle_deg(rotvec_a: np.ndarray, rotvec_b: np.ndarray) -> np.ndarray:
    """(...) geodesic angle in degrees between rotations given as axis-angle vectors (..., 3):
    the angle of R_a^T R_b, in [0, 180]."""
    ra = axis_angle_to_matrix(rotvec_a)
    rb = axis_angle_to_matrix(rotvec_b)
    rel = np.swapaxes(ra, -1, -2) @ rb
    cos = np.clip((np.trace(rel, axis1=-2, axis2=-1) - 1.0) / 2.0, -1.0, 1.0)
    return np.degrees(np.arccos(cos))


def second_difference(x: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Second finite difference along axis 0 of a track x (T, ...) and where it is defined.

    Returns (acc, ok) with acc shaped like x (acc[t] = x[t+1] - 2 x[t] + x[t-1], NaN at the ends)
    and ok (T,) True where frames t-1, t and t+1 are all valid.
    """
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[0]
    acc = np.full_like(x, np.nan)
    ok = np.zeros(n, dtype=bool)
    if n >= 3:
        acc[1:-1] = x[2:] - 2.0 * x[1:-1] + x[:-2]
        ok[1:-1] = valid[2:] & valid[1:-1] & valid[:-2]
    return acc, ok
