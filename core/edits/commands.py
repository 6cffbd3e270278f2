"""Edit commands as the app builds them from a selection, without a screen: which frames an
"interpolate" works on, and the per-frame edits of "copy the pose from the side". A script gets
the same edits the window applies:

    a, b = interpolation_span(doc, hand=1, frame=120)           # the keyframes around frame 120
    history.apply("interpolate", hand="right", start=a, end=b)
    history.apply_all(copy_pose_edits(1, 40, 60, "prev"), "copy pose")
"""

from __future__ import annotations

from typing import Any

from core.edits.navigate import keyframe_span, next_keyframe
from core.errors import EditError
from core.labels.document import LabelDocument
from core.labels.joints import HAND_NAMES


def interpolation_span(
    doc: LabelDocument, hand: int, frame: int, selected: tuple[int, int] | None = None
) -> tuple[int, int]:
    """The frames an interpolation of `hand` fills: the selected range when it spans at least
    three frames; else, standing on a keyframe, up to the next keyframe (never across this
    one); else the keyframes around `frame`. EditError when there is no such pair."""
    if selected is not None and selected[1] - selected[0] >= 2:
        return int(selected[0]), int(selected[1])
    if doc.hands[hand].keyframe[frame]:
        nxt = next_keyframe(doc, frame, hand)
        span = (frame, nxt) if nxt is not None else None
    else:
        span = keyframe_span(doc, frame, hand)
    if span is None:
        raise EditError(
            f"Interpolation fills the frames between two keyframes of the {HAND_NAMES[hand]} "
            f"hand; frame {frame} has none on one side.",
            hint="Edit or mark keyframes (Ctrl+K) on both sides, or select a range "
            "(Ctrl+drag on the timeline, or [ and ]).",
        )
    return int(span[0]), int(span[1])


def copy_pose_edits(hand: int, start: int, end: int, direction: str) -> list[dict[str, Any]]:
    """The `copy_pose` edits that give every frame of start..end (inclusive) the pose of the
    frame just outside the range on the `direction` side ("prev" or "next"): applied frame by
    frame from that side, each copies its neighbour, which already holds the nearest pose."""
    if direction not in ("prev", "next"):
        raise EditError(f"direction must be 'prev' or 'next', got {direction!r}")
    frames = range(start, end + 1) if direction == "prev" else range(end, start - 1, -1)
    return [
        {"op": "copy_pose", "hand": HAND_NAMES[hand], "frame": f, "from": direction} for f in frames
    ]
