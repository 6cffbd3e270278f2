"""A dark neutral theme: Fusion style, a dark palette and a few style-sheet touches."""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

QSS = """
QMainWindow::separator { background: #16171a; width: 4px; height: 4px; }
QDockWidget { color: #d8dadf; }
QDockWidget::title { background: #26282c; padding: 4px 8px; border-bottom: 1px solid #16171a; }
QStatusBar { background: #1b1c1f; color: #c4c7cd; border-top: 1px solid #111214; }
QStatusBar QLabel { padding: 0 8px; }
QProgressBar { border: 1px solid #3a3d43; border-radius: 3px; background: #202226; text-align: center;
               color: #e4e6ea; min-height: 18px; }
QProgressBar::chunk { background: #3b6fd1; border-radius: 2px; }
QPushButton { padding: 4px 14px; border: 1px solid #454850; border-radius: 3px; background: #30333a; }
QPushButton:hover { background: #3a3e46; }
QPushButton:disabled { color: #6d7079; background: #26282c; }
QPushButton#primaryButton { background: #2f5fb8; border-color: #3b6fd1; color: white; }
QPushButton#primaryButton:disabled { background: #26282c; border-color: #454850; color: #6d7079; }
QLabel#dimLabel { color: #8b8f98; }
QMenuBar { background: #1f2023; }
QMenu::item:selected, QMenuBar::item:selected { background: #2f5fb8; }
QToolBar { background: #1f2023; border: none; spacing: 2px; }
"""


def apply_theme(app: QApplication) -> None:
    app.setStyle("Fusion")
    pal = QPalette()
    base, alt, text = QColor("#1e1f22"), QColor("#26282c"), QColor("#d8dadf")
    pal.setColor(QPalette.ColorRole.Window, QColor("#232428"))
    pal.setColor(QPalette.ColorRole.WindowText, text)
    pal.setColor(QPalette.ColorRole.Base, base)
    pal.setColor(QPalette.ColorRole.AlternateBase, alt)
    pal.setColor(QPalette.ColorRole.ToolTipBase, alt)
    pal.setColor(QPalette.ColorRole.ToolTipText, text)
    pal.setColor(QPalette.ColorRole.Text, text)
    pal.setColor(QPalette.ColorRole.Button, QColor("#2c2e33"))
    pal.setColor(QPalette.ColorRole.ButtonText, text)
    pal.setColor(QPalette.ColorRole.BrightText, QColor("#ff6b6b"))
    pal.setColor(QPalette.ColorRole.Highlight, QColor("#2f5fb8"))
    pal.setColor(QPalette.ColorRole.HighlightedText, QColor("white"))
    pal.setColor(QPalette.ColorRole.PlaceholderText, QColor("#7a7e87"))
    for role in (
        QPalette.ColorRole.Text,
        QPalette.ColorRole.ButtonText,
        QPalette.ColorRole.WindowText,
    ):
        pal.setColor(QPalette.ColorGroup.Disabled, role, QColor("#6d7079"))
    app.setPalette(pal)
    app.setStyleSheet(QSS)
