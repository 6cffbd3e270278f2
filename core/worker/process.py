"""Run a reconstruction in a separate process and stream typed messages back.

Why a process, not a thread: MediaPipe and torch hold the GIL in long stretches and may crash
in native code; in a child process neither freezes nor kills the GUI. The child opens the video
itself (file handles and decoders do not cross processes), creates the backend by name, and puts
`core.worker.messages` on a queue. Cancel is a shared Event, checked between batches.

    worker = LocalWorker(JobSpec(video_path="clip.mp4", backend="mediapipe"))
    worker.start()
    while True:
        for msg in worker.poll(timeout=0.1):
            ...                       # Started, Progress, Batch, Done / Cancelled / Error
        if worker.finished:
            break

`run_job` is the process-independent part (open, create, loop, report); a remote server can
call it with its own `emit`.
"""

from __future__ import annotations

import multiprocessing as mp
import queue as queue_mod
import signal
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.worker.messages import (
    Batch,
    Cancelled,
    Done,
    Error,
    Message,
    Progress,
    Started,
    is_final,
)

#: seconds the parent waits for messages still in the pipe after the child exited
_DRAIN_AFTER_EXIT_S = 0.5


@dataclass
class JobSpec:
    """What to reconstruct: everything the child needs, picklable and path-based."""

    video_path: str
    backend: str = "mediapipe"
    options: dict[str, Any] = field(default_factory=dict)  #: backend options (checkpoint ...)
    start: int = 0
    stop: int | None = None  #: exclusive; None = to the end
    K: np.ndarray | None = None  #: 3x3 intrinsics; None = the documented default
    job_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    #: refine the run's frames at the end (core/recon/refine, with the video), as `vidihand
    #: reconstruct` does; the caller resolves the backend's default (stage.refines_by_default)
    refine: bool = False
    #: the app document's frames the refinement must agree with (stage.worker_context)
    refine_context: list[dict[str, np.ndarray]] | None = None


def run_job(
    spec: JobSpec,
    emit: Callable[[Message], None],
    cancel: Any | None = None,
    create: Callable[..., Any] | None = None,
) -> Message:
    """Run one job, reporting through `emit`; returns (and emits) the final message.

    `cancel` is anything with `is_set()` (threading or multiprocessing Event). `create(name,
    **options)` builds the backend (default: the registry; a server's warm worker lends a
    loaded one). Never raises: every failure becomes an `Error` message with a readable
    title, message and hint.
    """
    from core.errors import CancelledError, VidihandError
    from core.labels.document import default_intrinsics
    from core.recon.base import CancelToken, stream_reconstruction
    from core.recon.registry import create_backend
    from core.video.reader import open_video

    t0 = time.perf_counter()
    done = 0
    total = 0
    video = backend = None
    token = CancelToken(cancel)
    final: Message
    try:
        video = open_video(spec.video_path)
        n = video.info.n_frames
        stop = n if spec.stop is None else min(int(spec.stop), n)
        start = max(0, int(spec.start))
        if start >= stop:
            raise VidihandError(
                f"Frame range {start}:{stop} selects nothing in a {n}-frame video.",
                hint="Choose a start frame before the end frame.",
            )
        frames = range(start, stop)
        total = len(frames)
        K = default_intrinsics(video.info.width, video.info.height) if spec.K is None else spec.K
        backend = (create or create_backend)(spec.backend, **spec.options)
        _forward_backend_events(backend, emit, spec.job_id)
        emit(
            Started(
                job_id=spec.job_id,
                backend=backend.name,
                backend_version=backend.version,
                total=total,
                start=start,
                stop=stop,
            )
        )
        refining = _refinement(spec, video, K, frames)
        for batch, p in stream_reconstruction(backend, video, frames, K, cancel=token):
            emit(Batch.from_frame_batch(batch, spec.job_id))
            if refining is not None:
                refining.add(batch)
            done = p.done
            emit(Progress(job_id=spec.job_id, done=p.done, total=p.total, fps=p.fps,
                          elapsed=p.elapsed))  # fmt: skip
        version = str(backend.version)
        if refining is not None and not token.cancelled:
            _refine(refining, backend.name, version, video, token, emit, spec.job_id)
        elapsed = time.perf_counter() - t0
        if token.cancelled and done < total:
            final = Cancelled(
                job_id=spec.job_id, done=done, total=total, elapsed=elapsed, backend_version=version
            )
        else:
            final = Done(
                job_id=spec.job_id, done=done, total=total, elapsed=elapsed, backend_version=version
            )
    except CancelledError:
        final = Cancelled(
            job_id=spec.job_id, done=done, total=total, elapsed=time.perf_counter() - t0
        )
    except VidihandError as exc:
        final = Error(
            job_id=spec.job_id,
            title=exc.title,
            message=exc.message,
            hint=exc.hint or "",
            traceback=traceback.format_exc(),
            error_type=type(exc).__name__,
            done=done,
        )
    except Exception as exc:  # noqa: BLE001 - a worker reports every failure, never dies mute
        final = Error(
            job_id=spec.job_id,
            title="Reconstruction failed",
            message=f"The {spec.backend} backend failed after {done} frames: "
            f"{type(exc).__name__}: {exc}",
            hint="The frames finished before the failure were kept. Details are below; "
            "report them with the video if the problem repeats.",
            traceback=traceback.format_exc(),
            error_type=type(exc).__name__,
            done=done,
        )
    finally:
        for res in (backend, video):
            if res is not None:
                try:
                    res.close()
                except Exception:  # noqa: BLE001 - closing must not hide the real outcome
                    pass
    emit(final)
    return final


def _refinement(spec: JobSpec, video: Any, K: np.ndarray, frames: range) -> Any:
    if not spec.refine:
        return None
    from core.recon.base import meta_for
    from core.recon.refine.stage import WorkerRefinement

    return WorkerRefinement(meta_for(video), K, frames, spec.refine_context)


def _refine(refining: Any, backend: str, version: str, video: Any, token: Any,
            emit: Callable[[Message], None], job_id: str) -> None:  # fmt: skip
    """The refinement stage after the run (the app's default, like `vidihand reconstruct`);
    cancel stops it between chunks of the fit, leaving the raw frames sent."""
    from core.errors import CancelledError
    from core.worker.messages import Refined

    def check(_done: int, _total: int) -> None:
        if token.cancelled:
            raise CancelledError("refinement cancelled")

    plan = refining.run(backend, version, video, on_progress=check)
    for arrays, provenance in refining.chunks(plan):
        emit(Refined(job_id=job_id, arrays=arrays, provenance=provenance))


def _forward_backend_events(backend: Any, emit: Callable[[Message], None], job_id: str) -> None:
    """A backend with an unset `on_message` hook (the remote one) reports the state of its link
    (core.remote.backend.ConnectionState) through the job's messages. Started and Progress are
    left out: run_job sends its own."""
    if getattr(backend, "on_message", False) is not None:
        return

    def forward(message: Message) -> None:
        if not isinstance(message, Started | Progress):
            message.job_id = job_id
            emit(message)

    backend.on_message = forward


def _terminate(signum: int, _frame: Any) -> None:
    """SIGTERM from LocalWorker.kill: unwind, so the backend's close() runs (a remote job's SSH
    tunnel process must not outlive the worker)."""
    raise SystemExit(128 + signum)


def _exit_with_parent() -> None:
    """Stop this child when its parent dies (a crashed GUI must not leave a worker behind,
    blocked forever on a full queue)."""
    import os
    import threading
    from multiprocessing.connection import wait

    parent = mp.parent_process()
    if parent is None:
        return

    def watch() -> None:
        wait([parent.sentinel])
        os._exit(3)

    threading.Thread(target=watch, name="vidihand-parent-watch", daemon=True).start()


def _child_main(spec: JobSpec, out: Any, cancel: Any) -> None:
    """Entry point of the child process."""
    _exit_with_parent()
    signal.signal(signal.SIGTERM, _terminate)
    try:
        run_job(spec, out.put, cancel)
    finally:
        out.close()
        out.join_thread()  # flush every message into the pipe before the process exits


class LocalWorker:
    """One reconstruction job in a child process ('spawn': no state inherited from the GUI)."""

    def __init__(self, spec: JobSpec) -> None:
        self.spec = spec
        self._ctx = mp.get_context("spawn")
        self._queue: Any = None
        self._cancel: Any = None
        self._proc: Any = None
        self._final: Message | None = None
        self._exited_at: float | None = None

    @property
    def job_id(self) -> str:
        return self.spec.job_id

    def start(self) -> None:
        self._queue = self._ctx.Queue()
        self._cancel = self._ctx.Event()
        self._proc = self._ctx.Process(
            target=_child_main,
            args=(self.spec, self._queue, self._cancel),
            name=f"vidihand-recon-{self.spec.job_id}",
            daemon=True,
        )
        self._proc.start()

    def cancel(self) -> None:
        """Ask the job to stop after its current batch (frames finished so far are sent)."""
        if self._cancel is not None:
            self._cancel.set()

    def kill(self) -> None:
        """Stop the child now (window closing); no final message will follow."""
        if self._proc is not None and self._proc.is_alive():
            self._proc.terminate()
            self._proc.join(2.0)
            if self._proc.is_alive():
                self._proc.kill()
                self._proc.join(1.0)
        if self._final is None:
            self._final = Cancelled(job_id=self.job_id)

    @property
    def finished(self) -> bool:
        """True once a final message (Done, Cancelled, Error) was handed out by `poll`."""
        return self._final is not None

    @property
    def final(self) -> Message | None:
        return self._final

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    def poll(self, timeout: float = 0.0, max_messages: int = 1000) -> list[Message]:
        """Messages that arrived since the last call (waits up to `timeout` for the first).

        A child that died without a final message (crash, killed, out of memory) yields an
        `Error` saying so: a crash is reported, never silent.
        """
        if self._proc is None or self._final is not None:
            return []
        out: list[Message] = []
        block = timeout > 0
        while len(out) < max_messages:
            try:
                msg = self._queue.get(timeout=timeout) if block else self._queue.get_nowait()
            except queue_mod.Empty:
                break
            except (EOFError, OSError):
                break
            block = False
            out.append(msg)
            if is_final(msg):
                self._final = msg
                self._proc.join(5.0)
                return out
        if not out and not self._proc.is_alive():
            # messages may still sit in the pipe for a moment after the exit
            now = time.monotonic()
            if self._exited_at is None:
                self._exited_at = now
                return self.poll(timeout=_DRAIN_AFTER_EXIT_S, max_messages=max_messages)
            code = self._proc.exitcode
            self._final = Error(
                job_id=self.job_id,
                title="Reconstruction process crashed",
                message=f"The reconstruction process stopped unexpectedly (exit code {code}) "
                "before finishing.",
                hint="Frames finished before the crash were kept. This often means the machine "
                "ran out of memory or the backend crashed in native code; try a shorter range.",
                error_type="WorkerCrash",
            )
            out.append(self._final)
        return out

    def join(self, timeout: float | None = None) -> None:
        if self._proc is not None:
            self._proc.join(timeout)
