"""Rerun export, read back with rerun-sdk's own RRD reader: the video, the camera and both
hands are on the `frame` timeline with the labels' values."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest

from core.cli.main import main
from core.edits import EditHistory
from core.hands.simple_mesh import simple_hand_mesh
from core.io.labels_h5 import load_labels, save_labels

pytestmark = pytest.mark.requires("rerun", "rerun-sdk (the [rerun] extra, requirements.lock)")


def read_rrd(path):
    """{entity: {column: {frame or None (static): value}}} of the first recording."""
    from rerun.chunk import RrdReader

    out: dict = defaultdict(lambda: defaultdict(dict))
    for chunk in RrdReader(path).stream().collect().stream():
        rb = chunk.to_record_batch()
        frames = rb.column("frame").to_pylist() if "frame" in rb.schema.names else None
        for name in rb.schema.names:
            if ":" not in name:
                continue
            values = rb.column(name).to_pylist()
            for i, v in enumerate(values):
                out[str(chunk.entity_path)][name][None if frames is None else frames[i]] = v
    return out


@pytest.fixture
def doc(sample):
    doc = load_labels(sample[1])
    EditHistory(doc).apply("delete_range", hand="left", start=40, end=49)
    return doc


def test_rrd_holds_video_camera_and_hands(doc, sample, tmp_path, capsys):
    labels = save_labels(doc, tmp_path / "l.h5")
    out = tmp_path / "l.rrd"
    argv = ["export", str(labels), "rrd", "-o", str(out), "--video", str(sample[0])]
    assert main(argv) == 0 and "wrote" in capsys.readouterr().out
    rrd = read_rrd(out)
    video = rrd["/world/camera/video"]
    assert video["AssetVideo:media_type"][None] == ["video/mp4"]
    assert sorted(video["VideoFrameReference:timestamp"]) == list(range(doc.n_frames))
    K = np.asarray(rrd["/world/camera"]["Pinhole:image_from_camera"][None]).reshape(3, 3).T
    np.testing.assert_allclose(K[:2, :2], doc.K[:2, :2])
    np.testing.assert_allclose(K[:2, 2], doc.K[:2, 2] + 0.5)
    left2d = rrd["/world/camera/left/joints"]["Points2D:positions"]
    np.testing.assert_allclose(left2d[12], doc.hands[0].joints_2d[12] + 0.5, atol=1e-4)
    assert 45 not in left2d and 40 in rrd["/world/camera/left"]["Clear:is_recursive"]
    right3d = rrd["/world/right/joints"]["Points3D:positions"]
    np.testing.assert_allclose(right3d[100], doc.hands[1].joints_3d[100], atol=1e-6)
    mesh = rrd["/world/right/mesh"]
    np.testing.assert_allclose(
        mesh["Mesh3D:vertex_positions"][100], simple_hand_mesh(doc.hands[1].joints_3d[100]),
        atol=1e-5,
    )  # fmt: skip
    assert set(right3d) == set(np.flatnonzero(doc.hands[1].present).tolist())


def test_rrd_without_video_and_missing_extra_message(doc, tmp_path, monkeypatch, capsys):
    from core.io.rerun_rrd import export_rrd

    doc.meta.video_path = ""
    assert export_rrd(doc, tmp_path / "a.rrd", mesh="skeleton")["video"] == "none"
    assert "/world/camera/video" not in read_rrd(tmp_path / "a.rrd")
    import sys

    monkeypatch.setitem(sys.modules, "rerun", None)  # as if rerun-sdk were not installed
    labels = save_labels(doc, tmp_path / "l.h5")
    assert main(["export", str(labels), "rrd", "-o", str(tmp_path / "b.rrd")]) == 2
    err = capsys.readouterr().err
    assert "[rerun] extra" in err.splitlines()[0] and not (tmp_path / "b.rrd").exists()
