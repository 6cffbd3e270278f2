"""The open work: one video, its label document, the edit history and crash journal, the label
path and the reference labels. One owner, no screen.

Everything that changes what is open goes through a `Workspace` method, and everyone else
observes its events (`subscribe(event, callback)`), as napari's models do:

    ws = Workspace()
    ws.subscribe("document_edited", lambda change: ...)   # every write of the document
    ws.open_video("clip.mp4")                 # a new, empty document (journaled by the video's hash)
    ws.load_labels("clip.h5")                 # or: ws.set_document(doc, path)
    if ws.recovery:                           # a crashed session's journal
        ws.restore()                          # or ws.discard_recovery()
    ws.history.apply("swap_hands", start=10, end=20)
    ws.unsaved                                # True: the document changed since the last save
    ws.save()                                 # atomic; the journal starts afresh

"Unsaved" is the document's change counter (`LabelDocument.revision`, bumped by every change,
whatever made it: an edit, its undo, a reconstruction batch, a review decision) compared with its
value at the last save or load, never a position in the undo stack.

Events: "video_changed", "document_replaced", "document_edited" (core.labels.document.Change),
"paths_changed" (label path or saved state), "history_changed" (undo/redo stacks),
"reference_changed", "error" (an exception the owner could not raise to a caller, e.g. closing
the previous journal, or the crash journal failing to record an edit: reported once, when
autosave starts failing), "autosave_restored" (the journal caught up again after such a failure).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from core.edits.history import EditHistory
from core.edits.session import EditSession
from core.errors import EditError, VidihandError
from core.io.labels_h5 import load_labels
from core.labels.document import Change, LabelDocument, VideoMeta
from core.recon.base import meta_for
from core.video.reader import VideoSource, open_video

EVENTS = (
    "video_changed",
    "document_replaced",
    "document_edited",
    "paths_changed",
    "history_changed",
    "reference_changed",
    "error",
    "autosave_restored",
)

PathLike = str | os.PathLike[str]


def _file_sha256(path: Path) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class Workspace:
    """What is open for review (see the module docstring)."""

    def __init__(self) -> None:
        self.video: VideoSource | None = None
        self.video_path: Path | None = None
        self.doc: LabelDocument | None = None
        #: the document's undo history and crash journal (None while nothing is open)
        self.edit: EditSession | None = None
        #: read-only labels to compare with (compare mode), their path, and whether they were
        #: opened despite a mismatch (then only the common frames are compared)
        self.reference: LabelDocument | None = None
        self.reference_path: Path | None = None
        self.reference_forced = False
        self._observers: dict[str, list[Callable[..., None]]] = {e: [] for e in EVENTS}
        self._unsub_doc: Callable[[], None] | None = None
        self._unsub_history: Callable[[], None] | None = None
        #: the autosave failure last reported through "error" (None: autosave works)
        self._autosave_failure: VidihandError | None = None

    # ---------------------------------------------------------------- events
    def subscribe(self, event: str, callback: Callable[..., None]) -> Callable[[], None]:
        """Call `callback(*args)` on `event`; returns a function that unsubscribes."""
        listeners = self._observers[event]  # KeyError: not an event of the workspace
        listeners.append(callback)

        def unsubscribe() -> None:
            if callback in listeners:
                listeners.remove(callback)

        return unsubscribe

    def _emit(self, event: str, *args: Any) -> None:
        for callback in list(self._observers[event]):
            callback(*args)

    # ----------------------------------------------------------------- state
    @property
    def meta(self) -> VideoMeta | None:
        return None if self.doc is None else self.doc.meta

    @property
    def labels_path(self) -> Path | None:
        """Where Save writes (None: the labels have no file yet; Save asks for one)."""
        return None if self.edit is None else self.edit.labels_path

    @property
    def history(self) -> EditHistory | None:
        return None if self.edit is None else self.edit.history

    @property
    def recovery(self) -> dict[str, Any] | None:
        """What a crashed session's journal holds, until `restore` or `discard_recovery`."""
        return None if self.edit is None else self.edit.recovery

    @property
    def revision(self) -> int:
        """The open document's change counter (0 when none is open)."""
        return 0 if self.doc is None else self.doc.revision

    @property
    def unsaved(self) -> bool:
        """True when the document changed since it was last saved or loaded."""
        return self.doc is not None and self.doc.dirty

    # ----------------------------------------------------------------- video
    def open_video(
        self,
        path: PathLike,
        *,
        options: Mapping[str, Any] | None = None,
        sha256: Callable[[Path], str] | None = None,
    ) -> None:
        """Open a video (or image folder) with a new, empty document. `options` go to
        `open_video`; `sha256(path)` hashes the file (default: read it here). On failure the
        workspace keeps what it had open."""
        path = Path(path).expanduser()
        video = open_video(path, **dict(options or {}))
        try:
            sha = (sha256 or _file_sha256)(path)
        except OSError as exc:
            video.close()
            from core.errors import VideoOpenError

            raise VideoOpenError(f"{path.name} cannot be read to hash it ({exc}).") from exc
        self.set_video(video, path, sha)

    def set_video(self, video: VideoSource, path: PathLike, sha256: str) -> None:
        """Make `video` (opened from `path`, hashed `sha256`) the open video, with a new empty
        document. The previous video is closed and the reference labels dropped."""
        old = self.video
        self.video, self.video_path = video, Path(path).resolve()
        if old is not None and old is not video:
            old.close()
        self.close_reference()
        self._emit("video_changed")
        self.set_document(LabelDocument(meta_for(video, sha256)), None)

    # -------------------------------------------------------------- document
    def set_document(
        self, doc: LabelDocument, labels_path: PathLike | None, *, as_copy: bool = False
    ) -> None:
        """Make `doc` (loaded from `labels_path`; None: never saved) the open document, edited
        through a new `EditSession` (undo history + crash journal). `as_copy`: the labels came
        from `labels_path` but Save must ask for a new file (e.g. the sample's ground truth)."""
        self._close_edit()
        path = None if labels_path is None or as_copy else Path(labels_path).resolve()
        edit = EditSession(doc, path) if path is not None else EditSession.new(doc)
        if edit.recovery is not None and edit.recovery.get("changes", 0) <= 0:
            edit.discard_recovery()  # only the starting snapshot of unsaved labels: no work
        self._install(doc, edit)

    def _install(self, doc: LabelDocument, edit: EditSession) -> None:
        if self._unsub_doc is not None:
            self._unsub_doc()
        self.doc, self.edit = doc, edit
        self._unsub_doc = doc.subscribe(self._on_change)
        self._watch_history()
        self._emit("document_replaced")
        self._emit("paths_changed")
        self._history_changed()

    def _history_changed(self) -> None:
        self._emit("history_changed")
        self._check_autosave()

    def _check_autosave(self) -> None:
        """Report once when the crash journal cannot be written (disk full...), and once when
        it works again: edits stay in memory, but only a save protects them meanwhile."""
        error = self.edit.autosave_error if self.edit is not None else None
        if error is not None and self._autosave_failure is None:
            self._emit("error", error)
        elif error is None and self._autosave_failure is not None:
            self._emit("autosave_restored")
        self._autosave_failure = error

    def _on_change(self, change: Change) -> None:
        self._emit("document_edited", change)

    def _watch_history(self) -> None:
        if self._unsub_history is not None:
            self._unsub_history()
            self._unsub_history = None
        if self.edit is not None:
            self._unsub_history = self.edit.history.subscribe(self._history_changed)

    def load_labels(self, path: PathLike, *, force: bool = False, as_copy: bool = False) -> None:
        """Load a label file for the open video; LabelMismatchError unless it fits or `force`."""
        expect = self.meta
        doc = load_labels(path, expect=expect, force=force)
        if expect is not None:
            # keep the opened video's identity (the hash may differ when forced)
            doc.meta.video_path = expect.video_path
        self.set_document(doc, path, as_copy=as_copy)

    def save(self, path: PathLike | None = None) -> Path:
        """Write the labels atomically to `path` (None: where they came from); the crash journal
        restarts beside them and the document counts as saved."""
        if self.edit is None:
            raise EditError("There are no labels to save.", hint="Open a video first.")
        written = self.edit.save(Path(path).resolve() if path is not None else None)
        self._emit("paths_changed")
        return written

    # -------------------------------------------------------------- recovery
    def restore(self) -> LabelDocument:
        """Replace the document with the crashed session's state (its journal); returns it."""
        if self.edit is None:
            raise EditError("There is no unsaved work to restore.")
        doc = self.edit.restore()
        self._install(doc, self.edit)
        return doc

    def discard_recovery(self) -> None:
        """Drop the crashed session's journal and start journaling the open document."""
        if self.edit is not None:
            self.edit.discard_recovery()
            self._emit("history_changed")

    # ------------------------------------------------------------- reference
    def open_reference(self, path: PathLike, *, force: bool = False) -> LabelDocument:
        """Load read-only reference labels for the open video (compare mode). Raises
        LabelMismatchError when they were made for another video or frame count (unless
        `force`), LabelFileError when unreadable."""
        ref = load_labels(path, expect=self.meta, force=force)
        self.reference, self.reference_path, self.reference_forced = (
            ref,
            Path(path).resolve(),
            force,
        )
        self._emit("reference_changed")
        return ref

    def close_reference(self) -> None:
        if self.reference is None:
            return
        self.reference = self.reference_path = None
        self.reference_forced = False
        self._emit("reference_changed")

    # -------------------------------------------------------------- shutdown
    def _close_edit(self) -> None:
        edit, self.edit = self.edit, None
        if edit is None:
            return
        try:
            edit.close()  # keeps the journal only for unsaved work
        except VidihandError as exc:
            self._emit("error", exc)

    def close(self) -> None:
        """Stop journaling (the journal stays for unsaved work) and close the video."""
        if self._unsub_doc is not None:
            self._unsub_doc()
            self._unsub_doc = None
        if self._unsub_history is not None:
            self._unsub_history()
            self._unsub_history = None
        self._close_edit()
        if self.video is not None:
            self.video.close()
            self.video = None
