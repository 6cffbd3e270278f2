"""The one current-frame model of the window.

Every view (video + overlay, 3D, timeline, status bar) observes `FrameClock.frameChanged`; user
input calls `set_frame`/`step`/`play`, never another widget. Playback follows the wall clock:
each tick computes the frame the clock says should be showing now and jumps there, so a slow
draw drops frames instead of queueing them (the timer never accumulates late ticks, and views
draw synchronously on `frameChanged`, so the next tick waits for the draw to finish).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtCore import QObject, Qt, QTimer, Signal

#: playback speeds J/L step through (repeated L goes faster)
SPEEDS = (1.0, 2.0, 4.0, 8.0)


class FrameClock(QObject):
    frameChanged = Signal(int)
    playingChanged = Signal(bool)
    rangeChanged = Signal(int, float)  #: n_frames, fps

    def __init__(
        self,
        n_frames: int = 0,
        fps: float = 30.0,
        parent: QObject | None = None,
        now: Callable[[], float] = time.perf_counter,
    ) -> None:
        """`now`: the wall clock in seconds (tests pass a clock they advance themselves)."""
        super().__init__(parent)
        self._now = now
        self._frame = 0
        self._n = int(n_frames)
        self._fps = float(fps) if fps > 0 else 30.0
        self._rate = 0.0  # frames of video per frame period; negative = reverse; 0 = paused
        self._t0 = 0.0
        self._f0 = 0
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.timeout.connect(self._tick)
        #: playback statistics since the last play(): frames shown and frames skipped
        self.shown = 0
        self.dropped = 0

    # ----------------------------------------------------------------- state
    @property
    def frame(self) -> int:
        return self._frame

    @property
    def n_frames(self) -> int:
        return self._n

    @property
    def fps(self) -> float:
        return self._fps

    @property
    def rate(self) -> float:
        return self._rate

    @property
    def playing(self) -> bool:
        return self._rate != 0.0

    def seconds_to_next_frame(self) -> float | None:
        """While playing: how long until the wall clock says the next frame is due (negative:
        playback is behind); None when paused. What a view may spend before then does not hold
        the video back."""
        if not self.playing:
            return None
        speed = self._fps * abs(self._rate)
        due = self._t0 + (abs(self._frame - self._f0) + 1) / speed
        return due - self._now()

    def time_of(self, frame: int) -> float:
        return frame / self._fps

    def reset(self, n_frames: int, fps: float, frame: int = 0, *, notify: bool = True) -> None:
        """A new video: new length and rate; goes to `frame` (and notifies, unless `notify` is
        False: the session first adopts the new length quietly, so views that refresh for a new
        document never read a frame the new video does not have, then notifies)."""
        self.pause()
        self._n = int(n_frames)
        self._fps = float(fps) if fps > 0 else 30.0
        self._frame = self._clamp(frame)
        if notify:
            self.rangeChanged.emit(self._n, self._fps)
            self.frameChanged.emit(self._frame)

    def _clamp(self, frame: int) -> int:
        return 0 if self._n <= 0 else max(0, min(self._n - 1, int(frame)))

    # ---------------------------------------------------------------- moving
    def set_frame(self, frame: int) -> None:
        """Go to `frame` (clamped). Views redraw synchronously before this returns."""
        f = self._clamp(frame)
        if f == self._frame:
            return
        self._frame = f
        if self.playing:  # a seek while playing restarts the wall-clock reference
            self._t0, self._f0 = self._now(), f
        self.frameChanged.emit(f)

    def step(self, delta: int) -> None:
        self.set_frame(self._frame + int(delta))

    def first(self) -> None:
        self.set_frame(0)

    def last(self) -> None:
        self.set_frame(self._n - 1)

    def refresh(self) -> None:
        """Re-announce the current frame (e.g. after the views were rebuilt)."""
        self.frameChanged.emit(self._frame)

    # -------------------------------------------------------------- playback
    def play(self, rate: float = 1.0) -> None:
        if self._n <= 1 or rate == 0:
            self.pause()
            return
        if rate > 0 and self._frame >= self._n - 1:
            self._frame = 0
            self.frameChanged.emit(0)
        elif rate < 0 and self._frame <= 0:
            self._frame = self._n - 1
            self.frameChanged.emit(self._frame)
        was_playing = self.playing
        self._rate = float(rate)
        self._t0, self._f0 = self._now(), self._frame
        self.shown = self.dropped = 0
        # tick at twice the frame rate: a frame is never shown more than half a period late
        self._timer.start(max(1, int(500.0 / (self._fps * abs(self._rate)))))
        if not was_playing:
            self.playingChanged.emit(True)

    def pause(self) -> None:
        if not self.playing:
            return
        self._rate = 0.0
        self._timer.stop()
        self.playingChanged.emit(False)

    def toggle(self) -> None:
        if self.playing:
            self.pause()
        else:
            self.play(1.0)

    def forward(self) -> None:
        """L: play forward; pressed again while playing forward, play faster."""
        self.play(_next_speed(self._rate, +1))

    def reverse(self) -> None:
        """J: play backward; pressed again while playing backward, faster."""
        self.play(-_next_speed(-self._rate, +1))

    def _tick(self) -> None:
        elapsed = self._now() - self._t0
        target = self._f0 + int(elapsed * self._fps * self._rate)
        end = self._clamp(target)
        if end == self._frame:
            if target != end:  # reached an end of the clip
                self.pause()
            return
        skipped = abs(end - self._frame) - 1
        self.dropped += max(0, skipped)
        self.shown += 1
        self._frame = end
        self.frameChanged.emit(end)
        if target != end:
            self.pause()


def _next_speed(current: float, direction: int) -> float:
    """The next speed in SPEEDS after `current` (1x when not already going that way)."""
    if current <= 0:
        return SPEEDS[0]
    for s in SPEEDS:
        if s > current + 1e-9:
            return s
    return SPEEDS[-1]
