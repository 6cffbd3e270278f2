"""Pinhole camera helpers: projection and back-projection with intrinsics K.

Convention (as in the label files): OpenCV camera frame (x right, y down, z forward, metres) and
pixel coordinates where (0, 0) is the *centre* of the top-left pixel, so pixel (row i, column j)
covers [j - 0.5, j + 0.5] x [i - 0.5, i + 0.5]. A K whose principal point is ((W-1)/2, (H-1)/2)
puts the optical axis at the image centre.
"""

from __future__ import annotations

import numpy as np


def project(points_3d: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Pixels (..., 2) of camera-frame points (..., 3). Points at or behind the camera (z <= 0)
    and NaN points give NaN."""
    p = np.asarray(points_3d, dtype=np.float64)
    K = np.asarray(K, dtype=np.float64)
    z = p[..., 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        ok = (z > 0) & np.isfinite(p).all(axis=-1)
        zs = np.where(ok, z, np.nan)
        u = K[0, 0] * p[..., 0] / zs + K[0, 1] * p[..., 1] / zs + K[0, 2]
        v = K[1, 1] * p[..., 1] / zs + K[1, 2]
    return np.stack([u, v], axis=-1)


def unproject(uv: np.ndarray, depth: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Camera-frame points (..., 3) at depth z (...) whose pixels are uv (..., 2)."""
    uv = np.asarray(uv, dtype=np.float64)
    z = np.asarray(depth, dtype=np.float64)
    K = np.asarray(K, dtype=np.float64)
    y = (uv[..., 1] - K[1, 2]) / K[1, 1]
    x = (uv[..., 0] - K[0, 2] - K[0, 1] * y) / K[0, 0]
    return np.stack([x * z, y * z, z * np.ones_like(x)], axis=-1)


def rays(uv: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Unit viewing directions (..., 3) through pixels uv (..., 2)."""
    d = unproject(uv, np.ones(np.shape(uv)[:-1]), K)
    return d / np.linalg.norm(d, axis=-1, keepdims=True)


def in_image(uv: np.ndarray, width: int, height: int) -> np.ndarray:
    """(...) bool: pixel positions inside the image (pixel-centre convention)."""
    u, v = uv[..., 0], uv[..., 1]
    with np.errstate(invalid="ignore"):
        return (u >= -0.5) & (u < width - 0.5) & (v >= -0.5) & (v < height - 0.5)
