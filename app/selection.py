"""What the edits work on: the selected hand and joint and the edit range (the selection model),
and the timeline's Ctrl+drag that sets the range.

Every setter emits, so the overlay ring, the inspector and the range lane redraw from the model;
the range operations read `span()` (the range, or the current frame alone).
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QMouseEvent

from app.session import Session
from app.widgets.timeline import HEADER_W, Timeline
from core.labels.joints import HAND_NAMES


class Selection(QObject):
    """Selected hand (0 left, 1 right) and joint (label order), and the edit range."""

    #: the selected hand or joint changed
    selectionChanged = Signal()
    #: the edit range changed (None or (start, end) inclusive)
    rangeChanged = Signal()

    def __init__(self, session: Session, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.hand = 1
        self.joint = 0
        self.range: tuple[int, int] | None = None

    @property
    def frame(self) -> int:
        return self.session.clock.frame

    @property
    def hand_name(self) -> str:
        return HAND_NAMES[self.hand]

    def select(self, hand: int | None = None, joint: int | None = None) -> None:
        changed = False
        if hand is not None and hand != self.hand:
            self.hand, changed = int(hand), True
        if joint is not None and joint != self.joint:
            self.joint, changed = int(joint), True
        if changed:
            self.selectionChanged.emit()

    def toggle_hand(self) -> None:
        self.select(hand=1 - self.hand)

    def set_range(self, rng: tuple[int, int] | None) -> None:
        """The edit range (inclusive), clipped to the video; None clears it."""
        if rng is not None:
            doc = self.session.doc
            if doc is None:
                rng = None
            else:
                a, b = sorted((int(rng[0]), int(rng[1])))
                a, b = max(a, 0), min(b, doc.n_frames - 1)
                rng = (a, b) if a <= b else None
        if rng != self.range:
            self.range = rng
            self.rangeChanged.emit()

    def span(self) -> tuple[int, int]:
        """The edit range, or the current frame alone."""
        return self.range if self.range is not None else (self.frame, self.frame)

    def span_text(self) -> str:
        a, b = self.span()
        return f"frame {a}" if a == b else f"frames {a}-{b}"

    def mark_start(self) -> None:
        end = self.range[1] if self.range else self.frame
        self.set_range((self.frame, max(end, self.frame)))

    def mark_end(self) -> None:
        start = self.range[0] if self.range else self.frame
        self.set_range((min(start, self.frame), self.frame))


class RangeDrag(QObject):
    """Ctrl+drag on the timeline selects the edit range (plain drags still scrub)."""

    def __init__(self, selection: Selection, timeline: Timeline) -> None:
        super().__init__(selection)
        self.selection = selection
        self.timeline = timeline
        self._from: int | None = None
        timeline.installEventFilter(self)

    def eventFilter(self, obj: QObject, ev: QEvent) -> bool:  # noqa: N802 - Qt API
        if obj is not self.timeline or not isinstance(ev, QMouseEvent):
            return False
        t = ev.type()
        if t == QEvent.Type.MouseButtonPress:
            if (
                ev.button() == Qt.MouseButton.LeftButton
                and ev.modifiers() & Qt.KeyboardModifier.ControlModifier
                and ev.position().x() >= HEADER_W
            ):
                f = self._frame_at(ev.position().x())
                self._from = f
                self.selection.set_range((f, f))
                return True
        elif t == QEvent.Type.MouseMove and self._from is not None:
            self.selection.set_range((self._from, self._frame_at(ev.position().x())))
            return True
        elif t == QEvent.Type.MouseButtonRelease and self._from is not None:
            self._from = None
            return True
        return False

    def _frame_at(self, x: float) -> int:
        n = max(self.selection.session.clock.n_frames, 1)
        return int(np.clip(self.timeline.frame_at(x), 0, n - 1))
