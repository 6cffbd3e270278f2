"""Where re-detection looks (core/recon/refine/redetect.py) and what it decodes, without
MediaPipe: the gaps of synthetic tracks, the border for hands at the edge, the lazy windows.
What it finds on real frames is tested on the sample in test_refine_sample.py."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from core.labels.document import LabelDocument, Source, VideoMeta
from core.recon.refine.redetect import Gap, _GapFrames, edge_pad, find_gaps

W, H = 640, 480


def doc_with(present: list[tuple[int, int]], n: int = 120) -> LabelDocument:
    """The left hand present on the given [a, b) runs (a square hand in the middle), the right
    hand never."""
    doc = LabelDocument(VideoMeta(n, 30.0, W, H))
    uv = np.stack(np.meshgrid(np.linspace(300, 340, 7), np.linspace(220, 250, 3)), -1)
    for a, b in present:
        doc.write(0, np.arange(a, b), {"present": True, "confidence": 0.9,
                                       "joints_2d": uv.reshape(21, 2), "joints_3d": 0.0})  # fmt: skip
    return doc


def test_gaps_short_long_and_entering() -> None:
    doc = doc_with([(5, 10), (15, 40), (71, 100)])
    gaps = find_gaps(doc, range(doc.n_frames), max_gap=16, reach=8)
    assert gaps == [
        Gap(0, 0, 5, False),  # entering: backwards from 5, at most 8 frames
        Gap(0, 10, 15, True),  # short: the whole gap, crops where tracking finds nothing
        Gap(0, 63, 71, False),  # long: the last 8 frames before it is back
    ]  # leaving for good (100-119): nothing to track back from


def test_gaps_stop_at_constraint_frames_and_respect_the_range() -> None:
    doc = doc_with([(0, 20), (30, 60)])
    doc.write(0, np.array([24]), {"source": int(Source.EDITED)})  # a person's frame in the gap
    gaps = find_gaps(doc, range(doc.n_frames), max_gap=16, reach=8)
    assert gaps == [Gap(0, 25, 30, False)]  # backwards, not past frame 24; no crops
    assert find_gaps(doc, range(30, 50), max_gap=16, reach=8) == []  # present throughout


def test_edge_pad_borders_only_the_near_sides() -> None:
    hand = np.array([[300.0, 200.0], [360.0, 260.0]])  # 60 x 60, size ~85
    assert edge_pad(hand, W, H, 1.0) == (0, 0, 0, 0)
    at_right = hand + [260.0, 0.0]  # 560..620: within one size of the right edge
    top, bottom, left, right = edge_pad(at_right, W, H, 1.0)
    assert (top, bottom, left) == (0, 0, 0) and right >= 85
    at_bottom_left = hand + [-290.0, 200.0]
    top, bottom, left, right = edge_pad(at_bottom_left, W, H, 0.5)
    assert top == right == 0 and bottom == left >= 42


class CountingVideo:
    """Frames whose pixels say their index; counts what is decoded and how often it seeks."""

    def __init__(self, n: int = 200, keyframe_cost: int = 1000) -> None:
        self.n, self.cost, self.decoded, self.seeks = n, keyframe_cost, 0, 0

    def decode_cost(self, index: int) -> int:
        return self.cost

    def iter_frames(
        self, start: int = 0, stop: int | None = None
    ) -> Iterator[tuple[int, np.ndarray]]:
        self.seeks += 1
        for i in range(start, self.n if stop is None else stop):
            self.decoded += 1
            yield i, np.full((4, 4, 3), i % 256, np.uint8)


def test_gap_windows_decode_only_what_is_asked_and_go_on_in_order() -> None:
    video = CountingVideo()
    reader = _GapFrames(video)
    first = reader.window(10, 30)
    assert 12 in first and first[12][0, 0, 0] == 12
    assert video.decoded == 3  # 10, 11, 12: a pass that stops early decodes no further
    assert 31 not in first and video.decoded == 3
    second = reader.window(40, 45)  # later: goes on decoding (a seek would cost more)
    assert second[45][0, 0, 0] == 45 and 44 in second
    assert video.seeks == 1 and video.decoded == 36
    third = reader.window(20, 22)  # behind the reader: a seek
    assert third[22][0, 0, 0] == 22 and video.seeks == 2
    reader.close()


def test_gap_windows_on_a_real_video_are_its_exact_frames_decoded_by_index(demo3) -> None:
    """On a PyAVVideo the windows read each wanted frame by index on a private fork (skipping
    the non-reference frames between gaps, converting only wanted frames): the pictures are
    exactly those of a sequential decode, in order and going on, and a window behind works."""
    from core.video.reader import open_video

    windows = [(3, 6), (40, 44), (120, 121), (20, 22)]  # the last is behind the reader
    with open_video(demo3) as video:
        wanted = {f for a, b in windows for f in range(a, b + 1)}
        truth = {i: img for i, img in video.iter_frames(0, 122) if i in wanted}
        reader = _GapFrames(video)
        assert reader._fork is not None  # the by-index path, not reading on through the clip
        for a, b in windows:
            window = reader.window(a, b)
            for f in range(b, a - 1, -1):  # a backward pass asks for the last frame first
                assert np.array_equal(window[f], truth[f]), f
        reader.close()
        assert reader._fork is None
        assert np.array_equal(video.frame(41), truth[41])  # the video itself is untouched
