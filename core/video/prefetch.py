"""Decode-ahead: a background thread that keeps the frames around the current one decoded in the
video's frame cache, so that stepping, playback and scrubbing on long-GOP files show cached
frames instead of waiting for a seek.

The GUI calls `set_current(i)` whenever the current frame changes (cheap, never blocks) and
reads frames with `video.cached(i)` (never blocks) or `video.frame(i)` (blocks on a miss). The
worker decodes, in this order: frame i itself (reported through `on_frame(i)` as soon as it is
decoded, so the GUI can swap a proxy thumbnail for the exact frame), then `ahead` frames after
it, then `behind` frames before it (which a jump decodes on its way to frame i: the decoder keeps
them, so they cost no second seek). A jump outside the window being decoded cancels the work in
progress (between two decoded frames) and starts over at the new frame; moving within the window
(playback) just extends it.

The worker decodes on `video.fork()`, its own decoder sharing the index and the cache: the GUI's
own `frame()` calls never wait for prefetching. Errors (damaged frames) go to `on_error`; nothing
is lost silently on the thread.

With a `display` (core/video/display.py), the worker also scales the frames just around the
current one to the size the GUI paints them at, before reporting them; `refresh()` redoes that
after the GUI changed the size.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from core.errors import VidihandError
from core.video.base import VideoSource
from core.video.decoder import DECODER_THREADS, KEEP_BEFORE, DecodeInterrupted
from core.video.display import DisplayFrames

#: frames up to this size (1080p) decode ahead with few threads (see decode_threads)
FEW_THREADS_MAX_BYTES = 1920 * 1088 * 3
#: a current frame at most this far past the window is a step (its pass starts with it), not a
#: jump (see `Prefetcher.decoding`)
_STEP_PAST = 2


def decode_threads(video: VideoSource) -> int:
    """Decoding threads for the decode-ahead fork. Up to 1080p one thread decodes H.264 at
    100-130 frames/s, several times what stepping or playback need, and every extra FFmpeg thread
    competes with the GUI thread and the 3D renderer for the cores: on 2 cores a second one made
    the 1080p frame step p95 ~29 ms instead of ~23. So: the cores beyond two (GUI, renderer),
    at least one. Larger frames (4K: 25-40 ms a frame on one thread) keep DECODER_THREADS."""
    if 0 < getattr(video.info, "frame_bytes", 0) <= FEW_THREADS_MAX_BYTES:
        return max(1, min(DECODER_THREADS, (os.cpu_count() or 1) - 2))
    return DECODER_THREADS


def _set_policy(tid: int, policy: int) -> None:
    os.sched_setscheduler(tid, policy, os.sched_param(0))


@functools.cache
def idle_is_reversible() -> bool:
    """Can a thread here go to `SCHED_IDLE` and back to `SCHED_OTHER` (Linux; back needs root,
    CAP_SYS_NICE or an RLIMIT_NICE of 20, e.g. `<user> - nice 0` in limits.conf)? Tried once on a
    throwaway thread: a worker stuck at idle priority would starve under any load."""
    if not hasattr(os, "SCHED_IDLE"):
        return False
    ok: list[bool] = []

    def probe() -> None:
        tid = threading.get_native_id()
        try:
            _set_policy(tid, os.SCHED_IDLE)
            _set_policy(tid, os.SCHED_OTHER)
            ok.append(True)
        except OSError:
            pass

    t = threading.Thread(target=probe, name="vidihand-sched-probe", daemon=True)
    t.start()
    t.join(5)
    return bool(ok)


class Prefetcher:
    """Keeps frames [current - behind, current + ahead] decoded in `video`'s cache."""

    def __init__(
        self,
        video: VideoSource,
        ahead: int = 30,
        behind: int = 8,
        on_frame: Callable[[int], None] | None = None,
        on_error: Callable[[VidihandError], None] | None = None,
        display: DisplayFrames | None = None,
        threads: int | None = None,
    ) -> None:
        self.video = video
        self.display = display
        self._worker_video = video.fork(
            threads=decode_threads(video) if threads is None else threads
        )
        self.ahead = ahead
        self.behind = behind
        self.on_frame = on_frame
        self.on_error = on_error
        self._cond = threading.Condition()
        self._current: int | None = None
        self._done_center: int | None = None  # the last center whose window was finished
        self._jumped_to: int | None = None  # the current frame, when a jump made it current
        self._generation = 0  # bumped on a jump outside the window being decoded
        self._work_gen = 0  # generation the worker is decoding for
        self._window = (0, -1)  # frames the worker is working through now
        self._left: set[int] = set()  # frames of the pass under way not decoded yet
        self._refreshes = 0  # refresh() calls: a pass planned before the last one is not done
        self._stopped = False
        #: counters for tests and benchmarks
        self.decoded = 0
        self.interrupted = 0
        if hasattr(self._worker_video, "interrupt"):
            self._worker_video.interrupt = self._should_interrupt
        self._yielding = False
        frame_bytes = getattr(video.info, "frame_bytes", 0)
        self._may_yield = 0 < frame_bytes <= FEW_THREADS_MAX_BYTES and idle_is_reversible()
        self._thread = threading.Thread(target=self._run, name="vidihand-prefetch", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ GUI side
    def set_current(self, index: int) -> None:
        """The current frame changed. Never blocks."""
        with self._cond:
            if index == self._current:
                return
            lo, hi = self._window
            # the frame a jump went to is never "decoding", even once the worker's new pass
            # has it in its plan: the GUI shows a stand-in, named, rather than the frame before
            self._jumped_to = None
            if not lo <= index <= hi:
                self._generation += 1  # a jump: cancel the work in progress
                if not hi < index <= hi + _STEP_PAST:  # (a step just past the window is not)
                    self._jumped_to = int(index)
            self._current = int(index)
            self._cond.notify_all()  # the worker, and whoever else waits (`wait_idle`)

    def refresh(self) -> None:
        """Go over the window around the current frame again (the display size changed)."""
        with self._cond:
            self._refreshes += 1
            self._done_center = None
            self._cond.notify_all()

    def request(self, index: int) -> np.ndarray | None:
        """Make `index` current and return its frame if already cached (else None; `on_frame`
        reports it once decoded)."""
        self.set_current(index)
        return self.video.cached(index)

    def decoding(self, index: int) -> bool:
        """Is the worker about to decode `index`: on the pass under way (a step forward inside
        its window, the worker not there yet), or first on the next one (the current frame, a
        step or two past the window's end: stepping faster than the worker; not a jump)? Then
        `on_frame(index)` follows when it is decoded, if `index` is still the current frame: the
        GUI can wait for it instead of decoding the same frame a second time on cores both
        threads need."""
        with self._cond:
            if self._stopped or index == self._jumped_to:
                return False
            if index in self._left:
                return True
            hi = self._window[1]
            return index == self._current != self._done_center and hi < index <= hi + _STEP_PAST

    def yield_cpu(self, on: bool) -> bool:
        """While `on`, the worker runs only on a core nothing else wants (Linux `SCHED_IDLE`):
        the GUI calls it around a frame step, whose paint (the GUI thread, the software
        renderer's threads, the X server) then has both cores of a small machine to itself;
        the worker still decodes whenever a core is free. Only where frames are up to 1080p
        (a frame the worker has not reached is then decoded by the GUI in a few ms); False
        where it does nothing (larger frames, other systems)."""
        tid = self._thread.native_id
        if not self._may_yield or tid is None or self._yielding == on:
            return False
        try:
            _set_policy(tid, os.SCHED_IDLE if on else os.SCHED_OTHER)
        except OSError:  # the thread has ended
            self._may_yield = False
            return False
        self._yielding = on
        return True

    def get(self, index: int, timeout: float = 30.0) -> np.ndarray:
        """Make `index` current and wait for the worker to decode it (scripts, benchmarks; the
        GUI uses `request` and `on_frame` instead). Falls back to decoding here on timeout."""
        self.yield_cpu(False)  # waited for: full priority
        self.set_current(index)
        with self._cond:
            self._cond.wait_for(
                lambda: self.video.cached(index) is not None or self._stopped, timeout
            )
        img = self.video.cached(index)
        return img if img is not None else self.video.frame(index)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until the window around the current frame is decoded (tests, benchmarks). The
        worker runs at full priority from here on: at idle priority (`yield_cpu`) it gets no CPU
        at all while other processes keep the cores busy, and the caller blocks the thread
        whose timer would end the yield."""
        self.yield_cpu(False)
        with self._cond:
            return self._cond.wait_for(
                lambda: (
                    self._stopped
                    or (self._current is not None and self._done_center == self._current)
                ),
                timeout,
            )

    def close(self) -> None:
        with self._cond:
            self._stopped = True
            self._generation += 1
            self._cond.notify_all()
        if self._thread is not threading.current_thread():
            self._thread.join(10)
        if self._worker_video is not self.video:
            self._worker_video.close()

    def __enter__(self) -> Prefetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ worker side
    def _should_interrupt(self) -> bool:
        return self._stopped or self._generation != self._work_gen

    def _plan(self, center: int, n: int) -> list[int]:
        ahead, behind = self.ahead, self.behind
        frame_bytes = getattr(self.video.info, "frame_bytes", 0)
        cache = getattr(self.video, "cache", None)
        raw = getattr(getattr(self.video, "_shared", None), "raw", None)
        if self._raw_first() and raw is not None:
            cache, frame_bytes = raw, frame_bytes // 2  # kept decoded: YUV 4:2:0, half of RGB
        if frame_bytes and cache is not None:
            # never read so far around that the window evicts itself (or the current frame)
            usable = max(1, int(cache.max_bytes // frame_bytes) // 2)
            ahead = min(ahead, max(1, usable - 1))
            behind = min(behind, max(0, usable - 1 - ahead))
        after = [i for i in range(center + 1, center + ahead + 1) if i < n]
        # behind in ascending order: one seek, then continuing forward
        before = [i for i in range(center - behind, center) if i >= 0]
        return [center, *after, *before]

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(
                    lambda: (
                        self._stopped
                        or (self._current is not None and self._current != self._done_center)
                    )
                )
                if self._stopped:
                    return
                center = int(self._current)  # type: ignore[arg-type]
                self._work_gen = gen = self._generation
                refreshes = self._refreshes
                plan = self._plan(center, self.video.info.n_frames)
                self._window = (min(plan), max(plan))
                self._left = set(plan)
            if hasattr(self._worker_video, "keep_before"):
                # a jump decodes the frames behind on its way to the current one (one pass)
                self._worker_video.keep_before = max(KEEP_BEFORE, center - min(plan))
            done = self._work(plan, center, gen)
            with self._cond:
                self._left = set()
                if done and self._refreshes == refreshes:  # else go over the window again
                    self._done_center = center
                    self._cond.notify_all()

    def _raw_first(self) -> bool:
        """Decode without converting to RGB (display copies straight from the decoded frames;
        RGB only when someone asks `frame()` for it): while the GUI paints display copies."""
        d = self.display
        return d is not None and d.size is not None and hasattr(self._worker_video, "frame_raw")

    def _work_raw(self, i: int, center: int) -> bool:
        """Frame `i` decoded and kept unconverted, its display copy made from it when wanted.
        False when it takes the RGB way (cached as RGB already, not located exactly yet, a
        rotated frame)."""
        video = self._worker_video
        cache = getattr(video, "cache", None)
        if cache is not None and cache.peek(i) is not None:
            return False
        before = getattr(video, "decoded_frames", 0)
        raw = video.frame_raw(i)  # type: ignore[attr-defined]
        if raw is None:
            return False
        if getattr(video, "decoded_frames", 0) != before:
            self.decoded += 1
        d = self.display
        if d is not None and d.wanted(i, center) and self._copy_from_raw(d, i, raw) is False:
            return False
        self._catch_up_copies(video)
        return True

    def _copy_from_raw(self, d: DisplayFrames, i: int, frame: Any) -> bool | None:
        """`d.make_from_frame(i, frame)`; None when it failed (reported; the GUI then scales
        frames itself)."""
        try:
            return d.make_from_frame(i, frame)
        except Exception as exc:  # noqa: BLE001 - reported, and the GUI scales itself
            self._display_failed(exc)
            return None

    def _catch_up_copies(self, video: VideoSource) -> None:
        """The GUI stepped on while this pass decodes further ahead: make the copies of the
        frames around where it is now that are decoded already (a few ms each), before
        decoding the next frame of the pass."""
        d, now = self.display, self._current
        raw = getattr(getattr(video, "_shared", None), "raw", None)
        if d is None or now is None or raw is None:
            return
        for j in range(max(0, now - d.behind), now + d.ahead + 1):
            frame = raw.get(j) if d.wanted(j, now) else None
            if frame is not None and self._copy_from_raw(d, j, frame) is None:
                return

    def _work(self, plan: list[int], center: int, gen: int) -> bool:
        """Decode the plan; False when a jump or close interrupted it."""
        for i in plan:
            if self._generation != gen or self._stopped:
                self.interrupted += 1
                return False
            status = self._one(i, center)
            if status == "interrupted":
                return False
            with self._cond:
                self._left.discard(i)
            # the frame the pass is for, the one the GUI stepped to meanwhile (it may be
            # waiting for it: `decoding`) and those on the way there (stepping faster than this
            # thread, the GUI shows them meanwhile); after an error the GUI tries it and says
            # what is wrong
            now = self._current
            if i in (center, now) or (now is not None and center < i < now):
                self._ready(i)
        cache = getattr(self._worker_video, "cache", None)
        if cache is not None:
            cache.get(center)  # mark the current frame most recently used again
        return True

    def _one(self, i: int, center: int) -> str:
        """Frame `i` decoded (and its display copy made when wanted): "ok", "error" or
        "interrupted"."""
        if self._raw_first():
            status, done = self._attempt(self._work_raw, i, center)
            if status != "ok" or done:
                return status
        video = self._worker_video
        img = video.cached(i)
        if img is None:
            status, img = self._attempt(video.frame, i)
            if status != "ok":
                return status
            self.decoded += 1
        if self.display is not None and self.display.wanted(i, center):
            self._make_display(i, img)
        return "ok"

    def _attempt(self, fn: Callable[..., Any], *args: Any) -> tuple[str, Any]:
        """fn(*args) as ("ok", result), ("interrupted", None) (a jump or close: counted) or
        ("error", None) (a damaged frame: reported through on_error)."""
        try:
            return "ok", fn(*args)
        except DecodeInterrupted:
            self.interrupted += 1
            return "interrupted", None
        except VidihandError as exc:
            if self.on_error is not None:
                self.on_error(exc)
            return "error", None

    def _ready(self, index: int) -> None:
        """The current frame is decoded: wake the waiters, tell the GUI."""
        with self._cond:
            self._cond.notify_all()
        if self.on_frame is not None:
            self.on_frame(index)

    def _make_display(self, index: int, img: np.ndarray) -> None:
        try:
            self.display.make(index, img)  # type: ignore[union-attr]
        except Exception as exc:  # noqa: BLE001 - the GUI scales frames itself without it
            self._display_failed(exc)

    def _display_failed(self, exc: Exception) -> None:
        if self.display is not None:
            self.display = None
            if self.on_error is not None:
                self.on_error(
                    VidihandError(
                        f"Frames can no longer be scaled ahead of display ({exc}); the video "
                        "pane scales them itself from now on, a little slower."
                    )
                )
