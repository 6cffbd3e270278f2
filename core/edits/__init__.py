"""Edits of a label document: operations, undo/redo per gesture, navigation.

    session = EditSession.open(labels_path)     # doc + history + crash journal (session.py)
    history = session.history
    history.apply("move_joint_2d", hand="right", frame=10, joint=8, uv=[640, 300])
    with history.gesture("drag joint"):      # a whole drag is one undo step
        for uv in drag_positions:
            history.apply("move_joint_2d", hand="right", frame=10, joint=8, uv=uv)
    history.undo(); history.redo()

Operations and their JSON fields are listed in docs/edits-format.md; `apply_edits` replays a
JSON list (what `vidihand apply` does).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from core.edits.history import DEFAULT_MAX_BYTES, EditHistory, Step
from core.edits.interpolate import preview_smooth
from core.edits.navigate import (
    keyframe_span,
    next_flagged,
    next_keyframe,
    next_marked,
    next_unreviewed,
    prev_keyframe,
)
from core.edits.registry import OPS, load_ops
from core.edits.session import EditSession
from core.hands.model import hand_model, use_hand_model
from core.labels.delta import Delta
from core.labels.document import LabelDocument


def apply_edits(doc: LabelDocument, edits: Iterable[Mapping[str, Any]]) -> EditHistory:
    """Apply a list of JSON edits in order (one undo step); errors name the edit's index."""
    history = EditHistory(doc)
    history.apply_all(list(edits))
    return history


__all__ = [
    "DEFAULT_MAX_BYTES",
    "OPS",
    "Delta",
    "EditHistory",
    "EditSession",
    "Step",
    "apply_edits",
    "hand_model",
    "keyframe_span",
    "load_ops",
    "next_flagged",
    "next_keyframe",
    "next_marked",
    "next_unreviewed",
    "preview_smooth",
    "prev_keyframe",
    "use_hand_model",
]
