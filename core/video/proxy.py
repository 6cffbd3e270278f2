"""A low-resolution proxy of a whole video: small thumbnails across its length, built on a
background thread and kept on disk, for the timeline's thumbnail strip and for instant feedback
while scrubbing (the exact frame replaces the thumbnail as soon as it is decoded).

Two ways to build it:
- keyframes only (long videos): the decoder skips every non-key frame, so an hour of 1080p with
  a keyframe every 10 s costs reading the file once plus decoding ~360 frames;
- every N-th frame (short videos): a full decode that skips non-reference B-frames, keeping a
  thumbnail whenever N frames of time have passed.

Thumbnails are stored by their time in seconds, not by frame index, and mapped to frame indices
through `video.info.timestamps` when asked: they stay right while a background index is still
replacing estimated timestamps by exact ones.

Cache: `core.paths.cache_dir()/proxies/<key>.npz`, key = SHA-1 of the resolved path, size,
mtime, thumbnail size and mode, so a changed file gets a new proxy and reopening a video loads
its strip at once.
"""

from __future__ import annotations

import hashlib
import math
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from core.errors import VideoReadError, VidihandError
from core.io.numpy_read import read_npz
from core.paths import cache_dir
from core.video.base import VideoSource
from core.video.decoder import limit_threads
from core.video.index import lower_thread_priority

#: videos longer than this (frames) get a keyframes-only proxy by default
KEYFRAMES_ONLY_ABOVE = 18_000
DEFAULT_MAX_THUMBS = 2000


class ProxyStrip:
    """Thumbnails of `video` (about `width` pixels wide), built by `start()` in the background."""

    def __init__(
        self,
        video: VideoSource,
        width: int = 128,
        every: int | None = None,
        keyframes_only: bool | None = None,
        max_thumbs: int = DEFAULT_MAX_THUMBS,
        on_update: Callable[[int], None] | None = None,
        on_error: Callable[[VidihandError], None] | None = None,
        cache_root: Path | None = None,
    ) -> None:
        info = video.info
        self.video = video
        self.path = Path(info.path)
        self.width = int(width)
        self.height = max(2, int(round(width * info.height / max(info.width, 1) / 2)) * 2)
        n = info.n_frames
        if keyframes_only is None:
            keyframes_only = every is None and n > KEYFRAMES_ONLY_ABOVE
        if info.timestampless or info.is_image_folder:
            keyframes_only = False  # no keyframes to skip to / nothing to skip
        self.keyframes_only = bool(keyframes_only)
        self.every = 0 if self.keyframes_only else int(every or max(1, math.ceil(n / max_thumbs)))
        self.on_update = on_update
        self.on_error = on_error
        self.error: VidihandError | None = None
        self.from_cache = False
        self.build_seconds = 0.0
        self._root = cache_root
        self._times: list[float] = []
        self._thumbs: list[np.ndarray] = []
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._map_key: tuple[int, int] = (-1, -1)
        self._map = np.empty(0, np.int64)
        self._reformatter = VideoReformatter()  # reused: building one per frame is slow

    # ------------------------------------------------------------------ public
    @property
    def cache_file(self) -> Path:
        st = self.path.stat()
        mode = "key" if self.keyframes_only else f"every{self.every}"
        raw = f"{self.path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{self.width}x{self.height}|{mode}|v1"
        root = self._root or cache_dir() / "proxies"
        return root / (hashlib.sha1(raw.encode()).hexdigest()[:24] + ".npz")

    def start(self) -> ProxyStrip:
        """Load the strip from the disk cache, or start building it on a thread."""
        if self._load():
            return self
        self._thread = threading.Thread(target=self._run, name="vidihand-proxy", daemon=True)
        self._thread.start()
        return self

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(10)

    def __len__(self) -> int:
        with self._lock:
            return len(self._thumbs)

    def frame_indices(self) -> np.ndarray:
        """Frame index of each thumbnail (sorted), through the video's current timestamps."""
        ts = self.video.info.timestamps
        with self._lock:
            key = (id(ts), len(self._times))
            if key != self._map_key:
                times = np.asarray(self._times, np.float64)
                idx = np.searchsorted(ts, times - 1e-4)
                self._map = np.minimum(idx, max(len(ts) - 1, 0)).astype(np.int64)
                self._map_key = key
            return self._map

    def nearest(self, index: int) -> tuple[int, np.ndarray] | None:
        """The thumbnail at or before frame `index` (the first one if none is before), with its
        frame index; None while no thumbnail exists yet."""
        idx = self.frame_indices()
        if not len(idx):
            return None
        k = max(int(np.searchsorted(idx, index, side="right")) - 1, 0)
        with self._lock:
            return int(idx[k]), self._thumbs[k]

    def get(self, index: int) -> np.ndarray | None:
        """Thumbnail to show for frame `index` until the exact frame is decoded."""
        got = self.nearest(index)
        return None if got is None else got[1]

    def thumbnails(self, count: int) -> list[tuple[int, np.ndarray]]:
        """`count` thumbnails spread evenly over the video, for a timeline strip."""
        n = self.video.info.n_frames
        out: list[tuple[int, np.ndarray]] = []
        for i in np.linspace(0, max(n - 1, 0), max(count, 1)).round().astype(int):
            got = self.nearest(int(i))
            if got is not None and (not out or out[-1][0] != got[0]):
                out.append(got)
        return out

    # ----------------------------------------------------------------- build
    def _add(self, t: float, thumb: np.ndarray) -> None:
        thumb.flags.writeable = False
        with self._lock:
            self._times.append(t)
            self._thumbs.append(thumb)
            n = len(self._thumbs)
        if self.on_update is not None and (n < 16 or n % 16 == 0):
            self.on_update(n)

    def _run(self) -> None:
        lower_thread_priority()
        t0 = time.perf_counter()
        try:
            if self.video.info.is_image_folder:
                self._build_images()
            else:
                self._build_decoded()
            if not self._stop.is_set():
                self._save()
        except VidihandError as exc:
            self._fail(exc)
        except (av.error.FFmpegError, OSError, ValueError) as exc:
            self._fail(
                VideoReadError(
                    f"Building the thumbnail strip of {self.path.name} failed: {exc}",
                    hint="Scrubbing still works, without thumbnails.",
                )
            )
        finally:
            self.build_seconds = time.perf_counter() - t0
            self._done.set()
            if self.on_update is not None:
                self.on_update(len(self))

    def _fail(self, exc: VidihandError) -> None:
        self.error = exc
        if self.on_error is not None:
            self.on_error(exc)

    def _build_images(self) -> None:
        from PIL import Image

        info = self.video.info
        for i in range(0, info.n_frames, self.every):
            if self._stop.is_set():
                return
            img = Image.fromarray(self.video.frame(i)).resize(
                (self.width, self.height), Image.Resampling.BILINEAR
            )
            self._add(i / info.fps, np.asarray(img))

    def _build_decoded(self) -> None:
        info = self.video.info
        tb = float(getattr(self.video, "time_base", 0.0) or 0.0)
        first = int(getattr(self.video, "first_pts", 0) or 0)
        step_t = self.every / info.fps if self.every else 0.0
        with av.open(str(self.path), metadata_errors="ignore") as container:
            stream = container.streams.video[0]
            # keyframes only: one thread (each frame thread holds full-size frames; this runs in
            # the background at low priority anyway)
            limit_threads(stream, 1 if self.keyframes_only else 2)
            # frames nobody references can be skipped: in keyframe mode all but keyframes
            stream.codec_context.skip_frame = "NONKEY" if self.keyframes_only else "NONREF"
            due = -1.0
            ordinal = -1
            try:
                for frame in container.decode(stream):
                    if self._stop.is_set():
                        return
                    ordinal += 1
                    if info.timestampless or frame.pts is None or not tb:
                        t = ordinal / info.fps
                    else:
                        t = (int(frame.pts) - first) * tb
                    if t < 0 or (not self.keyframes_only and t < due - 1e-6):
                        continue
                    due = t + step_t
                    self._add(t, self._thumb(frame))
            except av.error.FFmpegError as exc:
                if not len(self):
                    raise
                # a damaged tail: keep the thumbnails before it
                self.error = VideoReadError(f"{self.path.name}: thumbnails stop early ({exc}).")

    def _thumb(self, frame: av.VideoFrame) -> np.ndarray:
        r = int(frame.rotation or 0) % 360 // 90  # counter-clockwise quarter turns
        w, h = (self.height, self.width) if r % 2 else (self.width, self.height)
        img = self._reformatter.reformat(
            frame, width=w, height=h, format="rgb24", interpolation="AREA"
        ).to_ndarray()
        return np.ascontiguousarray(np.rot90(img, k=r)) if r else img

    # ----------------------------------------------------------------- disk cache
    def _load(self) -> bool:
        try:
            f = self.cache_file
            if not f.exists():
                return False
            z = read_npz(f)
            times, thumbs = z["times"], z["thumbs"]
        except (OSError, ValueError, KeyError):
            return False  # a damaged cache file is rebuilt
        with self._lock:
            self._times = [float(t) for t in times]
            self._thumbs = list(thumbs)
        for t in self._thumbs:
            t.flags.writeable = False
        self.from_cache = True
        self._done.set()
        return True

    def _save(self) -> None:
        with self._lock:
            if not self._thumbs:
                return
            times = np.asarray(self._times, np.float64)
            thumbs = np.stack(self._thumbs)
        order = np.argsort(times, kind="stable")
        try:
            f = self.cache_file
            f.parent.mkdir(parents=True, exist_ok=True)
            tmp = f.with_name(f".{f.stem}.{os.getpid()}.{threading.get_ident()}.tmp.npz")
            np.savez(tmp, times=times[order], thumbs=thumbs[order])
            os.replace(tmp, f)
        except OSError:
            pass  # a read-only cache only costs a rebuild next time
