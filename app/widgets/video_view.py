"""The video pane: the current frame, a 2D overlay of both hands, zoom and pan.

A plain QWidget painting with QPainter: the frame is drawn through a view transform
(image -> widget: scale and offset) and the overlay in image coordinates through the same
transform, so they always line up. Wheel zooms about the cursor, middle-drag or space+drag pans,
double-click or F fits.

The view observes the session: `FrameClock.frameChanged` (new frame) and the document's edits
(redraw when the current frame changed). It records what it last painted (`shown_frame`,
`drawn_joints`) so tests and other tools can check that all views agree.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QFont,
    QImage,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QResizeEvent,
    QTransform,
    QWheelEvent,
)
from PySide6.QtWidgets import QSizePolicy, QWidget

from app.session import Session
from app.widgets.colors import BACKGROUND, HAND_COLORS, HAND_LABELS, TEXT, confidence_color
from app.widgets.hand_paint import paint_hand, paint_hand_mark
from core.errors import VidihandError
from core.labels.document import Change
from core.video.display import DisplayFrames

_MIN_ZOOM, _MAX_ZOOM = 0.05, 40.0


#: frames up to this size are converted to RGB32 for faster scaling (1080p and below)
_RGB32_MAX_PIXELS = 1920 * 1088


class VideoView(QWidget):
    """Current frame + 2D hand overlay."""

    #: (frame) emitted after a paint that showed a new frame
    framePainted = Signal(int)
    #: a frame could not be decoded (the error is also reported by the window)
    frameError = Signal(object)

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.setObjectName("videoView")
        # paintEvent fills the whole widget: Qt need not paint the main window under it first
        # (with the timeline's, ~0.85 ms of the GUI thread's time in a 1080p frame step)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.setMinimumSize(320, 180)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMouseTracking(True)
        self.show_overlay = True
        self.show_labels = True
        self._image: QImage | None = None
        self._image32: QImage | None = None  # _image as RGB32, made when first painted scaled
        self._array: np.ndarray | None = None  # the decoded RGB frame shown (None: proxy/none)
        self._display: np.ndarray | None = None  # the display-size copy painted last
        #: the current frame is shown from its display copy alone (no full-size RGB here)
        self._display_only = False
        self._full_size: tuple[int, int] | None = None  #: (w, h) of this video's frames
        #: paints that blitted a display-size copy made off the GUI thread / scaled the frame here
        self.display_blits = 0
        self.scaled_paints = 0
        self._frame = -1
        self._zoom = 1.0
        self._offset = QPointF(0, 0)
        self._fit = True
        self._pan_from: QPointF | None = None
        self._space = False  #: Space is held: a left-drag pans (`panning_key`)
        #: what the last paint showed
        self.shown_frame = -1
        self.drawn_joints: dict[int, np.ndarray] = {}
        #: widget rectangle of each drawn hand's L/R badge (for tests)
        self.mark_rects: dict[int, QRectF] = {}
        #: long videos: frame whose proxy thumbnail stands in for the current one (-1: none
        #: yet, decoding), None when the exact frame is shown (app/long_video.py)
        self.proxy_of: int | None = None
        #: frame the decode-ahead thread is decoding for this view, which shows the last one
        #: until it is ready (app/long_video.py, `waits_for_worker`); -1: none
        self.waiting_for = -1
        #: extra overlay layers, called as f(painter, frame) after the hands (compare mode)
        self.overlay_painters: list = []
        session.clock.frameChanged.connect(self.show_frame)
        session.documentEdited.connect(self._on_edit)
        session.documentReplaced.connect(self.refresh)
        session.videoChanged.connect(self._on_video)

    # ---------------------------------------------------------------- model
    def _on_video(self) -> None:
        self._fit = True
        self._frame = -1
        self._display_only = False
        self._full_size = None

    @property
    def panning_key(self) -> bool:
        """Space is held: a left-drag pans the view rather than acting on the image."""
        return self._space

    def _on_edit(self, change: Change) -> None:
        if change.hand is None or self._frame in set(change.frames.tolist()):
            self.update()

    def refresh(self) -> None:
        self._frame = -1
        self._display_only = False
        self.show_frame(self.session.clock.frame)

    def show_frame(self, index: int) -> None:
        """Decode frame `index` and schedule a paint."""
        if index == self._frame and (self._image is not None or self._display_only):
            return
        self.waiting_for = -1
        if self._show_display_copy(index) or (
            self.session.display_copy_now(index) and self._show_display_copy(index)
        ):
            return
        if self._frame >= 0 and self.session.long_video.waits_for_worker(index):
            self.waiting_for = index  # the picture shown stays until frameReady(index)
            return
        # the exact image shown now, if any, and which frame it is (it may be standing in)
        shown = self.proxy_of if self.proxy_of is not None else self._frame
        # shown from its copy alone: that copy (scaled up only when it has to stand in)
        copy = shown_copy(self.session.display_frames, shown, self._full_size, self._display_only)
        self._display_only = False
        exact = self._array is not None and self._image is not None
        had_exact = shown >= 0 and (copy is not None or exact)
        self.proxy_of = None
        lv = self.session.long_video
        if self.session.video is not None and lv.decodes_in_background(index):
            img, self.proxy_of = lv.image_for(index)  # never decodes on the GUI thread
            if not isinstance(img, np.ndarray):  # something stands in until it is decoded
                if self.proxy_of == -1 and had_exact:
                    # no thumbnail: the last exact frame stands in, and the badge names it
                    if copy is not None:
                        self._image, self._array = copy_at_size(copy, self._full_size), None
                    self.proxy_of, self._frame = shown, index
                else:
                    self._image, self._array, self._frame = img, None, index
                self.update()
                return
        try:
            arr = self.session.frame_image(index)
        except (VidihandError, IndexError) as exc:
            self._image, self._array = None, None
            self._frame = index
            self.frameError.emit(exc)
            self.update()
            return
        if arr is None:
            self._image = None
            self._frame = -1
            self.update()
            return
        arr = np.ascontiguousarray(arr)
        h, w = arr.shape[:2]
        self._full_size = (w, h)  # the frames' size: display copies alone are shown at it
        self._array = arr
        self._image = QImage(arr.data, w, h, arr.strides[0], QImage.Format.Format_RGB888)
        self._image32 = None
        self._frame = index
        self.update()

    def catch_up(self, index: int) -> None:
        """While waiting for the current frame (`waiting_for`), show frame `index`, decoded
        since, when it is newer than the one shown: stepping faster than the decode-ahead
        thread, the pane follows at its pace instead of standing still."""
        if self._frame < index < self.waiting_for:
            self._show_display_copy(index)  # (leaves `waiting_for` as it is)

    def _show_display_copy(self, index: int) -> bool:
        """Show frame `index` from its display-size copy alone, when the decode-ahead thread
        made one at the size the pane paints now: the full-size RGB frame is then never needed
        (the decode-ahead thread did not convert it; `show_frame` asks for it the usual way
        when the pane is zoomed in or the copy is gone)."""
        frames = self.session.display_frames
        if frames is None or self.session.video is None or self._full_size is None:
            return False
        size = self._display_size(self.transform())
        if size is None or frames.size != size or frames.get(index, size) is None:
            return False
        self._display_only = True
        self._image, self._array, self._image32 = None, None, None
        self.proxy_of = None
        self._frame = index
        self.update()
        return True

    def _display_size(self, t: QTransform) -> tuple[int, int] | None:
        """(w, h) in device pixels the frame is painted at when that shrinks it, else None."""
        dpr = self.devicePixelRatioF()
        scale = t.m11() * dpr  # image pixels -> device pixels
        w, h = self.image_size()
        return (max(1, round(w * scale)), max(1, round(h * scale))) if scale < 1.0 else None

    def _scaled_source(self) -> QImage:
        """The image to draw through the view transform. Frames up to 1080p are converted to
        RGB32 once (Qt's raster engine scales RGB32 about 3x faster than RGB888); not above:
        there the copy (33 MB at 4K) would eat the long-video memory budget."""
        img = self._image
        if self._array is None or img.width() * img.height() > _RGB32_MAX_PIXELS:
            return img
        if self._image32 is None:
            self._image32 = img.convertToFormat(QImage.Format.Format_RGB32)
        return self._image32

    def _display_copy(self, t: QTransform) -> QImage | None:
        """The current frame already scaled to the painted size, in device pixels (HiDPI
        screens paint 2 device pixels per widget unit), on the decode-ahead thread
        (core/video/display.py); or None. Tells the session which size that is."""
        frames = self.session.display_frames
        if frames is None or (self._array is None and not self._display_only):
            return None
        if self.proxy_of is not None:
            return None
        dpr = self.devicePixelRatioF()
        size = self._display_size(t)
        if frames.set_size(size) and self.session.prefetcher is not None:
            self.session.prefetcher.refresh()
        arr = frames.get(self._frame, size) if size is not None else None
        self._display = arr  # keeps the pixels alive while Qt paints them
        if arr is None:
            return None
        image = QImage(arr.data, size[0], size[1], size[0] * 4, QImage.Format.Format_RGB32)
        image.setDevicePixelRatio(dpr)
        return image

    # ------------------------------------------------------------ transform
    def image_size(self) -> tuple[int, int]:
        if self._image is not None:
            return self._image.width(), self._image.height()
        if self._display_only and self._full_size is not None:
            return self._full_size
        meta = self.session.meta
        return (meta.width, meta.height) if meta is not None else (16, 9)

    def _fit_transform(self) -> None:
        w, h = self.image_size()
        avail_w, avail_h = max(self.width(), 1), max(self.height(), 1)
        self._zoom = min(avail_w / w, avail_h / h)
        self._offset = QPointF((avail_w - w * self._zoom) / 2, (avail_h - h * self._zoom) / 2)

    def transform(self) -> QTransform:
        """Image pixel edges -> widget coordinates."""
        if self._fit:
            self._fit_transform()
        return QTransform(self._zoom, 0, 0, self._zoom, self._offset.x(), self._offset.y())

    def image_to_widget(self, uv: np.ndarray) -> np.ndarray:
        """Pixel-centre image coordinates (..., 2) -> widget coordinates."""
        t = self.transform()
        p = np.asarray(uv, np.float64) + 0.5  # pixel centre convention -> pixel edges
        return p * t.m11() + np.array([t.dx(), t.dy()])

    def widget_to_image(self, xy: np.ndarray) -> np.ndarray:
        t = self.transform()
        return (np.asarray(xy, np.float64) - np.array([t.dx(), t.dy()])) / t.m11() - 0.5

    def joint_at(self, pos: QPointF, radius_px: float = 8.0) -> tuple[int, int] | None:
        """(hand, joint) of the drawn joint nearest `pos` within `radius_px` (for editing)."""
        best, best_d = None, radius_px
        for hand, uv in self.drawn_joints.items():
            xy = self.image_to_widget(uv)
            d = np.hypot(xy[:, 0] - pos.x(), xy[:, 1] - pos.y())
            d[np.isnan(d)] = np.inf
            j = int(np.argmin(d))
            if d[j] <= best_d:
                best, best_d = (hand, j), float(d[j])
        return best

    def fit(self) -> None:
        self._fit = True
        self.update()

    def zoom_by(self, factor: float, anchor: QPointF | None = None) -> None:
        t = self.transform()
        anchor = anchor or QPointF(self.width() / 2, self.height() / 2)
        new = max(_MIN_ZOOM, min(_MAX_ZOOM, t.m11() * factor))
        f = new / t.m11()
        self._offset = QPointF(
            anchor.x() - (anchor.x() - t.dx()) * f, anchor.y() - (anchor.y() - t.dy()) * f
        )
        self._zoom = new
        self._fit = False
        self.update()

    @property
    def zoom(self) -> float:
        return self.transform().m11()

    # --------------------------------------------------------------- events
    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802 - Qt API
        steps = event.angleDelta().y() / 120.0
        if steps:
            self.zoom_by(1.15**steps, event.position())
        event.accept()

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if event.button() == Qt.MouseButton.MiddleButton or (
            event.button() == Qt.MouseButton.LeftButton and self._space
        ):
            self._pan_from = event.position()
            self.setCursor(Qt.CursorShape.ClosedHandCursor)
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self._pan_from is not None:
            t = self.transform()
            d = event.position() - self._pan_from
            self._pan_from = event.position()
            self._offset = QPointF(t.dx() + d.x(), t.dy() + d.y())
            self._zoom = t.m11()
            self._fit = False
            self.update()
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self._pan_from is not None:
            self._pan_from = None
            self.unsetCursor()
            return
        super().mouseReleaseEvent(event)

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        self.fit()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        # space+drag pans; a plain space press (no drag) still reaches the play/pause action
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = True
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = False
        super().keyReleaseEvent(event)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802
        if self._fit:
            self._fit_transform()
        super().resizeEvent(event)

    # ---------------------------------------------------------------- paint
    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        p = QPainter(self)
        t = self.transform()
        drawn: dict[int, np.ndarray] = {}
        has_frame = self._image is not None or self._display_only
        display = self._display_copy(t) if has_frame else None
        if display is None and self._display_only:
            # zoomed in, resized, or the copy is gone: the full frame after all
            self._display_only = False
            f, self._frame = self._frame, -1
            self.show_frame(f)
            display = self._display_copy(t) if self._image is not None else None
        if display is not None:  # already scaled: a plain blit, the background around it
            origin = blit_origin(t, self.devicePixelRatioF())
            fill_around(p, QRectF(self.rect()), QRectF(origin, display.deviceIndependentSize()))
            p.drawImage(origin, display)
            self.display_blits += 1
        elif self._image is not None:
            p.fillRect(self.rect(), BACKGROUND)
            p.save()
            p.setTransform(t)
            # smooth scaling only when shrinking a lot; nearest keeps zoomed pixels honest
            # (and not during playback, where a frame is on screen for 33 ms and speed matters)
            smooth = t.m11() < 1.0 and not self.session.clock.playing
            p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, smooth)
            p.drawImage(QPointF(0, 0), self._scaled_source())
            p.restore()
            self.scaled_paints += 1
        else:
            p.fillRect(self.rect(), BACKGROUND)
            if self._frame >= 0:
                p.setPen(TEXT)
                text = f"Frame {self._frame} cannot be decoded"
                p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, text)
        doc = self.session.doc
        if self.show_overlay and doc is not None and 0 <= self._frame < doc.n_frames:
            p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
            for hand in (0, 1):
                uv = self._draw_hand(p, hand)
                if uv is not None:
                    drawn[hand] = uv
            for layer in self.overlay_painters:
                layer(p, self._frame)
        self._draw_hud(p)
        p.end()
        self.drawn_joints = drawn
        self.mark_rects = {h: r for h, r in self.mark_rects.items() if h in drawn}
        if self.shown_frame != self._frame:
            self.shown_frame = self._frame
            self.framePainted.emit(self._frame)

    def _draw_hand(self, p: QPainter, hand: int) -> np.ndarray | None:
        track = self.session.doc.hands[hand]  # type: ignore[union-attr]
        f = self._frame
        if not track.present[f]:
            return None
        uv = track.joints_2d[f]
        if np.isnan(uv).all():
            return None
        xy = self.image_to_widget(uv)
        # faded toward grey by confidence, opaquely: Qt strokes antialiased lines ~6x faster
        # with an opaque pen (a translucent overlay was ~4 ms of a 1080p frame step)
        color = confidence_color(HAND_COLORS[hand], float(track.confidence[f]))
        ok = ~np.isnan(xy).any(1)
        width = max(1.5, min(4.0, 2.2 * self.zoom**0.5))
        r = paint_hand(p, xy, ok, color, width)
        if self.show_labels and ok[0]:
            self.mark_rects[hand] = paint_hand_mark(
                p, HAND_LABELS[hand][0], xy, ok, color, r, self.font().family(), self.size()
            )
        return uv.copy()

    def _draw_hud(self, p: QPainter) -> None:
        clock = self.session.clock
        if clock.n_frames <= 0:
            p.setPen(TEXT)
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "Open a video (Ctrl+O)")
            return
        f = max(self._frame, 0)
        text = f"{f} / {clock.n_frames - 1}   {format_time(clock.time_of(f))}"
        if abs(self.zoom - 1.0) > 0.01 and not self._fit:
            text += f"   {self.zoom * 100:.0f}%"
        if self.proxy_of is not None:  # the image is not frame f yet: say what it is
            text += "   decoding..." if self.proxy_of < 0 else f"   proxy: frame {self.proxy_of}"
        paint_badge(p, text, self.font().family())


def fill_around(p: QPainter, area: QRectF, image: QRectF) -> None:
    """The background over `area` but `image` (an opaque picture painted there next): the
    bands around it only. Filling the whole pane first wrote every pixel twice, ~0.2-0.3 ms
    of a 1080p step's paint."""
    inside = image.intersected(area)
    if inside.isEmpty():
        p.fillRect(area, BACKGROUND)
        return
    bands = (
        QRectF(area.left(), area.top(), area.width(), inside.top() - area.top()),
        QRectF(area.left(), inside.bottom(), area.width(), area.bottom() - inside.bottom()),
        QRectF(area.left(), inside.top(), inside.left() - area.left(), inside.height()),
        QRectF(inside.right(), inside.top(), area.right() - inside.right(), inside.height()),
    )
    for band in bands:
        if band.width() > 0 and band.height() > 0:
            p.fillRect(band, BACKGROUND)


def blit_origin(t: QTransform, dpr: float) -> QPointF:
    """Where a display copy goes: the image's corner on a whole device pixel."""
    return QPointF(round(t.dx() * dpr) / dpr, round(t.dy() * dpr) / dpr)


def paint_badge(p: QPainter, text: str, family: str) -> None:
    """The frame number badge in the upper left corner."""
    p.setFont(QFont(family, 10))
    fm = p.fontMetrics()
    rect = QRectF(8, 8, fm.horizontalAdvance(text) + 16, fm.height() + 8)
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(QColor(0, 0, 0, 150))
    p.drawRoundedRect(rect, 4, 4)
    p.setPen(TEXT)
    p.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)


def shown_copy(
    frames: DisplayFrames | None, shown: int, full_size: tuple[int, int] | None, only: bool
) -> np.ndarray | None:
    """The display copy of frame `shown` when the pane shows that frame from its copy alone
    (`only`) and the frame's size is known, else None."""
    if not only or frames is None or shown < 0 or full_size is None:
        return None
    return frames.get(shown)


def copy_at_size(copy: np.ndarray | None, size: tuple[int, int] | None) -> QImage | None:
    """A display copy (BGRA) scaled back to the frame's `size` (w, h): what stands in for a
    frame still decoding when the last one was shown from its copy alone."""
    if copy is None or size is None:
        return None
    h, w = copy.shape[:2]
    small = QImage(copy.data, w, h, w * 4, QImage.Format.Format_RGB32)
    return small.scaled(size[0], size[1], Qt.AspectRatioMode.IgnoreAspectRatio)


def format_time(seconds: float) -> str:
    m, s = divmod(max(seconds, 0.0), 60.0)
    h, m = divmod(int(m), 60)
    return f"{h}:{m:02d}:{s:06.3f}" if h else f"{m:02d}:{s:06.3f}"
