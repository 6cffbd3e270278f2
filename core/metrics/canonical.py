"""The canonical hand of the penalty protocol: what a missed hand is scored as.

The paper scores a hand that the ground truth has and the prediction misses as "a canonical hand
at the camera origin". Its exact joints are not published, so ours is defined here and written
into every evaluation JSON (see `CANONICAL_DEFINITION`):

- 3D: the project's default hand shape (core.hands.skeleton.HandShape.default: an adult hand,
  18.9 cm wrist to middle fingertip; MANO's mean shape cannot be shipped) at zero pose (straight
  fingers, zero abduction, no rotation: fingers point down the image along +y, palm towards the
  camera), with the wrist (root) at the camera origin (0, 0, 0). Left hand: the mirror image.
- Global orientation: the identity rotation (axis-angle 0).
- 2D: a point at the camera origin has no image, so all 21 joints are placed at the principal
  point (cx, cy) of K: where the optical axis meets the image.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from core.hands.skeleton import hand_joints
from core.labels.joints import LEFT, N_JOINTS, RIGHT

CANONICAL_DEFINITION = (
    "A missed hand (ground truth present, prediction absent) is scored as the canonical hand: "
    "the project's default hand shape (core.hands.skeleton.HandShape.default) at zero pose "
    "(straight fingers, identity rotation) with its wrist at the camera origin (0, 0, 0) m; "
    "left hand mirrored. Its global orientation is the identity; its 2D joints are all at the "
    "principal point (cx, cy) of K."
)


@cache
def _canonical(side: int) -> np.ndarray:
    joints = hand_joints(np.zeros(3), np.zeros(3), np.zeros((5, 4)), side=side)
    joints.setflags(write=False)
    return joints


def canonical_joints(side: int) -> np.ndarray:
    """(21, 3) float64 joints of the canonical hand for side LEFT (0) or RIGHT (1), metres."""
    if side not in (LEFT, RIGHT):
        raise ValueError(f"side must be 0 (left) or 1 (right), got {side!r}")
    out = _canonical(side)
    assert out.shape == (N_JOINTS, 3)
    return out


def canonical_joints_2d(K: np.ndarray) -> np.ndarray:
    """(21, 2) 2D joints of the canonical hand: all at the principal point of K."""
    K = np.asarray(K, dtype=np.float64)
    return np.tile(np.array([K[0, 2], K[1, 2]]), (N_JOINTS, 1))


CANONICAL_ORIENT = np.zeros(3)
