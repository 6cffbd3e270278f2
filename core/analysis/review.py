"""Review decisions on detected segments, saved with the labels.

A person marks a suspicious segment as *confirmed* (with a failure category) or *dismissed*.
Decisions live in `LabelDocument.extras["failures"]` (JSON, saved by core/io/labels_h5.py in
/meta/extras), keyed by the segment key "kind:hand:start-end" (Segment.key):

    {"version": 1,
     "decisions": {"lr_swap:left:40-60": {"status": "confirmed", "category": "lr_swap",
                                          "note": "right hand hidden by the mug",
                                          "updated": "2026-11-23T12:00:00+00:00"}}}

("note", free text, is optional.)

A changed threshold can give a segment other frames and so another key; the old decision stays
in the file (nothing is silently dropped) and `decision_for` finds it by overlap.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import Any

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


def _store(doc: LabelDocument) -> dict[str, Any]:
    store = doc.extras.get(EXTRAS_KEY)
    if not isinstance(store, dict) or "decisions" not in store:
        store = {"version": VERSION, "decisions": {}}
        doc.extras[EXTRAS_KEY] = store
    return store


def set_decision(
    doc: LabelDocument,
    segment_key: str,
    status: str | None,
    category: str | None = None,
    note: str | None = None,
) -> None:
    """Record (or with status None, clear) the decision on a segment and notify observers.
    `note` is optional free text (why, what was seen)."""
    _, _, _, end = parse_key(segment_key)
    if end >= doc.n_frames:
        raise EditError(
            f"Segment {segment_key} ends after the last frame ({doc.n_frames - 1}).",
            hint="Run the detectors on this document again.",
        )
    store = _store(doc)
    if status is None:
        store["decisions"].pop(segment_key, None)
    else:
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
        entry: dict[str, Any] = {"status": status, "category": category}
        if note and note.strip():
            entry["note"] = note.strip()
        entry["updated"] = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
        store["decisions"][segment_key] = entry
    doc.notify_document_changed(("extras",))


def decisions(doc: LabelDocument) -> dict[str, Decision]:
    """All recorded decisions, by segment key."""
    raw = doc.extras.get(EXTRAS_KEY, {})
    out: dict[str, Decision] = {}
    for key, d in (raw.get("decisions", {}) if isinstance(raw, dict) else {}).items():
        if isinstance(d, dict) and d.get("status") in STATUSES:
            note = d.get("note") if isinstance(d.get("note"), str) else ""
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
