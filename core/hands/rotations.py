"""Rotation helpers in numpy, batched over leading axes.

Axis-angle (Rodrigues vectors, radians) is the rotation format of the label files; matrices are
what the kinematics multiply. Everything here works on arrays shaped (..., 3) / (..., 3, 3).
"""

from __future__ import annotations

import numpy as np

_EPS = 1e-12


def axis_angle_to_matrix(rotvec: np.ndarray) -> np.ndarray:
    """(..., 3) Rodrigues vectors -> (..., 3, 3) rotation matrices (exact near zero angle)."""
    r = np.asarray(rotvec, dtype=np.float64)
    theta = np.linalg.norm(r, axis=-1, keepdims=True)
    axis = r / np.maximum(theta, _EPS)
    x, y, z = axis[..., 0], axis[..., 1], axis[..., 2]
    zeros = np.zeros_like(x)
    k = np.stack(
        [
            np.stack([zeros, -z, y], -1),
            np.stack([z, zeros, -x], -1),
            np.stack([-y, x, zeros], -1),
        ],
        -2,
    )
    s = np.sin(theta)[..., None]
    c = np.cos(theta)[..., None]
    eye = np.broadcast_to(np.eye(3), k.shape)
    return eye + s * k + (1.0 - c) * (k @ k)


def matrix_to_axis_angle(mat: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotation matrices -> (..., 3) Rodrigues vectors with angle in [0, pi]."""
    m = np.asarray(mat, dtype=np.float64)
    cos = np.clip((np.trace(m, axis1=-2, axis2=-1) - 1.0) / 2.0, -1.0, 1.0)
    theta = np.arccos(cos)
    v = np.stack(
        [m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] - m[..., 0, 1]],
        -1,
    )
    sin = np.sin(theta)
    small = sin > 1e-6
    out = np.where(
        small[..., None], v * (theta / np.where(small, 2.0 * sin, 1.0))[..., None], 0.5 * v
    )
    # Near pi the antisymmetric part vanishes: take the axis from the symmetric part instead.
    near_pi = theta > np.pi - 1e-3
    if np.any(near_pi):
        sym = (m[near_pi] + np.swapaxes(m[near_pi], -1, -2)) / 2.0 - np.eye(3) * cos[near_pi][
            ..., None, None
        ]
        col = np.argmax(np.linalg.norm(sym, axis=-2), axis=-1)
        axis = np.take_along_axis(sym, col[..., None, None].repeat(3, -2), -1)[..., 0]
        axis /= np.maximum(np.linalg.norm(axis, axis=-1, keepdims=True), _EPS)
        sign = np.sign(np.sum(axis * v[near_pi], -1, keepdims=True))
        sign[sign == 0] = 1.0
        out[near_pi] = axis * sign * theta[near_pi][..., None]
    return out


def rotate_about_axis(v: np.ndarray, axis: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Rotate vectors v (..., 3) about unit axes (..., 3) by angles (...) (Rodrigues formula)."""
    c = np.cos(angle)[..., None]
    s = np.sin(angle)[..., None]
    dot = np.sum(axis * v, axis=-1, keepdims=True)
    return v * c + np.cross(axis, v) * s + axis * dot * (1.0 - c)


def normalize(v: np.ndarray, axis: int = -1) -> np.ndarray:
    """Unit vectors along `axis`; zero vectors stay zero, NaN stays NaN."""
    n = np.linalg.norm(v, axis=axis, keepdims=True)
    return v / np.maximum(n, _EPS)


def quat_wxyz_to_matrix(q: np.ndarray) -> np.ndarray:
    """(..., 4) quaternions (w, x, y, z), normalised here, -> (..., 3, 3) rotation matrices."""
    q = np.asarray(q, np.float64)
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    w, x, y, z = np.moveaxis(q, -1, 0)
    return np.stack(
        [
            np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
            np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
            np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1),
        ],
        -2,
    )
