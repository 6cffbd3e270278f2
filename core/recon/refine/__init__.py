"""Two-hand track refinement: one skeleton per track, a temporal fit of both hands to the
detector's 2D joints, short gaps filled, lost hands looked for again, left/right made
consistent. Run after the CPU backend by default (docs/reconstructors.md, "Refinement").

Names are loaded on first use, so importing a light submodule (the `refine` edit, the
settings) does not import torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_NAMES = {
    "BACKEND_STRING": "core.recon.refine.driver",
    "RefineError": "core.recon.refine.driver",
    "RefinePlan": "core.recon.refine.driver",
    "apply_plan": "core.recon.refine.driver",
    "plan_refinement": "core.recon.refine.driver",
    "refine_document": "core.recon.refine.driver",
    "RefineSettings": "core.recon.refine.settings",
}
__all__ = sorted(_NAMES)


def __getattr__(name: str) -> Any:
    if name in _NAMES:
        return getattr(importlib.import_module(_NAMES[name]), name)
    raise AttributeError(f"module 'core.recon.refine' has no attribute {name!r}")
