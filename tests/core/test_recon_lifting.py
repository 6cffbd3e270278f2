"""Lifting a metric hand-centred shape to the camera frame (core/recon/lifting.py)."""

from __future__ import annotations

import numpy as np
import pytest

from core.labels.document import default_intrinsics, intrinsics_from_values
from core.recon.lifting import chirality, lift_hand, normalized_to_pixels, solve_translation


def _hand_shape(seed: int = 0) -> np.ndarray:
    """A right hand-sized point set (metres) centred on the origin, fingers curled a little."""
    rng = np.random.default_rng(seed)
    pts = [[0.0, 0.05, 0.0]]
    for f, x in enumerate((0.035, 0.02, 0.0, -0.018, -0.034)):
        for k in range(4):
            pts.append([x * (1 + 0.1 * k), 0.01 - 0.025 * k - 0.005 * f, 0.004 * k])
    return np.asarray(pts) + rng.normal(0, 0.002, (21, 3))


def _project(p: np.ndarray, K: np.ndarray) -> np.ndarray:
    return np.stack(
        [
            K[0, 0] * p[:, 0] / p[:, 2] + K[0, 1] * p[:, 1] / p[:, 2] + K[0, 2],
            K[1, 1] * p[:, 1] / p[:, 2] + K[1, 2],
        ],
        1,
    )


@pytest.mark.parametrize(
    "K",
    [default_intrinsics(1280, 720), intrinsics_from_values(600, 640, 300.5, 250.0)],
    ids=["default", "custom"],
)
def test_exact_translation_is_recovered(K: np.ndarray) -> None:
    shape = _hand_shape()
    for t in ([0.1, -0.05, 0.6], [-0.3, 0.2, 1.5], [0.0, 0.0, 0.25]):
        uv = _project(shape + t, K)
        np.testing.assert_allclose(solve_translation(shape, uv, K), t, atol=1e-6)
        rigid = lift_hand(shape, uv, K, snap=False)
        assert rigid.rms_px < 1e-4
        np.testing.assert_allclose(rigid.joints_3d, shape + t, atol=1e-5)


def test_noisy_detection_snaps_onto_2d_and_keeps_scale() -> None:
    K = default_intrinsics(1280, 720)
    shape = _hand_shape()
    t = np.array([0.05, 0.02, 0.7])
    rng = np.random.default_rng(1)
    uv = _project(shape + t, K) + rng.normal(0, 4.0, (21, 2))  # a detector a few pixels off
    lifted = lift_hand(shape, uv, K)
    assert 2.0 < lifted.rms_px < 8.0
    np.testing.assert_allclose(lifted.translation, t, atol=0.03)
    # snapped: exact projection onto the detection
    np.testing.assert_allclose(_project(lifted.joints_3d.astype(np.float64), K), uv, atol=1e-3)
    np.testing.assert_allclose(lifted.joints_2d, uv, atol=1e-3)
    # metric scale survives: wrist to middle knuckle within a few percent of the shape's
    ref = np.linalg.norm(shape[9] - shape[0])
    got = np.linalg.norm(lifted.joints_3d[9] - lifted.joints_3d[0])
    assert abs(got / ref - 1) < 0.05


def test_shape_is_kept_in_front_of_the_camera() -> None:
    K = default_intrinsics(640, 480)
    shape = _hand_shape()
    uv = np.full((21, 2), 320.0)  # degenerate: every joint on one pixel
    lifted = lift_hand(shape, uv, K)
    assert (lifted.joints_3d[:, 2] > 0).all()


def test_normalized_to_pixels_uses_pixel_centres() -> None:
    uv = normalized_to_pixels(np.array([[0.0, 0.0], [1.0, 1.0], [0.5, 0.5]]), 640, 480)
    np.testing.assert_allclose(uv, [[-0.5, -0.5], [639.5, 479.5], [319.5, 239.5]])


def test_chirality_sign_and_mirror() -> None:
    right = _hand_shape()
    # curl fingertips towards the palm normal of a right hand
    n = np.cross(right[5] - right[0], right[17] - right[0])
    n /= np.linalg.norm(n)
    right[[8, 12, 16, 20]] += 0.04 * n
    mirrored = right * np.array([-1.0, 1.0, 1.0])  # a mirror image is the other hand
    assert chirality(right) > 0.01
    assert chirality(mirrored) < -0.01
    both = chirality(np.stack([right, mirrored]))
    assert both.shape == (2,) and both[0] == pytest.approx(-both[1])
