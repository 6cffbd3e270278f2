"""Rotation helpers, batched over leading axes: conversions through `scipy.spatial.transform`.

Axis-angle (Rodrigues vectors, radians) is the rotation format of the label files; matrices are
what the kinematics multiply. Everything here works on arrays shaped (..., 3) / (..., 3, 3) /
(..., 4). Rows with a NaN give NaN (scipy refuses them, so they are masked out here); scipy's
results match the closed forms these helpers used to spell out to ~1e-12.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.spatial.transform import Rotation

_EPS = 1e-12


def _rows(
    x: np.ndarray,
    width: tuple[int, ...],
    out: tuple[int, ...],
    fn: Callable[[np.ndarray], np.ndarray],
) -> np.ndarray:
    """Apply `fn` to the finite rows of `x` (..., *width) flattened to (N, *width); NaN rows out."""
    a = np.asarray(x, np.float64)
    lead = a.shape[: a.ndim - len(width)]
    flat = a.reshape(-1, *width)
    ok = np.isfinite(flat).reshape(len(flat), int(np.prod(width))).all(1)  # 0 rows too
    res = np.full((len(flat), *out), np.nan)
    if ok.any():
        res[ok] = fn(flat[ok])
    return res.reshape(*lead, *out)


def axis_angle_to_matrix(rotvec: np.ndarray) -> np.ndarray:
    """(..., 3) Rodrigues vectors -> (..., 3, 3) rotation matrices (exact near zero angle)."""
    return _rows(rotvec, (3,), (3, 3), lambda r: Rotation.from_rotvec(r).as_matrix())


def matrix_to_axis_angle(mat: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotation matrices -> (..., 3) Rodrigues vectors with angle in [0, pi]."""
    return _rows(mat, (3, 3), (3,), lambda m: Rotation.from_matrix(m).as_rotvec())


def axis_angle_to_quat(rotvec: np.ndarray) -> np.ndarray:
    """(..., 3) axis-angle -> (..., 4) unit quaternions (w, x, y, z), w >= 0."""
    return _rows(
        rotvec,
        (3,),
        (4,),
        lambda r: Rotation.from_rotvec(r).as_quat(canonical=True, scalar_first=True),
    )


def quat_to_axis_angle(q: np.ndarray) -> np.ndarray:
    """(..., 4) quaternions (w, x, y, z), normalised here, -> (..., 3) axis-angle, angle in
    [0, pi]. Zero quaternions give NaN."""
    q = np.asarray(q, np.float64)
    bad = np.linalg.norm(q, axis=-1, keepdims=True) < _EPS
    q = np.where(bad, np.nan, q)
    return _rows(q, (4,), (3,), lambda x: Rotation.from_quat(x, scalar_first=True).as_rotvec())


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
    bad = np.linalg.norm(q, axis=-1, keepdims=True) < _EPS
    q = np.where(bad, np.nan, q)
    return _rows(q, (4,), (3, 3), lambda x: Rotation.from_quat(x, scalar_first=True).as_matrix())


def slerp_rotvec(a0: np.ndarray, a1: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Slerp along the shorter arc from axis-angle rotations a0 to a1 (..., 3), at fractions t
    broadcastable against their leading shape: R0 * exp(t * log(R0^-1 R1)), what scipy's
    `Slerp` computes between two keys. The relative rotation is computed once per pair."""
    a0, a1 = np.broadcast_arrays(np.asarray(a0, np.float64), np.asarray(a1, np.float64))
    pairs = a0.shape[:-1]
    ok = np.isfinite(a0).all(-1) & np.isfinite(a1).all(-1)
    delta = np.full(a0.shape, np.nan)
    if ok.any():
        r0 = Rotation.from_rotvec(a0[ok])
        delta[ok] = (r0.inv() * Rotation.from_rotvec(a1[ok])).as_rotvec()  # angle in [0, pi]
    t = np.asarray(t, np.float64)
    shape = np.broadcast_shapes(pairs, t.shape)
    start = np.broadcast_to(a0, (*shape, 3)).reshape(-1, 3)
    step = (np.broadcast_to(delta, (*shape, 3)) * np.broadcast_to(t, shape)[..., None]).reshape(
        -1, 3
    )
    out = np.full(step.shape, np.nan)
    good = np.isfinite(step).all(1)
    if good.any():
        out[good] = (
            Rotation.from_rotvec(start[good]) * Rotation.from_rotvec(step[good])
        ).as_rotvec()
    return out.reshape(*shape, 3)
