"""Two-hand track refinement: one skeleton per track, a temporal fit of both hands to the
detector's 2D joints, short gaps filled, lost hands looked for again, left/right made
consistent. Run after the CPU backend by default (docs/reconstructors.md, "Refinement")."""

from core.recon.refine.driver import (
    BACKEND_STRING,
    RefineError,
    RefinePlan,
    apply_plan,
    plan_refinement,
    refine_document,
)
from core.recon.refine.settings import RefineSettings

__all__ = [
    "BACKEND_STRING",
    "RefineError",
    "RefinePlan",
    "RefineSettings",
    "apply_plan",
    "plan_refinement",
    "refine_document",
]
