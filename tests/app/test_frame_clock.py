"""The frame clock: clamping, stepping, J/K/L speeds, and playback that follows the wall clock
by dropping frames when drawing is slow."""

from __future__ import annotations

import time

import pytest

from app.frame_clock import FrameClock

pytestmark = pytest.mark.gui


def test_set_frame_clamps_and_notifies(qtbot):
    clock = FrameClock(100, 25.0)
    seen: list[int] = []
    clock.frameChanged.connect(seen.append)
    clock.set_frame(10)
    clock.set_frame(10)  # no change, no signal
    clock.step(-20)
    clock.last()
    clock.step(5)
    assert seen == [10, 0, 99]
    assert clock.time_of(50) == pytest.approx(2.0)


def test_jkl_speeds(qtbot):
    clock = FrameClock(1000, 30.0)
    clock.set_frame(500)
    clock.forward()
    assert clock.rate == 1.0
    clock.forward()
    clock.forward()
    assert clock.rate == 4.0
    clock.reverse()
    assert clock.rate == -1.0
    clock.reverse()
    assert clock.rate == -2.0
    clock.pause()
    assert not clock.playing and clock.rate == 0.0


def test_playback_drops_frames_instead_of_falling_behind(qtbot):
    clock = FrameClock(10_000, 30.0)
    draws: list[int] = []

    def slow_draw(frame: int) -> None:  # a view that needs 80 ms per frame
        draws.append(frame)
        time.sleep(0.08)

    clock.frameChanged.connect(slow_draw)
    t0 = time.perf_counter()
    clock.play()
    qtbot.wait(1500)
    clock.pause()
    elapsed = time.perf_counter() - t0
    # the clock followed the wall clock (30 fps) although only ~12 draws fit in the time
    expected = elapsed * 30.0
    assert abs(clock.frame - expected) < 10, (clock.frame, expected)
    assert len(draws) < 0.6 * expected
    assert clock.dropped > 0
    assert draws == sorted(draws)


def test_playback_stops_at_the_end(qtbot):
    clock = FrameClock(12, 60.0)
    clock.set_frame(5)
    with qtbot.waitSignal(clock.playingChanged, timeout=3000) as blocker:
        clock.play()
    assert blocker.args == [True]
    qtbot.waitUntil(lambda: not clock.playing, timeout=3000)
    assert clock.frame == 11
