"""The `refine` edit: re-solve a range around an annotator's corrections, as one undo step.

    {"op": "refine", "start": 100, "end": 160}            (inclusive, like every edit range)
    {"op": "refine", "start": 100, "end": 160, "max_gap": 12}

Predicted and interpolated frames of both hands in the range are refitted (core/recon/refine);
edited, imported and reviewed frames and keyframes are constraints the fit passes through and
are never written. Every write goes through the edit history, so undo restores the range
exactly, and the edit is logged in the label file's history. `preview_refine` gives the same
patches without writing (the app's preview). Torch is imported only when the edit runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from core.edits.registry import get_int, get_range, register
from core.errors import EditError

if TYPE_CHECKING:
    from core.edits.registry import Editor
    from core.labels.document import LabelDocument, Patch


def preview_refine(
    doc: LabelDocument, start: int, end: int, max_gap: int | None = None
) -> list[Patch]:
    """The patches `refine` would write on start..end (inclusive), without writing them."""
    from core.recon.refine import RefineError, RefineSettings, plan_refinement

    settings = RefineSettings(fix_handedness=False)
    if max_gap is not None:
        settings = settings.with_options(max_gap=max_gap)
    try:
        plan = plan_refinement(doc, settings, range(start, end + 1))
    except RefineError as exc:
        raise EditError(exc.message, hint=exc.hint) from None
    return [p for p in plan.patches if len(p.frames)]


@register("refine", ("start", "end"), ("max_gap",))
def refine(h: Editor, e: dict[str, Any]) -> None:
    """Refit both hands over start..end; constraint frames are kept and followed."""
    start, end = get_range(h.doc, e)
    max_gap = get_int(e, "max_gap") if "max_gap" in e else None
    if max_gap is not None and max_gap < 0:
        raise EditError(f"max_gap must be 0 or more, got {max_gap}")
    for patch in preview_refine(h.doc, start, end, max_gap):
        h.write(patch.hand, patch.frames, patch.values)
