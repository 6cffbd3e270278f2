"""Public dataset layouts as ViDiHand training sources: HOT3D and ARCTIC.

Both label hands with MANO parameters in a world frame plus a camera trajectory; this module
moves them into the camera frame and (with a MANO model configured) computes the 21 joints.
Their labels are MANO parameters, so training on them needs `hand_model.kind = "mano"` and
`hand_model.mano_dir` (licensed files the user provides); without them the readers still parse
and transform everything (tested on the real HOT3D sample), and the dataset says what is missing.

HOT3D (one recording folder, e.g. Quest3/P0002_273c2819):
  mano_hand_pose_trajectory.jsonl (per timestamp_ns, hands "0" left / "1" right: 15 PCA pose
  values, wrist_xform {t_xyz, q_wxyz} = MANO global_orient/transl in the world frame, betas),
  headset_trajectory.csv (T_world_device), camera_models.json (per stream: T_Device_Camera and
  fisheye projection params [fx, fy, cx, cy, ...]). Frames: images exported from the VRS file as
  IMAGES/<timestamp_ns>.jpg|png for the chosen stream (the public sample has no images). The
  fisheye model is used as a pinhole with its fx, fy, cx, cy (documented approximation; the
  decoder's ray encoding is where a true fisheye would enter).
ARCTIC (one sequence): `<seq>.mano.npy` (dict: "right"/"left" -> rot (F,3), pose (F,45),
  trans (F,3), shape (10,) or (F,10)) and the egocentric camera, either `<seq>.egocam.dist.npy`
  (R_k_cam_np (F,3,3), T_k_cam_np (F,3,1), intrinsics (3,3)) or a dict with world2ego (F,4,4) and
  K_ego (3,3). Frames: the sorted images of the ego view folder, one per label frame (an
  `image_offset` skips leading images).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from core.errors import LabelFileError
from core.hands.rotations import axis_angle_to_matrix, matrix_to_axis_angle, quat_wxyz_to_matrix
from core.io.hot3d import camera_model, read_headset_trajectory, read_mano_trajectory
from core.io.numpy_read import read_npy
from core.recon.vidihand.config import ViDiHandConfig
from core.recon.vidihand.data import FrameSource, SequenceDataset, Targets

if TYPE_CHECKING:  # torch is imported only when a MANO dataset is built
    from core.recon.vidihand.handmodel import ManoLayer


# ------------------------------------------------------------------------------------- HOT3D
def hot3d_in_camera(seq: str | Path, stream: str) -> dict[str, Any]:
    """HOT3D MANO labels of a recording moved into one camera's frame (no MANO model needed):
    global orientation (axis-angle) and the MANO origin translation per frame, plus K."""
    seq = Path(seq)
    # the files are parsed (and checked) by the label importer's readers
    traj = read_mano_trajectory(seq / "mano_hand_pose_trajectory.jsonl")
    if len(traj) == 0:
        raise LabelFileError(f"{seq} holds no hand poses.", hint="Check the recording folder.")
    if not (seq / "headset_trajectory.csv").is_file():
        raise LabelFileError(
            f"No headset_trajectory.csv in {seq}.",
            hint="Camera frames need the recording's headset trajectory.",
        )
    ts_h, T_wd = read_headset_trajectory(seq / "headset_trajectory.csv")
    cam = camera_model(seq, stream)
    mano = {
        "timestamps": traj.timestamps_ns,
        "valid": traj.present,
        "pose_pca": traj.pose_pca,
        "R_world": quat_wxyz_to_matrix(traj.wrist_q_wxyz),  # NaN where a hand is absent
        "t_world": traj.wrist_t,
        "betas": traj.betas,
    }
    idx = np.clip(np.searchsorted(ts_h, mano["timestamps"]), 0, len(ts_h) - 1)
    prev = np.clip(idx - 1, 0, len(ts_h) - 1)
    idx = np.where(
        np.abs(ts_h[prev] - mano["timestamps"]) < np.abs(ts_h[idx] - mano["timestamps"]), prev, idx
    )
    T_wc = T_wd[idx] @ cam["T_device_camera"]
    R_cw = np.swapaxes(T_wc[:, :3, :3], -1, -2)
    t_wc = T_wc[:, :3, 3]
    R_cam = np.einsum("nij,nhjk->nhik", R_cw, mano["R_world"])
    origin_cam = np.einsum("nij,nhj->nhi", R_cw, mano["t_world"] - t_wc[:, None])
    return {
        **mano,
        "K": cam["K"],
        "size": (cam["width"], cam["height"]),
        "R_cam": R_cam,
        "R_cw": R_cw,
        "t_wc": t_wc,
        "origin_cam": origin_cam,  # MANO transl moved to the camera (wrist = J0 + transl there)
        "global_orient_cam": matrix_to_axis_angle(np.nan_to_num(R_cam)),
    }


def _mano_targets(
    R_cam: np.ndarray, hand_pose: np.ndarray, betas: np.ndarray, origin_cam: np.ndarray,
    R_cw: np.ndarray, valid: np.ndarray, layer: ManoLayer,
) -> Targets:  # fmt: skip
    """Targets from camera-frame MANO params with a ManoLayer: joints, wrist-based transl."""
    import torch

    from core.recon.vidihand.handmodel import axis_angle_to_matrix as aa2m

    n = len(valid)
    t = Targets.unknown(n)
    for h in (0, 1):
        sel = valid[:, h]
        if not sel.any():
            continue
        b = torch.as_tensor(betas[sel, h], dtype=torch.float32)
        j0 = layer.rest_wrist(b, h).numpy()  # (m, 3) in the world/MANO frame
        mean = layer.pose_mean(h).detach().cpu().numpy()
        flat = torch.as_tensor((hand_pose[sel, h].reshape(-1, 15, 3) + mean), dtype=torch.float32)
        with torch.no_grad():
            rel = layer(
                torch.as_tensor(R_cam[sel, h], dtype=torch.float32), aa2m(flat), b, h
            ).numpy()
        # world wrist = J0 + t_world; in the camera: R_cw J0 + origin_cam
        wrist = np.einsum("nij,nj->ni", R_cw[sel], j0) + origin_cam[sel, h]
        t.joints_3d[sel, h] = rel + wrist[:, None]
        t.global_orient[sel, h] = matrix_to_axis_angle(R_cam[sel, h])
        t.hand_pose[sel, h] = hand_pose[sel, h]
        t.betas[sel, h] = betas[sel, h]
        t.transl[sel, h] = wrist - j0
    return t


def _fill_2d(t: Targets, K: np.ndarray, size: tuple[int, int]) -> None:
    from core.camera import in_image, project

    t.joints_2d[:] = project(t.joints_3d, K)
    vis = in_image(t.joints_2d, *size).any(-1) & np.isfinite(t.joints_3d).all((-1, -2))
    t.present[:] = vis


def _need_mano(cfg: ViDiHandConfig, what: str) -> ManoLayer:
    from core.recon.vidihand.handmodel import ManoLayer, build_hand_layer

    if cfg.hand_model.get("kind") != "mano":
        raise LabelFileError(
            f"{what} labels are MANO parameters: training on them needs the MANO model.",
            hint="Set hand_model.kind to 'mano' and hand_model.mano_dir to your MANO folder "
            "(MANO_LEFT.pkl, MANO_RIGHT.pkl) in the training configuration.",
        )
    layer = build_hand_layer(cfg.hand_model)
    assert isinstance(layer, ManoLayer)  # kind "mano", checked above
    return layer


def _image_files(folder: str | Path, what: str) -> list[Path]:
    folder = Path(folder)
    files = sorted(p for p in folder.glob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if not files:
        raise LabelFileError(
            f"{what}: no images in {folder}.",
            hint="Training needs the frames: export them as images into that folder "
            "(see docs/vidihand.md, data layouts).",
        )
    return files


def hot3d_dataset(spec: dict, cfg: ViDiHandConfig) -> SequenceDataset:
    """spec: {"kind": "hot3d", "sequence": DIR, "stream": "1201-1", "images": DIR}."""
    stream = spec.get("stream", "214-1")
    data = hot3d_in_camera(spec["sequence"], stream)
    if not spec.get("images"):
        raise LabelFileError(
            f"HOT3D sequence {spec['sequence']} has labels but no frames.",
            hint="Export the stream's images (from recording.vrs) as <timestamp_ns>.jpg into a "
            "folder and pass it as images.",
        )
    files = {int(p.stem): p for p in _image_files(spec["images"], "HOT3D")}
    keep = np.array([ts in files for ts in data["timestamps"]])
    if not keep.any():
        raise LabelFileError(f"No image in {spec['images']} is named after a label timestamp_ns.")
    layer = _need_mano(cfg, "HOT3D")
    comps = layer.components[:, :15].cpu().numpy().astype(np.float64)  # (2, 15, 45)
    pose = np.einsum("nhk,hkd->nhd", np.nan_to_num(data["pose_pca"]), comps)
    t = _mano_targets(data["R_cam"][keep], pose[keep], data["betas"][keep], data["origin_cam"][keep],
                      data["R_cw"][keep], data["valid"][keep], layer)  # fmt: skip
    _fill_2d(t, data["K"], data["size"])
    frames = FrameSource(
        cfg.width, cfg.height, images=[files[ts] for ts in data["timestamps"][keep]]
    )
    return SequenceDataset(frames, t, data["K"], cfg, name=f"hot3d:{spec['sequence']}")


# ------------------------------------------------------------------------------------ ARCTIC
def read_arctic(mano_path: str | Path, camera_path: str | Path) -> dict[str, Any]:
    """ARCTIC MANO params (world) and the ego camera, moved into the camera frame."""
    mano = read_npy(mano_path, allow_pickle=True).item()
    cam = read_npy(camera_path, allow_pickle=True).item()
    if "world2ego" in cam:
        W2C = np.asarray(cam["world2ego"], np.float64)
        R, T = W2C[:, :3, :3], W2C[:, :3, 3]
        K = np.asarray(cam["K_ego"], np.float64)
    elif "R_k_cam_np" in cam:
        R = np.asarray(cam["R_k_cam_np"], np.float64)
        T = np.asarray(cam["T_k_cam_np"], np.float64).reshape(-1, 3)
        K = np.asarray(cam["intrinsics"], np.float64)
    else:
        raise LabelFileError(
            f"{camera_path} has neither world2ego/K_ego nor R_k_cam_np/T_k_cam_np/intrinsics."
        )
    n = len(R)
    out: dict[str, Any] = {"K": K.reshape(3, 3), "R_cw": R, "n": n, "valid": np.zeros((n, 2), bool)}
    R_cam = np.full((n, 2, 3, 3), np.nan)
    pose = np.full((n, 2, 45), np.nan)
    betas = np.full((n, 2, 10), np.nan)
    origin = np.full((n, 2, 3), np.nan)
    for h, name in ((0, "left"), (1, "right")):
        if name not in mano:
            continue
        m = mano[name]
        if len(m["rot"]) != n:
            raise LabelFileError(
                f"{mano_path}: {len(m['rot'])} {name} frames but {n} camera frames."
            )
        R_cam[:, h] = R @ axis_angle_to_matrix(np.asarray(m["rot"], np.float64))
        pose[:, h] = m["pose"]
        betas[:, h] = np.broadcast_to(np.asarray(m["shape"], np.float64), (n, 10))
        origin[:, h] = np.einsum("nij,nj->ni", R, np.asarray(m["trans"], np.float64)) + T
        out["valid"][:, h] = np.isfinite(R_cam[:, h]).all((-1, -2))
    out.update(R_cam=R_cam, hand_pose=pose, betas=betas, origin_cam=origin,
               global_orient_cam=matrix_to_axis_angle(np.nan_to_num(R_cam)))  # fmt: skip
    return out


def arctic_dataset(spec: dict, cfg: ViDiHandConfig) -> SequenceDataset:
    """spec: {"kind": "arctic", "mano": FILE, "camera": FILE, "images": DIR, "image_offset": 0}."""
    data = read_arctic(spec["mano"], spec["camera"])
    files = _image_files(spec.get("images") or "", "ARCTIC")[int(spec.get("image_offset", 0)) :]
    n = min(len(files), data["n"])
    layer = _need_mano(cfg, "ARCTIC")
    t = _mano_targets(data["R_cam"][:n], data["hand_pose"][:n], data["betas"][:n],
                      data["origin_cam"][:n], data["R_cw"][:n], data["valid"][:n], layer)  # fmt: skip
    frames = FrameSource(cfg.width, cfg.height, images=files[:n])
    _fill_2d(t, data["K"], frames.size)
    return SequenceDataset(frames, t, data["K"], cfg, name=f"arctic:{spec['mano']}")
