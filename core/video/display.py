"""Display-size copies of decoded frames, made on the decode-ahead thread.

A review window shows a 1080p frame at about half size. Scaling it on the GUI thread (Qt's
bilinear draw, plus a 32-bit conversion first) cost ~4.5 ms of every 1080p frame step, and more
at 4K. `DisplayFrames` holds frames already scaled to the size the video pane will paint them
at, as 32-bit BGRA pixels (Qt's `Format_RGB32` on little-endian machines, painted without any
conversion). The `Prefetcher` makes them (`make`) for the frames just around the current one
(`wanted`), with OpenCV, which releases the GIL: the GUI thread only blits.

The copies' memory is reused: a copy evicted from the cache that nobody else holds any more
(the GUI holds the one it paints) is written over by the next copy, and the intermediate images
of the scaling are kept from frame to frame. A fresh frame-sized array costs a page fault per
4 KiB page when first written (2 us each on the virtual machines measured: ~1.3 ms for a
1076x605 BGRA copy, ~3 ms for a 4K frame's half-size intermediate), every frame.

The GUI sets the size it paints at (`set_size`; None when it is not shrinking the frame, or
paints it some other way) and asks the prefetcher to `refresh` when that changed. Frames made
for another size are never returned. Memory is bounded in bytes (`DISPLAY_BYTES`) whatever the
video's resolution: the copies are display-sized.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

import numpy as np

from core.video.cache import FrameCache

#: memory for display-size copies (about 9 frames of a 1076x605 pane)
DISPLAY_BYTES = 24 * 2**20
#: swscale threads for a display copy: one. With more (FFmpeg's automatic count, or a fixed 2)
#: the same frame scaled twice came out different at a few pixels where the slices meet, now
#: and then (a race in the threaded scaler): a copy must be the same every time, on either
#: thread. One thread costs 4K frames ~1.6 ms more (3.5 against 1.9 ms), 1080p ~1 ms
SWS_THREADS = 1


def _cv2() -> Any:
    """OpenCV, or None (then the GUI scales frames itself, as before)."""
    try:
        import cv2
    except ImportError:
        return None
    return cv2


def available() -> bool:
    return _cv2() is not None and sys.byteorder == "little"


def scale_to_bgra(
    rgb: np.ndarray,
    size: tuple[int, int],
    out: np.ndarray | None = None,
    scratch: dict[tuple[int, ...], np.ndarray] | None = None,
) -> np.ndarray:
    """(H, W, 3) RGB -> (h, w, 4) BGRA (alpha 255) at `size` = (w, h): bilinear, after an
    exact 2x area reduction when shrinking below half size (so 4K frames do not alias).
    Written into `out` when it is a writable (h, w, 4) uint8 array; the intermediate images go
    into `scratch` (shape -> array, kept by the caller from one frame to the next)."""
    cv2 = _cv2()
    if cv2 is None:
        raise RuntimeError("OpenCV is not installed")
    w, h = size

    def buffer(shape: tuple[int, ...]) -> np.ndarray | None:
        if scratch is None:
            return None
        if shape not in scratch:
            scratch[shape] = np.empty(shape, np.uint8)
        return scratch[shape]

    src = rgb
    while src.shape[1] >= 2 * w and src.shape[0] >= 2 * h:
        half = (src.shape[1] // 2, src.shape[0] // 2)
        src = cv2.resize(src, half, dst=buffer((half[1], half[0], 3)), interpolation=cv2.INTER_AREA)
    if (src.shape[1], src.shape[0]) != (w, h):
        src = cv2.resize(src, (w, h), dst=buffer((h, w, 3)), interpolation=cv2.INTER_LINEAR)
    if out is None or out.shape != (h, w, 4) or out.dtype != np.uint8 or not out.flags.writeable:
        out = np.empty((h, w, 4), np.uint8)
    cv2.cvtColor(src, cv2.COLOR_RGB2BGRA, dst=out)
    return out


class BgraScaler:
    """Scales decoded frames (YUV) to BGRA display copies for one thread: by swscale straight
    into the copy's memory where it can (core/video/sws.py: no per-frame allocation, no copy),
    else through PyAV's reformatter (a new frame each time, copied into the array)."""

    def __init__(self) -> None:
        from av.video.reformatter import VideoReformatter

        from core.video import sws

        self._reformatter = VideoReformatter()
        self.direct = sws.DirectScaler.create(self._pyav)

    def _pyav(self, frame: Any, size: tuple[int, int]) -> np.ndarray:
        return self._reformatter.reformat(
            frame,
            width=size[0],
            height=size[1],
            format="bgra",
            interpolation="AREA",
            threads=SWS_THREADS,
        ).to_ndarray()

    def __call__(self, frame: Any, size: tuple[int, int], out: np.ndarray) -> np.ndarray:
        """`frame` scaled to `size` as BGRA with alpha 255, written into `out`."""
        if self.direct is None or not self.direct.scale(frame, size, out):
            np.copyto(out, self._pyav(frame, size))  # FFmpeg's rows may be padded: packed
        if _has_alpha(frame):  # (without alpha in the source swscale writes 255 itself)
            out[..., 3] = 255  # RGB32 is opaque: a source's transparency must not reach Qt
        return out


def _has_alpha(frame: Any) -> bool:
    """Does the decoded frame's pixel format carry alpha (which swscale copies through)? The
    alpha pass over a copy was ~0.2 ms of a 1080p frame on the decode-ahead thread."""
    name = frame.format.name
    has = _ALPHA_FORMATS.get(name)
    if has is None:
        has = _ALPHA_FORMATS[name] = any(c.is_alpha for c in frame.format.components)
    return has


#: pixel format name -> has an alpha component
_ALPHA_FORMATS: dict[str, bool] = {}


class DisplayFrames:
    """Frame index -> display-size BGRA copy, for one display size at a time. Thread-safe."""

    def __init__(self, max_bytes: int = DISPLAY_BYTES, ahead: int = 6, behind: int = 2) -> None:
        self.cache = FrameCache(max_bytes)
        self.ahead = ahead
        self.behind = behind
        self._size: tuple[int, int] | None = None
        self._lock = threading.Lock()
        #: evicted copies nobody holds (written over by the next ones; either thread takes one,
        #: under the lock) and the scaling's intermediate images (the decode-ahead thread's)
        self._spare: list[np.ndarray] = []
        self._scratch: dict[tuple[int, ...], np.ndarray] = {}
        self._pool_size: tuple[int, int] | None = None
        self._scaler: BgraScaler | None = None  #: for `make_from_frame` (decode-ahead thread)
        self._here_scaler: BgraScaler | None = None  #: and for `make_here` (the GUI thread)
        #: copies written into reused memory (tests, benchmarks)
        self.reused = 0
        #: copies made (tests, benchmarks)
        self.made = 0
        cv2 = _cv2()
        if cv2 is not None:
            # one thread: OpenCV's pool would compete with the GUI thread for the same cores
            # (the GUI process has no other OpenCV user; MediaPipe runs in the worker process)
            cv2.setNumThreads(1)

    @property
    def size(self) -> tuple[int, int] | None:
        with self._lock:
            return self._size

    def set_size(self, size: tuple[int, int] | None) -> bool:
        """The size (w, h) the GUI paints frames at, or None. True when it changed (the copies
        made for the old size are dropped)."""
        size = None if size is None else (int(size[0]), int(size[1]))
        if size is not None and (size[0] < 1 or size[1] < 1):
            size = None
        with self._lock:
            if size == self._size:
                return False
            self._size = size
        self.cache.clear()
        return True

    def get(self, index: int, size: tuple[int, int] | None = None) -> np.ndarray | None:
        """The copy of frame `index` at `size` (default: the current size), or None."""
        size = size or self.size
        img = self.cache.get(index)
        if img is None or size is None or (img.shape[1], img.shape[0]) != size:
            return None
        return img

    def wanted(self, index: int, center: int) -> bool:
        """Should the decode-ahead thread make a copy of `index` now that `center` is current?
        Only as many frames as the budget holds (a big pane holds fewer): the current one, then
        those after it, then those before it."""
        size = self.size
        if size is None:
            return False
        fit = max(1, self.cache.max_bytes // (size[0] * size[1] * 4))
        ahead = min(self.ahead, fit - 1)
        behind = min(self.behind, fit - 1 - ahead)
        if not center - behind <= index <= center + ahead:
            return False
        return self.get(index, size) is None

    def make(self, index: int, rgb: np.ndarray) -> None:
        """Scale `rgb` (frame `index`) to the current size and keep it (decode-ahead thread)."""
        size = self.size
        if size is None or rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            return  # nothing wanted, or not an RGB frame: the GUI paints it itself
        out = scale_to_bgra(rgb, size, out=self._out(size), scratch=self._scratch)
        self._store(index, size, out)

    def make_from_frame(self, index: int, frame: Any) -> bool:
        """Scale a decoded frame (an `av.VideoFrame`, YUV) straight to the current size and keep
        it (decode-ahead thread): one swscale pass, no full-size RGB on the way (that
        conversion was the largest part of a 4K frame's cost). False when it cannot (no size,
        a rotated frame): make the RGB frame and use `make`."""
        size = self._size_for(frame)
        if size is None:
            return False
        if self._scaler is None:
            self._scaler = BgraScaler()
        out = self._scaler(frame, size, self._out(size))
        self._store(index, size, out)
        return True

    def make_here(self, index: int, frame: Any) -> bool:
        """`make_from_frame` for the GUI thread: a frame the decode-ahead thread decoded but has
        not scaled yet, which the GUI needs now (its own swscale context; a spare array when
        there is one)."""
        size = self._size_for(frame)
        if size is None:
            return False
        if self._here_scaler is None:
            self._here_scaler = BgraScaler()
        out = self._take_spare(size)  # (a fresh 1080p copy was ~600 page faults here)
        if out is None:
            out = np.empty((size[1], size[0], 4), np.uint8)
        self._store(index, size, self._here_scaler(frame, size, out))
        return True

    def _size_for(self, frame: Any) -> tuple[int, int] | None:
        """The size to scale a decoded frame to, or None: no size set, or a rotated frame
        (those take the RGB way, `make`)."""
        if int(getattr(frame, "rotation", 0) or 0) % 360:
            return None
        return self.size

    def _out(self, size: tuple[int, int]) -> np.ndarray:
        """A (h, w, 4) array to write the next copy into: a spare one when there is one
        (decode-ahead thread: the scaling's intermediates are reset here too)."""
        if self._pool_size != size:  # another size now: the old spares do not fit
            with self._lock:
                self._spare.clear()
            self._scratch.clear()
            self._pool_size = size
        spare = self._take_spare(size)
        return spare if spare is not None else np.empty((size[1], size[0], 4), np.uint8)

    def _take_spare(self, size: tuple[int, int]) -> np.ndarray | None:
        """A spare array of `size`, now the caller's (either thread), or None."""
        shape = (size[1], size[0], 4)
        with self._lock:
            spare = next((a for a in self._spare if a.shape == shape), None)
            if spare is None:
                return None
            self._spare.remove(spare)
        spare.flags.writeable = True  # ours: nobody else held it when it was evicted
        self.reused += 1
        return spare

    def _store(self, index: int, size: tuple[int, int], out: np.ndarray) -> None:
        out.flags.writeable = False
        if self.size == size:  # not resized meanwhile
            self._keep(self.cache.put(index, out))
            self.made += 1

    def _keep(self, evicted: list[np.ndarray]) -> None:
        """Evicted copies that nothing else refers to (the GUI keeps the one it painted, and
        any other it still holds stays its own) become spares, a few at most."""
        for arr in evicted:
            # references: this loop's variable, the list, getrefcount's argument
            if arr.base is None and sys.getrefcount(arr) <= 3:
                with self._lock:
                    if len(self._spare) < 2:
                        self._spare.append(arr)

    def clear(self) -> None:
        self.cache.clear()
