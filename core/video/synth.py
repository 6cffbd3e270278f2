"""Synthetic test videos: textured, moving content encoded the way cameras do (long GOPs,
B-frames), so that every frame differs from its neighbours and a seek that lands one frame off
is caught. Used by the tests and the benchmarks; nothing here is needed to read videos."""

from __future__ import annotations

import os
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def texture(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A busy, tileable RGB texture twice the frame size (noise over smooth colour bands)."""
    rng = np.random.default_rng(seed)
    h2, w2 = 2 * height, 2 * width
    y = np.arange(h2, dtype=np.float32)[:, None]
    x = np.arange(w2, dtype=np.float32)[None, :]
    base = np.empty((h2, w2, 3), np.float32)
    base[..., 0] = 127 + 100 * np.sin(x / 23.0 + y / 41.0)
    base[..., 1] = 127 + 100 * np.sin(x / 37.0 - y / 17.0)
    base[..., 2] = 127 + 100 * np.cos((x + y) / 29.0)
    noise = rng.normal(0, 40, (h2 // 4 + 1, w2 // 4 + 1, 3)).astype(np.float32)
    base += noise.repeat(4, 0).repeat(4, 1)[:h2, :w2]
    np.clip(base, 0, 255, out=base)
    return base.astype(np.uint8)


def frame_image(tex: np.ndarray, i: int, width: int, height: int) -> np.ndarray:
    """Frame i: the texture scrolled diagonally plus a bar whose length encodes i."""
    img = np.roll(tex, (i * 3, i * 5), axis=(0, 1))[:height, :width].copy()
    bar = max(1, height // 24)
    img[:bar, : (i * 7) % width] = 255
    img[bar : 2 * bar, : (i // 7 * 3) % width] = 0
    return img


def write_clip(
    path: str | os.PathLike[str],
    n_frames: int = 300,
    width: int = 192,
    height: int = 108,
    fps: int = 30,
    gop: int = 150,
    bframes: int = 3,
    preset: str = "veryfast",
    crf: int | None = 30,
    bit_rate: int | None = None,
    rotation: int | None = None,
    durations_ms: Sequence[int] | None = None,
    seed: int = 0,
    x264_params: str | None = None,
) -> Path:
    """Encode a clip with libx264 (long GOP, B-frames). `durations_ms` makes it variable frame
    rate (frame i lasts durations_ms[i % len]); `rotation` writes a display matrix (degrees
    counter-clockwise, FFmpeg's convention); `x264_params` adds x264 options ("b-adapt=0": a
    fixed B-frame pattern, as hardware encoders write)."""
    path = Path(path)
    tex = texture(width, height, seed)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        opts = {
            "bf": str(bframes),
            "g": str(gop),
            "keyint_min": str(gop),
            "sc_threshold": "0",
            "preset": preset,
        }
        if x264_params:
            opts["x264-params"] = x264_params
        if crf is not None and bit_rate is None:
            opts["crf"] = str(crf)
        if bit_rate is not None:
            stream.bit_rate = int(bit_rate)
        stream.codec_context.options = opts
        if durations_ms is not None:
            stream.codec_context.time_base = Fraction(1, 1000)
        if rotation is not None:
            stream.set_display_rotation(rotation)
        t = 0
        for i in range(n_frames):
            frame = av.VideoFrame.from_ndarray(frame_image(tex, i, width, height), format="rgb24")
            if durations_ms is not None:
                frame.pts, frame.time_base = t, Fraction(1, 1000)
                t += int(durations_ms[i % len(durations_ms)])
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def decode_all_hashes(path: str | os.PathLike[str]) -> list[bytes]:
    """SHA-1 of every frame in decoding output order: the sequential ground truth (no rotation)."""
    import hashlib

    hashes: list[bytes] = []
    with av.open(str(path)) as c:
        try:
            for f in c.decode(video=0):
                hashes.append(hashlib.sha1(f.to_ndarray(format="rgb24").tobytes()).digest())
        except av.error.FFmpegError:
            pass  # a damaged tail: the frames before it are the truth
    return hashes
