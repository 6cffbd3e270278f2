"""The frame clock: clamping, stepping, J/K/L speeds, and playback that follows the wall clock
by dropping frames when drawing is slow."""

from __future__ import annotations

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


class VirtualTime:
    """A wall clock the test advances: by half a frame period per timer tick (the clock's tick
    rate) and by the cost of each draw, so playback is the same on a quiet or a loaded machine."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_playback_drops_frames_instead_of_falling_behind(qtbot):
    now = VirtualTime()
    clock = FrameClock(10_000, 30.0, now=now)
    # after the clock's own tick handler: the next tick is half a frame period later
    clock._timer.timeout.connect(lambda: setattr(now, "t", now.t + 1 / 60))
    draws: list[tuple[int, float]] = []

    def slow_draw(frame: int) -> None:  # a view that needs 80 ms per frame
        draws.append((frame, now.t))
        now.t += 0.08

    clock.frameChanged.connect(slow_draw)
    t0 = now.t
    clock.play()
    qtbot.waitUntil(lambda: clock.frame >= 45, timeout=20_000)  # 1.5 s of video
    clock.pause()
    frames = [f for f, _ in draws]
    # each draw shows the frame the wall clock says is due when it starts: the clock never
    # falls behind, whatever the draws cost
    for f, t in draws:
        assert f == int((t - t0) * 30.0), (f, t - t0)
    # only ~1 in 3 frames fit between 80 ms draws: the others were dropped, none queued
    assert len(draws) < 0.6 * clock.frame
    assert clock.dropped == clock.frame - len(draws) > 0
    assert frames == sorted(frames) and len(set(frames)) == len(frames)


def test_playback_stops_at_the_end(qtbot):
    clock = FrameClock(12, 60.0)
    clock.set_frame(5)
    with qtbot.waitSignal(clock.playingChanged, timeout=3000) as blocker:
        clock.play()
    assert blocker.args == [True]
    qtbot.waitUntil(lambda: not clock.playing, timeout=3000)
    assert clock.frame == 11


def test_seconds_to_next_frame_follows_the_wall_clock(qtbot):
    """What the 3D view asks before rendering during playback (app/widgets/view3d.py)."""
    now = VirtualTime()
    clock = FrameClock(1000, 50.0, now=now)
    assert clock.seconds_to_next_frame() is None  # paused
    clock.play()
    assert clock.seconds_to_next_frame() == pytest.approx(0.02)
    now.t += 0.005
    assert clock.seconds_to_next_frame() == pytest.approx(0.015)
    now.t += 0.03  # 35 ms in: frame 1 was due 15 ms ago, the clock has not ticked
    assert clock.seconds_to_next_frame() == pytest.approx(-0.015)
    clock.set_frame(10)  # a seek while playing restarts the reference
    assert clock.seconds_to_next_frame() == pytest.approx(0.02)
    clock.play(-2.0)  # backward at 2x: a frame every 10 ms
    assert clock.seconds_to_next_frame() == pytest.approx(0.01)
    clock.pause()
    assert clock.seconds_to_next_frame() is None
