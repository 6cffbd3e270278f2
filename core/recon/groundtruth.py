"""A backend that replays a label file as predictions.

For tests and demos of everything downstream of a reconstructor (the app, the remote worker,
batch runs) with exact, known answers: reconstructing the project's own sample video with
`--backend groundtruth --backend-option labels=sample_gt.h5` must give back its ground truth.
By default it decodes the frames it replays, so progress and timing behave like a real backend.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import ReconstructorError
from core.io.labels_h5 import check_matches, load_labels
from core.labels.document import MANO_FIELDS, FrameBatch
from core.recon.base import CancelToken, Reconstructor, meta_for
from core.video.reader import VideoSource


class GroundTruthReconstructor(Reconstructor):
    """Replays the hands of `labels` (a schema-v1 file) for the frames asked for."""

    name = "groundtruth"

    def __init__(
        self,
        labels: str | os.PathLike[str] | None = None,
        *,
        decode: bool | str = True,
        batch_size: int = 16,
    ) -> None:
        if labels is None:
            raise ReconstructorError(
                "The groundtruth backend needs a label file to replay.",
                hint="Pass it as --backend-option labels=PATH.h5.",
            )
        self.path = Path(labels)
        self.doc = load_labels(self.path)
        self.decode = (
            decode if isinstance(decode, bool) else str(decode).lower() in ("1", "true", "yes")
        )
        self.batch_size = max(1, int(batch_size))
        self.version = (
            f"replay of {self.path.name} ({self.doc.meta.video_sha256[:12] or 'no hash'})"
        )

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "labels": str(self.path)}

    def intrinsics(self) -> np.ndarray:
        """The replayed file's K: used when the user gives no --intrinsics."""
        return self.doc.K.copy()

    def reconstruct(
        self,
        video: VideoSource,
        frames: range,
        K: np.ndarray,
        cancel: CancelToken | None = None,
    ) -> Iterator[FrameBatch]:
        # frame count and size must agree; the hash is checked by whoever opened the video
        check_matches(self.doc, meta_for(video), path=self.path)
        if self.decode and len(frames):
            indices: Iterator[int] = (
                i
                for i, _ in video.iter_frames(frames.start, frames[-1] + 1)
                if (i - frames.start) % frames.step == 0
            )
        else:
            indices = iter(frames)
        chunk: list[int] = []
        for i in indices:
            chunk.append(i)
            if len(chunk) >= self.batch_size:
                yield self._batch(chunk)
                chunk = []
                if cancel is not None and cancel.cancelled:
                    return
        if chunk:
            yield self._batch(chunk)

    def _batch(self, frames: list[int]) -> FrameBatch:
        idx = np.asarray(frames, np.int64)
        left, right = self.doc.hands

        def both(name: str) -> np.ndarray:
            return np.stack([getattr(left, name)[idx], getattr(right, name)[idx]], axis=1)

        return FrameBatch(
            frames=idx,
            present=both("present"),
            confidence=both("confidence"),
            joints_3d=both("joints_3d"),
            joints_2d=both("joints_2d"),
            **{name: both(name) for name in MANO_FIELDS},
        )
