"""The smoothing preview in the 3D view: a thin white skeleton where smoothing would put the hand.

One line actor, added once and moved per frame (like the reference skeleton of compare mode);
shown while `EditController.preview` holds the current frame.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyvista as pv

from core.labels.joints import BONES, N_JOINTS

if TYPE_CHECKING:
    from app.editing import EditController


class Preview3D:
    def __init__(self, editor: EditController) -> None:
        self.editor = editor
        self.view = editor.window.view3d
        cells = np.array([[2, a, b] for a, b in BONES], np.int64).ravel()
        self.lines = pv.PolyData(np.zeros((N_JOINTS, 3)), lines=cells)
        self.actor = self.view.plotter.add_mesh(
            self.lines, color=(1.0, 1.0, 1.0), line_width=2.5, style="wireframe",
            lighting=False, reset_camera=False,
        )  # fmt: skip
        self.actor.SetVisibility(False)
        #: frame of the preview drawn last (-1: none)
        self.drawn = -1
        editor.previewChanged.connect(self.refresh)
        editor.session.clock.frameChanged.connect(self.show_frame)

    def refresh(self) -> None:
        self.show_frame(self.editor.frame)

    def show_frame(self, frame: int) -> None:
        patch = self.editor.preview
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
