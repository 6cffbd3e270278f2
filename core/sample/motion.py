"""The known, smooth two-hand motion of the project's sample video.

Egocentric-looking: both hands come up from the bottom of the frame about half a metre from the
camera, backs mostly towards the camera, turning, opening and closing. The left hand dips partly
out of the bottom of the frame early on and the right hand leaves the frame to the right and
comes back later, so presence is tested too. Everything is a sum of smooth functions of time
whose phases depend on the seed: deterministic for a seed, different between seeds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.hands.rotations import axis_angle_to_matrix, matrix_to_axis_angle
from core.hands.skeleton import HandShape, clamp_fingers, hand_joints
from core.labels.joints import LEFT, RIGHT


@dataclass
class SampleMotion:
    """Per frame and hand (left, right) pose of the project's skeleton model."""

    rot: np.ndarray  # (T, 2, 3) axis-angle, hand frame -> camera
    transl: np.ndarray  # (T, 2, 3) wrist position, metres
    fingers: np.ndarray  # (T, 2, 5, 4) radians, see core.hands.skeleton

    @property
    def n_frames(self) -> int:
        return int(self.rot.shape[0])

    def joints(self, shape: HandShape | None = None) -> np.ndarray:
        """(T, 2, 21, 3) joints in the camera frame (metres)."""
        return np.stack(
            [
                hand_joints(
                    self.rot[:, h], self.transl[:, h], self.fingers[:, h], side=h, shape=shape
                )
                for h in (LEFT, RIGHT)
            ],
            axis=1,
        )


def _bump(t: np.ndarray, centre: float, half_width: float) -> np.ndarray:
    """Smooth 0 -> 1 -> 0 (raised cosine) over [centre - half_width, centre + half_width]."""
    x = np.clip((t - centre) / half_width, -1.0, 1.0)
    return 0.5 * (1.0 + np.cos(np.pi * x))


def _rx(a: np.ndarray) -> np.ndarray:
    return axis_angle_to_matrix(np.stack([a, 0 * a, 0 * a], -1))


def _ry(a: np.ndarray) -> np.ndarray:
    return axis_angle_to_matrix(np.stack([0 * a, a, 0 * a], -1))


def _rz(a: np.ndarray) -> np.ndarray:
    return axis_angle_to_matrix(np.stack([0 * a, 0 * a, a], -1))


def sample_motion(n_frames: int, fps: float, seed: int = 0) -> SampleMotion:
    """The sample's motion for `n_frames` frames at `fps`."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_frames) / float(fps)
    duration = max(n_frames / float(fps), 1.0)
    rot = np.zeros((n_frames, 2, 3))
    transl = np.zeros((n_frames, 2, 3))
    fingers = np.zeros((n_frames, 2, 5, 4))

    def wave(freq: float, amp: float) -> np.ndarray:
        return amp * np.sin(2 * np.pi * freq * t + rng.uniform(0, 2 * np.pi))

    # the two exits, placed relative to the clip's length
    left_dip = duration * rng.uniform(0.2, 0.3)
    right_out = duration * rng.uniform(0.6, 0.7)
    for h in (LEFT, RIGHT):
        s = -1.0 if h == LEFT else 1.0
        x = s * 0.115 + wave(0.21, 0.035) + wave(0.47, 0.012)
        y = 0.085 + wave(0.17, 0.025) + wave(0.53, 0.008)
        z = 0.52 + wave(0.13, 0.05) + wave(0.41, 0.015)
        if h == LEFT:
            y = y + 0.17 * _bump(t, left_dip, 0.45)  # down, partly out of the bottom
        else:
            x = x + 0.45 * _bump(t, right_out, 0.8)  # out of the right side and back
        transl[:, h] = np.stack([x, y, z], -1)

        roll = -s * (0.28 + wave(0.19, 0.12))  # fingers lean towards the middle
        pitch = 0.45 + wave(0.23, 0.15)  # fingers lean into the scene
        turn = s * wave(0.16, 0.7)  # show the side and some palm
        R = _rz(roll) @ _rx(-pitch) @ _rx(np.full_like(t, np.pi)) @ _ry(turn)
        rot[:, h] = matrix_to_axis_angle(R)

        # grasp signal: open (0) to a loose fist (1), open most of the time (detectors find open
        # hands far more reliably; a long fist phase made MediaPipe lose a hand for 1.5 s)
        g = (0.5 - 0.5 * np.cos(2 * np.pi * 0.3 * t + rng.uniform(0, 2 * np.pi))) ** 2.2
        for f in range(5):
            lag = 0.08 * f * s  # fingers close one after the other
            gf = np.interp(t - lag, t, g)
            own = 0.5 + 0.5 * np.sin(2 * np.pi * rng.uniform(0.4, 0.8) * t + rng.uniform(0, 6.3))
            if f == 0:
                spread = np.deg2rad(8) * (1 - gf)
                flex = np.deg2rad([10, 10, 10]) + np.outer(gf, np.deg2rad([35, 40, 50]))
            else:
                spread = np.deg2rad([0, 12, 0, -10, -18][f]) * (1.0 - gf)
                flex = (
                    np.deg2rad([5, 8, 5])
                    + np.outer(gf, np.deg2rad([65, 80, 50]))
                    + np.outer(own * (1 - gf), np.deg2rad([12, 15, 8]))
                )
            fingers[:, h, f, 0] = spread
            fingers[:, h, f, 1:] = flex
    return SampleMotion(rot=rot, transl=transl, fingers=clamp_fingers(fingers))
