"""A file whose decoded timestamps come out of order (core/video/quirks.py): AVI stores no
presentation timestamps and FFmpeg guesses them, wrongly with B-frames, so they cannot locate
frames. `ordinal_if_reordered` notices on the first frames and switches to output order; files
in order keep their index. The clips are generated here (H.264 with B-frames, remuxed)."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import av
import numpy as np
import pytest

from core.video.index import scan
from core.video.quirks import ordinal_if_reordered
from core.video.reader import open_video
from core.video.synth import write_clip

N = 60


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory, ffmpeg_binary: str) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("reordered")
    mp4 = write_clip(d / "bframes.mp4", n_frames=N, width=160, height=96, gop=30, bframes=3)
    avi = d / "bframes.avi"
    subprocess.run([ffmpeg_binary, "-v", "error", "-y", "-i", str(mp4), "-c", "copy", str(avi)],
                   check=True)  # fmt: skip
    return {"mp4": mp4, "avi": avi}


def decoded(path: Path) -> tuple[list[int], list[bytes]]:
    """(pts, frame hashes) in the decoder's output order."""
    with av.open(str(path)) as c:
        frames = list(c.decode(c.streams.video[0]))
    hashes = [hashlib.sha1(f.to_ndarray(format="rgb24").tobytes()).digest() for f in frames]
    return [f.pts for f in frames], hashes


def index(path: Path):  # noqa: ANN201 - IndexState
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        return s.index, scan(c, s, path.stat().st_size)


def test_out_of_order_timestamps_switch_to_output_order(clips) -> None:
    pts, _ = decoded(clips["avi"])
    assert pts != sorted(pts)  # the premise: guessed timestamps out of order
    stream, state = index(clips["avi"])
    assert not state.timestampless and len(state.pts) == N
    out = ordinal_if_reordered(clips["avi"], stream, state)
    assert out.timestampless
    np.testing.assert_array_equal(out.pts, np.arange(N))
    np.testing.assert_array_equal(out.key_pts, [0])
    assert (out.complete, out.error, out.packets) == (state.complete, state.error, state.packets)
    assert out.extra["fps"] == pytest.approx(30.0, rel=0.05)


def test_timestamps_in_order_keep_the_index(clips) -> None:
    pts, _ = decoded(clips["mp4"])
    assert pts == sorted(pts)
    stream, state = index(clips["mp4"])
    assert ordinal_if_reordered(clips["mp4"], stream, state) is state


def test_only_the_first_frames_are_probed(clips) -> None:
    """The check decodes `probe` frames, not the whole file: the first reordering in this
    clip comes within the first few frames, so a probe of 1 frame cannot see it."""
    pts, _ = decoded(clips["avi"])
    first = next(i for i in range(1, N) if pts[i] < pts[i - 1])
    stream, state = index(clips["avi"])
    assert ordinal_if_reordered(clips["avi"], stream, state, probe=first - 1) is state
    assert ordinal_if_reordered(clips["avi"], stream, state, probe=first).timestampless


def test_the_reordered_file_reads_every_frame_exactly(clips) -> None:
    """Through open_video: frame i is the decoder's i-th output frame, in any access order."""
    _, want = decoded(clips["avi"])
    with open_video(clips["avi"]) as video:
        assert video.info.n_frames == N
        for i in (45, 3, 59, 0, 30, 31, 12):
            got = hashlib.sha1(np.ascontiguousarray(video.frame(i)).tobytes()).digest()
            assert got == want[i], i
