"""Handedness bookkeeping of the MediaPipe backend (HandTracker) and the decode-ahead thread
(core/recon/prefetch.py), on synthetic detections and iterators."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from core.labels.joints import LEFT, RIGHT
from core.recon.mediapipe_backend import HandTracker
from core.recon.prefetch import prefetch


def _hand(x: float, y: float = 300.0) -> np.ndarray:
    """21 pixel positions of a hand about 100 px across, centred at (x, y)."""
    rng = np.random.default_rng(int(x))
    return np.array([x, y]) + rng.uniform(-50, 50, (21, 2))


WORLD = np.zeros((21, 3))


def test_mediapipe_labels_are_unmirrored() -> None:
    t = HandTracker()
    out = t.assign(0, [("Left", 0.9, _hand(300), WORLD), ("Right", 0.8, _hand(900), WORLD)])
    assert sorted((h, int(uv[:, 0].mean() > 600)) for h, _, uv, _ in out) == [(LEFT, 1), (RIGHT, 0)]
    selfie = HandTracker(mirrored=True)
    assert selfie.hand_of("Left") == LEFT and selfie.hand_of("Right") == RIGHT


def test_duplicate_detection_of_one_hand_is_merged() -> None:
    t = HandTracker()
    a = _hand(500)
    out = t.assign(0, [("Left", 0.7, a + 3.0, WORLD), ("Right", 0.95, a, WORLD)])
    assert len(out) == 1 and out[0][0] == LEFT and out[0][1] == 0.95


def test_same_label_twice_is_resolved_by_continuity() -> None:
    t = HandTracker()
    right_uv, left_uv = _hand(300), _hand(900)
    t.assign(0, [("Left", 0.9, right_uv, WORLD), ("Right", 0.9, left_uv, WORLD)])
    # next frame MediaPipe calls both "Right" (our left); the one near the last right hand is right
    out = t.assign(1, [("Right", 0.95, right_uv + 5, WORLD), ("Right", 0.6, left_uv + 5, WORLD)])
    got = {h: float(uv[:, 0].mean()) for h, _, uv, _ in out}
    assert got[RIGHT] < 600 < got[LEFT]
    # without recent history the more confident detection keeps the label
    fresh = HandTracker()
    out = fresh.assign(50, [("Right", 0.6, left_uv, WORLD), ("Right", 0.95, right_uv, WORLD)])
    got = {h: float(uv[:, 0].mean()) for h, _, uv, _ in out}
    assert got[LEFT] < 600 < got[RIGHT]


def test_prefetch_yields_in_order_and_reraises() -> None:
    assert list(prefetch(iter(range(100)), depth=3)) == list(range(100))
    assert list(prefetch(iter(range(5)), depth=0)) == list(range(5))

    def broken():
        yield 1
        yield 2
        raise ValueError("decode failed at frame 2")

    got = []
    with pytest.raises(ValueError, match="frame 2"):
        for x in prefetch(broken(), depth=4):
            got.append(x)
    assert got == [1, 2]


def test_prefetch_stops_its_thread_and_closes_the_source_when_dropped() -> None:
    lock = threading.Lock()
    produced = []
    closed = threading.Event()

    def source():
        with lock:  # like VideoSource.iter_frames, which holds the reader's lock
            try:
                for i in range(10_000):
                    produced.append(i)
                    yield i
            finally:
                closed.set()

    before = set(threading.enumerate())
    stream = prefetch(source(), depth=2)
    assert next(stream) == 0
    new = threading.enumerate()
    (producer,) = [t for t in new if t not in before and t.name == "vidihand-prefetch"]
    stream.close()
    assert closed.wait(5.0)
    assert len(produced) <= 5  # bounded: only a few frames ahead
    assert lock.acquire(timeout=1.0)  # released on the producer's thread
    lock.release()
    producer.join(10.0)  # the thread ends by itself (join waits for it, never kills it)
    assert not producer.is_alive()
