"""The project's own kinematic hand model: 21 joints from a few readable angles.

Used where MANO is not available (the sample video, tests, a simple mesh in the 3D view) and as
a light-weight pose space for synthetic motion. It is not MANO: its parameters are per-finger
angles, not MANO's 15 axis-angle joint rotations.

Hand frame (right hand): origin at the wrist, +y distal (wrist towards the middle knuckle),
+z dorsal (out of the back of the hand), +x = y x z (towards the little finger). The left hand
is the mirror image (hand-frame x negated), so the same angles give mirrored poses.

Pose parameters, batched over any leading axes (frames, hands):
- `rot` (..., 3): axis-angle rotation hand frame -> camera frame (OpenCV, metres). With
  rot = 0 the fingers point down the image (+y) and the palm faces the camera.
- `transl` (..., 3): wrist position in the camera frame (metres).
- `fingers` (..., 5, 4): per finger (thumb, index, middle, ring, little) the abduction (about the
  finger's dorsal axis; positive turns the finger towards the thumb side) and three flexion
  angles (base, middle, end joint; positive bends towards the palm), radians.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from core.hands.rotations import axis_angle_to_matrix, normalize, rotate_about_axis
from core.labels.joints import BONES, LEFT, N_JOINTS, RIGHT

N_FINGERS = 5
N_FINGER_PARAMS = 4  # abduction, flexion x 3


def _unit(*v: float) -> np.ndarray:
    a = np.asarray(v, dtype=np.float64)
    return a / np.linalg.norm(a)


@dataclass(frozen=True)
class HandShape:
    """Bone geometry of one hand in the right-hand frame (metres).

    `bases` are the first joint of each finger (thumb CMC, finger MCPs) relative to the wrist,
    `directions` each finger's rest direction, `normals` its dorsal (nail-side) direction and
    `lengths` its three bone lengths (base to tip). Defaults are an adult hand of about 18.9 cm
    (wrist to middle fingertip).
    """

    bases: np.ndarray  # (5, 3)
    directions: np.ndarray  # (5, 3)
    normals: np.ndarray  # (5, 3)
    lengths: np.ndarray  # (5, 3)

    @classmethod
    def default(cls) -> HandShape:
        bases = np.array(
            [
                [-0.022, 0.028, -0.010],  # thumb CMC
                [-0.024, 0.090, 0.000],  # index MCP
                [-0.002, 0.094, 0.000],  # middle MCP
                [0.018, 0.088, -0.002],  # ring MCP
                [0.035, 0.078, -0.005],  # little MCP
            ]
        )
        directions = np.stack(
            [
                _unit(-0.50, 0.82, -0.28),
                _unit(-0.10, 1.0, 0.0),
                _unit(0.0, 1.0, 0.0),
                _unit(0.08, 1.0, 0.0),
                _unit(0.18, 1.0, 0.0),
            ]
        )
        guesses = np.array([[-0.7, 0.0, 0.7]] + [[0.0, 0.0, 1.0]] * 4)
        normals = normalize(guesses - np.sum(guesses * directions, -1, keepdims=True) * directions)
        lengths = np.array(
            [
                [0.042, 0.031, 0.027],  # thumb: metacarpal, proximal, distal (+ pad)
                [0.040, 0.024, 0.021],
                [0.044, 0.028, 0.023],
                [0.041, 0.027, 0.023],
                [0.033, 0.020, 0.020],
            ]
        )
        return cls(bases, directions, normals, lengths)

    def scaled(self, factor: float) -> HandShape:
        """The same hand, uniformly `factor` times bigger."""
        return replace(self, bases=self.bases * factor, lengths=self.lengths * factor)

    @property
    def hand_length(self) -> float:
        """Wrist to middle fingertip with straight fingers (metres)."""
        tip = self.bases[2] + self.lengths[2].sum() * self.directions[2]
        return float(np.linalg.norm(tip))


#: Per finger, (low, high) limits of [abduction, flex1, flex2, flex3] (radians). Loose, anatomical.
FINGER_LIMITS: np.ndarray = np.deg2rad(
    np.array(
        [
            [[-25, 35], [-20, 60], [-10, 60], [-15, 80]],  # thumb
            [[-20, 20], [-15, 90], [0, 110], [0, 80]],
            [[-15, 15], [-15, 90], [0, 110], [0, 80]],
            [[-15, 15], [-15, 90], [0, 110], [0, 80]],
            [[-25, 20], [-15, 90], [0, 110], [0, 80]],
        ],
        dtype=np.float64,
    )
)

#: A relaxed hand: fingers slightly curled, thumb a little towards the palm.
RELAXED_FINGERS: np.ndarray = np.deg2rad(
    np.array(
        [
            [5, 10, 10, 10],
            [3, 15, 20, 10],
            [0, 15, 20, 10],
            [-3, 15, 20, 10],
            [-6, 15, 20, 10],
        ],
        dtype=np.float64,
    )
)


def clamp_fingers(fingers: np.ndarray) -> np.ndarray:
    """Clip finger angles (..., 5, 4) to FINGER_LIMITS."""
    return np.clip(fingers, FINGER_LIMITS[..., 0], FINGER_LIMITS[..., 1])


def local_joints(fingers: np.ndarray, shape: HandShape | None = None) -> np.ndarray:
    """21 joints (..., 21, 3) in the right-hand frame for finger angles (..., 5, 4)."""
    shape = shape or HandShape.default()
    fingers = np.asarray(fingers, dtype=np.float64)
    lead = fingers.shape[:-2]
    d0 = np.broadcast_to(shape.directions, (*lead, N_FINGERS, 3))
    n = np.broadcast_to(shape.normals, (*lead, N_FINGERS, 3))
    d_abd = rotate_about_axis(d0, n, fingers[..., 0])
    flex_axis = normalize(np.cross(n, d_abd))
    cum = np.cumsum(fingers[..., 1:], axis=-1)  # (..., 5, 3)
    seg = rotate_about_axis(d_abd[..., None, :], flex_axis[..., None, :], cum)  # (..., 5, 3, 3)
    chain = shape.bases[:, None, :] + np.cumsum(shape.lengths[..., None] * seg, axis=-2)
    joints = np.zeros((*lead, N_JOINTS, 3))
    per_finger = np.concatenate(
        [np.broadcast_to(shape.bases, (*lead, N_FINGERS, 3))[..., None, :], chain], axis=-2
    )  # (..., 5, 4, 3)
    joints[..., 1:, :] = per_finger.reshape(*lead, N_FINGERS * 4, 3)
    return joints


def hand_joints(
    rot: np.ndarray,
    transl: np.ndarray,
    fingers: np.ndarray,
    side: int = RIGHT,
    shape: HandShape | None = None,
) -> np.ndarray:
    """21 joints (..., 21, 3) in the camera frame (metres), in the label joint order.

    `side` is LEFT (0) or RIGHT (1); the left hand is the mirror of the right in its hand frame.
    """
    local = local_joints(fingers, shape)
    if side == LEFT:
        local = local * np.array([-1.0, 1.0, 1.0])
    elif side != RIGHT:
        raise ValueError(f"side must be LEFT (0) or RIGHT (1), got {side!r}")
    R = axis_angle_to_matrix(np.asarray(rot, dtype=np.float64))
    t = np.asarray(transl, dtype=np.float64)
    return np.einsum("...ij,...kj->...ki", R, local) + t[..., None, :]


def bone_lengths(joints: np.ndarray) -> np.ndarray:
    """(..., 20) lengths of the 20 bones in label order (BONES)."""
    parents = np.array([p for p, _ in BONES])
    children = np.array([c for _, c in BONES])
    return np.linalg.norm(joints[..., children, :] - joints[..., parents, :], axis=-1)
