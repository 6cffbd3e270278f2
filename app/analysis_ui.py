"""Failure analysis in the review window: the failures dock, compare mode and the report.

`install_analysis(window)` adds everything to a built `MainWindow` through its public parts
(session, views, timeline, menus, error presenter), so the window's own code only calls it:

- dock "Failures" (`FailuresPanel` over `FailuresModel`: detectors off the GUI thread, rerun
  after edits) and a "failures" lane per hand in the timeline;
- compare mode (`CompareModel`): File > Open Reference Labels..., the reference drawn in the
  video overlay and the 3D view, per-frame MPJPE / PA-MPJPE / EPE lanes per hand in the
  timeline, dock "Compare" with the metrics table;
- Analysis > Report...: `core.analysis.report.build_report` off the GUI thread, the HTML
  written atomically, then an offer to open it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QDockWidget, QFileDialog, QMenu, QMessageBox, QWidget

from app.background import BackgroundJob
from app.compare import CompareModel
from app.failures import FailuresModel
from app.widgets.analysis_lanes import ERROR_METRICS, ErrorScale, error_lane, failure_lane
from app.widgets.colors import HAND_LABELS
from app.widgets.compare_panel import ComparePanel
from app.widgets.failures_panel import FailuresPanel
from app.widgets.reference_view import Reference3D, ReferenceOverlay
from app.widgets.timeline import Lane
from core.errors import LabelMismatchError, VidihandError

if TYPE_CHECKING:
    from app.main_window import MainWindow

LABEL_FILTER = "ViDiHand labels (*.h5 *.hdf5);;All files (*)"
REPORT_FILTER = "HTML report (*.html);;All files (*)"


class AnalysisUI(QObject):
    """What `install_analysis` added to a window (models, panels, docks, actions, lanes)."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        session = window.session
        self.failures = FailuresModel(session, window.errors.report, self)
        self.compare = CompareModel(session, window.errors.report, self)
        self.failures_panel = FailuresPanel(self.failures)
        self.error_scale = ErrorScale(self.compare)
        self.compare_panel = ComparePanel(self.compare, self.error_scale)
        self.dock_failures = self._dock("Failures", "dockFailures", self.failures_panel)
        self.dock_compare = self._dock("Compare", "dockCompare", self.compare_panel)
        recon = getattr(window, "dock_recon", None)
        if recon is not None:
            window.tabifyDockWidget(recon, self.dock_failures)
            window.tabifyDockWidget(self.dock_failures, self.dock_compare)
            self.dock_failures.raise_()
            if getattr(window, "dock3d", None) is not None:
                # the failures list needs rows more than the 3D view needs height
                window.resizeDocks([window.dock3d, recon], [330, 470], Qt.Orientation.Vertical)

        # timeline: a failures lane per hand, error lanes per hand while comparing
        tl = window.timeline
        self.failure_lanes = [failure_lane(self.failures, h) for h in (0, 1)]
        for h, lane in enumerate(self.failure_lanes):
            tl.add_lane(lane, self._after_hand_lanes(h))
        self.error_lanes: list[Lane] = []
        self.failures.updated.connect(tl.refresh_lanes)
        self.compare.evaluated.connect(tl.refresh_lanes)
        self.compare.referenceChanged.connect(self._update_error_lanes)

        # reference hands in the overlay and the 3D view
        self.reference_overlay = ReferenceOverlay(self.compare, window.video_view)
        window.video_view.overlay_painters.append(self.reference_overlay)
        self.reference_3d = Reference3D(self.compare, window.view3d)

        # report
        self._report_target: Path | None = None
        self._report_open: bool | None = None
        self.report_job = BackgroundJob("report", self._prepare_report, self)
        self.report_job.finished.connect(self._on_report_written)
        self.report_job.failed.connect(
            lambda exc: window.errors.report(exc, title="Cannot write the report")
        )
        #: the "report written, open it?" box of the last report (None once closed)
        self.report_dialog: QMessageBox | None = None
        self.last_report: Path | None = None
        self.failures_panel.reportRequested.connect(lambda: self.report())
        self.compare_panel.openRequested.connect(lambda: self.open_reference())
        self._build_actions()

    # ----------------------------------------------------------------- build
    def _dock(self, title: str, name: str, widget: QWidget) -> QDockWidget:
        dock = QDockWidget(title, self.window)
        dock.setObjectName(name)
        dock.setWidget(widget)
        dock.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetMovable
            | QDockWidget.DockWidgetFeature.DockWidgetFloatable
            | QDockWidget.DockWidgetFeature.DockWidgetClosable
        )
        self.window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
        return dock

    def _build_actions(self) -> None:
        A = self.window.action
        self.act_open_reference = A(
            "Open &Reference Labels...", lambda: self.open_reference(), "Ctrl+Shift+L",
            "Compare the labels with reference labels (e.g. ground truth) of this video",
        )  # fmt: skip
        self.act_close_reference = A("Close Reference", self.compare.close_reference)
        self.act_detect = A(
            "Run &Detectors", lambda: self.failures.rerun(), tip="Find suspicious segments now"
        )
        self.act_report = A(
            "&Report...", lambda: self.report(), tip="Write an HTML failure-analysis report"
        )
        self.act_thresholds = A(
            "Detector &Thresholds...", lambda: self.load_thresholds(),
            tip="Load detector thresholds from JSON (docs/failure-analysis.md)",
        )  # fmt: skip
        self.compare.referenceChanged.connect(
            lambda: self.act_close_reference.setEnabled(self.compare.active)
        )
        self.act_close_reference.setEnabled(False)
        menus = {a.text().replace("&", ""): a for a in self.window.menuBar().actions()}
        file_menu = menus["File"].menu() if "File" in menus else None
        if isinstance(file_menu, QMenu):
            recent = getattr(self.window, "recent_menu", None)
            before = recent.menuAction() if recent is not None else None
            file_menu.insertAction(before, self.act_open_reference)  # after Open Labels
        menu = QMenu("&Analysis", self.window)
        menu.addActions([self.act_detect, self.act_thresholds, self.act_report])
        menu.addSeparator()
        menu.addActions([self.act_open_reference, self.act_close_reference])
        if "Help" in menus:
            self.window.menuBar().insertMenu(menus["Help"], menu)
        else:
            self.window.menuBar().addMenu(menu)
        self.analysis_menu = menu
        view_menu = menus["View"].menu() if "View" in menus else None
        if isinstance(view_menu, QMenu):
            view_menu.addAction(self.dock_failures.toggleViewAction())
            view_menu.addAction(self.dock_compare.toggleViewAction())

    def _after_hand_lanes(self, hand: int) -> int:
        """Index just after the last timeline lane of `hand`'s group."""
        lanes = self.window.timeline.lanes
        idx = [i for i, lane in enumerate(lanes) if lane.group == HAND_LABELS[hand]]
        return idx[-1] + 1 if idx else len(lanes)

    def _update_error_lanes(self) -> None:
        tl = self.window.timeline
        for lane in self.error_lanes:
            tl.remove_lane(lane)
        self.error_lanes = []
        if not self.compare.active:
            return
        for h in (0, 1):
            for name in ERROR_METRICS:
                lane = error_lane(self.compare, self.error_scale, name, h)
                tl.add_lane(lane, self._after_hand_lanes(h))
                self.error_lanes.append(lane)

    # ----------------------------------------------------------- reference
    def open_reference(self, path: str | Path | None = None, *, force: bool = False) -> bool:
        w = self.window
        path = w.label_file_for_video(
            path, "Open reference labels", "Open the video (and its labels) before a reference."
        )
        if path is None:
            return False
        try:
            self.compare.open_reference(path, force=force)
        except LabelMismatchError as exc:
            w.errors.report(
                exc, actions={"Open anyway": lambda p=path: self.open_reference(p, force=True)}
            )
            return False
        except (VidihandError, OSError) as exc:
            w.errors.report(exc, title="Cannot open reference labels")
            return False
        self.dock_compare.show()
        self.dock_compare.raise_()
        w.statusBar().showMessage(f"Comparing with {Path(path).name}", 5000)
        return True

    def load_thresholds(self, path: str | Path | None = None) -> bool:
        """Detector thresholds from a JSON object (names as in core/analysis/thresholds.py);
        the detectors rerun with them, and the report uses them."""
        from core.analysis import Thresholds

        w = self.window
        if path is None:
            path, _ = QFileDialog.getOpenFileName(
                w, "Detector thresholds", w.settings.last_dir, "JSON (*.json);;All files (*)"
            )
            if not path:
                return False
        try:
            th = Thresholds.from_json(path)
        except (VidihandError, OSError, ValueError) as exc:
            w.errors.report(exc, title="Cannot use these thresholds")
            return False
        self.failures.set_thresholds(th)
        w.statusBar().showMessage(f"Detector thresholds from {Path(path).name}", 5000)
        return True

    # --------------------------------------------------------------- report
    def report(self, path: str | Path | None = None, *, open_after: bool | None = None) -> bool:
        """Write the HTML report to `path` (asked when None) off the GUI thread. When written,
        `open_after` None asks whether to open it, True opens it, False does neither."""
        w = self.window
        if w.session.doc is None:
            return False
        if path is None:
            s = w.session
            start = s.labels_path or s.video_path or Path(w.settings.last_dir or ".") / "labels"
            path, _ = QFileDialog.getSaveFileName(
                w, "Write report", str(Path(start).with_suffix(".report.html")), REPORT_FILTER
            )
            if not path:
                return False
        self._report_target = Path(path)
        self._report_open = open_after
        w.statusBar().showMessage(f"Writing report {Path(path).name}...")
        self.report_job.request(0)
        return True

    def _prepare_report(self) -> Callable[[], Path] | None:
        from core.analysis.report import build_report
        from core.io.atomic import atomic_path

        s, target = self.window.session, self._report_target
        if s.doc is None or target is None:
            return None
        pred = s.doc.copy()
        ref = self.compare.reference
        video = s.video_path
        thresholds = self.failures.thresholds
        forced = self.compare.forced
        title = f"Failure analysis: {s.labels_path.name if s.labels_path else 'unsaved labels'}"
        if video is not None:
            title += f" ({video.name})"

        def work() -> Path:
            html, _data = build_report(
                pred, gt=ref, video=video, thresholds=thresholds, title=title, overlap=forced
            )
            with atomic_path(target) as tmp:
                tmp.write_text(html, encoding="utf-8")
            return target

        return work

    def _on_report_written(self, path: Path) -> None:
        w = self.window
        self.last_report = path
        w.statusBar().showMessage(f"Report written: {path}", 8000)
        if self._report_open is True:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(path)))
            return
        if self._report_open is False:
            return
        box = QMessageBox(QMessageBox.Icon.Information, "Report written", f"Wrote {path.name}.",
                          parent=w)  # fmt: skip
        box.setObjectName("reportDialog")
        box.setInformativeText(str(path))
        open_button = box.addButton("Open", QMessageBox.ButtonRole.AcceptRole)
        box.addButton(QMessageBox.StandardButton.Close)
        open_button.clicked.connect(lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(str(path))))
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.finished.connect(lambda _r: setattr(self, "report_dialog", None))
        self.report_dialog = box
        box.open()

    # -------------------------------------------------------------- shutdown
    def shutdown(self) -> None:
        """Wait for background runs and refuse new ones (the window is closing)."""
        for job in (self.failures.job, self.compare.job, self.report_job):
            job.shutdown()


def install_analysis(window: MainWindow) -> AnalysisUI:
    return AnalysisUI(window)
