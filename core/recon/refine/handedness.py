"""Left and right kept consistent along the tracks: continuity first, then 3D chirality.

MediaPipe decides handedness per detection; when a hand is blurred, turned edge-on or half out
of the image it calls it by the other hand's label, or reports the same hand twice. Walking the
frames in order with each side's last position (mean 2D joint, at most `memory` frames old):

- two detections of the same hand on one frame (nearly the same joints, or one of them far
  from its own side's track and close to the other's): the one that continues its side's track
  is kept, the other dropped (the frame becomes a gap);
- a detection far from its side's last position but on the other side's: it is the other hand.
  It moves there when that slot is free on this frame, else it is dropped;
- two detections whose labels explain the motion worse than the swapped labels are swapped.

Then, per run of frames where only one side has the hand, the 3D chirality of the detector's
joints (`core.recon.lifting.chirality`: positive for a right hand) votes; a run whose confident
votes clearly say the other side moves there. Only predicted frames move; a frame where either
side is a constraint is left alone.
"""

from __future__ import annotations

import numpy as np

from core.labels.document import POSE_FIELDS, HandTrack, LabelDocument, Source
from core.recon.lifting import chirality
from core.recon.refine.problem import constraint_mask
from core.recon.refine.temporal import runs

#: a side's position is remembered this many frames
MEMORY = 12
#: chirality (metres) a frame needs to vote; and the fraction of votes that decides a run
_CHIRALITY_M = 0.012
_MAJORITY = 0.8


def _centre_size(uv: np.ndarray) -> tuple[np.ndarray, float]:
    return uv.mean(0), max(float(np.linalg.norm(uv.max(0) - uv.min(0))), 1.0)


def _dist(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b, axis=-1).mean())


def _free(track: HandTrack, idx: np.ndarray) -> np.ndarray:
    """Frames whose value may move between the sides: the detector's (or never written)."""
    s = track.source[idx]
    return ((s == Source.PREDICTED) | (s == Source.NONE)) & ~constraint_mask(track, idx)


def assign_by_continuity(doc: LabelDocument, frames: range) -> np.ndarray:
    """(2, N) for each side and frame of `frames`: which side's detection it gets
    (0 left, 1 right; -1: none)."""
    n = len(frames)
    idx = np.arange(frames.start, frames.stop)
    tr = doc.hands
    free = [_free(tr[h], idx) for h in (0, 1)]
    has = [tr[h].present[idx] & np.isfinite(tr[h].joints_2d[idx]).all(axis=(1, 2)) for h in (0, 1)]
    out = np.where(np.stack(has), np.array([[0], [1]]), -1)
    last: list[tuple[int, np.ndarray] | None] = [None, None]
    for k in range(n):
        f = idx[k]
        movable = free[0][k] and free[1][k]
        dets = {h: tr[h].joints_2d[f].astype(np.float64) for h in (0, 1) if has[h][k]}
        recent = [lp[1] if lp is not None and 0 < k - lp[0] <= MEMORY else None for lp in last]
        if movable and dets:
            assign = _decide(dets, recent)
            out[:, k] = -1
            for det_side, side in assign.items():
                out[side, k] = det_side
        for side in (0, 1):
            src = out[side, k]
            if src >= 0:
                last[side] = (k, tr[src].joints_2d[f].astype(np.float64))
    return out


def _decide(dets: dict[int, np.ndarray], recent: list[np.ndarray | None]) -> dict[int, int]:
    """Detection slot -> side, for one frame."""
    if len(dets) == 2:
        a, b = dets[0], dets[1]
        _, size = _centre_size(a)
        if _dist(a, b) < 0.15 * size:  # the same hand twice: keep the one that continues
            pick = 0 if recent[0] is not None else 1
            if recent[0] is not None and recent[1] is not None:
                pick = 0 if _dist(a, recent[0]) <= _dist(b, recent[1]) else 1
            side = pick
            r0, r1 = recent[0], recent[1]
            if r0 is not None and r1 is not None:
                side = 0 if _dist(dets[pick], r0) <= _dist(dets[pick], r1) else 1
            return {pick: side}
        for s in (0, 1):  # one slot took the other hand over: near it, far from its own track
            other = recent[1 - s]
            if other is None or _dist(dets[s], dets[1 - s]) > 0.5 * size:
                continue
            own = recent[s]
            d_own = _dist(dets[s], own) if own is not None else np.inf
            if d_own > 1.5 * size and _dist(dets[s], other) < 0.5 * size:
                return {1 - s: 1 - s}
        if recent[0] is not None and recent[1] is not None:
            keep = _dist(a, recent[0]) + _dist(b, recent[1])
            swap = _dist(a, recent[1]) + _dist(b, recent[0])
            if swap < 0.5 * keep:
                return {0: 1, 1: 0}
        return {0: 0, 1: 1}
    ((slot, uv),) = dets.items()
    _, size = _centre_size(uv)
    own, other = recent[slot], recent[1 - slot]
    if other is not None:
        d_other = _dist(uv, other)
        d_own = _dist(uv, own) if own is not None else np.inf
        if d_other < 0.5 * size and d_own > 1.5 * size:
            return {slot: 1 - slot}
    return {slot: slot}


def chirality_votes(doc: LabelDocument, frames: range, assign: np.ndarray) -> np.ndarray:
    """Flip runs where only one side has the hand and its chirality clearly says the other.
    A frame where either side is not a free predicted one (a constraint) ends a run: it never
    moves."""
    idx = np.arange(frames.start, frames.stop)
    tr = doc.hands
    movable = _free(tr[0], idx) & _free(tr[1], idx)
    out = assign.copy()
    for side in (0, 1):
        alone = (out[side] >= 0) & (out[1 - side] < 0) & movable
        for a, b in runs(alone):
            src = out[side, a:b]
            j = np.stack([doc.hands[s].joints_3d[f] for s, f in zip(src, idx[a:b], strict=True)])
            with np.errstate(invalid="ignore", divide="ignore"):  # degenerate joints: NaN, no vote
                c = chirality(j)
            vote = c[np.isfinite(c) & (np.abs(c) > _CHIRALITY_M)]
            if vote.size < max(3, 0.3 * (b - a)):
                continue
            says_right = float((vote > 0).mean())
            says = 1 if says_right >= _MAJORITY else 0 if says_right <= 1 - _MAJORITY else side
            if says != side:
                out[1 - side, a:b], out[side, a:b] = src, -1
    return out


def fix_handedness(doc: LabelDocument, frames: range) -> int:
    """Reassign predicted detections between the sides in `frames`; returns the number of
    (frame, side) values that changed."""
    idx = np.arange(frames.start, frames.stop)
    assign = chirality_votes(doc, frames, assign_by_continuity(doc, frames))
    base = np.where(
        np.stack([doc.hands[h].present[idx] & np.isfinite(doc.hands[h].joints_2d[idx]).all(axis=(1, 2))
                  for h in (0, 1)]), np.array([[0], [1]]), -1)  # fmt: skip
    changed = np.flatnonzero((assign != base).any(0))
    if changed.size == 0:
        return 0
    frames_c = idx[changed]
    old = [{k: getattr(doc.hands[h], k)[frames_c].copy() for k in POSE_FIELDS} for h in (0, 1)]
    count = 0
    for side in (0, 1):
        src = assign[side, changed]
        values = {k: old[side][k].copy() for k in POSE_FIELDS}
        for i, s in enumerate(src):
            if s < 0:
                values["present"][i] = False
                values["confidence"][i] = 0.0
            else:
                for k in POSE_FIELDS:
                    values[k][i] = old[s][k][i]
        diff = src != base[side, changed]
        count += int(diff.sum())
        doc.write(side, frames_c[diff], {k: v[diff] for k, v in values.items()})
    return count
