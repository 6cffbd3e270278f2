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
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QScrollArea,
    QWidget,
)

from app.analysis_ui import install_analysis
from app.drop import install_drops
from app.editing import install_editing
from app.errors import ErrorInfo, ErrorPresenter
from app.long_video import install_long_video
from app.recon import ReconController
from app.remote_ui import install_remote
from app.session import Session
from app.widgets.colors import HAND_LABELS
from app.widgets.empty_state import install_empty_state
from app.widgets.recon_panel import ReconPanel
from app.widgets.timeline import Timeline
from app.widgets.video_view import VideoView, format_time
from app.widgets.view3d import View3D
from core.errors import LabelMismatchError, VidihandError
from core.labels.document import Source
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
        self.dock3d = self._dock(
            "3D view", "dock3d", self.view3d, Qt.DockWidgetArea.RightDockWidgetArea
        )
        self.dock_recon = self._dock(
            "Reconstruction", "dockRecon", self.recon_panel, Qt.DockWidgetArea.RightDockWidgetArea
        )
        self.dock_timeline = self._dock(
            "Timeline", "dockTimeline", self.timeline, Qt.DockWidgetArea.BottomDockWidgetArea
        )
        self.resizeDocks([self.dock3d, self.dock_recon], [520, 200], Qt.Orientation.Vertical)
        self.resizeDocks([self.dock3d], [460], Qt.Orientation.Horizontal)

        self._build_status_bar()
        self._build_actions()
        self._build_menus()
        self._frame_error_reported = False
        self.video_view.frameError.connect(self._on_frame_error)
        self.session.backgroundError.connect(self._on_frame_error)
        self.session.clock.frameChanged.connect(self._update_status)
        self.session.documentEdited.connect(self._on_edit)
        self.session.pathsChanged.connect(self._update_title)
        self.session.documentReplaced.connect(self._update_status)
        self.recon.progressed.connect(self._on_recon_progress)
        self.recon.finished.connect(self._on_recon_finished)
        self.analysis = install_analysis(self)  # failures dock, compare mode, report
        self.remote = install_remote(self)  # Settings > Remote Hosts, run on, link state
        self.editing = install_editing(self)  # undo/journal, drag, inspector, range ops, MANO
        self.long_video = install_long_video(self)  # proxy while scrubbing, thumbnails lane
        self.empty_state = install_empty_state(self)  # what to do next, over the video pane
        self.drops = install_drops(self)  # videos and label files dropped on the window
        self._make_panels_scrollable()
        self.resize(1440, 900)
        self.resizeDocks([self.dock3d], [520], Qt.Orientation.Horizontal)
        self.resizeDocks([self.dock3d, self.dock_recon], [400, 420], Qt.Orientation.Vertical)
        self._restore_layout()
        self._update_title()

    # ----------------------------------------------------------------- build
    def _dock(self, title: str, name: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setWidget(widget)
        dock.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetMovable
            | QDockWidget.DockWidgetFeature.DockWidgetFloatable
            | QDockWidget.DockWidgetFeature.DockWidgetClosable
        )
        self.addDockWidget(area, dock)
        return dock

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

    def _build_status_bar(self) -> None:
        sb = self.statusBar()
        self.status_frame = QLabel("no video")
        self.status_hands = QLabel("")
        self.status_doc = QLabel("")
        self.status_recon = QLabel("")
        for w in (self.status_frame, self.status_hands):
            sb.addWidget(w)
        sb.addPermanentWidget(self.status_recon)
        sb.addPermanentWidget(self.status_doc)

    def action(
        self,
        text: str,
        slot: Callable,
        shortcut: str | QKeySequence | None = None,
        tip: str = "",
        checkable: bool = False,
    ) -> QAction:
        """A window action: its shortcut works whichever dock has focus. Plug-in parts (editing,
        analysis) make theirs here too, so every shortcut behaves the same."""
        a = QAction(text, self)
        if shortcut is not None:
            a.setShortcut(QKeySequence(shortcut))
            a.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        if tip:
            a.setStatusTip(tip)
        a.setCheckable(checkable)
        a.triggered.connect(slot)
        self.addAction(a)  # shortcuts work whichever dock has focus
        return a

    def _build_actions(self) -> None:
        c = self.session.clock
        A = self.action
        self.act_open_video = A(
            "&Open Video...", lambda: self.open_video(), QKeySequence.StandardKey.Open
        )
        self.act_open_labels = A("Open &Labels...", lambda: self.open_labels(), "Ctrl+L")
        self.act_save = A("&Save Labels", lambda: self.save(), QKeySequence.StandardKey.Save)
        self.act_save_as = A("Save Labels &As...", lambda: self.save_as(), "Ctrl+Shift+S")
        self.act_export_npz = A("Export &NPZ...", lambda: self.export_npz(), "Ctrl+E")
        self.act_quit = A("&Quit", self.close, QKeySequence.StandardKey.Quit)
        self.act_play = A("Play / Pause", c.toggle, "Space")
        self.act_next = A("Next Frame", lambda: c.step(1), "Right")
        self.act_prev = A("Previous Frame", lambda: c.step(-1), "Left")
        self.act_next10 = A("Forward 10 Frames", lambda: c.step(10), "Shift+Right")
        self.act_prev10 = A("Back 10 Frames", lambda: c.step(-10), "Shift+Left")
        self.act_first = A("First Frame", c.first, "Home")
        self.act_last = A("Last Frame", c.last, "End")
        self.act_reverse = A("Play Backward (J, again: faster)", c.reverse, "J")
        self.act_pause = A("Pause (K)", c.pause, "K")
        self.act_forward = A("Play Forward (L, again: faster)", c.forward, "L")
        self.act_fit = A("Fit Video", self.video_view.fit, "F")
        self.act_cam = A("3D: From Camera", lambda: self.view3d.set_preset("camera"), "1")
        self.act_side = A("3D: Side", lambda: self.view3d.set_preset("side"), "2")
        self.act_top = A("3D: Top", lambda: self.view3d.set_preset("top"), "3")
        self.act_mesh = A("3D: Hand Mesh", self.view3d.set_mesh_visible, "M", checkable=True)
        self.act_mesh.setChecked(self.view3d.show_mesh)
        self.act_overlay = A("Video: Hand Overlay", self._set_overlay, "O", checkable=True)
        self.act_overlay.setChecked(True)
        self.act_tl_reset = A("Timeline: Whole Clip", self.timeline.reset_view, "Ctrl+0")
        self.act_run = A("&Run Reconstruction", self.recon_panel.run, "Ctrl+R")
        self.act_cancel = A("&Cancel Reconstruction", self.recon.cancel, "Ctrl+.")
        self.act_shortcuts = A("&Keyboard Shortcuts", self.show_shortcuts, "F1")
        self.act_about = A("&About", self.show_about)

    def top_menu(self, title: str) -> QMenu:
        """The menu bar's menu called `title` ("Settings"), created before Help when missing,
        so plug-in parts of the window (MANO, remote hosts) share one menu."""
        bar = self.menuBar()
        help_action = None
        for action in bar.actions():
            text = action.text().replace("&", "")
            if text == title and action.menu() is not None:
                return action.menu()
            if text == "Help":
                help_action = action
        menu = QMenu(f"&{title}", bar)
        if help_action is not None:
            bar.insertMenu(help_action, menu)
        else:
            bar.addMenu(menu)
        return menu

    def _build_menus(self) -> None:
        mb = self.menuBar()
        m = mb.addMenu("&File")
        m.addActions([self.act_open_video, self.act_open_labels])
        self.recent_menu = m.addMenu("Open &Recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        m.addSeparator()
        m.addActions([self.act_save, self.act_save_as, self.act_export_npz])
        m.addSeparator()
        m.addAction(self.act_quit)
        m = mb.addMenu("&Playback")
        m.addActions([self.act_play, self.act_reverse, self.act_pause, self.act_forward])
        m.addSeparator()
        m.addActions(
            [
                self.act_prev,
                self.act_next,
                self.act_prev10,
                self.act_next10,
                self.act_first,
                self.act_last,
            ]
        )
        m = mb.addMenu("&View")
        m.addActions([self.act_fit, self.act_overlay])
        m.addSeparator()
        m.addActions([self.act_cam, self.act_side, self.act_top, self.act_mesh])
        self._build_canvas_menu(m.addMenu("3D &Rendering"))
        m.addSeparator()
        m.addAction(self.act_tl_reset)
        m.addSeparator()
        for dock in (self.dock3d, self.dock_timeline, self.dock_recon):
            m.addAction(dock.toggleViewAction())
        m = mb.addMenu("&Reconstruct")
        m.addActions([self.act_run, self.act_cancel])
        m = mb.addMenu("&Help")
        m.addActions([self.act_shortcuts, self.act_about])

    def _build_canvas_menu(self, menu: QMenu) -> None:
        """How the 3D view is drawn (app/widgets/vtk_canvas.py), kept in the settings and used
        from the next start (the view's actors live in the canvas's plotter)."""
        group = QActionGroup(self)
        group.setExclusive(True)
        self.canvas_actions: dict[str, QAction] = {}
        for kind, label in CANVAS_CHOICES.items():
            a = QAction(label, self, checkable=True)
            a.setChecked((self.settings.view3d_canvas or "auto").lower() == kind)
            a.triggered.connect(lambda _checked=False, k=kind: self.choose_canvas(k))
            group.addAction(a)
            menu.addAction(a)
            self.canvas_actions[kind] = a

    def choose_canvas(self, kind: str) -> None:
        """Keep `kind` ("auto", "offscreen", "opengl") for the 3D view from the next start."""
        self.settings.view3d_canvas = kind
        self.settings._env.pop("view3d_canvas", None)  # the user's choice is the file's value
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

    def _set_overlay(self, on: bool) -> None:
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
        self._update_title()
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

    def open_labels(self, path: str | Path | None = None, *, force: bool = False) -> bool:
        path = self.label_file_for_video(path, "Open labels", "Open the video before its labels.")
        if path is None:
            return False
        if not force and not self._may_discard():
            return False
        try:
            self.session.load_labels(path, force=force)
        except LabelMismatchError as exc:
            self.errors.report(
                exc, actions={"Open anyway": lambda p=path: self.open_labels(p, force=True)}
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
        self._update_title()
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
            "overlay": sorted(self.video_view.drawn_joints),
            "view3d": self.view3d.shown_frame,
            "view3d_hands": sorted(self.view3d.drawn_joints),
            "timeline": self.timeline.shown_frame,
        }

    # ----------------------------------------------------------------- status
    def _update_status(self, *_args: object) -> None:
        s = self.session
        doc, f = s.doc, s.clock.frame
        if doc is None:
            self.status_frame.setText("no video")
            return
        self.status_frame.setText(
            f"Frame {f} / {doc.n_frames - 1}   {format_time(s.clock.time_of(f))}   {doc.meta.fps:.3g} fps"
        )
        parts = []
        for h in (0, 1):
            t = doc.hands[h]
            if 0 <= f < doc.n_frames and t.present[f]:
                src = Source(int(t.source[f])).name.lower()
                rev = ", reviewed" if t.reviewed[f] else ""
                parts.append(f"{HAND_LABELS[h]} {t.confidence[f]:.2f} ({src}{rev})")
            else:
                parts.append(f"{HAND_LABELS[h]} -")
        self.status_hands.setText("   ".join(parts))
        self._update_doc_status()

    def _update_doc_status(self) -> None:
        doc = self.session.doc
        if doc is None:
            return
        c = doc.present_counts()
        self.status_doc.setText(
            f"hands on {c['any']}/{doc.n_frames} frames{'  ·  unsaved' if doc.dirty else ''}"
        )

    def _on_edit(self, change) -> None:  # noqa: ANN001 - core Change
        if self.session.clock.frame in set(change.frames.tolist()):
            self._update_status()
        self._update_doc_status()
        self._update_title()

    def _update_title(self) -> None:
        s = self.session
        name = s.video_path.name if s.video_path else "no video"
        labels = f" — {s.labels_path.name}" if s.labels_path else ""
        star = "*" if s.dirty else ""
        self.setWindowTitle(f"{star}{name}{labels} — ViDiHand Studio")

    def _on_recon_progress(self, state) -> None:  # noqa: ANN001
        from app.widgets.recon_panel import format_eta

        self.status_recon.setText(
            f"{state.backend}: {state.done}/{state.total}  {state.fps:.0f} fps  {format_eta(state.eta)} left"
        )

    def _on_recon_finished(self, outcome: str) -> None:
        st = self.recon.state
        self.status_recon.setText(f"{st.backend}: {outcome} ({st.done}/{st.total})")
        self._update_status()
        self.view3d.set_preset(self.view3d.preset)

    def _on_frame_error(self, exc: Exception) -> None:
        if not self._frame_error_reported:
            self._frame_error_reported = True
            self.errors.report(exc)
        else:
            self.statusBar().showMessage(str(exc), 5000)

    # ---------------------------------------------------------------- dialogs
    def show_shortcuts(self) -> None:
        rows = "".join(
            f"<tr><td><b>{k}</b></td><td>&nbsp;&nbsp;{v}</td></tr>" for k, v in SHORTCUTS
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

SHORTCUTS: tuple[tuple[str, str], ...] = (
    ("Space", "play / pause"),
    ("Left / Right", "previous / next frame"),
    ("Shift+Left / Shift+Right", "10 frames back / forward"),
    ("Home / End", "first / last frame"),
    ("J / K / L", "play backward / pause / play forward (repeat J or L: faster)"),
    ("F, double-click", "fit the video; wheel zooms, middle-drag or Space+drag pans"),
    ("O", "hand overlay on / off"),
    ("1 / 2 / 3", "3D view from the camera / side / top"),
    ("M", "3D hand mesh on / off"),
    (
        "Timeline",
        "click/drag: scrub; wheel: zoom; right- or Shift+drag: zoom to range; "
        "double-click or Ctrl+0: whole clip",
    ),
    ("Ctrl+O / Ctrl+L", "open video / labels"),
    ("Ctrl+S / Ctrl+Shift+S", "save / save as"),
    ("Ctrl+E", "export NPZ"),
    ("Ctrl+R / Ctrl+.", "run / cancel reconstruction"),
)
