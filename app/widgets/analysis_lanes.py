"""Timeline lanes for failure analysis: detector scores and, in compare mode, per-frame errors.

Both plug into the timeline's `Lane` mechanism (app/widgets/timeline.py) and aggregate per
pixel column like its own lanes, so they cost the same at any zoom:

- **failures** (one per hand): bar height = the largest detector score in the column (the
  threshold, score 1, at half height; 2 and above fill the lane), colour = the kind with that
  score (`KIND_COLORS`); below threshold the bar is faint.
- **error lanes** (per hand, compare mode): MPJPE, PA-MPJPE ("PA"), EPE as bars of the
  column's mean error (frames where both have the hand) on a scale shared by both hands: the
  label ends with the full-scale value (mm, mm, px; `ErrorScale`); columns where the reference
  has the hand and the prediction misses it (scored with the penalty) are marked red at full
  height.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QColor

from app.compare import CompareModel
from app.failures import FailuresModel
from app.widgets.colors import HAND_COLORS, HAND_LABELS, LANE_BACKGROUND
from app.widgets.timeline import Columns, Lane, prefix
from core.analysis import KINDS
from core.labels.document import LabelDocument
from core.resources import theme_colors

#: failure kind -> colour, from resources/theme/colors.json: hues kept away from the source
#: legend's, and shown in a legend row of their own (round swatches)
KIND_COLORS: dict[str, QColor] = {k: QColor(v) for k, v in theme_colors()["failure_kinds"].items()}
FAILURE_LEGEND = ("failures:", tuple((KIND_COLORS[k], k.replace("_", " ")) for k in KINDS))
ERROR_METRICS: dict[str, tuple[str, str, float, QColor]] = {
    # name -> (short lane label, unit, smallest full scale, colour)
    "MPJPE": ("MPJPE", "mm", 5.0, QColor("#f783ac")),
    "PA-MPJPE": ("PA", "mm", 5.0, QColor("#b197fc")),
    "EPE": ("EPE", "px", 2.0, QColor("#63e6be")),
}
MISSED_COLOR = QColor("#c92a2a")
FAILURE_LANE_H = 14
ERROR_LANE_H = 12
BELOW_THRESHOLD_ALPHA = 0.35


def _rgba(c: QColor) -> np.ndarray:
    return np.array([c.red(), c.green(), c.blue(), 255], np.float64)


_KIND_RGBA = np.stack([_rgba(KIND_COLORS[k]) for k in KINDS])
_BG = _rgba(LANE_BACKGROUND)


def column_max(values: np.ndarray, cols: Columns) -> np.ndarray:
    """(..., width) largest value of each column's frames (values (..., T), T >= cols.v1)."""
    v = values[..., : int(cols.ends[-1])]
    return np.maximum.reduceat(v, cols.starts, axis=-1)


def bars_image(height_frac: np.ndarray, rgba: np.ndarray, height: int) -> np.ndarray:
    """(height, width, 4): column c filled from the bottom to height_frac[c] with rgba[c]."""
    y = (height - np.arange(height))[:, None]
    on = (y <= np.clip(height_frac, 0, 1)[None, :] * height + 0.5) & (height_frac > 0)[None, :]
    return np.where(on[..., None], rgba[None], _BG[None, None]).astype(np.uint8)


def _blend(rgba: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    a = np.clip(alpha, 0, 1)[:, None]
    return _BG[None] * (1 - a) + rgba * a


# -------------------------------------------------------------------------- failures lane
def failure_columns(
    model: FailuresModel, hand: int, cols: Columns
) -> tuple[np.ndarray, np.ndarray]:
    """(score, kind index) per column: the largest detector score of the hand there and its kind
    (index into KINDS); score 0 where nothing is known."""
    scores = model.lane_scores(hand)
    if scores is None or scores.shape[1] < cols.ends[-1]:
        return np.zeros(cols.width), np.zeros(cols.width, int)
    per_kind = column_max(scores, cols)  # (n_kinds, width)
    best = per_kind.argmax(axis=0)
    return per_kind[best, np.arange(cols.width)], best


def failure_lane(model: FailuresModel, hand: int) -> Lane:
    def render(doc: LabelDocument, cols: Columns, h: int, cache: dict) -> np.ndarray:
        score, kind = failure_columns(model, hand, cols)
        above = score > 1.0
        rgba = _blend(_KIND_RGBA[kind], np.where(above, 1.0, BELOW_THRESHOLD_ALPHA))
        img = bars_image(score / 2.0, rgba, h)
        img[h // 2, ~above] = np.maximum(img[h // 2, ~above], 70)  # the threshold line
        return img

    return Lane(
        "failures", FAILURE_LANE_H, render, HAND_LABELS[hand], HAND_COLORS[hand], FAILURE_LEGEND
    )


# ---------------------------------------------------------------------------- error lanes
class ErrorScale:
    """Full-scale value per metric, shared by both hands: the 98th percentile of the per-frame
    errors (so one outlier does not flatten the rest), at least the metric's smallest full
    scale (near-exact labels do not blow float noise up to full bars), recomputed for each
    evaluation."""

    def __init__(self, model: CompareModel) -> None:
        self.model = model
        self._for: object = None
        self._scale: dict[str, float] = {}

    def of(self, name: str) -> float:
        ev = self.model.evaluation
        if ev is not self._for:
            self._for, self._scale = ev, {}
        if name not in self._scale:
            v = None if ev is None else ev.per_frame.get(name)
            finite = v[np.isfinite(v)] if v is not None else np.empty(0)
            self._scale[name] = float(np.percentile(finite, 98)) if finite.size else 0.0
        return max(self._scale[name], ERROR_METRICS[name][2])

    def describe(self) -> str:
        """'MPJPE 40 mm, PA 5 mm, EPE 12 px': what a full bar means in each error lane."""
        return ", ".join(
            f"{label} {format_scale(self.of(name))} {unit}"
            for name, (label, unit, _m, _c) in ERROR_METRICS.items()
        )


def format_scale(v: float) -> str:
    return f"{v:.0f}" if v >= 10 else f"{v:.1f}"


def error_columns(
    model: CompareModel, name: str, hand: int, cols: Columns
) -> tuple[np.ndarray, np.ndarray]:
    """(mean error, fraction of missed frames) per column; NaN mean where nothing is scored."""
    err = model.per_frame(name, hand)
    pen = model.per_frame(f"{name}-p", hand)
    n = int(cols.ends[-1])
    if err is None or pen is None:
        return np.full(cols.width, np.nan), np.zeros(cols.width)
    if err.size < n:  # compared on fewer frames (forced, --overlap): the rest is unknown
        pad = np.full(n - err.size, np.nan)
        err, pen = np.concatenate([err, pad]), np.concatenate([pen, pad])
    ok = np.isfinite(err)
    missed = np.isfinite(pen) & ~ok
    total = cols.sum(prefix(np.where(ok, err, 0.0)))
    count = cols.sum(prefix(ok.astype(np.float64)))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count > 0, total / count, np.nan)
    return mean, cols.mean(prefix(missed.astype(np.float64)))


def error_lane(model: CompareModel, scale: ErrorScale, name: str, hand: int) -> Lane:
    label, _unit, _min, color = ERROR_METRICS[name]
    lane = Lane(label, ERROR_LANE_H, lambda *a: np.zeros(0), HAND_LABELS[hand], HAND_COLORS[hand])

    def render(doc: LabelDocument, cols: Columns, h: int, cache: dict) -> np.ndarray:
        full = scale.of(name)
        lane.label = f"{label} {format_scale(full)}" if model.evaluation is not None else label
        mean, missed = error_columns(model, name, hand, cols)
        rgba = np.broadcast_to(_rgba(color), (cols.width, 4)).copy()
        img = bars_image(np.nan_to_num(mean / full, nan=0.0), rgba, h)
        m = missed > 0
        img[:, m] = _blend(np.broadcast_to(_rgba(MISSED_COLOR), (int(m.sum()), 4)),
                           0.35 + 0.65 * missed[m])[None].astype(np.uint8)  # fmt: skip
        return img

    lane.render = render
    return lane
