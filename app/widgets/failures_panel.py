"""The failures dock: suspicious segments ranked by score; jump to one; confirm or dismiss it.

The list shows `FailuresModel.segments()` (highest score first) with kind, hand, frames, score
and review state, filtered by kind, hand and review status. Clicking a row (or Enter on it)
moves the session clock to the segment's first frame. Below the list, the selected segment is confirmed with a
failure category (`core.analysis.review.CATEGORIES`) and an optional note, dismissed, or
cleared; the decision is written into the document (saved with the labels).
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.failures import FailuresModel
from app.widgets.analysis_lanes import KIND_COLORS
from app.widgets.colors import HAND_COLORS, HAND_LABELS, TEXT_DIM
from core.analysis import CONTEXT_KINDS, KINDS, Segment
from core.analysis.detectors import KIND_DESCRIPTIONS
from core.analysis.review import CATEGORIES

#: the category proposed when confirming a segment of this kind
DEFAULT_CATEGORY: dict[str, str] = {
    "lr_swap": "lr_swap",
    "accel_spike": "wrong_pose",
    "jitter": "jitter",
    "bone_length": "wrong_pose",
    "interpenetration": "interpenetration",
    "reprojection": "wrong_depth",
    "dropout": "missed_hand",
    "low_confidence": "occlusion",
    "leaving_frame": "hand_leaving_frame",
}
STATUS_FILTERS = ("all", "unreviewed", "confirmed", "dismissed")
STATUS_COLORS = {"confirmed": QColor("#ff8787"), "dismissed": TEXT_DIM}
COLUMNS = ("score", "kind", "hand", "frames", "review")


def _swatch(color: QColor) -> QIcon:
    pm = QPixmap(10, 10)
    pm.fill(color)
    return QIcon(pm)


class FailuresPanel(QWidget):
    """Ranked segments with filters and review controls."""

    reportRequested = Signal()

    def __init__(self, model: FailuresModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.session = model.session
        self.setObjectName("failuresPanel")
        #: the segments in the table, row by row
        self.rows: list[Segment] = []

        self.rerun_button = QPushButton("Run detectors")
        self.rerun_button.setToolTip("Run the failure detectors on the labels now")
        self.report_button = QPushButton("Report...")
        self.report_button.setToolTip(
            "Write an HTML report: metrics, failures, plots, worst frames"
        )
        self.status = QLabel("no labels")
        self.status.setObjectName("dimLabel")
        top = QHBoxLayout()
        top.addWidget(self.rerun_button)
        top.addWidget(self.status, 1)
        top.addWidget(self.report_button)

        self.kind_filter = QComboBox()
        self.kind_filter.addItem("all kinds", None)
        self.kind_filter.addItem("errors only", "errors")
        for k in KINDS:
            self.kind_filter.addItem(_swatch(KIND_COLORS[k]), k, k)
            self.kind_filter.setItemData(
                self.kind_filter.count() - 1, KIND_DESCRIPTIONS[k], Qt.ItemDataRole.ToolTipRole
            )
        self.hand_filter = QComboBox()
        self.hand_filter.addItem("both hands", None)
        for h in (0, 1):
            self.hand_filter.addItem(_swatch(HAND_COLORS[h]), HAND_LABELS[h].lower(), h)
        self.status_filter = QComboBox()
        for s in STATUS_FILTERS:
            self.status_filter.addItem(s, s)
        filters = QHBoxLayout()
        for w in (self.kind_filter, self.hand_filter, self.status_filter):
            filters.addWidget(w, 1)
            w.currentIndexChanged.connect(self.refresh)

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setObjectName("failuresTable")
        self.table.setHorizontalHeaderLabels([c.capitalize() for c in COLUMNS])
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.setShowGrid(False)
        hh = self.table.horizontalHeader()
        hh.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        hh.setSectionResizeMode(len(COLUMNS) - 1, QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setDefaultSectionSize(22)

        self.category = QComboBox()
        for c in CATEGORIES:
            self.category.addItem(c.replace("_", " "), c)
        self.category.setToolTip("Why the reconstructor failed here")
        self.note = QLineEdit()
        self.note.setPlaceholderText("note (optional)")
        self.confirm_button = QPushButton("Confirm")
        self.confirm_button.setObjectName("primaryButton")
        self.confirm_button.setToolTip("A real failure, of the chosen category")
        self.dismiss_button = QPushButton("Dismiss")
        self.dismiss_button.setToolTip("Not a failure (a false alarm)")
        self.clear_button = QPushButton("Clear")
        self.clear_button.setToolTip("Forget the decision on this segment")
        row1 = QHBoxLayout()
        row1.addWidget(self.category, 2)
        row1.addWidget(self.note, 3)
        row2 = QHBoxLayout()
        row2.addWidget(self.confirm_button)
        row2.addWidget(self.dismiss_button)
        row2.addWidget(self.clear_button)
        self.selection_label = QLabel("Select a segment to review it.")
        self.selection_label.setObjectName("dimLabel")

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(top)
        layout.addLayout(filters)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.selection_label)
        layout.addLayout(row1)
        layout.addLayout(row2)

        self.rerun_button.clicked.connect(lambda: self.model.rerun())
        self.report_button.clicked.connect(self.reportRequested)
        self.table.itemSelectionChanged.connect(self._on_selection)
        self.table.cellClicked.connect(lambda row, _col: self.jump_to(row))
        self.table.activated.connect(lambda index: self.jump_to(index.row()))  # Enter key
        self.confirm_button.clicked.connect(self.confirm_selected)
        self.dismiss_button.clicked.connect(lambda: self._decide("dismissed"))
        self.clear_button.clicked.connect(lambda: self._decide(None))
        model.updated.connect(self.refresh)
        model.decisionsChanged.connect(self.refresh)
        model.running.connect(self._on_running)
        self._set_review_enabled(False)
        self.refresh()

    # ------------------------------------------------------------------ list
    def filtered(self) -> list[Segment]:
        kind = self.kind_filter.currentData()
        hand = self.hand_filter.currentData()
        status = self.status_filter.currentData()
        segs = self.model.segments()
        review = self.model.decisions_of(segs) if status != "all" else [None] * len(segs)
        out = []
        for seg, d in zip(segs, review, strict=True):
            if kind == "errors" and seg.kind in CONTEXT_KINDS:
                continue
            if kind not in (None, "errors") and seg.kind != kind:
                continue
            if hand is not None and seg.hand != hand:
                continue
            if status != "all" and (d.status if d else "unreviewed") != status:
                continue
            out.append(seg)
        return out

    def refresh(self) -> None:
        """Rebuild the table from the model, keeping the selected segment selected."""
        keep = self.selected()
        segs = self.filtered()
        self.table.blockSignals(True)
        self.table.setRowCount(len(segs))
        fps = self.session.doc.meta.fps if self.session.doc is not None else 30.0
        for r, (seg, d) in enumerate(zip(segs, self.model.decisions_of(segs), strict=True)):
            review = "" if d is None else d.status
            if d is not None and d.category:
                review += f": {d.category.replace('_', ' ')}"
            if d is not None and d.note:
                review += f" ({d.note})"
            cells = (
                f"{seg.score:.2f}",
                seg.kind.replace("_", " "),
                HAND_LABELS[seg.hand].lower(),
                f"{seg.start}-{seg.end}" if seg.end > seg.start else str(seg.start),
                review,
            )
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if c == 0:
                    item.setTextAlignment(
                        Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
                    )
                if c == 1:
                    item.setIcon(_swatch(KIND_COLORS[seg.kind]))
                    item.setToolTip(KIND_DESCRIPTIONS[seg.kind])
                if c == 2:
                    item.setForeground(HAND_COLORS[seg.hand])
                if c == 3:
                    item.setToolTip(f"{seg.length} frames, {seg.start / fps:.2f} s")
                if c == 4 and d is not None:
                    item.setForeground(STATUS_COLORS[d.status])
                    item.setToolTip(f"{review}\n{d.updated}")
                self.table.setItem(r, c, item)
        self.rows = segs
        if keep is not None and keep in segs:
            self.table.selectRow(segs.index(keep))
        self.table.blockSignals(False)
        self._on_selection()
        self._update_status()

    def _update_status(self) -> None:
        if self.session.doc is None:
            self.status.setText("no labels")
            return
        if self.model.detections is None:
            self.status.setText("running..." if self.model.busy else "not run yet")
            return
        segs = self.model.segments()
        errors = sum(1 for s in segs if s.kind not in CONTEXT_KINDS)
        reviewed = sum(1 for d in self.model.decisions_of(segs) if d is not None)
        text = f"{errors} failures, {len(segs) - errors} context, {reviewed} reviewed"
        if len(self.rows) != len(segs):
            text += f"; {len(self.rows)} shown"
        self.status.setText(text + ("  (updating)" if self.model.busy else ""))

    def _on_running(self, running: bool) -> None:
        self.rerun_button.setEnabled(not running)
        self._update_status()

    # ------------------------------------------------------------- selection
    def selected(self) -> Segment | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows or rows[0].row() >= len(self.rows):
            return None
        return self.rows[rows[0].row()]

    def select(self, seg: Segment) -> None:
        """Select a segment's row (it must pass the filters) and jump to it."""
        row = self.rows.index(seg)
        self.table.selectRow(row)
        self.jump_to(row)

    def jump_to(self, row: int) -> None:
        if 0 <= row < len(self.rows):
            self.session.clock.set_frame(self.rows[row].start)

    def _on_selection(self) -> None:
        seg = self.selected()
        self._set_review_enabled(seg is not None)
        if seg is None:
            self.selection_label.setText("Select a segment to review it.")
            return
        d = self.model.decision(seg)
        self.selection_label.setText(
            f"{HAND_LABELS[seg.hand]} hand, {seg.kind.replace('_', ' ')}, frames {seg.start}-"
            f"{seg.end}, score {seg.score:.2f}"
        )
        self.selection_label.setToolTip(KIND_DESCRIPTIONS[seg.kind])
        category = d.category if d is not None and d.category else DEFAULT_CATEGORY[seg.kind]
        self.category.setCurrentIndex(max(0, self.category.findData(category)))
        self.note.setText(d.note if d is not None else "")

    def _set_review_enabled(self, on: bool) -> None:
        for w in (self.category, self.note, self.confirm_button, self.dismiss_button,
                  self.clear_button):  # fmt: skip
            w.setEnabled(on)

    # ------------------------------------------------------------- decisions
    def confirm_selected(self) -> None:
        self._decide("confirmed")

    def _decide(self, status: str | None) -> None:
        seg = self.selected()
        if seg is None:
            return
        category = self.category.currentData() if status == "confirmed" else None
        self.model.decide(seg, status, category, self.note.text())
