"""One skeleton per hand track: a rigid palm and fixed finger bone lengths, estimated robustly.

Per-frame detectors guess the hand's size anew on every frame, and in a monocular view size and
depth trade off exactly, so a breathing hand is a jumping depth. A track gets one skeleton
instead (docs/reconstructors.md, "Refinement"):

- the **palm** (wrist, thumb base, the four knuckles) as a rigid template in the hand frame:
  every frame's palm is expressed in its own hand frame and the template is the per-coordinate
  median over the track's confident frames;
- the **finger bones** (three per finger) as the median of their lengths over the same frames;
- the template is then scaled as a whole so that its wrist-to-middle-knuckle length equals the
  track's median of that length: the size is the track's, not any one frame's.

Hand frame (the same construction for both hands, so no mirroring is needed): origin at the
wrist, x towards the middle knuckle, z dorsal (out of the back of the hand), y = z x x.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.labels.joints import FINGERS, LEFT

#: the palm's joints: wrist, thumb CMC, index, middle, ring and little MCP
PALM = (0, 1, 5, 9, 13, 17)


@dataclass(frozen=True)
class TrackSkeleton:
    """The fixed geometry of one hand track (metres, hand frame)."""

    side: int  #: LEFT (0) or RIGHT (1)
    palm: np.ndarray  #: (6, 3) PALM joints in the hand frame (wrist at the origin)
    lengths: np.ndarray  #: (5, 3) finger bone lengths, base to tip
    frames_used: int  #: how many frames it was estimated from

    @property
    def palm_length(self) -> float:
        """Wrist to middle knuckle (metres)."""
        return float(np.linalg.norm(self.palm[3]))

    def rest_frames(self) -> np.ndarray:
        """(5, 3, 3) per finger: the rest frame of its first bone in the hand frame (columns:
        along the metacarpal, lateral, dorsal)."""
        out = np.empty((5, 3, 3))
        z = np.array([0.0, 0.0, 1.0])
        for f in range(5):
            x = self.palm[1 + f] / max(np.linalg.norm(self.palm[1 + f]), 1e-9)
            zf = z - np.dot(z, x) * x
            zf /= max(np.linalg.norm(zf), 1e-9)
            out[f] = np.stack([x, np.cross(zf, x), zf], axis=1)
        return out

    def as_dict(self) -> dict[str, object]:
        return {
            "side": int(self.side),
            "palm_length_m": round(self.palm_length, 5),
            "bone_lengths_m": np.round(self.lengths, 5).tolist(),
            "frames_used": int(self.frames_used),
        }


def hand_frames(joints: np.ndarray, side: int) -> np.ndarray:
    """(..., 3, 3) rotation hand frame -> camera frame of joints (..., 21, 3) (columns x, y, z).

    x: wrist to middle knuckle; z: dorsal. The palm normal (index - wrist) x (little - wrist)
    points out of the palm of a right hand and out of the back of a left one.
    """
    j = np.asarray(joints, dtype=np.float64)
    x = j[..., 9, :] - j[..., 0, :]
    x = x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)
    n = np.cross(j[..., 5, :] - j[..., 0, :], j[..., 17, :] - j[..., 0, :])
    z = n if side == LEFT else -n
    z = z - np.sum(z * x, axis=-1, keepdims=True) * x
    z = z / np.maximum(np.linalg.norm(z, axis=-1, keepdims=True), 1e-12)
    y = np.cross(z, x)
    return np.stack([x, y, z], axis=-1)


def finger_bone_lengths(joints: np.ndarray) -> np.ndarray:
    """(..., 5, 3) bone lengths per finger, base to tip."""
    idx = np.asarray(FINGERS)  # (5, 4)
    seg = joints[..., idx[:, 1:], :] - joints[..., idx[:, :-1], :]
    return np.linalg.norm(seg, axis=-1)


def estimate_skeleton(
    joints_3d: np.ndarray, weights: np.ndarray, side: int, min_frames: int = 1
) -> TrackSkeleton | None:
    """The skeleton of a track from its frames' 3D joints (T, 21, 3), robustly.

    `weights` (T,) select and rank frames (0 = unusable, e.g. absent or NaN). The most confident
    half of the usable frames (at least `min_frames`) is used. Returns None when no frame is usable.
    """
    j = np.asarray(joints_3d, dtype=np.float64)
    w = np.where(np.isfinite(j).all(axis=(1, 2)), np.asarray(weights, np.float64), 0.0)
    usable = np.flatnonzero(w > 0)
    if usable.size < max(1, min_frames):
        return None
    if usable.size >= 8:
        usable = usable[np.argsort(-w[usable], kind="stable")[: max(8, usable.size // 2)]]
    js = j[usable]
    R = hand_frames(js, side)
    local = np.einsum("tji,tkj->tki", R, js[:, PALM, :] - js[:, :1, :])  # R^T (p - wrist)
    palm = np.median(local, axis=0)
    palm[0] = 0.0
    palm_len = float(np.median(np.linalg.norm(js[:, 9] - js[:, 0], axis=-1)))
    palm *= palm_len / max(float(np.linalg.norm(palm[3])), 1e-9)
    lengths = np.median(finger_bone_lengths(js), axis=0)
    return TrackSkeleton(side=side, palm=palm, lengths=lengths, frames_used=int(usable.size))
