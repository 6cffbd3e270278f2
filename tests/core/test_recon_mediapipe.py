"""The default MediaPipe backend on real video: detection rates, metric lifting, handedness,
streaming, cancellation and range restarts. demo3.mp4 is reconstructed once per module."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.errors import CancelledError
from core.labels.document import LabelDocument, Source
from core.labels.joints import LEFT, MIDDLE_MCP, RIGHT, WRIST
from core.recon.base import CancelToken, meta_for, run_reconstruction
from core.recon.lifting import chirality
from core.recon.registry import create_backend
from core.video.reader import open_video


@pytest.fixture(scope="module")
def demo3_run(demo3: Path) -> tuple[LabelDocument, list[float]]:
    """demo3.mp4 reconstructed with the default backend and the default K (about 30 s)."""
    with open_video(demo3) as video:
        doc = LabelDocument(meta_for(video))
        backend = create_backend("mediapipe")
        with backend:
            run_reconstruction(backend, video, doc)
        return doc, list(backend.fit_rms)


def _project(j: np.ndarray, K: np.ndarray) -> np.ndarray:
    j = j.astype(np.float64)
    return np.stack(
        [K[0, 0] * j[..., 0] / j[..., 2] + K[0, 2], K[1, 1] * j[..., 1] / j[..., 2] + K[1, 2]], -1
    )


def test_detection_rates_on_demo3(demo3_run) -> None:
    doc, _ = demo3_run
    n = doc.n_frames
    counts = doc.present_counts()
    assert counts["any"] / n >= 0.95, counts
    assert counts["both"] / n >= 0.80, counts
    for track in doc.hands:
        p = track.present
        assert (track.source[p] == Source.PREDICTED).all()
        assert ((track.confidence[p] > 0) & (track.confidence[p] <= 1)).all()
        # absent frames hold NaN, never fake zeros
        assert np.isnan(track.joints_3d[~p]).all() and np.isnan(track.joints_2d[~p]).all()
        assert np.isnan(track.hand_pose).all(), "MediaPipe gives no MANO parameters"


def test_joints_3d_project_onto_joints_2d(demo3_run) -> None:
    doc, fit_rms = demo3_run
    for track in doc.hands:
        p = track.present
        uv = _project(track.joints_3d[p], doc.K)
        rms = float(np.sqrt(np.mean(np.sum((uv - track.joints_2d[p]) ** 2, -1))))
        assert rms < 2.0, rms
        assert (track.joints_3d[p][..., 2] > 0).all()
    # the rigid MediaPipe shape alone would not be within 2 px: that is why joints are snapped
    assert np.median(fit_rms) > 1.0


def test_metric_scale_is_plausible(demo3_run) -> None:
    doc, _ = demo3_run
    for track in doc.hands:
        p = track.present
        length = np.linalg.norm(track.joints_3d[p, MIDDLE_MCP] - track.joints_3d[p, WRIST], axis=1)
        assert 0.06 <= float(np.median(length)) <= 0.12, np.median(length)
        # a person an arm's length or so from the camera: depths of decimetres to metres
        assert 0.2 < float(np.median(track.joints_3d[p, WRIST, 2])) < 3.0


def test_handedness_on_demo3(demo3_run) -> None:
    """Three independent checks that left and right are not swapped (MediaPipe mirrors them).

    1. Not the same track twice: where both are present, the wrists are far apart.
    2. Image sides: demo3 shows a person facing the camera, so their right hand is on the image's
       left while the arms do not cross. They cross from about frame 225 to 315 (checked by eye:
       the right forearm then reaches in from the image's left to the right half), so the side
       test uses frames 0-199, where the wrists must be on their sides on every both-hand frame.
    3. Chirality: the 3D joints of a right hand curl towards +n, those of a left hand towards -n
       (core.recon.lifting.chirality); on frames with clearly flexed fingers it must agree with
       the label.
    """
    doc, _ = demo3_run
    left, right = doc.hands[LEFT], doc.hands[RIGHT]
    both = left.present & right.present
    gap = np.linalg.norm(left.joints_2d[both, WRIST] - right.joints_2d[both, WRIST], axis=1)
    assert np.median(gap) > 100, np.median(gap)
    early = both.copy()
    early[200:] = False
    assert early.sum() > 150
    right_is_left_of_left = right.joints_2d[early, WRIST, 0] < left.joints_2d[early, WRIST, 0]
    assert right_is_left_of_left.mean() > 0.97, right_is_left_of_left.mean()
    for hand, sign in ((RIGHT, 1.0), (LEFT, -1.0)):
        c = chirality(doc.hands[hand].joints_3d[doc.hands[hand].present])
        clear = np.abs(c) > 0.01
        assert clear.sum() > 20
        assert (np.sign(c[clear]) == sign).mean() > 0.9, (hand, (np.sign(c[clear]) == sign).mean())


def test_handedness_single_right_hand(shared_data: Path) -> None:
    """human_hand_video.mp4 shows one right hand (its reference joints are 'human_joint_right'),
    palm to the camera: it must come out as right."""
    with open_video(shared_data / "dex-retargeting" / "human_hand_video.mp4") as video:
        doc = LabelDocument(meta_for(video))
        with create_backend("mediapipe") as backend:
            run_reconstruction(backend, video, doc, range(90, 130))
    counts = doc.present_counts()
    assert counts["right"] >= 36, counts
    assert counts["left"] <= 2, counts


def test_streams_batches_and_restarts_at_range_start(demo3: Path) -> None:
    """A range in the middle of the video is covered exactly, in order, in batches of
    batch_size, with tracking starting afresh at the range's first frame."""
    with open_video(demo3) as video:
        backend = create_backend("mediapipe", batch_size=8)
        K = LabelDocument(meta_for(video)).K
        batches = list(backend.reconstruct(video, range(300, 320), K))
        again = list(backend.reconstruct(video, range(300, 320), K))
    assert [len(b) for b in batches] == [8, 8, 4]
    frames = np.concatenate([b.frames for b in batches])
    assert frames.tolist() == list(range(300, 320))
    # same start, fresh tracker: same answers
    a = np.concatenate([b.joints_3d for b in batches])
    b = np.concatenate([b.joints_3d for b in again])
    np.testing.assert_allclose(a, b, atol=1e-4)
    # a strided range: only those frames
    with open_video(demo3) as video:
        strided = list(backend.reconstruct(video, range(10, 30, 5), K))
    assert np.concatenate([b.frames for b in strided]).tolist() == [10, 15, 20, 25]


def test_cancel_stops_after_current_batch_and_keeps_results(demo3: Path) -> None:
    with open_video(demo3) as video:
        doc = LabelDocument(meta_for(video))
        backend = create_backend("mediapipe", batch_size=4)
        token = CancelToken()
        seen: list[int] = []

        def on_batch(batch):
            seen.append(len(batch))
            token.cancel()

        with pytest.raises(CancelledError, match="4 of 100"):
            run_reconstruction(backend, video, doc, range(0, 100), cancel=token, on_batch=on_batch)
        # the video is usable afterwards (the prefetch thread released it)
        assert video.frame(50).shape == (720, 1280, 3)
    assert seen == [4]
    assert (doc.hands[0].source[:4] == Source.PREDICTED).all()
    assert (doc.hands[0].source[4:] == Source.NONE).all()
