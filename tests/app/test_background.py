"""BackgroundJob: debounced requests, one run at a time off the GUI thread, stale results
dropped, errors delivered, a stream of requests not postponing a run forever."""

from __future__ import annotations

import threading
import time

import pytest
from PySide6.QtCore import QObject
from PySide6.QtWidgets import QApplication

from app.background import BackgroundJob

pytestmark = pytest.mark.gui


class Recorder:
    def __init__(self, job: BackgroundJob) -> None:
        self.results: list[object] = []
        self.errors: list[BaseException] = []
        job.finished.connect(self.results.append)
        job.failed.connect(self.errors.append)


def test_requests_collapse_and_run_off_the_gui_thread(qtbot):
    owner = QObject()
    prepared: list[int] = []
    threads: list[str] = []

    def prepare():
        prepared.append(len(prepared))
        value = len(prepared)

        def work():
            threads.append(threading.current_thread().name)
            return value

        return work

    job = BackgroundJob("t", prepare, owner)
    rec = Recorder(job)
    for _ in range(5):
        job.request(80)
    assert job.busy
    qtbot.waitUntil(lambda: bool(rec.results), timeout=5000)
    assert not job.busy  # nothing pending, nothing running: no second run can come
    assert prepared == [0] and rec.results == [1]
    assert threads and threads[0] != threading.main_thread().name
    assert not job.busy
    job.shutdown()


def test_newer_request_drops_the_running_result(qtbot):
    owner = QObject()
    gate = threading.Event()
    calls: list[int] = []

    def prepare():
        calls.append(1)
        n = len(calls)

        def work():
            if n == 1:
                gate.wait(5)
            return n

        return work

    job = BackgroundJob("t", prepare, owner)
    rec = Recorder(job)
    job.request(0)
    qtbot.waitUntil(lambda: calls == [1], timeout=5000)
    job.request(0)  # while the first run is blocked
    qtbot.waitUntil(lambda: not job._timer.isActive(), timeout=5000)  # it came due meanwhile
    gate.set()
    qtbot.waitUntil(lambda: bool(rec.results), timeout=5000)
    qtbot.waitUntil(lambda: not job.busy, timeout=5000)
    assert rec.results == [2] and len(calls) == 2  # the first result was stale
    job.shutdown()


def test_errors_and_cancel(qtbot):
    owner = QObject()

    def prepare():
        def work():
            raise ValueError("broken input")

        return work

    job = BackgroundJob("t", prepare, owner)
    rec = Recorder(job)
    with qtbot.waitSignal(job.failed, timeout=5000):
        job.request(0)
    assert isinstance(rec.errors[0], ValueError) and not rec.results
    job.request(50)
    job.cancel()
    assert not job.busy  # no timer left to fire: the cancelled request can never run
    job.shutdown()
    job.request(0)  # refused after shutdown
    assert not job.busy
    QApplication.processEvents()
    assert len(rec.errors) == 1


def test_stream_of_requests_runs_within_max_wait(qtbot):
    owner = QObject()
    job = BackgroundJob("t", lambda: lambda: time.monotonic(), owner, max_wait_ms=300)
    rec = Recorder(job)
    requests = 0
    while not rec.results and requests < 1000:
        job.request(200)  # every 20 ms: a plain debounce would never fire
        requests += 1
        qtbot.wait(20)
    assert rec.results, "the run was postponed for good"
    job.shutdown()
