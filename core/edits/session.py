"""An editing session: one document, its undo history and its autosave journal, wired together.

This is the object the app holds per open video, so that journaling cannot be forgotten:

    session = EditSession.open(labels_path)          # or EditSession.new(doc) for unsaved labels
    if session.recovery:                             # {"changes": 12, "last_change": ..., ...}
        session.restore() if user_says_yes else session.discard_recovery()
    session.history.apply(...)                       # every gesture is journaled (fsynced)
    session.save()                                   # atomic; the journal starts afresh
    session.close()

Until the recovery question is answered the session is not journaling, so an unanswered
question never overwrites the journal of the crashed session.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from core.edits.history import DEFAULT_MAX_BYTES, EditHistory
from core.errors import EditError, LabelFileError
from core.io.journal import Journal, JournalWriteError
from core.labels.document import LabelDocument, VideoMeta


class EditSession:
    """A document with undo/redo and crash recovery (see the module docstring)."""

    def __init__(
        self,
        doc: LabelDocument,
        labels_path: str | os.PathLike[str] | None = None,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        self.labels_path = Path(labels_path) if labels_path is not None else None
        self.journal = (
            Journal.open_for(self.labels_path)
            if self.labels_path is not None
            else Journal.open_for(video_sha256=doc.meta.video_sha256 or "unsaved")
        )
        self._max_bytes = max_bytes
        self.doc = doc
        self.history = EditHistory(doc, max_bytes=max_bytes)
        #: what the journal of a crashed session holds, until restore() or discard_recovery()
        self.recovery: dict[str, Any] | None = (
            self.journal.describe() if self.journal.has_recovery() else None
        )
        if self.recovery is None:
            self._start()

    @classmethod
    def open(
        cls,
        labels_path: str | os.PathLike[str],
        *,
        expect: VideoMeta | None = None,
        force: bool = False,
    ) -> EditSession:
        """Open a label file for editing (checking it against the video's metadata)."""
        from core.io.labels_h5 import load_labels

        return cls(load_labels(labels_path, expect=expect, force=force), labels_path)

    @classmethod
    def new(cls, doc: LabelDocument) -> EditSession:
        """Edit a document that has no label file yet (journaled by its video's hash)."""
        return cls(doc, None)

    # ----------------------------------------------------------------- recovery
    def restore(self) -> LabelDocument:
        """Replace the document with the journal's state before the crash; returns it."""
        if self.recovery is None:
            raise EditError("There is no unsaved work to restore.")
        try:
            self.doc = self.journal.recover(self.doc)
        except LabelFileError as exc:
            # keep the changes where starting afresh (discard_recovery) cannot delete them
            kept = self.journal.set_aside()
            if kept is None:
                raise
            raise LabelFileError(
                exc.message,
                hint=f"Nothing was applied; the changes are kept in {kept}. To recover them, put "
                f"the label file back as it was and rename that file to {self.journal.path.name}.",
            ) from exc
        self.history = EditHistory(self.doc, max_bytes=self._max_bytes)
        self.recovery = None
        self._start()
        return self.doc

    def discard_recovery(self) -> None:
        """Drop the crashed session's journal and start journaling this document."""
        self.recovery = None
        self._start()

    def _start(self) -> None:
        self.history.journal = self.journal
        try:
            self.journal.start(self.doc)
        except JournalWriteError as exc:  # the document still opens; the next edit retries
            self.journal.behind = True
            self.history.journal_error = exc

    @property
    def autosave_error(self) -> JournalWriteError | None:
        """Why autosave is failing (None while it works): the app tells the user to save."""
        return self.history.journal_error

    # --------------------------------------------------------------------- save
    def save(self, path: str | os.PathLike[str] | None = None) -> Path:
        """Write the labels atomically (to `path`, or where they came from) and restart the
        journal beside them: the saved file now holds everything."""
        from core.io.labels_h5 import save_labels

        if self.recovery is not None:
            raise EditError(
                "Decide about the unsaved work of the last session first.",
                hint="Restore it or discard it, then save.",
            )
        target = Path(path) if path is not None else self.labels_path
        if target is None:
            raise EditError("These labels have no file yet.", hint="Choose where to save them.")
        try:  # a failing journal must not stop the save that is the remedy for it
            token = self.journal.mark_saving(target)
        except JournalWriteError:
            token = ""
        out = save_labels(self.doc, target, save_id=token)
        old = self.journal
        if target != self.labels_path:
            self.labels_path = target
            self.journal = Journal.open_for(target)
        old.clear()
        self._start()
        return out

    @property
    def dirty(self) -> bool:
        return self.doc.dirty

    def close(self) -> None:
        """Stop journaling. A journal with unsaved changes stays for the next open to offer."""
        self.history.journal = None
        if self.recovery is None and not self.doc.dirty:
            self.journal.clear()
        else:
            self.journal.close()
