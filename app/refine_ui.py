"""Edit > Refine Range...: re-solve the edit range with the refinement fit, preview, apply.

The annotator's loop (docs/reconstructors.md, "Refinement"): fix two keyframes, select the
range, Refine Range... (the declared action "edit.refine", app/edit_actions.py) shows the
refitted selected hand as the dashed preview skeleton (held in the smoothing preview's model,
app/smooth_preview.py, so the overlay and the 3D view draw it), and a bar in the status bar
offers Apply (one undo step, the `refine` edit: both hands of the range, constraint frames kept)
or Cancel (Escape too). The fit runs on the GUI thread: a range of a few hundred frames takes
about a second.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QStatusBar, QWidget

from app.errors import ErrorInfo
from app.selection import Selection
from app.session import Session
from app.smooth_preview import SmoothPreview
from app.widgets.colors import HAND_LABELS
from core.errors import VidihandError
from core.labels.document import Patch


class RefineRange(QWidget):
    """The bar shown while a refine preview is on, and the controller behind the action."""

    def __init__(
        self,
        session: Session,
        selection: Selection,
        preview: SmoothPreview,
        apply: Callable[[str, Mapping[str, Any]], bool],
        report: Callable[..., object],
        status_bar: QStatusBar,
    ) -> None:
        super().__init__()
        self.session, self.selection, self.preview = session, selection, preview
        self._apply, self._report, self._status_bar = apply, report, status_bar
        self.setObjectName("refineBar")
        self.range: tuple[int, int] | None = None
        self.patches: list[Patch] = []
        row = QHBoxLayout(self)
        row.setContentsMargins(4, 0, 4, 0)
        self.label = QLabel("Refine")
        self.apply_button = QPushButton("Apply")
        self.cancel_button = QPushButton("Cancel")
        row.addWidget(self.label)
        row.addWidget(self.apply_button)
        row.addWidget(self.cancel_button)
        self.apply_button.clicked.connect(self.apply)
        self.cancel_button.clicked.connect(self.cancel)
        preview.previewChanged.connect(self._preview_changed)
        status_bar.addPermanentWidget(self)
        self.hide()

    def start(self) -> bool:
        """Compute the refit of the edit range (or the frames around the current one) and show
        the selected hand's as the preview."""
        from core.recon.refine.edit_op import preview_refine

        doc = self.session.doc
        a, b = self.selection.span()
        if doc is None or b - a < 2:
            self._report(ErrorInfo(
                "Select a range to refine", "Refining needs at least three frames.",
                "Ctrl+drag on the timeline, or mark the start and end with [ and ].",
            ))  # fmt: skip
            return False
        try:
            patches = preview_refine(doc, a, b)
        except VidihandError as exc:
            self._report(exc, title="Cannot refine")
            return False
        if not patches:
            self._status_bar.showMessage(
                f"Nothing to refine on {a}-{b}: no predicted frames with detections", 6000
            )
            return False
        self.preview.cancel()
        self.range, self.patches = (a, b), patches
        hand = self.selection.hand
        shown = next((p for p in patches if p.hand == hand), patches[0])
        n = sum(len(p.frames) for p in patches)
        self.label.setText(f"Refine {a}-{b}: {n} hand-frames")
        self.label.setToolTip(f"Dashed: the refitted {HAND_LABELS[shown.hand].lower()} hand")
        self.preview.hold(shown)
        self.show()
        return True

    def apply(self) -> bool:
        if self.range is None:
            return False
        a, b = self.range
        self._clear()
        return self._apply(f"Refine {a}-{b}", {"op": "refine", "start": a, "end": b})

    def cancel(self) -> None:
        if self.range is not None:
            self._clear()
            self.preview.cancel()

    def _clear(self) -> None:
        self.range, self.patches = None, []
        self.hide()

    def _preview_changed(self) -> None:
        # Escape, another edit or a smoothing preview replaced ours
        if self.range is not None and not any(p is self.preview.patch for p in self.patches):
            self._clear()
