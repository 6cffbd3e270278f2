"""NPZ export of a label document: flat arrays named `<hand>_<field>`, plus K and metadata."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import numpy as np

from core.io.atomic import atomic_write_bytes
from core.io.labels_h5 import FILE_ATTRS, SCHEMA_VERSION
from core.io.numpy_read import read_npz
from core.labels.document import TRACK_FIELDS, LabelDocument
from core.labels.joints import HAND_NAMES


def save_npz(doc: LabelDocument, path: str | os.PathLike[str]) -> Path:
    """Write `doc` as a compressed .npz (atomically). Keys: `K`, `meta` (JSON), `left_<field>`,
    `right_<field>` for every track field of schema v1, and `notes`, `history`, `extras` (JSON
    strings) so review notes and the edit history survive this format too."""
    arrays: dict[str, np.ndarray] = {"K": doc.K}
    for name, track in zip(HAND_NAMES, doc.hands, strict=True):
        for field_name in TRACK_FIELDS:
            arrays[f"{name}_{field_name}"] = getattr(track, field_name)
    meta = {
        "schema_version": SCHEMA_VERSION,
        **vars(doc.meta),
        **FILE_ATTRS,
        "backend": doc.backend,
        "backend_version": doc.backend_version,
    }
    arrays["meta"] = np.array(json.dumps(meta))
    arrays["notes"] = np.array(json.dumps({str(k): v for k, v in doc.notes.items()}))
    arrays["history"] = np.array(json.dumps(doc.history))
    arrays["extras"] = np.array(json.dumps(doc.extras))
    buf = io.BytesIO()
    np.savez_compressed(buf, allow_pickle=False, **arrays)
    path = Path(path)
    atomic_write_bytes(path, buf.getvalue())
    return path


def load_npz(path: str | os.PathLike[str]) -> LabelDocument:
    """Read an .npz written by `save_npz` back into a document (notes, history and extras when
    the file has them)."""
    from core.errors import LabelFileError
    from core.labels.document import HandTrack, VideoMeta

    path = Path(path)
    try:
        data = read_npz(path)
        meta = json.loads(str(data["meta"]))
        hands = tuple(
            HandTrack(**{f: data[f"{name}_{f}"] for f in TRACK_FIELDS}) for name in HAND_NAMES
        )
        vm = VideoMeta(
            **{
                k: meta[k]
                for k in ("n_frames", "fps", "width", "height", "video_sha256", "video_path")
            }
        )
        doc = LabelDocument(vm, data["K"], hands)  # type: ignore[arg-type]
    except (OSError, KeyError, ValueError, TypeError) as exc:
        raise LabelFileError(
            f"{path.name} is not a ViDiHand .npz export ({exc}).", hint="Export it again."
        ) from exc
    doc.backend, doc.backend_version = meta.get("backend", ""), meta.get("backend_version", "")
    if "notes" in data:
        doc.notes = {int(k): v for k, v in json.loads(str(data["notes"])).items()}
    if "history" in data:
        doc.history = list(json.loads(str(data["history"])))
    if "extras" in data:
        doc.extras = dict(json.loads(str(data["extras"])))
    doc.dirty = False
    return doc
