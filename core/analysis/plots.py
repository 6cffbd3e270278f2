"""Report plots drawn with matplotlib's Agg canvas (no pyplot, no GUI backend), as PNG bytes.

Using `matplotlib.figure.Figure` with `FigureCanvasAgg` directly keeps the process-wide
matplotlib backend untouched, so the report can be built inside the Qt app too.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from core.analysis.detectors import CONTEXT_KINDS, KINDS, Detections
from core.labels.joints import HAND_COLORS_HEX, HAND_NAMES, JOINT_NAMES
from core.metrics.evaluate import Evaluation

#: matplotlib colours of the hands (the app's and the overlay's)
HAND_MPL = {0: HAND_COLORS_HEX[0], 1: HAND_COLORS_HEX[1]}


def _figure(
    width: float, height: float, *, left: float = 0.8, bottom: float = 0.55, right: float = 0.25
) -> Any:  # matplotlib Figure (imported lazily)
    """A figure with fixed margins in inches (a layout engine would draw everything twice)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    fig.subplots_adjust(
        left=left / width, right=1 - right / width, bottom=bottom / height, top=1 - 0.35 / height
    )
    return fig


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def error_over_time(ev: Evaluation, fps: float) -> bytes:
    """MPJPE and PA-MPJPE per hand over frames where both have the hand; frames where the
    prediction misses a ground-truth hand (scored with the penalty) marked along the top."""
    fig = _figure(11, 3.2)
    ax = fig.add_subplot()
    t = np.arange(ev.n_frames)
    for h, name in enumerate(HAND_NAMES):
        ax.plot(t, ev.per_frame["MPJPE"][h], color=HAND_MPL[h], lw=1.2, label=f"MPJPE {name}")
        ax.plot(t, ev.per_frame["PA-MPJPE"][h], color=HAND_MPL[h], lw=0.9, ls="--",
                label=f"PA-MPJPE {name}")  # fmt: skip
    finite = np.concatenate([ev.per_frame[k][np.isfinite(ev.per_frame[k])]
                             for k in ("MPJPE", "PA-MPJPE")])  # fmt: skip
    top = float(finite.max()) * 1.15 if finite.size and finite.max() > 0 else 10.0
    for h, name in enumerate(HAND_NAMES):
        missed = np.isfinite(ev.per_frame["MPJPE-p"][h]) & ~np.isfinite(ev.per_frame["MPJPE"][h])
        if missed.any():
            ax.plot(t[missed], np.full(missed.sum(), top * (0.96 - 0.04 * h)), "v", ms=4,
                    color=HAND_MPL[h], label=f"{name} missed (penalty)")  # fmt: skip
    ax.set_xlabel(f"frame ({fps:g} fps)")
    ax.set_ylabel("error (mm)")
    ax.set_xlim(0, max(1, ev.n_frames - 1))
    ax.set_ylim(0, top)
    ax.grid(alpha=0.3)
    ax.legend(ncol=3, fontsize=8, loc="best", framealpha=0.7)
    ax.set_title("Error over time (frames where both have the hand)")
    return _png(fig)


def error_per_joint(ev: Evaluation) -> bytes:
    """Mean 3D error per joint and hand (frames where both have the hand)."""
    fig = _figure(11, 3.4, bottom=1.0)
    ax = fig.add_subplot()
    x = np.arange(len(JOINT_NAMES))
    for h, name in enumerate(HAND_NAMES):
        ax.bar(x + (h - 0.5) * 0.4, np.nan_to_num(ev.per_joint["MPJPE"][h]), width=0.4,
               color=HAND_MPL[h], label=name)  # fmt: skip
    ax.set_xticks(x, JOINT_NAMES, rotation=60, ha="right", fontsize=8)
    ax.set_ylabel("MPJPE (mm)")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("Error per joint")
    return _png(fig)


def confidence_vs_error(ev: Evaluation, confidence: np.ndarray) -> bytes:
    """Scatter of predicted confidence against per-frame MPJPE (2, T)."""
    fig = _figure(5.4, 3.6)
    ax = fig.add_subplot()
    for h, name in enumerate(HAND_NAMES):
        e = ev.per_frame["MPJPE"][h]
        ok = np.isfinite(e)
        ax.scatter(confidence[h][ok], e[ok], s=7, alpha=0.6, color=HAND_MPL[h], label=name)
    ax.set_xlabel("predicted confidence")
    ax.set_ylabel("MPJPE (mm)")
    ax.set_xlim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("Confidence against error")
    return _png(fig)


def detector_lanes(det: Detections, fps: float) -> bytes:
    """One lane per detector kind and hand: score over time (clipped at 3), segments outlined."""
    from matplotlib.colors import LinearSegmentedColormap

    rows = [(k, h) for k in KINDS for h in range(2)]
    img = np.full((len(rows), det.n_frames), np.nan)
    for i, (k, h) in enumerate(rows):
        img[i] = det.scores[k][h]
    fig = _figure(11, 0.22 * len(rows) + 1.0, left=1.9, right=0.7)
    ax = fig.add_subplot()
    # below threshold (score < 1, a third of the range) stays pale; above it jumps to orange
    cmap = LinearSegmentedColormap.from_list(
        "lane",
        [(0.0, "#fbfbfb"), (1 / 3 - 1e-3, "#fff0c2"), (1 / 3, "#f59f00"), (1.0, "#8b0000")],
    ).with_extremes(bad="#dddddd")
    im = ax.imshow(np.clip(img, 0, 3), aspect="auto", cmap=cmap, vmin=0, vmax=3,
                   interpolation="nearest")  # fmt: skip
    for s in det.segments:
        y = rows.index((s.kind, s.hand))
        ax.add_patch(_rect(s.start - 0.5, y - 0.45, s.length, 0.9))
    ax.set_yticks(
        range(len(rows)),
        [
            f"{k}{' (context)' if k in CONTEXT_KINDS else ''} {HAND_NAMES[h][0].upper()}"
            for k, h in rows
        ],
        fontsize=7,
    )
    ax.set_xlabel(f"frame ({fps:g} fps)")
    ax.set_title("Detector scores (1 = threshold; grey = hand absent; boxes = detections)")
    fig.colorbar(im, ax=ax, fraction=0.015, pad=0.01)
    return _png(fig)


def _rect(x: float, y: float, w: float, h: float) -> Any:  # matplotlib Rectangle
    from matplotlib.patches import Rectangle

    return Rectangle((x, y), w, h, fill=False, edgecolor="black", lw=0.8)


def confidence_over_time(confidence: np.ndarray, present: np.ndarray, fps: float) -> bytes:
    """Predicted confidence per hand over frames (gaps where absent)."""
    fig = _figure(11, 2.6)
    ax = fig.add_subplot()
    t = np.arange(confidence.shape[1])
    for h, name in enumerate(HAND_NAMES):
        ax.plot(
            t, np.where(present[h], confidence[h], np.nan), color=HAND_MPL[h], lw=1.2, label=name
        )
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel(f"frame ({fps:g} fps)")
    ax.set_ylabel("confidence")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("Confidence over time")
    return _png(fig)
