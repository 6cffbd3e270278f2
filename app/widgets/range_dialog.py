"""Small editing widgets: the edit-range dialog and the smoothing preview bar."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QWidget,
)

from app.smooth_preview import SmoothPreview
from app.widgets.colors import HAND_LABELS


class RangeDialog(QDialog):
    """First and last frame (inclusive) of the edit range."""

    def __init__(
        self, current: tuple[int, int], n_frames: int, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("rangeDialog")
        self.setWindowTitle("Edit range")
        form = QFormLayout(self)
        self.start = QSpinBox()
        self.end = QSpinBox()
        for box, value in ((self.start, current[0]), (self.end, current[1])):
            box.setRange(0, max(n_frames - 1, 0))
            box.setValue(value)
        form.addRow("First frame", self.start)
        form.addRow("Last frame", self.end)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def value(self) -> tuple[int, int]:
        a, b = self.start.value(), self.end.value()
        return (min(a, b), max(a, b))


class SmoothBar(QWidget):
    """Shown under the inspector while a smoothing preview is on: sigma, Apply, Cancel."""

    def __init__(self, preview: SmoothPreview, apply: Callable[[], object]) -> None:
        super().__init__()
        self.preview = preview
        self.setObjectName("smoothBar")
        row = QHBoxLayout(self)
        row.setContentsMargins(4, 4, 4, 4)
        self.label = QLabel("Smooth")
        self.sigma_box = QDoubleSpinBox()
        self.sigma_box.setRange(0.3, 30.0)
        self.sigma_box.setSingleStep(0.5)
        self.sigma_box.setValue(2.0)
        self.sigma_box.setSuffix(" frames")
        self.sigma_box.setToolTip("Gaussian sigma; keyframes in the range are kept")
        self.apply_button = QPushButton("Apply")
        self.cancel_button = QPushButton("Cancel")
        row.addWidget(self.label, 1)
        row.addWidget(QLabel("sigma"))
        row.addWidget(self.sigma_box)
        row.addWidget(self.apply_button)
        row.addWidget(self.cancel_button)
        self.sigma_box.valueChanged.connect(lambda v: self.preview.update(v))
        self.apply_button.clicked.connect(lambda: apply())
        self.cancel_button.clicked.connect(self.preview.cancel)
        preview.previewChanged.connect(self._on_preview)
        self.hide()

    def _on_preview(self) -> None:
        if self.preview.params is None:
            self.hide()
        else:
            self.show_for(self.preview.params)

    def sigma(self) -> float:
        return float(self.sigma_box.value())

    def show_for(self, params: tuple[int, int, int, float]) -> None:
        hand, a, b, s = params
        self.label.setText(f"Smooth {HAND_LABELS[hand].lower()} {a}-{b} (preview: dashed)")
        self.sigma_box.blockSignals(True)
        self.sigma_box.setValue(s)
        self.sigma_box.blockSignals(False)
        self.show()
