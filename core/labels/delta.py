"""A change of document state in absolute terms: what the undo history records and the crash
journal stores. It lives with the document, below both `core.edits` (which makes deltas) and
`core.io` (which writes and replays them), so neither layer imports the other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from core.labels.document import LabelDocument, Patch


@dataclass
class Delta:
    """Values written, not differences: applying a delta twice gives the same state as applying
    it once, which keeps journal recovery safe even if a record is replayed on a document that
    already holds it. Every part goes through the document's write path (`apply_patch`,
    `set_note`, `set_history`, `set_extra`), so observers hear of it and it counts as a change."""

    label: str
    patches: list[Patch]
    #: (frame, text or None to remove)
    notes: list[tuple[int, str | None]]
    #: doc.history is cut to this length, then `history_append` is appended
    history_len: int
    history_append: list[dict[str, Any]]
    #: (extras key, value or None to remove)
    extras: list[tuple[str, Any]] = field(default_factory=list)

    def apply(self, doc: LabelDocument) -> None:
        for patch in self.patches:
            doc.apply_patch(patch)
        for frame, text in self.notes:
            doc.set_note(frame, text or "")
        for key, value in self.extras:
            doc.set_extra(key, value)
        if len(doc.history) != self.history_len or self.history_append:
            doc.set_history(self.history_len, self.history_append)
