"""What a video has decoded already, and what reaching another frame costs.

Two stores, shared by a video and its forks: the RGB frame cache (core/video/cache.py) and
`RawFrames`, frames decoded but not converted to RGB. The decode-ahead thread keeps frames
unconverted while the GUI paints display-size copies made straight from them (the RGB
conversion was the largest part of a 4K frame's cost, and nobody looked at the result);
`frame()` and `cached()` convert a kept frame on the caller's thread when someone does ask for
the RGB, exactly as decoding would have (docs/video.md, "Display-size copies").

`DecodedFrames` is the part of `core.video.decoder.PyAVVideo` that answers from these stores:
`cached`, `frame_raw`, `decode_cost`, `is_exact`. It uses the decoder's `_shared` state,
`_lock`, `_kept` frames and `_decode_exact`.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import av
import numpy as np

from core.video.index import IndexState, key_before

#: memory for decoded frames not converted yet (YUV: 1.5 bytes a pixel): ~31 1080p frames,
#: ~7 4K ones; the decode-ahead window is sized to half of it
RAW_BYTES = 96 * 2**20
#: when the wanted frame lies at most this many frames ahead in a not yet indexed region,
#: decode forward instead of seeking
_CONTINUE_FRAMES = 300


class RawFrames:
    """Frame index -> decoded `av.VideoFrame` not converted to RGB, LRU, bounded in bytes.
    Thread-safe; `take` hands a frame to the one thread that converts it, and the frame
    counts as held (`in`) until that thread says it is `converted`: another thread that
    asks meanwhile waits for it (`wait_converted`) instead of decoding it again."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = int(max_bytes)
        self._items: OrderedDict[int, tuple[av.VideoFrame, int]] = OrderedDict()
        self._bytes = 0
        self._converting: set[int] = set()
        self._cond = threading.Condition()

    def put(self, index: int, frame: av.VideoFrame) -> None:
        size = int(frame.width) * int(frame.height) * 3 // 2
        with self._cond:
            if index in self._items:
                return
            self._items[index] = (frame, size)
            self._bytes += size
            while self._bytes > self.max_bytes and len(self._items) > 1:
                _, (_, old) = self._items.popitem(last=False)
                self._bytes -= old

    def get(self, index: int) -> av.VideoFrame | None:
        with self._cond:
            item = self._items.get(index)
            return None if item is None else item[0]

    def take(self, index: int) -> av.VideoFrame | None:
        """The frame, removed, for the caller to convert (then `converted(index)`, always);
        None when it is not here (another thread may be converting it: `wait_converted`)."""
        with self._cond:
            item = self._items.pop(index, None)
            if item is None:
                return None
            self._bytes -= item[1]
            self._converting.add(index)
            return item[0]

    def converted(self, index: int) -> None:
        """The frame `take` handed out is in the RGB cache now (or its conversion failed)."""
        with self._cond:
            self._converting.discard(index)
            self._cond.notify_all()

    def wait_converted(self, index: int, timeout: float = 5.0) -> bool:
        """Wait until no thread is converting frame `index`; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: index not in self._converting, timeout)

    def __contains__(self, index: int) -> bool:
        """Decoded and not converted yet, or being converted right now."""
        with self._cond:
            return index in self._items or index in self._converting

    def clear(self) -> None:
        with self._cond:
            self._items.clear()
            self._bytes = 0


class DecodedFrames:
    """Answers from what is decoded already (mixed into `PyAVVideo`)."""

    _shared: Any  # core.video.decoder._Shared (PyAVVideo declares it)
    _lock: Any
    _kept: dict[int, av.VideoFrame]
    _ordinal: int
    _last_pts: int | None
    #: frame_raw is decoding: `_decode_until` keeps the target unconverted
    _raw_target = False

    def cached(self, index: int) -> np.ndarray | None:
        img: np.ndarray | None = self._shared.cache.get(index)
        if img is None and index in self._shared.raw:
            img = self._from_raw(index)  # decoded already: converting is all it takes
        return img

    def _from_raw(self, index: int) -> np.ndarray | None:
        """Convert and cache a frame kept unconverted (waits when another thread is converting
        it; None when that failed, or the cache let it go at once)."""
        raw = self._shared.raw
        frame = raw.take(index)
        if frame is None:  # another thread converts it: a few ms, where decoding is more
            raw.wait_converted(index)
            cached: np.ndarray | None = self._shared.cache.get(index)
            return cached
        try:
            with self._lock:  # this object's reformatter (each thread decodes on its own)
                img = self._convert(frame)
            self._shared.cache.put(index, img)
        finally:
            raw.converted(index)
        return img

    def raw_frame(self, index: int) -> av.VideoFrame | None:
        """Frame `index` if it is decoded and kept unconverted (`frame_raw`), else None: never
        decodes."""
        frame: av.VideoFrame | None = self._shared.raw.get(index)
        return frame

    def frame_raw(self, index: int) -> av.VideoFrame | None:
        """Frame `index` decoded but not converted to RGB (kept for `frame()` to convert when
        someone asks for the RGB), for the display-size copies (the decode-ahead thread). None
        when it is cached as RGB already, or not located exactly yet (use `frame()`)."""
        index = self._check_index(index)
        sh = self._shared
        raw: av.VideoFrame | None = sh.raw.get(index)
        if raw is not None:
            return raw
        if index in sh.raw:  # another thread is converting it: RGB in a moment
            sh.raw.wait_converted(index)
        if sh.cache.peek(index) is not None:
            return None
        with self._lock:
            kept = self._kept.pop(index, None)
            if kept is not None:
                sh.raw.put(index, kept)
                return kept
            st = sh.state
            if index >= len(st.pts) or st.timestampless:
                return None
            self._raw_target = True
            try:
                got = self._decode_exact(index, int(st.pts[index]), st)
            finally:
                self._raw_target = False
        return got if isinstance(got, av.VideoFrame) else None

    def decode_cost(self, index: int) -> int:
        """About how many frames `frame(index)` would decode now on this object: 0 when cached
        (or kept, see keep_before), the distance when the decoder can go on to it, else the
        distance from the keyframe before it (the seek); at most that many, as non-reference
        frames on the way may be skipped. Advisory and never blocking: the GUI asks it before
        deciding whether to decode a frame itself or let the decode-ahead thread do it."""
        if self._shared.cache.peek(index) is not None or index in self._kept:
            return 0
        if index in self._shared.raw:  # decoded, only converting left
            return 0
        st = self._shared.state
        if index >= len(st.pts):  # not indexed yet: located by estimate, from a seek
            return _CONTINUE_FRAMES
        if st.timestampless:
            return index - self._ordinal if 0 <= self._ordinal < index else index + 1
        target = int(st.pts[index])
        last = self._last_pts  # read once: frame() on another thread may move it
        if last is not None and self._can_continue_to(target, st):
            return index - int(np.searchsorted(st.pts, last, side="right")) + 1
        key = key_before(st, target) if len(st.key_pts) else int(st.pts[0])
        return index - int(np.searchsorted(st.pts, key)) + 1

    def is_exact(self, index: int) -> bool:
        """True when frame `index` is located by its indexed timestamp (always, once the index
        is complete), False while it is located by an estimated timestamp."""
        return index < len(self._shared.state.pts)

    if TYPE_CHECKING:  # provided by PyAVVideo and VideoSource

        def _check_index(self, index: int) -> int: ...

        def _convert(self, frame: av.VideoFrame) -> np.ndarray: ...

        def _decode_exact(self, index: int, target: int, st: IndexState) -> np.ndarray: ...

        def _can_continue_to(self, target: int, st: IndexState) -> bool: ...
