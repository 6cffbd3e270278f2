"""The status line of the review window and its title: frame, time and fps; the hands on this
frame; the reconstruction run; the document's state ("unsaved" from the workspace's change
counter) and the title's unsaved marker. Built from the session and the run controller."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QLabel, QStatusBar

from app.recon import ReconController, RunState
from app.session import Session
from app.widgets import steady_label
from app.widgets.colors import HAND_LABELS
from app.widgets.recon_panel import format_eta
from app.widgets.video_view import format_time
from core.labels.document import Change, Source


class StatusLine:
    """Labels in the status bar, updated from the session's and the run's signals."""

    def __init__(
        self,
        session: Session,
        recon: ReconController,
        bar: QStatusBar,
        set_title: Callable[[str], None],
    ) -> None:
        self.session, self.recon, self._set_title = session, recon, set_title
        self.frame = QLabel("no video")
        self.hands = QLabel("")
        self.doc = QLabel("")
        self.run = QLabel("")
        for w in (self.frame, self.hands):
            bar.addWidget(w)
        bar.addPermanentWidget(self.run)
        bar.addPermanentWidget(self.doc)
        #: what the doc label was made from: (id of the document, its revision, unsaved)
        self._doc_key: tuple[int, int, bool] | None = None
        session.clock.frameChanged.connect(self.update_status)
        session.documentEdited.connect(self._on_edit)
        session.pathsChanged.connect(self.update_title)
        session.pathsChanged.connect(self.update_doc_status)
        session.documentReplaced.connect(self._on_document)
        recon.progressed.connect(self._on_recon_progress)
        recon.finished.connect(self._on_recon_finished)

    def _on_document(self) -> None:
        """A new document: reserve the frame and hands labels' room for every text its frames
        can show, so a step changes their text, never the status bar's layout."""
        doc = self.session.doc
        self._doc_key = None
        if doc is not None:
            last = doc.n_frames - 1
            steady_label.reserve(self.frame, [self._frame_text(last)])
            steady_label.reserve(
                self.hands,
                ["   ".join(f"{HAND_LABELS[h]} 0.00 ({s.name.lower()}, reviewed)" for h in (0, 1))
                 for s in Source],
            )  # fmt: skip
        self.update_status()

    def _frame_text(self, f: int) -> str:
        s = self.session
        doc = s.doc
        assert doc is not None
        return f"Frame {f} / {doc.n_frames - 1}   {format_time(s.clock.time_of(f))}   {doc.meta.fps:.3g} fps"

    def update_status(self, *_args: object) -> None:
        s = self.session
        doc, f = s.doc, s.clock.frame
        if doc is None:
            self.frame.setText("no video")
            return
        parts = []
        for h in (0, 1):
            t = doc.hands[h]
            if 0 <= f < doc.n_frames and t.present[f]:
                src = Source(int(t.source[f])).name.lower()
                rev = ", reviewed" if t.reviewed[f] else ""
                parts.append(f"{HAND_LABELS[h]} {t.confidence[f]:.2f} ({src}{rev})")
            else:
                parts.append(f"{HAND_LABELS[h]} -")
        steady_label.set_text(self.frame, self._frame_text(f))
        steady_label.set_text(self.hands, "   ".join(parts))
        self.update_doc_status()

    def update_doc_status(self) -> None:
        doc = self.session.doc
        if doc is None:
            return
        key = (id(doc), doc.revision, doc.dirty)
        if key == self._doc_key:
            return  # nothing changed since: no count over every frame on a step
        self._doc_key = key
        c = doc.present_counts()
        self.doc.setText(
            f"hands on {c['any']}/{doc.n_frames} frames{'  ·  unsaved' if doc.dirty else ''}"
        )

    def _on_edit(self, change: Change) -> None:
        if self.session.clock.frame in set(change.frames.tolist()):
            self.update_status()
        self.update_doc_status()
        self.update_title()

    def update_title(self) -> None:
        s = self.session
        name = s.video_path.name if s.video_path else "no video"
        labels = f" — {s.labels_path.name}" if s.labels_path else ""
        star = "*" if s.dirty else ""
        self._set_title(f"{star}{name}{labels} — ViDiHand Studio")

    def _on_recon_progress(self, state: RunState) -> None:
        self.run.setText(
            f"{state.backend}: {state.done}/{state.total}  {state.fps:.0f} fps  {format_eta(state.eta)} left"
        )

    def _on_recon_finished(self, outcome: str) -> None:
        st = self.recon.state
        self.run.setText(f"{st.backend}: {outcome} ({st.done}/{st.total})")
        self.update_status()
