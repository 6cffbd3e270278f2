"""Review decisions on detected segments, saved with the labels.

A person marks a suspicious segment as *confirmed* (with a failure category) or *dismissed*.
Decisions live in `LabelDocument.extras["failures"]` (JSON, saved by core/io/labels_h5.py in
/meta/extras), keyed by the segment key "kind:hand:start-end" (Segment.key):

    {"version": 1,
     "decisions": {"lr_swap:left:40-60": {"status": "confirmed", "category": "lr_swap",
                                          "note": "right hand hidden by the mug",
                                          "updated": "2026-11-23T12:00:00+00:00"}}}

("note", free text, is optional.)

Every decision is a `set_extra` edit (core/edits/ops.py): through an app's `EditHistory` it is
one undo step, journaled, and it counts as an unsaved change like any other edit.

A changed threshold can give a segment other frames and so another key; the old decision stays
in the file (nothing is silently dropped) and `decision_for` finds it by overlap.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import Any

from core.edits.history import EditHistory
from core.errors import EditError
from core.labels.document import LabelDocument
from core.labels.joints import HAND_NAMES

EXTRAS_KEY = "failures"
VERSION = 1
STATUSES = ("confirmed", "dismissed")
#: failure categories a confirmed segment can carry (why the reconstructor failed)
CATEGORIES: tuple[str, ...] = (
    "occlusion",
    "hand_leaving_frame",
    "motion_blur",
    "lr_swap",
    "interpenetration",
    "wrong_pose",
    "wrong_depth",
    "jitter",
    "missed_hand",
    "other",
)


@dataclass(frozen=True)
class Decision:
    key: str
    status: str  #: "confirmed" or "dismissed"
    category: str | None
    updated: str
    note: str = ""  #: free text from the reviewer

    @property
    def kind(self) -> str:
        return self.key.split(":", 1)[0]

    @property
    def hand(self) -> int:
        return HAND_NAMES.index(self.key.split(":")[1])

    @property
    def frames(self) -> tuple[int, int]:
        a, b = self.key.rsplit(":", 1)[1].split("-")
        return int(a), int(b)


def parse_key(key: str) -> tuple[str, int, int, int]:
    """(kind, hand, start, end) of a segment key; EditError when malformed."""
    try:
        kind, hand, span = key.split(":")
        a, b = span.split("-")
        h = HAND_NAMES.index(hand)
        start, end = int(a), int(b)
    except ValueError:
        raise EditError(
            f"{key!r} is not a segment key.",
            hint='Segment keys look like "lr_swap:left:40-60" (Segment.key).',
        ) from None
    if start < 0 or end < start:
        raise EditError(f"Segment key {key!r} has an empty or negative frame range.")
    return kind, h, start, end


def decision_edits(
    doc: LabelDocument,
    segment_key: str,
    status: str | None,
    category: str | None = None,
    note: str | None = None,
) -> list[dict[str, Any]]:
    """The checked JSON edits (`set_extra`, docs/edits-format.md) that record (or with status
    None, clear) the decision on a segment: what `set_decision` applies, and what an app applies
    through its undo history. `note` is optional free text (why, what was seen)."""
    _, _, _, end = parse_key(segment_key)
    if end >= doc.n_frames:
        raise EditError(
            f"Segment {segment_key} ends after the last frame ({doc.n_frames - 1}).",
            hint="Run the detectors on this document again.",
        )
    entry: dict[str, Any] | None = None
    if status is not None:
        if status not in STATUSES:
            raise EditError(
                f"Unknown review status {status!r}.", hint="Use 'confirmed' or 'dismissed'."
            )
        if status == "confirmed":
            if category not in CATEGORIES:
                raise EditError(
                    f"A confirmed failure needs a category, got {category!r}.",
                    hint="Categories: " + ", ".join(CATEGORIES) + ".",
                )
        elif category is not None and category not in CATEGORIES:
            raise EditError(f"Unknown failure category {category!r}.")
        entry = {"status": status, "category": category}
        if note and note.strip():
            entry["note"] = note.strip()
        entry["updated"] = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    edits: list[dict[str, Any]] = []
    store = doc.extras.get(EXTRAS_KEY)
    if not isinstance(store, dict) or not isinstance(store.get("decisions"), dict):
        new_store = {"version": VERSION, "decisions": {}}
        edits.append({"op": "set_extra", "key": EXTRAS_KEY, "value": new_store})
    edits.append(
        {"op": "set_extra", "key": EXTRAS_KEY, "path": ["decisions", segment_key], "value": entry}
    )
    return edits


def decision_label(segment_key: str, status: str | None) -> str:
    """The undo step's name for a decision ("Confirm lr_swap left 40-60")."""
    verb = {"confirmed": "Confirm", "dismissed": "Dismiss", None: "Clear decision on"}[status]
    return f"{verb} {segment_key.replace(':', ' ')}"


def set_decision(
    target: LabelDocument | EditHistory,
    segment_key: str,
    status: str | None,
    category: str | None = None,
    note: str | None = None,
) -> None:
    """Record (or with status None, clear) the decision on a segment through the document's
    write path: one undoable, journaled gesture when `target` is the document's `EditHistory`
    (what the app passes), a logged edit of the document otherwise."""
    history = target if isinstance(target, EditHistory) else EditHistory(target)
    edits = decision_edits(history.doc, segment_key, status, category, note)
    with history.gesture(decision_label(segment_key, status)):
        for edit in edits:
            history.apply(edit)


def decisions(doc: LabelDocument) -> dict[str, Decision]:
    """All recorded decisions, by segment key."""
    raw = doc.extras.get(EXTRAS_KEY, {})
    out: dict[str, Decision] = {}
    for key, d in (raw.get("decisions", {}) if isinstance(raw, dict) else {}).items():
        if isinstance(d, dict) and d.get("status") in STATUSES:
            note = d["note"] if isinstance(d.get("note"), str) else ""
            out[key] = Decision(key, d["status"], d.get("category"), d.get("updated", ""), note)
    return out


def decision_for(doc: LabelDocument, kind: str, hand: int, start: int, end: int) -> Decision | None:
    """The decision on this exact segment, else on an overlapping one of the same kind and hand."""
    all_d = decisions(doc)
    exact = f"{kind}:{HAND_NAMES[hand]}:{start}-{end}"
    if exact in all_d:
        return all_d[exact]
    for d in all_d.values():
        a, b = d.frames
        if d.kind == kind and d.hand == hand and a <= end and start <= b:
            return d
    return None
