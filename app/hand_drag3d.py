"""Moving and rotating the selected hand with the mouse in the 3D view.

Ctrl+left-drag moves the selected hand in the plane of the 3D view's screen (at the focal
distance: a drag across the view moves the hand across what is shown); Ctrl+Shift+left-drag
rotates it about its wrist (horizontal motion turns it about the view's up axis, vertical about
the view's right axis, 0.5 degrees per pixel). Plain drags stay VTK's camera trackball. The whole
drag is one undo gesture of `transform_hand` edits (Escape cancels it like a joint drag).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PySide6.QtCore import QEvent, QObject, QPointF, Qt

from app.errors import ErrorPresenter
from app.selection import Selection
from app.session import Session
from app.smooth_preview import SmoothPreview
from app.widgets.colors import HAND_LABELS
from app.widgets.view3d import View3D
from core.errors import VidihandError

DEG_PER_PX = 0.5


class HandDrag3D(QObject):
    """Ctrl(+Shift)+drag in the 3D view: move (rotate) the selected hand as one gesture."""

    def __init__(
        self,
        session: Session,
        selection: Selection,
        preview: SmoothPreview,
        view3d: View3D,
        errors: ErrorPresenter,
        status: Callable[[str, int], None],
    ) -> None:
        super().__init__(view3d)
        self.session, self.selection, self.preview = session, selection, preview
        self.errors, self.status = errors, status
        self.view3d = view3d
        self.widget = self.view3d.canvas
        self.mode: str | None = None  #: "move" or "rotate" while dragging
        self._last = QPointF()
        self._frame = -1
        self.widget.installEventFilter(self)

    @property
    def active(self) -> bool:
        return self.mode is not None

    def eventFilter(self, obj: QObject, ev: QEvent) -> bool:  # noqa: N802 - Qt API
        if obj is not self.widget:
            return False
        t = ev.type()
        if t == QEvent.Type.MouseButtonPress and ev.button() == Qt.MouseButton.LeftButton:
            mods = ev.modifiers()
            if not mods & Qt.KeyboardModifier.ControlModifier:
                return False
            rotate = bool(mods & Qt.KeyboardModifier.ShiftModifier)
            return self.press(ev.position(), "rotate" if rotate else "move")
        if t == QEvent.Type.MouseMove and self.active:
            self.move(ev.position())
            return True
        if t == QEvent.Type.MouseButtonRelease and self.active:
            self.move(ev.position())
            self.finish()
            return True
        return False

    def press(self, pos: QPointF, mode: str) -> bool:
        s, hand = self.session, self.selection.hand
        doc, h = s.doc, s.history
        if doc is None or h is None or h.in_gesture or s.recovery is not None:
            return True
        f = s.clock.frame
        if not doc.hands[hand].present[f] or not np.isfinite(doc.hands[hand].joints_3d[f]).all():
            self.status(f"The {HAND_LABELS[hand].lower()} hand has no pose on this frame", 4000)
            return True
        s.clock.pause()
        self.preview.cancel()
        word = "rotate" if mode == "rotate" else "move"
        h.begin_gesture(f"{word} {HAND_LABELS[hand].lower()} hand in 3D")
        self.mode, self._last, self._frame = mode, QPointF(pos), f
        return True

    def _axes(self) -> tuple[np.ndarray, np.ndarray, float]:
        """The view's right and up unit vectors (camera frame of the labels) and metres per
        pixel at the focal point."""
        cam = self.view3d.plotter.camera
        pos, focal = np.array(cam.position), np.array(cam.focal_point)
        dop = focal - pos
        dist = float(np.linalg.norm(dop)) or 1.0
        dop /= dist
        up = np.array(cam.up, np.float64)
        up -= dop * (up @ dop)
        up /= np.linalg.norm(up) or 1.0
        right = np.cross(dop, up)
        scale = 2 * dist * np.tan(np.radians(cam.view_angle) / 2) / max(self.widget.height(), 1)
        return right, up, scale

    def move(self, pos: QPointF) -> None:
        if self.mode is None:
            return
        dx, dy = pos.x() - self._last.x(), pos.y() - self._last.y()
        if dx == 0 and dy == 0:
            return
        self._last = QPointF(pos)
        right, up, scale = self._axes()
        if self.mode == "move":
            fields = {"translation": ((dx * right - dy * up) * scale).tolist()}
        else:
            rot = np.radians(DEG_PER_PX) * (dx * up + dy * right)
            fields = {"rotation": rot.tolist()}
        h = self.session.history
        if h is None:
            return
        try:
            h.apply("transform_hand", hand=self.selection.hand_name, frame=self._frame, **fields)
        except VidihandError as exc:
            self.cancel()
            self.errors.report(exc, title="Cannot move the hand")

    def finish(self) -> None:
        if self.mode is None:
            return
        self.mode = None
        h = self.session.history
        if h is not None and h.in_gesture:
            try:
                h.end_gesture()
            except VidihandError as exc:
                self.errors.report(exc, title="Cannot move the hand")

    def cancel(self) -> None:
        if self.mode is None:
            return
        self.mode = None
        h = self.session.history
        if h is not None and h.in_gesture:
            h.cancel_gesture()
            self.status("Hand move cancelled", 3000)
