"""A synthetic model in MANO's file format, so the real loading code runs without licensed files.

`synthetic_mano_arrays(side)` builds plain numpy arrays with exactly the shapes of the real
MANO_RIGHT.pkl / MANO_LEFT.pkl: v_template (778, 3), f (1538, 3), J_regressor (16, 778, stored
sparse like the real files), weights (778, 16), kintree_table (2, 16), shapedirs (778, 3, 10),
posedirs (778, 3, 135), hands_components (45, 45), hands_mean (45,). `write_synthetic_mano(dir)`
pickles them as MANO_RIGHT.pkl and MANO_LEFT.pkl; with `chumpy=True` the arrays the real files
hold as chumpy objects are wrapped in objects whose class path is `chumpy.ch.Ch`, as in the real
files, to exercise the chumpy-free loader.

The hand: the project's default skeleton (core.hands.skeleton) with straight fingers, a palm
(flattened capsule from the wrist to the knuckles) and one capsule per finger ending in a pole
vertex at the fingertip; the fingertip poles are vertices 744, 320, 443, 554, 671 as in MANO.
Skinning follows the bones (smooth blends across joints), the joint regressor averages the
vertex rings around each joint, shape directions change size, finger length and palm width,
and pose correctives are small and smooth. The parts are closed surfaces (1532 faces); six
zero-area faces pad the face count to MANO's 1538.

The left model is the mirror image of the right (x negated, axis-angle components 2 and 3
negated), *except* shapedirs, which are stored with MANO's known sign bug (the x component not
negated), so the loader's left-hand fix is exercised.
"""

from __future__ import annotations

import os
import pickle
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np

from core.hands.rotations import normalize
from core.hands.skeleton import HandShape
from core.labels.joints import MANO_TIP_VERTICES

N_VERTS, N_FACES, N_MANO_JOINTS = 778, 1538, 16
#: MANO's finger order (index, middle, little, ring, thumb) as indices into the skeleton's
#: finger order (thumb, index, middle, ring, little)
MANO_FINGERS = (1, 2, 4, 3, 0)
KINTREE_PARENTS = np.array([-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 0, 10, 11, 0, 13, 14])

_PALM_AROUND, _PALM_RINGS = 14, 9
_FINGER_AROUND, _FINGER_RINGS = 8, 16
_FINGER_RADII = np.array(  # base, middle, end joints and tip (metres), skeleton finger order
    [
        [0.0150, 0.0115, 0.0100, 0.0075],
        [0.0105, 0.0092, 0.0082, 0.0062],
        [0.0108, 0.0095, 0.0084, 0.0064],
        [0.0102, 0.0090, 0.0080, 0.0060],
        [0.0090, 0.0079, 0.0071, 0.0055],
    ]
)


def _ring_faces(n_rings: int, n_around: int, offset: int) -> np.ndarray:
    """Faces of a capsule laid out as n_rings rings of n_around vertices, then two poles."""
    k = np.arange(n_around)
    k1 = (k + 1) % n_around
    faces = []
    for r in range(n_rings - 1):
        a, b = r * n_around + k, r * n_around + k1
        c, e = (r + 1) * n_around + k1, (r + 1) * n_around + k
        faces += [np.stack([a, b, c], 1), np.stack([a, c, e], 1)]
    start, end = n_rings * n_around, n_rings * n_around + 1
    faces.append(np.stack([np.full(n_around, start), k1, k], 1))
    last = (n_rings - 1) * n_around
    faces.append(np.stack([np.full(n_around, end), last + k, last + k1], 1))
    return np.concatenate(faces) + offset


def _frame(d: np.ndarray, ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    u = normalize(np.cross(d, ref))
    return u, np.cross(d, u)


def _right_hand() -> dict[str, np.ndarray]:
    """Geometry, weights and regressor of the right hand in the skeleton's hand frame."""
    shape = HandShape.default()
    verts: list[np.ndarray] = []
    weights: list[np.ndarray] = []
    faces: list[np.ndarray] = []
    regressor = np.zeros((N_MANO_JOINTS, N_VERTS))
    tips = {}

    # palm: flattened capsule along +y from the wrist to the middle knuckle
    knuckles = shape.bases[1:]
    length = float(np.linalg.norm(shape.bases[2]))
    ys = np.linspace(0.0, length, _PALM_RINGS)
    phi = 2 * np.pi * np.arange(_PALM_AROUND) / _PALM_AROUND
    half_w = np.interp(ys, [0, length], [0.028, 0.044])
    half_t = np.interp(ys, [0, length], [0.017, 0.013])
    centre_x = np.interp(ys, [0, length], [0.0, float(knuckles[:, 0].mean())])
    rings = np.stack(
        [
            np.stack([centre_x[i] + half_w[i] * np.cos(phi), np.full_like(phi, ys[i]), -half_t[i] * np.sin(phi)], -1)
            for i in range(_PALM_RINGS)
        ]
    )  # fmt: skip
    palm = np.concatenate(
        [rings.reshape(-1, 3), [[0.0, -0.02, 0.0]], [[centre_x[-1], length + 0.012, 0.0]]]
    )
    faces.append(_ring_faces(_PALM_RINGS, _PALM_AROUND, 0))
    w = np.zeros((len(palm), N_MANO_JOINTS))
    w[:, 0] = 1.0
    # the knuckle end of the palm follows the fingers a little
    for m, f in enumerate(MANO_FINGERS[:4]):
        d = np.linalg.norm(palm - shape.bases[f], axis=1)
        share = 0.35 * np.clip(1.0 - d / 0.02, 0.0, 1.0)
        w[:, 1 + 3 * m] += share
        w[:, 0] -= share
    regressor[0, :_PALM_AROUND] = 1.0 / _PALM_AROUND  # the wrist: centre of the first ring
    verts.append(palm)
    weights.append(w)
    offset = len(palm)

    # fingers, in MANO's order so that vertex ids grow like MANO's (index first, thumb last)
    for m, f in enumerate(MANO_FINGERS):
        base, d = shape.bases[f], shape.directions[f]
        u, v = _frame(d, shape.normals[f])
        seg = shape.lengths[f]
        bounds = np.concatenate([[0.0], np.cumsum(seg)])  # arc length of the joints, tip last
        total = bounds[-1]
        s = np.concatenate(
            [[-0.5 * _FINGER_RADII[f, 0]], np.linspace(0.0, total - 0.004, _FINGER_RINGS - 1)]
        )
        radius = np.interp(s, bounds, _FINGER_RADII[f])
        circle = np.cos(2 * np.pi * np.arange(_FINGER_AROUND) / _FINGER_AROUND)[:, None] * u + np.sin(
            2 * np.pi * np.arange(_FINGER_AROUND) / _FINGER_AROUND
        )[:, None] * v  # fmt: skip
        ring_pts = base + s[:, None, None] * d + radius[:, None, None] * circle  # (R, A, 3)
        poles = np.stack([base - _FINGER_RADII[f, 0] * d, base + total * d])
        pts = np.concatenate([ring_pts.reshape(-1, 3), poles])
        faces.append(_ring_faces(_FINGER_RINGS, _FINGER_AROUND, offset))
        # skinning: the segment after joint k follows MANO joint 1 + 3m + k; blend across joints
        arc = np.concatenate([np.repeat(s, _FINGER_AROUND), [-_FINGER_RADII[f, 0], total]])
        w = np.zeros((len(pts), N_MANO_JOINTS))
        blend = 0.006
        for k in range(3):
            lo = np.clip((arc - bounds[k] + blend) / (2 * blend), 0.0, 1.0)
            hi = np.clip((bounds[k + 1] - arc + blend) / (2 * blend), 0.0, 1.0) if k < 2 else 1.0
            w[:, 1 + 3 * m + k] = lo * hi
        w[:, 0] = np.clip(1.0 - w.sum(1), 0.0, 1.0)
        w /= w.sum(1, keepdims=True)
        # regressor: joint k = interpolation between the two rings around its arc length
        for k in range(3):
            i = int(np.searchsorted(s, bounds[k], side="right")) - 1
            i = min(max(i, 0), len(s) - 2)
            t = (bounds[k] - s[i]) / (s[i + 1] - s[i])
            regressor[1 + 3 * m + k, offset + i * _FINGER_AROUND + np.arange(_FINGER_AROUND)] += (
                1 - t
            ) / _FINGER_AROUND
            regressor[1 + 3 * m + k, offset + (i + 1) * _FINGER_AROUND + np.arange(_FINGER_AROUND)] += t / _FINGER_AROUND  # fmt: skip
        tips[f] = offset + len(pts) - 1
        verts.append(pts)
        weights.append(w)
        offset += len(pts)

    v_all = np.concatenate(verts)
    w_all = np.concatenate(weights)
    f_all = np.concatenate(faces)
    if len(v_all) != N_VERTS:
        raise AssertionError(f"synthetic MANO layout has {len(v_all)} vertices, not {N_VERTS}")
    # renumber so that the fingertip poles get MANO's tip vertex ids
    order = np.full(N_VERTS, -1)
    wanted = dict(zip((tips[f] for f in range(5)), MANO_TIP_VERTICES, strict=True))
    for old, new in wanted.items():
        order[new] = old
    rest = [i for i in range(N_VERTS) if i not in wanted]
    order[order < 0] = rest
    new_of_old = np.empty(N_VERTS, np.int64)
    new_of_old[order] = np.arange(N_VERTS)
    pad = np.array([[0, 0, 1]] * 6)  # zero-area faces: pad to MANO's face count
    f_all = np.concatenate([new_of_old[f_all], new_of_old[pad]])
    return {
        "v_template": v_all[order],
        "weights": w_all[order],
        "J_regressor": regressor[:, order],
        "f": f_all,
    }


def _shapedirs(v: np.ndarray, weights: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(778, 3, 10): size, finger length, palm width, then small smooth deformations."""
    dirs = np.zeros((N_VERTS, 3, 10))
    finger = 1.0 - weights[:, 0]
    dirs[:, :, 0] = 0.03 * v  # +3% size per unit (about the wrist)
    dirs[:, 1, 1] = 0.03 * np.clip(v[:, 1] - 0.08, 0.0, None) * finger  # longer fingers
    dirs[:, 0, 2] = 0.04 * (v[:, 0] - v[:, 0].mean())  # wider hand
    for b in range(3, 10):
        a = rng.normal(size=(3, 3)) * 0.004
        dirs[:, :, b] = v @ a.T
    return dirs


def _posedirs(v: np.ndarray, weights: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(778, 3, 135): small correctives, each joint's rotation moves its own vertices a bit."""
    dirs = np.zeros((N_VERTS, 3, 135))
    for j in range(1, N_MANO_JOINTS):
        a = rng.normal(size=(3, 9)) * 0.002
        dirs[:, :, 9 * (j - 1) : 9 * j] = weights[:, j, None, None] * a[None]
    return dirs


def _pose_basis(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """hands_mean (45,) a slight curl, hands_components (45, 45) orthonormal, first = curl."""
    curl = np.zeros((15, 3))
    curl[:12, 0] = -0.15  # fingers: flex towards the palm (about -x in the hand frame)
    curl[12:, 0] = -0.08
    curl[12:, 2] = 0.08
    mean = curl.reshape(-1)
    m = rng.normal(size=(45, 45))
    m[:, 0] = mean
    q, _ = np.linalg.qr(m)
    q[:, 0] *= np.sign(q[:, 0] @ mean)
    return mean, q.T.copy()  # rows are components, as in MANO


_MIRROR = np.array([-1.0, 1.0, 1.0])


def synthetic_mano_arrays(side: str = "right", seed: int = 0) -> dict[str, Any]:
    """The arrays of a synthetic MANO_RIGHT.pkl or MANO_LEFT.pkl (see the module docstring)."""
    rng = np.random.default_rng(seed)
    hand = _right_hand()
    v = hand["v_template"]
    shapedirs = _shapedirs(v, hand["weights"], rng)
    posedirs = _posedirs(v, hand["weights"], rng)
    mean, components = _pose_basis(rng)
    kintree = np.stack([KINTREE_PARENTS, np.arange(N_MANO_JOINTS)]).astype(np.int64)
    kintree[0, 0] = 4294967295  # as in the real files (uint32 -1)
    out: dict[str, Any] = {
        "v_template": v,
        "f": hand["f"].astype(np.uint32),
        "J_regressor": hand["J_regressor"],
        "weights": hand["weights"],
        "kintree_table": kintree,
        "shapedirs": shapedirs,
        "posedirs": posedirs,
        "hands_components": components,
        "hands_mean": mean,
        "hands_coeffs": rng.normal(size=(64, 45)) * 0.3,
        "bs_style": "lbs",
        "bs_type": "lrotmin",
    }
    if side == "left":
        # mirror: x of positions negated; axis-angle (a, b, c) -> (a, -b, -c); pose features
        # (R - I entries i, k) times m_i m_k; faces flipped to stay outward
        aa = np.array([1.0, -1.0, -1.0])
        m9 = np.outer(_MIRROR, _MIRROR).reshape(-1)
        out["v_template"] = v * _MIRROR
        out["f"] = out["f"][:, ::-1].copy()
        out["posedirs"] = posedirs * _MIRROR[None, :, None] * np.tile(m9, 15)[None, None, :]
        out["hands_mean"] = (mean.reshape(15, 3) * aa).reshape(-1)
        out["hands_components"] = (components.reshape(45, 15, 3) * aa).reshape(45, 45)
        # MANO's left-hand bug, reproduced: shapedirs' x component is NOT mirrored
        out["shapedirs"] = shapedirs.copy()
    elif side != "right":
        raise ValueError(f"side must be 'right' or 'left', got {side!r}")
    return out


def write_synthetic_mano(
    folder: str | os.PathLike[str], *, chumpy: bool = False, seed: int = 0
) -> Path:
    """Write MANO_RIGHT.pkl and MANO_LEFT.pkl into `folder` (created); returns the folder.

    The J_regressor is stored as a scipy sparse matrix, as in the real files. With `chumpy`,
    v_template, shapedirs, hands_components and hands_mean are pickled as `chumpy.ch.Ch`
    objects (protocol 2, like the real Python 2 pickles), which no plain unpickler can load
    without chumpy installed.
    """
    from scipy import sparse

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    for side in ("right", "left"):
        data: dict[str, object] = dict(synthetic_mano_arrays(side, seed))
        data["J_regressor"] = sparse.csc_matrix(data["J_regressor"])
        path = out / f"MANO_{side.upper()}.pkl"
        if not chumpy:
            with open(path, "wb") as fh:
                pickle.dump(data, fh, protocol=2)
            continue
        # a throw-away module tree named like chumpy's, only while pickling
        saved = {k: sys.modules.get(k) for k in ("chumpy", "chumpy.ch")}
        pkg = types.ModuleType("chumpy")
        mod = types.ModuleType("chumpy.ch")
        ch_cls = type("Ch", (), {"__module__": "chumpy.ch"})
        mod.Ch = ch_cls  # type: ignore[attr-defined]
        pkg.ch = mod  # type: ignore[attr-defined]
        sys.modules["chumpy"], sys.modules["chumpy.ch"] = pkg, mod
        try:
            for key in ("v_template", "shapedirs", "hands_components", "hands_mean"):
                obj: Any = object.__new__(ch_cls)
                obj.__dict__.update({"x": data[key], "_dirty_vars": set(), "label": None})
                data[key] = obj
            with open(path, "wb") as fh:
                pickle.dump(data, fh, protocol=2)
        finally:
            for k, m in saved.items():
                if m is None:
                    sys.modules.pop(k, None)
                else:
                    sys.modules[k] = m
    return out
