"""From a label document to the fit's per-hand problems: which frames are solved, held or left
out, where the 2D evidence is, the skeleton, and the starting pose of every solved frame.

Frame roles (per hand, docs/reconstructors.md):
- **constraint**: source EDITED or IMPORTED, reviewed, or a keyframe, and every frame outside
  the refined range. Present with 3D joints: FIXED (the fit passes through it, nothing is
  written); otherwise a barrier (NONE) no gap is filled across.
- **evidence**: a predicted, present frame with finite 2D joints: ACTIVE, with a 2D term.
- **gap**: any other frame in a run of at most `max_gap` frames with evidence or a fixed frame
  on both sides: ACTIVE without a 2D term, filled by the fit (written as interpolated).
- **edge**: up to `edge_frames` frames just after a run of the hand ends (or just before one
  starts) that no short gap covers: ACTIVE without a 2D term, continued by the fit's motion
  prior; the driver keeps them only where the continued hand crosses the image border (a
  hand leaving or entering the picture), else drops them.
- everything else (long gaps, leading/trailing absence): NONE, left as it is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from core.edits.interpolate import slerp_axis_angle
from core.hands.rotations import axis_angle_to_matrix, matrix_to_axis_angle
from core.hands.threads import single_thread
from core.labels.document import HandTrack, LabelDocument, Source
from core.recon.refine.kinematics import forward, inverse, place, skeleton_tensors
from core.recon.refine.modes import ACTIVE, FIXED, NONE
from core.recon.refine.shape import TrackSkeleton, estimate_skeleton
from core.recon.refine.solve import HandProblem
from core.recon.refine.temporal import runs

#: at most this many frames (spread over the track) estimate a skeleton: bounded memory
_SKELETON_FRAMES = 2000


def constraint_mask(track: HandTrack, frames: np.ndarray) -> np.ndarray:
    """Frames a person stands behind: never changed by refinement."""
    s = track.source[frames]
    return (
        (s == Source.EDITED)
        | (s == Source.IMPORTED)
        | track.reviewed[frames]
        | track.keyframe[frames]
    )


def evidence_mask(track: HandTrack, frames: np.ndarray) -> np.ndarray:
    """Predicted, present frames with at least one finite 2D joint (before constraints)."""
    finite2d = np.isfinite(track.joints_2d[frames]).all(-1).any(-1)
    return track.present[frames] & (track.source[frames] == Source.PREDICTED) & finite2d


def track_skeleton(track: HandTrack, side: int) -> TrackSkeleton | None:
    """The skeleton of a whole track, from its predicted frames (else its constraint frames)."""
    n = track.n_frames
    frames = np.arange(n)
    ev = evidence_mask(track, frames) & ~constraint_mask(track, frames)
    for sel in (ev, track.present):
        idx = np.flatnonzero(sel & np.isfinite(track.joints_3d).all(axis=(1, 2)))
        if idx.size == 0:
            continue
        if idx.size > _SKELETON_FRAMES:
            idx = idx[np.linspace(0, idx.size - 1, _SKELETON_FRAMES).astype(int)]
        weights = np.clip(track.confidence[idx].astype(np.float64), 1e-3, None)
        skel = estimate_skeleton(track.joints_3d[idx], weights, side)
        if skel is not None:
            return skel
    return None


def short_gaps(inside: np.ndarray, barrier: np.ndarray, max_gap: int) -> np.ndarray:
    """(N,) frames in runs of not-`inside` frames no longer than `max_gap`, with `inside` frames
    on both sides and no barrier frame in the run."""
    out = np.zeros(len(inside), bool)
    if max_gap <= 0:
        return out
    idx = np.flatnonzero(inside)
    for a, b in zip(idx[:-1], idx[1:], strict=True):
        if 1 < b - a <= max_gap + 1 and not barrier[a + 1 : b].any():
            out[a + 1 : b] = True
    return out


def edge_runs(inside: np.ndarray, blocked: np.ndarray, edge_frames: int) -> np.ndarray:
    """(N,) int8: +1 on frames within `edge_frames` after the end of a run of `inside` frames,
    -1 on frames within `edge_frames` before the start of one (0 elsewhere); a run of them stops
    at `blocked` frames and at other `inside` frames (where both reach a frame, +1 wins)."""
    out = np.zeros(len(inside), np.int8)
    if edge_frames <= 0 or not inside.any():
        return out
    free = ~inside & ~blocked
    n = len(inside)
    for start, stop in runs(inside):
        for step, f in ((-1, start - 1), (1, stop)):
            for _ in range(edge_frames):
                if not 0 <= f < n or not free[f]:
                    break
                out[f] = step
                f += step
    return out


@dataclass
class Built:
    """A hand's problem plus what the driver needs to write the result back."""

    problem: HandProblem
    evidence: np.ndarray  #: (N,) ACTIVE frames with 2D evidence
    gap: np.ndarray  #: (N,) ACTIVE frames filled without evidence (short gaps)
    edge: np.ndarray  #: (N,) int8 ACTIVE frames continuing a track past its ends (edge_runs)


def build_problem(
    doc: LabelDocument, h: int, window: np.ndarray, writable: np.ndarray,
    skeleton: TrackSkeleton | None, max_gap: int, edge_frames: int = 0,
) -> Built:  # fmt: skip
    """The problem of hand `h` over `window` (frame indices); only `writable` frames may be
    solved (the refined range; the rest of the window is context)."""
    track = doc.hands[h]
    n = len(window)
    joints3d = track.joints_3d[window].astype(np.float64)
    uv = track.joints_2d[window].astype(np.float64)
    has3d = track.present[window] & np.isfinite(joints3d).all(axis=(1, 2))
    constraint = constraint_mask(track, window) | ~writable
    evidence = evidence_mask(track, window) & ~constraint
    fixed = constraint & has3d
    barrier = constraint & ~has3d
    mode = np.full(n, NONE, np.int8)
    gap = np.zeros(n, bool)
    edge = np.zeros(n, np.int8)
    if skeleton is not None:
        mode[fixed] = FIXED
        mode[evidence] = ACTIVE
        gap = short_gaps(evidence | fixed, barrier, max_gap) & ~constraint
        mode[gap] = ACTIVE
        # edges continue a solved run into frames without the hand, never over a present one
        edge = edge_runs(evidence | fixed | gap, constraint | track.present[window], edge_frames)
        mode[edge != 0] = ACTIVE
    w2d = np.where(evidence[:, None] & np.isfinite(uv).all(-1), 1.0, 0.0)
    w2d *= np.clip(track.confidence[window].astype(np.float64), 0.05, 1.0)[:, None]
    R0 = np.tile(np.eye(3), (n, 1, 1))
    t0 = np.zeros((n, 3))
    angles0 = np.zeros((n, 5, 3, 2))
    if skeleton is not None and (mode == ACTIVE).any():
        with single_thread():  # small tensors: extra threads only cost (core/hands/threads.py)
            _initial_pose(
                joints3d, uv, w2d, has3d, evidence, fixed, mode, skeleton, doc.K, R0, t0, angles0
            )
    problem = HandProblem(skeleton, mode, uv, w2d, joints3d, R0, t0, angles0)
    return Built(problem, evidence & (mode == ACTIVE), gap, edge)


def _initial_pose(
    joints3d: np.ndarray, uv: np.ndarray, w2d: np.ndarray, has3d: np.ndarray,
    evidence: np.ndarray, fixed: np.ndarray, mode: np.ndarray, skeleton: TrackSkeleton,
    K: np.ndarray, R0: np.ndarray, t0: np.ndarray, angles0: np.ndarray,
) -> None:  # fmt: skip
    """Fill R0, t0, angles0 in place: closed-form pose of frames with 3D joints, translation
    from the 2D joints with the track's skeleton, interpolation for the other solved frames."""
    known = (evidence | fixed) & has3d
    idx = np.flatnonzero(known)
    if idx.size == 0:
        return
    R, ang = inverse(joints3d[idx], skeleton)
    skel = skeleton_tensors([skeleton])
    local = forward(
        torch.as_tensor(R)[None], torch.zeros(1, idx.size, 3, dtype=torch.float64),
        torch.as_tensor(ang)[None], skel,
    )[0].numpy()  # fmt: skip
    t = joints3d[idx, 0].copy()
    ev = evidence[idx] & (w2d[idx].sum(-1) > 0)
    if ev.any():
        t[ev] = place(local[ev], uv[idx][ev], w2d[idx][ev], K)
    R0[idx], t0[idx], angles0[idx] = R, t, ang
    todo = np.flatnonzero((mode == ACTIVE) & ~known)
    if todo.size == 0:
        return
    pos = np.searchsorted(idx, todo)
    lo = idx[np.clip(pos - 1, 0, idx.size - 1)]
    hi = idx[np.clip(pos, 0, idx.size - 1)]
    span = np.maximum(hi - lo, 1)
    s = np.clip((todo - lo) / span, 0.0, 1.0)
    t0[todo] = (1 - s)[:, None] * t0[lo] + s[:, None] * t0[hi]
    angles0[todo] = (1 - s)[:, None, None, None] * angles0[lo] + s[:, None, None, None] * angles0[
        hi
    ]
    aa_lo, aa_hi = matrix_to_axis_angle(R0[lo]), matrix_to_axis_angle(R0[hi])
    for k, f in enumerate(todo):
        aa = slerp_axis_angle(aa_lo[k], aa_hi[k], np.array([s[k]]))[0]
        R0[f] = axis_angle_to_matrix(aa)
