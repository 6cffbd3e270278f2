"""`vidihand check`: passes valid files, fails (exit 2, a clear message) on anything wrong."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from core.cli.main import main
from core.io.labels_h5 import save_labels
from core.labels.document import LabelDocument, Source
from core.recon.base import meta_for
from core.video.hashing import video_sha256
from core.video.reader import open_video


@pytest.fixture(scope="module")
def small_video(shared_data: Path) -> Path:
    return shared_data / "mediapipe-samples" / "hand_landmarker" / "test_video.mp4"


def _labels_for(video_path: Path) -> LabelDocument:
    """A plausible document for the video: a right hand 60 cm away on its first 50 frames."""
    with open_video(video_path) as video:
        doc = LabelDocument(meta_for(video, video_sha256(video_path)))
    rng = np.random.default_rng(0)
    j3 = rng.normal(0, 0.04, (50, 21, 3)) + [0.0, 0.0, 0.6]
    K = doc.K
    j2 = np.stack(
        [K[0, 0] * j3[..., 0] / j3[..., 2] + K[0, 2], K[1, 1] * j3[..., 1] / j3[..., 2] + K[1, 2]],
        -1,
    )
    doc.write(
        1,
        range(50),
        {
            "present": True,
            "confidence": 0.9,
            "joints_3d": j3,
            "joints_2d": j2,
            "source": Source.PREDICTED,
        },
    )
    return doc


def _check(*args: str) -> int:
    return main(["check", *args])


def test_valid_file_passes_with_summary(small_video: Path, tmp_path: Path, capsys) -> None:
    path = save_labels(_labels_for(small_video), tmp_path / "ok.h5")
    assert _check(str(path), "--video", str(small_video)) == 0
    out = capsys.readouterr().out
    assert "202 frames" in out and "right 50 (24.8%)" in out and "predicted 50" in out
    assert "projection RMS: left -, right 0.00 px" in out
    assert _check(str(path), "--json") == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["present"]["right"] == 50 and summary["problems"] == []


def test_mismatched_video_fails(small_video: Path, demo3: Path, tmp_path: Path, capsys) -> None:
    path = save_labels(_labels_for(small_video), tmp_path / "ok.h5")
    assert _check(str(path), "--video", str(demo3)) == 2
    err = capsys.readouterr().err
    assert (
        "was made for another video" in err and "202 frames in the labels, 500 in the video" in err
    )
    assert "hint:" in err


def test_malformed_and_missing_files_fail(tmp_path: Path, small_video: Path, capsys) -> None:
    good = save_labels(_labels_for(small_video), tmp_path / "ok.h5")
    truncated = tmp_path / "truncated.h5"
    truncated.write_bytes(good.read_bytes()[:5000])
    garbage = tmp_path / "garbage.h5"
    garbage.write_text("this is not HDF5\n" * 100)
    for path, words in (
        (truncated, "not a readable HDF5 file"),
        (garbage, "not a readable HDF5 file"),
        (tmp_path / "missing.h5", "Label file not found"),
    ):
        assert _check(str(path)) == 2
        err = capsys.readouterr().err
        assert words in err and "hint:" in err and "Traceback" not in err


def test_inconsistent_content_fails(small_video: Path, tmp_path: Path, capsys) -> None:
    doc = _labels_for(small_video)
    doc.write(0, [5, 6], {"present": True})  # present without joints
    doc.write(1, [10], {"joints_3d": np.full((21, 3), -0.5)})  # behind the camera
    path = save_labels(doc, tmp_path / "bad.h5")
    assert _check(str(path)) == 2
    captured = capsys.readouterr()
    assert "left: 2 present frames have no 3D joints" in captured.out
    assert "right: joints behind the camera" in captured.out
    assert "problem(s)" in captured.err


def test_2d_only_hands_pass_but_a_partial_3d_gap_fails(small_video: Path, tmp_path: Path, capsys):
    """A hand with 2D joints and no 3D on any present frame (a CVAT import, docs/formats.md)
    passes and is named; a hand with 3D on some present frames and not on others fails."""
    doc = _labels_for(small_video)
    uv = np.full((21, 2), 20.0)
    doc.write(0, [5, 6], {"present": True, "joints_2d": uv})
    doc.write(1, [60, 61], {"present": True, "joints_2d": uv})  # 3D on its frames 0..49 only
    path = save_labels(doc, tmp_path / "two_d.h5")
    assert _check(str(path)) == 2
    out = capsys.readouterr().out
    assert "right: 2 present frames have no 3D joints" in out and "left:" not in out
    assert "2D only (no 3D joints): left" in out
