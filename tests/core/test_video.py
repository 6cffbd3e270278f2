"""Exact video access (core/video): random access matches sequential decoding on long-GOP clips
with B-frames in several containers, VFR timestamps, rotation, image folders, every bad input
of issue 2 with its typed error, bounded memory, thread safety. Clips are generated here."""

from __future__ import annotations

import hashlib
import random
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import av
import numpy as np
import pytest

from core.cli.main import main as cli_main
from core.errors import VideoOpenError, VideoReadError
from core.video.reader import FrameRangeError, open_video
from core.video.synth import decode_all_hashes, write_clip

FFMPEG = shutil.which("ffmpeg")
#: the ffmpeg tool remuxes clips; the set-up installs it, so a missing one fails (conftest.py)
needs_ffmpeg = pytest.mark.usefixtures("ffmpeg_binary")


def sha(img: np.ndarray) -> bytes:
    return hashlib.sha1(np.ascontiguousarray(img).tobytes()).digest()


def ffmpeg(*args: str) -> None:
    subprocess.run([FFMPEG or "ffmpeg", "-v", "error", "-y", *args], check=True)


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("clips")
    # 300 frames, GOP 150, 3 B-frames: two full GOPs, exact seeking is non-trivial
    write_clip(d / "long_gop.mp4", n_frames=300, gop=150, bframes=3)
    return d


# ------------------------------------------------------------------------------ exactness
def test_every_frame_in_random_order_matches_sequential_decoding(clips: Path) -> None:
    path = clips / "long_gop.mp4"
    truth = decode_all_hashes(path)
    assert len(truth) == 300 and len(set(truth)) == 300  # frames all differ
    with open_video(path, cache_bytes=1) as video:  # no cache help: every access decodes
        info = video.info
        assert info.n_frames == 300 and info.fps == pytest.approx(30.0)
        assert info.gop_summary()["keyframes"] == 2 and info.gop_summary()["gop_max"] == 150
        order = list(range(300))
        random.Random(7).shuffle(order)
        wrong = [i for i in order if sha(video.frame(i)) != truth[i]]
    assert wrong == []


def test_iter_frames_matches_sequential_decoding(clips: Path) -> None:
    truth = decode_all_hashes(clips / "long_gop.mp4")
    with open_video(clips / "long_gop.mp4") as video:
        got = list(video.iter_frames(140, 170))
    assert [i for i, _ in got] == list(range(140, 170))
    assert [sha(f) for _, f in got] == truth[140:170]


@needs_ffmpeg
@pytest.mark.parametrize(
    "kind",
    ["mkv", "ts", "edit_list", "avi", "raw_h264"],
)
def test_other_containers_are_exact(clips: Path, kind: str) -> None:
    src = clips / "long_gop.mp4"
    out = {
        "mkv": clips / "c.mkv",
        "ts": clips / "c.ts",
        "edit_list": clips / "cut.mp4",  # starts mid-GOP: leading packets discarded, pts < 0
        "avi": clips / "c.avi",  # no stored pts: FFmpeg guesses them, wrongly with B-frames
        "raw_h264": clips / "c.h264",  # no timestamps at all
    }[kind]
    if not out.exists():
        if kind == "edit_list":
            ffmpeg("-ss", "1.3", "-i", str(src), "-c", "copy", str(out))
        elif kind == "raw_h264":
            ffmpeg("-i", str(src), "-c", "copy", "-bsf:v", "h264_mp4toannexb", str(out))
        else:
            ffmpeg("-i", str(src), "-c", "copy", str(out))
    truth = decode_all_hashes(out)
    with open_video(out, cache_bytes=1) as video:
        assert video.info.n_frames == len(truth)
        if kind == "edit_list":
            assert len(truth) < 300  # the frames cut by the edit list are not offered
        picks = list(range(video.info.n_frames))
        random.Random(3).shuffle(picks)
        picks = picks[: 12 if kind in ("avi", "raw_h264") else 40]
        assert [sha(video.frame(i)) for i in picks] == [truth[i] for i in picks]


def test_background_index_gives_exact_frames_and_final_count(clips: Path) -> None:
    path = clips / "long_gop.mp4"
    truth = decode_all_hashes(path)
    with open_video(path, index="background", cache_bytes=1) as video:
        first = video.info
        assert first.n_frames == 300  # the MP4 header's count, before the index is done
        assert sha(video.frame(299)) == truth[299]  # located by estimated timestamp or index
        assert video.wait_index(20)
        info = video.info
        assert info.index_complete and info.n_frames == 300 and info.n_indexed == 300
        assert np.allclose(np.diff(info.timestamps), 1 / 30)
        picks = random.Random(1).sample(range(300), 25)
        assert [sha(video.frame(i)) for i in picks] == [truth[i] for i in picks]


def test_variable_frame_rate_timestamps(tmp_path: Path) -> None:
    pattern = [33, 33, 50, 20, 100]
    path = write_clip(tmp_path / "vfr.mkv", n_frames=60, gop=60, durations_ms=pattern)
    truth = decode_all_hashes(path)
    expected = np.concatenate([[0], np.cumsum([pattern[i % 5] for i in range(59)])]) / 1000.0
    with open_video(path) as video:
        info = video.info
        assert info.variable_frame_rate
        assert info.n_frames == 60
        np.testing.assert_allclose(info.timestamps, expected, atol=1e-6)
        assert info.fps == pytest.approx(59 / expected[-1], rel=1e-6)
        for i in (59, 3, 30, 4):
            assert sha(video.frame(i)) == truth[i]


@needs_ffmpeg
@pytest.mark.parametrize("how", ["display_matrix", "rotate_tag"])
def test_rotated_video_returns_displayed_frames(tmp_path: Path, how: str) -> None:
    if how == "display_matrix":
        path = write_clip(
            tmp_path / "rot.mp4", n_frames=40, width=160, height=96, gop=40, rotation=90
        )
    else:
        plain = write_clip(tmp_path / "plain.mp4", n_frames=40, width=160, height=96, gop=40)
        path = tmp_path / "rot_tag.mp4"
        ffmpeg("-i", str(plain), "-c", "copy", "-metadata:s:v:0", "rotate=90", str(path))
    with open_video(path) as video:
        info = video.info
        assert info.rotation in (90, 270)
        assert (info.width, info.height) == (96, 160)  # sizes as displayed
        for i in (0, 25):
            img = video.frame(i)
            assert img.shape == (160, 96, 3)
            # what FFmpeg's own player pipeline shows (autorotate)
            raw = subprocess.run(
                [
                    FFMPEG or "ffmpeg",
                    "-v",
                    "error",
                    "-i",
                    str(path),
                    "-vf",
                    f"select=eq(n\\,{i})",
                    "-frames:v",
                    "1",
                    "-f",
                    "rawvideo",
                    "-pix_fmt",
                    "rgb24",
                    "-",
                ],
                check=True,
                capture_output=True,
            ).stdout
            shown = np.frombuffer(raw, np.uint8).reshape(160, 96, 3)
            assert np.abs(img.astype(int) - shown).mean() < 1.0


# ------------------------------------------------------------------------------ image folders
def _write_png(path: Path, size: tuple[int, int], value: int) -> None:
    from PIL import Image

    Image.fromarray(np.full((size[1], size[0], 3), value, np.uint8)).save(path)


def test_image_folder_natural_order(tmp_path: Path) -> None:
    for i in (1, 2, 10, 11, 3):
        _write_png(tmp_path / f"frame_{i}.png", (32, 24), i * 10)
    (tmp_path / "notes.txt").write_text("not an image")
    with open_video(tmp_path, fps=25) as video:
        info = video.info
        assert info.is_image_folder and info.n_frames == 5 and info.fps == 25
        assert (info.width, info.height) == (32, 24)
        assert [int(video.frame(i)[0, 0, 0]) for i in range(5)] == [10, 20, 30, 100, 110]


def test_image_folder_mixed_sizes_and_empty_and_damaged(tmp_path: Path) -> None:
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    _write_png(mixed / "a1.png", (32, 24), 0)
    _write_png(mixed / "a2.png", (40, 24), 0)
    with pytest.raises(VideoOpenError, match="different sizes") as exc:
        open_video(mixed)
    assert "32x24" in exc.value.message and "40x24" in exc.value.message and exc.value.hint
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("x")
    with pytest.raises(VideoOpenError, match="holds no images"):
        open_video(empty)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "f1.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(VideoOpenError, match="not a readable image"):
        open_video(bad)


# ------------------------------------------------------------------------------ bad input
@pytest.fixture(scope="module")
def bad_inputs(clips: Path, ffmpeg_binary: str) -> dict[str, Path]:
    d = clips / "bad"
    d.mkdir(exist_ok=True)
    rng = np.random.default_rng(0)
    out = {
        "missing": d / "missing.mp4",
        "empty": d / "empty.mp4",
        "garbage": d / "garbage.mp4",
        "text": d / "notes.mp4",
        "no_moov": d / "no_moov.mp4",
    }
    out["empty"].write_bytes(b"")
    out["garbage"].write_bytes(rng.integers(0, 256, 200_000, dtype=np.uint8).tobytes())
    out["text"].write_text("this is not a video\n" * 100)
    data = (clips / "long_gop.mp4").read_bytes()  # moov at the end: cut it off
    out["no_moov"].write_bytes(data[: len(data) // 2])
    out["audio_only"] = d / "audio.m4a"
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:duration=1",
        "-c:a",
        "aac",
        str(out["audio_only"]),
    )
    return out


@pytest.mark.parametrize(
    "case,words",
    [
        ("missing", "not found"),
        ("empty", "empty"),
        ("garbage", "not a readable video"),
        ("text", "not a readable video"),
        ("no_moov", "not a readable video"),
        ("audio_only", "no video stream"),
    ],
)
def test_bad_input_raises_video_open_error(
    bad_inputs: dict[str, Path], case: str, words: str
) -> None:
    with pytest.raises(VideoOpenError) as exc:
        open_video(bad_inputs[case])
    assert words in exc.value.message
    assert exc.value.hint  # says what to do


@needs_ffmpeg
def test_truncated_tail_offers_good_frames_only(clips: Path) -> None:
    faststart = clips / "faststart.mp4"  # index (moov) first, so a cut file still opens
    ffmpeg(
        "-i", str(clips / "long_gop.mp4"), "-c", "copy", "-movflags", "+faststart", str(faststart)
    )
    data = faststart.read_bytes()
    cut = clips / "truncated.mp4"
    cut.write_bytes(data[: int(len(data) * 0.6)])
    truth = decode_all_hashes(cut)  # what a sequential decode gets before the damage
    with open_video(cut, cache_bytes=1) as video:
        info = video.info
        assert info.truncated
        assert 0 < info.n_frames < 300 and info.n_frames == len(truth)
        for i in (info.n_frames - 1, 0, info.n_frames // 2, info.n_frames - 2):
            assert sha(video.frame(i)) == truth[i]
        with pytest.raises(VideoReadError) as exc:
            video.frame(info.n_frames + 5)
        assert isinstance(exc.value, IndexError) and isinstance(exc.value, FrameRangeError)
        assert "damaged" in (exc.value.hint or "")


def test_cli_info_reports_bad_input_without_traceback(
    bad_inputs: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    for case in ("missing", "garbage", "audio_only"):
        assert cli_main(["info", str(bad_inputs[case])]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and "\nhint: " in err and "Traceback" not in err


def test_cli_info_subprocess(bad_inputs: dict[str, Path], clips: Path) -> None:
    exe = Path(sys.executable).with_name("vidihand")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "core.cli.main"]
    bad = subprocess.run([*cmd, "info", str(bad_inputs["text"])], capture_output=True, text=True)
    assert bad.returncode == 2 and "error:" in bad.stderr and "hint:" in bad.stderr
    assert "Traceback" not in bad.stderr
    good = subprocess.run(
        [*cmd, "info", "--json", str(clips / "long_gop.mp4")], capture_output=True, text=True
    )
    assert good.returncode == 0, good.stderr
    assert '"frames": 300' in good.stdout and '"keyframes": 2' in good.stdout


# ------------------------------------------------------------------------------ memory, threads
def test_frame_cache_is_bounded_in_bytes(clips: Path) -> None:
    frame_bytes = 192 * 108 * 3
    with open_video(clips / "long_gop.mp4", cache_bytes=10 * frame_bytes) as video:
        for i in range(0, 300, 2):
            video.frame(i)
        assert video.cache.nbytes <= 10 * frame_bytes
        assert len(video.cache) <= 10
        # the index costs bytes per frame, not decoded frames: no per-frame Python objects
        assert video._shared.state.pts.nbytes == 300 * 8


def test_concurrent_frame_calls_are_exact(clips: Path) -> None:
    path = clips / "long_gop.mp4"
    truth = decode_all_hashes(path)
    errors: list[str] = []
    with open_video(path, cache_bytes=4 * 192 * 108 * 3) as video:
        fork = video.fork()

        def worker(src: object, seed: int) -> None:
            rng = random.Random(seed)
            for _ in range(40):
                i = rng.randrange(300)
                if sha(src.frame(i)) != truth[i]:  # type: ignore[attr-defined]
                    errors.append(f"frame {i}")

        threads = [
            threading.Thread(target=worker, args=(s, k)) for k, s in enumerate((video, video, fork))
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        fork.close()
        assert sha(video.frame(10)) == truth[10]  # the original still works after its fork closed
    assert errors == []


# ------------------------------------------------------------------------------ real video
def test_demo3_metadata_and_frames(demo3: Path) -> None:
    with open_video(demo3) as video:
        info = video.info
        assert (info.n_frames, info.width, info.height, info.rotation) == (500, 1280, 720, 0)
        assert info.fps == pytest.approx(30.0)
        assert not info.variable_frame_rate and info.index_complete
        last = video.frame(499)
        assert last.shape == (720, 1280, 3) and last.dtype == np.uint8 and not last.flags.writeable
        with av.open(str(demo3)) as c:
            for k, f in enumerate(c.decode(video=0)):
                if k == 250:
                    ref = f.to_ndarray(format="rgb24")
                    break
        assert np.array_equal(video.frame(250), ref)


@needs_ffmpeg
def test_background_index_falls_back_to_full_for_streams_without_timestamps(clips: Path) -> None:
    raw = clips / "bg.h264"
    ffmpeg("-i", str(clips / "long_gop.mp4"), "-c", "copy", "-bsf:v", "h264_mp4toannexb", str(raw))
    truth = decode_all_hashes(raw)
    with open_video(raw, index="background") as video:
        info = video.info
        assert info.timestampless and info.index_complete and info.n_frames == 300
        assert [sha(video.frame(i)) for i in (5, 2)] == [truth[5], truth[2]]


def test_decode_cost_counts_the_frames_a_read_would_decode(tmp_path: Path) -> None:
    """decode_cost: 0 cached, the distance when decoding goes on, else from the keyframe the
    seek lands on. The GUI uses it to hand expensive jumps to the decode-ahead thread."""
    path = write_clip(tmp_path / "gop.mp4", n_frames=300, gop=100, bframes=0)
    with open_video(path) as v:
        assert v.decode_cost(0) == 0  # decoded while opening, cached
        assert v.decode_cost(1) == 1  # the decoder goes on from frame 0
        assert v.decode_cost(250) == 51  # seek to the keyframe at 200, decode 200..250
        v.frame(120)
        assert v.decode_cost(121) == 1 and v.decode_cost(130) == 10
        assert v.decode_cost(110) == 11  # behind: back to the keyframe at 100
        assert v.decode_cost(205) == 6  # another GOP: from its keyframe, not from 120
        assert v.decode_cost(120) == 0
        cache = v.cache
        cache.clear()
        assert v.decode_cost(120) == 21  # not cached any more: from the keyframe at 100
