"""What to do next, over the video pane, while there is nothing to review.

With no video: open one (or drop one on the window). With a video and no labels yet: run a
reconstruction, or open labels (or drop a label file). The card disappears as soon as the
document holds anything (a reconstruction's first frames, loaded labels) and comes back when a
new video is opened. Each line names the action's current shortcut, read from the action, so
it never disagrees with the menus.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QFrame, QLabel, QVBoxLayout, QWidget

from app.actions import Actions
from app.session import Session


@dataclass
class Step:
    """One line of the card: an action and what it does."""

    action: QAction
    text: str


class EmptyState(QFrame):
    """A card centred over `parent` (the video pane), shown while the session has no labels."""

    def __init__(
        self,
        session: Session,
        parent: QWidget,
        no_video: list[Step],
        no_labels: list[Step],
        footer: list[Step] | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("emptyState")
        self.setStyleSheet(
            "#emptyState { background: #18191c; border: 1px solid #3a3d43;"
            " border-radius: 8px; } QLabel { background: transparent; }"
        )
        self.session = session
        self._steps = {"video": no_video, "labels": no_labels}
        self._footer = footer or []
        self.title = QLabel()
        self.title.setObjectName("emptyStateTitle")
        self.title.setStyleSheet("font-size: 15pt; font-weight: 600; color: #e4e6ea;")
        self.body = QLabel()
        self.body.setTextFormat(Qt.TextFormat.RichText)
        self.body.setStyleSheet("font-size: 10.5pt; color: #c4c7cd;")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(28, 22, 28, 22)
        lay.setSpacing(12)
        lay.addWidget(self.title)
        lay.addWidget(self.body)
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents, False)
        parent.installEventFilter(self)
        session.videoChanged.connect(self.refresh)
        session.documentReplaced.connect(self.refresh)
        session.documentEdited.connect(self._on_edit)
        self.refresh()

    @property
    def state(self) -> str:
        """What the card shows: "video" (no video open), "labels" (a video, no labels yet), or
        "" (labels are open: no card)."""
        if self.session.video is None:
            return "video"
        doc = self.session.doc
        if doc is None or getattr(doc, "blank", False):
            return "labels"
        return ""

    def _on_edit(self, _change: object) -> None:
        if not self.isHidden() and not self.state:
            self.hide()

    def refresh(self) -> None:
        state = self.state
        if not state:
            self.hide()
            return
        if state == "video":
            self.title.setText("No video open")
            intro = "Start by opening the video whose hands you want to label."
        else:
            name = self.session.video_path.name if self.session.video_path else "this video"
            self.title.setText(f"No labels yet for {html.escape(name)}")
            intro = "Make labels to review, or open labels you already have."
        rows = "".join(self._row(s) for s in self._steps[state])
        drop = (
            "Or drop a video, or a video and its label file, on this window."
            if state == "video"
            else "Or drop a label file (.h5) on this window."
        )
        foot = " &nbsp; ".join(self._key(s) + " " + html.escape(s.text) for s in self._footer)
        self.body.setText(
            f"<p>{html.escape(intro)}</p>"
            f"<table cellspacing='0' cellpadding='4'>{rows}</table>"
            f"<p style='color:#8b8f98'>{html.escape(drop)}</p>"
            + (f"<p style='color:#8b8f98'>{foot}</p>" if foot else "")
        )
        self.adjustSize()
        self._centre()
        self.show()
        self.raise_()

    @staticmethod
    def _key(step: Step) -> str:
        seq = step.action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
        return (
            f"<span style='background:#30333a; border:1px solid #454850; color:#e4e6ea;"
            f" font-weight:600'>&nbsp;{html.escape(seq)}&nbsp;</span>"
            if seq
            else ""
        )

    def _row(self, step: Step) -> str:
        return (
            f"<tr><td align='right'>{self._key(step)}</td>"
            f"<td>&nbsp;{html.escape(step.text)}</td></tr>"
        )

    def text(self) -> str:
        """The card's words, without markup (for tests and accessibility)."""
        from PySide6.QtGui import QTextDocument

        doc = QTextDocument()
        doc.setHtml(self.body.text())
        return f"{self.title.text()}\n{doc.toPlainText()}"

    def _centre(self) -> None:
        parent = self.parentWidget()
        if parent is None:
            return
        w = min(self.sizeHint().width(), max(200, parent.width() - 24))
        h = self.sizeHint().height()
        self.resize(w, h)
        self.move(max(0, (parent.width() - w) // 2), max(0, (parent.height() - h) // 2))

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt API
        if event.type() == QEvent.Type.Resize and not self.isHidden():
            self._centre()
        return False


def install_empty_state(session: Session, video_pane: QWidget, act: Actions) -> EmptyState:
    """The card over the window's video pane, with the window's own declared actions."""
    return EmptyState(
        session,
        video_pane,
        no_video=[Step(act["file.open_video"], "Open a video")],
        no_labels=[
            Step(act["recon.run"], "Run a reconstruction (MediaPipe on the CPU by default)"),
            Step(act["file.open_labels"], "Open labels (.h5)"),
        ],
        footer=[Step(act["help.shortcuts"], "all shortcuts")],
    )
