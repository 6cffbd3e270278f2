"""Hand models: the project's own skeleton and simple mesh (always available), and MANO from
the user's own model files (core.hands.mano), with caching and fitting.

`edit_model()` is what core.edits asks for: the MANO model from the configured folder, or a
ManoModelError saying how to add MANO when there is none.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.hands.mano import ManoModel


def edit_model(folder: str | None = None) -> ManoModel:
    """The MANO model edits use (joints from parameters, fitting after a joint is moved)."""
    from core.hands.mano import ManoModel

    return ManoModel(folder)
