"""The timeline: the whole clip at a glance, one lane per property, click or drag to scrub.

Lanes per hand: presence, confidence (bar height), source (predicted / edited / interpolated /
imported); then review state and flags. Painting is per pixel column, not per frame: for the
visible frame range every column aggregates its frames (fractions, means, dominant source) from
prefix sums of the document arrays, so a 100k-frame clip costs the same as a 500-frame one. The
lanes are rendered into one cached image that is rebuilt only when the document, the range or
the width changes; the current-frame marker is painted on top.

Mouse: left click/drag scrubs; wheel zooms about the cursor; shift+drag or right-drag selects a
range to zoom to; double-click shows the whole clip. Lanes are objects (`Lane`), so later
features (detector scores, thumbnails) add lanes without touching the painting code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QEvent, QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetrics,
    QImage,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPen,
    QPixmap,
    QPolygonF,
    QWheelEvent,
)
from PySide6.QtWidgets import QSizePolicy, QWidget

from app.session import Session
from app.widgets.colors import (
    BACKGROUND,
    FLAG_COLOR,
    HAND_COLORS,
    HAND_LABELS,
    LANE_BACKGROUND,
    MARKER,
    REVIEWED_COLOR,
    SOURCE_COLORS,
    TEXT,
    TEXT_DIM,
)
from core.labels.document import Change, LabelDocument, Source

HEADER_W = 124
RULER_H = 22
LEGEND_H = 20
LANE_GAP = 2
GROUP_GAP = 6
#: rows are at least this tall so lane labels never overlap
MIN_ROW = 11


class Columns:
    """Maps pixel columns to frame ranges [start, end) and aggregates per column."""

    def __init__(self, v0: int, v1: int, width: int) -> None:
        self.v0, self.v1, self.width = v0, v1, max(1, width)
        c = np.arange(self.width + 1, dtype=np.float64)
        edges = v0 + np.floor(c * (v1 - v0) / self.width).astype(np.int64)
        self.starts = edges[:-1]
        self.ends = np.maximum(edges[1:], self.starts + 1)
        self.count = (self.ends - self.starts).astype(np.float64)

    def sum(self, cumsum: np.ndarray) -> np.ndarray:
        """Per-column sums from a prefix sum (len n + 1) of a per-frame value."""
        return cumsum[self.ends] - cumsum[self.starts]

    def mean(self, cumsum: np.ndarray) -> np.ndarray:
        return self.sum(cumsum) / self.count


def prefix(values: np.ndarray) -> np.ndarray:
    out = np.zeros(len(values) + 1, np.float64)
    np.cumsum(values, out=out[1:])
    return out


@dataclass
class Lane:
    """One horizontal strip. `render(doc, cols, height)` returns (height, width, 4) uint8 RGBA."""

    label: str
    height: int
    render: Callable[[LabelDocument, Columns, int, dict], np.ndarray]
    group: str = ""  #: lanes with the same group share a header label
    color: QColor | None = None  #: colour of the group label
    #: a legend row of its own under the source legend: (title, ((colour, name), ...));
    #: lanes sharing a legend (same title) show it once
    legend: tuple[str, tuple[tuple[QColor, str], ...]] | None = None


def _rgba(color: QColor) -> np.ndarray:
    return np.array([color.red(), color.green(), color.blue(), 255], np.float64)


def _fill(alpha_cols: np.ndarray, color: QColor, height: int) -> np.ndarray:
    """Columns coloured `color` with opacity `alpha_cols` (0..1) over the lane background."""
    bg, fg = _rgba(LANE_BACKGROUND), _rgba(color)
    a = np.clip(alpha_cols, 0, 1)[:, None]
    row = (bg * (1 - a) + fg * a).astype(np.uint8)
    return np.broadcast_to(row[None], (height, len(row), 4))


def _bars(
    frac_cols: np.ndarray, color: QColor, height: int, shade: np.ndarray | None = None
) -> np.ndarray:
    """Bar chart: column c filled from the bottom to frac_cols[c] of the lane height."""
    bg, fg = _rgba(LANE_BACKGROUND), _rgba(color)
    if shade is not None:  # columns with few present frames are drawn fainter
        a = np.clip(shade, 0, 1)[:, None]
        fg_cols = bg * (1 - a) + fg * a
    else:
        fg_cols = np.broadcast_to(fg, (len(frac_cols), 4))
    y = (height - np.arange(height))[:, None]  # height .. 1 from top to bottom
    on = y <= np.clip(frac_cols, 0, 1)[None, :] * height + 0.5
    img = np.where(on[..., None], fg_cols[None], bg[None, None])
    return img.astype(np.uint8)


# ---------------------------------------------------------------------- lane renderers
def presence_lane(hand: int) -> Lane:
    def render(doc: LabelDocument, cols: Columns, h: int, cache: dict) -> np.ndarray:
        frac = cols.mean(_cum(cache, doc, ("present", hand)))
        return _fill(frac, HAND_COLORS[hand], h)

    return Lane("present", 9, render, HAND_LABELS[hand], HAND_COLORS[hand])


def confidence_lane(hand: int) -> Lane:
    def render(doc: LabelDocument, cols: Columns, h: int, cache: dict) -> np.ndarray:
        n_present = cols.sum(_cum(cache, doc, ("present", hand)))
        conf = cols.sum(_cum(cache, doc, ("confidence", hand)))
        mean = np.where(n_present > 0, conf / np.maximum(n_present, 1), 0.0)
        return _bars(
            mean, HAND_COLORS[hand].darker(115), h, shade=0.4 + 0.6 * n_present / cols.count
        )

    return Lane("confidence", 18, render, HAND_LABELS[hand], HAND_COLORS[hand])


def source_lane(hand: int) -> Lane:
    def render(doc: LabelDocument, cols: Columns, h: int, cache: dict) -> np.ndarray:
        kinds = [s for s in Source if s != Source.NONE]
        counts = np.stack([cols.sum(_cum(cache, doc, ("source", hand, int(s)))) for s in kinds])
        best = counts.argmax(0)
        total = counts.sum(0)
        bg = _rgba(LANE_BACKGROUND)
        palette = np.stack([_rgba(SOURCE_COLORS[s]) for s in kinds])
        row = np.where((total > 0)[:, None], palette[best], bg[None]).astype(np.uint8)
        return np.broadcast_to(row[None], (h, len(row), 4))

    return Lane("source", 8, render, HAND_LABELS[hand], HAND_COLORS[hand])


def reviewed_lane() -> Lane:
    def render(doc: LabelDocument, cols: Columns, h: int, cache: dict) -> np.ndarray:
        frac = cols.mean(_cum(cache, doc, ("reviewed",)))
        return _fill(frac, REVIEWED_COLOR, h)

    return Lane("reviewed", 10, render, "Review", TEXT)


def flags_lane() -> Lane:
    def render(doc: LabelDocument, cols: Columns, h: int, cache: dict) -> np.ndarray:
        any_flag = cols.sum(_cum(cache, doc, ("flags",))) > 0
        return _fill(any_flag.astype(np.float64), FLAG_COLOR, h)

    return Lane("flags", 10, render, "Review", TEXT)


def _cum(cache: dict, doc: LabelDocument, key: tuple) -> np.ndarray:
    """Prefix sums of per-frame values, cached until the document changes."""
    if key in cache:
        return cache[key]
    name = key[0]
    if name == "reviewed":
        present = doc.hands[0].present | doc.hands[1].present
        rev = np.where(doc.hands[0].present, doc.hands[0].reviewed, True) & np.where(
            doc.hands[1].present, doc.hands[1].reviewed, True
        )
        values = (present & rev).astype(np.float64)
    elif name == "flags":
        values = ((doc.hands[0].flags | doc.hands[1].flags) > 0).astype(np.float64)
    elif name == "source":
        t = doc.hands[key[1]]
        values = ((t.source == key[2]) & t.present).astype(np.float64)
    elif name == "confidence":
        t = doc.hands[key[1]]
        values = np.where(t.present, np.nan_to_num(t.confidence.astype(np.float64)), 0.0)
    else:
        values = getattr(doc.hands[key[1]], name).astype(np.float64)
    cache[key] = prefix(values)
    return cache[key]


#: the helpers lanes made in other modules use (app/widgets/edit_lanes.py)
lane_fill = _fill
prefix_sums = _cum


def paint_legend(
    p: QPainter, legends: list[tuple[str, tuple[tuple[QColor, str], ...]]], bottom: int
) -> None:
    """One row per legend above `bottom`: the sources (square swatches), then the lanes' own
    legends (round swatches, so a failure colour never reads as a source colour)."""
    fm = p.fontMetrics()
    for row, (title, items) in enumerate(legends):
        y = bottom - LEGEND_H * (len(legends) - row) + 4
        x = HEADER_W
        p.setPen(TEXT_DIM)
        p.drawText(QRectF(6, y - 2, HEADER_W - 10, 14), Qt.AlignmentFlag.AlignVCenter, title)
        for color, name in items:
            if row == 0:
                p.fillRect(QRectF(x, y + 1, 10, 10), color)
            else:
                p.setPen(Qt.PenStyle.NoPen)
                p.setBrush(color)
                p.drawEllipse(QRectF(x, y + 1, 10, 10))
            p.setPen(TEXT_DIM)
            p.drawText(QPointF(x + 14, y + 10), name)
            x += 14 + fm.horizontalAdvance(name) + 14


def default_lanes() -> list[Lane]:
    lanes: list[Lane] = []
    for hand in (0, 1):
        lanes += [presence_lane(hand), confidence_lane(hand), source_lane(hand)]
    return lanes + [reviewed_lane(), flags_lane()]


class Timeline(QWidget):
    """Lanes over the visible frame range with the current frame marked."""

    viewChanged = Signal(int, int)  #: visible range [v0, v1)

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.setObjectName("timeline")
        # every paint covers the whole widget (the static layer): Qt need not paint the dock
        # under it first (~0.4 ms of each frame step, with the window behind the video pane)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.lanes: list[Lane] = default_lanes()
        self._v0, self._v1 = 0, 1
        self._cum_cache: dict = {}
        self._image: QImage | None = None
        self._image_key: tuple | None = None
        self._image_gen = 0  #: bumped whenever the lane image is rebuilt
        self._array: np.ndarray | None = None
        self._columns: Columns | None = None
        #: everything but the marker, hover line and selection, painted once per change
        self._static: QPixmap | None = None
        self._static_key: tuple | None = None
        self._marker_rect: QRectF | None = None
        self._scrubbing = False
        self._select_from: float | None = None
        self._select_to: float | None = None
        self._hover_x: float | None = None
        #: frame the marker was drawn at in the last paint
        self.shown_frame = -1
        self._update_height()
        session.clock.frameChanged.connect(self._on_frame)
        session.documentReplaced.connect(self._on_document)
        session.documentEdited.connect(self._on_edit)

    # -------------------------------------------------------------- layout
    def add_lane(self, lane: Lane, index: int | None = None, *, after: str | None = None) -> None:
        """Add `lane` at `index` (None: at the end). With `after`, place it explicitly in its
        group: just after the group's lane labelled `after` ("", or no such lane: at the end of
        the group; the group absent: at the end)."""
        if after is not None:
            group = [i for i, x in enumerate(self.lanes) if x.group == lane.group]
            named = [i for i in group if self.lanes[i].label == after] if after else []
            index = (named or group or [len(self.lanes) - 1])[-1] + 1
        self.lanes.insert(len(self.lanes) if index is None else index, lane)
        self._update_height()
        self._invalidate()

    def remove_lane(self, lane: Lane) -> None:
        self.lanes = [x for x in self.lanes if x is not lane]
        self._update_height()
        self._invalidate()

    def refresh_lanes(self) -> None:
        """Repaint the lanes: data they show changed outside the document (detector scores)."""
        self._image_key = None
        self.update()

    def _lane_rows(self) -> list[tuple[Lane, int]]:
        """(lane, y) of each lane."""
        y, rows, group = RULER_H + 6, [], None
        for lane in self.lanes:
            if group is not None and lane.group != group:
                y += GROUP_GAP
            # thin lanes get a row tall enough for their label, the strip centred in it
            pitch = max(lane.height, MIN_ROW)
            rows.append((lane, y + (pitch - lane.height) // 2))
            y += pitch + LANE_GAP
            group = lane.group
        return rows

    def _lanes_bottom(self) -> int:
        lane, y = self._lane_rows()[-1]
        return y + lane.height

    def _legends(self) -> list[tuple[str, tuple[tuple[QColor, str], ...]]]:
        """The source legend, then each lane legend once, in lane order."""
        items = [(SOURCE_COLORS[s], s.name.lower()) for s in Source if s != Source.NONE]
        items += [(REVIEWED_COLOR, "reviewed"), (FLAG_COLOR, "flagged")]
        out = [("source:", tuple(items))]
        for lane in self.lanes:
            if lane.legend is not None and lane.legend[0] not in (t for t, _ in out):
                out.append(lane.legend)
        return out

    def _update_height(self) -> None:
        h = self._lanes_bottom() + 6 + LEGEND_H * len(self._legends())
        self.setFixedHeight(h)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt API
        return QSize(800, self.height())

    # -------------------------------------------------------------- model
    def _on_document(self) -> None:
        doc = self.session.doc
        self._v0, self._v1 = 0, max(1, doc.n_frames if doc else 1)
        self._invalidate()
        self.viewChanged.emit(self._v0, self._v1)

    def _on_edit(self, change: Change) -> None:
        self._invalidate()

    def _invalidate(self) -> None:
        self._cum_cache.clear()
        self._image_key = None
        self.update()

    def _on_frame(self, frame: int) -> None:
        # keep the marker in view while playing or stepping: page the range along
        if not self._v0 <= frame < self._v1:
            span = self._v1 - self._v0
            start = frame - span // 10 if frame >= self._v1 else frame - span * 9 // 10
            self.set_view(start, start + span)
            return  # set_view repaints the whole widget
        # only the old and the new marker change: repaint (and flush) just those strips
        if self._marker_rect is not None:
            self.update(self._marker_rect.toAlignedRect())
        rect = self._marker_bounds(frame)
        if rect is not None:
            self.update(rect.toAlignedRect())

    # --------------------------------------------------------------- view
    @property
    def view_range(self) -> tuple[int, int]:
        return self._v0, self._v1

    def set_view(self, v0: int, v1: int) -> None:
        n = max(1, self.session.clock.n_frames)
        span = max(10 if n >= 10 else 1, min(n, int(v1) - int(v0)))
        v0 = max(0, min(n - span, int(v0)))
        if (v0, v0 + span) != (self._v0, self._v1):
            self._v0, self._v1 = v0, v0 + span
            self._image_key = None
            self.viewChanged.emit(self._v0, self._v1)
            self.update()

    def reset_view(self) -> None:
        self.set_view(0, self.session.clock.n_frames)

    def _lanes_width(self) -> int:
        return max(1, self.width() - HEADER_W - 8)

    def frame_at(self, x: float) -> int:
        w = self._lanes_width()
        t = (x - HEADER_W) / w
        return int(np.floor(self._v0 + t * (self._v1 - self._v0)))

    def x_of(self, frame: float) -> float:
        """x of the left edge of `frame`'s column span."""
        return HEADER_W + (frame - self._v0) / (self._v1 - self._v0) * self._lanes_width()

    def column_values(self, frame: int) -> dict[str, np.ndarray]:
        """What the lanes show at `frame`'s column: per hand presence fraction, mean confidence
        and dominant source (exact when zoomed to at least one column per frame)."""
        doc = self.session.doc
        if doc is None:
            return {}
        cols = Columns(self._v0, self._v1, self._lanes_width())
        c = int(np.searchsorted(cols.ends, frame, side="right"))
        c = min(max(c, 0), cols.width - 1)
        out: dict[str, np.ndarray] = {
            "present": np.zeros(2),
            "confidence": np.zeros(2),
            "source": np.zeros(2, int),
        }
        one = Columns.__new__(Columns)
        one.starts, one.ends, one.count = (
            cols.starts[c : c + 1],
            cols.ends[c : c + 1],
            cols.count[c : c + 1],
        )
        for hand in (0, 1):
            n_pres = one.sum(_cum(self._cum_cache, doc, ("present", hand)))[0]
            out["present"][hand] = n_pres / one.count[0]
            conf = one.sum(_cum(self._cum_cache, doc, ("confidence", hand)))[0]
            out["confidence"][hand] = conf / n_pres if n_pres else 0.0
            counts = [
                one.sum(_cum(self._cum_cache, doc, ("source", hand, int(s))))[0] for s in Source
            ]
            out["source"][hand] = int(np.argmax(counts)) if max(counts) > 0 else int(Source.NONE)
        return out

    # -------------------------------------------------------------- events
    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        x = event.position().x()
        if x < HEADER_W:
            return
        select = event.button() == Qt.MouseButton.RightButton or (
            event.button() == Qt.MouseButton.LeftButton
            and event.modifiers() & Qt.KeyboardModifier.ShiftModifier
        )
        if select:
            self._select_from = self._select_to = x
        elif event.button() == Qt.MouseButton.LeftButton:
            self._scrubbing = True
            self.session.clock.set_frame(self.frame_at(x))
        self.update()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        x = event.position().x()
        self._hover_x = x if x >= HEADER_W else None
        if self._scrubbing:
            self.session.clock.set_frame(self.frame_at(min(max(x, HEADER_W), self.width() - 9)))
        elif self._select_from is not None:
            self._select_to = x
        self.update()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self._select_from is not None and self._select_to is not None:
            a, b = sorted((self._select_from, self._select_to))
            if b - a > 3:
                self.set_view(self.frame_at(a), self.frame_at(b) + 1)
        self._scrubbing = False
        self._select_from = self._select_to = None
        self.update()

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        self.reset_view()

    def leaveEvent(self, event: QEvent) -> None:  # noqa: N802
        self._hover_x = None
        self.update()

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802
        d = event.angleDelta()
        if d.x() and not d.y():  # horizontal wheel / touchpad: pan
            span = self._v1 - self._v0
            self.set_view(
                self._v0 - int(d.x() / 120 * span / 10), self._v1 - int(d.x() / 120 * span / 10)
            )
        elif d.y():
            factor = 0.8 ** (d.y() / 120.0)
            anchor = (
                self.frame_at(event.position().x())
                if event.position().x() >= HEADER_W
                else self.session.clock.frame
            )
            span = (self._v1 - self._v0) * factor
            t = (anchor - self._v0) / max(self._v1 - self._v0, 1)
            v0 = anchor - t * span
            self.set_view(int(round(v0)), int(round(v0 + span)))
        event.accept()

    # --------------------------------------------------------------- paint
    def _lane_image(self) -> QImage | None:
        doc = self.session.doc
        if doc is None or doc.n_frames == 0:
            return None
        w = self._lanes_width()
        key = (self._v0, self._v1, w, id(doc))
        if self._image is not None and self._image_key == key:
            return self._image
        cols = Columns(self._v0, self._v1, w)
        bottom = self._lanes_bottom()
        img = np.zeros((bottom, w, 4), np.uint8)
        for lane, y in self._lane_rows():
            img[y : y + lane.height] = lane.render(doc, cols, lane.height, self._cum_cache)
        self._array = np.ascontiguousarray(img)
        self._image = QImage(self._array.data, w, bottom, w * 4, QImage.Format.Format_RGBA8888)
        self._image_key = key
        self._image_gen += 1
        self._columns = cols
        return self._image

    def _static_layer(self) -> QPixmap:
        """Lanes, header, ruler and legend: repainted only when one of them changes (a frame
        step repaints just the marker over this)."""
        img = self._lane_image()
        dpr = self.devicePixelRatioF()
        rows = tuple((lane.label, lane.group, y, lane.height) for lane, y in self._lane_rows())
        key = (
            self._image_gen if img is not None else -1,
            self.width(),
            self.height(),
            dpr,
            self._v0,
            self._v1,
            rows,
            self.session.clock.n_frames,
        )
        if self._static is None or self._static_key != key:
            pm = QPixmap(max(1, int(self.width() * dpr)), max(1, int(self.height() * dpr)))
            pm.setDevicePixelRatio(dpr)
            p = QPainter(pm)
            p.fillRect(self.rect(), BACKGROUND)
            p.setFont(QFont(self.font().family(), 8))
            if img is not None:
                p.drawImage(QPointF(HEADER_W, 0), img)
            self._paint_header(p)
            self._paint_ruler(p)
            paint_legend(p, self._legends(), self.height())
            p.end()
            self._static, self._static_key = pm, key
        return self._static

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        p = QPainter(self)
        p.drawPixmap(0, 0, self._static_layer())
        p.setFont(QFont(self.font().family(), 8))
        if self._select_from is not None and self._select_to is not None:
            a, b = sorted((self._select_from, self._select_to))
            p.fillRect(
                QRectF(a, RULER_H, b - a, self._lanes_bottom() - RULER_H), QColor(255, 255, 255, 40)
            )
        if self._hover_x is not None and not self._scrubbing:
            p.setPen(QPen(QColor(255, 255, 255, 60), 1))
            p.drawLine(
                QPointF(self._hover_x, RULER_H), QPointF(self._hover_x, self._lanes_bottom())
            )
        self._paint_marker(p)
        p.end()

    def _paint_header(self, p: QPainter) -> None:
        p.fillRect(QRectF(0, 0, HEADER_W - 4, self.height()), BACKGROUND)
        groups: dict[str, list[int]] = {}
        colors: dict[str, QColor] = {}
        for lane, y in self._lane_rows():
            groups.setdefault(lane.group, []).append(y)
            groups[lane.group].append(y + lane.height)
            colors[lane.group] = lane.color or TEXT
            p.setPen(TEXT_DIM)
            p.drawText(
                QRectF(56, y - 3, HEADER_W - 62, lane.height + 6),
                Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                lane.label,
            )
        bold = QFont(self.font().family(), 9, QFont.Weight.Bold)
        p.save()
        p.setFont(bold)
        for group, ys in groups.items():
            p.setPen(colors[group])
            mid, half = (min(ys) + max(ys)) / 2, max((max(ys) - min(ys)) / 2, 8)
            p.drawText(
                QRectF(6, mid - half, 52, 2 * half),
                Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                group,
            )
        p.restore()

    def _paint_ruler(self, p: QPainter) -> None:
        clock = self.session.clock
        p.fillRect(QRectF(HEADER_W, 0, self._lanes_width(), RULER_H - 2), QColor("#25272b"))
        p.setPen(TEXT_DIM)
        span = self._v1 - self._v0
        if clock.n_frames <= 0:
            return
        p.drawText(
            QRectF(6, 0, HEADER_W - 10, RULER_H),
            Qt.AlignmentFlag.AlignVCenter,
            f"{self._v0}-{self._v1 - 1}" if span < clock.n_frames else "all frames",
        )
        step = _nice_step(span, self._lanes_width() / 70.0)
        first = int(np.ceil(self._v0 / step) * step)
        for f in range(first, self._v1, step):
            x = self.x_of(f)
            p.drawLine(QPointF(x, RULER_H - 7), QPointF(x, RULER_H - 2))
            p.drawText(QPointF(x + 3, RULER_H - 8), str(f))

    def _marker_bounds(self, f: int) -> QRectF | None:
        """What the marker of frame f covers (line, handle, label, range shading)."""
        if self.session.clock.n_frames <= 0 or not self._v0 <= f < self._v1:
            return None
        x0, x1 = self.x_of(f), self.x_of(f + 1)
        x = (x0 + x1) / 2
        label_w = QFontMetrics(QFont(self.font().family(), 8)).horizontalAdvance(str(f)) + 8
        left = min(x0, x - 6, min(x + 7, self.width() - label_w - 2)) - 2
        right = max(x1, x + 6, min(x + 7, self.width() - label_w - 2) + label_w) + 2
        return QRectF(left, 0, right - left, self.height())

    def _paint_marker(self, p: QPainter) -> None:
        clock = self.session.clock
        if clock.n_frames <= 0:
            return
        f = clock.frame
        self.shown_frame = f
        self._marker_rect = self._marker_bounds(f)
        if not self._v0 <= f < self._v1:
            return
        x0, x1 = self.x_of(f), self.x_of(f + 1)
        x = (x0 + x1) / 2
        if x1 - x0 > 3:
            p.fillRect(
                QRectF(x0, RULER_H, x1 - x0, self._lanes_bottom() - RULER_H),
                QColor(255, 212, 59, 40),
            )
        p.setPen(QPen(MARKER, 1.5))
        p.drawLine(QPointF(x, RULER_H - 2), QPointF(x, self._lanes_bottom() + 2))
        p.setBrush(MARKER)
        p.setPen(Qt.PenStyle.NoPen)
        p.drawPolygon(QPolygonF([QPointF(x - 5, 2), QPointF(x + 5, 2), QPointF(x, RULER_H - 4)]))
        label = str(f)
        w = p.fontMetrics().horizontalAdvance(label) + 8
        lx = min(x + 7, self.width() - w - 2)
        p.fillRect(QRectF(lx, 2, w, 13), QColor(0, 0, 0, 170))
        p.setPen(MARKER)
        p.drawText(QRectF(lx, 2, w, 13), Qt.AlignmentFlag.AlignCenter, label)


def _nice_step(span: int, max_labels: float) -> int:
    """A 1-2-5 step giving at most `max_labels` tick labels over `span` frames."""
    raw = max(1.0, span / max(max_labels, 1.0))
    mag = 10 ** int(np.floor(np.log10(raw)))
    for m in (1, 2, 5, 10):
        if m * mag >= raw:
            return int(m * mag)
    return int(10 * mag)
