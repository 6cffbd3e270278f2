"""The project's kinematic hand model: lengths, mirroring, batching, rotations."""

from __future__ import annotations

import numpy as np

from core.hands.rotations import axis_angle_to_matrix, matrix_to_axis_angle
from core.hands.skeleton import (
    FINGER_LIMITS,
    RELAXED_FINGERS,
    HandShape,
    bone_lengths,
    clamp_fingers,
    hand_joints,
)
from core.labels.joints import FINGERS, LEFT, MIDDLE_MCP, RIGHT, WRIST


def _random_fingers(rng: np.random.Generator, n: int) -> np.ndarray:
    lo, hi = FINGER_LIMITS[..., 0], FINGER_LIMITS[..., 1]
    return lo + (hi - lo) * rng.random((n, 5, 4))


def test_default_hand_is_adult_sized() -> None:
    shape = HandShape.default()
    assert 0.18 <= shape.hand_length <= 0.195
    j = hand_joints(np.zeros(3), np.zeros(3), np.zeros((5, 4)))
    # straight fingers: wrist to middle tip is the hand length
    assert np.isclose(np.linalg.norm(j[12] - j[0]), shape.hand_length)
    assert np.isclose(np.linalg.norm(j[MIDDLE_MCP] - j[WRIST]), 0.094, atol=1e-3)


def test_bone_lengths_constant_under_any_pose() -> None:
    rng = np.random.default_rng(1)
    rot = rng.normal(size=(50, 3))
    transl = rng.normal(size=(50, 3))
    for side in (LEFT, RIGHT):
        j = hand_joints(rot, transl, _random_fingers(rng, 50), side=side)
        lengths = bone_lengths(j)
        assert np.allclose(lengths, lengths[0], atol=1e-9)
        # finger bones are exactly the shape's lengths
        finger_bones = lengths[0].reshape(5, 4)[:, 1:]
        assert np.allclose(finger_bones, HandShape.default().lengths)


def test_left_hand_mirrors_right() -> None:
    rng = np.random.default_rng(2)
    fingers = _random_fingers(rng, 10)
    right = hand_joints(np.zeros((10, 3)), np.zeros((10, 3)), fingers, side=RIGHT)
    left = hand_joints(np.zeros((10, 3)), np.zeros((10, 3)), fingers, side=LEFT)
    assert np.allclose(left * [-1, 1, 1], right)
    # right hand, palm facing the camera, fingers down the image: thumb on the image's left
    assert right[0, 4, 0] < right[0, 20, 0]


def test_rotation_and_translation_are_rigid() -> None:
    rng = np.random.default_rng(3)
    fingers = _random_fingers(rng, 1)[0]
    rot = np.array([0.3, -1.2, 0.5])
    t = np.array([0.1, -0.05, 0.6])
    base = hand_joints(np.zeros(3), np.zeros(3), fingers)
    moved = hand_joints(rot, t, fingers)
    assert np.allclose(moved, base @ axis_angle_to_matrix(rot).T + t)
    assert np.allclose(moved[WRIST], t)


def test_batched_equals_per_frame() -> None:
    rng = np.random.default_rng(4)
    rot, t, fingers = (
        rng.normal(size=(4, 2, 3)),
        rng.normal(size=(4, 2, 3)),
        _random_fingers(rng, 8),
    )
    fingers = fingers.reshape(4, 2, 5, 4)
    batched = hand_joints(rot, t, fingers)
    assert batched.shape == (4, 2, 21, 3)
    for a in range(4):
        for b in range(2):
            assert np.allclose(batched[a, b], hand_joints(rot[a, b], t[a, b], fingers[a, b]))


def test_flexion_bends_towards_the_palm() -> None:
    straight = hand_joints(np.zeros(3), np.zeros(3), np.zeros((5, 4)))
    fist = hand_joints(np.zeros(3), np.zeros(3), np.deg2rad(np.tile([0, 80, 90, 60], (5, 1))))
    # palm faces the camera (-z) at rot = 0: curled fingertips come towards the camera
    for f in FINGERS[1:]:
        assert fist[f[3], 2] < straight[f[3], 2] - 0.02
        assert np.linalg.norm(fist[f[3]] - fist[0]) < np.linalg.norm(straight[f[3]] - straight[0])


def test_clamp_and_relaxed_within_limits() -> None:
    assert np.array_equal(clamp_fingers(RELAXED_FINGERS), RELAXED_FINGERS)
    big = np.full((5, 4), 10.0)
    assert np.allclose(clamp_fingers(big), FINGER_LIMITS[..., 1])


def test_axis_angle_round_trip() -> None:
    rng = np.random.default_rng(5)
    axes = rng.normal(size=(200, 3))
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    angles = rng.uniform(0, np.pi, 200)
    angles[:3] = [0.0, 1e-8, np.pi - 1e-6]
    rv = axes * angles[:, None]
    back = matrix_to_axis_angle(axis_angle_to_matrix(rv))
    assert np.allclose(axis_angle_to_matrix(back), axis_angle_to_matrix(rv), atol=1e-6)
    R = axis_angle_to_matrix(rv)
    assert np.allclose(R @ np.swapaxes(R, -1, -2), np.eye(3), atol=1e-12)
