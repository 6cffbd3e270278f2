"""Debounced background computations for the GUI: detectors, metrics, the report.

A `BackgroundJob` runs one function at a time on its own worker thread (a QThreadPool of one):

- `request(delay_ms)` asks for a run; requests within the delay collapse into one (typing, a
  drag or a reconstruction's batches do not start a run each), but a stream of requests does
  not postpone the run for more than `max_wait_ms`;
- `prepare()` runs in the GUI thread when the timer fires and returns the work as a
  zero-argument callable, with what it needs copied (a snapshot of the document), so the worker
  never reads data the GUI thread is changing; it returns None when there is nothing to do;
- the result (or the exception) comes back in the GUI thread through `finished(result)` /
  `failed(exc)`; a request made while a run is in flight starts one more run after it, and the
  result of a run that has been overtaken by a newer request is dropped (`stale`).

`shutdown()` waits for a run in flight and refuses new ones (the window calls it on close).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, QTimer, Signal


class _Run(QRunnable):
    def __init__(self, job: BackgroundJob, generation: int, work: Callable[[], Any]) -> None:
        super().__init__()
        self.job, self.generation, self.work = job, generation, work
        self.setAutoDelete(True)

    def run(self) -> None:
        t0 = time.perf_counter()
        try:
            result, error = self.work(), None
        except Exception as exc:  # noqa: BLE001 - handed to the GUI thread and reported there
            result, error = None, exc
        try:
            self.job._done.emit(self.generation, result, error, time.perf_counter() - t0)
        except RuntimeError:  # the job (and its window) is gone: nobody to tell
            pass


class BackgroundJob(QObject):
    """One debounced computation off the GUI thread (see the module docstring)."""

    started = Signal()
    finished = Signal(object)  #: the result of the latest request
    failed = Signal(object)  #: the exception of the latest request
    _done = Signal(int, object, object, float)

    def __init__(
        self,
        name: str,
        prepare: Callable[[], Callable[[], Any] | None],
        parent: QObject,
        *,
        max_wait_ms: int = 3000,
    ) -> None:
        super().__init__(parent)
        self.name = name
        self.max_wait_ms = max_wait_ms
        self._first_request = 0.0  #: when the oldest request not started yet came
        self._prepare = prepare
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._start)
        self._done.connect(self._on_done)
        self._generation = 0  #: bumped by every request
        self._running: int | None = None  #: generation of the run in flight
        self._pending = False  #: a request has not been started yet
        self._closed = False
        #: seconds the last finished run took (for the status line and benchmarks)
        self.last_seconds = 0.0

    # ----------------------------------------------------------------- public
    def request(self, delay_ms: int = 0) -> None:
        """Ask for a run `delay_ms` from now (restarting the delay of an earlier request)."""
        if self._closed:
            return
        self._generation += 1
        now = time.monotonic()
        if not self._pending:
            self._first_request = now
        self._pending = True
        waited_ms = (now - self._first_request) * 1000.0
        remaining = self._timer.remainingTime() if self._timer.isActive() else -1
        delay = max(0, int(delay_ms))
        if waited_ms + delay > self.max_wait_ms and remaining >= 0:
            delay = min(delay, remaining)  # do not postpone a long-waiting request further
        self._timer.start(delay)

    def cancel(self) -> None:
        """Forget pending requests; the result of a run in flight is dropped."""
        self._timer.stop()
        self._pending = False
        self._generation += 1

    @property
    def busy(self) -> bool:
        """A run is in flight or a request is waiting for its delay."""
        return self._running is not None or self._pending

    def shutdown(self, timeout_ms: int = 30000) -> None:
        self._closed = True
        self._timer.stop()
        self._pool.waitForDone(timeout_ms)

    # --------------------------------------------------------------- internal
    def _start(self) -> None:
        if self._closed or self._running is not None:
            return  # started again when the run in flight finishes
        self._pending = False
        generation = self._generation
        try:
            work = self._prepare()
        except Exception as exc:  # noqa: BLE001 - reported like a failed run
            self.failed.emit(exc)
            return
        if work is None:
            return
        self._running = generation
        self.started.emit()
        self._pool.start(_Run(self, generation, work))

    def _on_done(self, generation: int, result: object, error: object, seconds: float) -> None:
        self._running = None
        self.last_seconds = seconds
        if generation != self._generation:  # overtaken by a newer request (or cancelled)
            if self._pending and not self._timer.isActive():
                self._start()
            return
        if error is not None:
            self.failed.emit(error)
        else:
            self.finished.emit(result)
