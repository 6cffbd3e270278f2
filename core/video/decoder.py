"""Video files decoded through PyAV with exact random access by frame index.

Exactness: the frame index (core.video.index) lists every frame's presentation timestamp. To show
frame i we seek back to the keyframe at or before it and decode forward until the decoder hands
out that exact timestamp, so B-frames, open GOPs, edit lists and variable frame rates never shift
a frame. Decoding forward within the same GOP continues without seeking (stepping, playback).

Long videos can be opened with `index="background"`: the first frame is decoded at once and the
index is built on a thread. Until it completes, frames past the indexed part are located by
their estimated timestamp (first pts + i / nominal fps), which is exact for constant frame rate
video, and `info.n_frames` is the header's (or duration x fps) estimate.

Thread safety: one decoder per `PyAVVideo`, guarded by a lock; `fork()` gives another decoder on
the same index and frame cache, so a prefetch thread never waits on the GUI thread's decoding.

Memory: each decoder holds its frames in flight (per decoder thread) and reference frames, about
100 MiB at 4K; `release_decoder()` frees them while a video object is not decoding (the GUI's
own decoder once a prefetch thread decodes for it); the next `frame()` reopens the file.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from core.errors import VideoOpenError, VideoReadError
from core.video.base import VideoInfo, VideoSource
from core.video.cache import DEFAULT_CACHE_BYTES, FrameCache
from core.video.decoded import _CONTINUE_FRAMES, RAW_BYTES, DecodedFrames, RawFrames
from core.video.index import BackgroundIndexer, IndexState, key_before, raw_stream, scan
from core.video.packets import SKIPPABLE_CODECS, PacketDecoder
from core.video.quirks import guessed_pts, open_container, ordinal_if_reordered, verify_tail

#: after failed seeks, frames up to this index are still found by decoding from the start
_FROM_START_LIMIT = 5000
#: decoded frames this close before the wanted one are cached too (stepping back is common)
KEEP_BEFORE = 2
#: decode on through a keyframe rather than seek to it when at most this many frames lie before
#: it (a seek flushes the decoder: its frame threads refill from nothing)
_CONTINUE_PAST_KEY = 2
#: decoder threads: FFmpeg's automatic count (cores + 1, up to 16) gives each frame thread its
#: own frames in flight, hundreds of MiB per decoder at 4K; a few threads decode nearly as fast
DECODER_THREADS = min(4, os.cpu_count() or 1)


def limit_threads(stream: av.video.stream.VideoStream, threads: int = DECODER_THREADS) -> None:
    """Frame threading with a bounded number of threads (memory grows with each one)."""
    stream.thread_type = "AUTO"
    stream.codec_context.thread_count = max(1, int(threads))


class DecodeInterrupted(Exception):
    """Raised inside `frame()` when the decoder's `interrupt` callback asks to stop (prefetch
    retargeting). The decoder stays usable."""


class _NoTimestamps(Exception):
    """The first frame has no pts: the stream must be indexed fully (by counting)."""


class _Shared:
    """What a video and its forks share: stream facts, the frame index, metadata, the cache."""

    def __init__(
        self,
        path: Path,
        stream: av.video.stream.VideoStream,
        container: av.container.InputContainer,
        cache: FrameCache,
    ) -> None:
        self.path = path
        self.stream_index = stream.index
        self.cache = cache
        #: frames decoded for the display-size copies only, not converted to RGB yet (the
        #: conversion was most of a 4K frame's cost): `frame()` converts one when asked for it
        self.raw = RawFrames(RAW_BYTES)
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.listeners: list[Callable[[VideoInfo], None]] = []
        self.indexer: BackgroundIndexer | None = None
        self.state = IndexState(np.empty(0, np.int64), np.empty(0, np.int64), complete=False)
        self.info: VideoInfo | None = None
        self.truncated = False
        self.tb = float(stream.time_base) if stream.time_base else 1.0 / 90000
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        self.fps_nominal = float(rate) if rate else 30.0
        self.step = 1.0 / (self.fps_nominal * self.tb)  #: pts units per frame (estimate)
        self.first_pts = 0
        self.rotation_ccw = 0
        self.seek_shift = 0  #: keyframes to step back before seeking (files whose seeks land late)
        cc = stream.codec_context
        self.coded_size = (int(cc.width), int(cc.height))
        self.codec = cc.name or ""
        #: non-reference frames before a wanted frame may be skipped (core.video.packets)
        self.can_skip = self.codec in SKIPPABLE_CODECS
        self.pix_fmt = str(cc.pix_fmt or "")
        self.bit_rate = int(stream.bit_rate or container.bit_rate or 0)
        n_header = int(stream.frames or 0)
        if n_header <= 0:
            if stream.duration and stream.time_base is not None:
                secs = float(stream.duration * stream.time_base)
            else:
                secs = (container.duration or 0) / 1e6
            n_header = int(round(secs * self.fps_nominal))
        self.n_estimate = max(n_header, 1)

    def make_info(self) -> VideoInfo:
        st = self.state
        pts = st.pts
        n_idx = len(pts)
        fps = float(st.extra.get("fps", self.fps_nominal))  # type: ignore[arg-type]
        if st.timestampless:
            ts = np.arange(n_idx, dtype=np.float64) / fps
        else:
            ts = (pts - self.first_pts) * self.tb
        if st.complete:
            n = n_idx
        else:
            n = max(self.n_estimate, n_idx + 1)
            last = ts[-1] if n_idx else -1.0 / self.fps_nominal
            extra = last + np.arange(1, n - n_idx + 1) / self.fps_nominal
            ts = np.concatenate([ts, extra])
        vfr = False
        if n_idx > 2 and not st.timestampless:
            d = np.diff(ts[:n_idx])
            vfr = bool(d.max() - d.min() > 0.5 * max(float(np.median(d)), 1e-9))
            if vfr and st.complete and ts[n_idx - 1] > 0:
                fps = (n_idx - 1) / float(ts[n_idx - 1])
        w, h = self.coded_size
        rot_cw = (-self.rotation_ccw) % 360
        if rot_cw in (90, 270):
            w, h = h, w
        keyframes = np.searchsorted(pts, st.key_pts) if n_idx else np.zeros(1, np.int64)
        return VideoInfo(
            path=str(self.path),
            n_frames=int(n),
            fps=float(fps),
            width=w,
            height=h,
            rotation=rot_cw,
            timestamps=ts.astype(np.float64),
            codec=self.codec,
            variable_frame_rate=vfr,
            keyframes=np.asarray(keyframes, np.int64),
            bit_rate=self.bit_rate,
            pix_fmt=self.pix_fmt,
            index_complete=st.complete,
            n_indexed=n_idx,
            truncated=self.truncated,
            timestampless=st.timestampless,
        )

    def index_fully(
        self, container: av.container.InputContainer, stream: av.video.stream.VideoStream
    ) -> IndexState:
        """Index every packet of the file now (the "full" open); VideoOpenError when it holds
        no frame."""
        state = scan(container, stream, self.path.stat().st_size)
        if state.complete and state.suspect_tail and len(state.pts):
            state = verify_tail(self.path, stream.index, state)
            self.truncated = True
        self.state = state
        if not len(state.pts):
            raise VideoOpenError(
                f"{self.path.name} contains no video frames"
                + (f" ({state.error})." if state.error else "."),
                hint="The file is empty or truncated; re-export or re-download it.",
            )
        if not state.timestampless and guessed_pts(container):
            state = ordinal_if_reordered(self.path, stream.index, state)
            self.state = state
        self.first_pts = 0 if state.timestampless else int(state.pts[0])
        return state

    def index_of(self, key: int) -> int | None:
        """The frame whose pts is `key` (past the indexed part: estimated from the frame rate)."""
        pts = self.state.pts
        i = int(np.searchsorted(pts, key))
        if i < len(pts) and pts[i] == key:
            return i
        if not self.state.complete and len(pts) and key > pts[-1]:
            return int(round((key - self.first_pts) / self.step))
        return None

    def publish(self, state: IndexState) -> None:
        """Take a new index (from the background indexer thread or the opener)."""
        if state.complete and state.suspect_tail and len(state.pts):
            state = verify_tail(self.path, self.stream_index, state)
            self.truncated = True
        with self.lock:
            if state.complete and not len(state.pts) and state.extra.get("failed"):
                # the background scan failed: keep estimating, stop waiting
                self.state = IndexState(
                    self.state.pts, self.state.key_pts, False, error=state.error
                )
                self.done.set()
            else:
                self.state = state
            self.info = self.make_info()
            info = self.info
            listeners = list(self.listeners)
        if state.complete:
            self.done.set()
        for fn in listeners:
            fn(info)


def to_rgb(reformatter: VideoReformatter, frame: av.VideoFrame) -> np.ndarray:
    """A decoded frame as a read-only (H, W, 3) RGB array, upright (the stream's rotation
    applied). One reformatter per decoder: frame.to_ndarray() builds a new swscale context per
    call."""
    img: np.ndarray = reformatter.reformat(frame, format="rgb24").to_ndarray()
    r = int(frame.rotation or 0) % 360 // 90  # FFmpeg: counter-clockwise degrees
    if r:
        img = np.ascontiguousarray(np.rot90(img, k=r))
    img.flags.writeable = False
    return img


def video_stream(container: av.container.InputContainer, path: Path) -> av.video.stream.VideoStream:
    """The container's first video stream; VideoOpenError (container closed) when it has none."""
    try:
        return container.streams.video[0]
    except IndexError:
        container.close()
        kinds: list[str] = sorted({s.type for s in container.streams}) or ["no streams"]
        raise VideoOpenError(
            f"{path.name} has no video stream (it holds {', '.join(kinds)}).",
            hint="Choose a video file (mp4, mov, mkv, avi, webm ...) or a folder of images.",
        ) from None


def _undecodable(path: Path, exc: VideoReadError) -> VideoOpenError:
    return VideoOpenError(
        f"{path.name}: the first frame cannot be decoded ({exc.message}).",
        hint="The codec may be unsupported or the file damaged; convert it with "
        "`ffmpeg -i IN -c:v libx264 OUT.mp4`.",
    )


def needs_full_index(container: av.container.InputContainer) -> bool:
    """Whether a container must be indexed whole before use: AVI (pts may be unusable, which
    only the full index finds out) and raw streams (frames located by counting, which needs
    the whole count first)."""
    return bool(guessed_pts(container) or raw_stream(container))


class PyAVVideo(DecodedFrames, VideoSource):
    """A video file decoded through PyAV with exact random access."""

    _shared: _Shared
    _lock: threading.RLock

    def __init__(
        self,
        path: str | os.PathLike[str],
        cache_bytes: int = DEFAULT_CACHE_BYTES,
        index: str = "full",
        *,
        threads: int = DECODER_THREADS,
        _shared: _Shared | None = None,
    ) -> None:
        if index not in ("full", "background"):
            raise ValueError(f"index must be 'full' or 'background', not {index!r}")
        self.path = Path(path)
        self._threads = max(1, int(threads))  # FFmpeg decoding threads
        self._lock = threading.RLock()
        self._decoder: PacketDecoder | None = None
        #: frames decoded on the way to a wanted one, just before it, not converted yet: cached
        #: when one of them is asked for, dropped when the decoder seeks elsewhere
        self._kept: dict[int, av.VideoFrame] = {}
        #: how many frames before a wanted one are decoded in full and cached (the prefetcher
        #: raises it to its window's frames behind, so a jump decodes them on the same pass)
        self.keep_before = KEEP_BEFORE
        #: counters for tests and benchmarks: seeks (and reopens), frames the decoder handed out
        self.seeks = 0
        self.decoded_frames = 0
        self._last_pts: int | None = None  # key of the last frame the decoder handed out
        self._ordinal = -1  # output count since the last restart (timestampless streams)
        self._reformatter = VideoReformatter()
        #: checked between decoded frames; returning True raises DecodeInterrupted
        self.interrupt: Callable[[], bool] | None = None
        self._container = open_container(self.path)
        self._stream = video_stream(self._container, self.path)
        limit_threads(self._stream, self._threads)
        self._owner = _shared is None
        if _shared is not None:
            self._shared = _shared
            return
        self._shared = sh = _Shared(
            self.path, self._stream, self._container, FrameCache(cache_bytes)
        )
        if index == "background" and needs_full_index(self._container):
            index = "full"
        try:
            first = None
            if index == "background":
                try:
                    first = self._decode_first()
                except _NoTimestamps:
                    index = "full"  # a raw stream: frames are located by counting
                    self._restart(None)
                    self._decoder = None
            if index == "full":  # index every packet now, then decode frame 0
                st = sh.index_fully(self._container, self._stream)
                first = self._decode_exact(0, int(st.pts[0]), st)
            assert first is not None
        except VideoReadError as exc:
            self._container.close()
            raise _undecodable(self.path, exc) from exc
        except VideoOpenError:
            self._container.close()
            raise
        sh.info = sh.make_info()
        sh.cache.put(0, first)
        if index == "full":
            sh.done.set()
        else:
            sh.indexer = BackgroundIndexer(self.path, self._stream.index, sh.publish)

    # ------------------------------------------------------------------ public
    @property
    def info(self) -> VideoInfo:  # type: ignore[override]
        info = self._shared.info
        assert info is not None
        return info

    @property
    def cache(self) -> FrameCache:
        return self._shared.cache

    @property
    def time_base(self) -> float:
        """Seconds per pts unit of the video stream."""
        return self._shared.tb

    @property
    def first_pts(self) -> int:
        """pts of frame 0 (info.timestamps count from it)."""
        return self._shared.first_pts

    def fork(self, threads: int | None = None) -> PyAVVideo:
        return PyAVVideo(self.path, threads=threads or self._threads, _shared=self._shared)

    def release_decoder(self) -> None:
        """Close this object's decoder (and file) to free its frame buffers; the index, the
        cache and the forks stay. The next `frame()` reopens the file and seeks."""
        with self._lock:
            self._last_pts = None
            self._drop_decoder()

    def add_listener(self, fn: Callable[[VideoInfo], None]) -> None:
        """Call fn(info) (from the indexing thread) each time the background index grows."""
        with self._shared.lock:
            self._shared.listeners.append(fn)

    def wait_index(self, timeout: float | None = None) -> bool:
        """Block until the frame index is complete; True if it is."""
        return self._shared.done.wait(timeout)

    def frame(self, index: int) -> np.ndarray:
        index = self._check_index(index)
        img = self._shared.cache.get(index)
        if img is not None:
            return img
        if index in self._shared.raw and (img := self._from_raw(index)) is not None:
            return img
        with self._lock:
            if index in self._kept:
                self._cache_kept()
            img = self._shared.cache.get(index)
            if img is not None:
                return img
            st = self._shared.state
            if index < len(st.pts):
                return self._decode_exact(index, int(st.pts[index]), st)
            return self._decode_estimated(index)

    def iter_frames(
        self, start: int = 0, stop: int | None = None
    ) -> Iterator[tuple[int, np.ndarray]]:
        n = self.info.n_frames
        stop = n if stop is None else min(stop, n)
        if start >= stop:
            return
        start = self._check_index(start)
        worker = self.fork()  # sequential reading never holds up frame() on other threads
        try:
            yield from worker._iter(start, stop)
        finally:
            worker.close()

    def close(self) -> None:
        sh = self._shared
        if self._owner and sh.indexer is not None:
            sh.indexer.stop()
        with self._lock:
            if self._owner:
                sh.cache.clear()
                sh.raw.clear()
            self._drop_decoder()

    # ----------------------------------------------------------------- decode
    def _drop_decoder(self) -> None:
        self._decoder = None
        self._kept.clear()
        if self._container is not None:
            self._container.close()
            self._container = None  # type: ignore[assignment]

    def _restart(self, seek_pts: int | None = None) -> None:
        """Position the decoder at the keyframe at or before seek_pts (None: the start)."""
        if self._shared.state.timestampless or seek_pts is None or self._container is None:
            # reopen rather than seek to 0: raw streams cannot seek reliably by timestamp
            if self._container is not None:
                self._container.close()
            self._container = av.open(str(self.path), metadata_errors="ignore")
            self._stream = self._container.streams[self._shared.stream_index]  # type: ignore[assignment]  # the video stream
            limit_threads(self._stream, self._threads)
        if not (self._shared.state.timestampless or seek_pts is None):
            self._container.seek(seek_pts, stream=self._stream, backward=True, any_frame=False)
        self._decoder = self._packet_decoder()
        self._kept.clear()
        self._last_pts = None
        self._ordinal = -1
        self.seeks += 1

    def _packet_decoder(self) -> PacketDecoder:
        can_skip = self._shared.can_skip and not self._shared.state.timestampless
        return PacketDecoder(self._container, self._stream, can_skip)

    def _skip_before(self, pts: int | None) -> None:
        """Decode frames from `pts` on in full; non-reference ones before it may be skipped."""
        if self._decoder is not None:
            self._decoder.skip_below = pts

    def _keep_count(self) -> int:
        """Frames before a wanted one worth caching: none when the cache cannot hold them."""
        frame_bytes = self.info.frame_bytes if self._shared.info is not None else 0
        if frame_bytes and self._shared.cache.max_bytes < (self.keep_before + 2) * frame_bytes:
            return 0
        return self.keep_before

    def _cache_kept(self) -> None:
        """Convert and cache the frames kept on the last decode (when asked for: a jump's exact
        frame and the frames after it never wait for its neighbours' conversion)."""
        kept, self._kept = self._kept, {}
        cache = self._shared.cache
        for idx, frame in sorted(kept.items()):
            if idx not in cache:
                cache.put(idx, self._convert(frame))

    def _next(self) -> tuple[av.VideoFrame, int] | None:
        """Next decoded frame and its key (pts, or output ordinal); None at the end."""
        assert self._decoder is not None
        while True:
            if self.interrupt is not None and self.interrupt():
                raise DecodeInterrupted()
            try:
                frame = next(self._decoder)
            except StopIteration:
                return None
            except av.error.FFmpegError as exc:
                raise VideoReadError(
                    f"{self.path.name} is damaged after {self._where()}: {exc}",
                    hint="Frames beyond the damage cannot be shown; re-encode or re-copy the file.",
                ) from exc
            self.decoded_frames += 1
            if self._shared.state.timestampless:
                self._ordinal += 1
                key = self._ordinal
            elif frame.pts is None:
                continue  # frames without a timestamp are not offered
            else:
                key = int(frame.pts)
            self._last_pts = key
            return frame, key

    def _where(self) -> str:
        if self._last_pts is None:
            return "the start"
        i = self._shared.index_of(self._last_pts)
        return f"frame {i}" if i is not None else "an unknown frame"

    def _convert(self, frame: av.VideoFrame) -> np.ndarray:
        return to_rgb(self._reformatter, frame)

    def _decode_first(self) -> np.ndarray:
        """Background mode: frame 0 is the first frame the decoder hands out."""
        self._decoder = self._packet_decoder()
        try:
            frame = next(self._decoder)
        except StopIteration:
            raise VideoOpenError(
                f"{self.path.name} contains no video frames.",
                hint="The file is empty or truncated; re-export or re-download it.",
            ) from None
        except av.error.FFmpegError as exc:
            raise VideoReadError(str(exc)) from exc
        if frame.pts is None:
            # a stream without timestamps cannot be located by time: index it fully
            raise _NoTimestamps()
        self._last_pts = self._shared.first_pts = int(frame.pts)
        self._shared.rotation_ccw = int(frame.rotation or 0)
        return self._convert(frame)

    def _can_continue_to(self, target: int, st: IndexState) -> bool:
        """True when decoding on from where the decoder is reaches `target` (ahead) at no more
        cost than a seek: in the same GOP, or when at most `_CONTINUE_PAST_KEY` frames lie
        between it and the keyframe the seek would land on. Stepping onto a keyframe used to
        seek there: a flush, and frame threads refilled from nothing (a 4K keyframe 30-60 ms
        instead of ~15). Decoding on is the sequential decode, so exact either way."""
        last = self._last_pts
        if self._decoder is None or last is None or last >= target:
            return False
        key = key_before(st, target)
        if st.timestampless or key <= last:
            return True
        between = int(np.searchsorted(st.pts, key)) - int(np.searchsorted(st.pts, last, "right"))
        return between <= _CONTINUE_PAST_KEY

    def _decode_exact(self, index: int, target: int, st: IndexState) -> np.ndarray:
        # When the decoder runs past or ends without the target (MPEG-TS seeks land a GOP late,
        # AVI timestamps are guessed, open GOPs) start from an earlier keyframe, at last from
        # the start of the file. A file whose seeks land late remembers it (seek_shift).
        sh = self._shared
        s0 = sh.seek_shift
        attempts = [s0] if st.timestampless else [s0, s0 + 1, s0 + 2]
        if not st.timestampless and index <= _FROM_START_LIMIT:
            attempts.append(-1)
        keep = self._keep_count()
        for n, back in enumerate(attempts):
            if n > 0 or not self._can_continue_to(target, st):
                self._seek_key(target, st, back=back)
            if not st.timestampless:
                self._skip_before(int(st.pts[max(0, index - keep)]))
            img = self._decode_until(index, target, keep)
            if img is not None:
                if n > 0 and back > sh.seek_shift:
                    sh.seek_shift = min(back, 2)
                return img
        raise VideoReadError(
            f"{self.path.name}: frame {index} could not be decoded.",
            hint="The file may be damaged at this point; re-encode it.",
        )

    def _seek_key(self, target: int, st: IndexState, back: int) -> None:
        """Seek so that decoding starts at the keyframe `back` keyframes before the one at or
        before target (back < 0: the start of the file)."""
        keys = st.key_pts
        k = int(np.searchsorted(keys, target, side="right")) - 1 - back
        if st.timestampless or back < 0 or k < 0:
            self._restart(None)
            return
        # Aim at the middle of the GOP, not at the keyframe itself: demuxers disagree on what a
        # seek timestamp means (MP4 with an edit list counts from before the cut), and a
        # backward seek to any time inside the GOP lands on its keyframe.
        end = int(keys[k + 1]) if k + 1 < len(keys) else int(st.pts[-1])
        self._restart(int(keys[k]) + max(0, (end - int(keys[k])) // 2))

    def _decode_until(self, index: int, target: int, keep: int) -> np.ndarray | None:
        cache = self._shared.cache
        rot = self._shared.rotation_ccw
        while True:
            got = self._next()
            if got is None:
                return None
            frame, key = got
            if key == target:
                if int(frame.rotation or 0) != rot and index == 0:
                    self._shared.rotation_ccw = int(frame.rotation or 0)
                if self._raw_target:  # frame_raw: kept unconverted
                    self._shared.raw.put(index, frame)
                    return frame  # type: ignore[return-value]
                img = self._convert(frame)
                cache.put(index, img)
                return img
            if key > target:
                return None
            idx = self._shared.index_of(key)
            if idx is not None and idx + keep >= index and idx not in cache:
                # frames just before the target are likely asked for next (stepping back)
                self._kept[idx] = frame

    def _decode_estimated(self, index: int) -> np.ndarray:
        """A frame past the indexed part: decode to the frame nearest its estimated pts."""
        sh = self._shared
        target = sh.first_pts + int(round(index * sh.step))
        ahead = (
            self._last_pts is not None and 0 < target - self._last_pts <= _CONTINUE_FRAMES * sh.step
        )
        if self._decoder is None or not ahead:
            self._restart(target)
        self._skip_before(math.floor(target - sh.step / 2))
        best: tuple[av.VideoFrame, int] | None = None
        while True:
            got = self._next()
            if got is None:
                break
            best = got
            if got[1] >= target - sh.step / 2:
                break
        if best is None:
            raise VideoReadError(
                f"{self.path.name}: frame {index} (estimated) could not be decoded.",
                hint="The file may end earlier than its header says; wait for indexing to finish.",
            )
        img = self._convert(best[0])
        if abs(best[1] - target) < sh.step / 2:
            sh.cache.put(index, img)
        return img

    def _iter(self, start: int, stop: int) -> Iterator[tuple[int, np.ndarray]]:
        st = self._shared.state
        n = stop
        if start < len(st.pts):
            self._seek_key(int(st.pts[start]), st, back=0)
            if not st.timestampless:
                self._skip_before(int(st.pts[start]))
        else:
            self._restart(self._shared.first_pts + int(round(start * self._shared.step)))
        wanted = start
        while wanted < stop:
            got = self._next()
            if got is None:
                raise VideoReadError(
                    f"{self.path.name} ended at frame {wanted} of {n}.",
                    hint="The file is truncated; frames after this one cannot be read.",
                )
            frame, key = got
            idx = self._shared.index_of(key)
            if idx is None or idx < wanted:
                continue
            wanted = idx + 1
            yield idx, self._convert(frame)
