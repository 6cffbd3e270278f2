"""Display copies scaled by swscale straight into the caller's memory (core/video/sws.py): the
same pixels as PyAV's reformat for every pixel format, colour tag and size tried, PyAV (a new
frame-sized buffer per call) asked only once per kind of frame, and a kind of frame that would
differ is left to PyAV."""

from __future__ import annotations

import sys
from pathlib import Path

import av
import numpy as np
import pytest

from core.video import sws
from core.video.display import BgraScaler


def pyav_bgra(frame: av.VideoFrame, size: tuple[int, int]) -> np.ndarray:
    return frame.reformat(
        width=size[0], height=size[1], format="bgra", interpolation="AREA", threads=1
    ).to_ndarray()


@pytest.fixture(scope="module")
def frame(demo3: Path) -> av.VideoFrame:
    with av.open(str(demo3)) as c:
        for i, f in enumerate(c.decode(video=0)):
            if i == 40:
                # a frame that owns its pixels once the container is closed
                return f.reformat(format="yuv420p")
    raise AssertionError("demo3 has fewer than 41 frames")


def test_the_library_pyav_uses_is_found_here() -> None:
    """On Linux with PyAV's wheels (CI, the app's own set-up) the direct path is there: if this
    fails, every display copy silently went back to PyAV's allocating path."""
    if not sys.platform.startswith("linux"):
        pytest.skip("found among the process's mapped libraries on Linux only")
    pytest.importorskip("cv2")  # OpenCV's wheel maps an FFmpeg of its own: not that one
    assert sws.available()
    libs = sws._load()
    assert libs is not None
    home = Path(av.__file__).resolve().parent
    for lib in libs:  # PyAV's wheel: its libraries lie in av.libs beside the package
        assert Path(lib._name).parent in (home, home.parent / "av.libs"), lib._name


@pytest.mark.parametrize(
    "fmt", ["yuv420p", "yuvj420p", "nv12", "yuv422p", "yuv444p", "yuv420p10le", "rgb24", "gray"]
)
def test_direct_copies_are_pyavs_pixels_written_in_place(frame: av.VideoFrame, fmt: str) -> None:
    src = frame.reformat(format=fmt)
    scaler = sws.DirectScaler.create(pyav_bgra)
    if scaler is None:
        pytest.skip("no direct swscale on this platform")
    tags = (
        [(2, 0), (1, 1), (1, 2), (5, 1), (6, 0), (7, 1), (9, 1)]
        if not src.format.is_rgb
        else [(2, 0)]
    )
    for colorspace, color_range in tags:
        if not src.format.is_rgb:
            src.colorspace, src.color_range = colorspace, color_range
        for size in [(640, 360), (641, 359), (1076, 605), (320, 640), (1280, 720)]:
            out = np.full((size[1], size[0], 4), 7, np.uint8)
            before = scaler.scaled
            assert scaler.scale(src, size, out), (fmt, colorspace, color_range, size)
            assert scaler.scaled == before + 1
            ref = pyav_bgra(src, size)
            assert np.array_equal(out, ref), (fmt, colorspace, color_range, size)


def test_pyav_is_asked_once_per_kind_of_frame(demo3: Path) -> None:
    """PyAV's reformat (a new frame every call) checks the first frame of a kind only; the
    frames after it are scaled into the arrays given, alternating between two as the display
    copies' spares do."""
    calls = []

    def reference(f: av.VideoFrame, size: tuple[int, int]) -> np.ndarray:
        calls.append(size)
        return pyav_bgra(f, size)

    scaler = sws.DirectScaler.create(reference)
    if scaler is None:
        pytest.skip("no direct swscale on this platform")
    spares = [np.empty((300, 533, 4), np.uint8) for _ in range(2)]
    with av.open(str(demo3)) as c:
        for i, f in enumerate(c.decode(video=0)):
            out = spares[i % 2]
            assert scaler.scale(f, (533, 300), out)
            if i in (0, 13):
                assert np.array_equal(out, pyav_bgra(f, (533, 300)))
            if i == 20:
                break
    assert calls == [(533, 300)]  # the first frame only
    assert scaler.scale(f, (400, 225), np.empty((225, 400, 4), np.uint8))  # a new size
    assert calls == [(533, 300), (400, 225)]


def test_a_kind_of_frame_that_differs_is_left_to_pyav(
    frame: av.VideoFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If swscale here gave other pixels than PyAV for some kind of frame (a chroma siting the
    stream signals, a library that changed), that kind is scaled by PyAV from then on."""
    monkeypatch.setattr(sws, "_SWS_CS", {2: 1})  # untagged frames read as BT.709: wrong
    scaler = BgraScaler()
    if scaler.direct is None:
        pytest.skip("no direct swscale on this platform")
    for _ in range(3):
        out = scaler(frame, (640, 360), np.empty((360, 640, 4), np.uint8))
        assert np.array_equal(out, pyav_bgra(frame, (640, 360)))
    assert scaler.direct.scaled == 0
    monkeypatch.undo()
    frame.colorspace = 1  # another kind of frame: direct, right
    out = scaler(frame, (640, 360), np.empty((360, 640, 4), np.uint8))
    assert scaler.direct.scaled == 1 and np.array_equal(out, pyav_bgra(frame, (640, 360)))


def test_arrays_it_cannot_write_go_to_pyav(frame: av.VideoFrame) -> None:
    scaler = BgraScaler()
    if scaler.direct is None:
        pytest.skip("no direct swscale on this platform")
    wide = np.empty((360, 700, 4), np.uint8)[:, :640]  # not contiguous
    assert not scaler.direct.scale(frame, (640, 360), wide)
    out = scaler(frame, (640, 360), wide)
    assert np.array_equal(out, pyav_bgra(frame, (640, 360)))
