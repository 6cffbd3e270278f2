"""Compare mode: reference labels (e.g. ground truth) next to the predictions being reviewed.

`CompareModel` shows the workspace's reference labels (a second, read-only `LabelDocument` for
the open video, owned by `core.workspace.Workspace`) and holds the `core.metrics.Evaluation` of
the session's document against it. The evaluation runs off the GUI
thread on a snapshot of the predictions (`BackgroundJob`): when the reference is opened, when
other predictions are opened, and after edits (debounced). Opening another video drops the
reference. The views draw the reference through `reference_hand(frame, hand)`; the timeline's
error lanes and the summary table read `evaluation`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal

from app.background import BackgroundJob
from app.session import Session
from core.labels.document import DOCUMENT_FIELDS, Change, LabelDocument
from core.metrics import Evaluation, evaluate

#: how long after the last edit the metrics are computed again
EDIT_DEBOUNCE_MS = 600


class CompareModel(QObject):
    referenceChanged = Signal()  #: a reference was opened or closed
    evaluated = Signal()  #: `evaluation` is new (or None: no reference)
    running = Signal(bool)

    def __init__(
        self,
        session: Session,
        report_error: Callable[[BaseException], None] | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.session = session
        self.evaluation: Evaluation | None = None
        #: drawn in the overlay and the 3D view
        self.show_reference = True
        self._report_error = report_error
        self.job = BackgroundJob("metrics", self._prepare, self)
        self.job.started.connect(lambda: self.running.emit(True))
        self.job.finished.connect(self._on_result)
        self.job.failed.connect(self._on_failed)
        session.referenceChanged.connect(self._on_reference)
        session.documentReplaced.connect(lambda: self._recompute(0))
        session.documentEdited.connect(self._on_edit)

    # ------------------------------------------------------------- reference
    @property
    def reference(self) -> LabelDocument | None:
        return self.session.work.reference

    @property
    def reference_path(self) -> Path | None:
        return self.session.work.reference_path

    @property
    def forced(self) -> bool:
        """Opened despite a mismatch (other video or frame count): compare the common frames."""
        return self.session.work.reference_forced

    @property
    def active(self) -> bool:
        return self.reference is not None

    def open_reference(self, path: str | Path, *, force: bool = False) -> None:
        """Load reference labels for the open video. Raises LabelMismatchError when they were
        made for another video or frame count (unless `force`), LabelFileError when unreadable."""
        self.session.work.open_reference(path, force=force)

    def close_reference(self) -> None:
        self.session.work.close_reference()

    def _on_reference(self) -> None:
        self.job.cancel()
        self.evaluation = None
        if self.reference is None:
            self.running.emit(False)
        self.referenceChanged.emit()
        self.evaluated.emit()
        self._recompute(0)

    def reference_hand(self, frame: int, hand: int) -> tuple[np.ndarray, np.ndarray] | None:
        """(joints_3d (21, 3), joints_2d (21, 2)) of the reference hand on `frame`, or None
        when the reference does not have it there."""
        ref = self.reference
        if ref is None or not self.show_reference or not 0 <= frame < ref.n_frames:
            return None
        t = ref.hands[hand]
        if not t.present[frame]:
            return None
        return t.joints_3d[frame], t.joints_2d[frame]

    # ------------------------------------------------------------- metrics
    def _on_edit(self, change: Change) -> None:
        if not set(change.fields) <= set(DOCUMENT_FIELDS):
            self._recompute(EDIT_DEBOUNCE_MS)

    def _recompute(self, delay_ms: int) -> None:
        if self.reference is not None:
            self.job.request(delay_ms)

    def _prepare(self) -> Callable[[], Evaluation] | None:
        doc, ref = self.session.doc, self.reference
        if doc is None or ref is None:
            return None
        pred, forced = doc.copy(), self.forced
        return lambda: evaluate(pred, ref, overlap=forced, force=forced)

    def _on_result(self, ev: Evaluation) -> None:
        self.running.emit(False)
        if self.reference is None:
            return
        self.evaluation = ev
        self.evaluated.emit()

    def _on_failed(self, exc: BaseException) -> None:
        self.running.emit(False)
        if self._report_error is not None:
            self._report_error(exc)

    @property
    def busy(self) -> bool:
        return self.job.busy

    def per_frame(self, name: str, hand: int) -> np.ndarray | None:
        """(T,) per-frame error of one hand ("MPJPE", "PA-MPJPE", "EPE" or their "-p" forms),
        NaN where undefined; None without an evaluation."""
        if self.evaluation is None or name not in self.evaluation.per_frame:
            return None
        return self.evaluation.per_frame[name][hand]
