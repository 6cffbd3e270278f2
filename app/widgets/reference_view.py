"""Reference labels drawn next to the predictions (compare mode), in the 2D overlay and in 3D.

The reference is drawn thin and neutral so it never reads as a third hand: in the video overlay
a dashed white skeleton with small hollow joints, in the 3D view thin grey lines with small
points. Both follow the session clock; they record what they drew (`drawn`) for the tests, like
the views they draw into.
"""

from __future__ import annotations

import numpy as np
import pyvista as pv
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPen

from app.compare import CompareModel
from app.widgets.video_view import VideoView
from app.widgets.view3d import View3D
from core.labels.joints import BONES, N_JOINTS

REF_2D = QColor(255, 255, 255, 230)
REF_3D = (0.82, 0.84, 0.87)


class ReferenceOverlay:
    """Paints the reference skeletons over the video (a `VideoView.overlay_painters` entry)."""

    def __init__(self, model: CompareModel, view: VideoView) -> None:
        self.model, self.view = model, view
        #: hand -> (21, 2) image coordinates of the reference joints in the last paint
        self.drawn: dict[int, np.ndarray] = {}
        model.referenceChanged.connect(view.update)

    def __call__(self, p: QPainter, frame: int) -> None:
        drawn: dict[int, np.ndarray] = {}
        for hand in (0, 1):
            ref = self.model.reference_hand(frame, hand)
            if ref is None or not np.isfinite(ref[1]).any():
                continue
            uv = ref[1].astype(np.float64)
            xy = self.view.image_to_widget(uv)
            path = QPainterPath()
            for a, b in BONES:
                if np.isfinite(xy[[a, b]]).all():
                    path.moveTo(QPointF(*xy[a]))
                    path.lineTo(QPointF(*xy[b]))
            # thinner than the predicted bones and without their dark outline, so where the two
            # agree the prediction's colour still shows on both sides of the dashes
            p.setBrush(Qt.BrushStyle.NoBrush)
            pen = QPen(REF_2D, 1.1, Qt.PenStyle.DashLine, Qt.PenCapStyle.FlatCap)
            pen.setDashPattern([4.0, 3.0])
            p.setPen(pen)
            p.drawPath(path)
            p.setPen(QPen(REF_2D, 1.0))
            for j in range(N_JOINTS):
                if np.isfinite(xy[j]).all():
                    p.drawEllipse(QPointF(*xy[j]), 2.2, 2.2)
            drawn[hand] = uv
        self.drawn = drawn


class Reference3D:
    """Thin grey reference skeletons in the 3D view's scene (actors added once, moved per
    frame; the view renders them with its own frame in the same paint)."""

    def __init__(self, model: CompareModel, view: View3D) -> None:
        self.model, self.view = model, view
        self.drawn: dict[int, np.ndarray] = {}
        self._lines: list[pv.PolyData] = []
        self._actors = []
        cells = np.array([[2, a, b] for a, b in BONES], np.int64).ravel()
        for _ in (0, 1):
            pd = pv.PolyData(np.zeros((N_JOINTS, 3)), lines=cells)
            actor = view.plotter.add_mesh(
                pd, color=REF_3D, line_width=2.0, style="wireframe", lighting=False,
                reset_camera=False,
            )  # fmt: skip
            actor.SetVisibility(False)
            self._lines.append(pd)
            self._actors.append(actor)
        session = view.session
        session.clock.frameChanged.connect(self.show_frame)
        model.referenceChanged.connect(self.refresh)
        session.documentReplaced.connect(self.refresh)

    def refresh(self) -> None:
        self.show_frame(self.view.session.clock.frame)

    def show_frame(self, frame: int) -> None:
        drawn: dict[int, np.ndarray] = {}
        for hand in (0, 1):
            ref = self.model.reference_hand(frame, hand)
            ok = ref is not None and bool(np.isfinite(ref[0]).all())
            if ok:
                self._lines[hand].points[:] = ref[0]
                self._lines[hand].Modified()
                drawn[hand] = ref[0].copy()
            self._actors[hand].SetVisibility(ok)
        changed = bool(drawn) or bool(self.drawn)
        self.drawn = drawn
        if changed:
            self.view.schedule_render()
