"""Batch reconstruction: inputs, chunk planning and stitching, worker tasks, and `vidihand batch`
end to end on a local two-worker Ray instance (real videos from ../shared/data plus a corrupt
file and an image folder)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core.batch.inputs import BatchInputError, expand_inputs
from core.batch.plan import Chunk, plan_chunks, stitch
from core.batch.runner import finished_output
from core.batch.tasks import probe_video, run_chunk
from core.io.labels_h5 import load_labels, save_labels
from core.labels.document import FrameBatch, LabelDocument, Source, VideoMeta, default_intrinsics
from core.recon.base import meta_for
from core.video.hashing import video_sha256
from core.video.reader import open_video

VIDIHAND = Path(sys.executable).with_name("vidihand")


# --------------------------------------------------------------------------- planning
def test_plan_chunks_cover_every_frame_once() -> None:
    chunks = plan_chunks(range(0, 950), chunk_frames=300, overlap=20)
    # the 50-frame tail (under a quarter chunk) joins the last chunk
    assert [(c.keep.start, c.keep.stop) for c in chunks] == [(0, 300), (300, 600), (600, 950)]
    assert [(c.run.start, c.run.stop) for c in chunks] == [(0, 300), (280, 600), (580, 950)]
    # a long enough tail is its own chunk
    assert len(plan_chunks(range(0, 1000), 300, 20)) == 4
    assert plan_chunks(range(50, 60), 300, 20) == [Chunk(0, range(50, 60), range(50, 60))]
    assert plan_chunks(range(0, 0), 300, 20) == []
    with pytest.raises(ValueError):
        plan_chunks(range(0, 10, 2), 300, 20)


def test_stitch_checks_coverage() -> None:
    chunks = plan_chunks(range(0, 10), chunk_frames=4, overlap=2)
    parts = {c.index: FrameBatch.empty(np.arange(c.keep.start, c.keep.stop)) for c in chunks}
    assert stitch(parts, chunks).frames.tolist() == list(range(10))
    del parts[1]
    with pytest.raises(ValueError, match="no results"):
        stitch(parts, chunks)


def test_expand_inputs(tmp_path: Path, shared_data: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b" / "frames").mkdir(parents=True)
    for name in ("a/clip.mp4", "b/clip.mp4", "b/other.MOV", "b/readme.txt", "b/frames/0001.png"):
        (tmp_path / name).write_bytes(b"x")
    items = expand_inputs([tmp_path, tmp_path / "a" / "clip.mp4"])  # the same file twice
    assert [i.path.relative_to(tmp_path).as_posix() for i in items] == [
        "a/clip.mp4",
        "b/clip.mp4",
        "b/other.MOV",
        "b/frames",
    ]  # fmt: skip  (a folder's files, then its subfolders)
    names = [i.output_name for i in items]
    assert names == ["a__clip.h5", "b__clip.h5", "other.h5", "frames.h5"]
    # an image folder given directly is one video
    assert [i.output_name for i in expand_inputs([tmp_path / "b" / "frames"])] == ["frames.h5"]
    with pytest.raises(BatchInputError, match="not found"):
        expand_inputs([tmp_path / "nope.mp4"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(BatchInputError, match="holds no videos"):
        expand_inputs([tmp_path / "empty"])


# ------------------------------------------------------------------------------ tasks
def test_task_errors_come_back_as_messages(tmp_path: Path, shared_data: Path) -> None:
    """A worker never raises: a video that fails inside the task (here: replaying labels made
    for another video) returns its error, and probing a corrupt file does too."""
    video = shared_data / "mediapipe-samples" / "hand_landmarker" / "test_video.mp4"
    other = save_labels(LabelDocument(VideoMeta(10, 30.0, 64, 64)), tmp_path / "other.h5")
    result = run_chunk(str(video), (0, 8), (0, 8), "groundtruth", {"labels": str(other)}, np.eye(3))
    assert result["batch"] is None and "made for another video" in result["error"]
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 1000)
    probe = probe_video(bad)
    assert probe.error and "not a readable video" in probe.error


def test_finished_output_requires_same_video_frames_and_backend(
    tmp_path: Path, shared_data: Path
) -> None:
    video = shared_data / "mediapipe-samples" / "hand_landmarker" / "test_video.mp4"
    probe = probe_video(video)
    with open_video(video) as v:
        doc = LabelDocument(meta_for(v, probe.sha256))
    path = tmp_path / "out.h5"
    assert not finished_output(path, probe, range(0, 50), "mediapipe")
    save_labels(doc, path)  # a label file, but not a finished batch output
    assert not finished_output(path, probe, range(0, 50), "mediapipe")
    doc.extras["batch"] = {"complete": True, "backend": "mediapipe", "frames": [0, 50]}
    save_labels(doc, path)
    assert finished_output(path, probe, range(0, 50), "mediapipe")
    assert not finished_output(path, probe, range(0, 60), "mediapipe")
    assert not finished_output(path, probe, range(0, 50), "groundtruth")
    other = probe_video(shared_data / "dyn-hamr" / "demo3.mp4")
    assert not finished_output(path, other, range(0, 50), "mediapipe")
    path.write_bytes(b"garbage")
    assert not finished_output(path, probe, range(0, 50), "mediapipe")


# ------------------------------------------------------------------- end to end on Ray
@pytest.fixture(scope="module")
def batch_inputs(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    base = tmp_path_factory.mktemp("batch_inputs")
    corrupt = base / "corrupt.mp4"
    corrupt.write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(20000))
    frames = base / "demo3_frames"
    frames.mkdir()
    from PIL import Image

    with open_video(shared_data / "dyn-hamr" / "demo3.mp4") as v:
        for i in range(8):
            Image.fromarray(v.frame(100 + i)).resize((640, 360)).save(frames / f"{i:04d}.png")
    return [
        shared_data / "dyn-hamr" / "demo3.mp4",
        shared_data / "mediapipe-samples" / "hand_landmarker" / "test_video.mp4",
        shared_data / "dex-retargeting" / "human_hand_video.mp4",
        corrupt,
        frames,
    ]


def _batch(inputs: list[Path], out: Path) -> subprocess.CompletedProcess[str]:
    cmd = [str(VIDIHAND), "batch", *map(str, inputs), "--out", str(out), "--workers", "2",
           "--max-frames", "30", "--chunk-frames", "20", "--overlap", "5", "--quiet"]  # fmt: skip
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, env={**os.environ})


def test_batch_on_local_ray_then_resume(batch_inputs: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = _batch(batch_inputs, out)
    assert first.returncode == 1, first.stderr  # one video failed; the others finished
    summary = json.loads((out / "summary.json").read_text())
    by_name = {Path(e["path"]).name: e for e in summary}
    assert [Path(e["path"]).name for e in summary] == [p.name for p in batch_inputs]
    for name in ("demo3.mp4", "test_video.mp4", "human_hand_video.mp4", "demo3_frames"):
        entry = by_name[name]
        assert entry["status"] == "done", entry
        assert entry["frames"] == (8 if name == "demo3_frames" else 30) and entry["error"] is None
        assert entry["seconds"] > 0
    failed = by_name["corrupt.mp4"]
    assert failed["status"] == "failed" and failed["frames"] == 0
    assert "not a readable video" in failed["error"]
    assert "FAILED" in first.stderr and "corrupt.mp4" in first.stderr
    assert "3 done" not in first.stdout and "4 done, 0 skipped, 1 failed" in first.stdout

    # outputs are valid labels for their videos; demo3 was split in two chunks and stitched
    demo3 = batch_inputs[0]
    with open_video(demo3) as v:
        doc = load_labels(out / "demo3.h5", expect=meta_for(v, video_sha256(demo3)))
    assert doc.extras["batch"]["chunks"] == 2 and doc.backend == "mediapipe"
    np.testing.assert_allclose(doc.K, default_intrinsics(1280, 720))
    for track in doc.hands:
        assert (track.source[:30] == Source.PREDICTED).all() and (
            track.source[30:] == Source.NONE
        ).all()
    assert doc.present_counts()["both"] >= 25  # both hands on frames 0-29, across the seam
    right = load_labels(out / "human_hand_video.h5")
    assert right.present_counts()["right"] >= 25
    frames_doc = load_labels(out / "demo3_frames.h5")
    assert frames_doc.n_frames == 8 and frames_doc.present_counts()["any"] == 8

    # a second run skips everything already done, leaves the files alone, and retries the failure
    before = {p.name: p.read_bytes() for p in out.glob("*.h5")}
    second = _batch(batch_inputs, out)
    assert second.returncode == 1
    statuses = {
        Path(e["path"]).name: e["status"] for e in json.loads((out / "summary.json").read_text())
    }
    assert statuses == {
        "demo3.mp4": "skipped", "test_video.mp4": "skipped", "human_hand_video.mp4": "skipped",
        "demo3_frames": "skipped", "corrupt.mp4": "failed",
    }  # fmt: skip
    assert {p.name: p.read_bytes() for p in out.glob("*.h5")} == before
    assert "0 done, 4 skipped, 1 failed" in second.stdout
