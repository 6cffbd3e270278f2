"""The Qt binding must not corrupt reference counts: PySide6 6.12.0 drops a reference to None
on every Python slot called from C++ and to True on every `emit()` from Python, so a window
that plays video (a timer slot per tick) aborts with "none_dealloc" after a few minutes.
requirements.lock pins a version without the bug; this test fails if a broken one comes back."""

from __future__ import annotations

import sys

import pytest
from PySide6.QtCore import QObject, QTimer, Signal

pytestmark = pytest.mark.gui


class _Emitter(QObject):
    ping = Signal()


def test_slots_and_emit_keep_refcounts(qtbot):
    calls = []
    timer = QTimer()
    timer.setInterval(0)
    timer.timeout.connect(lambda: calls.append(1))
    none0 = sys.getrefcount(None)
    timer.start()
    qtbot.waitUntil(lambda: len(calls) >= 200, timeout=5000)
    timer.stop()
    assert sys.getrefcount(None) - none0 > -50, "slot calls leak references to None"

    e = _Emitter()
    e.ping.connect(lambda: None)
    true0 = sys.getrefcount(True)
    for _ in range(200):
        e.ping.emit()
    assert sys.getrefcount(True) - true0 > -50, "emit() leaks references to True"
