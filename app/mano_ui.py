"""MANO in the review window: the folder setting, the model the edits use, the MANO mesh in 3D.

MANO model files are the user's own (licensed). Settings > MANO Folder... (or `VIDIHAND_MANO_DIR`,
or the `mano_dir` setting) points at the folder with MANO_RIGHT.pkl / MANO_LEFT.pkl. With them:
- `core.edits` uses the model (`use_hand_model`): joint drags refit MANO when they end,
  rotation edits and interpolation compute joints through MANO;
- the 3D view shows the MANO mesh of each hand on frames whose MANO parameters are known
  (evaluated through `core.hands.cache.ManoTrackCache`: batched, cached per frame, recomputed
  only for frames an edit touched), in place of the simple joint-driven mesh.
Without them the 3D view keeps the simple mesh and skeleton, and says in its corner how to add
MANO.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyvista as pv
from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QFileDialog, QLabel, QStatusBar, QWidget

from app.actions import Action, Actions
from app.errors import ErrorPresenter
from app.session import Session
from app.widgets.colors import HAND_RGB
from app.widgets.view3d import View3D
from core.edits import use_hand_model
from core.errors import VidihandError
from core.hands.model import ManoEditModel
from core.labels.document import Change
from core.settings import Settings

NO_MANO_NOTE = (
    "No MANO files: simple mesh.\nAdd MANO: Settings > MANO Folder...\nor VIDIHAND_MANO_DIR"
)


class ManoUI(QObject):
    """MANO folder setting, the edit model and the MANO mesh actors of the 3D view."""

    modelChanged = Signal()

    def __init__(
        self,
        session: Session,
        view3d: View3D,
        settings: Settings,
        errors: ErrorPresenter,
        status_bar: QStatusBar,
        actions: Actions,
        dialog_parent: QWidget,
    ) -> None:
        super().__init__(dialog_parent)
        self.session, self.settings, self.errors = session, settings, errors
        self.status_bar, self.dialog_parent = status_bar, dialog_parent
        self.view3d = view3d
        self.model = None  #: core.hands.mano.ManoModel when MANO files are configured
        self.cache = None  #: ManoTrackCache over the open document
        self.folder: Path | None = None
        #: hand -> frame whose MANO mesh the last draw showed (for tests)
        self.drawn: dict[int, int] = {}
        self._meshes: list[pv.PolyData | None] = [None, None]
        self._actors: list = [None, None]
        self.status = QLabel("")
        status_bar.addPermanentWidget(self.status)

        self.act_folder = actions.add(Action(
            "settings.mano_folder", "&MANO Folder...", lambda: self.choose_folder(),
            menu="Settings", tip="The folder with your MANO_RIGHT.pkl and MANO_LEFT.pkl",
        ))  # fmt: skip
        # M toggles the meshes: the MANO one follows
        actions["view.mesh"].toggled.connect(lambda _on: self.show_frame(session.clock.frame))
        session.clock.frameChanged.connect(self.show_frame)
        session.documentReplaced.connect(self._on_document)
        session.documentEdited.connect(self._on_edit)
        folder = os.environ.get("VIDIHAND_MANO_DIR") or settings.mano_dir
        self.set_folder(folder or None, save=False, report=False)

    # --------------------------------------------------------------- folder
    def choose_folder(self, folder: str | os.PathLike[str] | None = None) -> bool:
        """Ask for (or take) the MANO folder, load it, keep it in the settings."""
        if folder is None:
            folder = QFileDialog.getExistingDirectory(
                self.dialog_parent, "MANO folder (MANO_RIGHT.pkl, MANO_LEFT.pkl)",
                self.settings.mano_dir or self.settings.last_dir,
            )  # fmt: skip
            if not folder:
                return False
        return self.set_folder(folder)

    def set_folder(
        self, folder: str | os.PathLike[str] | None, *, save: bool = True, report: bool = True
    ) -> bool:
        """Use MANO from `folder` (None: no MANO). Returns True when a model is in use."""
        from core.hands.mano import ManoModel

        model = None
        if folder:
            try:
                model = ManoModel(folder)
            except (VidihandError, OSError, ValueError) as exc:
                if report:
                    self.errors.report(exc, title="Cannot use these MANO files")
                    return False
                model = None
        self.model = model
        self.folder = Path(folder).expanduser() if model is not None else None
        use_hand_model(ManoEditModel(model) if model is not None else None)
        if save and model is not None:
            self.settings.mano_dir = str(self.folder)
            try:
                self.settings.save()
            except OSError as exc:
                self.status_bar.showMessage(f"Settings not saved: {exc}", 5000)
        self._build_actors()
        self._on_document()
        self.modelChanged.emit()
        return model is not None

    # --------------------------------------------------------------- actors
    def _build_actors(self) -> None:
        p = self.view3d.plotter
        for h in (0, 1):
            if self._actors[h] is not None:
                p.remove_actor(self._actors[h], render=False)
            self._actors[h], self._meshes[h] = None, None
        if self.model is None:
            self.view3d.canvas.set_note(NO_MANO_NOTE)
            self.status.setText("mesh: simple (no MANO)")
            self.status.setToolTip(NO_MANO_NOTE)
            return
        self.view3d.canvas.set_note(f"MANO mesh ({self.folder.name})" if self.folder else "MANO")
        self.status.setText("mesh: MANO")
        self.status.setToolTip(f"MANO files from {self.folder}")
        for h in (0, 1):
            faces = np.asarray(self.model.faces[h], np.int64)
            cells = np.hstack([np.full((len(faces), 1), 3), faces]).ravel()
            mesh = pv.PolyData(np.zeros((778, 3)), faces=cells)
            actor = p.add_mesh(
                mesh, color=HAND_RGB[h], smooth_shading=True, specular=0.25, reset_camera=False
            )
            actor.SetVisibility(False)
            self._meshes[h], self._actors[h] = mesh, actor

    def _on_document(self) -> None:
        from core.hands.cache import ManoTrackCache

        if self.cache is not None:
            self.cache.close()
            self.cache = None
        doc = self.session.doc
        if self.model is not None and doc is not None:
            self.cache = ManoTrackCache(self.model, doc)
        self.show_frame(self.session.clock.frame)

    def _on_edit(self, change: Change) -> None:
        if change.hand is not None and self.session.clock.frame in set(change.frames.tolist()):
            self.show_frame(self.session.clock.frame)

    def show_frame(self, frame: int) -> None:
        """MANO mesh of each hand whose MANO is known on `frame`; the simple mesh otherwise."""
        doc = self.session.doc
        drawn: dict[int, int] = {}
        v = self.view3d
        for h in (0, 1):
            actor = self._actors[h]
            if actor is None:
                continue
            ok = (
                doc is not None and self.cache is not None and 0 <= frame < doc.n_frames
                and bool(doc.hands[h].present[frame]) and bool(doc.hands[h].has_mano()[frame])
            )  # fmt: skip
            verts = None
            if ok:
                try:
                    verts = self.cache.vertices(h, [frame])[0]
                except (VidihandError, RuntimeError, ValueError) as exc:
                    self.status_bar.showMessage(f"MANO mesh: {exc}", 5000)
                ok = verts is not None and bool(np.isfinite(verts).all())
            show = ok and v.show_mesh
            if ok:
                self._meshes[h].points[:] = verts
                self._meshes[h].Modified()
                drawn[h] = frame
            actor.SetVisibility(show)
            if show:
                v.hide_simple_mesh(h)  # the MANO mesh replaces the simple one here
        self.drawn = drawn
        v.schedule_render()

    def shutdown(self) -> None:
        if self.cache is not None:
            self.cache.close()
            self.cache = None
