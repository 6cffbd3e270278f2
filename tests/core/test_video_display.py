"""Display-size copies made on the decode-ahead thread (core/video/display.py): exact scaling on a
real frame, one size at a time, bounded memory, and the prefetcher making them around the current
frame and again after the size changed."""

from __future__ import annotations

from itertools import islice
from pathlib import Path

import numpy as np
import pytest

from core.video.display import DisplayFrames, scale_to_bgra
from core.video.prefetch import Prefetcher
from core.video.reader import open_video

pytestmark = pytest.mark.usefixtures("opencv")  # fails when OpenCV is missing (tests/conftest.py)


def box_mean(img: np.ndarray, k: int) -> np.ndarray:
    h, w = img.shape[0] // k * k, img.shape[1] // k * k
    x = img[:h, :w].astype(np.float64)
    return x.reshape(h // k, k, w // k, k, -1).mean((1, 3))


def test_scaled_copy_is_an_area_average_in_bgra(demo3: Path) -> None:
    with open_video(demo3) as video:
        rgb = np.ascontiguousarray(video.frame(40))
    h, w = rgb.shape[:2]
    out = scale_to_bgra(rgb, (w // 4, h // 4))
    assert out.shape == (h // 4, w // 4, 4) and out.dtype == np.uint8
    assert (out[..., 3] == 255).all()
    # 4x down: a 2x area step then an exact 2x bilinear step = the 4x4 box average (no aliasing)
    ref = box_mean(rgb, 4)[..., ::-1]  # RGB -> BGR
    err = np.abs(out[..., :3].astype(np.float64) - ref)
    assert err.mean() < 0.6 and err.max() <= 2.0, (err.mean(), err.max())
    # a size that is not a power-of-two fraction: bilinear, same picture
    odd = scale_to_bgra(rgb, (701, 394))
    assert odd.shape == (394, 701, 4)
    assert abs(odd[..., :3].mean() - rgb.mean()) < 1.0


def test_one_size_at_a_time_and_bounded_memory() -> None:
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 255, (216, 384, 3), np.uint8)
    d = DisplayFrames(max_bytes=5 * 192 * 108 * 4, ahead=3, behind=1)
    assert not d.wanted(0, 0)  # no size: the GUI is not shrinking frames
    assert d.set_size((192, 108)) and not d.set_size((192, 108))
    assert d.wanted(10, 10) and d.wanted(13, 10) and d.wanted(9, 10)
    assert not d.wanted(14, 10) and not d.wanted(8, 10)
    for i in range(12):
        d.make(i, frame)
    assert d.cache.nbytes <= 5 * 192 * 108 * 4  # bounded: the oldest went
    assert d.get(11) is not None and d.get(0) is None
    assert not d.wanted(11, 10)  # already made
    assert d.get(11, (100, 50)) is None  # never another size's copy
    assert d.set_size((96, 54))
    assert d.get(11) is None and len(d.cache) == 0  # the old size's copies are dropped
    d.make(11, frame)
    assert d.get(11).shape == (54, 96, 4)
    assert d.set_size(None) and not d.wanted(11, 11)
    # a pane too big for the whole window of copies: the current frame first, then ahead
    d.set_size((192, 216))  # 2 copies fit in the budget
    assert [i for i in range(5, 16) if d.wanted(i, 10)] == [10, 11]
    d.set_size((384, 432))  # not even one: still the current frame
    assert [i for i in range(5, 16) if d.wanted(i, 10)] == [10]
    d.set_size((96, 54))
    d.make(12, frame[..., 0])  # not an RGB frame: no copy, no error (the GUI paints it)
    assert d.get(12) is None


def test_prefetcher_makes_copies_around_the_current_frame(demo3: Path) -> None:
    d = DisplayFrames(ahead=4, behind=2)
    d.set_size((320, 180))
    with open_video(demo3) as video, Prefetcher(video, ahead=10, behind=3, display=d) as pre:
        pre.set_current(100)
        assert pre.wait_idle(60)
        for i in range(98, 105):
            img = d.get(i)
            assert img is not None, f"no display copy of frame {i}"
            # made straight from the decoded frame (swscale's area scaling): that very frame
            ref = scale_to_bgra(np.ascontiguousarray(video.frame(i)), (320, 180))
            err = np.abs(img.astype(int) - ref.astype(int))[..., :3]
            assert err.mean() < 1.5 and (img[..., 3] == 255).all(), (i, err.mean())
            if i != 101:  # and not the next frame's
                other = scale_to_bgra(np.ascontiguousarray(video.frame(101)), (320, 180))
                assert np.abs(img.astype(int) - other.astype(int)).mean() > err.mean()
        assert d.get(97) is None and d.get(105) is None  # only the frames just around
        # stepping on makes the next one
        pre.set_current(101)
        assert pre.wait_idle(60)
        assert d.get(105) is not None
        # the GUI resized: refresh() makes them again at the new size
        made = d.made
        assert d.set_size((640, 360))
        pre.refresh()
        assert pre.wait_idle(60)
        assert d.get(101) is not None and d.get(101).shape == (360, 640, 4)
        assert d.made >= made + 7


def test_a_failing_copy_turns_copies_off_and_says_so(demo3: Path) -> None:
    errors: list[Exception] = []

    class Broken(DisplayFrames):
        def make(self, index: int, rgb: np.ndarray) -> None:
            raise MemoryError("out of memory")

        def make_from_frame(self, index: int, frame) -> bool:
            raise MemoryError("out of memory")

    d = Broken()
    d.set_size((320, 180))
    with (
        open_video(demo3) as video,
        Prefetcher(video, ahead=5, behind=0, display=d, on_error=errors.append) as pre,
    ):
        pre.set_current(3)
        assert pre.wait_idle(60)
        assert video.decode_cost(3) == 0 and video.cached(3) is not None  # decoding went on
        assert pre.display is None
    assert len(errors) == 1 and "scales them itself" in str(errors[0])


def test_copies_reuse_evicted_memory_nobody_holds(demo3: Path) -> None:
    """Evicted copies nobody holds are written over by the next ones (no fresh frame-sized
    memory, whose page faults cost the decode-ahead thread ~1-3 ms a frame), with the same
    pixels as a fresh copy; a copy the GUI still holds is never written over."""
    with open_video(demo3) as video:
        frames = [np.ascontiguousarray(video.frame(i)) for i in range(40, 52)]
    size = (320, 180)
    d = DisplayFrames(max_bytes=3 * 320 * 180 * 4, ahead=2, behind=0)
    d.set_size(size)
    held = None
    for i, rgb in enumerate(frames):
        d.make(i, rgb)
        if i == 3:
            held = d.get(3)  # the GUI paints this one and keeps it
            held_pixels = held.copy()
        # every copy equals a fresh one of that frame, whatever memory it was written into
        assert np.array_equal(d.get(i), scale_to_bgra(rgb, size)), i
    assert d.reused >= len(frames) - 6, d.reused  # after the first evictions: reused memory
    assert np.array_equal(held, held_pixels)  # never written over while held
    assert not held.flags.writeable
    # the intermediates of a 4x reduction (half size, then bilinear) are kept and reused
    scratch: dict = {}
    a = scale_to_bgra(frames[0], (300, 170), scratch=scratch)
    kept = {k: v.ctypes.data for k, v in scratch.items()}
    b = scale_to_bgra(frames[1], (300, 170), scratch=scratch)
    assert kept and {k: v.ctypes.data for k, v in scratch.items()} == kept
    assert np.array_equal(a, scale_to_bgra(frames[0], (300, 170)))
    assert np.array_equal(b, scale_to_bgra(frames[1], (300, 170)))
    # a new size drops the spares of the old one
    d.set_size((160, 90))
    d.make(99, frames[0])
    assert d.get(99).shape == (90, 160, 4)


def test_copies_made_on_the_gui_thread_reuse_spares_too(demo3: Path) -> None:
    """A step that caught up with the decode-ahead thread makes its copy on the GUI thread
    (`make_here`): it takes a spare as that thread does (a fresh 1080p copy cost the step ~600
    page faults), with the same pixels as a fresh copy, and never one the GUI still holds."""
    import av

    with av.open(str(demo3)) as c:
        frames = [f.reformat(format="yuv420p") for f in islice(c.decode(video=0), 10)]
    size = (320, 180)
    d = DisplayFrames(max_bytes=3 * 320 * 180 * 4, ahead=2, behind=0)
    d.set_size(size)
    fresh = DisplayFrames()
    fresh.set_size(size)
    held, gui_reused = None, 0
    for i, f in enumerate(frames):
        before = d.reused
        assert (d.make_here if i % 2 else d.make_from_frame)(i, f)
        gui_reused += (d.reused - before) * (i % 2)
        if i == 3:
            held, held_pixels = d.get(3), d.get(3).copy()
        assert fresh.make_from_frame(i, f)
        assert np.array_equal(d.get(i), fresh.get(i)), i
    assert gui_reused >= 2, gui_reused  # copies 5 and 9 (7 found none: 3 is held)
    assert np.array_equal(held, held_pixels)


def test_frames_kept_unconverted_are_exact_when_asked_for(demo3: Path) -> None:
    """`frame_raw` decodes a frame without converting it to RGB and keeps it; `frame()` and
    `cached()` convert it when asked (no second decode), bit-identical to a plain decode."""
    from core.video.decoder import RawFrames

    with open_video(demo3) as ref, open_video(demo3) as video:
        worker = video.fork()
        try:
            for i in (3, 4, 60, 61, 250, 5):
                raw = worker.frame_raw(i)
                assert raw is not None and i in video._shared.raw
                assert video.decode_cost(i) == 0  # decoded already
            decoded = worker.decoded_frames
            for i in (3, 4, 60):
                assert np.array_equal(video.frame(i), ref.frame(i)), i
            assert np.array_equal(video.cached(61), ref.frame(61))  # cached() converts too
            assert worker.decoded_frames == decoded  # converted, not decoded again
            assert 3 not in video._shared.raw  # handed over to the RGB cache
            assert worker.frame_raw(3) is None  # RGB at hand: nothing to keep
        finally:
            worker.close()
    # the store is bounded in bytes (YUV: 1.5 bytes a pixel), oldest out first
    store = RawFrames(max_bytes=3 * 64 * 48 * 3 // 2)

    class F:
        width, height = 64, 48

    for i in range(5):
        store.put(i, F())
    assert [i in store for i in range(5)] == [False, False, True, True, True]
    assert store.take(3) is not None and 3 in store  # being converted: still held
    assert store.take(3) is None and store.wait_converted(3, timeout=0.01) is False
    store.converted(3)
    assert 3 not in store and store.wait_converted(3, timeout=0.01)


def test_a_frame_being_converted_is_waited_for_not_decoded_again(demo3: Path) -> None:
    """While the decode-ahead thread converts a kept frame to RGB it is neither kept nor cached:
    the GUI must still see it as decoded (a zoom that asked for the full frame then showed a
    stand-in, the frame taken for a long jump), and one asking for it waits for that
    conversion instead of decoding the frame again."""
    import threading

    with open_video(demo3) as ref, open_video(demo3) as video:
        worker = video.fork()
        started, go = threading.Event(), threading.Event()
        convert = worker._convert

        def slow_convert(frame):
            started.set()
            assert go.wait(30)
            return convert(frame)

        worker._convert = slow_convert
        got: dict[str, np.ndarray] = {}
        try:
            assert worker.frame_raw(120) is not None  # far into the GOP: a long decode here
            converting = threading.Thread(target=lambda: got.update(worker=worker.frame(120)))
            converting.start()
            assert started.wait(30)
            assert 120 in video._shared.raw and video.cache.peek(120) is None
            assert video.decode_cost(120) == 0  # decoded: only converting left
            decoded = video.decoded_frames
            asking = threading.Thread(target=lambda: got.update(gui=video.frame(120)))
            asking.start()
            asking.join(0.2)
            assert asking.is_alive()  # waiting for the conversion under way
            go.set()
            converting.join(30)
            asking.join(30)
            assert video.decoded_frames == decoded  # nothing decoded again
            assert got["gui"] is got["worker"] and np.array_equal(got["gui"], ref.frame(120))
            assert 120 not in video._shared.raw and worker.frame_raw(120) is None
        finally:
            go.set()
            worker.close()


def test_decode_ahead_converts_nothing_while_the_pane_paints_copies(demo3: Path) -> None:
    """With a display size set the decode-ahead thread keeps the frames it decodes unconverted
    and makes the copies from them; without one (the pane paints full frames) it converts them
    to RGB as before."""
    d = DisplayFrames(ahead=4, behind=1)
    d.set_size((320, 180))
    with open_video(demo3) as video, Prefetcher(video, ahead=8, behind=2, display=d) as pre:
        pre.set_current(120)
        assert pre.wait_idle(60)
        assert all(d.get(i) is not None for i in range(119, 125))
        assert all(i in video._shared.raw for i in range(118, 129))  # decoded, kept
        assert all(video.cache.peek(i) is None for i in range(118, 129))  # never converted
        assert pre.decoded > 0
        d.set_size(None)  # full frames now: RGB as before
        pre.set_current(300)
        assert pre.wait_idle(60)
        assert all(video.cache.peek(i) is not None for i in range(300, 309))


def test_copies_of_a_frame_are_the_same_every_time_and_on_either_thread(demo3: Path) -> None:
    """A display copy is one swscale pass with a fixed thread count: FFmpeg's automatic count
    gave a few different pixels from run to run. The decode-ahead thread's copy
    (`make_from_frame`) and the GUI's (`make_here`) are then identical."""
    import av

    copies = []
    with av.open(str(demo3)) as c:  # (a frame's pixels are the container's: used inside)
        frame = next(c.decode(video=0))
        for make in ("make_from_frame", "make_here") * 3:
            d = DisplayFrames()
            d.set_size((876, 493))
            assert getattr(d, make)(7, frame)
            copies.append(d.get(7))
    assert all(np.array_equal(copies[0], c) for c in copies[1:])
    assert (copies[0][..., 3] == 255).all() and copies[0].shape == (493, 876, 4)


def test_copies_are_opaque_whatever_alpha_the_source_has() -> None:
    """swscale writes alpha 255 for sources without alpha and copies a source's alpha through:
    a copy of a transparent RGBA frame must still be opaque (Qt paints it as RGB32)."""
    import av

    rgba = np.zeros((90, 160, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[..., 3] = np.arange(160, dtype=np.uint8)[None, :]  # transparent on the left
    yuv = av.VideoFrame.from_ndarray(rgba[..., :3].copy(), format="rgb24").reformat(
        format="yuv420p"
    )
    for frame in (av.VideoFrame.from_ndarray(rgba, format="rgba"), yuv):
        for make in ("make_from_frame", "make_here"):
            d = DisplayFrames()
            d.set_size((80, 45))
            assert getattr(d, make)(3, frame)
            copy = d.get(3)
            assert copy.shape == (45, 80, 4) and (copy[..., 3] == 255).all(), (
                frame.format.name,
                make,
            )
            assert abs(int(np.median(copy[..., 2])) - 200) <= 3  # (BGRA: red is channel 2)
