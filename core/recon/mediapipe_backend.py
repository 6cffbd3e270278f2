"""The default CPU backend: MediaPipe Hands (tracking mode), lifted to metric camera space.

Uses the hand models bundled in the mediapipe 0.10.14 wheel through `mediapipe.solutions.hands`
(nothing is downloaded). Frames are decoded sequentially on a background thread while MediaPipe
works (core/recon/prefetch.py). Every call to `reconstruct` starts a fresh tracker, so a run that
starts in the middle of a video restarts tracking there.

Handedness: MediaPipe labels hands as if the image were mirrored (selfie view). Label files hold
non-mirrored handedness, so its "Left" is our right and its "Right" our left (`mirrored=True`
keeps MediaPipe's labels, for selfie video that was flipped before recording). Checked on real
frames: on demo3.mp4 (a person facing the camera, palms out) the hand MediaPipe calls "Left" is
on the image's left with its thumb pointing to the image centre, i.e. the person's right hand,
and the 3D landmarks have right-hand chirality (tests/core/test_recon_mediapipe.py checks both).
"""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
from array import array
from collections.abc import Iterator
from typing import Any

import numpy as np

from core.errors import ReconstructorError
from core.labels.document import FrameBatch
from core.labels.joints import LEFT, N_JOINTS, RIGHT
from core.recon.base import CancelToken, Reconstructor
from core.recon.lifting import lift_hand, normalized_to_pixels
from core.recon.prefetch import prefetch
from core.video.reader import VideoSource

# MediaPipe's C++ side logs start-up chatter to stderr and its protobuf use warns on every
# graph; neither is actionable for users.
os.environ.setdefault("GLOG_minloglevel", "2")
warnings.filterwarnings("ignore", message=r"SymbolDatabase\.GetPrototype\(\) is deprecated")


@contextlib.contextmanager
def _native_stderr_silenced() -> Iterator[None]:
    """Send file descriptor 2 to /dev/null for a moment: MediaPipe's C++ side prints start-up
    chatter ("Created TensorFlow Lite XNNPACK delegate", absl's "All log messages before
    absl::InitializeLog()", feedback-manager warnings) straight to fd 2 when a graph starts and
    on its first frame, and GLOG_minloglevel does not reach absl. VIDIHAND_MEDIAPIPE_LOGS=1
    keeps them (debugging)."""
    if os.environ.get("VIDIHAND_MEDIAPIPE_LOGS"):
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


#: a hand seen within this many frames is used to tell two same-labelled detections apart
_HISTORY_FRAMES = 15


class MediaPipeReconstructor(Reconstructor):
    """MediaPipe Hands on the CPU, both hands, lifted to metres in the OpenCV camera frame."""

    name = "mediapipe"

    def __init__(
        self,
        *,
        model_complexity: int = 1,
        min_detection_confidence: float = 0.5,
        min_tracking_confidence: float = 0.5,
        static_image_mode: bool = False,
        mirrored: bool = False,
        snap: bool = True,
        batch_size: int = 16,
        prefetch_frames: int = 4,
    ) -> None:
        try:
            import mediapipe as mp
            from mediapipe.python.solutions import hands as mp_hands
        except ImportError as exc:  # pragma: no cover - mediapipe is a pinned dependency
            raise ReconstructorError(
                f"MediaPipe cannot be imported ({exc}).",
                hint="Install the pinned set: pip install -r requirements.lock",
            ) from exc
        if model_complexity not in (0, 1):
            raise ReconstructorError(
                f"model_complexity must be 0 (lite) or 1 (full), got {model_complexity!r}."
            )
        self._mp_hands = mp_hands
        self.options = {
            "static_image_mode": bool(static_image_mode),
            "max_num_hands": 2,
            "model_complexity": int(model_complexity),
            "min_detection_confidence": float(min_detection_confidence),
            "min_tracking_confidence": float(min_tracking_confidence),
        }
        self.mirrored = bool(mirrored)
        self.snap = bool(snap)
        self.batch_size = max(1, int(batch_size))
        self.prefetch_frames = int(prefetch_frames)
        mode = "image" if static_image_mode else "tracking"
        self.version = f"{mp.__version__} (hands, complexity {model_complexity}, {mode})"
        #: RMS (px) of the rigid 3D-to-2D fit of every lifted hand of the last run (4 bytes a
        #: hand and frame: a diagnostic that must not grow memory on long videos)
        self.fit_rms: array[float] = array("f")

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            **self.options,
            "mirrored": self.mirrored,
            "snap": self.snap,
        }

    # ------------------------------------------------------------------------- running
    def reconstruct(
        self,
        video: VideoSource,
        frames: range,
        K: np.ndarray,
        cancel: CancelToken | None = None,
    ) -> Iterator[FrameBatch]:
        if len(frames) == 0:
            return
        if frames.step < 1:
            raise ReconstructorError(f"frames must run forward, got step {frames.step}.")
        K = np.asarray(K, dtype=np.float64).reshape(3, 3)
        width, height = video.info.width, video.info.height
        self.fit_rms = array("f")
        tracker = HandTracker(self.mirrored)
        stream = prefetch(
            video.iter_frames(frames.start, frames[-1] + 1), depth=self.prefetch_frames
        )
        # a fresh graph per run: tracking restarts at the range's first frame
        # the graph's threads print their chatter from its creation to its first frame
        silenced = contextlib.ExitStack()
        silenced.enter_context(_native_stderr_silenced())
        try:
            graph = self._mp_hands.Hands(**self.options)
        except BaseException:
            silenced.close()
            raise
        quiet: contextlib.ExitStack | None = silenced
        with graph as hands:
            try:
                batch_frames: list[int] = []
                rows: list[list[tuple[int, float, np.ndarray, np.ndarray]]] = []
                for index, image in stream:
                    if (index - frames.start) % frames.step:
                        continue
                    result = hands.process(image)
                    if quiet is not None:
                        quiet.close()
                        quiet = None
                    detections = tracker.assign(index, _detections(result, width, height))
                    lifted = []
                    for hand, score, uv, world in detections:
                        lift = lift_hand(world, uv, K, snap=self.snap)
                        self.fit_rms.append(lift.rms_px)
                        lifted.append((hand, score, lift.joints_3d, lift.joints_2d))
                    batch_frames.append(index)
                    rows.append(lifted)
                    if len(batch_frames) >= self.batch_size:
                        yield _to_batch(batch_frames, rows)
                        batch_frames, rows = [], []
                        if cancel is not None and cancel.cancelled:
                            return
                if batch_frames:
                    yield _to_batch(batch_frames, rows)
            finally:
                if quiet is not None:
                    quiet.close()
                stream.close()


# ------------------------------------------------------------------------------ helpers
def _detections(
    result: Any, width: int, height: int
) -> list[tuple[str, float, np.ndarray, np.ndarray]]:
    """(mediapipe label, score, uv pixels (21, 2), world metres (21, 3)) per detected hand."""
    if not result.multi_hand_landmarks:
        return []
    out = []
    for lm, wl, hd in zip(
        result.multi_hand_landmarks,
        result.multi_hand_world_landmarks,
        result.multi_handedness,
        strict=False,
    ):
        cls = hd.classification[0]
        xy = np.array([(p.x, p.y) for p in lm.landmark], dtype=np.float64)
        world = np.array([(p.x, p.y, p.z) for p in wl.landmark], dtype=np.float64)
        if xy.shape != (N_JOINTS, 2) or world.shape != (N_JOINTS, 3):
            continue
        out.append((cls.label, float(cls.score), normalized_to_pixels(xy, width, height), world))
    return out


class HandTracker:
    """Turns MediaPipe's per-frame detections into (hand index, score, uv, world) per hand.

    - Handedness labels are un-mirrored (see the module docstring).
    - Two detections of the same hand (overlapping landmarks) keep the more confident one.
    - Two detections with the same label (MediaPipe sometimes calls both hands "Left") are told
      apart by continuity with where each hand was in recent frames, else by score.
    """

    def __init__(self, mirrored: bool = False) -> None:
        self.mirrored = mirrored
        self._last: dict[int, tuple[int, np.ndarray]] = {}  # hand -> (frame, uv)

    def hand_of(self, label: str) -> int:
        is_left = label.lower().startswith("l")
        if not self.mirrored:
            is_left = not is_left
        return LEFT if is_left else RIGHT

    def assign(
        self, frame: int, detections: list[tuple[str, float, np.ndarray, np.ndarray]]
    ) -> list[tuple[int, float, np.ndarray, np.ndarray]]:
        dets = sorted(detections, key=lambda d: -d[1])
        if len(dets) == 2 and _same_hand(dets[0][2], dets[1][2]):
            dets = dets[:1]
        hands = [self.hand_of(d[0]) for d in dets]
        if len(dets) == 2 and hands[0] == hands[1]:
            hands = self._resolve(frame, dets[0][2], dets[1][2], hands[0])
        out = []
        for h, (_, score, uv, world) in zip(hands, dets[:2], strict=False):
            self._last[h] = (frame, uv)
            out.append((h, score, uv, world))
        return out

    def _resolve(self, frame: int, uv_a: np.ndarray, uv_b: np.ndarray, label: int) -> list[int]:
        recent = {h: uv for h, (f, uv) in self._last.items() if 0 < frame - f <= _HISTORY_FRAMES}
        if len(recent) == 2:
            keep = _dist(uv_a, recent[LEFT]) + _dist(uv_b, recent[RIGHT])
            swap = _dist(uv_a, recent[RIGHT]) + _dist(uv_b, recent[LEFT])
            return [LEFT, RIGHT] if keep <= swap else [RIGHT, LEFT]
        # the more confident detection keeps its label
        return [label, 1 - label]


def _dist(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b, axis=1).mean())


def _same_hand(uv_a: np.ndarray, uv_b: np.ndarray) -> bool:
    size = float(np.linalg.norm(uv_a.max(0) - uv_a.min(0)))
    return _dist(uv_a, uv_b) < 0.15 * max(size, 1.0)


def _to_batch(
    frames: list[int], rows: list[list[tuple[int, float, np.ndarray, np.ndarray]]]
) -> FrameBatch:
    batch = FrameBatch.empty(np.asarray(frames, np.int64))
    for i, lifted in enumerate(rows):
        for hand, score, j3, j2 in lifted:
            batch.present[i, hand] = True
            batch.confidence[i, hand] = score
            batch.joints_3d[i, hand] = j3
            batch.joints_2d[i, hand] = j2
    return batch
