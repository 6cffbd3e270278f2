"""The hand model edits use now lives in `core.hands.model` (below `core.io`, which needs it
for imports, and `core.edits`); this name stays for scripts written against it."""

from core.hands.model import (
    HandModel,
    ManoEditModel,
    hand_model,
    reset_hand_model,
    use_hand_model,
)

__all__ = ["HandModel", "ManoEditModel", "hand_model", "reset_hand_model", "use_hand_model"]
