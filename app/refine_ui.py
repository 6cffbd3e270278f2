"""Edit > Refine Range...: re-solve the edit range with the refinement fit, preview, apply.

The annotator's loop (docs/reconstructors.md, "Refinement"): fix two keyframes, select the
range, Refine Range... shows the refitted selected hand as the dashed preview skeleton (the
smoothing preview's overlay and 3D view), and a bar in the status bar offers Apply (one undo
step, the `refine` edit: both hands of the range, constraint frames kept) or Cancel (Escape
too). The fit runs on the GUI thread: a range of a few hundred frames takes about a second.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QWidget

from app.errors import ErrorInfo
from app.widgets.colors import HAND_LABELS
from core.errors import VidihandError

if TYPE_CHECKING:
    from app.editing import EditController
    from core.labels.document import Patch


class RefineRange(QWidget):
    """The bar shown while a refine preview is on, and the controller behind the action."""

    def __init__(self, editor: EditController) -> None:
        super().__init__()
        self.editor = editor
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
        editor.previewChanged.connect(self._preview_changed)
        editor.window.statusBar().addPermanentWidget(self)
        self.hide()

    def start(self) -> bool:
        """Compute the refit of the edit range (or the frames around the current one) and show
        the selected hand's as the preview."""
        from core.recon.refine.edit_op import preview_refine

        ed = self.editor
        doc = ed.session.doc
        a, b = ed.span()
        if doc is None or b - a < 2:
            ed.window.errors.report(ErrorInfo(
                "Select a range to refine", "Refining needs at least three frames.",
                "Ctrl+drag on the timeline, or mark the start and end with [ and ].",
            ))  # fmt: skip
            return False
        try:
            patches = preview_refine(doc, a, b)
        except VidihandError as exc:
            ed.window.errors.report(exc, title="Cannot refine")
            return False
        if not patches:
            ed.window.statusBar().showMessage(
                f"Nothing to refine on {a}-{b}: no predicted frames with detections", 6000
            )
            return False
        ed.cancel_preview()
        self.range, self.patches = (a, b), patches
        shown = next((p for p in patches if p.hand == ed.hand), patches[0])
        ed.preview = shown
        n = sum(len(p.frames) for p in patches)
        self.label.setText(f"Refine {a}-{b}: {n} hand-frames")
        self.label.setToolTip(f"Dashed: the refitted {HAND_LABELS[shown.hand].lower()} hand")
        self.show()
        ed.previewChanged.emit()
        ed.window.video_view.update()
        return True

    def apply(self) -> bool:
        if self.range is None:
            return False
        a, b = self.range
        self._clear()
        return self.editor.apply(f"Refine {a}-{b}", {"op": "refine", "start": a, "end": b})

    def cancel(self) -> None:
        if self.range is not None:
            self._clear()
            self.editor.cancel_preview()

    def _clear(self) -> None:
        self.range, self.patches = None, []
        self.hide()

    def _preview_changed(self) -> None:
        # Escape, another edit or a smoothing preview replaced ours
        if self.range is not None and self.editor.preview not in self.patches:
            self._clear()
