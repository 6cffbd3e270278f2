"""The reconstruction dock: where (this computer or a remote host), backend and its options,
whether to refine the tracks (on by default, as `vidihand reconstruct`), frame range, run /
cancel, progress with speed and ETA, the remote link's state."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.errors import ErrorInfo
from app.recon import ReconController, RunState
from app.session import Session
from app.widgets.connection_status import ConnectionStatus
from app.widgets.run_on import OptionsEdit, RunOnCombo
from core.recon.refine.stage import refines_by_default
from core.recon.registry import available_backends


def format_eta(seconds: float) -> str:
    if seconds != seconds or seconds == float("inf"):
        return "--:--"
    m, s = divmod(int(round(seconds)), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class ReconPanel(QWidget):
    def __init__(
        self,
        session: Session,
        controller: ReconController,
        default_backend: str = "mediapipe",
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.session = session
        self.controller = controller
        self.setObjectName("reconPanel")
        self.backend = QComboBox()
        for name, desc in available_backends().items():
            self.backend.addItem(name, name)
            self.backend.setItemData(self.backend.count() - 1, desc, Qt.ItemDataRole.ToolTipRole)
        i = self.backend.findData(default_backend)
        self.backend.setCurrentIndex(max(i, 0))
        self.run_on = RunOnCombo()  # remote hosts: filled from the settings by app/remote_ui.py
        self.options = OptionsEdit()
        self.refine = QCheckBox("Refine tracks")
        self.refine.setObjectName("refineTracks")
        self.refine.setChecked(True)
        self.connection = ConnectionStatus(controller)
        self.whole = QRadioButton("Whole clip")
        self.range = QRadioButton("Frames")
        self.whole.setChecked(True)
        self.start_spin, self.stop_spin = QSpinBox(), QSpinBox()
        self.start_spin.setToolTip("First frame")
        self.stop_spin.setToolTip("Last frame (inclusive)")
        self.from_here = QPushButton("From current")
        self.from_here.setToolTip("Start the range at the current frame")
        self.run_button = QPushButton("Run")
        self.run_button.setObjectName("primaryButton")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.progress.setFormat("idle")
        self.progress.setValue(0)
        self.status = QLabel("Choose a backend and run it on the whole clip or a range.")
        self.status.setWordWrap(True)
        self.status.setObjectName("dimLabel")

        form = QFormLayout()
        form.addRow("Run on", self.run_on)
        form.addRow("", self.connection)  # the link's state, right under where it runs
        form.addRow("Backend", self.backend)
        form.addRow("Options", self.options)
        form.addRow("", self.refine)
        rng = QHBoxLayout()
        rng.addWidget(self.start_spin)
        rng.addWidget(QLabel("to"))
        rng.addWidget(self.stop_spin)
        rng.addWidget(self.from_here)
        form.addRow(self.whole)
        form.addRow(self.range, rng)
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addStretch(1)

        self.run_button.clicked.connect(self.run)
        self.cancel_button.clicked.connect(controller.cancel)
        self.from_here.clicked.connect(
            lambda: (self.range.setChecked(True), self.start_spin.setValue(session.clock.frame))
        )
        self.start_spin.valueChanged.connect(lambda _v: self.range.setChecked(True))
        controller.started.connect(self._on_started)
        controller.progressed.connect(self._on_progress)
        controller.finished.connect(self._on_finished)
        session.documentReplaced.connect(self._on_document)
        self.backend.currentIndexChanged.connect(self._on_backend)
        self._on_document()
        self._on_backend()

    def _on_document(self) -> None:
        n = self.session.doc.n_frames if self.session.doc is not None else 0
        for spin in (self.start_spin, self.stop_spin):
            spin.blockSignals(True)
            spin.setRange(0, max(n - 1, 0))
            spin.blockSignals(False)
        self.stop_spin.setValue(max(n - 1, 0))

    def _on_backend(self) -> None:
        name = self.backend.currentData()
        applies = refines_by_default(str(name))
        self.refine.setEnabled(applies)
        self.refine.setToolTip(
            "After the detector: one skeleton per hand, a temporal two-hand fit, lost hands "
            "looked for again, short gaps filled (docs/reconstructors.md, Refinement). Off: "
            "the detector's raw per-frame output, like `vidihand reconstruct --no-refine`."
            if applies
            else f"{name} output is not refined (it is temporal already, or a replay)."
        )

    def refine_choice(self) -> bool | None:
        """What the run passes on: None (the backend's default: refined when the backend is
        refined by default, as in the CLI) or False (raw, `--no-refine`)."""
        return None if self.refine.isChecked() else False

    def selected_range(self) -> tuple[int, int | None]:
        if self.whole.isChecked():
            return 0, None
        a, b = self.start_spin.value(), self.stop_spin.value()
        return min(a, b), max(a, b) + 1

    def run(self) -> None:
        start, stop = self.selected_range()
        try:
            options = self.options.options()
        except ValueError as exc:
            self.controller.errors.report(
                ErrorInfo(
                    "Invalid backend options",
                    f"The backend options {self.options.text()!r} cannot be used: {exc}",
                    "Write them as KEY=VALUE separated by spaces, e.g. labels=gt.h5 decode=false.",
                )
            )
            return
        self.controller.start(
            self.backend.currentData(),
            start,
            stop,
            options,
            host=self.run_on.host(),
            refine=self.refine_choice(),
        )

    def _on_started(self, state: RunState) -> None:
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.progress.setRange(0, max(state.total, 1))
        self.progress.setValue(0)
        self.progress.setFormat(f"starting {state.backend}...")
        where = f" on {state.host}" if state.host else ""
        then = ", then refining the tracks" if state.refine else ""
        self.status.setText(
            f"Reconstructing frames {state.start}-{state.stop - 1} with {state.backend}{where}"
            f"{then}."
        )

    def _on_progress(self, state: RunState) -> None:
        self.progress.setValue(state.done)
        if state.refine and state.done >= state.total:
            self.progress.setFormat(f"{state.done}/{state.total} frames  ·  refining the tracks...")
            return
        self.progress.setFormat(
            f"{state.done}/{state.total} frames  ·  {state.fps:.1f} fps  ·  {format_eta(state.eta)} left"
        )

    def _on_finished(self, outcome: str) -> None:
        self.run_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        st = self.controller.state
        text = {
            "done": f"Done: {st.done} frames with {st.backend}"
            + (", refined." if st.refine else "."),
            "cancelled": f"Cancelled after {st.done} of {st.total} frames; finished frames were kept.",
            "error": f"Failed after {st.done} frames; finished frames were kept (see the error).",
        }[outcome]
        self.progress.setFormat(f"{st.done}/{st.total} frames  ·  {st.fps:.1f} fps  ·  {outcome}")
        self.status.setText(text)
