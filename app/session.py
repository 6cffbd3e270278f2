"""What the window has open: one video, its label document, their paths and the frame clock.

Views never hold the document directly across a file change: they read `session.doc` and
observe `documentReplaced` (another document) and `documentEdited` (a write through
`LabelDocument.write`, forwarded with its `Change`), so undo, a worker's batches and later
editors all redraw through the same path.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal

from app.frame_clock import FrameClock
from app.long_video import LongVideo
from core.errors import VideoOpenError
from core.io.labels_h5 import load_labels, save_labels
from core.labels.document import Change, LabelDocument, VideoMeta
from core.recon.base import meta_for
from core.video.reader import VideoSource, open_video


class Session(QObject):
    videoChanged = Signal()
    documentReplaced = Signal()
    documentEdited = Signal(object)  #: core.labels.document.Change
    pathsChanged = Signal()
    #: an error on a background thread (decode-ahead); delivered queued in the GUI thread
    backgroundError = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.clock = FrameClock(parent=self)
        self.video: VideoSource | None = None
        self.video_path: Path | None = None
        self.doc: LabelDocument | None = None
        self.labels_path: Path | None = None
        self.prefetcher = None  #: core.video.prefetch.Prefetcher when available
        #: display-size copies the prefetcher makes for the video pane (core/video/display.py)
        self.display_frames = None
        #: core.edits.EditSession editing `doc` (undo + crash journal; set by app/editing.py)
        self.edit_session = None
        #: big files: background index and hash, proxy thumbnails (app/long_video.py)
        self.long_video = LongVideo(self)
        self._unsubscribe = None
        self.clock.frameChanged.connect(self._on_frame)

    # ----------------------------------------------------------------- video
    def open_video(self, path: str | Path) -> None:
        """Open a video (or image folder) with a new, empty document. On failure the session
        keeps what it had open."""
        path = Path(path).expanduser()
        video = open_video(path, **self.long_video.open_options(path))
        try:
            sha = self.long_video.sha256(path)
        except OSError as exc:
            video.close()
            raise VideoOpenError(f"{path.name} cannot be read to hash it ({exc}).") from exc
        old = self.video
        self._stop_prefetch()
        self.video, self.video_path = video, path.resolve()
        if old is not None:
            old.close()
        self._start_prefetch()
        self.videoChanged.emit()
        self.set_document(LabelDocument(meta_for(video, sha)), None)

    @property
    def meta(self) -> VideoMeta | None:
        return None if self.doc is None else self.doc.meta

    def frame_image(self, index: int) -> np.ndarray | None:
        """The exact RGB frame `index`: from the decode-ahead cache when it is there, else
        decoded here (a step forward continues the decoder: one frame's work)."""
        if self.video is None:
            return None
        if self.prefetcher is not None:
            img = self.prefetcher.request(index)
            if img is not None:
                return img
        return self.video.frame(index)

    # ---------------------------------------------------------- decode-ahead
    def _start_prefetch(self) -> None:
        """Decode frames around the current one on a background thread (core/video/prefetch.py,
        where this checkout has it), so playback and stepping read cached frames."""
        try:
            from core.video.prefetch import Prefetcher
        except ImportError:
            return
        if self.video is None or not hasattr(self.video, "fork"):
            return
        from core.video import display

        self.display_frames = display.DisplayFrames() if display.available() else None
        try:
            self.prefetcher = Prefetcher(
                self.video, on_error=self.backgroundError.emit, display=self.display_frames
            )
        except Exception as exc:  # noqa: BLE001 - the app works without decode-ahead
            self.prefetcher = self.display_frames = None
            self.backgroundError.emit(exc)

    def _stop_prefetch(self) -> None:
        if self.prefetcher is not None:
            self.prefetcher.close()
            self.prefetcher = None
        self.display_frames = None

    def _on_frame(self, index: int) -> None:
        if self.prefetcher is not None:
            self.prefetcher.set_current(index)

    # -------------------------------------------------------------- document
    def set_document(self, doc: LabelDocument, labels_path: str | Path | None) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
        self.doc = doc
        self.labels_path = None if labels_path is None else Path(labels_path).resolve()
        self._unsubscribe = doc.subscribe(self._on_change)
        frame = min(self.clock.frame, max(doc.n_frames - 1, 0))
        # views refresh on documentReplaced and read the clock: give it the new length first
        self.clock.reset(doc.n_frames, doc.meta.fps, frame, notify=False)
        self.documentReplaced.emit()
        self.pathsChanged.emit()
        self.clock.reset(doc.n_frames, doc.meta.fps, frame)

    def _on_change(self, change: Change) -> None:
        self.documentEdited.emit(change)

    def load_labels(self, path: str | Path, *, force: bool = False) -> None:
        """Load a label file for the open video; LabelMismatchError unless it fits or `force`."""
        self.long_video.finish_hash()
        expect = self.meta
        doc = load_labels(path, expect=expect, force=force)
        if expect is not None:
            # keep the opened video's identity (the hash may differ when forced)
            doc.meta.video_path = expect.video_path
        self.set_document(doc, path)

    def save_labels(self, path: str | Path | None = None) -> Path:
        if self.doc is None:
            raise RuntimeError("nothing to save")
        target = Path(path) if path is not None else self.labels_path
        if target is None:
            raise ValueError("no label path yet: use save as")
        self.long_video.finish_hash()
        if self.edit_session is not None and self.edit_session.doc is self.doc:
            written = self.edit_session.save(target)  # atomic; restarts the crash journal
        else:
            written = save_labels(self.doc, target)
        self.labels_path = written.resolve()
        self.pathsChanged.emit()
        return written

    def export_npz(self, path: str | Path) -> Path:
        from core.io.npz import save_npz

        if self.doc is None:
            raise RuntimeError("nothing to export")
        return save_npz(self.doc, path)

    @property
    def dirty(self) -> bool:
        return self.doc is not None and self.doc.dirty

    def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self.edit_session is not None:  # keeps the journal only for unsaved work
            self.edit_session.close()
            self.edit_session = None
        self.long_video.close()
        self._stop_prefetch()
        if self.video is not None:
            self.video.close()
            self.video = None
