"""The reconstructor interface every backend implements, and the loop that runs one.

A backend turns frames of a video into `FrameBatch`es of two-hand results. It streams: results
come back in batches as they are computed, so the app can show them at once and a cancelled run
keeps what it finished. Backends are chosen by name (`core.recon.registry`).

    backend = create_backend("mediapipe")
    for batch in backend.reconstruct(video, frames=range(0, 100), K=K, cancel=token):
        apply_batch(doc, batch)

`stream_reconstruction` is that loop with progress and cancelling: the one loop every run uses,
local (`run_reconstruction`, which writes into a document), in a worker process
(core/worker/process.py), on a remote server (core/remote/runner.py) and in batch chunks
(core/batch/tasks.py).
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.errors import CancelledError
from core.labels.document import FrameBatch, LabelDocument, Source, VideoMeta, apply_batch
from core.video.reader import VideoSource


class CancelToken:
    """Set from any thread to ask a running reconstruction to stop after its current batch."""

    def __init__(self, event: Any | None = None) -> None:
        # any object with set() / is_set() works, e.g. a multiprocessing Event shared with a
        # worker process (core/worker/process.py)
        self._event = threading.Event() if event is None else event

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise CancelledError("Reconstruction cancelled; finished frames were kept.")


@dataclass
class Progress:
    """Where a run stands; known after every batch. The one progress type: the worker's
    `core.worker.messages.Progress` message is this plus the job's id."""

    done: int = 0  #: frames finished
    total: int = 0  #: frames asked for
    elapsed: float = 0.0  #: seconds since the start
    fps: float = 0.0  #: frames per second so far

    @classmethod
    def measure(cls, done: int, total: int, elapsed: float) -> Progress:
        return cls(done, total, elapsed, done / elapsed if elapsed > 0 else 0.0)

    @property
    def eta(self) -> float:
        """Seconds left at the current speed (inf when unknown)."""
        if self.fps <= 0:
            return float("inf")
        return (self.total - self.done) / self.fps

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 1.0


class Reconstructor(ABC):
    """A two-hand reconstructor backend."""

    #: the name it is chosen by (`--backend NAME`)
    name: str = ""
    #: written into label files with the name
    version: str = ""
    #: preferred number of frames per batch (results stream at this granularity)
    batch_size: int = 16

    @abstractmethod
    def reconstruct(
        self,
        video: VideoSource,
        frames: range,
        K: np.ndarray,
        cancel: CancelToken | None = None,
    ) -> Iterator[FrameBatch]:
        """Yield FrameBatches covering `frames` in order. Stop early when `cancel` is set."""

    def describe(self) -> dict[str, Any]:
        """Name, version and options, for metadata and the app's backend chooser."""
        return {"name": self.name, "version": self.version}

    def close(self) -> None:  # noqa: B027 - an optional hook: most backends hold nothing
        """Release models, processes or connections."""

    def __enter__(self) -> Reconstructor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def frames_range(spec: str | None, n_frames: int) -> range:
    """Parse "A:B" (B exclusive, either side optional, negative from the end) into a range."""
    if not spec:
        return range(n_frames)
    try:
        a, _, b = spec.partition(":")
        start = int(a) if a.strip() else 0
        stop = int(b) if b.strip() else n_frames
    except ValueError:
        raise ValueError(f"frames must look like A:B (e.g. 0:300), got {spec!r}") from None
    if start < 0:
        start += n_frames
    if stop < 0:
        stop += n_frames
    start, stop = max(0, start), min(n_frames, stop)
    if start >= stop:
        raise ValueError(f"frames {spec!r} select nothing in a {n_frames}-frame video")
    return range(start, stop)


def stream_reconstruction(
    backend: Reconstructor,
    video: VideoSource,
    frames: range,
    K: np.ndarray,
    *,
    cancel: CancelToken | None = None,
) -> Iterator[tuple[FrameBatch, Progress]]:
    """Run `backend` over `frames`: yield each batch with where the run stands after it.

    The one loop that runs a reconstructor. When `cancel` is set it stops after the batch in
    progress (that batch is still yielded: finished frames are never dropped).
    """
    t0 = time.perf_counter()
    done = 0
    for batch in backend.reconstruct(video, frames, np.asarray(K, np.float64), cancel):
        done += len(batch)
        yield batch, Progress.measure(done, len(frames), time.perf_counter() - t0)
        if cancel is not None and cancel.cancelled:
            break


def run_reconstruction(
    backend: Reconstructor,
    video: VideoSource,
    doc: LabelDocument,
    frames: range | None = None,
    *,
    cancel: CancelToken | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    on_batch: Callable[[FrameBatch], None] | None = None,
    keep_edited: bool = True,
) -> Progress:
    """Run `backend` over `frames`, writing each batch into `doc` as it arrives.

    Returns the final Progress. On cancel, stops after the current batch and raises
    CancelledError; everything finished so far is already in `doc`.
    """
    frames = range(doc.n_frames) if frames is None else frames
    doc.set_backend(backend.name, backend.version)
    progress = Progress(0, len(frames))
    for batch, progress in stream_reconstruction(backend, video, frames, doc.K, cancel=cancel):
        apply_batch(doc, batch, source=Source.PREDICTED, keep_edited=keep_edited)
        if on_batch is not None:
            on_batch(batch)
        if on_progress is not None:
            on_progress(progress)
    # read again: a remote backend learns the server's version while it runs
    doc.set_backend(backend.name, backend.version)
    if cancel is not None and cancel.cancelled and progress.done < progress.total:
        raise CancelledError(
            f"Reconstruction cancelled after {progress.done} of {progress.total} frames; those "
            "frames were kept."
        )
    return progress


def meta_for(video: VideoSource, sha256: str = "") -> VideoMeta:
    """Label metadata for an opened video."""
    info = video.info
    return VideoMeta(
        n_frames=info.n_frames,
        fps=info.fps,
        width=info.width,
        height=info.height,
        video_sha256=sha256,
        video_path=info.path,
    )
