"""Import of HOT3D's real MANO ground truth (../shared/data/hot3d-sample)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from core.cli.main import main
from core.edits import use_hand_model
from core.errors import LabelFileError
from core.io.hot3d import (
    import_hot3d,
    pca_to_axis_angle,
    read_headset_trajectory,
    read_mano_trajectory,
)
from core.io.labels_h5 import load_labels, save_labels
from core.labels.document import Source


@pytest.fixture(autouse=True)
def _no_mano():
    use_hand_model(None)
    yield


@pytest.fixture(scope="module")
def quest(shared_data):
    return (
        shared_data
        / "hot3d-sample"
        / "Quest3"
        / "P0002_273c2819"
        / "mano_hand_pose_trajectory.jsonl"
    )


@pytest.fixture(scope="module")
def aria(shared_data):
    return (
        shared_data / "hot3d-sample" / "Aria" / "P0003_c701bd11" / "mano_hand_pose_trajectory.jsonl"
    )


def test_quest3_import_keeps_wrist_pose_betas_and_pca(quest, tmp_path):
    lines = [json.loads(x) for x in quest.read_text().splitlines()]
    doc = import_hot3d(quest, fps=30.0, components=None)
    assert doc.n_frames == 15 and (doc.meta.width, doc.meta.height) == (1280, 1024)
    assert doc.present_counts() == {"left": 15, "right": 15, "both": 15, "any": 15}
    info = doc.extras["hot3d"]
    assert info["pose_known"] is False and info["coordinate_frame"].startswith("world")
    for f, line in enumerate(lines):
        for h in (0, 1):
            raw = line["hand_poses"][str(h)]
            w, x, y, z = raw["wrist_xform"]["q_wxyz"]
            want = Rotation.from_quat([x, y, z, w])  # scipy is scalar-last
            got = Rotation.from_rotvec(doc.hands[h].global_orient[f].astype(np.float64))
            assert (got * want.inv()).magnitude() < 1e-5
            np.testing.assert_allclose(
                doc.hands[h].transl[f], raw["wrist_xform"]["t_xyz"], atol=1e-6
            )
            np.testing.assert_allclose(doc.hands[h].betas[f], raw["betas"], atol=1e-6)
            name = ("left", "right")[h]
            np.testing.assert_allclose(info["pose_pca"][name][str(f)], raw["pose"])
        assert info["frame_timestamps_ns"][str(f)] == line["timestamp_ns"]
    assert np.isnan(doc.hands[0].hand_pose).all() and np.isnan(doc.hands[0].joints_3d).all()
    assert (doc.hands[1].source == Source.IMPORTED).all()
    assert len(info["T_world_device"]) == 15
    T = np.asarray(info["T_world_device"]["0"])
    np.testing.assert_allclose(
        T[:3, 3], [0.0034970109462738, 1.1696090087890625, -0.0776387786865234]
    )
    np.testing.assert_allclose(T[:3, :3] @ T[:3, :3].T, np.eye(3), atol=1e-6)
    # schema v1 keeps everything, extras included
    again = load_labels(save_labels(doc, tmp_path / "hot3d.h5"))
    assert again.equals(doc) and again.extras == doc.extras


def test_aria_pairs_collapse_to_one_sample_per_frame(aria):
    traj = read_mano_trajectory(aria)
    assert len(traj) == 68
    doc = import_hot3d(aria, fps=30.0)
    assert doc.n_frames == 34 and doc.present_counts()["both"] == 34
    # the kept sample is the one nearest each frame's time: the first of each pair here
    stamps = doc.extras["hot3d"]["frame_timestamps_ns"]
    assert [stamps[str(f)] for f in range(3)] == [int(traj.timestamps_ns[i]) for i in (0, 2, 4)]
    np.testing.assert_allclose(doc.hands[1].transl[1], traj.wrist_t[2, 1], atol=1e-6)
    # at 10 fps three samples pairs share a frame
    assert import_hot3d(aria, fps=10.0).n_frames == 12


def test_pca_pose_goes_through_mano_components(quest):
    rng = np.random.default_rng(0)
    comps = {h: np.linalg.qr(rng.normal(size=(45, 45)))[0].T for h in (0, 1)}
    doc = import_hot3d(quest, components=comps)
    traj = read_mano_trajectory(quest)
    assert doc.extras["hot3d"]["pose_known"] and "pose_pca" not in doc.extras["hot3d"]
    for h in (0, 1):
        np.testing.assert_allclose(
            doc.hands[h].hand_pose, traj.pose_pca[:, h] @ comps[h][:15], atol=1e-5
        )
        # orthonormal components: projecting back gives the PCA coefficients
        np.testing.assert_allclose(
            doc.hands[h].hand_pose @ comps[h][:15].T, traj.pose_pca[:, h], atol=1e-5
        )
    with pytest.raises(LabelFileError, match="hands_components"):
        pca_to_axis_angle(traj.pose_pca[:, 0], np.zeros((10, 45)))


def test_malformed_file_is_refused(tmp_path):
    bad = tmp_path / "mano_hand_pose_trajectory.jsonl"
    bad.write_text('{"timestamp_ns": 1, "hand_poses": {}}\n{"timestamp_ns": 2}\n')
    with pytest.raises(LabelFileError, match="line 2"):
        read_mano_trajectory(bad)
    csv_bad = tmp_path / "headset_trajectory.csv"
    head = "timestamp[ns],t_wo_x[m],t_wo_y[m],t_wo_z[m],q_wo_w,q_wo_x,q_wo_y,q_wo_z\n"
    csv_bad.write_text(head + "5,0,0,0,1,0,0,0\n6,0,0,zero,1,0,0,0\n")
    with pytest.raises(LabelFileError, match="line 3 is not a headset pose"):
        read_headset_trajectory(csv_bad)
    csv_bad.write_text(head + "9,0,0,1,1,0,0,0\n5,0,0,0,1,0,0,0\n")  # out of order: sorted
    ts, T = read_headset_trajectory(csv_bad)
    assert ts.tolist() == [5, 9] and T[1, 2, 3] == 1.0


def test_import_cli(quest, tmp_path, capsys):
    out = tmp_path / "q.h5"
    assert main(["import", "hot3d", str(quest), "-o", str(out)]) == 0
    assert "15 frames" in capsys.readouterr().out
    assert load_labels(out).backend == "hot3d"


def test_camera_frame_needs_mano(quest):
    with pytest.raises(LabelFileError, match="MANO model files"):
        import_hot3d(quest, camera="1201-1")
