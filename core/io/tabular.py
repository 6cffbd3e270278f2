"""JSON and CSV export for scripting: per frame and hand, every value the labels hold.

JSON (`export_json`): one object with `format` ("vidihand-labels-json"), `version` (1), the
conventions in words, `video` (n_frames, fps, width, height, video_sha256, video_path), `K`,
`joint_names`, `hand_names`, `backend` and `frames`: a list over frames of
`{"frame", "time_s", "hands": {"left": {...}, "right": {...}}, "note"?}` where each hand holds
`present`, `confidence`, `source` (name), `reviewed`, `keyframe`, `flags` (list of names),
`joints_3d` (21 x [x, y, z] metres), `joints_2d` (21 x [u, v] pixels) and `mano`
(`global_orient`, `hand_pose`, `betas`, `transl`). Unknown numbers are `null` (JSON has no
NaN); an absent hand's joints and MANO are `null` as a whole.

CSV (`export_csv`): one row per frame and hand (frame-major, left before right), a header
row naming every column: `frame, time_s, hand, present, confidence, source, reviewed,
keyframe, flags` (flags as the integer bit set of docs/labels-format.md), then
`j3d_<joint>_{x,y,z}`, `j2d_<joint>_{u,v}`, `global_orient_{0..2}`, `hand_pose_{0..44}`,
`betas_{0..9}`, `transl_{0..2}`. Unknown numbers are empty cells.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from core.io.atomic import atomic_write_bytes
from core.labels.document import FLAG_NAMES, MANO_FIELDS, LabelDocument, Source
from core.labels.joints import HAND_NAMES, JOINT_NAMES

FORMAT_NAME = "vidihand-labels-json"
FORMAT_VERSION = 1
_MANO_DIMS = {"global_orient": 3, "hand_pose": 45, "betas": 10, "transl": 3}
CONVENTIONS = {
    "coordinate_frame": "OpenCV camera frame: x right, y down, z forward",
    "units": "metres (3D), pixels (2D), radians (MANO axis-angle)",
    "pixel_convention": "(0, 0) is the centre of the top-left pixel",
    "hands": "left and right as seen by the person whose hands they are",
    "mano": "smplx MANO, use_pca=False, flat_hand_mean=False",
}


def _num(x: float) -> float | None:
    return None if not math.isfinite(x) else round(float(x), 7)


def _nested(arr: np.ndarray) -> Any:
    """A float array as nested lists with NaN -> None."""
    a = np.asarray(arr, np.float64)
    if a.ndim == 0:
        return _num(float(a))
    return [_nested(x) for x in a]


def _flag_names(bits: int) -> list[str]:
    return [name for name, flag in FLAG_NAMES.items() if bits & int(flag)]


def frame_records(doc: LabelDocument) -> list[dict[str, Any]]:
    """The `frames` list of the JSON export."""
    fps = float(doc.meta.fps)
    out: list[dict[str, Any]] = []
    for f in range(doc.n_frames):
        hands: dict[str, Any] = {}
        for name, t in zip(HAND_NAMES, doc.hands, strict=True):
            present = bool(t.present[f])
            hands[name] = {
                "present": present,
                "confidence": _num(float(t.confidence[f])),
                "source": Source(int(t.source[f])).name.lower(),
                "reviewed": bool(t.reviewed[f]),
                "keyframe": bool(t.keyframe[f]),
                "flags": _flag_names(int(t.flags[f])),
                "joints_3d": _nested(t.joints_3d[f]) if present else None,
                "joints_2d": _nested(t.joints_2d[f]) if present else None,
                "mano": {k: _nested(getattr(t, k)[f]) for k in MANO_FIELDS} if present else None,
            }
        rec: dict[str, Any] = {
            "frame": f,
            "time_s": round(f / fps, 6) if fps > 0 else None,
            "hands": hands,
        }
        if f in doc.notes:
            rec["note"] = doc.notes[f]
        out.append(rec)
    return out


def json_dict(doc: LabelDocument) -> dict[str, Any]:
    m = doc.meta
    return {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "conventions": CONVENTIONS,
        "video": {
            "n_frames": int(m.n_frames),
            "fps": float(m.fps),
            "width": int(m.width),
            "height": int(m.height),
            "video_sha256": m.video_sha256,
            "video_path": m.video_path,
        },
        "K": _nested(doc.K),
        "joint_names": list(JOINT_NAMES),
        "hand_names": list(HAND_NAMES),
        "backend": doc.backend,
        "frames": frame_records(doc),
    }


def export_json(doc: LabelDocument, path: str | os.PathLike[str]) -> Path:
    """Write `doc` as JSON (atomically); returns the path."""
    path = Path(path)
    atomic_write_bytes(path, json.dumps(json_dict(doc), separators=(",", ":")).encode())
    return path


def csv_header() -> list[str]:
    cols = ["frame", "time_s", "hand", "present", "confidence", "source", "reviewed"]
    cols += ["keyframe", "flags"]
    cols += [f"j3d_{j}_{a}" for j in JOINT_NAMES for a in "xyz"]
    cols += [f"j2d_{j}_{a}" for j in JOINT_NAMES for a in "uv"]
    for k, d in _MANO_DIMS.items():
        cols += [f"{k}_{i}" for i in range(d)]
    return cols


def _cells(values: np.ndarray) -> list[str]:
    return ["" if not np.isfinite(v) else f"{v:.7g}" for v in np.asarray(values, np.float64)]


def export_csv(doc: LabelDocument, path: str | os.PathLike[str]) -> Path:
    """Write `doc` as CSV, one row per frame and hand (atomically); returns the path."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(csv_header())
    fps = float(doc.meta.fps)
    for f in range(doc.n_frames):
        for name, t in zip(HAND_NAMES, doc.hands, strict=True):
            row = [
                str(f),
                f"{f / fps:.6f}" if fps > 0 else "",
                name,
                str(int(t.present[f])),
                *_cells(t.confidence[f : f + 1]),
                Source(int(t.source[f])).name.lower(),
                str(int(t.reviewed[f])),
                str(int(t.keyframe[f])),
                str(int(t.flags[f])),
            ]
            row += _cells(t.joints_3d[f].ravel()) + _cells(t.joints_2d[f].ravel())
            for k in MANO_FIELDS:
                row += _cells(getattr(t, k)[f])
            w.writerow(row)
    path = Path(path)
    atomic_write_bytes(path, buf.getvalue().encode())
    return path
