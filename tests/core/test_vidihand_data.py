"""ViDiHand training sources: the project's labels + video, HOT3D's layout (the real sample in
../shared/data/hot3d-sample) and ARCTIC's layout (files the test writes)."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from core.errors import LabelFileError
from core.hands.rotations import axis_angle_to_matrix
from core.recon.vidihand.config import load_config
from core.recon.vidihand.data import LabelVideoDataset
from core.recon.vidihand.datasets import build_dataset
from core.recon.vidihand.datasets_ext import (
    hot3d_dataset,
    hot3d_in_camera,
    read_arctic,
)


@pytest.fixture(scope="module")
def quest3(shared_data):
    return shared_data / "hot3d-sample" / "Quest3" / "P0002_273c2819"


def test_hot3d_labels_parse(quest3):
    mano = hot3d_in_camera(quest3, "1201-1")
    assert mano["timestamps"].shape == (15,) and np.all(np.diff(mano["timestamps"]) > 0)
    assert mano["valid"].all()
    assert np.isfinite(mano["pose_pca"]).all() and mano["pose_pca"].shape == (15, 2, 15)
    R = mano["R_world"]
    np.testing.assert_allclose(
        R @ np.swapaxes(R, -1, -2), np.broadcast_to(np.eye(3), R.shape), atol=1e-9
    )
    np.testing.assert_allclose(mano["betas"][:, 0], mano["betas"][:, 1])  # one person


def test_hot3d_hands_land_in_their_2d_boxes(quest3):
    """World -> device -> camera chain checked against HOT3D's own 2D hand boxes: the MANO origin
    of each hand, moved into the camera and projected, falls inside (a margin around) the box
    HOT3D gives for that hand, stream and timestamp."""
    boxes = {}
    with open(quest3 / "box2d_hands.csv") as fh:
        for row in csv.DictReader(fh):
            key = (row["stream_id"], int(row["hand_index"]), int(row["timestamp[ns]"]))
            boxes[key] = [
                float(row[k])
                for k in ("x_min[pixel]", "x_max[pixel]", "y_min[pixel]", "y_max[pixel]")
            ]
    checked = 0
    for stream in ("1201-1", "1201-2"):
        d = hot3d_in_camera(quest3, stream)
        assert (d["origin_cam"][..., 2] > 0.1).all() and (d["origin_cam"][..., 2] < 1.0).all()
        K = d["K"]
        for i, ts in enumerate(d["timestamps"]):
            for h in (0, 1):
                if (stream, h, int(ts)) not in boxes:
                    continue
                x0, x1, y0, y1 = boxes[(stream, h, int(ts))]
                p = d["origin_cam"][i, h]
                u, v = K[0, 0] * p[0] / p[2] + K[0, 2], K[1, 1] * p[1] / p[2] + K[1, 2]
                mx, my = 0.25 * (x1 - x0), 0.25 * (y1 - y0)
                assert x0 - mx <= u <= x1 + mx and y0 - my <= v <= y1 + my, (stream, h, i, u, v)
                checked += 1
    assert checked >= 40
    # the other hand's box is elsewhere: the check can fail
    d = hot3d_in_camera(quest3, "1201-1")
    x0, x1, y0, y1 = boxes[("1201-1", 1, int(d["timestamps"][0]))]
    p = d["origin_cam"][0, 0]
    v = d["K"][1, 1] * p[1] / p[2] + d["K"][1, 2]
    assert not (y0 <= v <= y1)


def test_hot3d_dataset_says_what_is_missing(quest3, tmp_path):
    cfg = load_config("tiny")
    with pytest.raises(LabelFileError, match="no frames"):
        hot3d_dataset({"sequence": str(quest3), "stream": "1201-1"}, cfg)
    with pytest.raises(LabelFileError, match="no images"):
        hot3d_dataset({"sequence": str(quest3), "stream": "1201-1", "images": str(tmp_path)}, cfg)
    with pytest.raises(LabelFileError, match="streams are"):
        hot3d_in_camera(quest3, "999")
    # images named after the label timestamps, but no MANO model configured
    ts = hot3d_in_camera(quest3, "1201-1")["timestamps"]
    from PIL import Image

    for t in ts[:3]:
        Image.new("RGB", (64, 48)).save(tmp_path / f"{t}.png")
    with pytest.raises(LabelFileError, match="MANO") as err:
        hot3d_dataset({"sequence": str(quest3), "stream": "1201-1", "images": str(tmp_path)}, cfg)
    assert "mano_dir" in str(err.value)


def _arctic_files(tmp_path, layout: str):
    rng = np.random.default_rng(0)
    n = 6
    mano = {
        side: {
            "rot": rng.normal(0, 1, (n, 3)),
            "pose": rng.normal(0, 0.3, (n, 45)),
            "trans": rng.normal(0, 0.2, (n, 3)),
            "shape": rng.normal(0, 1, 10),
        }
        for side in ("left", "right")
    }
    R = axis_angle_to_matrix(rng.normal(0, 1, (n, 3)))
    T = rng.normal(0, 0.5, (n, 3))
    K = np.array([[600.0, 0, 300], [0, 600.0, 200], [0, 0, 1]])
    if layout == "world2ego":
        W = np.tile(np.eye(4), (n, 1, 1))
        W[:, :3, :3], W[:, :3, 3] = R, T
        cam = {"world2ego": W, "K_ego": K}
    else:
        cam = {"R_k_cam_np": R, "T_k_cam_np": T[..., None], "intrinsics": K}
    np.save(tmp_path / f"seq.mano.{layout}.npy", mano, allow_pickle=True)
    np.save(tmp_path / f"seq.cam.{layout}.npy", cam, allow_pickle=True)
    return tmp_path / f"seq.mano.{layout}.npy", tmp_path / f"seq.cam.{layout}.npy", mano, R, T


def test_arctic_layouts_move_mano_into_the_camera(tmp_path):
    results = []
    for layout in ("world2ego", "egocam"):
        mano_p, cam_p, mano, R, T = _arctic_files(tmp_path, layout)
        d = read_arctic(mano_p, cam_p)
        assert d["n"] == 6 and d["valid"].all()
        for h, side in ((0, "left"), (1, "right")):
            want = R @ axis_angle_to_matrix(mano[side]["rot"])
            np.testing.assert_allclose(d["R_cam"][:, h], want, atol=1e-9)
            np.testing.assert_allclose(
                d["origin_cam"][:, h], np.einsum("nij,nj->ni", R, mano[side]["trans"]) + T
            )
            np.testing.assert_allclose(d["hand_pose"][:, h], mano[side]["pose"])
        results.append(d)
    np.testing.assert_allclose(results[0]["global_orient_cam"], results[1]["global_orient_cam"])
    cfg = load_config("tiny")
    with pytest.raises(LabelFileError, match="no images"):
        build_dataset(
            [
                {
                    "kind": "arctic",
                    "mano": str(mano_p),
                    "camera": str(cam_p),
                    "images": str(tmp_path / "none"),
                }
            ],
            cfg,
        )


def test_label_dataset_windows_and_errors(sample, demo3):
    cfg = load_config("tiny")
    ds = LabelVideoDataset(sample[1], sample[0], cfg, span=(10, 30))
    w = ds.window(12)
    assert w.frames.shape == (cfg.window, cfg.height, cfg.width, 3) and w.frames.dtype == np.uint8
    assert w.key[1] == 12 and len(ds) == 20 - cfg.window + 1
    # 2D targets follow the resize: projecting the 3D joints with the scaled K gives them
    from core.camera import project

    ok = w.targets.present
    np.testing.assert_allclose(
        project(w.targets.joints_3d[ok], w.K), w.targets.joints_2d[ok], atol=1e-3
    )
    with pytest.raises(LabelFileError, match="frames"):
        LabelVideoDataset(sample[1], demo3, cfg)
    with pytest.raises(LabelFileError, match="No training data"):
        build_dataset([], cfg)
