"""Random access that skips non-reference frames on the way to the wanted one
(core/video/packets.py) returns exactly the frames of a sequential decode, on the real clips of
../shared/data and on generated ones, with one and with several decoder threads; and a jump of
the decode-ahead thread decodes its window behind the current frame on the same pass."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import numpy as np
import pytest

from core.video.decoder import PyAVVideo
from core.video.prefetch import Prefetcher
from core.video.reader import open_video
from core.video.synth import decode_all_hashes, write_clip


def sha(img: np.ndarray) -> bytes:
    return hashlib.sha1(np.ascontiguousarray(img).tobytes()).digest()


@pytest.fixture(scope="module", params=["demo3", "human_hand_video", "fixed_b_gop60"])
def clip(
    request: pytest.FixtureRequest, shared_data: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, list[bytes]]:
    if request.param == "demo3":
        path = shared_data / "dyn-hamr" / "demo3.mp4"
    elif request.param == "human_hand_video":
        path = shared_data / "dex-retargeting" / "human_hand_video.mp4"
    else:  # B-pyramid in a fixed pattern, short GOPs, as a phone or camera encoder writes
        path = tmp_path_factory.mktemp("skip") / "gop60.mp4"
        write_clip(path, n_frames=150, width=320, height=180, gop=60, x264_params="b-adapt=0")
    truth = decode_all_hashes(path)
    assert len(set(truth)) > 0.9 * len(truth)  # frames differ: a frame off is caught
    return path, truth


def picks_for(video: PyAVVideo, n: int) -> list[int]:
    """Random frames, plus every keyframe with its neighbours and the last frame."""
    keys = [int(k) for k in video.info.keyframes]
    edge = {j for k in keys for j in (k - 1, k, k + 1, k + 2) if 0 <= j < n} | {n - 1}
    return random.Random(3).sample(range(n), 40) + sorted(edge)


@pytest.mark.parametrize("threads", [1, 2])
def test_random_access_skipping_non_reference_frames_is_exact(
    clip: tuple[Path, list[bytes]], threads: int
) -> None:
    path, truth = clip
    video = PyAVVideo(path, cache_bytes=1, threads=threads)  # no cache: every access decodes
    try:
        assert video._shared.can_skip
        picks = picks_for(video, len(truth))
        wrong = [i for i in picks if sha(video.frame(i)) != truth[i]]
        # stepping forward after a jump continues on the same decoder, still exact
        run = range(picks[0], min(picks[0] + 12, len(truth)))
        steps = [i for i in run if sha(video.frame(i)) != truth[i]]
    finally:
        video.close()
    assert wrong == [] and steps == []


@pytest.mark.parametrize("threads", [1, 2])
def test_stepping_onto_a_keyframe_decodes_on_without_a_seek(
    clip: tuple[Path, list[bytes]], threads: int
) -> None:
    """Stepping forward across GOPs (a held arrow key): the decoder goes on through each
    keyframe instead of seeking to it (a seek flushes the frame threads: a 4K keyframe took
    30-60 ms instead of ~15), and every frame is still the sequential decode's. A jump a GOP
    ahead still seeks."""
    path, truth = clip
    video = PyAVVideo(path, cache_bytes=1, threads=threads)
    try:
        keys = [int(k) for k in video.info.keyframes if 0 < k < len(truth) - 2]
        if not keys:
            pytest.skip("one GOP")  # not reached: every clip here has several
        k = keys[0]
        assert sha(video.frame(k - 3)) == truth[k - 3]
        seeks = video.seeks
        got = [sha(video.frame(i)) for i in range(k - 2, k + 3)]
        assert got == truth[k - 2 : k + 3]
        assert video.seeks == seeks  # stepped through the keyframe
        assert sha(video.frame(k - 3)) == truth[k - 3]  # back: a seek, as before
        if len(keys) > 1 and keys[1] - k > 8:
            seeks = video.seeks
            assert sha(video.frame(keys[1])) == truth[keys[1]]  # far ahead: seeks there
            assert video.seeks == seeks + 1
    finally:
        video.close()


def test_skipping_decodes_fewer_frames_than_the_distance(clip: tuple[Path, list[bytes]]) -> None:
    path, truth = clip
    counts = {}
    for can_skip in (True, False):
        video = PyAVVideo(path, cache_bytes=1)
        video._shared.can_skip = can_skip
        keys = video.info.keyframes
        target = int(keys[1]) - 1 if len(keys) > 1 else len(truth) - 1  # the end of a GOP
        video.release_decoder()  # start from a fresh seek
        before = video.decoded_frames
        assert sha(video.frame(target)) == truth[target]
        counts[can_skip] = video.decoded_frames - before
        video.close()
    gop = int(np.diff(keys).max()) if len(keys) > 1 else len(truth)
    assert counts[False] >= gop - 1  # every frame from the keyframe to the target
    assert counts[True] < 0.8 * counts[False]  # about half of them are non-reference B-frames


def test_a_jump_decodes_the_window_behind_on_the_same_pass(demo3: Path) -> None:
    truth = decode_all_hashes(demo3)
    with open_video(demo3) as video:
        assert int(video.info.keyframes[1]) == 250  # frames 0-249 form one GOP
        with Prefetcher(video, ahead=10, behind=8) as pre:
            worker = pre._worker_video
            seeks = worker.seeks
            assert sha(pre.get(200)) == truth[200]
            assert pre.wait_idle(60)
            assert worker.seeks - seeks == 1  # no second seek for frames 192-199
            window = list(range(192, 211))
            assert all(video.cached(i) is not None for i in window)
            assert [sha(video.cached(i)) for i in window] == truth[192:211]


def test_frames_kept_before_a_target_are_free_and_exact(demo3: Path) -> None:
    """Stepping back after a jump: the frames just before the target were decoded on the way
    (in full, not skipped), are converted when asked for, and a seek elsewhere drops them."""
    truth = decode_all_hashes(demo3)
    video = PyAVVideo(demo3)
    try:
        assert sha(video.frame(200)) == truth[200]
        decoded = video.decoded_frames
        assert video.cached(199) is None  # not converted yet: the target did not wait for it
        assert video.decode_cost(199) == 0 and video.decode_cost(198) == 0
        assert [sha(video.frame(i)) for i in (199, 198)] == truth[199:197:-1]
        assert video.decoded_frames == decoded  # nothing decoded again
        assert video.decode_cost(197) > 100  # not kept: from the keyframe
        video.frame(400)  # another GOP: a seek, nothing kept from before survives it
        assert video.decode_cost(399) == 0 and video.decode_cost(199) == 0  # 199 is cached
        video.frame(100)
        assert video.decode_cost(399) > 100
    finally:
        video.close()


# ------------------------------------------------------------------ packets left out (H.264)
def _nonref_pts_by_ffmpeg(path: Path) -> tuple[set[int], set[int]]:
    """(pts of every frame, pts of the frames FFmpeg's own NONREF skip leaves out)."""
    import av

    with av.open(str(path)) as c:
        every = {int(f.pts) for f in c.decode(video=0)}
    with av.open(str(path)) as c:
        c.streams.video[0].codec_context.skip_frame = "NONREF"
        kept = {int(f.pts) for f in c.decode(video=0)}
    return every, every - kept


@pytest.mark.parametrize("layout", ["mp4", "ts"])
def test_packets_read_as_non_reference_are_the_frames_ffmpeg_skips(
    demo3: Path, tmp_path: Path, ffmpeg_binary: str, layout: str
) -> None:
    """The NAL header reader agrees with FFmpeg's decoder, packet by packet, on the real clip
    (MP4: length-prefixed NAL units) and on its MPEG-TS remux (Annex B start codes)."""
    import subprocess

    import av

    from core.video.packets import NonRefPackets

    path = demo3
    if layout == "ts":
        path = tmp_path / "demo3.ts"
        subprocess.run(
            [ffmpeg_binary, "-v", "error", "-i", str(demo3), "-c", "copy", str(path)], check=True
        )
    every, skipped = _nonref_pts_by_ffmpeg(path)
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        reader = NonRefPackets.for_stream(stream)
        assert reader is not None and reader.length_size == (4 if layout == "mp4" else 0)
        marked = {int(p.pts) for p in c.demux(stream) if p.size and reader.is_nonref(memoryview(p))}
    assert len(skipped) > 0.3 * len(every)  # demo3: 232 of 500 frames are non-reference
    assert marked == skipped


def test_a_jump_leaves_non_reference_packets_out_and_stays_exact(demo3: Path) -> None:
    truth = decode_all_hashes(demo3)
    video = PyAVVideo(demo3, cache_bytes=1)
    try:
        video.release_decoder()
        before = video.decoded_frames
        assert sha(video.frame(245)) == truth[245]  # near the end of the first GOP (0-249)
        decoder = video._decoder
        assert decoder is not None and decoder.dropped > 80  # never sent to FFmpeg
        assert video.decoded_frames - before < 170  # the reference frames and the kept ones
        assert [sha(video.frame(i)) for i in range(246, 256)] == truth[246:256]
    finally:
        video.close()


def test_packets_the_reader_does_not_understand_are_decoded() -> None:
    from core.video.packets import NonRefPackets

    def nal(header: int, body: bytes = b"\x88\x84") -> bytes:
        return len(body + b"x").to_bytes(4, "big") + bytes([header]) + body

    avcc = NonRefPackets(4)
    b_slice, p_slice, sei, sps = 0x01, 0x41, 0x06, 0x67  # nal_ref_idc 0 / 2 / 0 / 3
    assert avcc.is_nonref(nal(sei) + nal(b_slice))
    assert not avcc.is_nonref(nal(p_slice))
    assert not avcc.is_nonref(nal(sps) + nal(b_slice))  # parameter sets travel inside
    assert not avcc.is_nonref(nal(sei))  # no picture at all
    assert not avcc.is_nonref(nal(b_slice)[:-1])  # a length that does not add up
    assert not avcc.is_nonref(nal(b_slice) + b"\x00\x00")
    assert not avcc.is_nonref(b"")
    annexb = NonRefPackets(0)
    assert annexb.is_nonref(b"\x00\x00\x00\x01\x09\xf0\x00\x00\x01\x01\x9e\x42")
    assert not annexb.is_nonref(b"\x00\x00\x01\x21\x9e")  # nal_ref_idc 1
    assert not annexb.is_nonref(b"\x17\x00\x00\x01\x01\x9e")  # bytes before the start code
