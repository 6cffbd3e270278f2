"""Detectors that look at both hands together: left/right swaps and interpenetration.

Swaps: between two frames, if assigning each hand to the *other* hand's previous position
explains the motion much better than keeping the labels, the labels were exchanged there. The
labels then stay exchanged until the next such event; the frames in the minority labelling are
the swap segment (reported on both hands). A single hand jumping onto the other hand's previous
position (one track taking over the other hand) is a swap of that hand only, until its next jump.

Interpenetration: with a MANO model and MANO parameters on both hands, the depth of one hand's
mesh vertices inside the other hand's mesh; otherwise both skeletons as capsules (bones with a
radius, a thicker palm) and the deepest overlap of a left capsule with a right capsule, in mm.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from core.analysis.segments import Segment, runs
from core.analysis.thresholds import Thresholds
from core.labels.document import LabelDocument
from core.labels.joints import BONES

if TYPE_CHECKING:
    from core.hands.mano import ManoModel

#: capsules: every bone, plus the knuckle line across the palm
CAPSULES: tuple[tuple[int, int], ...] = (*BONES, (5, 9), (9, 13), (13, 17))
_PALM = {(0, 1), (0, 5), (0, 9), (0, 13), (0, 17), (5, 9), (9, 13), (13, 17)}


def _valid(doc: LabelDocument) -> np.ndarray:
    """(2, T) hand present with all 3D joints known."""
    return np.stack([t.present & np.isfinite(t.joints_3d).all(axis=(1, 2)) for t in doc.hands])


def hand_centres(doc: LabelDocument) -> tuple[np.ndarray, np.ndarray]:
    """(2, T, 3) mean joint position of each hand (NaN where invalid) and (2, T) validity."""
    ok = _valid(doc)
    c = np.stack([t.joints_3d.astype(np.float64).mean(axis=1) for t in doc.hands])
    c[~ok] = np.nan
    return c, ok


def swap_segments(doc: LabelDocument, th: Thresholds) -> tuple[list[Segment], np.ndarray]:
    """Swap segments and the (2, T) swap score lane (segment score inside, 0 elsewhere)."""
    n = doc.n_frames
    lane = np.full((2, n), np.nan)
    c, ok = hand_centres(doc)
    lane[ok] = 0.0
    if n < 2:
        return [], lane
    dist = lambda a, b: np.linalg.norm(a - b, axis=-1)  # noqa: E731
    L0, L1, R0, R1 = c[0, :-1], c[0, 1:], c[1, :-1], c[1, 1:]
    with np.errstate(invalid="ignore"):
        d_same = dist(L1, L0) + dist(R1, R0)
        d_swap = dist(L1, R0) + dist(R1, L0)
        both = ok[0, :-1] & ok[0, 1:] & ok[1, :-1] & ok[1, 1:]
        pair_score = np.where(
            both & (d_same > 2 * th.swap_min_jump),
            d_same / (th.swap_ratio * np.maximum(d_swap, 1e-3)),
            0.0,
        )
    # event[t] for the step t-1 -> t
    pair_event = np.zeros(n, bool)
    pair_event[1:] = pair_score > 1.0
    ev_score = np.zeros(n)
    ev_score[1:] = pair_score
    segments: list[Segment] = []

    # pair swaps: parity of the labelling, minority parity = swapped
    state = np.cumsum(pair_event) % 2
    any_ok = ok[0] | ok[1]
    both_ok = ok[0] & ok[1]
    weight = both_ok if both_ok.any() else any_ok
    majority = int(state[weight].mean() > 0.5) if weight.any() else 0
    for a, b in runs((state != majority) & any_ok):
        edges = [ev_score[a]] + ([ev_score[b + 1]] if b + 1 < n else [])
        score = float(max(edges))
        if score <= 1.0:
            continue
        for h in range(2):
            segments.append(Segment(h, a, b, "lr_swap", score))
            lane[h, a : b + 1] = score

    # one hand jumping onto the other's previous position
    for h in range(2):
        X, Y = c[h], c[1 - h]
        with np.errstate(invalid="ignore"):
            jump = dist(X[1:], X[:-1])
            to_other = dist(X[1:], Y[:-1])
            single = np.where(
                ok[h, 1:] & ok[h, :-1] & ok[1 - h, :-1] & (jump > th.swap_min_jump),
                jump / (th.swap_ratio * np.maximum(to_other, 1e-3)),
                0.0,
            )
        for t in np.flatnonzero(single > 1.0) + 1:
            if pair_event[t] or any(s.hand == h and s.start <= t <= s.end for s in segments):
                continue
            end = t
            while end + 1 < n and ok[h, end + 1] and jump[end] <= th.swap_min_jump:
                end += 1
            score = float(single[t - 1])
            segments.append(Segment(h, int(t), int(end), "lr_swap", score))
            lane[h, t : end + 1] = score
    return segments, lane


def segment_distances(p1: np.ndarray, q1: np.ndarray, p2: np.ndarray, q2: np.ndarray) -> np.ndarray:
    """Shortest distances between segments p1-q1 and p2-q2 (broadcast over leading axes)."""
    eps = 1e-12
    d1, d2, r = q1 - p1, q2 - p2, p1 - p2
    a = np.sum(d1 * d1, -1)
    e = np.sum(d2 * d2, -1)
    f = np.sum(d2 * r, -1)
    c = np.sum(d1 * r, -1)
    b = np.sum(d1 * d2, -1)
    denom = a * e - b * b
    s = np.where(denom > eps, np.clip((b * f - c * e) / np.maximum(denom, eps), 0.0, 1.0), 0.0)
    t = (b * s + f) / np.maximum(e, eps)
    s = np.where(t < 0, np.clip(-c / np.maximum(a, eps), 0.0, 1.0), s)
    s = np.where(t > 1, np.clip((b - c) / np.maximum(a, eps), 0.0, 1.0), s)
    t = np.clip(t, 0.0, 1.0)
    # degenerate segments (points): closest point on the other segment
    point2 = e <= eps
    s = np.where(point2, np.clip(-c / np.maximum(a, eps), 0.0, 1.0), s)
    t = np.where(point2, 0.0, t)
    point1 = a <= eps
    s = np.where(point1, 0.0, s)
    t = np.where(point1 & ~point2, np.clip(f / np.maximum(e, eps), 0.0, 1.0), t)
    diff = (p1 + d1 * s[..., None]) - (p2 + d2 * t[..., None])
    return np.linalg.norm(diff, axis=-1)


def penetration_depth_mm(doc: LabelDocument, th: Thresholds, chunk: int = 2048) -> np.ndarray:
    """(T,) deepest overlap (mm) of a left capsule with a right capsule; NaN unless both hands
    are present; negative when the hands are apart.

    Frames whose bounding spheres are apart by more than two capsule radii cannot touch: they
    get minus that clearance (an upper bound of the depth) without the 23 x 23 capsule test.
    """
    ok = _valid(doc)
    both = ok[0] & ok[1]
    out = np.full(doc.n_frames, np.nan)
    if not both.any():
        return out
    idx_a = np.array([a for a, _ in CAPSULES])
    idx_b = np.array([b for _, b in CAPSULES])
    radius = (
        np.array([th.palm_radius_mm if c in _PALM else th.finger_radius_mm for c in CAPSULES])
        / 1000.0
    )
    frames = np.flatnonzero(both)
    L = doc.hands[0].joints_3d[frames].astype(np.float64)
    R = doc.hands[1].joints_3d[frames].astype(np.float64)
    cl, cr = L.mean(axis=1), R.mean(axis=1)
    rl = np.linalg.norm(L - cl[:, None], axis=-1).max(axis=1)
    rr = np.linalg.norm(R - cr[:, None], axis=-1).max(axis=1)
    clearance = np.linalg.norm(cl - cr, axis=-1) - rl - rr - 2 * radius.max()
    out[frames] = -clearance * 1000.0
    near = np.flatnonzero(clearance <= 0)
    for k in range(0, near.size, chunk):
        sel = near[k : k + chunk]
        Ls, Rs = L[sel], R[sel]
        d = segment_distances(
            Ls[:, idx_a, None, :],
            Ls[:, idx_b, None, :],
            Rs[:, None, idx_a, :],
            Rs[:, None, idx_b, :],
        )  # (N, C, C)
        depth = radius[:, None] + radius[None, :] - d
        out[frames[sel]] = depth.reshape(depth.shape[0], -1).max(axis=1) * 1000.0
    return out


def mesh_penetration_depth_mm(
    doc: LabelDocument, mano: ManoModel, th: Thresholds, contact_mm: float = 30.0
) -> np.ndarray:
    """(T,) deepest penetration (mm) of one MANO hand mesh into the other, on frames where both
    hands are present with MANO parameters; NaN elsewhere; negative (minus the closest vertex
    distance) when the meshes are apart.

    A vertex of one hand is inside the other when it lies behind the outward normal of the
    other hand's nearest vertex (within `contact_mm`); its depth is that distance along the
    normal. Both directions are tested. Frames whose vertex bounding spheres are apart are not
    tested vertex by vertex.
    """
    from scipy.spatial import cKDTree

    from core.render.raster import vertex_normals

    out = np.full(doc.n_frames, np.nan)
    ok = [t.present & t.has_mano() for t in doc.hands]
    frames = np.flatnonzero(ok[0] & ok[1])
    if not frames.size:
        return out
    fields = ("global_orient", "hand_pose", "betas", "transl")
    verts = [
        mano.vertices(h, {k: getattr(doc.hands[h], k)[frames] for k in fields}) for h in (0, 1)
    ]
    centres = [v.mean(axis=1) for v in verts]
    radii = [
        np.linalg.norm(v - c[:, None], axis=-1).max(axis=1)
        for v, c in zip(verts, centres, strict=True)
    ]
    gap = np.linalg.norm(centres[0] - centres[1], axis=-1) - radii[0] - radii[1]
    out[frames] = -gap * 1000.0
    reach = contact_mm / 1000.0
    for i in np.flatnonzero(gap <= 0):
        deepest = -np.inf
        closest = np.inf
        for a, b in ((0, 1), (1, 0)):
            va, vb = verts[a][i], verts[b][i]
            nb = vertex_normals(vb, mano.faces[b])
            dist, idx = cKDTree(vb).query(va)
            closest = min(closest, float(dist.min()))
            along = np.sum((va - vb[idx]) * nb[idx], axis=-1)
            inside = (along < 0) & (dist < reach)
            if inside.any():
                deepest = max(deepest, float((-along[inside]).max()))
        out[frames[i]] = deepest * 1000.0 if np.isfinite(deepest) else -closest * 1000.0
    return out


def interpenetration_scores(
    doc: LabelDocument, th: Thresholds, mano: ManoModel | None = None
) -> np.ndarray:
    """(2, T) penetration depth over its threshold (0 when apart), the same for both hands.

    With a MANO model, frames where both hands have MANO parameters use the meshes; the others
    (and every frame without a model) use the capsules.
    """
    depth = penetration_depth_mm(doc, th)
    if mano is not None:
        mesh = mesh_penetration_depth_mm(doc, mano, th)
        depth = np.where(np.isfinite(mesh), mesh, depth)
    score = np.where(np.isfinite(depth), np.maximum(depth, 0.0) / th.penetration_mm, np.nan)
    return np.stack([score, score])
