"""ARCTIC-style per-sequence MANO arrays: export (and import back) of a label document.

ARCTIC ships one `<seq>.mano.npy` per sequence: a pickled dict (load with
`np.load(path, allow_pickle=True).item()`) with, per hand ("right", "left"), `rot` (F, 3)
global orientation, `pose` (F, 45) hand pose (axis-angle, smplx MANO flat_hand_mean=False),
`trans` (F, 3) and `shape` (F, 10). We write the same keys plus:
- `valid` (F,) bool per hand: the hand is present and all its MANO fields are known. Arrays are
  0 where not valid (never NaN), so a loader must use the mask;
- `fitting_err` (F,) float32: 0 (kept for loaders that read it);
- `<seq>.egocam.npy`: `world2ego` (F, 4, 4) (identity: our labels are in the camera frame, so
  ARCTIC's "world" is this video's camera), `K_ego` (3, 3), `distortion` (8,) zeros,
  `fps`, `width`, `height`, `video_sha256`, and `coordinate_frame` (a text; an import that kept
  its dataset's world frame, e.g. HOT3D, says so here);
- `<seq>.provenance.npy`: per hand `source`, `reviewed`, `keyframe`, `flags` (F,) so corrected
  labels keep their review state in this format too.
Every file is written atomically.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import LabelFileError
from core.io.atomic import atomic_write_bytes
from core.io.numpy_read import read_npy
from core.labels.document import LabelDocument, Source, VideoMeta
from core.labels.joints import HAND_NAMES

ARCTIC_KEYS = {"rot": "global_orient", "pose": "hand_pose", "trans": "transl", "shape": "betas"}


def _save_npy(path: Path, obj: Any) -> None:
    buf = io.BytesIO()
    np.save(buf, np.array(obj, dtype=object) if isinstance(obj, dict) else obj, allow_pickle=True)
    atomic_write_bytes(path, buf.getvalue())


def output_names(name: str) -> list[str]:
    """The files `export_arctic` writes for sequence `name`."""
    return [f"{name}.mano.npy", f"{name}.egocam.npy", f"{name}.provenance.npy"]


def export_arctic(
    doc: LabelDocument, out_dir: str | os.PathLike[str], name: str = "sequence"
) -> list[Path]:
    """Write `<name>.mano.npy`, `<name>.egocam.npy` and `<name>.provenance.npy` into out_dir."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    mano: dict[str, dict[str, np.ndarray]] = {}
    prov: dict[str, dict[str, np.ndarray]] = {}
    for hand_name, track in zip(HAND_NAMES, doc.hands, strict=True):
        valid = track.present & track.has_mano()
        entry: dict[str, np.ndarray] = {"valid": valid.copy()}
        for key, field_name in ARCTIC_KEYS.items():
            arr = getattr(track, field_name).astype(np.float32)
            entry[key] = np.where(valid[:, None], arr, 0.0).astype(np.float32)
        entry["fitting_err"] = np.zeros(doc.n_frames, np.float32)
        mano[hand_name] = entry
        prov[hand_name] = {
            k: getattr(track, k).copy() for k in ("source", "reviewed", "keyframe", "flags")
        }
    n = doc.n_frames
    egocam = {
        "world2ego": np.broadcast_to(np.eye(4, dtype=np.float32), (n, 4, 4)).copy(),
        "K_ego": doc.K.astype(np.float32),
        "distortion": np.zeros(8, np.float32),
        "fps": float(doc.meta.fps),
        "width": int(doc.meta.width),
        "height": int(doc.meta.height),
        "video_sha256": doc.meta.video_sha256,
        # what the MANO arrays are relative to (imports may keep their dataset's world frame)
        "coordinate_frame": _coordinate_frame(doc),
    }
    paths = [out / file_name for file_name in output_names(name)]
    for path, obj in zip(paths, (mano, egocam, prov), strict=True):
        _save_npy(path, obj)
    return paths


def _coordinate_frame(doc: LabelDocument) -> str:
    for source in doc.extras.values():
        if isinstance(source, dict) and isinstance(source.get("coordinate_frame"), str):
            return str(source["coordinate_frame"])
    return "camera (OpenCV: x right, y down, z forward, metres)"


def _load_dict(path: Path) -> dict[str, Any]:
    try:
        obj = read_npy(path, allow_pickle=True)
        out: dict[str, Any] = (
            obj.item() if isinstance(obj, np.ndarray) and obj.dtype == object else obj
        )
        return out
    except (OSError, ValueError) as exc:
        raise LabelFileError(f"{path.name} is not a readable .npy dict ({exc}).") from None


def import_arctic(
    mano_path: str | os.PathLike[str], *, fps: float = 30.0, width: int = 0, height: int = 0
) -> LabelDocument:
    """A label document from an ARCTIC-style `<seq>.mano.npy` (and its egocam/provenance files
    when they sit beside it). Without a `valid` mask, frames with finite values are valid.
    Joints come from MANO when a hand model is available (core/hands/model.py)."""
    from core.hands.model import hand_model

    mano_path = Path(mano_path)
    mano = _load_dict(mano_path)
    if not isinstance(mano, dict) or not any(h in mano for h in HAND_NAMES):
        raise LabelFileError(
            f"{mano_path.name} has no 'right'/'left' entries.",
            hint="Expected ARCTIC's per-sequence MANO dict (rot, pose, trans, shape per hand).",
        )
    stem = mano_path.name.removesuffix(".mano.npy")
    ego_path = mano_path.with_name(f"{stem}.egocam.npy")
    ego = _load_dict(ego_path) if ego_path.is_file() else {}
    n = max(len(np.asarray(v["rot"])) for k, v in mano.items() if k in HAND_NAMES)
    meta = VideoMeta(
        n,
        float(ego.get("fps", fps)),
        int(ego.get("width", width) or 1),
        int(ego.get("height", height) or 1),
        video_sha256=str(ego.get("video_sha256", "")),
    )
    K = ego.get("K_ego")
    doc = LabelDocument(meta, None if K is None or np.ndim(K) != 2 else np.asarray(K, np.float64))
    model = hand_model()
    for h, hand_name in enumerate(HAND_NAMES):
        if hand_name not in mano:
            continue
        entry = mano[hand_name]
        params = {
            f: np.asarray(entry[k], np.float64).reshape(n, -1) for k, f in ARCTIC_KEYS.items()
        }
        finite = np.logical_and.reduce([np.isfinite(v).all(1) for v in params.values()])
        valid = np.asarray(entry.get("valid", finite), bool) & finite
        f = np.flatnonzero(valid)
        values: dict[str, Any] = {k: v[f] for k, v in params.items()}
        values.update(present=True, confidence=1.0, source=int(Source.IMPORTED))
        if model is not None and len(f):
            values["joints_3d"] = np.asarray(model.joints(h, {k: params[k][f] for k in params}))
        doc.write(h, f, values, notify=False)
    prov_path = mano_path.with_name(f"{stem}.provenance.npy")
    if prov_path.is_file():
        prov = _load_dict(prov_path)
        for h, hand_name in enumerate(HAND_NAMES):
            for k, arr in prov.get(hand_name, {}).items():
                doc.write(h, slice(None), {k: arr}, notify=False)
    doc.backend = "arctic"
    return doc
