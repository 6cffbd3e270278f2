"""Runs queued jobs on the server: a fixed number of worker threads, each running one backend.

A job runs from the frame after its last finished batch, so a job resumed after a restart or a
re-queued cancelled job never recomputes a finished frame. `frames_computed` counts every frame a
backend produced for the job; tests compare it with the job's length to prove no recomputation.
Before a job (re)starts, `verify` checks that what decides its frames (the model's content,
versions, server options) is what the job was started with: frames of two models never mix.

Each worker thread keeps its backends warm between jobs (core/remote/warm.py): in a long-lived
child process (`isolation="process"`) or in the thread itself (`"thread"`).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import traceback
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import CancelledError, ReconstructorError, VidihandError
from core.labels.document import FrameBatch
from core.recon.base import Reconstructor, stream_reconstruction
from core.remote.jobs import FINAL_STATES, Job, JobError, JobStore
from core.remote.protocol import ProtocolError
from core.remote.warm import BackendCache, WarmEvent, WarmWorker
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
        verify: Callable[[Job], str | None] = lambda job: None,
        model_budget: int | None = None,
        on_event: Callable[[WarmEvent], None] = lambda e: None,
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
        #: raises VidihandError when the job's model or backend changed since it started;
        #: returns the model's content hash (or None) for the worker to check what it loads
        self.verify = verify
        self.on_event = on_event
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._queued: set[str] = set()
        self._lock = threading.Lock()
        self._current: dict[int, Job] = {}  #: worker index -> the job it runs
        self._threads = [
            threading.Thread(target=self._work, args=(i,), name=f"vidihand-job-{i}", daemon=True)
            for i in range(max_jobs)
        ]
        self._warm = [
            WarmWorker(model_budget, partial(self._event, i)) for i in range(max_jobs)
        ]  # isolation "process": one long-lived worker process per thread
        self._caches = [
            BackendCache(model_budget, self._factory, partial(self._event, i))
            for i in range(max_jobs)
        ]  # isolation "thread"

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
        for w in self._warm:
            w.close()
        for c in self._caches:
            c.close()

    def preload(self, backend: str, options: dict[str, Any], expect: str | None = None) -> str:
        """Load a backend into every worker now (`vidihand serve --preload`); '' when done,
        else why not."""
        from core.worker.process import JobSpec as WorkerSpec

        for i in range(self.max_jobs):
            if self.isolation == "process":
                spec = WorkerSpec(video_path="", backend=backend, options=options, job_id="preload")
                why = self._warm[i].preload(spec, expect)
            else:
                try:
                    self._caches[i].get(backend, options, expect).close()
                    why = ""
                except Exception as exc:  # noqa: BLE001 - reported by the caller
                    why = str(exc)
            if why:
                return why
        return ""

    def _factory(self, name: str, options: dict[str, Any]) -> Reconstructor:
        return self.backend_factory(name, options)

    def _event(self, index: int, event: WarmEvent) -> None:
        """A load / reuse / eviction in worker `index`: timing of its job, then the server."""
        job = self._current.get(index)
        if job is not None and event.event in ("loaded", "reused"):
            with job.cond:
                job.timing["model_load_s"] = round(event.seconds, 4)
                job.timing["warm"] = event.event == "reused"
        self.on_event(event)

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
    def _work(self, index: int) -> None:
        while True:
            job = self._queue.get()
            if job is None or self.store.shutdown.is_set():
                return
            try:
                if job.state == "queued" and not job.cancel.cancelled:
                    self._current[index] = job
                    self._run(job, index)
            except Exception:  # never let one job kill the worker thread
                log.exception("job %s crashed", job.id)
            finally:
                self._current.pop(index, None)
                with self._lock:
                    self._queued.discard(job.id)

    def _run(self, job: Job, index: int = 0) -> None:
        spec = job.spec
        with job.cond:
            job.timing = {"started": time.time()}
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
            # options first: a job spec naming a path is refused before anything is looked at
            options = self.resolve_options(spec.backend, spec.options)
            expect = self.verify(job)
            K = np.asarray(spec.K, dtype=np.float64).reshape(3, 3)
            frames = range(job.next_frame, spec.stop)
            if len(frames):
                if self.isolation == "process":
                    self._run_in_process(job, path, options, frames, K, expect, index)
                else:
                    self._run_in_thread(job, path, options, frames, K, expect, index)
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
            if "first_frame_s" not in job.timing and "started" in job.timing:
                job.timing["first_frame_s"] = round(time.time() - job.timing["started"], 4)
        job.append(batch)
        job.save_state()
        if self.test_batch_delay:
            self.store.shutdown.wait(self.test_batch_delay)

    def _run_in_thread(
        self,
        job: Job,
        path: Path,
        options: dict[str, Any],
        frames: range,
        K: np.ndarray,
        expect: str | None = None,
        index: int = 0,
    ) -> None:
        from core.video.reader import open_video

        backend = self._caches[index].get(job.spec.backend, options, expect)
        job.backend_version = str(getattr(backend, "version", ""))
        with open_video(path) as video:
            try:
                for batch, _progress in stream_reconstruction(
                    backend, video, frames, K, cancel=job.cancel
                ):
                    self._keep(job, batch)
            finally:
                backend.close()  # a cached backend stays loaded (warm.py)

    def _run_in_process(
        self,
        job: Job,
        path: Path,
        options: dict[str, Any],
        frames: range,
        K: np.ndarray,
        expect: str | None = None,
        index: int = 0,
    ) -> None:
        """The backend in the thread's long-lived worker process (warm.py): a crash in native
        code or an out-of-memory kill fails the job, not the server, CPU jobs do not share a
        GIL, and a loaded model stays loaded for the next job."""
        from core.worker.process import JobSpec as WorkerSpec

        def on_message(msg: object) -> None:
            if isinstance(msg, Started):
                job.backend_version = msg.backend_version
            elif isinstance(msg, Batch):
                self._keep(job, msg.to_frame_batch())
            elif isinstance(msg, Error):
                err = ReconstructorError(msg.message, hint=msg.hint or None)
                err.title = msg.title or err.title
                raise err

        spec = WorkerSpec(
            video_path=str(path),
            backend=job.spec.backend,
            options=options,
            start=frames.start,
            stop=frames.stop,
            K=K,
            job_id=job.id,
        )
        self._warm[index].run(
            spec,
            expect,
            on_message,
            cancelled=lambda: job.cancel.cancelled,
            stopping=self.store.shutdown.is_set,
        )

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """For tests: True once no job is queued or running."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if all(j.state in FINAL_STATES for j in self.store.all()):
                return True
            time.sleep(0.05)
        return False
