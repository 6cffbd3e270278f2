"""The refinement stage as every reconstruction path runs it (CLI, app, batch, remote client):
one policy, one call, so all of them refine the same way with the same defaults."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from core.labels.document import LabelDocument
from core.recon.refine.driver import RefinePlan, refine_document
from core.recon.refine.settings import RefineSettings

#: backends whose output is refined unless the user says otherwise: the per-frame CPU detector.
#: (The ViDiHand model is temporal and gives MANO parameters the fit would drop; a replayed
#: label file is what it is.)
REFINED_BY_DEFAULT = frozenset({"mediapipe"})


def refines_by_default(backend: str) -> bool:
    return backend in REFINED_BY_DEFAULT


def refine_after_reconstruction(
    doc: LabelDocument,
    backend: str,
    *,
    refine: bool | None = None,
    frames: range | None = None,
    video: Any | None = None,
    settings: RefineSettings | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> RefinePlan | None:
    """Refine `frames` of a freshly reconstructed `doc` when `refine` (None: the backend's
    default) says so; with `video` lost hands are looked for again. Returns the plan or None."""
    if refine is None:
        refine = refines_by_default(backend)
    if not refine:
        return None
    return refine_document(doc, settings, frames=frames, video=video, on_progress=on_progress)
