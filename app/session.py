"""The window's adapter of the open work: `core.workspace.Workspace` (video, document, edit
history and journal, label path, reference labels) re-emitted as Qt signals, plus what only a
window needs: the frame clock, decode-ahead and the long-video helpers.

Views never hold the document directly across a file change: they read `session.doc` and
observe `documentReplaced` (another document) and `documentEdited` (a write through
`LabelDocument.write`, forwarded with its `Change`), so undo, a worker's batches and editors all
redraw through the same path. The workspace owns the document's life; this class only forwards.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

from app.frame_clock import FrameClock
from app.long_video import WORKER_FRAME_PIXELS, LongVideo
from core.edits.history import EditHistory
from core.edits.session import EditSession
from core.errors import VideoOpenError
from core.labels.document import Change, LabelDocument, VideoMeta
from core.video.reader import VideoSource, open_video
from core.workspace import Workspace

#: how long the decode-ahead thread yields the cores after a frame change: a 720p / 1080p step's
#: paint takes ~10-15 ms on 2 cores
YIELD_MS = 20


class Session(QObject):
    videoChanged = Signal()
    documentReplaced = Signal()
    documentEdited = Signal(object)  #: core.labels.document.Change
    #: the label path or the saved state changed (the title's marker)
    pathsChanged = Signal()
    #: the undo/redo stacks changed
    historyChanged = Signal()
    #: reference labels (compare mode) opened or closed
    referenceChanged = Signal()
    #: an error on a background thread (decode-ahead); delivered queued in the GUI thread
    backgroundError = Signal(object)
    #: an error the workspace could not raise to a caller (closing the previous journal)
    problem = Signal(object)
    #: the crash journal records edits again after it had failed (reported through `problem`)
    autosaveRestored = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.work = Workspace()
        self.clock = FrameClock(parent=self)
        self.prefetcher = None  #: core.video.prefetch.Prefetcher when available
        #: display-size copies the prefetcher makes for the video pane (core/video/display.py)
        self.display_frames = None
        #: big files: background index and hash, proxy thumbnails (app/long_video.py)
        self.long_video = LongVideo(self)
        self.clock.frameChanged.connect(self._on_frame)
        #: ends the decode-ahead thread's yielding after a frame step (`_on_frame`)
        self._unyield = QTimer(self, singleShot=True, interval=YIELD_MS)
        self._unyield.timeout.connect(self._end_yield)
        w = self.work
        w.subscribe("video_changed", self._on_video)
        w.subscribe("document_replaced", self._on_document)
        w.subscribe("document_edited", self._on_change)
        w.subscribe("paths_changed", self.pathsChanged.emit)
        w.subscribe("history_changed", self.historyChanged.emit)
        w.subscribe("reference_changed", self.referenceChanged.emit)
        w.subscribe("error", self.problem.emit)
        w.subscribe("autosave_restored", self.autosaveRestored.emit)

    # ------------------------------------------------------- the workspace's state
    @property
    def video(self) -> VideoSource | None:
        return self.work.video

    @property
    def video_path(self) -> Path | None:
        return self.work.video_path

    @property
    def doc(self) -> LabelDocument | None:
        return self.work.doc

    @property
    def labels_path(self) -> Path | None:
        return self.work.labels_path

    @property
    def edit_session(self) -> EditSession | None:
        return self.work.edit

    @property
    def history(self) -> EditHistory | None:
        return self.work.history

    @property
    def recovery(self) -> dict[str, Any] | None:
        return self.work.recovery

    @property
    def dirty(self) -> bool:
        return self.work.unsaved

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
        self._stop_prefetch()
        self.work.set_video(video, path, sha)

    def _on_video(self) -> None:
        self._start_prefetch()
        self.videoChanged.emit()

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

    def display_copy_now(self, index: int) -> bool:
        """Make frame `index`'s display copy here when the decode-ahead thread has decoded it
        but not scaled it yet (a step that caught up with that thread): one swscale pass, ~2
        ms at 1080p, where the RGB frame converted here and scaled by the paint took ~8-10.
        Frames up to 1080p (above, the video pane waits for that thread: app/long_video.py).
        False when there is nothing to make it from."""
        frames, video = self.display_frames, self.video
        if frames is None or video is None or frames.size is None:
            return False
        if video.info.width * video.info.height > WORKER_FRAME_PIXELS:
            return False
        frame = video.raw_frame(index) if hasattr(video, "raw_frame") else None
        return frame is not None and frames.make_here(index, frame)

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

    def _end_yield(self) -> None:
        if self.prefetcher is not None:
            self.prefetcher.yield_cpu(False)

    def _on_frame(self, index: int) -> None:
        pre = self.prefetcher
        if pre is not None:
            pre.set_current(index)
            # a step's paint first: the decode-ahead thread yields the cores for a moment
            # (core/video/prefetch.py, `yield_cpu`; docs/app.md, "Issue 17, fourth part");
            # not in playback, where it must keep ahead of the clock, and not when it is to
            # decode this very frame: the video pane waits for it then (a step it is about to
            # decode, or a jump into a long GOP: `LongVideo.worker_decodes`), so it decodes at
            # full priority (idle priority on a machine busy with other work is no CPU at all)
            if self.clock.playing:
                return
            if self.long_video.worker_decodes(index):
                self._unyield.stop()
                pre.yield_cpu(False)
            elif pre.yield_cpu(True) or self._unyield.isActive():
                self._unyield.start()

    # -------------------------------------------------------------- document
    def set_document(
        self, doc: LabelDocument, labels_path: str | Path | None, *, as_copy: bool = False
    ) -> None:
        self.work.set_document(doc, labels_path, as_copy=as_copy)

    def _on_document(self) -> None:
        doc = self.work.doc
        assert doc is not None
        frame = min(self.clock.frame, max(doc.n_frames - 1, 0))
        # views refresh on documentReplaced and read the clock: give it the new length first
        self.clock.reset(doc.n_frames, doc.meta.fps, frame, notify=False)
        self.documentReplaced.emit()
        self.clock.reset(doc.n_frames, doc.meta.fps, frame)

    def _on_change(self, change: Change) -> None:
        self.documentEdited.emit(change)

    def load_labels(self, path: str | Path, *, force: bool = False, as_copy: bool = False) -> None:
        """Load a label file for the open video; LabelMismatchError unless it fits or `force`.
        `as_copy`: Save asks for a new file (the sample's ground truth is never overwritten)."""
        self.long_video.finish_hash()
        self.work.load_labels(path, force=force, as_copy=as_copy)

    def save_labels(self, path: str | Path | None = None) -> Path:
        """Save atomically (to `path`, or where the labels came from); restarts the journal."""
        self.long_video.finish_hash()
        return self.work.save(path)

    def restore_recovery(self) -> LabelDocument:
        """Take back the crashed session's unsaved work (the workspace replaces the document)."""
        return self.work.restore()

    def discard_recovery(self) -> None:
        self.work.discard_recovery()

    def export_npz(self, path: str | Path) -> Path:
        from core.io.npz import save_npz

        if self.doc is None:
            raise RuntimeError("nothing to export")
        return save_npz(self.doc, path)

    def close(self) -> None:
        self.long_video.close()
        self._stop_prefetch()
        self.work.close()
