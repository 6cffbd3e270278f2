"""Suspicious segments: runs of frames of one hand where a detector fires.

A segment is (hand, start, end, kind, score) with `start` and `end` inclusive frame indices and
`score` the largest per-frame detector score inside it (above 1 = above threshold).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from core.labels.joints import HAND_NAMES


@dataclass(frozen=True)
class Segment:
    hand: int
    start: int
    end: int  #: inclusive
    kind: str
    score: float

    @property
    def key(self) -> str:
        """Stable identifier for review decisions: "kind:hand:start-end"."""
        return f"{self.kind}:{HAND_NAMES[self.hand]}:{self.start}-{self.end}"

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    def overlaps(self, start: int, end: int, margin: int = 0) -> bool:
        return self.start - margin <= end and start <= self.end + margin

    def to_json(self) -> dict[str, Any]:
        return {
            "hand": HAND_NAMES[self.hand],
            "start": int(self.start),
            "end": int(self.end),
            "kind": self.kind,
            "score": round(float(self.score), 4),
        }


def runs(mask: np.ndarray, merge_gap: int = 0) -> list[tuple[int, int]]:
    """Inclusive (start, end) of the runs of True in a 1-D mask; runs separated by at most
    `merge_gap` False frames are merged."""
    m = np.asarray(mask, dtype=bool)
    if not m.any():
        return []
    d = np.diff(np.concatenate([[0], m.astype(np.int8), [0]]))
    starts = np.flatnonzero(d == 1)
    ends = np.flatnonzero(d == -1) - 1
    out: list[tuple[int, int]] = []
    for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
        if out and s - out[-1][1] - 1 <= merge_gap:
            out[-1] = (out[-1][0], e)
        else:
            out.append((s, e))
    return out


def segments_from_scores(
    scores: np.ndarray, hand: int, kind: str, *, merge_gap: int = 0
) -> list[Segment]:
    """Segments where a per-frame score array (T,) exceeds 1 (NaN never does)."""
    s = np.nan_to_num(np.asarray(scores, dtype=np.float64), nan=0.0)
    return [
        Segment(hand, a, b, kind, float(s[a : b + 1].max())) for a, b in runs(s > 1.0, merge_gap)
    ]
