"""The compare dock: which reference is open, and the paper-protocol metrics against it.

The table lists the metrics of `core.metrics` (docs/metrics.md) for both hands pooled, left and
right, grouped by protocol: with the penalty for missed hands (the paper's headline numbers),
without it (frames where both have the hand), presence, and temporal. Definitions are tooltips. It is
refilled whenever `CompareModel` has a new evaluation (after edits, debounced, off the GUI
thread).
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.compare import CompareModel
from app.widgets.analysis_lanes import ErrorScale
from app.widgets.colors import TEXT_DIM
from core.metrics import SPECS

#: (group title, metric names) in table order
GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Penalty (paper protocol)",
     ("MPJPE-p", "PA-MPJPE-p", "EPE-p", "OrientErr-p", "TranslErr-p")),
    ("No penalty (both have the hand)",
     ("MPJPE", "PA-MPJPE", "EPE", "OrientErr", "TranslErr", "RR-MPJPE", "MRRPE")),
    ("Presence", ("FAcc", "precision", "recall", "F1")),
    ("Temporal", ("Jitter", "Jitter-GT", "Jitter-diff", "AccelErr")),
)  # fmt: skip
HEADERS = ("metric", "both", "left", "right", "unit", "n")


def format_value(v: float | None) -> str:
    """The table's number format (as `Evaluation.table()`): '-' when nothing was scored."""
    if v is None:
        return "-"
    if abs(v) >= 100:
        return f"{v:.1f}"
    if abs(v) >= 1:
        return f"{v:.2f}"
    return f"{v:.4f}"


class ComparePanel(QWidget):
    openRequested = Signal()

    def __init__(
        self, model: CompareModel, scale: ErrorScale | None = None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.model = model
        self.scale = scale  #: the timeline error lanes' full scale, quoted in the status line
        self.setObjectName("comparePanel")
        self.open_button = QPushButton("Open reference...")
        self.open_button.setToolTip("Open reference labels (e.g. ground truth) of this video")
        self.close_button = QPushButton("Close")
        self.close_button.setToolTip("Leave compare mode")
        self.show_check = QCheckBox("Show reference")
        self.show_check.setChecked(True)
        self.show_check.setToolTip("Draw the reference (dashed white in the video, grey in 3D)")
        self.source = QLabel("No reference: the metrics need reference labels of this video.")
        self.source.setWordWrap(True)
        self.status = QLabel("")
        self.status.setObjectName("dimLabel")
        self.status.setWordWrap(True)
        top = QHBoxLayout()
        top.addWidget(self.open_button)
        top.addWidget(self.close_button)
        top.addStretch(1)
        top.addWidget(self.show_check)

        self.table = QTableWidget(0, len(HEADERS))
        self.table.setObjectName("metricsTable")
        self.table.setHorizontalHeaderLabels(list(HEADERS))
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.setShowGrid(False)
        self.table.verticalHeader().setDefaultSectionSize(20)
        hh = self.table.horizontalHeader()
        hh.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        hh.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        #: metric name -> table row
        self.row_of: dict[str, int] = {}
        self._build_rows()

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(top)
        layout.addWidget(self.source)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.status)

        self.open_button.clicked.connect(self.openRequested)
        self.close_button.clicked.connect(model.close_reference)
        self.show_check.toggled.connect(self._set_show)
        model.referenceChanged.connect(self._on_reference)
        model.evaluated.connect(self.refresh)
        model.running.connect(lambda _r: self._update_status())
        self._on_reference()

    def _build_rows(self) -> None:
        bold = QFont(self.font())
        bold.setBold(True)
        rows: list[tuple[str, bool]] = []
        for title, names in GROUPS:
            rows.append((title, True))
            rows += [(n, False) for n in names]
        self.table.setRowCount(len(rows))
        for r, (text, is_group) in enumerate(rows):
            item = QTableWidgetItem(text)
            if is_group:
                item.setFont(bold)
                item.setForeground(TEXT_DIM)
                self.table.setSpan(r, 0, 1, len(HEADERS))
            else:
                self.row_of[text] = r
                item.setToolTip(SPECS[text].definition)
                for c in range(1, len(HEADERS)):
                    cell = QTableWidgetItem("")
                    cell.setTextAlignment(
                        Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
                    )
                    self.table.setItem(r, c, cell)
                self.table.item(r, 4).setText(SPECS[text].unit)
            self.table.setItem(r, 0, item)

    # ----------------------------------------------------------------- state
    def _set_show(self, on: bool) -> None:
        self.model.show_reference = on
        self.model.referenceChanged.emit()

    def _on_reference(self) -> None:
        m = self.model
        self.close_button.setEnabled(m.active)
        self.show_check.setEnabled(m.active)
        if m.active:
            name = m.reference_path.name if m.reference_path else "reference"
            extra = " (opened despite a mismatch: common frames only)" if m.forced else ""
            self.source.setText(f"Reference: <b>{name}</b>{extra}")
            self.source.setToolTip(str(m.reference_path))
        else:
            self.source.setText("No reference: the metrics need reference labels of this video.")
            self.source.setToolTip("")
        self.refresh()

    def refresh(self) -> None:
        ev = self.model.evaluation
        for name, r in self.row_of.items():
            for c, suffix in ((1, ""), (2, "/left"), (3, "/right")):
                m = None if ev is None else ev.metrics.get(name + suffix)
                self.table.item(r, c).setText(
                    "" if ev is None or m is None else format_value(m.value)
                )
            both = None if ev is None else ev.metrics.get(name)
            self.table.item(r, 5).setText("" if both is None else str(both.n))
            for c in range(1, 4):
                self.table.item(r, c).setForeground(
                    QColor("#ffd43b") if name.endswith("-p") else self.palette().text().color()
                )
        self._update_status()

    def _update_status(self) -> None:
        m = self.model
        if not m.active:
            self.status.setText("File > Open Reference Labels... compares the labels with them.")
            return
        parts = []
        if m.evaluation is not None:
            parts.append(f"{m.evaluation.n_frames} frames compared")
            parts += m.evaluation.notes
            if self.scale is not None:
                parts.append(f"timeline full scale: {self.scale.describe()}")
        if m.busy:
            parts.append("updating...")
        self.status.setText("; ".join(parts))

    def cell(self, metric: str, column: str) -> str:
        """The text shown for a metric (e.g. "MPJPE-p") in a column ("both", "left", ...)."""
        return self.table.item(self.row_of[metric], HEADERS.index(column)).text()
