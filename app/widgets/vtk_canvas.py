"""Where the 3D view's VTK scene is shown: two canvases with one interface.

- `EmbeddedCanvas`: pyvistaqt's `QtInteractor` (a `QOpenGLWidget`); VTK draws straight into the
  window's OpenGL. The choice on a machine with a real GPU.
- `VtkCanvas`: the scene rendered off screen and painted as an image in a plain QWidget. The
  choice with software OpenGL (Xvfb, remote desktops, virtual machines: where many annotators
  work). One `QOpenGLWidget` anywhere in a window (even hidden) makes Qt compose the *whole*
  window through OpenGL on every update (the backing store is uploaded as a texture and drawn
  with the GL widget's). In software that alone cost 13-16 ms per frame step, before VTK drew
  anything. Here the window stays on Qt's raster backing store; VTK renders into its own
  off-screen buffer, and the pixels are read back (~0.3 ms for a dock-sized view) and painted.
  The read-back waits until the canvas is painted: software OpenGL rasterizes a render on its
  own threads, and a paint pass that renders first paints the video pane and the timeline
  while they do (read back at once, the GUI thread waited ~2 ms for them every frame step).

`make_canvas(parent, kind)` picks one: kind "auto" (the default; `Settings.view3d_canvas`, or
the environment variable VIDIHAND_3D) asks OpenGL for its renderer once and takes the off-screen
canvas when that is a software rasterizer. Both expose `plotter` (a pyvista plotter),
`request_render()`, `render()`, `image_array()`, `set_note()`/`note`, `close()`, the
`rendered` signal and `kind`.

The off-screen canvas:

Rendering is lazy and coalesced: `request_render()` marks the scene dirty and starts a zero-time
timer; when it fires (after every change of this event-loop turn), whatever else of the window
waits to be painted (the video pane, the timeline) is painted and flushed first, then the scene
renders once, however many changes came before it, and the canvas shows it. So the 3D render
never delays the other views, and a frame step still shows the new frame in the same turn.
`with_paint`, when set and True (the 3D view: while the clock is paused), changes that order:
the dirty scene renders when the window's paint pass starts (its UpdateRequest, caught by an
event filter on the canvas's window), and the pass paints the canvas with the other views, so
all of them show the new frame together in one flush to the screen. Against a video pass, a
flush, the render and a second pass with its own flush, a step's p95 went 22.9 -> 18.9 ms at
1080p, 19.4 -> 18.3 at 720p and 44.8 -> 38.1 at 4K (alternating blocks in one process; GUI
thread -0.7 to -0.9 ms a step; docs/app.md). During playback the video keeps going first.
`pace`, when set, is asked before each such render: False puts the render off (the scene stays
dirty) until the next request; the 3D view uses it to render during playback only in the time
the clock leaves before its next frame (app/widgets/view3d.py); renders for the user's own
mouse input on the canvas are never put off. A paint of the canvas for any
other reason (exposed, resized) renders a dirty scene at once. Mouse input goes to VTK's own
interactor (pyvista's trackball camera style: left-drag rotate, middle/shift-drag pan, right-drag
and wheel zoom), with its immediate renders switched off so a drag renders once per paint too.
Keys are not forwarded: VTK's key bindings ('q' quits, 'e' exits, 'w' wireframe...) would fight
the window's shortcuts.

The orientation axes (`show_axes`) and the corner note (`set_note`) are painted by Qt over the
image, not by VTK: VTK's orientation-marker widget is a second renderer (~3 ms of every software
render) and a text actor cost ~0.8 ms.
"""

from __future__ import annotations

import ctypes
import os
import sys
import time
from collections.abc import Callable

os.environ.setdefault("QT_API", "pyside6")

import numpy as np
import pyvista as pv
from PySide6.QtCore import (
    QCoreApplication,
    QEvent,
    QObject,
    QPointF,
    QRect,
    QRectF,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import (
    QColor,
    QFont,
    QImage,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPen,
    QResizeEvent,
    QWheelEvent,
)
from PySide6.QtWidgets import QSizePolicy, QWidget
from pyvistaqt import QtInteractor
from vtkmodules.util.numpy_support import vtk_to_numpy
from vtkmodules.vtkCommonCore import vtkUnsignedCharArray

from app.qimage import qimage_rgb

_BUTTON_EVENTS = {
    Qt.MouseButton.LeftButton: ("LeftButtonPressEvent", "LeftButtonReleaseEvent"),
    Qt.MouseButton.RightButton: ("RightButtonPressEvent", "RightButtonReleaseEvent"),
    Qt.MouseButton.MiddleButton: ("MiddleButtonPressEvent", "MiddleButtonReleaseEvent"),
}


#: x, y, z axis colours of the orientation axes (VTK's convention: red, green, blue)
AXIS_COLORS = ("#e5534b", "#57ab5a", "#539bf5")
NOTE_COLOR = "#d8dadf"


CANVAS_KINDS = ("auto", "offscreen", "opengl")
#: substrings of GL_RENDERER that mean "no GPU"
_SOFTWARE_RENDERERS = ("llvmpipe", "softpipe", "swrast", "software", "basic render")
_software_gl: bool | None = None


def software_opengl() -> bool:
    """True when Qt's OpenGL is a software rasterizer (asked once per process)."""
    global _software_gl
    if _software_gl is None:
        from PySide6.QtGui import QOffscreenSurface, QOpenGLContext

        renderer = ""
        ctx, surface = QOpenGLContext(), QOffscreenSurface()
        if ctx.create():
            surface.setFormat(ctx.format())
            surface.create()
            if ctx.makeCurrent(surface):
                renderer = str(ctx.functions().glGetString(0x1F01) or "")  # GL_RENDERER
                ctx.doneCurrent()
        surface.destroy()
        # no context at all: OpenGL widgets would not work either, render off screen
        _software_gl = not renderer or any(s in renderer.lower() for s in _SOFTWARE_RENDERERS)
    return _software_gl


def make_canvas(parent: QWidget | None = None, kind: str = "auto") -> VtkCanvas | EmbeddedCanvas:
    """The canvas of `kind`: "auto", "offscreen" or "opengl" (anything else: "auto", with a
    warning on stderr, so a typo in the settings does not stop the window from opening)."""
    kind = (kind or "auto").strip().lower()
    if kind not in CANVAS_KINDS:
        print(
            f"vidihand: unknown 3D canvas {kind!r} (settings view3d_canvas or VIDIHAND_3D): "
            f"use one of {', '.join(CANVAS_KINDS)}; using auto",
            file=sys.stderr,
        )
        kind = "auto"
    if kind == "auto":
        kind = "offscreen" if software_opengl() else "opengl"
    return VtkCanvas(parent) if kind == "offscreen" else EmbeddedCanvas(parent)


_gl_flush: Callable[[], object] | None | bool = False  # False: not looked up yet


def gl_flush() -> None:
    """glFlush on the current OpenGL context: queued drawing starts now, nobody waits for it
    (VTK's Python API has glFinish, which waits, but no flush). Nothing where no OpenGL library
    can be loaded by name; the pixels are then drawn when read back, as before."""
    global _gl_flush
    if _gl_flush is False:
        _gl_flush = None
        for name in ("libGL.so.1", "libOpenGL.so.0", "libGL.so"):
            try:
                _gl_flush = ctypes.CDLL(name).glFlush
                break
            except (OSError, AttributeError):
                continue
    if _gl_flush is not None:
        _gl_flush()  # type: ignore[operator]


class VtkCanvas(QWidget):
    """`plotter` is an off-screen `pyvista.Plotter`; this widget shows and steers it."""

    #: emitted after every render (its pixels are read back when the canvas is painted)
    rendered = Signal()
    kind = "offscreen"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(64, 64)
        self.plotter = pv.Plotter(off_screen=True, window_size=self._pixel_size())
        # no MSAA: at 8 samples (pyvista's default) a software-rendered frame costs ~5x more
        self.plotter.ren_win.SetMultiSamples(0)
        # the pixels are read from VTK's own render framebuffer: no copy of every frame to the
        # hidden window's buffer and no swap (~0.5 ms of a software render, for nothing shown)
        self.plotter.ren_win.SetFrameBlitModeToNoBlit()
        self.plotter.ren_win.SetSwapBuffers(0)
        self.iren = self.plotter.iren.interactor  # a vtkGenericRenderWindowInteractor
        self.iren.EnableRenderOff()  # the style's renders become our coalesced paints
        self._pixels = vtkUnsignedCharArray()
        self._image: QImage | None = None
        self._unread = False  #: a render ended whose pixels are not read back yet
        self._dirty = True
        self._painting = False
        self._closed = False
        #: paint the x/y/z orientation axes in the lower left corner
        self.show_axes = True
        self._note = ""
        #: where the note was last painted (widget coordinates; for tests)
        self.note_rect: QRectF | None = None
        self.plotter.ren_win.AddObserver("EndEvent", self._on_rendered)
        #: the axes and the note as last drawn (`_paint_overlay`), and what they were drawn for
        self._overlay: tuple[QImage, QRectF] = (QImage(), QRectF())
        self._overlay_key: tuple | None = None
        self._render_timer = QTimer(self)
        self._render_timer.setSingleShot(True)
        self._render_timer.setInterval(0)
        self._render_timer.timeout.connect(self._render_requested)
        #: asked before a requested render; False puts it off until the next request
        self.pace: Callable[[], bool] | None = None
        #: True: render in the window's next paint pass, painted with the other views (see
        #: the module's text); None or False: after it
        self.with_paint: Callable[[], bool] | None = None
        self._filtered: QWidget | None = None  # the window whose paint passes we watch
        self._unpaced = False  #: the pending render answers the user's input: not paced
        #: renders done and requested renders put off by `pace` (for benchmarks and tests)
        self.renders = 0
        #: renders whose pixels were read back to be painted (for benchmarks)
        self.readbacks = 0
        self.deferred = 0
        #: seconds a render took, smoothed; perf_counter() when the last one ended
        self.render_seconds = 0.0
        self.rendered_at = 0.0

    # ------------------------------------------------------------- rendering
    def request_render(self) -> None:
        """Render once after this event-loop turn's other paints (requests before it share
        the render)."""
        self._dirty = True
        if self._closed:
            return
        if self.with_paint is not None and self._filtered is not self.window():
            self._watch_window()
        if not self._render_timer.isActive():
            self._render_timer.start()

    def _watch_window(self) -> None:
        """Watch the paint passes of the window the canvas is in now (a floating dock is a
        window of its own)."""
        self._unwatch_window()
        self._filtered = self.window()
        self._filtered.installEventFilter(self)

    def _unwatch_window(self) -> None:
        if self._filtered is not None:
            try:
                self._filtered.removeEventFilter(self)
            except RuntimeError:  # that window is gone
                pass
            self._filtered = None

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt API
        """The window's paint pass is about to start: render a dirty scene now (with_paint),
        and mark the canvas so the pass paints it with the others."""
        if (
            event.type() == QEvent.Type.UpdateRequest
            and obj is self._filtered
            and self._dirty
            and not self._closed
            and self.isVisible()
            and self.with_paint is not None
            and self.with_paint()
        ):
            unpaced, self._unpaced = self._unpaced, False
            if unpaced or self.pace is None or self.pace():
                self._painting = True  # the pass paints the image: no paint of our own
                try:
                    self.render()
                finally:
                    self._painting = False
                self.update()
            else:
                self._unpaced = unpaced
        return False

    def _request_input_render(self) -> None:
        """A render for the user's own input (a camera drag, the wheel): not paced, the view
        answers the hand at once even during playback."""
        self._unpaced = True
        self.request_render()

    @property
    def dirty(self) -> bool:
        """The scene changed since its last render."""
        return self._dirty

    def _render_requested(self) -> None:
        if self._closed or not self._dirty or not self.isVisible():
            return  # hidden: the paint that shows the canvas again renders
        # the other views' pending paints first: what they show never waits for this render
        QCoreApplication.sendPostedEvents(None, QEvent.Type.UpdateRequest)
        if not self._dirty:  # that paint pass included this canvas and rendered it
            return
        unpaced, self._unpaced = self._unpaced, False
        if self.pace is not None and not unpaced and not self.pace():
            self.deferred += 1
            return
        self._painting = True  # the repaint below shows the image: no second paint
        try:
            self.render()
        finally:
            self._painting = False
        self.repaint()

    def render(self) -> None:
        """Render now and keep the image (screenshots, tests, benchmarks)."""
        if self._closed:
            return
        self._dirty = False
        t0 = time.perf_counter()
        self.plotter.ren_win.Render()
        self.rendered_at = time.perf_counter()
        took = self.rendered_at - t0
        self.render_seconds = took if not self.renders else 0.7 * self.render_seconds + 0.3 * took
        self.renders += 1

    def _on_rendered(self, *_args) -> None:
        """A render ended. Software OpenGL rasterizes on its own threads: they start now
        (`gl_flush`) and the pixels are read back when the canvas is painted, so in a paint
        pass that renders first (`with_paint`) the other views are painted meanwhile; read
        back at once, the GUI thread waited ~2 ms here for those threads every frame step."""
        self._unread = True
        gl_flush()
        if not self._painting:  # a render from elsewhere (pyvista, a camera move): show it
            self.update()
        self.rendered.emit()

    def _read_back(self) -> None:
        """Copy the last render's pixels (VTK's origin is bottom-left, Qt's top-left)."""
        if not self._unread or self._closed:
            return
        self._unread = False
        w, h = self.plotter.ren_win.GetSize()
        if w < 1 or h < 1:
            return
        self.plotter.ren_win.GetRGBACharPixelData(0, 0, w - 1, h - 1, 0, self._pixels)
        rgba = vtk_to_numpy(self._pixels)
        # one copy, flipped on the way (a flipped numpy copy, then a QImage copy, were two)
        image = QImage(rgba.data, w, h, w * 4, QImage.Format.Format_RGBX8888).flipped(
            Qt.Orientation.Vertical
        )
        image.setDevicePixelRatio(self.devicePixelRatioF())
        self._image = image
        self.readbacks += 1

    @property
    def note(self) -> str:
        return self._note

    def set_note(self, text: str) -> None:
        """A few lines of text in the lower left corner, beside the axes (painted by Qt: a VTK
        text actor cost ~0.8 ms of every software render)."""
        if text != self._note:
            self._note = text
            self.update()

    def image_array(self) -> np.ndarray:
        """(H, W, 3) uint8 of the scene as last rendered, at the render window's pixel size."""
        if self._image is None or self._dirty:
            self.render()
        self._read_back()
        return qimage_rgb(self._image)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt API
        if self._dirty and not self._closed:
            self._painting = True
            try:
                self.render()
            finally:
                self._painting = False
        self._read_back()
        p = QPainter(self)
        if self._image is not None:
            p.drawImage(self.rect(), self._image)
        else:
            p.fillRect(self.rect(), QColor("#202226"))
        self._paint_overlay(p)
        p.end()

    def _paint_overlay(self, p: QPainter) -> None:
        """The axes and the note, drawn once into an image kept until the camera, the note or
        the size changes: drawn afresh (antialiased lines, wrapped text) they cost ~1 ms of
        every frame step's paint, the image a blit."""
        if not self.show_axes and not self._note:
            self.note_rect = None
            return
        dpr = self.devicePixelRatioF()
        cam = self.plotter.renderer.GetActiveCamera()  # (the axes follow its orientation)
        view = (cam.GetPosition(), cam.GetFocalPoint(), cam.GetViewUp()) if self.show_axes else ()
        key = (self.width(), self.height(), dpr, self.font().family(), self._note, view)
        if key != self._overlay_key:
            self._overlay_key = key
            self._overlay = self._draw_overlay(dpr)
        image, rect = self._overlay
        p.drawImage(rect, image, QRectF(rect.topLeft() * dpr, rect.size() * dpr))

    def _draw_overlay(self, dpr: float) -> tuple[QImage, QRectF]:
        """(image of the whole canvas, transparent but for the axes and the note; the part of
        it they cover, in widget coordinates)."""
        image = QImage(
            max(1, round(self.width() * dpr)),
            max(1, round(self.height() * dpr)),
            QImage.Format.Format_ARGB32_Premultiplied,
        )
        image.setDevicePixelRatio(dpr)
        image.fill(Qt.GlobalColor.transparent)
        q = QPainter(image)
        covered = QRectF()
        if self.show_axes:
            covered = self._paint_axes(q)
        self.note_rect = None
        if self._note:
            self._paint_note(q)
            covered = covered.united(self.note_rect)  # type: ignore[arg-type]
        q.end()
        return image, covered.adjusted(-2, -2, 2, 2).intersected(QRectF(self.rect()))

    def _paint_note(self, p: QPainter) -> None:
        """The note in a dark box at the bottom, beside the axes when there is room, wrapped to
        the widget's width: every line stays whole however small the dock is."""
        p.setFont(QFont(self.font().family(), 8))
        fm = p.fontMetrics()
        pad, margin = 4, 6
        left = 96 if self.width() - 96 - margin >= 160 else margin
        avail = max(40, self.width() - left - margin - 2 * pad)
        flags = int(Qt.AlignmentFlag.AlignLeft | Qt.TextFlag.TextWordWrap)
        box = fm.boundingRect(QRect(0, 0, avail, 10_000), flags, self._note)
        rect = QRectF(
            left, self.height() - margin - box.height() - 2 * pad,
            box.width() + 2 * pad, box.height() + 2 * pad,
        )  # fmt: skip
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(0, 0, 0, 150))
        p.drawRoundedRect(rect, 4, 4)
        p.setPen(QColor(NOTE_COLOR))
        p.drawText(rect.adjusted(pad, pad, -pad, -pad), flags, self._note)
        self.note_rect = rect

    def axes_directions(self) -> np.ndarray:
        """(3, 3): rows are the scene's x, y, z unit axes as (right, down, towards the viewer)
        in widget coordinates, from the current camera."""
        cam = self.plotter.camera
        pos, focal = np.array(cam.position, float), np.array(cam.focal_point, float)
        dop = focal - pos
        dop /= np.linalg.norm(dop) or 1.0
        up = np.array(cam.up, float)
        up -= dop * (up @ dop)
        up /= np.linalg.norm(up) or 1.0
        right = np.cross(dop, up)
        return np.stack([right, -up, -dop], axis=1)  # row i: axis i in (right, down, out)

    def _paint_axes(self, p: QPainter) -> QRectF:
        """The orientation axes in the lower left corner; returns the square they are in."""
        size = max(22.0, min(40.0, 0.09 * min(self.width(), self.height())))
        origin = QPointF(12 + size, self.height() - 12 - size)
        d = self.axes_directions()
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        p.setFont(QFont(self.font().family(), 8, QFont.Weight.Bold))
        for i in np.argsort(d[:, 2]):  # far axes first, so the near ones are drawn over them
            end = QPointF(origin.x() + size * d[i, 0], origin.y() + size * d[i, 1])
            color = QColor(AXIS_COLORS[i])
            p.setPen(QPen(color, 2.0))
            p.drawLine(origin, end)
            p.drawText(QPointF(end.x() + 3 * d[i, 0] - 3, end.y() + 3 * d[i, 1] + 4), "XYZ"[i])
        reach = size + 16  # the letters beyond the axes' ends
        return QRectF(origin.x() - reach, origin.y() - reach, 2 * reach, 2 * reach)

    def _pixel_size(self) -> tuple[int, int]:
        dpr = self.devicePixelRatioF()
        return max(16, int(round(self.width() * dpr))), max(16, int(round(self.height() * dpr)))

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt API
        super().resizeEvent(event)
        if self._closed:
            return
        w, h = self._pixel_size()
        self.plotter.ren_win.SetSize(w, h)
        self.iren.SetSize(w, h)
        self.request_render()

    # ----------------------------------------------------------------- input
    def _event_info(self, ev: QMouseEvent | QWheelEvent, repeat: int = 0) -> None:
        dpr = self.devicePixelRatioF()
        pos = ev.position()
        mods = ev.modifiers()
        self.iren.SetEventInformationFlipY(
            int(round(pos.x() * dpr)),
            int(round(pos.y() * dpr)),
            int(bool(mods & Qt.KeyboardModifier.ControlModifier)),
            int(bool(mods & Qt.KeyboardModifier.ShiftModifier)),
            chr(0),
            repeat,
            None,
        )

    def mousePressEvent(self, ev: QMouseEvent) -> None:  # noqa: N802 - Qt API
        names = _BUTTON_EVENTS.get(ev.button())
        if names is None or self._closed:
            return
        self.setFocus(Qt.FocusReason.MouseFocusReason)
        self._event_info(ev, 1 if ev.type() == QEvent.Type.MouseButtonDblClick else 0)
        getattr(self.iren, names[0])()
        self._request_input_render()

    mouseDoubleClickEvent = mousePressEvent

    def mouseReleaseEvent(self, ev: QMouseEvent) -> None:  # noqa: N802 - Qt API
        names = _BUTTON_EVENTS.get(ev.button())
        if names is None or self._closed:
            return
        self._event_info(ev)
        getattr(self.iren, names[1])()
        self._request_input_render()

    def mouseMoveEvent(self, ev: QMouseEvent) -> None:  # noqa: N802 - Qt API
        if self._closed:
            return
        self._event_info(ev)
        self.iren.MouseMoveEvent()
        if ev.buttons() != Qt.MouseButton.NoButton:
            self._request_input_render()

    def wheelEvent(self, ev: QWheelEvent) -> None:  # noqa: N802 - Qt API
        if self._closed:
            return
        self._event_info(ev)
        delta = ev.angleDelta().y()
        if delta > 0:
            self.iren.MouseWheelForwardEvent()
        elif delta < 0:
            self.iren.MouseWheelBackwardEvent()
        self._request_input_render()

    # ---------------------------------------------------------------- close
    def close(self) -> bool:  # noqa: D401 - Qt override
        if not self._closed:
            self._closed = True
            self._render_timer.stop()
            self._unwatch_window()
            self.plotter.close()
        return super().close()


class EmbeddedCanvas(QtInteractor):
    """pyvistaqt's `QtInteractor` behind the canvas interface (it is its own plotter)."""

    rendered = Signal()
    kind = "opengl"

    def __init__(self, parent: QWidget | None = None) -> None:
        # auto_update off: we render on request. No MSAA: 8 samples cost ~5x in software GL
        super().__init__(parent, auto_update=False, multi_samples=0)
        self.plotter = self
        self.add_axes(line_width=2, labels_off=False)
        self._note_actor = self.add_text(
            "", position=(96, 12), font_size=7, color=NOTE_COLOR, name="canvas_note"
        )
        self.ren_win.AddObserver("EndEvent", lambda *_a: self.rendered.emit())

    @property
    def note(self) -> str:
        return self._note_actor.GetInput() or ""

    def set_note(self, text: str) -> None:
        self._note_actor.SetInput(text)
        self.update()

    def request_render(self) -> None:
        """Render once, in the widget's next paint (it renders in paintGL anyway)."""
        self.update()

    def image_array(self) -> np.ndarray:
        self.render()
        return np.asarray(self.screenshot(return_img=True))[..., :3].copy()
