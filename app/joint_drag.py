"""Dragging a joint in the video overlay, and what the overlay shows of the editing state.

`JointDrag` watches the video view's mouse (an event filter, so the view keeps its own zoom and
pan): a left press on a drawn joint (nearest within a few pixels, present hands only) opens one
undo gesture (`EditHistory.begin_gesture`), every move writes `move_joint_2d` for the pointer's
image position (the 3D joint slides along the camera ray at its depth; views redraw from the
document, which is the live preview), release ends the gesture (the MANO refit, deferred by
core, runs once there). Escape cancels: the gesture is rolled back.

`SelectionOverlay` (a `VideoView.overlay_painters` layer) rings the selected joint and draws a
smoothing preview as a dashed skeleton.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from PySide6.QtCore import QEvent, QObject, QPointF, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPen

from app.errors import ErrorPresenter
from app.selection import Selection
from app.session import Session
from app.smooth_preview import SmoothPreview
from app.widgets.colors import HAND_COLORS, HAND_LABELS
from app.widgets.video_view import VideoView
from core.camera import project
from core.errors import VidihandError
from core.labels.joints import BONES, JOINT_NAMES

#: how close (widget pixels) a press must be to a joint to grab it
GRAB_RADIUS = 9.0
PREVIEW_COLOR = QColor(255, 255, 255, 235)


class JointDrag(QObject):
    """Left-drag of a joint in the video view as one undoable gesture."""

    def __init__(
        self,
        session: Session,
        selection: Selection,
        preview: SmoothPreview,
        view: VideoView,
        errors: ErrorPresenter,
        status: Callable[[str, int], None],
        on_pick: Callable[[], None] = lambda: None,
    ) -> None:
        super().__init__(view)
        self.session, self.selection, self.preview = session, selection, preview
        self.errors, self.status, self.on_pick = errors, status, on_pick
        self.view = view
        #: (hand, joint, frame) while dragging
        self.target: tuple[int, int, int] | None = None
        self._offset = np.zeros(2)
        self.moves = 0
        self.view.installEventFilter(self)

    @property
    def active(self) -> bool:
        return self.target is not None

    def eventFilter(self, obj: QObject, ev: QEvent) -> bool:  # noqa: N802 - Qt API
        if obj is not self.view:
            return False
        t = ev.type()
        if t == QEvent.Type.MouseButtonPress and ev.button() == Qt.MouseButton.LeftButton:
            if self.view.panning_key or ev.modifiers() != Qt.KeyboardModifier.NoModifier:
                return False  # space+drag pans (VideoView)
            return self.press(ev.position())
        if t == QEvent.Type.MouseMove:
            if self.active:
                self.move(ev.position())
                return True
            self._hover(ev.position())
            return False
        if t == QEvent.Type.MouseButtonRelease and ev.button() == Qt.MouseButton.LeftButton:
            if self.active:
                self.move(ev.position())
                self.finish()
                return True
        return False

    def _hover(self, pos: QPointF) -> None:
        hit = self.view.joint_at(pos, GRAB_RADIUS)
        if hit is not None:
            self.view.setCursor(Qt.CursorShape.OpenHandCursor)
            self.view.setToolTip(f"{HAND_LABELS[hit[0]]} {JOINT_NAMES[hit[1]].replace('_', ' ')}")
        elif self.view.cursor().shape() == Qt.CursorShape.OpenHandCursor:
            self.view.unsetCursor()
            self.view.setToolTip("")

    def press(self, pos: QPointF) -> bool:
        """Grab the joint under `pos`; True when one was grabbed."""
        s = self.session
        hit = self.view.joint_at(pos, GRAB_RADIUS)
        history = s.history
        if hit is None or history is None or s.doc is None:
            return False
        hand, joint = hit
        self.selection.select(hand, joint)
        self.on_pick()  # show what was picked
        if s.recovery is not None or history.in_gesture:
            return True  # selected, but no edit until the restore question is answered
        frame = s.clock.frame
        if self.view.proxy_of is not None or self.view.waiting_for >= 0:
            # another frame's image stands in while this one decodes (or the pane waits for
            # the decode-ahead thread): a joint placed on it would be against the wrong picture
            self.status(f"Frame {frame} is still decoding: drag the joint once it shows", 4000)
            return True
        s.clock.pause()
        self.preview.cancel()
        uv = s.doc.hands[hand].joints_2d[frame, joint].astype(np.float64)
        self._offset = uv - self.view.widget_to_image(np.array([pos.x(), pos.y()]))
        history.begin_gesture(
            f"drag {HAND_LABELS[hand].lower()} {JOINT_NAMES[joint].replace('_', ' ')}"
        )
        self.target = (hand, joint, frame)
        self.moves = 0
        self.view.setCursor(Qt.CursorShape.ClosedHandCursor)
        return True

    def move(self, pos: QPointF) -> None:
        if self.target is None:
            return
        hand, joint, frame = self.target
        uv = self.view.widget_to_image(np.array([pos.x(), pos.y()])) + self._offset
        history = self.session.history
        if history is None:
            return
        try:
            history.apply(
                "move_joint_2d", hand=("left", "right")[hand], frame=frame, joint=joint,
                uv=[float(uv[0]), float(uv[1])],
            )  # fmt: skip
        except VidihandError as exc:
            self.cancel()
            self.errors.report(exc, title="Cannot move the joint")
            return
        self.moves += 1

    def finish(self) -> None:
        """End the drag: one undo step (the MANO refit runs now, once)."""
        if self.target is None:
            return
        self.target = None
        self.view.unsetCursor()
        h = self.session.history
        if h is None or not h.in_gesture:
            return
        try:
            h.end_gesture()
        except VidihandError as exc:
            self.errors.report(exc, title="Cannot move the joint")

    def cancel(self) -> None:
        """Escape: roll the drag back."""
        if self.target is None:
            return
        self.target = None
        self.view.unsetCursor()
        h = self.session.history
        if h is not None and h.in_gesture:
            h.cancel_gesture()
            self.status("Drag cancelled", 3000)
        self.view.update()


#: the ring on the selected joint (made once: this layer paints on every frame step)
_RING_PEN = QPen(QColor(255, 255, 255, 220), 1.6)


class SelectionOverlay:
    """Overlay layer: a ring on the selected joint, the smoothing preview as dashed bones."""

    def __init__(
        self, session: Session, selection: Selection, preview: SmoothPreview, view: VideoView
    ) -> None:
        self.session, self.selection, self.preview, self.view = session, selection, preview, view
        #: hand -> (21, 2) preview joints drawn in the last paint (for tests)
        self.drawn_preview: dict[int, np.ndarray] = {}

    def __call__(self, p: QPainter, frame: int) -> None:
        sel, view = self.selection, self.view
        doc = self.session.doc
        if doc is None:
            return
        uv = view.drawn_joints.get(sel.hand)
        if uv is not None:
            u, v = (float(c) for c in uv[sel.joint])
            if math.isfinite(u) and math.isfinite(v):
                xy = view.image_to_widget(np.array([u, v]))
                p.setBrush(Qt.BrushStyle.NoBrush)
                p.setPen(_RING_PEN)
                p.drawEllipse(QPointF(*xy), 8.0, 8.0)
        self.drawn_preview = {}
        patch = self.preview.patch
        if patch is None or "joints_3d" not in patch.values:
            return
        where = np.flatnonzero(patch.frames == frame)
        if where.size == 0:
            return
        j3 = patch.values["joints_3d"][where[0]].astype(np.float64)
        if not np.isfinite(j3).all():
            return
        uvp = project(j3, doc.K)
        xy = view.image_to_widget(uvp)
        path = QPainterPath()
        for a, b in BONES:
            path.moveTo(QPointF(*xy[a]))
            path.lineTo(QPointF(*xy[b]))
        pen = QPen(PREVIEW_COLOR, 1.6, Qt.PenStyle.DashLine, Qt.PenCapStyle.FlatCap)
        pen.setDashPattern([3.0, 2.0])
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.setPen(pen)
        p.drawPath(path)
        p.setPen(QPen(HAND_COLORS[patch.hand], 1.2))
        p.setBrush(PREVIEW_COLOR)
        for q in xy:
            p.drawEllipse(QPointF(*q), 2.0, 2.0)
        self.drawn_preview[patch.hand] = uvp
