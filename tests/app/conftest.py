"""Fixtures for the app tests: a real main window (Xvfb for the 3D view), isolated settings."""

from __future__ import annotations

import os

os.environ.setdefault("QT_API", "pyside6")

import pytest


@pytest.fixture
def window(qtbot, tmp_path):
    from PySide6.QtWidgets import QApplication

    from app.main_window import MainWindow
    from app.theme import apply_theme
    from core.settings import Settings

    apply_theme(QApplication.instance())
    w = MainWindow(Settings.load(tmp_path / "settings.json"))
    w.confirm_discard = lambda: "discard"
    qtbot.addWidget(w)
    w.resize(1400, 880)
    w.show()
    qtbot.waitExposed(w)
    w.activateWindow()  # shortcuts (Space, arrows, J/K/L) need the active window
    qtbot.waitUntil(w.isActiveWindow, timeout=5000)
    yield w
    w.errors.close_dialog()
    w.recon.shutdown()
    if w.isVisible():
        w.close()


@pytest.fixture
def settle_views(qtbot):
    """`settle_views(window)`: wait until the video pane shows the clock's frame itself. The
    other views follow the clock at once; the pane shows a frame the decode-ahead thread is
    decoding when that thread has it, a few ms later (`LongVideo.waits_for_worker`), and a jump
    into a long GOP after a stand-in."""
    from PySide6.QtWidgets import QApplication

    def settle(window, timeout_ms: int = 30_000) -> None:
        def shown() -> bool:
            QApplication.processEvents()
            window.video_view.repaint()
            state = window.views_state()
            return not state["video_pending"] and state["video"] == state["clock"]

        qtbot.waitUntil(shown, timeout=timeout_ms)

    return settle


@pytest.fixture
def wait_quiet(qtbot):
    """`wait_quiet()`: wait until the event loop runs 300 ms without a paint or a layout request
    anywhere (the window's one-time settling after a file opens), however long a loaded machine
    takes to get there; a test that counts the paints or layouts of one step starts after it."""
    from PySide6.QtCore import QEvent, QObject
    from PySide6.QtWidgets import QApplication

    kinds = (QEvent.Type.Paint, QEvent.Type.LayoutRequest)

    class Seen(QObject):
        def __init__(self) -> None:
            super().__init__()
            self.seen: list[str] = []

        def eventFilter(self, obj, event):  # noqa: N802 - Qt API
            if event.type() in kinds:
                self.seen.append(obj.objectName() or type(obj).__name__)
            return False

    def wait(period_ms: int = 300, tries: int = 40) -> None:
        spy = Seen()
        QApplication.instance().installEventFilter(spy)
        try:
            for _ in range(tries):
                spy.seen.clear()
                qtbot.wait(period_ms)
                if not spy.seen:
                    return
        finally:
            QApplication.instance().removeEventFilter(spy)
        raise AssertionError(f"the window never went quiet: {spy.seen}")

    return wait
