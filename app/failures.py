"""The failure detectors of the open document, kept up to date off the GUI thread.

`FailuresModel` runs `core.analysis.detect` on a snapshot of the session's document in a
`BackgroundJob`: at once when another document is opened, and after edits (debounced, so a
reconstruction's batches or a drag cause one run, not dozens). Review decisions are not
detector input: a change of `extras` alone (a confirm or dismiss) only refreshes the views.

Decisions go through `core.analysis.review` on the session's document, so they are saved with
the labels and mark the document unsaved.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PySide6.QtCore import QObject, Signal

from app.background import BackgroundJob
from app.session import Session
from core.analysis import KINDS, Detections, Segment, Thresholds, detect
from core.analysis.review import Decision, decision_for, decisions, set_decision
from core.labels.document import DOCUMENT_FIELDS, Change

#: how long after the last edit the detectors run again
EDIT_DEBOUNCE_MS = 600


class FailuresModel(QObject):
    """Detections of the session's current document and the reviewer's decisions on them."""

    updated = Signal()  #: new detections (or none: another document)
    decisionsChanged = Signal()
    running = Signal(bool)

    def __init__(
        self,
        session: Session,
        report_error: Callable[[BaseException], None] | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.session = session
        self.thresholds = Thresholds()
        self.detections: Detections | None = None
        self._report_error = report_error
        self.job = BackgroundJob("detectors", self._prepare, self)
        self.job.started.connect(lambda: self.running.emit(True))
        self.job.finished.connect(self._on_result)
        self.job.failed.connect(self._on_failed)
        #: per hand (n_kinds, T) scores with NaN as 0, for the timeline lanes
        self._lane_scores: np.ndarray | None = None
        session.documentReplaced.connect(self._on_replaced)
        session.documentEdited.connect(self._on_edit)

    # ----------------------------------------------------------------- runs
    def rerun(self, delay_ms: int = 0) -> None:
        self.job.request(delay_ms)

    def set_thresholds(self, thresholds: Thresholds) -> None:
        self.thresholds = thresholds
        self.rerun()

    def _on_replaced(self) -> None:
        self.detections = None
        self._lane_scores = None
        self.updated.emit()
        self.rerun()

    def _on_edit(self, change: Change) -> None:
        if set(change.fields) <= set(DOCUMENT_FIELDS):
            self.decisionsChanged.emit()
            return
        self.rerun(EDIT_DEBOUNCE_MS)

    def _prepare(self) -> Callable[[], Detections] | None:
        doc = self.session.doc
        if doc is None:
            return None
        snapshot, th = doc.copy(), self.thresholds
        return lambda: detect(snapshot, th)

    def _on_result(self, det: Detections) -> None:
        doc = self.session.doc
        self.running.emit(False)
        if doc is None or det.n_frames != doc.n_frames:
            return
        self.detections = det
        scores = np.stack([np.nan_to_num(det.scores[k], nan=0.0) for k in KINDS], axis=1)
        self._lane_scores = scores  # (2, n_kinds, T)
        self.updated.emit()

    def _on_failed(self, exc: BaseException) -> None:
        self.running.emit(False)
        if self._report_error is not None:
            self._report_error(exc)

    @property
    def busy(self) -> bool:
        return self.job.busy

    # -------------------------------------------------------------- queries
    def segments(self) -> list[Segment]:
        """Every segment above threshold, highest score first."""
        return [] if self.detections is None else self.detections.ranked()

    def lane_scores(self, hand: int) -> np.ndarray | None:
        """(n_kinds, T) detector scores of one hand in KINDS order (0 where undefined)."""
        return None if self._lane_scores is None else self._lane_scores[hand]

    def decision(self, seg: Segment) -> Decision | None:
        doc = self.session.doc
        if doc is None:
            return None
        return decision_for(doc, seg.kind, seg.hand, seg.start, seg.end)

    def decisions_of(self, segs: list[Segment]) -> list[Decision | None]:
        """`decision(seg)` for many segments, reading the stored decisions once (the list
        of a long clip can hold thousands of segments)."""
        doc = self.session.doc
        if doc is None:
            return [None] * len(segs)
        stored = decisions(doc)
        by_track: dict[tuple[str, int], list[Decision]] = {}
        for d in stored.values():
            by_track.setdefault((d.kind, d.hand), []).append(d)
        out: list[Decision | None] = []
        for seg in segs:
            d = stored.get(seg.key)
            if d is None:  # as decision_for: an overlapping one of the same kind and hand
                d = next(
                    (x for x in by_track.get((seg.kind, seg.hand), ())
                     if x.frames[0] <= seg.end and seg.start <= x.frames[1]),
                    None,
                )  # fmt: skip
            out.append(d)
        return out

    # ------------------------------------------------------------ decisions
    def decide(
        self, seg: Segment, status: str | None, category: str | None = None, note: str = ""
    ) -> None:
        """Confirm (with a category), dismiss, or (status None) clear the decision on `seg`.
        Clearing also clears a decision the segment only matched by overlap (made when the
        detectors gave it other frames), since that is the one the list shows for it."""
        doc, history = self.session.doc, self.session.history
        if doc is None or history is None:
            return
        key = seg.key
        if status is None:
            old = decision_for(doc, seg.kind, seg.hand, seg.start, seg.end)
            if old is None:
                return
            key = old.key
        # one undoable, journaled step through the document's edit history
        set_decision(history, key, status, category, note)
