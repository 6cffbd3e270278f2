"""A simple closed hand mesh built from 21 joints, for when no MANO model is available.

Every bone is a tapered capsule, the palm is a slab spanned by the wrist and the finger bases,
and a short stub continues the hand past the wrist. The topology is fixed: `SIMPLE_HAND_FACES`
is the same for every frame and vertices are a function of the joints only, so a 3D view can
write new vertex positions into an existing mesh per frame. Faces are wound counter-clockwise
seen from outside, for the left and the right hand alike (the frames are built from cross
products of joint differences, which mirroring leaves oriented). NaN joints give NaN vertices.

Radii scale with the hand's size (wrist to middle knuckle), so a small hand gets thin fingers.
"""

from __future__ import annotations

import numpy as np

from core.hands.rotations import normalize
from core.labels.joints import BONES, MIDDLE_MCP, N_JOINTS, WRIST

#: vertices around each capsule ring
N_AROUND = 10
#: wrist to middle knuckle of the default hand the radii below are made for (metres)
_REF_PALM = 0.094
#: capsule radius at each joint for the reference hand (metres)
JOINT_RADII: np.ndarray = np.array(
    [0.0150]
    + [0.0145, 0.0110, 0.0095, 0.0085]  # thumb
    + [0.0105, 0.0090, 0.0080, 0.0070]  # index
    + [0.0108, 0.0093, 0.0082, 0.0072]  # middle
    + [0.0102, 0.0088, 0.0078, 0.0068]  # ring
    + [0.0092, 0.0078, 0.0070, 0.0062],  # little
)
#: half thickness of the palm slab (metres, reference hand)
_PALM_HALF = 0.0120
#: length and radius of the stub beyond the wrist (metres, reference hand)
_STUB_LENGTH = 0.035
_STUB_RADIUS = 0.021
#: per bone, factor on the parent joint's radius (metacarpals start thin inside the palm)
_START_SCALE: np.ndarray = np.array([1.0 if p != WRIST or c == 1 else 0.6 for p, c in BONES])
#: joints on the palm outline, in order around the palm (wrist corners are added)
_PALM_OUTLINE_JOINTS = (1, 5, 9, 13, 17)


def capsule_faces(n_caps: int, n_around: int = N_AROUND) -> tuple[int, np.ndarray]:
    """(vertices per capsule, faces) of `n_caps` capsules laid out as `capsule_vertices` makes
    them: 4 rings of `n_around` vertices, then the two poles."""
    per = 4 * n_around + 2
    k = np.arange(n_around)
    k1 = (k + 1) % n_around
    faces = []
    for r in range(3):  # ring strips between rings r and r + 1
        a, b = r * n_around + k, r * n_around + k1
        c, e = (r + 1) * n_around + k1, (r + 1) * n_around + k
        faces.append(np.stack([a, b, c], 1))
        faces.append(np.stack([a, c, e], 1))
    start, end = 4 * n_around, 4 * n_around + 1
    faces.append(np.stack([np.full(n_around, start), k1, k], 1))
    faces.append(np.stack([np.full(n_around, end), 3 * n_around + k, 3 * n_around + k1], 1))
    one = np.concatenate(faces)
    return per, np.concatenate([one + i * per for i in range(n_caps)])


def _cross(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """np.cross over the last axis without its axis juggling (this mesh is rebuilt per frame
    in the 3D view, where np.cross's overhead on small arrays was a third of the time)."""
    x, y = np.broadcast_arrays(x, y)
    out = np.empty(x.shape, np.result_type(x, y))
    out[..., 0] = x[..., 1] * y[..., 2] - x[..., 2] * y[..., 1]
    out[..., 1] = x[..., 2] * y[..., 0] - x[..., 0] * y[..., 2]
    out[..., 2] = x[..., 0] * y[..., 1] - x[..., 1] * y[..., 0]
    return out


def capsule_vertices(
    a: np.ndarray, b: np.ndarray, ra: np.ndarray, rb: np.ndarray, ref: np.ndarray
) -> np.ndarray:
    """Vertices (..., C, 4 * N_AROUND + 2, 3) of capsules from a to b (..., C, 3) with end radii
    ra, rb (..., C); `ref` (..., C, 3) fixes the rings' start angle (any vector not along b - a).
    """
    d = normalize(b - a)
    u = _cross(d, ref)
    weak = np.linalg.norm(u, axis=-1, keepdims=True) < 1e-3
    alt = np.where(np.abs(d[..., :1]) < 0.9, np.array([1.0, 0, 0]), np.array([0, 1.0, 0]))
    u = normalize(np.where(weak, _cross(d, alt), u))
    v = _cross(d, u)
    phi = 2 * np.pi * np.arange(N_AROUND) / N_AROUND
    circle = np.cos(phi)[:, None] * u[..., None, :] + np.sin(phi)[:, None] * v[..., None, :]
    ra_, rb_ = ra[..., None, None], rb[..., None, None]
    d_ = d[..., None, :]
    rings = [
        a[..., None, :] - 0.7 * ra_ * d_ + 0.71 * ra_ * circle,
        a[..., None, :] + ra_ * circle,
        b[..., None, :] + rb_ * circle,
        b[..., None, :] + 0.7 * rb_ * d_ + 0.71 * rb_ * circle,
    ]
    poles = [a[..., None, :] - ra_ * d_, b[..., None, :] + rb_ * d_]
    return np.concatenate(rings + poles, axis=-2)


# ---------------------------------------------------------------------------- fixed topology
_N_CAPS = len(BONES) + 1  # 20 bones and the wrist stub
_CAP_VERTS, _CAP_FACES = capsule_faces(_N_CAPS)
_N_OUT = len(_PALM_OUTLINE_JOINTS) + 2  # + two wrist corners


def _palm_faces(offset: int) -> np.ndarray:
    n = _N_OUT
    top_c, bot_c = offset + 2 * n, offset + 2 * n + 1
    i = np.arange(n)
    j = (i + 1) % n
    top = np.stack([np.full(n, top_c), offset + j, offset + i], 1)
    bottom = np.stack([np.full(n, bot_c), offset + n + i, offset + n + j], 1)
    side1 = np.stack([offset + i, offset + n + j, offset + n + i], 1)
    side2 = np.stack([offset + i, offset + j, offset + n + j], 1)
    return np.concatenate([top, bottom, side1, side2])


_PALM_OFFSET = _CAP_VERTS * _N_CAPS
#: (F, 3) int32 triangle indices, the same for every frame and both hands
SIMPLE_HAND_FACES: np.ndarray = np.concatenate([_CAP_FACES, _palm_faces(_PALM_OFFSET)]).astype(
    np.int32
)
#: number of vertices of the simple mesh
N_SIMPLE_VERTICES: int = _PALM_OFFSET + 2 * _N_OUT + 2


def hand_scale(joints: np.ndarray) -> np.ndarray:
    """(...) size of each hand relative to the reference hand (wrist to middle knuckle)."""
    palm = np.linalg.norm(joints[..., MIDDLE_MCP, :] - joints[..., WRIST, :], axis=-1)
    return np.clip(palm / _REF_PALM, 0.3, 3.0)


def simple_hand_mesh(joints: np.ndarray) -> np.ndarray:
    """Vertices (..., N_SIMPLE_VERTICES, 3) of the simple mesh for joints (..., 21, 3).

    Faces are `SIMPLE_HAND_FACES`. Works on any leading shape (frames, hands).
    """
    j = np.asarray(joints, dtype=np.float64)
    if j.shape[-2:] != (N_JOINTS, 3):
        raise ValueError(f"joints must be shaped (..., 21, 3), got {j.shape}")
    lead = j.shape[:-2]
    s = hand_scale(j)[..., None]  # (..., 1)
    wrist = j[..., WRIST, :]
    axis = normalize(j[..., MIDDLE_MCP, :] - wrist)  # wrist -> middle knuckle
    across = normalize(j[..., 5, :] - j[..., 17, :])  # little -> index knuckle
    normal = normalize(_cross(axis, across))  # palm normal (side depends on handedness)

    parents = np.array([p for p, _ in BONES])
    children = np.array([c for _, c in BONES])
    a = np.concatenate([j[..., parents, :], wrist[..., None, :]], axis=-2)
    b = np.concatenate(
        [j[..., children, :], (wrist - axis * _STUB_LENGTH * s)[..., None, :]], axis=-2
    )
    radii = JOINT_RADII * s
    # metacarpals start thin at the wrist so they stay inside the palm slab
    ra = np.concatenate([radii[..., parents] * _START_SCALE, (_STUB_RADIUS * s)], axis=-1)
    rb = np.concatenate([radii[..., children], (_STUB_RADIUS * 1.05 * s)], axis=-1)
    ref = np.broadcast_to(normal[..., None, :], a.shape)
    caps = capsule_vertices(a, b, ra, rb, ref).reshape(*lead, _CAP_VERTS * _N_CAPS, 3)

    # palm outline: wrist corners, then thumb base and the knuckles, pushed outwards a little
    half_w = 0.017 * s
    outline = np.concatenate(
        [
            (wrist + across * half_w)[..., None, :],
            j[..., list(_PALM_OUTLINE_JOINTS), :],
            (wrist - across * half_w)[..., None, :],
        ],
        axis=-2,
    )
    centre = outline.mean(axis=-2, keepdims=True)
    outline = outline + 0.004 * s[..., None] * normalize(outline - centre)
    off = (_PALM_HALF * s)[..., None] * normal[..., None, :]
    palm = np.concatenate([outline + off, outline - off, centre + off, centre - off], axis=-2)
    return np.concatenate([caps, palm], axis=-2)
