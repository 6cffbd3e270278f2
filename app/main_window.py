"""The review window: video with overlay in the centre, 3D view, timeline and reconstruction in
docks, one session (video + document + clock) that every view observes.

Structure (docks/panels so later features plug in: an inspector, a failures panel, remote
hosts): the central `VideoView`, dock "3D" (`View3D`), dock "Timeline" (`Timeline`), dock
"Reconstruction" (`ReconPanel`). Menu actions call the session, the clock or the controller,
never another widget. Every failure goes through `self.errors` (app/errors.py).
"""

from __future__ import annotations

import base64
import os
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QByteArray, Qt
from PySide6.QtGui import QAction, QCloseEvent
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QMainWindow,
    QMessageBox,
    QScrollArea,
)

from app.actions import Action, Actions
from app.analysis_ui import install_analysis
from app.drop import install_drops
from app.editing import install_editing
from app.errors import ErrorInfo, ErrorPresenter
from app.long_video_ui import install_long_video
from app.recon import ReconController
from app.remote_ui import install_remote
from app.session import Session
from app.shell import Docks, WindowParts
from app.status_line import StatusLine
from app.widgets.empty_state import install_empty_state
from app.widgets.recon_panel import ReconPanel
from app.widgets.timeline import Timeline
from app.widgets.video_view import VideoView
from app.widgets.view3d import View3D
from app.window_actions import window_actions
from core.errors import LabelMismatchError, VidihandError
from core.settings import Settings

VIDEO_FILTER = "Videos (*.mp4 *.mov *.mkv *.avi *.webm *.m4v);;All files (*)"
LABEL_FILTER = "ViDiHand labels (*.h5 *.hdf5);;All files (*)"


class MainWindow(QMainWindow):
    def __init__(
        self, settings: Settings | None = None, *, interactive_errors: bool = True
    ) -> None:
        super().__init__()
        self.settings = settings if settings is not None else Settings.load()
        self.setWindowTitle("ViDiHand Studio")
        self.setObjectName("mainWindow")
        self.setDockOptions(
            QMainWindow.DockOption.AnimatedDocks | QMainWindow.DockOption.AllowTabbedDocks
        )
        self.session = Session(self)
        self.errors = ErrorPresenter(self, interactive=interactive_errors)
        self.errors.status_sink = lambda text: self.statusBar().showMessage(text, 10000)
        self.recon = ReconController(self.session, self.errors, self)
        #: asked before discarding unsaved labels: returns "save", "discard" or "cancel"
        self.confirm_discard: Callable[[], str] = self._ask_discard

        self.video_view = VideoView(self.session)
        self.setCentralWidget(self.video_view)
        self.view3d = View3D(
            self.session,
            trail_length=self.settings.trail_length,
            canvas=self.settings.view3d_canvas,
        )
        self.timeline = Timeline(self.session)
        self.recon_panel = ReconPanel(self.session, self.recon, self.settings.default_backend)
        #: the window's commands as data; menus and the F1 list are made from them
        self.actions = Actions(self, self.menuBar())
        #: panels at explicit places (features add theirs through WindowParts.docks)
        self.docks = Docks(self, self.actions)
        right, bottom = (
            Qt.DockWidgetArea.RightDockWidgetArea,
            Qt.DockWidgetArea.BottomDockWidgetArea,
        )
        self.dock3d = self.docks.add("3D view", "dock3d", self.view3d, right)
        self.dock_timeline = self.docks.add("Timeline", "dockTimeline", self.timeline, bottom)
        self.dock_recon = self.docks.add("Reconstruction", "dockRecon", self.recon_panel, right)
        self.resizeDocks([self.dock3d, self.dock_recon], [520, 200], Qt.Orientation.Vertical)
        self.resizeDocks([self.dock3d], [460], Qt.Orientation.Horizontal)

        #: frame, hands, run and document state in the status bar; the title's unsaved marker
        self.status_line = StatusLine(
            self.session, self.recon, self.statusBar(), self.setWindowTitle
        )
        self._build_actions()
        self._frame_error_reported = False
        self.video_view.frameError.connect(self._on_frame_error)
        self.session.backgroundError.connect(self._on_frame_error)
        self.recon.finished.connect(lambda _outcome: self.view3d.set_preset(self.view3d.preset))
        self.session.problem.connect(self.errors.report)
        #: what features installed into the window may use (never the window itself)
        self.parts = WindowParts(
            session=self.session, errors=self.errors, settings=self.settings,
            actions=self.actions, docks=self.docks, status_bar=self.statusBar(),
            video_view=self.video_view, view3d=self.view3d, timeline=self.timeline,
            recon=self.recon, recon_panel=self.recon_panel, dialog_parent=self,
            label_file_for_video=self.label_file_for_video,
        )  # fmt: skip
        self.analysis = install_analysis(self.parts)  # failures dock, compare mode, report
        self.remote = install_remote(self.parts)  # Settings > Remote Hosts, run on, link state
        self.editing = install_editing(self.parts)  # undo/journal, drag, inspector, range ops
        self.long_video = install_long_video(self.session, self.timeline, self.video_view)
        # what to do next, over the video pane
        self.empty_state = install_empty_state(self.session, self.video_view, self.actions)
        # videos and label files dropped on the window
        self.drops = install_drops(self, self.open_video, self.open_labels, self.parts.status)
        self._make_panels_scrollable()
        self.resize(1440, 900)
        self.resizeDocks([self.dock3d], [520], Qt.Orientation.Horizontal)
        self.resizeDocks([self.dock3d, self.dock_recon], [400, 420], Qt.Orientation.Vertical)
        self._restore_layout()
        self.status_line.update_title()

    # ----------------------------------------------------------------- build
    def _make_panels_scrollable(self) -> None:
        """Panel docks (reconstruction, inspector, failures ...) scroll when short of room
        instead of imposing their full height: the 3D view keeps a usable size whatever the
        panels hold. The 3D view and the timeline keep their own sizing."""
        self.view3d.setMinimumHeight(220)
        for dock in self.findChildren(QDockWidget):
            w = dock.widget()
            if dock in (self.dock3d, self.dock_timeline) or w is None or isinstance(w, QScrollArea):
                continue
            scroll = QScrollArea()
            scroll.setObjectName(f"{dock.objectName()}Scroll")
            scroll.setWidgetResizable(True)
            scroll.setFrameShape(QScrollArea.Shape.NoFrame)
            scroll.setWidget(w)
            dock.setWidget(scroll)

    def _build_actions(self) -> None:
        """The window's own commands, declared (app/window_actions.py); menus come from them.
        Each is also an attribute: "file.save" -> self.act_save."""
        for action in window_actions(
            self, self.session.clock, self.video_view, self.view3d, self.timeline, self.recon,
            self.recon_panel,
        ):  # fmt: skip
            setattr(self, "act_" + action.id.split(".", 1)[1], self.actions.add(action))
            if action.id == "file.open_labels":  # File > Open Recent, filled when shown
                self.recent_menu = self.actions.menu("File/Open &Recent", "open")
                self.recent_menu.aboutToShow.connect(self._fill_recent)
            elif action.id == "view.mesh":
                self._build_canvas_menu()
        self.actions.add_gesture(
            "Timeline", "Timeline", "click/drag: scrub; wheel: zoom; right- or Shift+drag: zoom "
            "to range; double-click or Ctrl+0: whole clip",
        )  # fmt: skip

    def _build_canvas_menu(self) -> None:
        """How the 3D view is drawn (app/widgets/vtk_canvas.py), kept in the settings and used
        from the next start (the view's actors live in the canvas's plotter)."""
        self.actions.menu("View/3D &Rendering", "3d")
        current = (self.settings.view3d_canvas or "auto").lower()
        self.canvas_actions: dict[str, QAction] = {}
        for kind, label in CANVAS_CHOICES.items():
            self.canvas_actions[kind] = self.actions.add(
                Action(
                    f"view.canvas_{kind}", label, lambda _c=False, k=kind: self.choose_canvas(k),
                    menu="View/3D &Rendering", checkable=True, checked=current == kind,
                    exclusive="canvas",
                )
            )  # fmt: skip

    def choose_canvas(self, kind: str) -> None:
        """Keep `kind` ("auto", "offscreen", "opengl") for the 3D view from the next start."""
        self.settings.choose("view3d_canvas", kind)  # the user's choice is the file's value
        try:
            self.settings.save()
        except OSError as exc:
            self.statusBar().showMessage(f"Settings not saved: {exc}", 6000)
            return
        note = f"3D rendering: {CANVAS_CHOICES[kind].lower()} from the next start"
        note += f" (now: {self.view3d.canvas.kind})"
        if os.environ.get("VIDIHAND_3D"):
            note += f"; VIDIHAND_3D={os.environ['VIDIHAND_3D']} overrides it"
        self.statusBar().showMessage(note, 8000)

    def set_overlay(self, on: bool) -> None:
        self.video_view.show_overlay = on
        self.video_view.update()

    # ------------------------------------------------------------------ files
    def open_video(self, path: str | Path | None = None) -> bool:
        """Open a video; returns True on success. Errors are shown, the window stays as it was."""
        if path is None:
            path, _ = QFileDialog.getOpenFileName(
                self, "Open video", self.settings.last_dir, VIDEO_FILTER
            )
            if not path:
                return False
        if not self._may_discard():
            return False
        self.recon.shutdown()
        try:
            self.session.open_video(path)
        except (VidihandError, OSError) as exc:
            self.errors.report(exc)
            return False
        self._frame_error_reported = False
        self.settings.add_recent(path, "video")
        self.settings.last_dir = str(Path(path).resolve().parent)
        self.statusBar().showMessage(f"Opened {Path(path).name}", 5000)
        self.status_line.update_title()
        return True

    def label_file_for_video(
        self, path: str | Path | None, title: str, need: str
    ) -> str | Path | None:
        """A label file to open over the current video: `path`, or one the user picks (None:
        no video is open, which is reported with `need`, or the dialog was cancelled)."""
        if self.session.video is None or self.session.doc is None:
            self.errors.report(ErrorInfo("No video open", need, "File > Open Video (Ctrl+O)."))
            return None
        if path is None:
            path, _ = QFileDialog.getOpenFileName(self, title, self.settings.last_dir, LABEL_FILTER)
        return path or None

    def open_labels(
        self, path: str | Path | None = None, *, force: bool = False, as_copy: bool = False
    ) -> bool:
        """Open labels for the open video (`as_copy`: Save asks for a new file)."""
        path = self.label_file_for_video(path, "Open labels", "Open the video before its labels.")
        if path is None:
            return False
        if not force and not self._may_discard():
            return False
        try:
            self.session.load_labels(path, force=force, as_copy=as_copy)
        except LabelMismatchError as exc:
            self.errors.report(
                exc,
                actions={
                    "Open anyway": lambda p=path: self.open_labels(p, force=True, as_copy=as_copy)
                },
            )
            return False
        except (VidihandError, OSError) as exc:
            self.errors.report(exc)
            return False
        self.settings.add_recent(path, "labels")
        self.statusBar().showMessage(f"Loaded labels {Path(path).name}", 5000)
        return True

    def save(self) -> bool:
        if self.session.doc is None:
            return False
        if self.session.labels_path is None:
            return self.save_as()
        return self._save_to(self.session.labels_path)

    def save_as(self, path: str | Path | None = None) -> bool:
        if self.session.doc is None:
            return False
        if path is None:
            start = str(
                self.session.labels_path
                or (self.session.video_path.with_suffix(".h5") if self.session.video_path else "")
            )
            path, _ = QFileDialog.getSaveFileName(self, "Save labels", start, LABEL_FILTER)
            if not path:
                return False
        return self._save_to(Path(path))

    def _save_to(self, path: Path) -> bool:
        try:
            written = self.session.save_labels(path)
        except (VidihandError, OSError) as exc:
            self.errors.report(exc, title="Cannot save labels")
            return False
        self.settings.add_recent(written, "labels")
        self.statusBar().showMessage(f"Saved {written}", 5000)
        self.status_line.update_title()
        return True

    def export_npz(self, path: str | Path | None = None) -> bool:
        if self.session.doc is None:
            return False
        if path is None:
            start = (
                str(self.session.video_path.with_suffix(".npz")) if self.session.video_path else ""
            )
            path, _ = QFileDialog.getSaveFileName(
                self, "Export NPZ", start, "NumPy archive (*.npz)"
            )
            if not path:
                return False
        try:
            written = self.session.export_npz(path)
        except (VidihandError, OSError) as exc:
            self.errors.report(exc, title="Cannot export NPZ")
            return False
        self.statusBar().showMessage(f"Exported {written}", 5000)
        return True

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        for p in self.settings.recent_files:
            self.recent_menu.addAction(p, lambda p=p: self.open_video(p))
        if self.settings.recent_labels:
            self.recent_menu.addSeparator()
            for p in self.settings.recent_labels:
                self.recent_menu.addAction(f"Labels: {p}", lambda p=p: self.open_labels(p))
        if self.recent_menu.isEmpty():
            self.recent_menu.addAction("(none)").setEnabled(False)

    def _may_discard(self) -> bool:
        """True when there are no unsaved changes or the user saved / discarded them."""
        if not self.session.dirty:
            return True
        answer = self.confirm_discard()
        if answer == "save":
            return self.save()
        return answer == "discard"

    def _ask_discard(self) -> str:
        box = QMessageBox(
            QMessageBox.Icon.Question,
            "Unsaved changes",
            "The labels have unsaved changes.",
            parent=self,
        )
        box.setInformativeText("Save them before continuing?")
        box.setStandardButtons(
            QMessageBox.StandardButton.Save
            | QMessageBox.StandardButton.Discard
            | QMessageBox.StandardButton.Cancel
        )
        r = box.exec()
        return {
            QMessageBox.StandardButton.Save: "save",
            QMessageBox.StandardButton.Discard: "discard",
        }.get(QMessageBox.StandardButton(r), "cancel")

    # ------------------------------------------------------------- navigation
    def goto(self, frame: int) -> None:
        self.session.clock.set_frame(frame)

    def views_state(self) -> dict[str, object]:
        """What each view shows now (frame and hands): for tests and diagnostics."""
        return {
            "clock": self.session.clock.frame,
            "video": self.video_view.shown_frame,
            # another picture stands in while the clock's frame is on its way (a step that
            # caught up with the decode-ahead thread, a jump into a long GOP)
            "video_pending": self.video_view.waiting_for >= 0
            or self.video_view.proxy_of is not None,
            "overlay": sorted(self.video_view.drawn_joints),
            "view3d": self.view3d.shown_frame,
            "view3d_hands": sorted(self.view3d.drawn_joints),
            "timeline": self.timeline.shown_frame,
        }

    def _on_frame_error(self, exc: Exception) -> None:
        if not self._frame_error_reported:
            self._frame_error_reported = True
            self.errors.report(exc)
        else:
            self.statusBar().showMessage(str(exc), 5000)

    # ---------------------------------------------------------------- dialogs
    def show_shortcuts(self) -> None:
        rows = "".join(
            f"<tr><td><b>{k}</b></td><td>&nbsp;&nbsp;{v}</td></tr>"
            for k, v in self.actions.shortcut_rows()
        )
        box = QMessageBox(QMessageBox.Icon.Information, "Keyboard shortcuts", "", parent=self)
        box.setText(f"<table>{rows}</table>")
        box.open()

    def show_about(self) -> None:
        from core import __version__

        QMessageBox.about(
            self,
            "About ViDiHand Studio",
            f"ViDiHand Studio {__version__}<br>Review and correct 3D two-hand labels in video.",
        )

    # ------------------------------------------------------------ persistence
    def _restore_layout(self) -> None:
        try:
            if self.settings.window_geometry:
                self.restoreGeometry(QByteArray(base64.b64decode(self.settings.window_geometry)))
            if self.settings.window_state:
                self.restoreState(QByteArray(base64.b64decode(self.settings.window_state)))
        except (ValueError, TypeError):
            pass  # a damaged layout entry only costs the default layout

    def save_layout(self) -> None:
        self.settings.window_geometry = base64.b64encode(bytes(self.saveGeometry())).decode()
        self.settings.window_state = base64.b64encode(bytes(self.saveState())).decode()
        try:
            self.settings.save()
        except OSError as exc:
            self.statusBar().showMessage(f"Settings not saved: {exc}", 5000)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt API
        if not self._may_discard():
            event.ignore()
            return
        self.session.clock.pause()
        self.recon.shutdown()
        self.analysis.shutdown()
        self.save_layout()
        self.view3d.canvas.close()
        self.session.close()
        super().closeEvent(event)


#: View > 3D Rendering: settings value -> menu label
CANVAS_CHOICES: dict[str, str] = {
    "auto": "Automatic (off-screen with software OpenGL)",
    "offscreen": "Off-screen Image",
    "opengl": "Embedded OpenGL",
}
