"""What a feature added to the review window may use: the models, the views it extends and the
window's extension points (declared actions, docks with explicit placement, the status line),
never the window itself. `MainWindow` builds one `WindowParts` and hands it to each installer
(editing, failure analysis, remote hosts), so no installer imports the window and the window
only calls them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDockWidget, QMainWindow, QStatusBar, QWidget

from app.actions import Actions
from app.errors import ErrorPresenter
from app.recon import ReconController
from app.session import Session
from app.widgets.recon_panel import ReconPanel
from app.widgets.timeline import Timeline
from app.widgets.video_view import VideoView
from app.widgets.view3d import View3D
from core.settings import Settings


class Docks:
    """Adds panels to a main window at an explicit place, each with its show/hide toggle in
    View (group "docks")."""

    def __init__(self, window: QMainWindow, actions: Actions) -> None:
        self._window = window
        self._actions = actions
        self.by_name: dict[str, QDockWidget] = {}

    def add(
        self,
        title: str,
        name: str,
        widget: QWidget,
        area: Qt.DockWidgetArea = Qt.DockWidgetArea.RightDockWidgetArea,
        *,
        tab_with: str | None = None,
        raise_: bool = False,
    ) -> QDockWidget:
        """A dock `name` showing `widget` in `area`, or tabbed with the dock `tab_with`."""
        dock = QDockWidget(title, self._window)
        dock.setObjectName(name)
        dock.setWidget(widget)
        dock.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetMovable
            | QDockWidget.DockWidgetFeature.DockWidgetFloatable
            | QDockWidget.DockWidgetFeature.DockWidgetClosable
        )
        self._window.addDockWidget(area, dock)
        if tab_with is not None:
            self._window.tabifyDockWidget(self.by_name[tab_with], dock)
        if raise_:
            dock.raise_()
        self.by_name[name] = dock
        self._actions.add_to_menu("View", dock.toggleViewAction(), "docks")
        return dock

    def resize(self, names: list[str], sizes: list[int], orientation: Qt.Orientation) -> None:
        self._window.resizeDocks([self.by_name[n] for n in names], sizes, orientation)


@dataclass
class WindowParts:
    """The collaborators an installed feature gets (see the module docstring)."""

    session: Session
    errors: ErrorPresenter
    settings: Settings
    actions: Actions
    docks: Docks
    status_bar: QStatusBar
    video_view: VideoView
    view3d: View3D
    timeline: Timeline
    recon: ReconController
    recon_panel: ReconPanel
    #: the widget dialogs are parented to (modal to the window)
    dialog_parent: QWidget
    #: a label file for the open video: the given path or one the user picks (None: none)
    label_file_for_video: Callable[[str | Path | None, str, str], str | Path | None]

    def status(self, text: str, ms: int = 5000) -> None:
        self.status_bar.showMessage(text, ms)
