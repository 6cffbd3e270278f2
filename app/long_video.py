"""Long videos in the window (issue 8): open at once, scrub without blocking, thumbnails.

Big files (`LONG_VIDEO_BYTES` and up) open with the background frame index
(`open_video(index="background")`: returns after decoding frame 0) and are hashed on a thread,
so the first frame shows in well under a second however long the video. While the user scrubs,
the GUI thread never decodes: `image_for(i)` returns the exact frame when the decode-ahead
cache has it, else the nearest `ProxyStrip` thumbnail (scaled to the frame's size, so the
overlay transform is unchanged) and says which frame that thumbnail is; the `Prefetcher`
decodes frame i on its own thread and `frameReady(i)` (queued to the GUI thread) swaps the
exact frame in. The video pane marks the proxy state with a badge naming the thumbnail's frame,
so labels of frame i are never presented as drawn on the image of another frame.

The timeline gets a thumbnail row (`thumbnail_lane`), filled in as the strip builds. When the
background index completes with another frame count than the header said, an untouched document
is recreated with the final count (an edited one keeps its length and the user is told).
Memory is bounded by the frame cache (`CACHE_BYTES`, `CACHE_BYTES_4K`), the proxy's `max_thumbs`, and the
decoders (a few threads each, core.video.decoder.DECODER_THREADS; the GUI thread's own one is
released while the prefetcher decodes for it); none of it grows with the video's length. Freed
frames go back to the OS at once (core.video.memory), not into heap holes.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from PySide6.QtCore import QObject, Qt, QTimer, Signal, SignalInstance
from PySide6.QtGui import QImage

from core.errors import VidihandError
from core.labels.document import LabelDocument
from core.video.base import VideoInfo
from core.video.hashing import cached_video_sha256, video_sha256
from core.video.memory import return_freed_frames
from core.video.reader import VideoSource

#: files from this size on open with the background index and a background hash
LONG_VIDEO_BYTES = 64 * 2**20
#: frame cache for long videos: ~30 frames at 1080p, ~7 at 4K (4K decoders take more too)
CACHE_BYTES = 192 * 2**20
CACHE_BYTES_4K = 192 * 2**20
THUMB_WIDTH = 128
#: a frame further than this many 720p frames' worth of decoding from where the GUI's decoder
#: can reach it is decoded on the decode-ahead thread (~4 ms a 720p frame: ~50 ms; scaled by
#: frame size, so 5 frames at 1080p, 2 at 4K)
ASYNC_DECODE_FRAMES = 12
#: frames larger than this (pixels) are never scaled for display on the GUI thread: the pane
#: waits for the decode-ahead thread's copy (`Session.display_copy_now`)
WORKER_FRAME_PIXELS = 1920 * 1088


def async_decode_frames(width: int, height: int) -> int:
    """How many frames of this size the GUI thread may decode for a jump (see above)."""
    return max(2, round(ASYNC_DECODE_FRAMES * 1280 * 720 / max(width * height, 1)))


def is_long(path: Path) -> bool:
    return path.is_file() and path.stat().st_size >= LONG_VIDEO_BYTES


class OpenWork(Protocol):
    """What `LongVideo` uses of `app.session.Session`, which owns it (typed by what it offers,
    so neither module imports the other)."""

    videoChanged: SignalInstance
    backgroundError: SignalInstance
    prefetcher: Any
    display_frames: Any

    @property
    def video(self) -> VideoSource | None: ...

    @property
    def doc(self) -> LabelDocument | None: ...

    @property
    def labels_path(self) -> Path | None: ...

    def set_document(self, doc: LabelDocument, labels_path: str | Path | None) -> None: ...


class LongVideo(QObject):
    """Session helper: open options, background hash, proxy strip, exact-frame notifications."""

    #: frame i is decoded and cached (GUI thread)
    frameReady = Signal(int)
    #: more thumbnails arrived (throttled; GUI thread)
    thumbsChanged = Signal()
    #: the background index published (info); GUI thread
    indexChanged = Signal(object)
    _thumbs_raw = Signal()
    _index_raw = Signal(object)

    def __init__(self, session: OpenWork) -> None:
        super().__init__(session)
        self.session = session
        self.threshold = LONG_VIDEO_BYTES
        self.active = False  #: the open video is handled as a long one
        self._pending = False  # the video being opened is a long one
        self.strip = None  #: core.video.proxy.ProxyStrip
        self._hash_thread: threading.Thread | None = None
        self._hash: str | None = None
        self._video_id = 0
        self._scaled: tuple[int, QImage] | None = None  # (thumb frame, scaled image)
        self._thumbs_timer = QTimer(self)
        self._thumbs_timer.setSingleShot(True)
        self._thumbs_timer.setInterval(250)
        self._thumbs_timer.timeout.connect(self.thumbsChanged.emit)
        self._thumbs_raw.connect(self._on_thumbs, Qt.ConnectionType.QueuedConnection)
        self._index_raw.connect(self._on_index, Qt.ConnectionType.QueuedConnection)
        session.videoChanged.connect(self._on_video)

    # ------------------------------------------------------------------ opening
    def open_options(self, path: Path) -> dict:
        """Keyword arguments for `open_video`: the background index for big files."""
        self._pending = path.is_file() and path.stat().st_size >= self.threshold
        return {"index": "background", "cache_bytes": CACHE_BYTES} if self._pending else {}

    def sha256(self, path: Path) -> str:
        """The hash now for small files; for long ones "" now and the document's meta filled in
        by a thread (`finish_hash` waits for it before labels are saved or loaded). Until it is
        known, an unsaved document's crash journal is the shared "unsaved" one."""
        self._hash_thread = None
        if not self._pending:
            return video_sha256(path)
        known = cached_video_sha256(path)  # opened before: the crash journal finds its file
        if known:
            return known
        self._hash = None
        self._video_id += 1
        vid = self._video_id

        def run() -> None:
            try:
                digest = video_sha256(path)
            except OSError:
                digest = ""
            if vid == self._video_id:
                self._hash = digest
                doc = self.session.doc
                if doc is not None and not doc.meta.video_sha256:
                    doc.meta.video_sha256 = digest

        self._hash_thread = threading.Thread(target=run, name="vidihand-hash", daemon=True)
        self._hash_thread.start()
        return ""

    def finish_hash(self) -> None:
        """Wait for the background hash (saving or loading labels needs it)."""
        t = self._hash_thread
        if t is not None:
            t.join()
            doc = self.session.doc
            if doc is not None and not doc.meta.video_sha256 and self._hash:
                doc.meta.video_sha256 = self._hash

    def _on_video(self) -> None:
        """A new video is open (its Prefetcher already started): hook up notifications."""
        self.close_strip()
        self._scaled = None
        self.active = self._pending
        video = self.session.video
        pre = self.session.prefetcher
        if pre is not None:
            # worker thread -> queued to the GUI: an exact frame to swap in (any video: a jump
            # that is expensive to decode is decoded there too, see `decodes_in_background`)
            pre.on_frame = self.frameReady.emit
        if not self.active or video is None:
            return
        if pre is not None:
            if video.info.frame_bytes > 12 * 2**20:
                # the video pane's display-size copies come out of the same budget
                shown = self.session.display_frames
                video.cache.max_bytes = CACHE_BYTES_4K - (shown.cache.max_bytes if shown else 0)
                # 4K: evicted frames must leave the process, not stay as heap holes (costs page
                # faults per frame, so only where the 1.5 GiB budget needs it)
                return_freed_frames()
            if hasattr(video, "release_decoder"):
                # the GUI thread no longer decodes (image_for): free its decoder's frames
                video.release_decoder()
        if hasattr(video, "add_listener"):
            video.add_listener(self._index_raw.emit)
        from core.video.proxy import ProxyStrip

        self.strip = ProxyStrip(
            video,
            width=THUMB_WIDTH,
            on_update=lambda _n: self._thumbs_raw.emit(),
            on_error=self.session.backgroundError.emit,
        ).start()
        self.thumbsChanged.emit()

    def close_strip(self) -> None:
        if self.strip is not None:
            self.strip.close()
            self.strip = None

    # ---------------------------------------------------------------- frames
    def decodes_in_background(self, index: int) -> bool:
        """Should the video pane leave frame `index` to the decode-ahead thread (showing a
        stand-in meanwhile) instead of decoding it on the GUI thread? Always for long videos;
        for any other when it is not cached and reaching it means decoding more than
        `async_decode_frames` frames (~50 ms; a jump into a long GOP: x264's default is 250
        frames, some files have one keyframe in all), which would freeze the window."""
        if self.active:
            return True
        session = self.session
        video = session.video
        if session.prefetcher is None or video is None:
            return False
        cost = getattr(video, "decode_cost", None)
        if cost is None:
            return False
        return cost(index) > async_decode_frames(video.info.width, video.info.height)

    def waits_for_worker(self, index: int) -> bool:
        """Should the video pane keep the picture it shows and wait for `frameReady(index)`?
        When the decode-ahead thread is about to decode `index` on the pass under way (a step
        inside its window, the thread not there yet): decoding it here too was the same frame
        decoded twice on cores both threads need (at 4K a step that decoded here took 40-110
        ms instead of ~20), and a frame decoded here is converted to RGB and scaled by the
        paint besides. At 720p and 1080p as well: back-to-back steps found the frame not
        decoded yet in ~14% of steps, and those made the step p95 (docs/app.md, "Issue 17,
        sixth part"). The session lets that thread decode at full priority meanwhile
        (`Session._on_frame`); the pane shows the frame a few ms after the other views."""
        pre, video = self.session.prefetcher, self.session.video
        if pre is None or video is None or video.decode_cost(index) == 0:
            return False  # (decoded already: the thread's pass may go over it all the same)
        return bool(pre.decoding(index))

    def worker_decodes(self, index: int) -> bool:
        """Is the video pane about to wait for the decode-ahead thread to decode `index`: a step
        the thread is about to decode (`waits_for_worker`), or a frame not decoded yet that the
        pane leaves to it, showing a stand-in (`decodes_in_background`: a jump into a long GOP,
        any frame of a long video)? The session keeps that thread at full priority then."""
        if self.waits_for_worker(index):
            return True
        if not self.decodes_in_background(index):
            return False
        # (a long video leaves every frame to the thread: only those not decoded yet wait)
        video = self.session.video
        return video is not None and video.decode_cost(index) > 0

    def image_for(self, index: int) -> tuple[np.ndarray | QImage | None, int | None]:
        """What to show for frame `index` without blocking: (exact RGB array, None) when
        decoded, else (thumbnail scaled to the frame size, its frame index), or (a black frame, -1)
        while no thumbnail exists yet. Asks the prefetcher for the frame in any case."""
        session = self.session
        pre = session.prefetcher
        img = pre.request(index) if pre is not None else session.video.cached(index)
        if img is not None:
            return img, None
        if pre is None:  # no decode-ahead thread: decoding here is the only way
            return session.video.frame(index), None
        info = session.video.info
        got = self.strip.nearest(index) if self.strip is not None else None
        if got is None:  # no thumbnail yet: a black frame marked "decoding" (-1)
            if self._scaled is None or self._scaled[0] != -1:
                black = QImage(info.width, info.height, QImage.Format.Format_RGB888)
                black.fill(0)
                self._scaled = (-1, black)
            return self._scaled[1], -1
        j, thumb = got
        if self._scaled is None or self._scaled[0] != j:
            t = np.ascontiguousarray(thumb)
            q = QImage(t.data, t.shape[1], t.shape[0], t.strides[0], QImage.Format.Format_RGB888)
            scaled = q.scaled(
                info.width,
                info.height,
                Qt.AspectRatioMode.IgnoreAspectRatio,
                Qt.TransformationMode.FastTransformation,
            )
            self._scaled = (j, scaled)
        return self._scaled[1], j

    # ----------------------------------------------------------------- index
    def _on_thumbs(self) -> None:
        if not self._thumbs_timer.isActive():
            self._thumbs_timer.start()

    def _on_index(self, info: VideoInfo) -> None:
        session = self.session
        if session.video is None or info.path != session.video.info.path:
            return
        self.indexChanged.emit(info)
        doc = session.doc
        if not info.index_complete or doc is None or doc.n_frames == info.n_frames:
            return
        if doc.dirty or session.labels_path is not None:
            session.backgroundError.emit(
                VidihandError(
                    f"The video has {info.n_frames} frames, not {doc.n_frames} as its header "
                    "said; the labels keep their length.",
                    hint="Save, then reopen the video and the labels.",
                )
            )
            return
        from core.recon.base import meta_for

        session.set_document(LabelDocument(meta_for(session.video, doc.meta.video_sha256)), None)

    def close(self) -> None:
        self.close_strip()
