"""The smoothing preview in the 3D view: a thin white skeleton where smoothing would put the hand.

One line actor, added once and moved per frame (like the reference skeleton of compare mode);
shown while the smoothing preview (app/smooth_preview.py) holds the current frame.
"""

from __future__ import annotations

import numpy as np
import pyvista as pv

from app.frame_clock import FrameClock
from app.smooth_preview import SmoothPreview
from app.widgets.view3d import View3D
from core.labels.joints import BONES, N_JOINTS


class Preview3D:
    def __init__(self, preview: SmoothPreview, clock: FrameClock, view: View3D) -> None:
        self.preview = preview
        self.clock = clock
        self.view = view
        cells = np.array([[2, a, b] for a, b in BONES], np.int64).ravel()
        self.lines = pv.PolyData(np.zeros((N_JOINTS, 3)), lines=cells)
        self.actor = self.view.plotter.add_mesh(
            self.lines, color=(1.0, 1.0, 1.0), line_width=2.5, style="wireframe",
            lighting=False, reset_camera=False,
        )  # fmt: skip
        self.actor.SetVisibility(False)
        #: frame of the preview drawn last (-1: none)
        self.drawn = -1
        preview.previewChanged.connect(self.refresh)
        clock.frameChanged.connect(self.show_frame)

    def refresh(self) -> None:
        self.show_frame(self.clock.frame)

    def show_frame(self, frame: int) -> None:
        patch = self.preview.patch
        j = None
        if patch is not None and "joints_3d" in patch.values:
            where = np.flatnonzero(patch.frames == frame)
            if where.size:
                j = patch.values["joints_3d"][where[0]]
        ok = j is not None and bool(np.isfinite(j).all())
        if ok:
            self.lines.points[:] = j
            self.lines.Modified()
        if ok or self.drawn >= 0:
            self.actor.SetVisibility(ok)
            self.view.schedule_render()
        self.drawn = frame if ok else -1
