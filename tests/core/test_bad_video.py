"""Inputs that are not plausibly video are refused in one line (issue 14): random bytes that
FFmpeg takes for a raw H.263 stream, an image folder holding a decompression bomb; real raw
elementary streams still open; a truncated MP4 makes `reconstruct` warn."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import av
import numpy as np
import pytest

from core.cli.main import main
from core.errors import VideoOpenError
from core.video.reader import open_video

#: seeds whose 300 kB of random bytes FFmpeg probes as raw H.263 and (before the probe check)
#: opened as a one-frame video: found by scanning seeds 0..1199
H263_LOOKALIKE_SEEDS = (103, 276, 478)


def random_file(path: Path, seed: int, size: int = 300_000) -> Path:
    path.write_bytes(np.random.default_rng(seed).bytes(size))
    return path


def h263_header_then_noise(path: Path, seed: int) -> Path:
    """An H.263 picture start code and a QCIF picture type, then random bytes."""
    body = bytearray(np.random.default_rng(seed).bytes(50_000))
    body[0:3] = b"\x00\x00\x80"
    body[3] = (body[3] & 0x03) | 0x02
    body[4] = (body[4] & 0x03) | 0x08  # source format 010: QCIF, 176x144
    path.write_bytes(bytes(body))
    return path


def raw_stream(src: Path, dst: Path, fmt: str, codec: str, size: tuple[int, int] | None) -> Path:
    """The first 30 frames of `src` re-encoded as a raw elementary stream (no container)."""
    with av.open(str(src)) as inp, av.open(str(dst), "w", format=fmt) as out:
        istream = inp.streams.video[0]
        w, h = size or (istream.width, istream.height)
        ostream = out.add_stream(codec, rate=30)
        ostream.width, ostream.height, ostream.pix_fmt = w, h, "yuv420p"
        for i, frame in enumerate(inp.decode(istream)):
            if i == 30:
                break
            rgb = frame.to_ndarray(width=w, height=h, format="rgb24")
            img = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
            img.pts = i
            for pkt in ostream.encode(img):
                out.mux(pkt)
        for pkt in ostream.encode():
            out.mux(pkt)
    return dst


@pytest.mark.parametrize("seed", H263_LOOKALIKE_SEEDS)
def test_random_bytes_named_mp4_do_not_open(seed: int, tmp_path: Path) -> None:
    path = random_file(tmp_path / f"random{seed}.mp4", seed)
    with pytest.raises(VideoOpenError, match="not a video"):
        open_video(path)


#: seeds for which that file opened as a one-frame 176x144 video before the probe check
H263_HEADER_SEEDS = (2, 8, 12, 14, 20, 31)


@pytest.mark.parametrize("seed", H263_HEADER_SEEDS)
def test_h263_start_code_then_noise_does_not_open(seed: int, tmp_path: Path) -> None:
    with pytest.raises(VideoOpenError, match="is not a video: it looks like a raw h263 stream"):
        open_video(h263_header_then_noise(tmp_path / "clip.h263", seed))


def test_reconstruct_refuses_noise_in_one_line_and_writes_nothing(tmp_path: Path, capsys) -> None:
    path = random_file(tmp_path / "random.mp4", H263_LOOKALIKE_SEEDS[0])
    out = tmp_path / "labels.h5"
    assert main(["reconstruct", str(path), "-o", str(out), "--backend", "mediapipe"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: random.mp4 is not a video") and len(err.splitlines()) == 2
    assert not out.exists()


@pytest.mark.parametrize(
    ("fmt", "codec", "size"),
    [("h263", "h263", (352, 288)), ("h264", "libx264", None), ("m4v", "mpeg4", None)],
)
def test_real_raw_streams_still_open(demo3: Path, tmp_path: Path, fmt, codec, size) -> None:
    """A raw elementary stream opens and every frame comes back exact, in any order: the raw
    demuxers' made-up timestamps (H.263, MPEG-4 part 2) cannot be seeked to, so frames are
    located by counting decoder output (core/video/index.py)."""
    path = raw_stream(demo3, tmp_path / f"demo3.{fmt}", fmt, codec, size)
    with av.open(str(path)) as c:
        truth = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    for index in ("full", "background"):
        with open_video(path, index=index, cache_bytes=1) as video:
            assert video.info.n_frames == 30 == len(truth)
            w, h = size or (1280, 720)
            assert (video.info.width, video.info.height) == (w, h)
            assert np.array_equal(video.frame(0), truth[0]) and truth[0].std() > 10
            for i in (29, 3, 17, 18, 1, 0, 12):
                assert np.array_equal(video.frame(i), truth[i]), f"{index}: frame {i}"
            got = list(video.iter_frames(5, 9))
            assert [i for i, _ in got] == [5, 6, 7, 8]
            assert all(np.array_equal(f, truth[i]) for i, f in got)


def _png(path: Path, width: int, height: int) -> Path:
    """A valid PNG header claiming `width` x `height` (1-bit grey) with one tiny IDAT."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) +
                     chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))  # fmt: skip
    return path


@pytest.mark.parametrize("side", [30000, 10000])  # PIL raises above 179 Mpixels, warns above 89
def test_decompression_bomb_in_an_image_folder(tmp_path: Path, side: int, capsys) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    from PIL import Image

    Image.new("RGB", (64, 48)).save(folder / "frame_0001.png")
    _png(folder / "frame_0002.png", side, side)
    assert main(["info", str(folder)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: frame_0002.png") and "too large" in err.splitlines()[0]
    assert len(err.splitlines()) == 2 and "Traceback" not in err


def test_reconstruct_warns_about_a_truncated_mp4(sample, tmp_path: Path, capsys) -> None:
    video, _ = sample
    faststart = tmp_path / "faststart.mp4"  # index first, so a cut file still opens
    with av.open(str(video)) as inp, av.open(str(faststart), "w", options={"movflags": "+faststart"}) as out:  # fmt: skip
        istream = inp.streams.video[0]
        ostream = out.add_stream_from_template(istream)
        for pkt in inp.demux(istream):
            if pkt.dts is not None:
                pkt.stream = ostream
                out.mux(pkt)
    data = faststart.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: int(len(data) * 0.6)])
    out = tmp_path / "cut.h5"
    rc = main(["reconstruct", str(cut), "-o", str(out), "--backend", "groundtruth",
               "--backend-option", f"labels={sample[1]}", "--frames", "0:5", "-q"])  # fmt: skip
    captured = capsys.readouterr()
    assert "warning: cut.mp4 is truncated" in captured.err
    assert rc in (0, 2)  # the ground truth belongs to the whole video; the warning came first
