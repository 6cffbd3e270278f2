"""The scipy-backed rotation helpers keep the contract of the closed forms they replaced: NaN
rows pass through, empty batches work, the shorter arc is taken."""

from __future__ import annotations

import numpy as np

from core.hands.rotations import (
    axis_angle_to_matrix,
    axis_angle_to_quat,
    matrix_to_axis_angle,
    quat_to_axis_angle,
    quat_wxyz_to_matrix,
    slerp_rotvec,
)


def test_known_values_nan_rows_and_empty_batches():
    r = np.array([[0.0, 0.0, np.pi / 2], [np.nan, 0.0, 0.0], [0.0, 0.0, 0.0]])
    m = axis_angle_to_matrix(r)
    np.testing.assert_allclose(m[0], [[0, -1, 0], [1, 0, 0], [0, 0, 1]], atol=1e-15)
    assert np.isnan(m[1]).all() and np.array_equal(m[2], np.eye(3))
    back = matrix_to_axis_angle(m)
    np.testing.assert_allclose(back[[0, 2]], r[[0, 2]], atol=1e-15)
    assert np.isnan(back[1]).all()
    np.testing.assert_allclose(axis_angle_to_quat(r[0]), [np.sqrt(0.5), 0, 0, np.sqrt(0.5)])
    np.testing.assert_allclose(quat_to_axis_angle([-2.0, 0, 0, 0]), [0, 0, 0], atol=1e-15)
    assert np.isnan(quat_to_axis_angle([0.0, 0, 0, 0])).all()  # no rotation: unknown
    np.testing.assert_allclose(quat_wxyz_to_matrix([2.0, 0, 0, 0]), np.eye(3))
    for fn, shape in ((axis_angle_to_matrix, (0, 3)), (matrix_to_axis_angle, (0, 5, 3, 3))):
        assert fn(np.zeros(shape)).shape[0] == 0
    assert slerp_rotvec(np.zeros((4, 3)), np.zeros((4, 3)), np.zeros((0, 1))).shape == (0, 4, 3)


def test_slerp_takes_the_shorter_arc():
    a0 = np.array([0.0, 0.0, 0.0])
    a1 = np.array([0.0, 0.0, 1.5 * np.pi])  # the same as -pi/2: the short way is backwards
    mid = slerp_rotvec(a0, a1, np.array([0.0, 0.5, 1.0]))
    np.testing.assert_allclose(mid[1], [0, 0, -np.pi / 4], atol=1e-12)
    np.testing.assert_allclose(axis_angle_to_matrix(mid[2]), axis_angle_to_matrix(a1), atol=1e-12)
    assert np.isnan(slerp_rotvec(a0, np.full(3, np.nan), 0.5)).all()
