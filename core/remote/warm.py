"""Warm models: backends kept loaded between the server's jobs.

Loading ViDiHand's full configuration (2.3 B parameters) takes far longer than a short job, so
`vidihand serve` keeps built backends in a long-lived worker instead of a fresh process per job:

- `BackendCache`: built backends by (backend, options, model hash), least recently used first
  out, within a byte budget (by default 80% of the GPU's memory, or half the RAM without one).
  Only backends that say they can be reused (`reusable = True`: the ViDiHand model, whose
  `reconstruct` keeps no state between calls) are kept; the others are built per job.
- `WarmWorker`: one long-lived child process holding a BackendCache and running jobs one at a
  time (core.worker.process.run_job). A crash or an out-of-memory kill fails that job only; the
  next job starts a new process (its models are loaded again).

Every load, reuse and eviction is reported as a `WarmEvent`, so the server can say which models
are resident, how often each was loaded, and how long a job waited for its model.
"""

from __future__ import annotations

import json
import logging
import multiprocessing as mp
import queue as queue_mod
import signal
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from core.errors import CheckpointError, ReconstructorError
from core.remote.models import BUILD_LOCK, HASHER
from core.worker.messages import Done, Error, Message, is_final

if TYPE_CHECKING:
    from core.worker.process import JobSpec

log = logging.getLogger("vidihand.remote")

Factory = Callable[[str, dict[str, Any]], Any]


@dataclass
class WarmEvent(Message):
    """A backend was loaded, reused from memory or evicted (server-side only)."""

    kind: ClassVar[str] = "warm"
    event: str = ""  #: loaded | reused | evicted
    backend: str = ""
    checkpoint: str = ""  #: the server's path of the model, "" for other backends
    seconds: float = 0.0  #: time spent loading ("loaded")
    nbytes: int = 0  #: memory the backend holds


def default_budget() -> int:
    """Bytes of models to keep: 80% of the GPU's memory, else half the machine's RAM."""
    try:
        import torch

        if torch.cuda.is_available():
            return int(0.8 * torch.cuda.get_device_properties(0).total_memory)
    except ImportError:
        pass
    import psutil

    return int(0.5 * psutil.virtual_memory().total)


def _default_factory(name: str, options: dict[str, Any]) -> Any:
    from core.recon.registry import create_backend

    return create_backend(name, **options)


class _Borrowed:
    """A cached backend lent to one job: `close()` leaves it loaded for the next."""

    def __init__(self, backend: Any) -> None:
        self._backend = backend

    def __getattr__(self, name: str) -> Any:
        return getattr(self._backend, name)

    def close(self) -> None:
        pass


class BackendCache:
    """Built backends kept between jobs (least recently used first out). Not thread-safe: one
    per worker."""

    def __init__(
        self,
        budget: int | None = None,
        factory: Factory = _default_factory,
        emit: Callable[[Message], None] | None = None,
    ) -> None:
        self._budget = budget  #: None: default_budget(), asked when first needed (it may
        #: initialise CUDA, which the server process itself should not do for nothing)
        self.factory = factory
        self.emit = emit or (lambda m: None)
        self.items: OrderedDict[str, tuple[Any, int, str]] = (
            OrderedDict()
        )  # key -> (b, bytes, ckpt)

    @property
    def budget(self) -> int:
        if self._budget is None:
            self._budget = default_budget()
        return int(self._budget)

    def get(self, name: str, options: dict[str, Any], expect: str | None = None) -> Any:
        """A backend for `name` with `options`; `expect`: the model's content hash the job was
        started with (a model that changed on disk is refused, never silently used)."""
        key = json.dumps([name, options, expect], sort_keys=True, default=str)
        ckpt = str(options.get("checkpoint", "") or "")
        if key in self.items:
            self.items.move_to_end(key)
            backend, nbytes, _ = self.items[key]
            self.emit(WarmEvent(event="reused", backend=name, checkpoint=ckpt, nbytes=nbytes))
            return _Borrowed(backend)
        same = [k for k, v in self.items.items() if v[2] == ckpt and ckpt]
        for k in same:  # an older content of the same model folder: never used again
            self._evict(k)
        self._make_room(_estimate(options))
        t0 = time.perf_counter()
        with BUILD_LOCK:
            backend = self.factory(name, options)
        seconds = time.perf_counter() - t0
        if expect is not None and ckpt:
            now = HASHER.checkpoint(Path(ckpt))
            if now != expect:
                backend.close()
                raise CheckpointError(
                    f"the model changed while it was being loaded (content {expect[:12]} -> "
                    f"{now[:12]}).",
                    hint="Start the run again: it will use the model now on the server.",
                )
        nbytes = int(getattr(backend, "memory_bytes", lambda: 0)())
        self.emit(
            WarmEvent(event="loaded", backend=name, checkpoint=ckpt, seconds=seconds, nbytes=nbytes)
        )
        if not getattr(backend, "reusable", False):
            return backend  # built per job, closed by the job
        self._make_room(nbytes)
        self.items[key] = (backend, nbytes, ckpt)
        return _Borrowed(backend)

    def _make_room(self, nbytes: int) -> None:
        while self.items and sum(v[1] for v in self.items.values()) + nbytes > self.budget:
            self._evict(next(iter(self.items)))

    def _evict(self, key: str) -> None:
        backend, nbytes, ckpt = self.items.pop(key)
        try:
            backend.close()
        finally:
            self.emit(WarmEvent(event="evicted", checkpoint=ckpt, nbytes=nbytes))
            _free_gpu_memory()

    def close(self) -> None:
        while self.items:
            self._evict(next(iter(self.items)))


def _estimate(options: dict[str, Any]) -> int:
    """Bytes a model will take before it is loaded: its weights files (an upper bound for
    bfloat16 inference of float32 files)."""
    total = 0
    for key in ("checkpoint", "base_weights"):
        folder = options.get(key)
        if isinstance(folder, str) and Path(folder).is_dir():
            total += sum(f.stat().st_size for f in Path(folder).rglob("*.safetensors"))
    return total


def _free_gpu_memory() -> None:
    import gc
    import sys

    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


# ----------------------------------------------------------------------- the child process
def _lend(cache: BackendCache, expect: str | None, name: str, **options: Any) -> Any:
    return cache.get(name, options, expect)


def _warm_main(inbox: Any, outbox: Any, cancel: Any, budget: int | None) -> None:
    from core.worker.process import _exit_with_parent, _terminate, run_job

    _exit_with_parent()
    signal.signal(signal.SIGTERM, _terminate)
    cache = BackendCache(budget, emit=outbox.put)
    try:
        while (command := inbox.get()) is not None:
            op, spec, expect = command
            if op == "run":
                run_job(spec, outbox.put, cancel, create=partial(_lend, cache, expect))
            else:  # preload
                try:
                    cache.get(spec.backend, spec.options, expect).close()
                    outbox.put(Done(job_id=spec.job_id))
                except Exception as exc:  # noqa: BLE001 - reported to the server's log
                    outbox.put(Error(job_id=spec.job_id, title="preload", message=str(exc)))
    finally:
        cache.close()
        outbox.close()
        outbox.join_thread()


class WarmWorker:
    """The parent side of one long-lived worker process (started on first use)."""

    def __init__(
        self, budget: int | None = None, on_event: Callable[[WarmEvent], None] | None = None
    ) -> None:
        self.budget = budget
        self.on_event = on_event or (lambda e: None)
        self._ctx = mp.get_context("spawn")
        self._proc: Any = None
        self._lock = threading.Lock()

    def _ensure(self) -> None:
        if self._proc is not None and self._proc.is_alive():
            return
        self._inbox = self._ctx.Queue()
        self._outbox = self._ctx.Queue()
        self._cancel = self._ctx.Event()
        self._proc = self._ctx.Process(
            target=_warm_main,
            args=(self._inbox, self._outbox, self._cancel, self.budget),
            name="vidihand-warm-worker",
            daemon=True,
        )
        self._proc.start()

    def run(
        self,
        spec: JobSpec,
        expect: str | None,
        on_message: Callable[[Message], None],
        cancelled: Callable[[], bool],
        stopping: Callable[[], bool],
    ) -> Message | None:
        """Run one job (core.worker.process.JobSpec); messages other than WarmEvents go to
        `on_message`. Returns the final message, or None when `stopping` cut it short."""
        with self._lock:
            return self._run("run", spec, expect, on_message, cancelled, stopping)

    def preload(self, spec: JobSpec, expect: str | None = None) -> str:
        """Load a backend into the worker; '' when done, else the reason it failed."""
        with self._lock:
            final = self._run("preload", spec, expect, lambda m: None, lambda: False, lambda: False)
        return getattr(final, "message", "") or ""

    def _run(
        self,
        op: str,
        spec: JobSpec,
        expect: str | None,
        on_message: Callable[[Message], None],
        cancelled: Callable[[], bool],
        stopping: Callable[[], bool],
    ) -> Message | None:
        self._ensure()
        self._cancel.clear()
        self._inbox.put((op, spec, expect))
        finished = False
        try:
            while True:
                if stopping():
                    return None
                if cancelled():
                    self._cancel.set()
                try:
                    msg = self._outbox.get(timeout=0.2)
                except queue_mod.Empty:
                    if not self._proc.is_alive():
                        raise self._crashed() from None
                    continue
                if isinstance(msg, WarmEvent):
                    self.on_event(msg)
                    continue
                if msg.job_id != spec.job_id:
                    continue  # cannot happen: a job that was cut short kills the worker
                if is_final(msg):
                    finished = True
                    if op == "run":
                        on_message(msg)
                    return msg
                on_message(msg)
        finally:
            if not finished:  # cut short (shutdown, a failure while storing): start afresh
                self.kill()

    def _crashed(self) -> ReconstructorError:
        code = self._proc.exitcode
        self._proc = None
        return ReconstructorError(
            f"the reconstruction worker process stopped unexpectedly (exit code {code}); "
            "the models it held are unloaded.",
            hint="This often means the machine ran out of memory or the backend crashed in "
            "native code. The next job starts a new worker.",
        )

    def kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.is_alive():
            proc.terminate()
            proc.join(5.0)
            if proc.is_alive():
                proc.kill()
                proc.join(1.0)

    def close(self) -> None:
        proc = self._proc
        if proc is not None and proc.is_alive():
            try:
                self._inbox.put(None)
                proc.join(5.0)
            except (OSError, ValueError):
                pass
        self.kill()
