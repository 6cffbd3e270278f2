"""Undo and redo for a label document: one step per user gesture.

Every change an edit makes goes through `EditHistory.write` (which calls `LabelDocument.write`,
the document's one mutation path) and is recorded as a pair of patches: the values replaced and
the values written. A `Step` groups the writes of one gesture (a whole drag, a whole interpolation)
so undo and redo restore exactly, NaNs included. A new edit clears the redo stack; the undo stack
is bounded by the bytes its patches hold (oldest steps are dropped first).

The app calls one method per gesture: `history.apply("swap_hands", start=50, end=60)`, or wraps
many calls in `with history.gesture("drag joint"):` for a drag. Each applied edit is also appended
(as JSON) to `doc.history`, so the label file records what was done and `vidihand apply` can replay
it; undo removes it again and redo puts it back.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from core.errors import EditError
from core.labels.delta import Delta
from core.labels.document import LabelDocument, Patch

if TYPE_CHECKING:
    from core.io.journal import Journal, JournalWriteError

#: Default bound of the undo stack: bytes held by the stored patches (old and new values).
DEFAULT_MAX_BYTES = 512 * 1024 * 1024


def patch_nbytes(patch: Patch) -> int:
    return int(patch.frames.nbytes + sum(v.nbytes for v in patch.values.values()))


@dataclass
class Step:
    """What one gesture changed: writes as (old, new) patches, note and extras changes and the
    applied edits."""

    label: str
    writes: list[tuple[Patch, Patch]] = field(default_factory=list)
    #: (frame, old text or None, new text or None)
    notes: list[tuple[int, str | None, str | None]] = field(default_factory=list)
    #: (extras key, old value or None, new value or None)
    extras: list[tuple[str, Any, Any]] = field(default_factory=list)
    #: the JSON edits this gesture appended to doc.history
    edits: list[dict[str, Any]] = field(default_factory=list)
    #: len(doc.history) before the gesture
    history_len: int = 0

    @property
    def nbytes(self) -> int:
        return sum(patch_nbytes(a) + patch_nbytes(b) for a, b in self.writes)

    def is_empty(self) -> bool:
        return not (self.writes or self.notes or self.extras or self.edits)

    def undo(self, doc: LabelDocument) -> None:
        self.backward_delta().apply(doc)

    def redo(self, doc: LabelDocument) -> None:
        self.forward_delta().apply(doc)

    def forward_delta(self) -> Delta:
        """The net change of doing (or redoing) this step, for the journal."""
        return Delta(
            self.label,
            [new for _, new in self.writes],
            [(f, new) for f, _, new in self.notes],
            self.history_len,
            [dict(e) for e in self.edits],
            [(k, new) for k, _, new in self.extras],
        )

    def backward_delta(self) -> Delta:
        """The net change of undoing this step, for the journal."""
        return Delta(
            f"undo {self.label}",
            [old for old, _ in reversed(self.writes)],
            [(f, old) for f, old, _ in reversed(self.notes)],
            self.history_len,
            [],
            [(k, old) for k, old, _ in reversed(self.extras)],
        )


class EditHistory:
    """Undo/redo stacks of `Step`s over one document, optionally journaled for crash recovery."""

    def __init__(
        self,
        doc: LabelDocument,
        *,
        journal: Journal | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        self.doc = doc
        self.journal = journal
        self.max_bytes = int(max_bytes)
        self._undo: list[Step] = []
        self._redo: list[Step] = []
        self._open: Step | None = None
        self._deferred: dict[Hashable, Callable[[], None]] = {}
        self._bytes = 0
        self._observers: list[Callable[[], None]] = []
        #: the last failure to write the journal, None while autosave works (observers are
        #: called when it changes); edits are kept in memory either way
        self.journal_error: JournalWriteError | None = None

    # ------------------------------------------------------------------ state
    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    @property
    def undo_label(self) -> str | None:
        return self._undo[-1].label if self._undo else None

    @property
    def redo_label(self) -> str | None:
        return self._redo[-1].label if self._redo else None

    @property
    def last_step(self) -> Step | None:
        """The step an undo would revert (None when none). Remembered at a save, it tells
        whether undo/redo brought the document back to the saved state."""
        return self._undo[-1] if self._undo else None

    @property
    def nbytes(self) -> int:
        """Bytes held by the undo and redo stacks."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._undo)

    def subscribe(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call `callback()` whenever the stacks change (to enable Undo/Redo buttons)."""
        self._observers.append(callback)
        return lambda: self._observers.remove(callback) if callback in self._observers else None

    def _changed(self) -> None:
        for cb in list(self._observers):
            cb()

    # -------------------------------------------------------------- gestures
    @contextlib.contextmanager
    def gesture(self, label: str) -> Iterator[Step]:
        """Group every write inside the block into one undo step.

        Nested gestures join the outer one. If the block raises, everything it wrote is rolled
        back and the error propagates: a failed gesture leaves the document as it was.
        """
        if self._open is not None:
            yield self._open
            return
        step = self.begin_gesture(label)
        try:
            yield step
        except BaseException:
            self.cancel_gesture()
            raise
        self.end_gesture()

    @property
    def in_gesture(self) -> bool:
        return self._open is not None

    def begin_gesture(self, label: str) -> Step:
        """Open a gesture that spans several GUI events (mouse press ... release).

        Every edit until `end_gesture` joins it; `cancel_gesture` (Escape) rolls it back.
        """
        if self._open is not None:
            raise EditError(
                f"A gesture ({self._open.label}) is already open.",
                hint="End or cancel it before starting another one.",
            )
        self._open = Step(label, history_len=len(self.doc.history))
        return self._open

    def end_gesture(self) -> Step | None:
        """Finish the open gesture (deferred work runs now) and make it one undo step.

        Returns the step, or None when it changed nothing. If the deferred work fails the whole
        gesture is rolled back and the error propagates.
        """
        step = self._current()
        try:
            self.flush_deferred()
        except BaseException:
            self.cancel_gesture()
            raise
        self._open = None
        self._commit(step)
        return None if step.is_empty() else step

    def cancel_gesture(self) -> None:
        """Roll back everything the open gesture wrote (nothing when none is open)."""
        step, self._open = self._open, None
        self._deferred.clear()
        if step is not None:
            step.undo(self.doc)

    def defer(self, key: Hashable, fn: Callable[[], None]) -> bool:
        """Run `fn` once before the open gesture ends (or before the next edit of another kind).

        Used for slow follow-ups that only the final state needs, e.g. one MANO refit at the
        end of a drag instead of one per mouse move. Returns False when `key` is already
        pending (the first registration wins, so it can capture the state before the gesture).
        """
        self._current()
        if key in self._deferred:
            return False
        self._deferred[key] = fn
        return True

    def flush_deferred(self) -> None:
        """Run pending deferred work now; its writes join the open gesture."""
        while self._deferred:
            key = next(iter(self._deferred))
            self._deferred.pop(key)()

    def _commit(self, step: Step) -> None:
        if step.is_empty():
            return
        self._undo.append(step)
        self._bytes += step.nbytes
        for s in self._redo:
            self._bytes -= s.nbytes
        self._redo.clear()
        while self._bytes > self.max_bytes and len(self._undo) > 1:
            self._bytes -= self._undo.pop(0).nbytes
        self._journal(step.forward_delta())
        self._changed()

    def _journal(self, delta: Delta) -> None:
        """Record a change. A failed write does not undo the edit (it is done, and shown); it
        sets `journal_error` for the app to report, and the next change rewrites the journal
        whole so that it catches up with every edit."""
        from core.io.journal import JournalWriteError

        journal = self.journal
        if journal is None:
            return
        try:
            if journal.behind:
                journal.resync(self.doc)
            else:
                journal.record(delta)
                if journal.wants_snapshot():
                    journal.snapshot(self.doc, background=True)
        except JournalWriteError as exc:
            self.journal_error = exc
            return
        self.journal_error = None

    def _current(self) -> Step:
        if self._open is None:
            raise EditError(
                "A write happened outside a gesture.",
                hint="Wrap document edits in `with history.gesture(label):` or use history.apply.",
            )
        return self._open

    # ---------------------------------------------------------------- writes
    def write(
        self, hand: int | str, frames: Iterable[int] | slice | int, values: Mapping[str, Any]
    ) -> Patch:
        """Write through the document and record old and new values in the open gesture."""
        step = self._current()
        old = self.doc.write(hand, frames, values)
        new = self.doc.read(old.hand, old.frames, old.values.keys())
        step.writes.append((old, new))
        return old

    def set_note(self, frame: int, text: str) -> None:
        step = self._current()
        old = self.doc.notes.get(int(frame))
        self.doc.set_note(int(frame), text)
        step.notes.append((int(frame), old, self.doc.notes.get(int(frame))))

    def set_extra(self, key: str, value: Any) -> None:
        """Set (None: remove) the document's extra JSON state `key` in the open gesture."""
        step = self._current()
        old = self.doc.set_extra(key, value)
        step.extras.append((key, old, self.doc.extras.get(key)))

    def log(self, edit: dict[str, Any]) -> None:
        """Append an applied edit's JSON form to doc.history (undone with its gesture)."""
        step = self._current()
        step.edits.append(dict(edit))
        self.doc.set_history(len(self.doc.history), [edit])

    def apply(self, edit: Mapping[str, Any] | str, /, **fields: Any) -> dict[str, Any]:
        """Apply one edit (a JSON dict, or an op name and its fields) as one gesture.

        Inside an open gesture the edit joins it. Returns the normalised JSON form that was
        stored in doc.history.
        """
        from core.edits.registry import run_edit

        if isinstance(edit, str):
            edit = {"op": edit, **fields}
        elif fields:
            edit = {**edit, **fields}
        label = str(edit.get("op", "edit")) if isinstance(edit, Mapping) else "edit"
        with self.gesture(label):
            return run_edit(self, edit)

    def apply_all(self, edits: Iterable[Mapping[str, Any]], label: str = "apply edits") -> None:
        """Apply a list of edits as one undo step; errors name the failing edit's index."""
        with self.gesture(label):
            for i, edit in enumerate(edits):
                try:
                    self.apply(edit)
                except EditError as exc:
                    op = edit.get("op", "?") if isinstance(edit, Mapping) else "?"
                    raise EditError(f"edit #{i} ({op}): {exc.message}", hint=exc.hint) from exc

    # ------------------------------------------------------------- undo/redo
    def undo(self) -> Step | None:
        """Undo the last gesture; returns it (None when there is nothing to undo)."""
        if self._open is not None:
            raise EditError("Cannot undo in the middle of a gesture.", hint="Finish the gesture.")
        if not self._undo:
            return None
        step = self._undo.pop()
        step.undo(self.doc)
        self._redo.append(step)
        self._journal(step.backward_delta())
        self._changed()
        return step

    def redo(self) -> Step | None:
        """Redo the last undone gesture; returns it (None when there is nothing to redo)."""
        if self._open is not None:
            raise EditError("Cannot redo in the middle of a gesture.", hint="Finish the gesture.")
        if not self._redo:
            return None
        step = self._redo.pop()
        step.redo(self.doc)
        self._undo.append(step)
        self._journal(step.forward_delta())
        self._changed()
        return step

    def clear(self) -> None:
        """Forget all steps (e.g. after loading another file)."""
        self._undo.clear()
        self._redo.clear()
        self._bytes = 0
        self._changed()
