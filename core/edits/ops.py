"""Edits of presence, handedness, review state, flags and notes (no geometry).

Each function is one operation of docs/edits-format.md, registered under its JSON name. They only
change the document through `history.write` / `history.set_note`, so every one is undoable and
journaled. Geometry edits live in core/edits/pose.py, interpolation and smoothing in
core/edits/interpolate.py.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

import numpy as np

from core.edits.registry import (
    get_bool,
    get_flags,
    get_frame,
    get_frames,
    get_hand,
    get_range,
    one_hand,
    register,
)
from core.errors import EditError
from core.labels.document import MANO_FIELDS, POSE_FIELDS, TRACK_FIELDS, Source

if TYPE_CHECKING:
    from core.edits.registry import Editor

FRAMES_FIELDS = ("frames", "start", "end", "frame")


@register("set_present", ("hand", "present"), FRAMES_FIELDS)
def set_present(h: Editor, e: dict[str, Any]) -> None:
    """Mark a hand present or absent on frames. Pose values are kept (so toggling back restores
    them); confidence becomes 1 (present) or 0 (absent); the frames become EDITED keyframes."""
    hand, frames = one_hand(e), get_frames(h.doc, e)
    present = get_bool(e, "present")
    h.write(
        hand,
        frames,
        {
            "present": present,
            "confidence": 1.0 if present else 0.0,
            "source": int(Source.EDITED),
            "keyframe": True,
        },
    )


@register("swap_hands", ("start", "end"))
def swap_hands(h: Editor, e: dict[str, Any]) -> None:
    """Exchange every per-frame field of the left and right hand on start..end (inclusive).

    Afterwards the source of frames that had one becomes EDITED; everything else (review state,
    keyframes, flags, MANO parameters) moves with its hand unchanged.
    """
    start, end = get_range(h.doc, e)
    frames = np.arange(start, end + 1)
    left = h.doc.read(0, frames, TRACK_FIELDS)
    right = h.doc.read(1, frames, TRACK_FIELDS)
    for hand, values in ((0, right.values), (1, left.values)):
        v = dict(values)
        v["source"] = np.where(v["source"] != Source.NONE, np.uint8(Source.EDITED), v["source"])
        h.write(hand, frames, v)


def find_pose_frame(h: Editor, hand: int, frame: int, direction: int) -> int:
    """Nearest frame before (direction -1) or after (+1) `frame` where `hand` has a pose."""
    track = h.doc.hands[hand]
    known = track.present & np.isfinite(track.joints_3d).all(axis=(1, 2))
    idx = np.flatnonzero(known[:frame] if direction < 0 else known[frame + 1 :])
    if idx.size == 0:
        side = "before" if direction < 0 else "after"
        raise EditError(
            f"the hand has no known pose on any frame {side} frame {frame}",
            hint='Copy from a frame that has one ("from_frame": N) or edit the joints directly.',
        )
    return int(idx[-1]) if direction < 0 else int(frame + 1 + idx[0])


@register("copy_pose", ("hand", "frame"), ("from", "from_frame"))
def copy_pose(h: Editor, e: dict[str, Any]) -> None:
    """Copy a hand's pose (joints, 2D joints, MANO, presence, confidence) onto a frame from the
    nearest earlier ("from": "prev") or later ("next") frame where the hand has a pose, or from
    an explicit "from_frame". The frame becomes an EDITED keyframe."""
    hand, frame = one_hand(e), get_frame(h.doc, e)
    if "from_frame" in e:
        src = get_frame(h.doc, e, "from_frame")
    else:
        direction = e.get("from", "prev")
        if direction not in ("prev", "next"):
            raise EditError(f'from must be "prev" or "next", got {direction!r}')
        src = find_pose_frame(h, hand, frame, -1 if direction == "prev" else 1)
    values = h.doc.read(hand, src, POSE_FIELDS).values
    values["present"][:] = True
    h.write(hand, frame, {**values, "source": int(Source.EDITED), "keyframe": True})


@register("delete_range", ("hand", "start", "end"))
def delete_range(h: Editor, e: dict[str, Any]) -> None:
    """Remove a hand on start..end (inclusive): absent, confidence 0, joints and MANO NaN,
    source NONE, not keyframes. Review state and flags are kept."""
    hand = one_hand(e)
    start, end = get_range(h.doc, e)
    values: dict[str, Any] = {"present": False, "confidence": 0.0}
    for name in ("joints_3d", "joints_2d", *MANO_FIELDS):
        values[name] = np.nan
    values.update(source=int(Source.NONE), keyframe=False)
    h.write(hand, np.arange(start, end + 1), values)


@register("set_reviewed", (), ("hand", "reviewed", *FRAMES_FIELDS))
def set_reviewed(h: Editor, e: dict[str, Any]) -> None:
    """Mark frames reviewed (or not, with "reviewed": false) for one hand or "both" (default)."""
    frames = get_frames(h.doc, e)
    reviewed = get_bool(e, "reviewed", True)
    for hand in get_hand(e, allow_both=True):
        h.write(hand, frames, {"reviewed": reviewed})


@register("set_flags", ("flags",), ("hand", "on", *FRAMES_FIELDS))
def set_flags(h: Editor, e: dict[str, Any]) -> None:
    """Turn flags (names, e.g. ["occluded", "motion_blur"]) on (default) or off for frames of one
    hand or "both" (default). Other flags are left as they are."""
    frames = get_frames(h.doc, e)
    bits = np.uint16(int(get_flags(e)))
    on = get_bool(e, "on", True)
    for hand in get_hand(e, allow_both=True):
        current = h.doc.hands[hand].flags[frames]
        new = (current | bits) if on else (current & ~bits)
        h.write(hand, frames, {"flags": new})


@register("set_keyframe", ("hand",), ("keyframe", *FRAMES_FIELDS))
def set_keyframe(h: Editor, e: dict[str, Any]) -> None:
    """Mark frames of a hand as keyframes (or not) without changing their values."""
    hand, frames = one_hand(e), get_frames(h.doc, e)
    h.write(hand, frames, {"keyframe": get_bool(e, "keyframe", True)})


@register("set_note", ("frame", "text"))
def set_note(h: Editor, e: dict[str, Any]) -> None:
    """Set the free-text note of a frame (an empty text removes it)."""
    frame = get_frame(h.doc, e)
    text = e["text"]
    if not isinstance(text, str):
        raise EditError(f"text must be a string, got {text!r}")
    h.set_note(frame, text)


@register("set_extra", ("key",), ("path", "value"))
def set_extra(h: Editor, e: dict[str, Any]) -> None:
    """Set named JSON state saved with the labels (doc.extras, e.g. failure review decisions).

    `key` names the extra; `path` (a list of keys, optional) the place inside it, created as
    needed; `value` (null or absent: remove) what goes there.
    """
    key, path, value = e["key"], e.get("path", []), e.get("value")
    if not isinstance(key, str) or not key:
        raise EditError(f"key must be a non-empty string, got {key!r}")
    if not isinstance(path, list) or not all(isinstance(p, str) for p in path):
        raise EditError(f"path must be a list of strings, got {path!r}")
    if not path:
        h.set_extra(key, value)
        return
    store = copy.deepcopy(h.doc.extras.get(key))
    root = store if isinstance(store, dict) else {}
    node = root
    for i, name in enumerate(path[:-1]):
        child = node.setdefault(name, {})
        if not isinstance(child, dict):
            raise EditError(f"extras[{key!r}] has no object at {'/'.join(path[: i + 1])}")
        node = child
    if value is None:
        node.pop(path[-1], None)
    else:
        node[path[-1]] = value
    h.set_extra(key, root)
