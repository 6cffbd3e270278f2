"""`vidihand reconstruct` end to end on a short range of demo3, and its argument errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core.cli.main import main
from core.io.labels_h5 import load_labels
from core.labels.document import Source
from core.recon.base import meta_for
from core.video.hashing import video_sha256
from core.video.reader import open_video

VIDIHAND = Path(sys.executable).with_name("vidihand")


@pytest.fixture(scope="module")
def reconstructed(demo3: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """The real console script on frames 200:230 of demo3 with explicit intrinsics and NPZ."""
    out = tmp_path_factory.mktemp("cli") / "demo3.h5"
    proc = subprocess.run(
        [
            str(VIDIHAND),
            "reconstruct",
            str(demo3),
            "-o",
            str(out),
            "--frames",
            "200:230",
            "--intrinsics",
            "1100,1100,639.5,359.5",
            "--npz",
            str(out.with_suffix(".npz")),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ},
    )
    assert proc.returncode == 0, proc.stderr
    # prose goes to stderr, data to stdout: stdout is exactly one JSON line
    assert json.loads(proc.stdout)["frames"] == 500
    return out, out.with_suffix(".npz"), proc.stderr


def test_reconstruct_writes_a_valid_file(reconstructed, demo3: Path) -> None:
    out, npz, stderr = reconstructed
    with open_video(demo3) as video:
        meta = meta_for(video, video_sha256(demo3))
    doc = load_labels(out, expect=meta)  # matches the video: frame count, size and hash
    assert doc.n_frames == 500 and doc.backend == "mediapipe" and "0.10.14" in doc.backend_version
    np.testing.assert_allclose(doc.K, [[1100, 0, 639.5], [0, 1100, 359.5], [0, 0, 1]])
    # refined by default: short gaps the detector missed are filled and marked interpolated
    assert doc.extras["refine"]["backend"].startswith("refine")
    for track in doc.hands:
        assert np.isin(track.source[200:230], [Source.PREDICTED, Source.INTERPOLATED]).all()
        assert (track.source[:200] == Source.NONE).all() and (
            track.source[230:] == Source.NONE
        ).all()
        assert not track.present[:200].any() and not track.present[230:].any()
        assert track.present[200:230].mean() > 0.8
        # projection consistency with the user's K
        p = track.present
        j = track.joints_3d[p].astype(np.float64)
        uv = np.stack(
            [1100 * j[..., 0] / j[..., 2] + 639.5, 1100 * j[..., 1] / j[..., 2] + 359.5], -1
        )
        assert np.sqrt(np.mean(np.sum((uv - track.joints_2d[p]) ** 2, -1))) < 2.0
    with np.load(npz) as z:
        np.testing.assert_array_equal(z["right_present"], doc.hands[1].present)
    assert f"labels written to {out}" in stderr
    assert "30 of 500 frames (200:230)" in stderr and "hands present: left" in stderr
    # no progress bar without a terminal, no MediaPipe start-up chatter
    assert "frame/s]" not in stderr and "absl" not in stderr and "XNNPACK" not in stderr


def test_check_passes_on_the_reconstruction(reconstructed, demo3: Path, capsys) -> None:
    out, _, _ = reconstructed
    assert main(["check", str(out), "--video", str(demo3)]) == 0
    text = capsys.readouterr().out
    assert "schema v1, 500 frames" in text and "matches" in text and "PROBLEM" not in text


def test_groundtruth_backend_replays_a_file(
    reconstructed, demo3: Path, tmp_path: Path, capsys
) -> None:
    """--backend groundtruth gives back exactly what it replays (and its K)."""
    src, _, _ = reconstructed
    out = tmp_path / "replay.h5"
    rc = main(
        [
            "reconstruct",
            str(demo3),
            "-o",
            str(out),
            "--frames",
            "195:235",
            "--quiet",
            "--backend",
            "groundtruth",
            "--backend-option",
            f"labels={src}",
        ]
    )
    assert rc == 0, capsys.readouterr().err
    a, b = load_labels(src), load_labels(out)
    np.testing.assert_array_equal(a.K, b.K)
    assert b.backend == "groundtruth"
    for ta, tb in zip(a.hands, b.hands, strict=True):
        np.testing.assert_array_equal(ta.present, tb.present)
        np.testing.assert_array_equal(ta.joints_3d, tb.joints_3d)
        np.testing.assert_array_equal(ta.joints_2d, tb.joints_2d)
        assert (tb.source[195:235] == Source.PREDICTED).all() and (
            tb.source[:195] == Source.NONE
        ).all()


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--frames", "abc"], "--frames: frames must look like A:B"),
        (["--frames", "300:200"], "select nothing in a 500-frame video"),
        (["--frames", "600:700"], "select nothing"),
        (["--intrinsics", "900,900,640"], "needs four numbers FX,FY,CX,CY, got 3"),
        (["--intrinsics", "a,b,c,d"], "must be four numbers"),
        (["--intrinsics", "0,900,640,360"], "must be positive"),
        (["--intrinsics", "nan,900,640,360"], "must be finite"),
        (["--backend-option", "novalue"], "KEY=VALUE"),
        (["--backend-option", "bogus=1"], "does not accept these options"),
        (["--backend", "groundtruth"], "needs a label file"),
    ],
)
def test_argument_errors_are_clear(
    args: list[str], words: str, demo3: Path, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "x.h5"
    rc = main(["reconstruct", str(demo3), "-o", str(out), "--quiet", *args])
    err = capsys.readouterr().err
    assert rc == 2
    assert words in err and "hint:" in err, err
    assert "Traceback" not in err
    assert not out.exists()


def test_missing_input_is_a_clear_error(tmp_path: Path, capsys) -> None:
    rc = main(["reconstruct", str(tmp_path / "none.mp4"), "-o", str(tmp_path / "x.h5")])
    assert rc == 2
    assert "Video not found" in capsys.readouterr().err


def test_reconstruct_an_image_folder(demo3: Path, tmp_path: Path, capsys) -> None:
    from PIL import Image

    folder = tmp_path / "frames"
    folder.mkdir()
    with open_video(demo3) as video:
        for i in range(4):  # names sort numerically: 8, 9, 10, 11
            Image.fromarray(video.frame(120 + i)).resize((640, 360)).save(folder / f"f{8 + i}.jpg")
    out = tmp_path / "frames.h5"
    assert main(["reconstruct", str(folder), "-o", str(out), "--quiet"]) == 0, (
        capsys.readouterr().err
    )
    doc = load_labels(out)
    assert (doc.n_frames, doc.meta.width, doc.meta.height) == (4, 640, 360)
    assert doc.meta.video_sha256 == video_sha256(folder)
    assert doc.present_counts()["both"] == 4
