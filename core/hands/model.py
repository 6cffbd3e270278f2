"""The hand model edits and imports use to keep joints and MANO parameters consistent.

Edits need two things from a MANO model: joints from parameters (after a rotation edit or an
interpolation) and parameters from joints (a refit after a joint is dragged). Both come from
`core.hands` (MANO through smplx from the user's model files, and the batched fit) when the user
has MANO files; without them edits fall back to documented rules (docs/edits-format.md): MANO
fields of joint-edited frames become NaN, and joints follow the skeleton's kinematics.

The app (or a test) may set the model explicitly with `use_hand_model`; otherwise the first call
of `hand_model()` asks `core.hands` once.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np


class HandModel(Protocol):
    """What the edits need from a MANO model. Arrays are batched over frames (N, ...)."""

    def joints(self, hand: int, params: dict[str, np.ndarray]) -> np.ndarray:
        """(N, 21, 3) joints in label order for MANO fields global_orient, hand_pose, betas,
        transl (axis-angle, flat_hand_mean=False)."""
        ...

    def fit(
        self, hand: int, joints: np.ndarray, init: dict[str, np.ndarray] | None
    ) -> dict[str, np.ndarray]:
        """MANO fields (N, ...) whose joints best match `joints` (N, 21, 3), starting from `init`
        (the frame's current parameters; NaN rows mean unknown)."""
        ...


_UNSET = object()
_model: object = _UNSET


def use_hand_model(model: HandModel | None) -> None:
    """Set the model edits use (None: no MANO, use the fallbacks)."""
    global _model
    _model = model


def hand_model() -> HandModel | None:
    """The configured model, looked up in core.hands on first use (None when unavailable)."""
    global _model
    if _model is _UNSET:
        _model = _from_core_hands()
    return _model  # type: ignore[return-value]


class ManoEditModel:
    """`core.hands` MANO (smplx, the user's files) adapted to what the edits need.

    A refit after a joint edit keeps the frame's betas when they are known (the track's shape
    does not change because one joint moved) and fits them otherwise.
    """

    def __init__(self, model: Any) -> None:
        self.model = model  # core.hands.mano.ManoModel

    def joints(self, hand: int, params: dict[str, np.ndarray]) -> np.ndarray:
        return np.asarray(self.model.joints(hand, params), np.float64)

    def fit(
        self, hand: int, joints: np.ndarray, init: dict[str, np.ndarray] | None
    ) -> dict[str, np.ndarray]:
        from core.hands.fit import fit_mano

        betas_known = init is not None and bool(np.isfinite(init.get("betas", np.nan)).all())
        return fit_mano(self.model, hand, joints, init=init, fit_betas=not betas_known).params


def _from_core_hands() -> HandModel | None:
    """MANO from the user's configured files (core.hands.edit_model); None when there are none."""
    try:
        from core.hands import edit_model
        from core.hands.mano import ManoModelError
    except ImportError:
        return None
    try:
        return ManoEditModel(edit_model())
    except ManoModelError:  # no MANO folder or files: edits use the documented fallbacks
        return None


def reset_hand_model() -> None:
    """Look the model up again on next use (after the MANO folder setting changed)."""
    global _model
    _model = _UNSET
