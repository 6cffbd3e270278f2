"""The 3D view: both hands in camera space, the camera frustum and wrist trails.

The scene is a pyvista plotter shown by one of two canvases (app/widgets/vtk_canvas.py: the
off-screen one with software OpenGL, pyvistaqt's embedded `QtInteractor` with a GPU), rendered
lazily: each change requests one render in the next paint. Every actor is added once when the
view is built; a frame change writes new point coordinates into the existing meshes
(`_set_points`) and renders. Hands are drawn as the simple joint-driven hand mesh
(core/hands/simple_mesh.py: fixed topology) with the joints as spheres; with the mesh off (M),
bones as tubes. Camera frame: OpenCV (x right, y down, z forward, metres), so "from the camera"
looks down +z with -y up. Nothing is updated while the view is hidden; it catches up when shown.

The 3D view never holds the video back during playback. Paused (stepping, jumping), the scene
renders as the window's paint pass begins and that pass paints it with the video pane and the
timeline: every view shows the new frame together, in one flush to the screen. While the
clock plays, its render comes after the turn's other paints (the off-screen canvas's
coalescing and `with_paint`: app/widgets/vtk_canvas.py), and it renders
only while the video keeps to its schedule (`_pace`): when a render, started now, ends before
the clock's next frame is `LATE_PERIODS` of a frame period late (later and the clock would come
close to skipping a video frame), or when its picture is older than `STALE_SECONDS`; frames in
between update the scene but are not rendered. Paused, every change renders at once, and a pause renders the frame playback stopped at.
"""

from __future__ import annotations

import os
import time

os.environ.setdefault("QT_API", "pyside6")

import numpy as np
import pyvista as pv
from PySide6.QtCore import Signal
from PySide6.QtGui import QResizeEvent, QShowEvent
from PySide6.QtWidgets import QVBoxLayout, QWidget
from vtkmodules.util.numpy_support import vtk_to_numpy

from app.session import Session
from app.widgets.colors import HAND_RGB
from app.widgets.vtk_canvas import make_canvas
from core.labels.document import Change
from core.labels.joints import BONES, N_JOINTS, WRIST

try:  # the simple mesh is optional: without it the view shows the skeleton only
    from core.hands.simple_mesh import N_SIMPLE_VERTICES, SIMPLE_HAND_FACES, simple_hand_mesh
except ImportError:  # pragma: no cover - depends on the checkout
    simple_hand_mesh = None  # type: ignore[assignment]

PRESETS = ("camera", "side", "top")
_FRUSTUM_DEPTH = 0.12  # metres: how far the drawn frustum reaches
_DEFAULT_CENTRE = np.array([0.0, 0.0, 0.5])
#: during playback, render anyway when the picture is this old (the view keeps moving even when
#: the video alone takes the whole frame period, as at 4K in software OpenGL)
STALE_SECONDS = 0.25
#: during playback, how late (in frame periods) a 3D render may make the next video frame; the
#: clock drops a frame only when it is a whole period late, and a late frame makes the next
#: decision skip the render, so the video catches up
LATE_PERIODS = 0.25


def _set_points(mesh: pv.PolyData, xyz: np.ndarray) -> None:
    """Write new coordinates into a mesh's existing points, straight through a numpy view of
    the VTK array (pyvista's `points[:] =` wraps the array anew on every access: ~0.1 ms each,
    eight times a frame)."""
    pts = mesh.GetPoints()
    vtk_to_numpy(pts.GetData())[:] = xyz
    pts.Modified()


def _lines_cells(pairs: list[tuple[int, int]]) -> np.ndarray:
    return np.array([[2, a, b] for a, b in pairs], dtype=np.int64).ravel()


class View3D(QWidget):
    """3D hands at the clock's frame. `shown_frame` and `drawn_joints` record the last draw."""

    rendered = Signal(int)

    def __init__(
        self,
        session: Session,
        parent: QWidget | None = None,
        trail_length: int = 15,
        canvas: str = "auto",
    ) -> None:
        super().__init__(parent)
        self.session = session
        self.setObjectName("view3d")
        self.trail_length = max(2, int(trail_length))
        #: the widget that shows the scene and takes the mouse (camera trackball, hand drags)
        self.canvas = make_canvas(self, canvas)
        self.plotter = self.canvas.plotter
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.canvas)
        # a plain background: the gradient was a full-view shader pass (~0.7 ms in software)
        self.plotter.set_background("#202226")
        self.show_mesh = simple_hand_mesh is not None
        self.show_skeleton = True
        self.shown_frame = -1
        self.drawn_joints: dict[int, np.ndarray] = {}
        self._preset = "camera"
        self._stale = False  #: a frame changed while the view was hidden
        self._build_scene()
        self.plotter.renderer.AddObserver("StartEvent", self._fit_depth_range)
        if hasattr(self.canvas, "pace"):  # the off-screen canvas; a GPU's renders are ~1 ms
            self.canvas.pace = self._pace
            # paused: the scene renders in the window's paint pass, all views shown together
            self.canvas.with_paint = lambda: not session.clock.playing
        session.clock.frameChanged.connect(self.show_frame)
        session.clock.playingChanged.connect(self._on_playing)
        session.documentReplaced.connect(self._on_document)
        session.documentEdited.connect(self._on_edit)

    # ----------------------------------------------------------------- scene
    def _build_scene(self) -> None:
        p = self.plotter
        # one headlight instead of pyvista's five-light kit: every light is shaded per pixel,
        # and in software OpenGL the kit cost ~2 ms a frame; a headlight lights what faces you
        p.remove_all_lights()
        p.add_light(pv.Light(light_type="headlight", intensity=1.0))
        self._skel: list[pv.PolyData] = []
        self._skel_actors = []
        self._joint_actors = []
        self._jointpd: list[pv.PolyData] = []
        self._mesh: list[pv.PolyData | None] = []
        self._mesh_actors = []
        self._trail: list[pv.PolyData] = []
        self._trail_actors = []
        zeros = np.zeros((N_JOINTS, 3))
        for hand in (0, 1):
            color = HAND_RGB[hand]
            skel = pv.PolyData(zeros.copy(), lines=_lines_cells(list(BONES)))
            self._skel.append(skel)
            self._skel_actors.append(
                p.add_mesh(
                    skel,
                    color=color,
                    line_width=5,
                    render_lines_as_tubes=True,
                    style="wireframe",
                    lighting=True,
                    reset_camera=False,
                )
            )
            joints = pv.PolyData(zeros.copy())
            self._joint_actors.append(
                p.add_mesh(
                    joints,
                    color=color,
                    point_size=11,
                    render_points_as_spheres=True,
                    style="points",
                    reset_camera=False,
                )
            )
            self._jointpd.append(joints)
            if simple_hand_mesh is not None:
                faces = np.hstack(
                    [np.full((len(SIMPLE_HAND_FACES), 1), 3), SIMPLE_HAND_FACES]
                ).ravel()
                mesh = pv.PolyData(np.zeros((N_SIMPLE_VERTICES, 3)), faces=faces)
                self._mesh.append(mesh)
                self._mesh_actors.append(
                    p.add_mesh(
                        mesh,
                        color=color,
                        smooth_shading=False,
                        specular=0.2,
                        opacity=1.0,
                        # the simple mesh is closed and faces outward (tests/core/
                        # test_hands_simple_mesh.py), so faces turned away are always hidden:
                        # not drawing them saves ~1 ms of a software render, same picture
                        culling="back",
                        reset_camera=False,
                    )
                )
            else:
                self._mesh.append(None)
                self._mesh_actors.append(None)
            # one two-point line per step between frames, so a dropout breaks the trail
            n_seg = self.trail_length - 1
            trail = pv.PolyData(
                np.zeros((2 * n_seg, 3)),
                lines=_lines_cells([(2 * k, 2 * k + 1) for k in range(n_seg)]),
            )
            self._trail.append(trail)
            self._trail_actors.append(
                # opaque, darker instead of translucent: a translucent actor costs VTK a second
                # (blended) pass, ~2.5 ms of every software render
                p.add_mesh(
                    trail,
                    color=tuple(0.3 * 0.12 + 0.7 * c for c in color),
                    line_width=2,
                    reset_camera=False,
                )
            )
        self._frustum = pv.PolyData(
            np.zeros((5, 3)),
            lines=_lines_cells([(0, 1), (0, 2), (0, 3), (0, 4), (1, 2), (2, 3), (3, 4), (4, 1)]),
        )
        self._frustum_actor = p.add_mesh(
            self._frustum, color="#c9cdd4", line_width=1.5, reset_camera=False
        )
        self._set_visible_all(False)

    def _set_visible_all(self, visible: bool) -> None:
        for actors in (
            self._skel_actors,
            self._joint_actors,
            self._mesh_actors,
            self._trail_actors,
        ):
            for a in actors:
                if a is not None:
                    a.SetVisibility(visible)

    def _on_document(self) -> None:
        doc = self.session.doc
        if doc is None:
            return
        K, w, h = doc.K, doc.meta.width, doc.meta.height
        corners = np.array([[-0.5, -0.5], [w - 0.5, -0.5], [w - 0.5, h - 0.5], [-0.5, h - 0.5]])
        rays = np.stack(
            [(corners[:, 0] - K[0, 2]) / K[0, 0], (corners[:, 1] - K[1, 2]) / K[1, 1], np.ones(4)],
            axis=1,
        )
        pts = np.vstack([[0, 0, 0], rays * _FRUSTUM_DEPTH])
        self._frustum.points[:] = pts
        self._frustum.Modified()
        self.shown_frame = -1
        self.set_preset(self._preset, render=False)
        self.show_frame(self.session.clock.frame)

    def hide_simple_mesh(self, hand: int) -> None:
        """Hide the simple mesh of `hand` until the next frame is drawn (a MANO mesh replaces
        it there: app/mano_ui.py)."""
        if hand < len(self._mesh_actors) and self._mesh_actors[hand] is not None:
            self._mesh_actors[hand].SetVisibility(False)

    def _on_edit(self, change: Change) -> None:
        f = self.session.clock.frame
        if change.hand is None:
            return
        fr = change.frames
        if fr.size and fr[0] <= f and fr[-1] >= f - self.trail_length:
            self.shown_frame = -1
            self.show_frame(f)

    # ----------------------------------------------------------------- frame
    def show_frame(self, frame: int) -> None:
        """Move every hand actor to `frame` and render."""
        doc = self.session.doc
        if doc is None or not 0 <= frame < doc.n_frames:
            return
        if not self.isVisible():  # docked away: catch up when shown (showEvent)
            self._stale = True
            return
        self._stale = False
        drawn: dict[int, np.ndarray] = {}
        for hand in (0, 1):
            track = doc.hands[hand]
            j = track.joints_3d[frame]
            ok = bool(track.present[frame]) and not np.isnan(j).any()
            # the bones run inside the mesh's capsules: with the mesh shown they cannot be seen,
            # and not drawing them saves a draw call (~1 ms a frame in software OpenGL)
            meshed = self.show_mesh and self._mesh_actors[hand] is not None
            self._skel_actors[hand].SetVisibility(ok and self.show_skeleton and not meshed)
            self._joint_actors[hand].SetVisibility(ok)
            mesh_actor = self._mesh_actors[hand]
            if ok:
                _set_points(self._skel[hand], j)
                _set_points(self._jointpd[hand], j)
                drawn[hand] = j.copy()
                # confidence fades the joints toward the background, opaquely (see the trail)
                c = float(track.confidence[frame])
                alpha = 0.35 + 0.65 * (min(max(c, 0.0), 1.0) if c == c else 0.0)  # NaN: faint
                self._joint_actors[hand].GetProperty().SetColor(
                    *(alpha * c + (1 - alpha) * 0.12 for c in HAND_RGB[hand])
                )
            if mesh_actor is not None:
                mesh_actor.SetVisibility(ok and self.show_mesh)
            self._update_trail(hand, frame)
        if drawn and self.show_mesh and simple_hand_mesh is not None:
            hands = sorted(drawn)  # both hands' meshes in one call (half the numpy overhead)
            verts = simple_hand_mesh(np.stack([drawn[h] for h in hands]))
            for h, v in zip(hands, verts, strict=True):
                _set_points(self._mesh[h], v)
        self.drawn_joints = drawn
        self.shown_frame = frame
        self.schedule_render()
        self.rendered.emit(frame)

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt API
        super().showEvent(event)
        if self._stale:
            self.show_frame(self.session.clock.frame)

    def _update_trail(self, hand: int, frame: int) -> None:
        """The wrist's path over the last `trail_length` frames: a segment joins two frames in a
        row where the hand is present; across a dropout the trail breaks (a straight line there
        would show a move the hand never made)."""
        track = self.session.doc.hands[hand]  # type: ignore[union-attr]
        a = max(0, frame - self.trail_length + 1)
        w = track.joints_3d[a : frame + 1, WRIST]
        ok = track.present[a : frame + 1] & ~np.isnan(w).any(1)
        seg = np.flatnonzero(ok[:-1] & ok[1:])  # steps i -> i + 1 with the hand in both
        actor = self._trail_actors[hand]
        if not len(seg):
            actor.SetVisibility(False)
            return
        # fixed topology: the segments not used collapse onto the newest point (draw nothing)
        pts = np.repeat(w[seg[-1] + 1][None], 2 * (self.trail_length - 1), axis=0)
        pts[: 2 * len(seg) : 2] = w[seg]
        pts[1 : 2 * len(seg) : 2] = w[seg + 1]
        _set_points(self._trail[hand], pts)
        actor.SetVisibility(True)

    def schedule_render(self) -> None:
        """Render once, in the canvas's next paint (changes before it share the render)."""
        self.canvas.request_render()

    def render(self) -> None:
        """Render now (screenshots, benchmarks)."""
        self.canvas.render()

    def _pace(self) -> bool:
        """Render now? Always when paused; while playing, when the render ends before the
        clock's next frame is LATE_PERIODS late, or when the picture is STALE_SECONDS old."""
        clock = self.session.clock
        left = clock.seconds_to_next_frame()
        if left is None:
            return True
        c = self.canvas
        period = 1.0 / (clock.fps * abs(clock.rate))
        fits = left + LATE_PERIODS * period >= c.render_seconds
        return fits or time.perf_counter() - c.rendered_at >= STALE_SECONDS

    def _on_playing(self, playing: bool) -> None:
        if not playing and getattr(self.canvas, "dirty", False):
            self.schedule_render()  # the frame playback stopped at, if its render was put off

    def _fit_depth_range(self, *_args) -> None:
        """Before every render (whoever asked for it): hidden actors do not count in the
        bounds, so refit the depth range to what is visible, once per render."""
        self.plotter.renderer.ResetCameraClippingRange()

    # ---------------------------------------------------------------- camera
    def set_preset(self, name: str, *, render: bool = True) -> None:
        """Camera presets: 'camera' (through the video camera), 'side', 'top'."""
        if name not in PRESETS:
            raise ValueError(f"unknown camera preset {name!r}: use one of {PRESETS}")
        self._preset = name
        cam = self.plotter.camera
        centre = self._centre()
        if name == "camera":
            cam.position = (0.0, 0.0, 0.0)
            cam.focal_point = (0.0, 0.0, float(max(centre[2], 0.3)))
            cam.up = (0.0, -1.0, 0.0)
            cam.view_angle = self._camera_view_angle()
            self.plotter.reset_camera_clipping_range()
        else:
            if name == "side":  # from the right of the camera, looking left
                direction, up = np.array([1.0, 0.0, 0.0]), (0.0, -1.0, 0.0)
            else:  # top: from above (y points down in the camera frame), forward is up
                direction, up = np.array([0.0, -1.0, 0.0]), (0.0, 0.0, 1.0)
            focal = centre / 2.0  # between the camera and the hands: both in view
            cam.focal_point = tuple(focal)
            cam.position = tuple(focal + direction)
            cam.up = up
            cam.view_angle = 30.0
            # fit the camera and where the hands go over the whole clip, keeping the direction
            self.plotter.renderer.ResetCamera(self._scene_bounds())
            self.plotter.reset_camera_clipping_range()
        if render:
            self.schedule_render()

    def _camera_view_angle(self) -> float:
        """Vertical view angle that shows the whole video frame in this widget's aspect."""
        doc = self.session.doc
        if doc is None:
            return 40.0
        K, w, h = doc.K, doc.meta.width, doc.meta.height
        half_v = np.arctan(h / 2 / K[1, 1])
        aspect = max(self.width(), 1) / max(self.height(), 1)
        half_v_for_width = np.arctan(np.tan(np.arctan(w / 2 / K[0, 0])) / aspect)
        return float(np.degrees(2 * max(half_v, half_v_for_width)) * 1.04)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt API
        super().resizeEvent(event)
        if self._preset == "camera":
            self.plotter.camera.view_angle = self._camera_view_angle()

    @property
    def preset(self) -> str:
        return self._preset

    def _centre(self) -> np.ndarray:
        doc = self.session.doc
        if doc is None:
            return _DEFAULT_CENTRE.copy()
        pts = []
        for track in doc.hands:
            sel = track.present & ~np.isnan(track.joints_3d[:, WRIST]).any(1)
            if sel.any():
                pts.append(np.median(track.joints_3d[sel, WRIST], axis=0))
        return np.mean(pts, axis=0) if pts else _DEFAULT_CENTRE.copy()

    def _scene_bounds(self) -> tuple[float, ...]:
        """(xmin, xmax, ymin, ymax, zmin, zmax) of the camera's frustum and the hands over the
        clip (2nd to 98th percentile, so a few outliers do not shrink the view)."""
        pts = [np.array(self._frustum.points)]
        doc = self.session.doc
        if doc is not None:
            for track in doc.hands:
                j = track.joints_3d[track.present].reshape(-1, 3)
                j = j[~np.isnan(j).any(1)]
                if len(j):
                    pts.append(np.percentile(j, [2, 98], axis=0))
        p = np.vstack(pts)
        lo, hi = p.min(0), p.max(0)
        return (lo[0], hi[0], lo[1], hi[1], lo[2], hi[2])

    def set_mesh_visible(self, visible: bool) -> None:
        self.show_mesh = visible and simple_hand_mesh is not None
        self.shown_frame = -1
        self.show_frame(self.session.clock.frame)

    # ------------------------------------------------------------ screenshot
    def grab_image(self) -> np.ndarray:
        """(H, W, 3) uint8 of the rendered 3D scene at the widget's size."""
        self.render()
        return self.canvas.image_array()

    def close(self) -> bool:  # noqa: D401 - Qt override
        self.canvas.close()
        return super().close()
