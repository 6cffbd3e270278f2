"""Hand geometry for exporters: MANO mesh, the simple mesh or the bare skeleton, per frame.

`hand_geometry(doc, hand, mesh)` picks what a viewer export shows for one hand:
- "mano": the MANO mesh (778 vertices) from the track's MANO parameters, when MANO is set up
  (core.hands.edit_model finds the user's files) and every present frame with 3D joints has MANO
  parameters;
- "simple": the simple closed mesh built from the 3D joints (core/hands/simple_mesh.py);
- "skeleton": the 21 joints, with the 20 bones as line segments.
`mesh="auto"` is MANO when possible, else the simple mesh. Vertices are computed per block of
frames, so exporters can stream long videos.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from core.hands.simple_mesh import SIMPLE_HAND_FACES, simple_hand_mesh
from core.labels.document import MANO_FIELDS, LabelDocument
from core.labels.joints import BONES

KINDS = ("auto", "mano", "simple", "skeleton")


@dataclass
class HandGeometry:
    """What to draw for one hand: `kind`, `faces` (M, 3) triangles or (20, 2) bone segments."""

    doc: LabelDocument
    hand: int
    kind: str
    faces: np.ndarray
    model: Any = None  # core.hands.mano.ManoModel for kind "mano"

    @property
    def valid(self) -> np.ndarray:
        """(T,) frames with geometry: present with finite 3D joints (and MANO for "mano")."""
        t = self.doc.hands[self.hand]
        ok = t.present & np.isfinite(t.joints_3d).all((1, 2))
        if self.kind == "mano":
            ok = t.present & t.has_mano()
        return np.asarray(ok, bool)

    @property
    def is_lines(self) -> bool:
        return self.kind == "skeleton"

    def vertices(self, frames: np.ndarray) -> np.ndarray:
        """(N, V, 3) float32 vertices on `frames` (OpenCV camera frame, metres); NaN where the
        frame has no geometry."""
        t = self.doc.hands[self.hand]
        frames = np.asarray(frames, np.int64)
        if self.kind == "mano":
            params = {k: getattr(t, k)[frames] for k in MANO_FIELDS}
            return np.asarray(self.model.vertices(self.hand, params), np.float32)
        joints = t.joints_3d[frames]
        if self.kind == "skeleton":
            return np.asarray(joints, np.float32)
        return np.asarray(simple_hand_mesh(joints), np.float32)


def _mano_model() -> Any:
    try:
        from core.hands import edit_model
        from core.hands.mano import ManoModelError
    except ImportError:  # torch/smplx not installed: no MANO
        return None
    try:
        return edit_model()
    except (ManoModelError, ImportError):
        return None


def hand_geometry(
    doc: LabelDocument, hand: int, mesh: str = "auto", model: Any = None
) -> HandGeometry:
    """The geometry of one hand for `mesh` ("auto", "mano", "simple" or "skeleton").

    "mano" without MANO set up, or for a hand without MANO parameters on a shown frame, raises
    an `ExportError` saying so. `model`: a MANO model to use instead of the configured one."""
    from core.errors import ExportError

    if mesh not in KINDS:
        raise ValueError(f"mesh must be one of {KINDS}, got {mesh!r}")
    t = doc.hands[hand]
    shown = t.present & np.isfinite(t.joints_3d).all((1, 2))
    if mesh in ("auto", "mano"):
        covered = bool((t.has_mano() | ~shown).all()) and bool(t.has_mano()[t.present].any())
        if covered:
            model = model if model is not None else _mano_model()
            if model is not None:
                faces = np.asarray(model.faces[hand], np.int64)
                return HandGeometry(doc, hand, "mano", faces, model)
        if mesh == "mano":
            raise ExportError(
                "The MANO mesh needs MANO files and MANO parameters on every shown frame.",
                hint="Set up MANO (docs/hands.md), or export with --mesh simple.",
            )
        mesh = "simple"
    if mesh == "skeleton":
        return HandGeometry(doc, hand, "skeleton", np.asarray(BONES, np.int64))
    return HandGeometry(doc, hand, "simple", np.asarray(SIMPLE_HAND_FACES, np.int64))
