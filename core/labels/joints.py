"""Hand conventions shared by every part of the product.

Joint order is the 21-joint wrist-first order used by OpenPose, MediaPipe, DexYCB and FreiHAND:
wrist, then thumb, index, middle, ring, little, each from base to tip. Handedness index:
left = 0, right = 1. Camera frame: OpenCV (x right, y down, z forward), metres. Pixel
coordinates: (0, 0) is the *centre* of the top-left pixel.
"""

from __future__ import annotations

LEFT = 0
RIGHT = 1
HAND_NAMES: tuple[str, str] = ("left", "right")
#: the hands' colours everywhere (app, renderer, report): left light blue, right orange
HAND_COLORS_HEX: tuple[str, str] = ("#4fc3f7", "#ff8a50")
HAND_COLORS_RGB: tuple[tuple[int, int, int], tuple[int, int, int]] = (
    (79, 195, 247),
    (255, 138, 80),
)

N_JOINTS = 21

JOINT_NAMES: tuple[str, ...] = (
    "wrist",
    "thumb_cmc", "thumb_mcp", "thumb_ip", "thumb_tip",
    "index_mcp", "index_pip", "index_dip", "index_tip",
    "middle_mcp", "middle_pip", "middle_dip", "middle_tip",
    "ring_mcp", "ring_pip", "ring_dip", "ring_tip",
    "little_mcp", "little_pip", "little_dip", "little_tip",
)  # fmt: skip

FINGER_NAMES: tuple[str, ...] = ("thumb", "index", "middle", "ring", "little")

#: Joint indices per finger, base to tip (the wrist is not included).
FINGERS: tuple[tuple[int, int, int, int], ...] = tuple(
    (1 + 4 * f, 2 + 4 * f, 3 + 4 * f, 4 + 4 * f) for f in range(5)
)

#: Parent of each joint in the kinematic tree (-1 for the wrist).
PARENTS: tuple[int, ...] = (-1,) + tuple(0 if j % 4 == 1 else j - 1 for j in range(1, N_JOINTS))

#: Bones as (parent, child) pairs, 20 of them.
BONES: tuple[tuple[int, int], ...] = tuple((PARENTS[j], j) for j in range(1, N_JOINTS))

FINGERTIPS: tuple[int, ...] = (4, 8, 12, 16, 20)
WRIST = 0
MIDDLE_MCP = 9

#: MANO's own 16-joint order (wrist, index, middle, little, ring, thumb; 3 each) mapped to the
#: 21-joint order above. Fingertips are taken from MANO vertices (see MANO_TIP_VERTICES).
MANO16_TO_21: tuple[int, ...] = (0, 5, 6, 7, 9, 10, 11, 17, 18, 19, 13, 14, 15, 1, 2, 3)
#: MANO vertex ids of the fingertips, in the 21-joint finger order (thumb, index, middle, ring,
#: little).
MANO_TIP_VERTICES: tuple[int, ...] = (744, 320, 443, 554, 671)


def hand_index(hand: int | str) -> int:
    """Return 0 for left and 1 for right, accepting either an index or a name."""
    if isinstance(hand, str):
        try:
            return HAND_NAMES.index(hand.lower())
        except ValueError:
            raise ValueError(f"unknown hand {hand!r}: use 'left' or 'right'") from None
    if hand not in (LEFT, RIGHT):
        raise ValueError(f"unknown hand index {hand!r}: use 0 (left) or 1 (right)")
    return int(hand)
