"""Jumping through a document: next unreviewed, next flagged, next or previous keyframe.

Each function returns a frame index, or None when there is none in that direction. `hand` is
"left", "right", 0, 1 or None (either hand). Searches start after (or before) `frame`, so
repeated calls walk through the video.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from core.labels.document import FLAG_NAMES, Flag, LabelDocument
from core.labels.joints import hand_index


def _hands(hand: int | str | None) -> list[int]:
    return [0, 1] if hand is None or hand == "both" else [hand_index(hand)]


def _next(mask: np.ndarray, frame: int, forward: bool = True) -> int | None:
    if forward:
        idx = np.flatnonzero(mask[frame + 1 :])
        return int(frame + 1 + idx[0]) if idx.size else None
    idx = np.flatnonzero(mask[: max(frame, 0)])
    return int(idx[-1]) if idx.size else None


def unreviewed_mask(doc: LabelDocument, hand: int | str | None = None) -> np.ndarray:
    """(T,) frames where a chosen hand is not reviewed."""
    return np.asarray(np.logical_or.reduce([~doc.hands[h].reviewed for h in _hands(hand)]), bool)


def flagged_mask(
    doc: LabelDocument, hand: int | str | None = None, flags: Iterable[str] | None = None
) -> np.ndarray:
    """(T,) frames where a chosen hand has any of `flags` (names; default any flag) or a note
    (notes count only when `flags` is None)."""
    bits = Flag.NONE
    for name in flags or FLAG_NAMES:
        bits |= FLAG_NAMES[name]
    mask = np.asarray(
        np.logical_or.reduce([(doc.hands[h].flags & int(bits)) != 0 for h in _hands(hand)]), bool
    )
    if flags is None and doc.notes:
        noted = np.array([f for f in doc.notes if 0 <= f < doc.n_frames], np.int64)
        mask = mask.copy()
        mask[noted] = True
    return mask


def next_unreviewed(
    doc: LabelDocument, frame: int, hand: int | str | None = None, *, forward: bool = True
) -> int | None:
    return _next(unreviewed_mask(doc, hand), frame, forward)


def next_flagged(
    doc: LabelDocument,
    frame: int,
    hand: int | str | None = None,
    flags: Iterable[str] | None = None,
    *,
    forward: bool = True,
) -> int | None:
    return _next(flagged_mask(doc, hand, flags), frame, forward)


def next_keyframe(doc: LabelDocument, frame: int, hand: int | str | None = None) -> int | None:
    mask = np.logical_or.reduce([doc.hands[h].keyframe for h in _hands(hand)])
    return _next(mask, frame, True)


def prev_keyframe(doc: LabelDocument, frame: int, hand: int | str | None = None) -> int | None:
    mask = np.logical_or.reduce([doc.hands[h].keyframe for h in _hands(hand)])
    return _next(mask, frame, False)


#: what `next_marked` jumps to (the app's jump actions)
MARK_KINDS = ("unreviewed", "flagged", "keyframe")


def next_marked(doc: LabelDocument, frame: int, kind: str, *, forward: bool = True) -> int | None:
    """The next (previous) unreviewed, flagged (or noted) or keyframe frame of either hand."""
    if kind == "unreviewed":
        return next_unreviewed(doc, frame, forward=forward)
    if kind == "flagged":
        return next_flagged(doc, frame, forward=forward)
    if kind == "keyframe":
        return next_keyframe(doc, frame) if forward else prev_keyframe(doc, frame)
    raise ValueError(f"kind must be one of {', '.join(MARK_KINDS)}, not {kind!r}")


def keyframe_span(doc: LabelDocument, frame: int, hand: int | str) -> tuple[int, int] | None:
    """The keyframes (before, after) around `frame` for `hand`: the range an "interpolate here"
    button fills. None when there is no keyframe on one side."""
    before, after = prev_keyframe(doc, frame, hand), next_keyframe(doc, frame, hand)
    if before is None or after is None:
        return None
    return before, after
