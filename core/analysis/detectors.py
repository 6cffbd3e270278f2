"""Failure detectors on one document: per hand and frame scores, and segments above threshold.

Each detector returns a (2, T) score array (hand x frame): the measured value divided by its
threshold (see core/analysis/thresholds.py and docs/failure-analysis.md), NaN where it is not
defined (hand absent, missing joints). `detect(doc)` runs them all and turns the scores into
segments. Single-hand detectors live here; the two-hand ones (swaps, interpenetration) in
core/analysis/two_hands.py.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from core.analysis.segments import Segment, runs, segments_from_scores
from core.analysis.thresholds import Thresholds
from core.analysis.two_hands import interpenetration_scores, swap_segments
from core.camera import project
from core.hands.skeleton import bone_lengths
from core.labels.document import HandTrack, LabelDocument
from core.labels.joints import HAND_NAMES

if TYPE_CHECKING:
    from core.hands.mano import ManoModel

MM = 1000.0

#: every kind a detector reports, in the order reports list them
KINDS: tuple[str, ...] = (
    "lr_swap",
    "accel_spike",
    "jitter",
    "bone_length",
    "interpenetration",
    "reprojection",
    "dropout",
    "low_confidence",
    "leaving_frame",
)
#: kinds that describe a hard situation rather than an error of the labels: they also fire on
#: correct ground truth (a hand does leave the frame)
CONTEXT_KINDS: frozenset[str] = frozenset({"leaving_frame"})

KIND_DESCRIPTIONS: dict[str, str] = {
    "lr_swap": "left and right hands exchange places or labels",
    "accel_spike": "a sudden jump of the whole hand (acceleration spike)",
    "jitter": "sustained frame-to-frame shaking",
    "bone_length": "a bone longer or shorter than the track's own median",
    "interpenetration": "the two hands pass through each other",
    "reprojection": "3D joints do not project onto the 2D joints",
    "dropout": "the hand vanishes for a few frames inside a track",
    "low_confidence": "the reconstructor is unsure",
    "leaving_frame": "the hand leaves the image just before it is lost",
}


@dataclass
class Detections:
    """Scores (kind -> (2, T)) and segments above threshold for one document."""

    n_frames: int
    scores: dict[str, np.ndarray]
    segments: list[Segment]
    thresholds: Thresholds = field(default_factory=Thresholds)

    def counts(self) -> dict[str, int]:
        return {k: sum(1 for s in self.segments if s.kind == k) for k in KINDS}

    def ranked(self) -> list[Segment]:
        """Segments by decreasing score."""
        return sorted(self.segments, key=lambda s: (-s.score, s.start, s.hand))

    def to_json(self) -> list[dict[str, Any]]:
        return [s.to_json() for s in sorted(self.segments, key=lambda s: (s.start, s.hand, s.kind))]

    def frame_score(self) -> np.ndarray:
        """(T,) the largest score of any error kind on each frame (0 where none)."""
        out = np.zeros(self.n_frames)
        for k, s in self.scores.items():
            if k not in CONTEXT_KINDS:
                out = np.fmax(out, np.nan_to_num(s, nan=0.0).max(axis=0))
        return out


# ----------------------------------------------------------------------------------- helpers
def valid_3d(track: HandTrack) -> np.ndarray:
    """(T,) present with all 3D joints known."""
    return track.present & np.isfinite(track.joints_3d).all(axis=(1, 2))


def joints_2d_or_projected(track: HandTrack, K: np.ndarray) -> np.ndarray:
    """(T, 21, 2) the 2D joints, or the projection of the 3D joints where 2D is missing."""
    j2 = track.joints_2d.astype(np.float64)
    missing = ~np.isfinite(j2).all(axis=(1, 2))
    if missing.any():
        j2 = j2.copy()
        j2[missing] = project(track.joints_3d[missing], K)
    return j2


def acceleration_mm(track: HandTrack) -> np.ndarray:
    """(T,) median over joints of the norm of the second difference of joints_3d, mm/frame^2;
    NaN unless the hand is valid at t-1, t and t+1."""
    ok = valid_3d(track)
    n = track.n_frames
    out = np.full(n, np.nan)
    if n < 3:
        return out
    j = track.joints_3d.astype(np.float64)
    acc = np.linalg.norm(j[2:] - 2 * j[1:-1] + j[:-2], axis=-1)  # (T-2, 21)
    triple = ok[2:] & ok[1:-1] & ok[:-2]
    med = np.median(acc, axis=1) * MM
    out[1:-1] = np.where(triple, med, np.nan)
    return out


def _rolling_median(x: np.ndarray, window: int) -> np.ndarray:
    """Median over a centred window of `window` frames, ignoring NaN; NaN where x is NaN."""
    w = max(1, int(window))
    if x.size == 0:
        return x.astype(np.float64)
    half = w // 2
    padded = np.concatenate([np.full(half, np.nan), x, np.full(w - 1 - half, np.nan)])
    view = np.lib.stride_tricks.sliding_window_view(padded, w)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN windows give NaN
        med = np.nanmedian(view, axis=1)
    return np.where(np.isfinite(x), med, np.nan)


# ------------------------------------------------------------------------- single-hand scores
def shake_mm(track: HandTrack) -> np.ndarray:
    """(T,) median over joints of the part of the acceleration that does not follow its
    neighbours, || a[t] - (a[t-1] + a[t+1]) / 2 ||, mm/frame^2 (NaN unless defined).

    Smooth motion has accelerations that change slowly, so this is small for it even when the
    hand moves fast (a 1 Hz motion at 30 fps keeps 4 % of its acceleration), while noise keeps
    most of it: it separates jitter from vigorous but smooth motion.
    """
    ok = valid_3d(track)
    n = track.n_frames
    out = np.full(n, np.nan)
    if n < 5:
        return out
    j = track.joints_3d.astype(np.float64)
    acc = j[2:] - 2 * j[1:-1] + j[:-2]  # acc[k] is at frame k + 1
    hp = acc[1:-1] - 0.5 * (acc[:-2] + acc[2:])  # at frames 2 .. n-3
    good = ok[:-4] & ok[1:-3] & ok[2:-2] & ok[3:-1] & ok[4:]
    med = np.median(np.linalg.norm(hp, axis=-1), axis=1) * MM
    out[2:-2] = np.where(good, med, np.nan)
    return out


def motion_scores(track: HandTrack, th: Thresholds) -> tuple[np.ndarray, np.ndarray]:
    """(jitter, spike) scores (T,) of one hand."""
    acc = acceleration_mm(track)
    sustained = _rolling_median(shake_mm(track), th.jitter_window)
    jitter = sustained / th.jitter_mm
    local = _rolling_median(acc, th.spike_window)
    spike = acc / np.maximum(th.spike_mm, th.spike_rel * np.nan_to_num(local, nan=0.0))
    return jitter, spike


def bone_scores(track: HandTrack, th: Thresholds) -> np.ndarray:
    """(T,) largest relative change of a bone against its median length over the track."""
    ok = valid_3d(track)
    out = np.full(track.n_frames, np.nan)
    if ok.sum() < 3:
        return out
    lengths = bone_lengths(track.joints_3d[ok].astype(np.float64))  # (N, 20)
    med = np.median(lengths, axis=0)
    rel = np.abs(lengths - med) / np.maximum(med, 1e-6)
    out[ok] = rel.max(axis=1) / th.bone_rel
    return out


def reprojection_scores(track: HandTrack, K: np.ndarray, th: Thresholds) -> np.ndarray:
    """(T,) mean distance between projected 3D joints and the 2D joints, over the threshold
    max(reproj_px, reproj_rel x 2D hand size)."""
    j2 = track.joints_2d.astype(np.float64)
    ok = valid_3d(track) & np.isfinite(j2).all(axis=(1, 2))
    out = np.full(track.n_frames, np.nan)
    if not ok.any():
        return out
    proj = project(track.joints_3d[ok], K)
    err = np.linalg.norm(proj - j2[ok], axis=-1).mean(axis=1)
    size = np.linalg.norm(j2[ok].max(axis=1) - j2[ok].min(axis=1), axis=-1)
    out[ok] = np.nan_to_num(err, nan=np.inf) / np.maximum(th.reproj_px, th.reproj_rel * size)
    return out


def confidence_scores(track: HandTrack, th: Thresholds) -> np.ndarray:
    """(T,) threshold / confidence on present frames (capped at 10)."""
    out = np.full(track.n_frames, np.nan)
    p = track.present
    if th.low_confidence <= 0:
        out[p] = 0.0
        return out
    c = np.nan_to_num(track.confidence[p].astype(np.float64), nan=0.0)
    out[p] = np.minimum(th.low_confidence / np.maximum(c, 1e-6), 10.0)
    return out


def border_distance(track: HandTrack, K: np.ndarray, width: int, height: int) -> np.ndarray:
    """(T,) smallest distance (px) of any joint to the image border, negative when outside;
    NaN where the hand is absent."""
    j2 = joints_2d_or_projected(track, K)
    u, v = j2[..., 0], j2[..., 1]
    d = np.minimum.reduce([u + 0.5, width - 0.5 - u, v + 0.5, height - 0.5 - v])
    with np.errstate(invalid="ignore"):
        out = np.nanmin(np.where(np.isfinite(d), d, np.inf), axis=1)
    out = np.where(np.isfinite(out) & track.present, out, np.nan)
    return out


def dropout_and_leaving_scores(
    track: HandTrack, K: np.ndarray, width: int, height: int, th: Thresholds
) -> tuple[np.ndarray, np.ndarray]:
    """(dropout, leaving) scores (T,).

    Dropout: frames of an absence of at most `dropout_max` frames with the hand present on both
    sides and well inside the image on both sides (a hand at the border that disappears left the
    frame: that is not a dropout). Score (dropout_max + 1) / length: the shorter, the more
    suspicious.
    Leaving: the last `leave_window` present frames before an absence, from the first one whose
    joints come within `border_px` of the border. Score 1 + the fraction of those frames.
    """
    n = track.n_frames
    dropout = np.full(n, np.nan)
    leaving = np.full(n, np.nan)
    present = track.present.astype(bool)
    border = border_distance(track, K, width, height)
    near = np.nan_to_num(border, nan=np.inf) <= th.border_px
    for a, b in runs(~present):
        before, after = a - 1, b + 1
        if before >= 0:
            lo = max(0, before - th.leave_window + 1)
            window = np.arange(lo, before + 1)
            window = window[present[window]]
            hits = window[near[window]]
            if hits.size:
                first = int(hits[0])
                leaving[first : before + 1] = 1.0 + hits.size / max(1, th.leave_window)
        if before < 0 or after >= n:
            continue
        length = b - a + 1
        if length > th.dropout_max or near[before] or near[after]:
            continue
        dropout[a : b + 1] = (th.dropout_max + 1) / length
    return dropout, leaving


# ----------------------------------------------------------------------------------- detect all
def detect(
    doc: LabelDocument, thresholds: Thresholds | None = None, *, mano: ManoModel | None = None
) -> Detections:
    """Run every detector on `doc`; return the scores and the segments above threshold.

    With a MANO model (core.hands.mano.ManoModel), interpenetration uses the hand meshes on
    frames where both hands have MANO parameters.
    """
    th = thresholds or Thresholds()
    n = doc.n_frames
    scores = {k: np.full((2, n), np.nan) for k in KINDS}
    for h, track in enumerate(doc.hands):
        scores["jitter"][h], scores["accel_spike"][h] = motion_scores(track, th)
        scores["bone_length"][h] = bone_scores(track, th)
        scores["reprojection"][h] = reprojection_scores(track, doc.K, th)
        scores["low_confidence"][h] = confidence_scores(track, th)
        scores["dropout"][h], scores["leaving_frame"][h] = dropout_and_leaving_scores(
            track, doc.K, doc.meta.width, doc.meta.height, th
        )
    scores["interpenetration"][:] = interpenetration_scores(doc, th, mano)
    swap_segs, swap_scores = swap_segments(doc, th)
    scores["lr_swap"][:] = swap_scores

    segments: list[Segment] = list(swap_segs)
    for kind in KINDS:
        if kind == "lr_swap":
            continue
        for h in range(2):
            segments += segments_from_scores(scores[kind][h], h, kind, merge_gap=th.merge_gap)
    segments = _explain_spikes(segments, th)
    return Detections(n, scores, segments, th)


def _explain_spikes(segments: list[Segment], th: Thresholds) -> list[Segment]:
    """Drop acceleration spikes and jitter that sit on the boundary of a swap or bone-length
    segment of the same hand: the jump is that segment starting or ending, already reported."""
    causes = [s for s in segments if s.kind in ("lr_swap", "bone_length")]
    m = th.explain_margin

    def explained(s: Segment) -> bool:
        for c in causes:
            if c.hand != s.hand:
                continue
            for edge in (c.start, c.end + 1):
                if s.overlaps(edge - 1, edge, margin=m) and s.length <= 2 * m + 2:
                    return True
        return False

    kept = [s for s in segments if s.kind not in ("accel_spike", "jitter") or not explained(s)]
    # a jitter segment no longer than the jitter window around a spike is that spike's echo
    spikes = [s for s in kept if s.kind == "accel_spike"]
    return [
        s
        for s in kept
        if not (
            s.kind == "jitter"
            and s.length <= th.jitter_window
            and any(p.hand == s.hand and p.overlaps(s.start, s.end, margin=2) for p in spikes)
        )
    ]


def describe_segment(s: Segment) -> str:
    """One line for lists: "left  accel_spike  frames 120-121  score 2.3"."""
    return f"{HAND_NAMES[s.hand]:<5}  {s.kind:<16}  frames {s.start}-{s.end}  score {s.score:.2f}"
