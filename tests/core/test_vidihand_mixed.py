"""ViDiHand training on ARCTIC-layout data and on a mix of sources (core/recon/vidihand):
`arctic_dataset` turns world-frame MANO labels and an ego camera into camera-frame targets equal
to the world hands seen by that camera (checked through the project's MANO model with the
synthetic MANO files), frames follow the labels (image_offset), `build_dataset` mixes sources
and `MixedDataset` samples them in proportion to their windows, and a stage-2 run trains on the
mix. The ARCTIC sequence is generated here in its real file layout."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from core.camera import in_image, project
from core.errors import LabelFileError
from core.hands.mano import ManoModel
from core.hands.rotations import axis_angle_to_matrix
from core.recon.vidihand.config import load_config, set_path
from core.recon.vidihand.data import MixedDataset
from core.recon.vidihand.datasets import build_dataset
from core.recon.vidihand.datasets_ext import arctic_dataset
from core.recon.vidihand.train import read_log, run_training

N = 14  # label frames
SIZE = (256, 192)  # the ego images (the tiny model resizes them to 128x96)
K = np.array([[250.0, 0.0, 127.5], [0.0, 250.0, 95.5], [0.0, 0.0, 1.0]])


def level(i: int) -> int:
    """Grey level of the image of label frame i (the decoy image before them is white)."""
    return 10 + 15 * i


@pytest.fixture(scope="module")
def arctic(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """An ARCTIC sequence: two hands in a world frame half a metre in front of a slowly
    turning ego camera (world2ego layout), and its images with one leading image to skip."""
    d = tmp_path_factory.mktemp("arctic")
    rng = np.random.default_rng(0)
    t = np.arange(N)[:, None] / N
    mano = {
        side: {
            "rot": np.array([np.pi / 2, 0.0, 0.0]) + rng.normal(0, 0.2, (N, 3)),
            "pose": rng.normal(0, 0.2, (N, 45)),
            "trans": np.array([sx, -0.02, 0.0]) + 0.03 * np.hstack([t, t, -t]),
            "shape": rng.normal(0, 0.5, 10),
        }
        for side, sx in (("left", -0.09), ("right", 0.09))
    }
    R = axis_angle_to_matrix(rng.normal(0, 0.05, (N, 3)))
    T = np.array([0.0, 0.0, 0.45]) + rng.normal(0, 0.01, (N, 3))
    w2e = np.tile(np.eye(4), (N, 1, 1))
    w2e[:, :3, :3], w2e[:, :3, 3] = R, T
    np.save(d / "s01_box.mano.npy", mano, allow_pickle=True)
    np.save(d / "s01_box.egocam.npy", {"world2ego": w2e, "K_ego": K}, allow_pickle=True)
    images = d / "images"
    images.mkdir()
    Image.new("RGB", SIZE, (255, 255, 255)).save(images / "00000.png")
    for i in range(N):
        Image.new("RGB", SIZE, (level(i),) * 3).save(images / f"{i + 1:05d}.png")
    spec = {"kind": "arctic", "mano": str(d / "s01_box.mano.npy"),
            "camera": str(d / "s01_box.egocam.npy"), "images": str(images), "image_offset": 1}  # fmt: skip
    return {"spec": spec, "mano": mano, "R": R, "T": T}


@pytest.fixture
def mano_cfg(synthetic_mano_dir: Path):
    cfg = load_config("tiny")
    set_path(cfg, "hand_model.kind", "mano")
    set_path(cfg, "hand_model.mano_dir", str(synthetic_mano_dir))
    return cfg


def test_arctic_targets_are_the_world_hands_seen_by_the_ego_camera(
    arctic, mano_cfg, synthetic_mano_dir
) -> None:
    ds = arctic_dataset(arctic["spec"], mano_cfg)
    assert ds.n_frames == N and len(ds) == N - mano_cfg.window + 1
    model = ManoModel(synthetic_mano_dir)
    R, T = arctic["R"], arctic["T"]
    for h, side in ((0, "left"), (1, "right")):
        m = arctic["mano"][side]
        world = model.joints(h, {"global_orient": m["rot"], "hand_pose": m["pose"],
                                 "betas": np.tile(m["shape"], (N, 1)), "transl": m["trans"]})  # fmt: skip
        in_camera = np.einsum("nij,nkj->nki", R, world) + T[:, None]
        np.testing.assert_allclose(ds.targets.joints_3d[:, h], in_camera, atol=2e-5)
        # the camera-frame MANO parameters reproduce the same joints
        tg = ds.targets
        again = model.joints(h, {"global_orient": tg.global_orient[:, h], "hand_pose":
                                 tg.hand_pose[:, h], "betas": tg.betas[:, h],
                                 "transl": tg.transl[:, h]})  # fmt: skip
        np.testing.assert_allclose(again, in_camera, atol=2e-5)
        # 2D targets: the projection, in the model's 128x96 input (pixel-centre convention)
        uv = (project(in_camera, K) + 0.5) * [128 / SIZE[0], 96 / SIZE[1]] - 0.5
        np.testing.assert_allclose(tg.joints_2d[:, h], uv, atol=1e-3)
        assert tg.present[:, h].all() and in_image(project(in_camera, K), *SIZE).all()
    # frames: label frame i is image i + image_offset, resized
    w = ds.window(3)
    means = w.frames.reshape(len(w.frames), -1).mean(1)
    np.testing.assert_allclose(means, [level(i) for i in range(3, 3 + mano_cfg.window)], atol=1)
    scaled = np.array([[125.0, 0.0, 63.5], [0.0, 125.0, 47.5], [0.0, 0.0, 1.0]])  # half size
    np.testing.assert_allclose(w.K, scaled, atol=1e-9)


def test_arctic_needs_mano_and_says_so(arctic) -> None:
    with pytest.raises(LabelFileError, match="MANO") as exc:
        arctic_dataset(arctic["spec"], load_config("tiny"))  # hand_model.kind "skeleton"
    assert "mano_dir" in exc.value.hint


def test_a_mix_samples_each_source_in_proportion_to_its_windows(sample, arctic, mano_cfg):
    video, gt = sample
    labels = {"kind": "labels", "labels": str(gt), "video": str(video), "frames": [0, 40]}
    mixed = build_dataset([labels, arctic["spec"]], mano_cfg)
    assert isinstance(mixed, MixedDataset) and len(mixed.parts) == 2
    sizes = np.array([len(p) for p in mixed.parts])
    assert list(sizes) == [40 - 9 + 1, N - 9 + 1]
    np.testing.assert_allclose(mixed.p, sizes / sizes.sum())
    rng = np.random.default_rng(0)
    names = Counter(mixed.sample(rng).key[0].split(":")[0] for _ in range(400))
    share = names["arctic"] / 400
    assert abs(share - mixed.p[1]) < 0.06, (names, mixed.p)
    with pytest.raises(LabelFileError, match="Unknown training data kind 'coco'"):
        build_dataset([{"kind": "coco"}], mano_cfg)


def test_stage2_trains_on_labels_and_arctic_together(sample, arctic, mano_cfg, tmp_path):
    video, gt = sample
    labels = {"kind": "labels", "labels": str(gt), "video": str(video), "frames": [0, 16]}
    set_path(mano_cfg, "train.log_every", 1)
    set_path(mano_cfg, "train.stage2.batch", 2)
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        result = run_training(mano_cfg, tmp_path / "mixed", stage="2",
                              data=[labels, arctic["spec"]], steps=3, progress=False)  # fmt: skip
    finally:
        torch.set_num_threads(n)
    log = read_log(tmp_path / "mixed")
    assert [e["step"] for e in log] == [1, 2, 3] and result["steps"] == 3
    for e in log:  # every term of the loss is a number on both kinds of windows
        assert all(np.isfinite(v) for k, v in e.items() if k not in ("stage", "step"))
    assert "mano_rot" in log[0] and log[0]["mano_rot"] > 0  # ARCTIC's MANO rotations supervise
