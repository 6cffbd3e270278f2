"""Failure analysis in the review window: the failures dock, compare mode and the report.

`install_analysis(parts)` adds everything through the window's `WindowParts` (session, views,
timeline, declared actions, docks, error presenter), so the window's own code only calls it:

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

from PySide6.QtCore import QObject, Qt, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QFileDialog, QMessageBox

from app.actions import Action
from app.background import BackgroundJob
from app.compare import CompareModel
from app.failures import FailuresModel
from app.shell import WindowParts
from app.widgets.analysis_lanes import ERROR_METRICS, ErrorScale, error_lane, failure_lane
from app.widgets.compare_panel import ComparePanel
from app.widgets.failures_panel import FailuresPanel
from app.widgets.reference_view import Reference3D, ReferenceOverlay
from app.widgets.timeline import Lane
from core.errors import LabelMismatchError, VidihandError

LABEL_FILTER = "ViDiHand labels (*.h5 *.hdf5);;All files (*)"
REPORT_FILTER = "HTML report (*.html);;All files (*)"


class AnalysisUI(QObject):
    """What `install_analysis` added to a window (models, panels, docks, actions, lanes)."""

    def __init__(self, parts: WindowParts) -> None:
        super().__init__(parts.dialog_parent)
        self.parts = parts
        session = parts.session
        self.failures = FailuresModel(session, parts.errors.report, self)
        self.compare = CompareModel(session, parts.errors.report, self)
        self.failures_panel = FailuresPanel(self.failures)
        self.error_scale = ErrorScale(self.compare)
        self.compare_panel = ComparePanel(self.compare, self.error_scale)
        docks = parts.docks
        self.dock_failures = docks.add(
            "Failures", "dockFailures", self.failures_panel, tab_with="dockRecon"
        )
        self.dock_compare = docks.add(
            "Compare", "dockCompare", self.compare_panel, tab_with="dockFailures"
        )
        self.dock_failures.raise_()
        # the failures list needs rows more than the 3D view needs height
        docks.resize(["dock3d", "dockRecon"], [330, 470], Qt.Orientation.Vertical)

        # timeline: a failures lane at the end of each hand's group, error lanes while comparing
        tl = parts.timeline
        self.failure_lanes = [failure_lane(self.failures, h) for h in (0, 1)]
        for lane in self.failure_lanes:
            tl.add_lane(lane, after="")
        self.error_lanes: list[Lane] = []
        self.failures.updated.connect(tl.refresh_lanes)
        self.compare.evaluated.connect(tl.refresh_lanes)
        self.compare.referenceChanged.connect(self._update_error_lanes)

        # reference hands in the overlay and the 3D view
        self.reference_overlay = ReferenceOverlay(self.compare, parts.video_view)
        parts.video_view.overlay_painters.append(self.reference_overlay)
        self.reference_3d = Reference3D(self.compare, parts.view3d)

        # report
        self._report_target: Path | None = None
        self._report_open: bool | None = None
        self.report_job = BackgroundJob("report", self._prepare_report, self)
        self.report_job.finished.connect(self._on_report_written)
        self.report_job.failed.connect(
            lambda exc: parts.errors.report(exc, title="Cannot write the report")
        )
        #: the "report written, open it?" box of the last report (None once closed)
        self.report_dialog: QMessageBox | None = None
        self.last_report: Path | None = None
        self.failures_panel.reportRequested.connect(lambda: self.report())
        self.compare_panel.openRequested.connect(lambda: self.open_reference())
        self._build_actions()

    # ----------------------------------------------------------------- build
    def _build_actions(self) -> None:
        add = self.parts.actions.add
        self.act_open_reference = add(Action(
            "analysis.open_reference", "Open &Reference Labels...", lambda: self.open_reference(),
            "Ctrl+Shift+L", "Analysis", "reference",
            tip="Compare the labels with reference labels (e.g. ground truth) of this video",
            help="open reference labels (compare mode)",
        ))  # fmt: skip
        self.parts.actions.add_to_menu("File", self.act_open_reference, "open")
        self.act_close_reference = add(Action(
            "analysis.close_reference", "Close Reference", self.compare.close_reference,
            menu="Analysis", group="reference", enabled_when=lambda: self.compare.active,
        ))  # fmt: skip
        self.act_detect = add(Action(
            "analysis.detect", "Run &Detectors", lambda: self.failures.rerun(), menu="Analysis",
            group="detect", tip="Find suspicious segments now",
        ))  # fmt: skip
        self.act_thresholds = add(Action(
            "analysis.thresholds", "Detector &Thresholds...", lambda: self.load_thresholds(),
            menu="Analysis", group="detect",
            tip="Load detector thresholds from JSON (docs/failure-analysis.md)",
        ))  # fmt: skip
        self.act_report = add(Action(
            "analysis.report", "&Report...", lambda: self.report(), menu="Analysis",
            group="detect", tip="Write an HTML failure-analysis report",
        ))  # fmt: skip
        self.compare.referenceChanged.connect(self.parts.actions.refresh)

    def _update_error_lanes(self) -> None:
        tl = self.parts.timeline
        for lane in self.error_lanes:
            tl.remove_lane(lane)
        self.error_lanes = []
        if not self.compare.active:
            return
        for h in (0, 1):
            for name in ERROR_METRICS:
                lane = error_lane(self.compare, self.error_scale, name, h)
                tl.add_lane(lane, after="")  # at the end of the hand's group
                self.error_lanes.append(lane)

    # ----------------------------------------------------------- reference
    def open_reference(self, path: str | Path | None = None, *, force: bool = False) -> bool:
        w = self.parts
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
        w.status_bar.showMessage(f"Comparing with {Path(path).name}", 5000)
        return True

    def load_thresholds(self, path: str | Path | None = None) -> bool:
        """Detector thresholds from a JSON object (names as in core/analysis/thresholds.py);
        the detectors rerun with them, and the report uses them."""
        from core.analysis import Thresholds

        w = self.parts
        if path is None:
            path, _ = QFileDialog.getOpenFileName(
                w.dialog_parent,
                "Detector thresholds",
                w.settings.last_dir,
                "JSON (*.json);;All files (*)",
            )
            if not path:
                return False
        try:
            th = Thresholds.from_json(path)
        except (VidihandError, OSError, ValueError) as exc:
            w.errors.report(exc, title="Cannot use these thresholds")
            return False
        self.failures.set_thresholds(th)
        w.status_bar.showMessage(f"Detector thresholds from {Path(path).name}", 5000)
        return True

    # --------------------------------------------------------------- report
    def report(self, path: str | Path | None = None, *, open_after: bool | None = None) -> bool:
        """Write the HTML report to `path` (asked when None) off the GUI thread. When written,
        `open_after` None asks whether to open it, True opens it, False does neither."""
        w = self.parts
        if w.session.doc is None:
            return False
        if path is None:
            s = w.session
            start = s.labels_path or s.video_path or Path(w.settings.last_dir or ".") / "labels"
            path, _ = QFileDialog.getSaveFileName(
                w.dialog_parent,
                "Write report",
                str(Path(start).with_suffix(".report.html")),
                REPORT_FILTER,
            )
            if not path:
                return False
        self._report_target = Path(path)
        self._report_open = open_after
        w.status_bar.showMessage(f"Writing report {Path(path).name}...")
        self.report_job.request(0)
        return True

    def _prepare_report(self) -> Callable[[], Path] | None:
        from core.analysis.report import build_report
        from core.io.atomic import atomic_path

        s, target = self.parts.session, self._report_target
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
        w = self.parts
        self.last_report = path
        w.status_bar.showMessage(f"Report written: {path}", 8000)
        if self._report_open is True:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(path)))
            return
        if self._report_open is False:
            return
        box = QMessageBox(QMessageBox.Icon.Information, "Report written", f"Wrote {path.name}.",
                          parent=w.dialog_parent)  # fmt: skip
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


def install_analysis(parts: WindowParts) -> AnalysisUI:
    return AnalysisUI(parts)
