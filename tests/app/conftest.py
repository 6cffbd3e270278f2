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
