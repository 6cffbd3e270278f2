"""Import HOT3D's MANO ground truth (`mano_hand_pose_trajectory.jsonl`) as a label document.

HOT3D stores one JSON line per timestamp: `{"timestamp_ns": int, "hand_poses": {"0": left,
"1": right}}`, each hand with 15 MANO PCA pose coefficients (`pose`), a wrist pose
`wrist_xform {t_xyz, q_wxyz}` and 10 `betas`. HOT3D's own loader feeds smplx MANO with
use_pca=True, 15 components, flat_hand_mean=False, global_orient = axis-angle of q_wxyz and
transl = t_xyz: the wrist pose is T_world_wrist (HOT3D's world frame, metres).

What the import does:
- timestamps become frames at a chosen fps (default 30): frame = round((t - t0) * fps / 1e9);
  where several samples fall on one frame (Aria lists one per camera stream, ~0.1 ms apart) the
  one nearest the frame's time is kept.
- PCA pose -> 45 axis-angle values (relative to the mean hand, as in schema v1) through the MANO
  model's `hands_components` when they are given or MANO files are configured; otherwise
  hand_pose stays NaN, the PCA values are kept in doc.extras["hot3d"]["pose_pca"] and
  extras["hot3d"]["pose_known"] is False.
- global_orient, transl and betas are stored as imported, in HOT3D's WORLD frame
  (extras["hot3d"]["coordinate_frame"] says so), unless `camera` names a stream of
  camera_models.json: then, with a MANO model, labels are moved into that camera's OpenCV frame
  through the headset trajectory (T_camera_world = (T_world_device T_device_camera)^-1).
  Joints come from MANO when a hand model is available (core/hands/model.py), else NaN.
- source IMPORTED, present where a hand has an entry, confidence 1; T_world_device from
  headset_trajectory.csv (when beside the file) goes to extras["hot3d"]["T_world_device"].
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import LabelFileError
from core.hands.rotations import axis_angle_to_matrix, matrix_to_axis_angle, quat_wxyz_to_matrix
from core.labels.document import LabelDocument, Source, VideoMeta

N_PCA = 15


@dataclass
class Hot3dTrajectory:
    """HOT3D's MANO trajectory as arrays over samples (N) and hands (0 left, 1 right)."""

    timestamps_ns: np.ndarray  # (N,) int64
    present: np.ndarray  # (N, 2) bool
    pose_pca: np.ndarray  # (N, 2, 15)
    wrist_t: np.ndarray  # (N, 2, 3) metres, world
    wrist_q_wxyz: np.ndarray  # (N, 2, 4)
    betas: np.ndarray  # (N, 2, 10)

    def __len__(self) -> int:
        return len(self.timestamps_ns)


def read_mano_trajectory(path: str | os.PathLike[str]) -> Hot3dTrajectory:
    """Parse mano_hand_pose_trajectory.jsonl; malformed lines raise LabelFileError."""
    path = Path(path)
    if not path.is_file():
        raise LabelFileError(
            f"HOT3D file not found: {path}", hint="Give mano_hand_pose_trajectory.jsonl."
        )
    rows: list[tuple[int, dict[str, Any]]] = []
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                rows.append((int(obj["timestamp_ns"]), obj["hand_poses"]))
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                raise LabelFileError(
                    f"{path.name} line {lineno} is not a HOT3D MANO pose record ({exc}).",
                    hint='Each line must be {"timestamp_ns": ..., "hand_poses": {"0": ..., "1": ...}}.',
                ) from None
    rows.sort(key=lambda r: r[0])
    n = len(rows)
    traj = Hot3dTrajectory(
        np.array([r[0] for r in rows], np.int64),
        np.zeros((n, 2), bool),
        np.full((n, 2, N_PCA), np.nan),
        np.full((n, 2, 3), np.nan),
        np.full((n, 2, 4), np.nan),
        np.full((n, 2, 10), np.nan),
    )
    for i, (_, hands) in enumerate(rows):
        for key, hand in hands.items():
            h = int(key)
            if h not in (0, 1):
                continue
            try:
                traj.pose_pca[i, h] = np.asarray(hand["pose"], np.float64)[:N_PCA]
                traj.wrist_t[i, h] = hand["wrist_xform"]["t_xyz"]
                traj.wrist_q_wxyz[i, h] = hand["wrist_xform"]["q_wxyz"]
                traj.betas[i, h] = hand["betas"]
            except (KeyError, ValueError, TypeError) as exc:
                raise LabelFileError(
                    f"{path.name}: sample {i} hand {h} is malformed ({exc}).",
                    hint="Expected pose (15), wrist_xform {t_xyz, q_wxyz} and betas (10).",
                ) from None
            traj.present[i, h] = True
    return traj


def pca_to_axis_angle(pose_pca: np.ndarray, components: np.ndarray) -> np.ndarray:
    """(..., k) PCA coefficients -> (..., 45) hand_pose relative to the mean hand, as smplx's
    MANO does with use_pca=True: coefficients @ hands_components[:k]."""
    k = pose_pca.shape[-1]
    comps = np.asarray(components, np.float64)
    if comps.ndim != 2 or comps.shape[1] != 45 or comps.shape[0] < k:
        raise LabelFileError(
            f"MANO hands_components must be (>= {k}, 45), got {comps.shape}.",
            hint="Use the hands_components of MANO_LEFT.pkl / MANO_RIGHT.pkl.",
        )
    return np.asarray(pose_pca, np.float64) @ comps[:k]


def frames_for(timestamps_ns: np.ndarray, fps: float) -> tuple[np.ndarray, np.ndarray]:
    """(frame of each kept sample, index of the kept samples): one sample per frame, the one
    nearest the frame's nominal time."""
    t = (timestamps_ns - timestamps_ns[0]).astype(np.float64) * fps / 1e9
    frame = np.rint(t).astype(np.int64)
    err = np.abs(t - frame)
    keep: dict[int, int] = {}
    for i, f in enumerate(frame):
        if f not in keep or err[i] < err[keep[f]]:
            keep[int(f)] = i
    idx = np.array([keep[f] for f in sorted(keep)], np.int64)
    return frame[idx], idx


def _mano_components() -> dict[int, np.ndarray] | None:
    """hands_components of the user's MANO files (core.hands.mano); None when not configured."""
    try:
        from core.hands.mano import MANO_FILES, find_mano_dir, mano_arrays, mano_available
    except ImportError:
        return None
    if not mano_available():
        return None
    folder = find_mano_dir()
    assert folder is not None
    return {h: mano_arrays(folder / MANO_FILES[h], h)["hands_components"] for h in (0, 1)}


def read_headset_trajectory(path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray]:
    """(timestamps_ns (N,), T_world_device (N, 4, 4)) from headset_trajectory.csv, sorted by
    time; malformed rows raise LabelFileError."""
    path = Path(path)
    ts: list[int] = []
    T: list[np.ndarray] = []
    with path.open(encoding="utf-8") as fh:
        for lineno, row in enumerate(csv.DictReader(fh), 2):
            try:
                m = np.eye(4)
                m[:3, :3] = quat_wxyz_to_matrix(
                    np.array([float(row[f"q_wo_{c}"]) for c in "wxyz"], np.float64)
                )
                m[:3, 3] = [float(row[f"t_wo_{c}[m]"]) for c in "xyz"]
                ts.append(int(row["timestamp[ns]"]))
            except (KeyError, TypeError, ValueError) as exc:
                raise LabelFileError(
                    f"{path.name} line {lineno} is not a headset pose ({exc}).",
                    hint="Expected HOT3D's columns timestamp[ns], t_wo_x[m].., q_wo_w.. .",
                ) from None
            T.append(m)
    order = np.argsort(np.array(ts, np.int64), kind="stable")
    return np.array(ts, np.int64)[order], np.array(T).reshape(-1, 4, 4)[order]


def _headset_poses(folder: Path, timestamps_ns: np.ndarray) -> np.ndarray | None:
    """T_world_device (N, 4, 4) from headset_trajectory.csv for the timestamps (NaN where the
    file has no pose); None without the file."""
    path = folder / "headset_trajectory.csv"
    if not path.is_file():
        return None
    ts, T = read_headset_trajectory(path)
    at = {int(t): i for i, t in enumerate(ts)}
    out = np.full((len(timestamps_ns), 4, 4), np.nan)
    for i, t in enumerate(timestamps_ns):
        j = at.get(int(t))
        if j is not None:
            out[i] = T[j]
    return out


def camera_model(folder: Path, stream_id: str) -> dict[str, Any]:
    """A camera of camera_models.json: T_device_camera (4, 4), size, projection params and K
    (the projection's pinhole part: fx, fy, cx, cy)."""
    path = Path(folder) / "camera_models.json"
    if not path.is_file():
        raise LabelFileError(
            f"No camera_models.json beside the HOT3D file in {folder}.",
            hint="Camera frames need the recording's camera models (Quest3 recordings have them).",
        )
    models = {m["stream_id"]: m for m in json.loads(path.read_text(encoding="utf-8"))}
    if stream_id not in models:
        raise LabelFileError(
            f"camera {stream_id!r} is not in camera_models.json: streams are "
            + ", ".join(sorted(models))
            + ".",
            hint="Name one of the recording's camera streams.",
        )
    m = models[stream_id]
    T = np.eye(4)
    T[:3, :3] = quat_wxyz_to_matrix(np.asarray(m["T_Device_Camera"]["quaternion_wxyz"]))
    T[:3, 3] = m["T_Device_Camera"]["translation_xyz"]
    params = [float(v) for v in m["projectionParams"]]
    fx, fy, cx, cy = params[:4]
    return {
        "T_device_camera": T,
        "width": int(m["imageWidth"]),
        "height": int(m["imageHeight"]),
        "model": str(m["projectionModelType"]),
        "params": params,
        "K": np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]]),
        "label": str(m.get("label", "")),
    }


def _to_camera(
    values: dict[str, Any], T_cw: np.ndarray, frames: np.ndarray
) -> tuple[dict[str, Any], np.ndarray]:
    """MANO fields and joints moved from world into a camera frame (rows with a headset pose).

    Joints transform as points; global_orient becomes R_cw * R; transl is what puts MANO's wrist
    (rest wrist J0 + transl, with J0 = world wrist - world transl) at the camera-frame wrist.
    """
    ok = np.isfinite(T_cw).all(axis=(1, 2))
    R, t = T_cw[ok, :3, :3], T_cw[ok, :3, 3]
    joints = np.asarray(values["joints_3d"], np.float64)[ok]
    cam_joints = np.einsum("nij,nkj->nki", R, joints) + t[:, None]
    rest_wrist = joints[:, 0] - np.asarray(values["transl"], np.float64)[ok]
    R_hand = axis_angle_to_matrix(np.asarray(values["global_orient"], np.float64)[ok])
    out = dict(values)
    out["joints_3d"] = cam_joints
    out["global_orient"] = matrix_to_axis_angle(R @ R_hand)
    out["transl"] = cam_joints[:, 0] - rest_wrist
    for k in ("betas", "hand_pose"):
        out[k] = np.asarray(values[k])[ok]
    return out, frames[ok]


def _image_size(folder: Path) -> tuple[int, int]:
    """Image size from camera_models.json when present; Aria's RGB stream (1408x1408) else."""
    cams = folder / "camera_models.json"
    if cams.is_file():
        models = json.loads(cams.read_text(encoding="utf-8"))
        if models:
            return int(models[0]["imageWidth"]), int(models[0]["imageHeight"])
    return 1408, 1408


def import_hot3d(
    path: str | os.PathLike[str],
    *,
    fps: float = 30.0,
    components: dict[int, np.ndarray] | None = None,
    camera: str | None = None,
) -> LabelDocument:
    """A label document from a HOT3D mano_hand_pose_trajectory.jsonl (see module docstring).

    `components` maps hand index (0 left, 1 right) to MANO's hands_components (45 x 45); by
    default they come from the configured MANO files, and without them the pose stays unknown.
    `camera` (a stream id of camera_models.json, e.g. "1201-1") puts the labels in that
    camera's OpenCV frame using the headset trajectory; this needs a MANO model (the wrist's
    rest position depends on the shape) and K is the fisheye's pinhole part (fx, fy, cx, cy).
    """
    from core.hands.model import hand_model

    path = Path(path)
    traj = read_mano_trajectory(path)
    if len(traj) == 0:
        raise LabelFileError(f"{path.name} holds no samples.", hint="Check the file.")
    frame, idx = frames_for(traj.timestamps_ns, fps)
    kept_ts = traj.timestamps_ns[idx]
    n = int(frame[-1]) + 1
    width, height = _image_size(path.parent)
    components = components if components is not None else _mano_components()
    model = hand_model()
    pose_known = components is not None
    headset = _headset_poses(path.parent, kept_ts)
    T_cw: np.ndarray | None = None
    cam: dict[str, Any] | None = None
    if camera is not None:
        if model is None or not pose_known:
            raise LabelFileError(
                "Putting HOT3D labels in a camera frame needs the MANO model files.",
                hint="Set VIDIHAND_MANO_DIR (or Settings > MANO folder), or import in world "
                "coordinates (no camera).",
            )
        if headset is None:
            raise LabelFileError(
                f"No headset_trajectory.csv beside {path.name}.",
                hint="Camera frames need the headset trajectory.",
            )
        cam = camera_model(path.parent, camera)
        width, height = cam["width"], cam["height"]
        T_wc = headset @ cam["T_device_camera"]
        T_cw = np.full_like(T_wc, np.nan)  # NaN where the trajectory has no headset pose
        known = np.isfinite(T_wc).all(axis=(1, 2))
        T_cw[known] = np.linalg.inv(T_wc[known])
    K = cam["K"] if cam is not None else None
    doc = LabelDocument(VideoMeta(n, float(fps), width, height), K)
    for h in range(2):
        ok = traj.present[idx, h]
        f, s = frame[ok], idx[ok]
        if not len(f):
            continue
        R = quat_wxyz_to_matrix(traj.wrist_q_wxyz[s, h])
        values: dict[str, Any] = {
            "present": True,
            "confidence": 1.0,
            "global_orient": matrix_to_axis_angle(R),
            "transl": traj.wrist_t[s, h],
            "betas": traj.betas[s, h],
            "source": int(Source.IMPORTED),
        }
        if pose_known:
            values["hand_pose"] = pca_to_axis_angle(traj.pose_pca[s, h], components[h])  # type: ignore[index]
            if model is not None:
                params = {
                    k: np.asarray(values[k], np.float64)
                    for k in ("global_orient", "transl", "betas", "hand_pose")
                }
                values["joints_3d"] = np.asarray(model.joints(h, params))
        if T_cw is not None:
            values, f = _to_camera(values, T_cw[ok], f)
        doc.write(h, f, values, notify=False)
    doc.backend = "hot3d"
    frame_desc = (
        f"camera {camera} (OpenCV, metres) of the headset"
        if camera is not None
        else "world (HOT3D): global_orient/transl map the MANO hand into world"
    )
    doc.extras["hot3d"] = {
        "source_file": str(path),
        "recording": path.parent.name,
        "headset": path.parent.parent.name,
        "coordinate_frame": frame_desc,
        "fps": float(fps),
        "frame_timestamps_ns": {
            str(int(fr)): int(ts) for fr, ts in zip(frame, kept_ts, strict=True)
        },
        "pose_known": pose_known,
        "mano": "smplx MANO, use_pca=True with 15 components, flat_hand_mean=False",
    }
    if not pose_known:
        doc.extras["hot3d"]["pose_pca"] = {
            name: {
                str(int(fr)): traj.pose_pca[i, h].tolist()
                for fr, i in zip(frame, idx, strict=True)
                if traj.present[i, h]
            }
            for h, name in enumerate(("left", "right"))
        }
    if headset is not None:
        doc.extras["hot3d"]["T_world_device"] = {
            str(int(fr)): T.round(9).tolist()
            for fr, T in zip(frame, headset, strict=True)
            if np.isfinite(T).all()
        }
    if cam is not None:
        doc.extras["hot3d"]["camera"] = {
            "stream_id": camera,
            "label": cam["label"],
            "projection_model": cam["model"],
            "projection_params": cam["params"],
            "T_device_camera": cam["T_device_camera"].round(12).tolist(),
            "note": "K is the fisheye's pinhole part; joints_2d are not filled (fisheye)",
        }
    doc.dirty = True
    return doc
