"""Training data from dataset specs: the project's own label files (core/recon/vidihand/data.py)
and the public datasets' layouts (core/recon/vidihand/datasets_ext.py), mixed in proportion to
their sizes. A module of its own so that neither of those imports the other.
"""

from __future__ import annotations

from core.errors import LabelFileError
from core.recon.vidihand import datasets_ext
from core.recon.vidihand.config import ViDiHandConfig
from core.recon.vidihand.data import LabelVideoDataset, MixedDataset, SequenceDataset


def build_dataset(specs: list[dict], cfg: ViDiHandConfig) -> MixedDataset:
    """Datasets from specs: {"kind": "labels", "labels", "video"} | {"kind": "hot3d", ...} |
    {"kind": "arctic", ...} (see docs/vidihand.md)."""
    parts: list[SequenceDataset] = []
    for spec in specs:
        kind = spec.get("kind", "labels")
        if kind == "labels":
            span = tuple(spec["frames"]) if spec.get("frames") else None
            parts.append(LabelVideoDataset(spec["labels"], spec["video"], cfg, span=span))
        elif kind == "hot3d":
            parts.append(datasets_ext.hot3d_dataset(spec, cfg))
        elif kind == "arctic":
            parts.append(datasets_ext.arctic_dataset(spec, cfg))
        else:
            raise LabelFileError(
                f"Unknown training data kind {kind!r}: use labels, hot3d or arctic."
            )
    return MixedDataset(parts)
