"""The smoothing preview: what `smooth` would write over a range, shown before it is applied.

`SmoothPreview` holds the would-be values (a `Patch`, computed by `core.edits.preview_smooth`)
and their parameters; the overlay (app/joint_drag.py), the 3D view (app/widgets/preview3d.py) and
the smoothing bar (app/widgets/range_dialog.py) observe `previewChanged`. The document changes
only when the owner applies the edit. A refinement preview (app/refine_ui.py) holds its patch the
same way (`hold`), without smoothing parameters.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Signal

from app.session import Session
from core.edits import preview_smooth
from core.errors import VidihandError
from core.labels.document import Change, Patch


class SmoothPreview(QObject):
    """The preview's model (see the module docstring)."""

    #: the preview appeared, changed or went
    previewChanged = Signal()

    def __init__(
        self,
        session: Session,
        report: Callable[..., object],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.session = session
        self._report = report
        #: what smoothing would write (None when no preview is shown)
        self.patch: Patch | None = None
        #: (hand, start, end, sigma) of the preview shown
        self.params: tuple[int, int, int, float] | None = None
        #: set while a gesture edits the document, which then does not recompute the preview
        self.paused: Callable[[], bool] = lambda: False
        session.documentEdited.connect(self._on_edit)

    @property
    def active(self) -> bool:
        return self.patch is not None or self.params is not None

    def hold(self, patch: Patch) -> None:
        """Show `patch`, what another edit would write (a refinement), until cancelled or
        replaced; it is not recomputed when the document changes."""
        self.params = None
        self.patch = patch
        self.previewChanged.emit()

    def show(self, hand: int, start: int, end: int, sigma: float) -> bool:
        self.params = (hand, start, end, float(sigma))
        return self.update()

    def update(self, sigma: float | None = None) -> bool:
        """Compute the preview again (with a new sigma when given)."""
        if self.params is None or self.session.doc is None:
            return False
        hand, a, b, s = self.params
        if sigma is not None:
            s = float(sigma)
            self.params = (hand, a, b, s)
        try:
            self.patch = preview_smooth(self.session.doc, hand, a, b, s)
        except VidihandError as exc:
            self._report(exc, title="Cannot smooth")
            self.cancel()
            return False
        self.previewChanged.emit()
        return True

    def cancel(self) -> None:
        if self.patch is None and self.params is None:
            return
        self.patch = None
        self.params = None
        self.previewChanged.emit()

    def _on_edit(self, change: Change) -> None:
        if self.patch is not None and change.hand is not None and not self.paused():
            # the document changed under the preview: recompute it on the same range
            self.update()
