"""Runs queued jobs on the server: a fixed number of worker threads, each running one backend.

A job runs from the frame after its last finished batch, so a job resumed after a restart or a
re-queued cancelled job never recomputes a finished frame. `frames_computed` counts every frame a
backend produced for the job; tests compare it with the job's length to prove no recomputation.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import CancelledError, ReconstructorError, VidihandError
from core.labels.document import FrameBatch
from core.recon.base import Reconstructor, stream_reconstruction
from core.remote.jobs import FINAL_STATES, Job, JobError, JobStore
from core.remote.protocol import ProtocolError
from core.worker.messages import Batch, Error, Started

log = logging.getLogger("vidihand.remote")

BackendFactory = Callable[[str, dict[str, Any]], Reconstructor]


def default_backend_factory(name: str, options: dict[str, Any]) -> Reconstructor:
    from core.recon.registry import create_backend

    return create_backend(name, **options)


class JobRunner:
    """`max_jobs` worker threads taking jobs from a bounded queue."""

    def __init__(
        self,
        store: JobStore,
        video_path: Callable[[str], Path | None],
        *,
        readable: Callable[[str], str] = lambda text: text,
        max_jobs: int = 1,
        max_queued: int = 32,
        backend_factory: BackendFactory = default_backend_factory,
        resolve_options: Callable[[str, dict[str, Any]], dict[str, Any]] = lambda b, o: o,
        test_batch_delay: float = 0.0,
        isolation: str = "process",
    ) -> None:
        self.store = store
        self.video_path = video_path
        self.readable = readable  #: puts the clients' file names in place of digests in messages
        self.max_jobs = max_jobs
        self.max_queued = max_queued
        self.backend_factory = backend_factory
        self.resolve_options = resolve_options
        #: TEST ONLY (`vidihand serve --test-batch-delay`): sleep after each batch so tests can
        #: interrupt a job in the middle. Never set in production.
        self.test_batch_delay = test_batch_delay
        if isolation not in ("process", "thread"):
            raise ValueError(f"isolation must be 'process' or 'thread', not {isolation!r}")
        #: "process": each job's backend in a child process; "thread": in the worker thread
        #: (no process start, for light backends and tests; `backend_factory` is used only here)
        self.isolation = isolation
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._queued: set[str] = set()
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._work, name=f"vidihand-job-{i}", daemon=True)
            for i in range(max_jobs)
        ]

    def start(self) -> None:
        for t in self._threads:
            t.start()
        for job in self.store.unfinished():
            log.info(
                "resuming job %s from frame %d (%d of %d done)",
                job.id,
                job.next_frame,
                job.done,
                job.spec.total,
            )
            job.set_state("queued")
            self._put(job, force=True)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the workers; running jobs stay 'running' on disk and resume at the next start."""
        self.store.shutdown.set()
        for _ in self._threads:
            self._queue.put(None)
        for t in self._threads:
            t.join(timeout)

    def submit(self, job: Job) -> None:
        """Queue a job (a new one, or a cancelled/failed one to continue it)."""
        with self._lock:
            if job.id in self._queued:
                return
        self.check_room()
        job.cancel.reset()
        job.set_state("queued", JobError())
        self._put(job, force=True)

    def check_room(self) -> None:
        """Raise `busy` when no more jobs may be queued."""
        with self._lock:
            n = len(self._queued)
        if n >= self.max_queued + self.max_jobs:
            raise ProtocolError(
                f"the server already has {n} jobs queued or running.",
                code="busy",
                hint="Wait for a job to finish (or cancel one), then start again.",
            )

    def _put(self, job: Job, force: bool = False) -> None:
        if not force:
            self.check_room()
        with self._lock:
            if job.id in self._queued:
                return
            self._queued.add(job.id)
        self._queue.put(job)

    def cancel(self, job: Job) -> None:
        job.cancel.cancel()
        with job.cond:
            queued = job.state == "queued"
        if queued:
            job.set_state("cancelled")

    # ------------------------------------------------------------------ worker
    def _work(self) -> None:
        while True:
            job = self._queue.get()
            if job is None or self.store.shutdown.is_set():
                return
            try:
                if job.state == "queued" and not job.cancel.cancelled:
                    self._run(job)
            except Exception:  # never let one job kill the worker thread
                log.exception("job %s crashed", job.id)
            finally:
                with self._lock:
                    self._queued.discard(job.id)

    def _run(self, job: Job) -> None:
        spec = job.spec
        job.set_state("running")
        log.info(
            "job %s: %s frames %d:%d from %d",
            job.id,
            spec.backend,
            spec.start,
            spec.stop,
            job.next_frame,
        )
        try:
            path = self.video_path(spec.video_sha256)
            if path is None:
                raise VidihandError(
                    "The job's video is no longer on the server.", hint="Upload it again."
                )
            options = self.resolve_options(spec.backend, spec.options)
            K = np.asarray(spec.K, dtype=np.float64).reshape(3, 3)
            frames = range(job.next_frame, spec.stop)
            if len(frames):
                if self.isolation == "process":
                    self._run_in_process(job, path, options, frames, K)
                else:
                    self._run_in_thread(job, path, options, frames, K)
        except CancelledError:
            pass
        except VidihandError as exc:
            log.warning("job %s failed: %s", job.id, exc)
            job.set_state("failed", JobError(exc.title, self.readable(exc.message), exc.hint or ""))
            return
        except Exception as exc:
            log.error("job %s failed:\n%s", job.id, traceback.format_exc())
            job.set_state(
                "failed",
                JobError(
                    "Reconstruction failed", f"{type(exc).__name__}: {exc}", "See the server's log."
                ),
            )
            return
        if job.next_frame >= spec.stop:
            job.set_state("done")
            log.info("job %s done: %d frames computed", job.id, job.frames_computed)
        elif job.cancel.by_client:
            job.set_state("cancelled")
        elif self.store.shutdown.is_set():
            pass  # stays 'running' on disk: resumed at the next start
        else:
            job.set_state(
                "failed",
                JobError("Reconstruction failed", "the backend stopped before the last frame", ""),
            )

    def _keep(self, job: Job, batch: FrameBatch) -> None:
        """Store one batch the backend produced (the only place results are counted)."""
        keep = batch.frames >= job.next_frame
        if not keep.all():  # a backend that repeats frames: keep order strict
            batch = FrameBatch(**{k: v[keep] for k, v in batch.to_dict().items()})
        with job.cond:
            job.frames_computed += len(batch)
        job.append(batch)
        job.save_state()
        if self.test_batch_delay:
            self.store.shutdown.wait(self.test_batch_delay)

    def _run_in_thread(
        self, job: Job, path: Path, options: dict[str, Any], frames: range, K: np.ndarray
    ) -> None:
        from core.video.reader import open_video

        backend = self.backend_factory(job.spec.backend, options)
        job.backend_version = str(getattr(backend, "version", ""))
        with open_video(path) as video, backend:
            for batch, _progress in stream_reconstruction(
                backend, video, frames, K, cancel=job.cancel
            ):
                self._keep(job, batch)

    def _run_in_process(
        self, job: Job, path: Path, options: dict[str, Any], frames: range, K: np.ndarray
    ) -> None:
        """The backend in a child process (core/worker/process.py): a crash in native code or
        an out-of-memory kill fails the job, not the server, and CPU jobs do not share a GIL."""
        from core.worker.process import JobSpec as WorkerSpec
        from core.worker.process import LocalWorker

        worker = LocalWorker(
            WorkerSpec(
                video_path=str(path),
                backend=job.spec.backend,
                options=options,
                start=frames.start,
                stop=frames.stop,
                K=K,
                job_id=job.id,
            )
        )
        worker.start()
        try:
            while not worker.finished:
                if self.store.shutdown.is_set():
                    return  # killed below; resumed from the last stored batch at the next start
                if job.cancel.cancelled:
                    worker.cancel()
                for msg in worker.poll(timeout=0.2):
                    if isinstance(msg, Started):
                        job.backend_version = msg.backend_version
                    elif isinstance(msg, Batch):
                        self._keep(job, msg.to_frame_batch())
                    elif isinstance(msg, Error):
                        err = ReconstructorError(msg.message, hint=msg.hint or None)
                        err.title = msg.title or err.title
                        raise err
        finally:
            worker.kill()

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """For tests: True once no job is queued or running."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if all(j.state in FINAL_STATES for j in self.store.all()):
                return True
            time.sleep(0.05)
        return False
