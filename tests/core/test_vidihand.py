"""ViDiHand model parts: backbone forward and truncation, geometry, hand layer, windows,
configurations, checkpoints and their errors. Tiny configuration on the CPU."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from core.cli.main import main as cli
from core.errors import CheckpointError
from core.recon.vidihand.backend import ViDiHandReconstructor, blend_weights, plan_windows
from core.recon.vidihand.checkpoint import load_checkpoint, save_checkpoint
from core.recon.vidihand.config import load_config, set_path
from core.recon.vidihand.geometry import project, scale_intrinsics, solve_translation
from core.recon.vidihand.handmodel import (
    SkeletonLayer,
    axis_angle_to_matrix,
    matrix_to_rot6d,
    rot6d_to_matrix,
)
from core.recon.vidihand.model import ViDiHandModel, prepare_clip


@pytest.fixture(autouse=True)
def _one_thread():
    """The CI machine is shared: one torch thread is faster than two fighting ones."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def tiny_model() -> ViDiHandModel:
    torch.manual_seed(0)
    return ViDiHandModel(load_config("tiny")).eval()


def _clip(cfg, n=9, seed=0):
    rng = np.random.default_rng(seed)
    frames = rng.integers(0, 256, (n, 120, 160, 3), dtype=np.uint8)
    K = np.array([[150.0, 0, 79.5], [0, 150.0, 59.5], [0, 0, 1]])
    return prepare_clip(frames, K, cfg)


def test_own_forward_equals_diffusers_forward(tiny_model):
    bb = tiny_model.backbone
    clip, _ = _clip(tiny_model.cfg)
    lat = bb.encode(clip[None])
    x, _ = bb.noised(lat, 0.7, torch.Generator().manual_seed(1))
    ctrl = bb.control(clip[None], lat)
    with torch.no_grad():
        mine = bb.run(x, ctrl, 0.7)
        ref = bb.transformer(
            x,
            torch.tensor([700.0]),
            bb.text_embed[None],
            control_hidden_states=ctrl,
            return_dict=False,
        )[0]
    assert mine.shape == x.shape
    torch.testing.assert_close(mine, ref.float(), rtol=1e-5, atol=1e-5)


def _count_calls(model) -> tuple[list[int], list[int], list]:
    tr = model.backbone.transformer
    base = [0] * len(tr.blocks)
    vace = [0] * len(tr.vace_blocks)
    handles = []
    for i, blk in enumerate(tr.blocks):
        handles.append(blk.register_forward_hook(lambda *a, i=i: base.__setitem__(i, base[i] + 1)))
    for i, blk in enumerate(tr.vace_blocks):
        handles.append(blk.register_forward_hook(lambda *a, i=i: vace.__setitem__(i, vace[i] + 1)))
    return base, vace, handles


def test_truncation_no_block_after_L_runs(tiny_model, sample):
    """At inference the transformer stops after block L: counted with forward hooks, through the
    real backend on the sample video."""
    from core.io.labels_h5 import load_labels
    from core.video.reader import open_video

    cfg = tiny_model.cfg
    L = cfg.layer
    n_layers = cfg.transformer["num_layers"]
    assert L < n_layers - 1, "the tiny configuration must have blocks after L for this test"
    base, vace, handles = _count_calls(tiny_model)
    try:
        backend = ViDiHandReconstructor(model=tiny_model)
        K = load_labels(sample[1]).K
        with open_video(sample[0]) as video:
            batches = list(backend.reconstruct(video, range(0, 12), K))
    finally:
        for h in handles:
            h.remove()
    windows = len(plan_windows(12, cfg.window, cfg.overlap))
    assert sum(len(b) for b in batches) == 12
    assert base[: L + 1] == [windows] * (L + 1)
    assert base[L + 1 :] == [0] * (n_layers - L - 1)
    for i, layer in enumerate(cfg.transformer["vace_layers"]):
        assert vace[i] == (windows if layer <= L else 0), (i, layer, vace)
    # the untruncated pass runs every block (the hooks can see a full pass)
    base, vace, handles = _count_calls(tiny_model)
    try:
        clip, _ = _clip(cfg)
        bb = tiny_model.backbone
        lat = bb.encode(clip[None])
        with torch.no_grad():
            bb.run(lat, bb.control(clip[None], lat), 0.7)
    finally:
        for h in handles:
            h.remove()
    assert base == [1] * n_layers and vace == [1] * len(vace)


def test_features_shape_and_determinism(tiny_model):
    cfg = tiny_model.cfg
    clip, K = _clip(cfg)
    with torch.no_grad():
        f1 = tiny_model.features(clip[None], tiny_model.noise_generator(torch.device("cpu")))
        f2 = tiny_model.features(clip[None], tiny_model.noise_generator(torch.device("cpu")))
        out = tiny_model.decode(f1, K[None], clip.shape[1])
    s = cfg.token_stride
    assert f1.shape == (
        1,
        1 + (cfg.window - 1) // 4,
        cfg.height // s,
        cfg.width // s,
        cfg.width_dim,
    )
    assert torch.equal(f1, f2)
    assert out["joints_3d"].shape == (1, cfg.window, 2, 21, 3)
    assert out["anchors"].shape == (1, cfg.window, 2, 21, 2)
    # anchors are a soft-argmax: inside the model image
    a = out["anchors"]
    assert (a[..., 0] >= -0.5).all() and (a[..., 0] <= cfg.width - 0.5).all()
    assert (a[..., 1] >= -0.5).all() and (a[..., 1] <= cfg.height - 0.5).all()
    # the solved translation puts the joints on the anchors in the image plane (weighted mean 0)
    res = out["joints_2d"] - out["anchors"]
    w = out["anchor_weights"][..., None]
    z = out["joints_3d"][..., 2:3]
    fx = K[0, 0]
    mean_res = (w * res * z / fx).sum(-2) / w.sum(-2)
    assert mean_res.abs().max() < 1e-4


def test_full_configuration_on_meta_device_has_wan_vace_1_3b_size(capsys):
    model = ViDiHandModel(load_config("full"), meta=True)
    c = model.parameter_counts()
    # Wan2.1-VACE-1.3B: about 2.15 B parameters in the VACE transformer (domain.md)
    assert 2.14e9 < c["transformer_total"] < 2.16e9
    assert 1.40e9 < c["transformer_base"] < 1.43e9
    assert c["vae"] > 1.2e8 and 1e6 < c["decoder"] < 1e8
    assert c["total"] == c["transformer_total"] + c["vae"] + c["decoder"] + c["text_embedding"]
    assert next(model.backbone.transformer.parameters()).device.type == "meta"
    assert cli(["model-info", "--config", "full"]) == 0
    text = capsys.readouterr().out
    assert "2,153,972,032" in text and "VACE" in text


def test_wls_translation_recovers_a_known_translation():
    rng = np.random.default_rng(3)
    rel = torch.tensor(rng.normal(0, 0.04, (4, 21, 3)), dtype=torch.float32)
    t = torch.tensor([[0.05, -0.02, 0.4], [-0.1, 0.08, 0.6], [0.0, 0.0, 0.3], [0.12, 0.1, 0.8]])
    K = torch.tensor([[500.0, 0, 320], [0, 480.0, 240], [0, 0, 1]])
    uv = project(rel + t[:, None], K)
    w = torch.tensor(rng.uniform(0.1, 2, (4, 21)), dtype=torch.float32)
    got = solve_translation(rel, uv, w, K, t[:, 2])
    torch.testing.assert_close(got, t, atol=1e-5, rtol=1e-5)


def test_scaled_intrinsics_project_to_resized_pixels():
    K = np.array([[640.0, 0, 319.5], [0, 640.0, 239.5], [0, 0, 1]])
    K2 = scale_intrinsics(K, 0.2, 0.2)
    P = torch.tensor([[0.05, 0.02, 0.5]])
    uv = project(P, torch.tensor(K, dtype=torch.float32))
    uv2 = project(P, torch.tensor(K2, dtype=torch.float32))
    torch.testing.assert_close(uv2, (uv + 0.5) * 0.2 - 0.5)


def test_skeleton_layer_rest_pose_is_the_project_skeleton():
    from core.hands.skeleton import hand_joints

    layer = SkeletonLayer()
    rot = np.array([0.3, -0.5, 1.1])
    R = axis_angle_to_matrix(torch.tensor(rot, dtype=torch.float32))[None]
    eye = torch.eye(3).expand(1, 15, 3, 3)
    for side in (0, 1):
        got = layer(R, eye, torch.zeros(1, 10), side)[0].numpy()
        want = hand_joints(rot, np.zeros(3), np.zeros((5, 4)), side=side)
        np.testing.assert_allclose(got, want, atol=1e-6)
    # a joint rotation moves only the joints after it (index MCP: joint 5 -> 6, 7, 8 move)
    pose = eye.clone()
    pose[0, 0] = axis_angle_to_matrix(torch.tensor([0.8, 0.0, 0.0]))
    moved = layer(R, pose, torch.zeros(1, 10), 1)[0] - layer(R, eye, torch.zeros(1, 10), 1)[0]
    changed = set(np.nonzero(moved.norm(dim=-1).numpy() > 1e-6)[0].tolist())
    assert changed == {6, 7, 8}


def test_rot6d_round_trip():
    aa = torch.tensor(np.random.default_rng(0).normal(0, 1, (50, 3)), dtype=torch.float32)
    R = axis_angle_to_matrix(aa)
    torch.testing.assert_close(rot6d_to_matrix(matrix_to_rot6d(R)), R, atol=1e-5, rtol=1e-5)


def test_windows_cover_every_frame_and_blend_weights_taper():
    for n, W, o in [(5, 9, 4), (9, 9, 4), (30, 9, 4), (200, 81, 16), (81, 81, 0)]:
        starts = plan_windows(n, W, o)
        covered = np.zeros(n, int)
        for s in starts:
            covered[s : min(n, s + W)] += 1
        assert covered.min() >= 1 and starts[-1] == max(0, n - W)
        assert all(b - a <= W - o for a, b in zip(starts, starts[1:], strict=False))
    w = blend_weights(9, 4)
    assert (w > 0).all() and w[0] < w[2] < w[4] == 1.0 and w[8] < w[6]
    np.testing.assert_allclose(w, w[::-1])


def test_configurations_validate():
    for name in ("tiny", "full"):
        assert load_config(name).validate() is not None
    cfg = load_config("tiny")
    set_path(cfg, "features.layer", 99)
    with pytest.raises(CheckpointError, match="features.layer"):
        cfg.validate()
    with pytest.raises(CheckpointError, match="No ViDiHand configuration"):
        load_config("no-such-config")


def test_checkpoint_round_trip_and_mismatch(tmp_path, tiny_model):
    d = save_checkpoint(tiny_model, tmp_path / "ck")
    again = load_checkpoint(d)
    for (k, a), (_, b) in zip(
        tiny_model.state_dict().items(), again.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), k
    # a config.json that does not fit the weights
    raw = json.loads((d / "config.json").read_text())
    raw["decoder"]["dim"] = 48
    (d / "config.json").write_text(json.dumps(raw))
    with pytest.raises(CheckpointError, match="do not match") as err:
        load_checkpoint(d)
    assert "decoder." in str(err.value)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="not a ViDiHand checkpoint"):
        load_checkpoint(tmp_path / "empty")


def test_cli_reports_checkpoint_errors_without_traceback(tmp_path, sample, capsys):
    video = str(sample[0])
    out = str(tmp_path / "x.h5")
    assert (
        cli(
            [
                "reconstruct",
                video,
                "-o",
                out,
                "--backend",
                "vidihand",
                "--checkpoint",
                str(tmp_path / "nope"),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "error:" in err and "does not exist" in err and "Traceback" not in err
    assert cli(["reconstruct", video, "-o", out, "--backend", "vidihand"]) == 2
    assert "needs a trained checkpoint" in capsys.readouterr().err
    assert not Path(out).exists()


def test_real_weights_folder_loads_and_mismatch_is_reported(tmp_path):
    """The diffusers-layout loading path (what a user with Wan2.1-VACE-1.3B runs), exercised
    with weights of the tiny configuration saved in that layout."""
    from core.recon.vidihand.backbone import build_backbone

    cfg = load_config("tiny")
    with pytest.raises(CheckpointError, match="not found"):
        build_backbone(cfg, base_weights=tmp_path / "nowhere")
    src = build_backbone(cfg)
    src.transformer.save_pretrained(tmp_path / "wan" / "transformer")
    src.vae.save_pretrained(tmp_path / "wan" / "vae")
    loaded = build_backbone(cfg, base_weights=tmp_path / "wan")
    for a, b in zip(src.transformer.parameters(), loaded.transformer.parameters(), strict=True):
        assert torch.equal(a, b)
    other = load_config("tiny")
    set_path(other, "transformer.ffn_dim", 96)
    with pytest.raises(CheckpointError, match="ffn_dim"):
        build_backbone(other, base_weights=tmp_path / "wan")


def test_renamed_parameter_in_a_weights_folder_is_a_checkpoint_error(tmp_path):
    """A diffusers-format folder whose parameter names differ (one key renamed in its
    safetensors) is refused before any tensor is used, naming the missing and unexpected key;
    diffusers alone would only warn and leave the parameter on the meta device."""
    from safetensors.torch import load_file, save_file

    from core.recon.vidihand.backbone import build_backbone

    cfg = load_config("tiny")
    src = build_backbone(cfg)
    src.transformer.save_pretrained(tmp_path / "wan" / "transformer")
    src.vae.save_pretrained(tmp_path / "wan" / "vae")
    (weights,) = (tmp_path / "wan" / "transformer").glob("*.safetensors")
    tensors = load_file(str(weights))
    tensors["blocks.1.ffn.net.0.projection.weight"] = tensors.pop("blocks.1.ffn.net.0.proj.weight")
    save_file(tensors, str(weights))
    with pytest.raises(CheckpointError) as err:
        build_backbone(cfg, base_weights=tmp_path / "wan")
    text = str(err.value)
    assert "missing 1: blocks.1.ffn.net.0.proj.weight" in text
    assert "unexpected 1: blocks.1.ffn.net.0.projection.weight" in text
    # the same through a checkpoint that records the folder
    model = ViDiHandModel(cfg)
    ck = save_checkpoint(model, tmp_path / "ck", base_weights=str(tmp_path / "wan"))
    with pytest.raises(CheckpointError, match="do not match WanVACETransformer3DModel"):
        load_checkpoint(ck)


def test_mano_hand_layer_and_backend_mano_fields(synthetic_mano_dir, sample):
    """With hand_model.kind = "mano" the decoder's rotations drive smplx MANO (the project's
    chumpy-free loader), and the label file's MANO fields reproduce the written joints."""
    from core.hands.mano import ManoModel
    from core.io.labels_h5 import load_labels
    from core.recon.vidihand.handmodel import ManoLayer
    from core.video.reader import open_video

    layer = ManoLayer(synthetic_mano_dir)
    ref = ManoModel(synthetic_mano_dir)
    rng = np.random.default_rng(0)
    n = 4
    go = torch.tensor(rng.normal(0, 1, (n, 3)), dtype=torch.float32)
    hp = torch.tensor(rng.normal(0, 0.3, (n, 45)), dtype=torch.float32)
    betas = torch.tensor(rng.normal(0, 1, (n, 10)), dtype=torch.float32)
    transl = torch.tensor(rng.normal(0, 0.1, (n, 3)), dtype=torch.float32)
    for side in (0, 1):
        want = ref.joints_torch(side, go, hp, betas, transl)
        flat = hp.view(n, 15, 3) + layer.pose_mean(side).float()
        rel = layer(axis_angle_to_matrix(go), axis_angle_to_matrix(flat), betas, side)
        got = rel + (layer.rest_wrist(betas, side) + transl)[:, None]
        torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)

    cfg = load_config("tiny")
    set_path(cfg, "hand_model.kind", "mano")
    set_path(cfg, "hand_model.mano_dir", str(synthetic_mano_dir))
    torch.manual_seed(0)
    model = ViDiHandModel(cfg).eval()
    with torch.no_grad():
        model.decoder.head_onscreen.bias.fill_(5.0)  # untrained: say "present" everywhere
    K = load_labels(sample[1]).K
    with open_video(sample[0]) as video:  # one window: no blending, so fields and joints agree
        batch = next(ViDiHandReconstructor(model=model).reconstruct(video, range(0, 9), K))
    assert batch.present.all()
    for side in (0, 1):
        params = {
            "global_orient": batch.global_orient[:, side].astype(np.float64),
            "hand_pose": batch.hand_pose[:, side].astype(np.float64),
            "betas": batch.betas[:, side].astype(np.float64),
            "transl": batch.transl[:, side].astype(np.float64),
        }
        np.testing.assert_allclose(ref.joints(side, params), batch.joints_3d[:, side], atol=2e-4)
