"""The status line of the review window and its title: frame, time and fps; the hands on this
frame; the reconstruction run; the document's state ("unsaved" from the workspace's change
counter) and the title's unsaved marker. Built from the session and the run controller."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QLabel, QStatusBar

from app.recon import ReconController, RunState
from app.session import Session
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
        session.clock.frameChanged.connect(self.update_status)
        session.documentEdited.connect(self._on_edit)
        session.pathsChanged.connect(self.update_title)
        session.pathsChanged.connect(self.update_doc_status)
        session.documentReplaced.connect(self.update_status)
        recon.progressed.connect(self._on_recon_progress)
        recon.finished.connect(self._on_recon_finished)

    def update_status(self, *_args: object) -> None:
        s = self.session
        doc, f = s.doc, s.clock.frame
        if doc is None:
            self.frame.setText("no video")
            return
        self.frame.setText(
            f"Frame {f} / {doc.n_frames - 1}   {format_time(s.clock.time_of(f))}   {doc.meta.fps:.3g} fps"
        )
        parts = []
        for h in (0, 1):
            t = doc.hands[h]
            if 0 <= f < doc.n_frames and t.present[f]:
                src = Source(int(t.source[f])).name.lower()
                rev = ", reviewed" if t.reviewed[f] else ""
                parts.append(f"{HAND_LABELS[h]} {t.confidence[f]:.2f} ({src}{rev})")
            else:
                parts.append(f"{HAND_LABELS[h]} -")
        self.hands.setText("   ".join(parts))
        self.update_doc_status()

    def update_doc_status(self) -> None:
        doc = self.session.doc
        if doc is None:
            return
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
