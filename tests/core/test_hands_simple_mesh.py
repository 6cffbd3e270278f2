"""The simple hand mesh: fixed topology, closed and outward, NaN-safe, batched."""

from __future__ import annotations

import numpy as np

from core.hands.simple_mesh import N_SIMPLE_VERTICES, SIMPLE_HAND_FACES, simple_hand_mesh
from core.hands.skeleton import FINGER_LIMITS, RELAXED_FINGERS, hand_joints
from core.labels.joints import BONES, LEFT, RIGHT


def _signed_volume(v: np.ndarray, f: np.ndarray) -> float:
    a, b, c = v[f[:, 0]], v[f[:, 1]], v[f[:, 2]]
    return float(np.einsum("ij,ij->i", a, np.cross(b, c)).sum() / 6.0)


def _joints(seed: int, n: int, side: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    lo, hi = FINGER_LIMITS[..., 0], FINGER_LIMITS[..., 1]
    fingers = lo + (hi - lo) * rng.random((n, 5, 4))
    return hand_joints(rng.normal(size=(n, 3)), rng.normal(size=(n, 3)) * 0.2, fingers, side=side)


def test_topology_is_fixed_and_valid() -> None:
    f = SIMPLE_HAND_FACES
    assert f.dtype == np.int32 and f.ndim == 2 and f.shape[1] == 3
    assert f.min() == 0 and f.max() == N_SIMPLE_VERTICES - 1
    assert len(np.unique(f)) == N_SIMPLE_VERTICES  # every vertex used
    assert (f[:, 0] != f[:, 1]).all() and (f[:, 1] != f[:, 2]).all() and (f[:, 0] != f[:, 2]).all()
    # closed: every edge is shared by exactly two faces, in opposite directions
    edges = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])
    directed = {tuple(e) for e in edges.tolist()}
    assert len(directed) == len(edges)
    assert all((b, a) in directed for a, b in directed)


def test_vertices_follow_joints_with_the_same_faces() -> None:
    for side in (LEFT, RIGHT):
        j = _joints(side, 20, side)
        v = simple_hand_mesh(j)
        assert v.shape == (20, N_SIMPLE_VERTICES, 3)
        assert np.isfinite(v).all()
        for k in range(20):
            # outward winding for both hands: positive enclosed volume of a hand's size
            vol = _signed_volume(v[k], SIMPLE_HAND_FACES)
            assert 150e-6 < vol < 800e-6, vol
        # every vertex lies near the skeleton (the wrist stub reaches ~6 cm past the wrist)
        a = j[0, [p for p, _ in BONES]]
        b = j[0, [c for _, c in BONES]]
        ab = b - a
        t = np.clip(np.einsum("vbk,bk->vb", v[0][:, None] - a, ab) / (ab**2).sum(-1), 0, 1)
        d = np.linalg.norm(v[0][:, None] - (a + t[..., None] * ab), axis=-1).min(1)
        assert d.max() < 0.06


def test_batched_equals_per_frame_and_nan_propagates() -> None:
    j = _joints(7, 6, RIGHT).reshape(3, 2, 21, 3)
    v = simple_hand_mesh(j)
    assert v.shape == (3, 2, N_SIMPLE_VERTICES, 3)
    assert np.allclose(v[1, 0], simple_hand_mesh(j[1, 0]))
    j[2, 1] = np.nan
    with np.errstate(all="raise"):
        v2 = simple_hand_mesh(j)
    assert np.isnan(v2[2, 1]).all()
    assert np.isfinite(v2[:2]).all() and np.isfinite(v2[2, 0]).all()


def test_mesh_scales_with_hand_size() -> None:
    j = hand_joints(np.zeros(3), np.array([0, 0, 0.5]), RELAXED_FINGERS)
    small = simple_hand_mesh((j - j[0]) * 0.5 + j[0])
    big = simple_hand_mesh(j)
    ratio = _signed_volume(small, SIMPLE_HAND_FACES) / _signed_volume(big, SIMPLE_HAND_FACES)
    assert np.isclose(ratio, 0.125, rtol=1e-6)
