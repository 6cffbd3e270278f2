"""NPZ export of a label document: flat arrays named `<hand>_<field>`, plus K and metadata."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import numpy as np

from core.io.atomic import atomic_write_bytes
from core.io.labels_h5 import FILE_ATTRS, SCHEMA_VERSION
from core.labels.document import TRACK_FIELDS, LabelDocument
from core.labels.joints import HAND_NAMES


def save_npz(doc: LabelDocument, path: str | os.PathLike[str]) -> Path:
    """Write `doc` as a compressed .npz (atomically). Keys: `K`, `meta` (JSON), `left_<field>`,
    `right_<field>` for every track field of schema v1."""
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
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    path = Path(path)
    atomic_write_bytes(path, buf.getvalue())
    return path
