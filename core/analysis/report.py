"""The failure-analysis report: one self-contained HTML file plus a JSON summary.

    html, data = build_report(pred, gt=gt, video="clip.mp4")

`data` is exactly {"segments": [{"hand", "start", "end", "kind", "score"}, ...], "metrics": {...}}:
the detections above threshold (inclusive frame indices) and, with ground truth, every metric of
core.metrics with value, unit, definition and n (empty without ground truth). The HTML inlines
its CSS and its images (base64 PNG), so it can be mailed or attached as one file. The app calls
the same function.
"""

from __future__ import annotations

import base64
import html as _html
import io
import os
from typing import TYPE_CHECKING, Any

import numpy as np

from core.analysis import plots
from core.analysis.detectors import CONTEXT_KINDS, KIND_DESCRIPTIONS, KINDS, Detections, detect
from core.analysis.review import decision_for
from core.analysis.segments import Segment
from core.analysis.thresholds import Thresholds
from core.labels.document import LabelDocument
from core.labels.joints import HAND_COLORS_HEX, HAND_NAMES
from core.metrics.evaluate import SPECS, Evaluation, evaluate
from core.video.base import VideoSource

if TYPE_CHECKING:
    from core.hands.mano import ManoModel

#: how many worst-frame thumbnails the report shows, and their width in pixels
N_THUMBNAILS = 6
THUMB_WIDTH = 560
#: segments listed in the HTML table (the JSON has all of them)
MAX_LISTED = 25
#: metrics shown in the report's table (all of them are in the JSON)
TABLE_METRICS = (
    "FAcc", "F1", "MPJPE-p", "PA-MPJPE-p", "EPE-p", "OrientErr-p", "TranslErr-p",
    "MPJPE", "PA-MPJPE", "EPE", "RR-MPJPE", "MRRPE", "Jitter", "Jitter-GT", "AccelErr",
)  # fmt: skip
GT_STYLE: dict[str, Any] = {
    "color": (255, 255, 255),
    "thickness": 1.2,
    "joint_radius": 1.8,
    "alpha": 1.0,
}


def build_report(
    pred: LabelDocument,
    gt: LabelDocument | None = None,
    video: str | os.PathLike[str] | VideoSource | None = None,
    *,
    thresholds: Thresholds | None = None,
    title: str | None = None,
    overlap: bool = False,
    mano: ManoModel | None = None,
) -> tuple[str, dict[str, Any]]:
    """Detect failures in `pred`, evaluate it against `gt` when given, and render the report.

    Returns (html, json_dict). `video` (a path or an open VideoSource) adds thumbnails of the
    worst frames with the predicted skeletons (hand colours) and the ground truth (white).
    A MANO model lets the interpenetration detector use the hand meshes.
    """
    det = detect(pred, thresholds, mano=mano)
    ev = evaluate(pred, gt, overlap=overlap) if gt is not None else None
    data: dict[str, Any] = {
        "segments": det.to_json(),
        "metrics": {k: v.to_json() for k, v in ev.metrics.items()} if ev else {},
    }
    thumbs: list[tuple[int, bytes, str]] = []
    if video is not None:
        thumbs = _thumbnails(pred, gt, video, det, ev)
    return _render(pred, gt, det, ev, thumbs, title), data


# ---------------------------------------------------------------------------------- thumbnails
def worst_frames(det: Detections, ev: Evaluation | None, k: int = N_THUMBNAILS) -> list[int]:
    """Up to k frames worth looking at, at least a few frames apart.

    With ground truth: the largest MPJPE-p. Without: the peak frame of the strongest segments,
    taking the kinds in turn (strongest kind first) so that one kind of failure that covers the
    whole clip (jitter, say) does not fill every thumbnail.
    """
    spacing = max(5, det.n_frames // 50)
    chosen: list[int] = []

    def take(f: int) -> None:
        if len(chosen) < k and all(abs(f - c) >= spacing for c in chosen):
            chosen.append(f)

    if ev is not None:
        err = np.nan_to_num(ev.per_frame["MPJPE-p"], nan=-1.0).max(axis=0)
        for f in np.argsort(-err, kind="stable"):
            if err[f] <= 0:
                break
            take(int(f))
        return sorted(chosen)
    by_kind: dict[str, list[Segment]] = {}
    for s in det.ranked():
        if s.kind not in CONTEXT_KINDS:
            by_kind.setdefault(s.kind, []).append(s)
    queues = sorted(by_kind.values(), key=lambda q: -q[0].score)
    while len(chosen) < k and any(queues):
        for q in queues:
            if q:
                s = q.pop(0)
                lane = np.nan_to_num(det.scores[s.kind][s.hand, s.start : s.end + 1], nan=0.0)
                take(s.start + int(np.argmax(lane)))
    return sorted(chosen)


def _thumbnails(
    pred: LabelDocument,
    gt: LabelDocument | None,
    video: str | os.PathLike[str] | VideoSource,
    det: Detections,
    ev: Evaluation | None,
) -> list[tuple[int, bytes, str]]:
    from PIL import Image

    from core.render.overlay import HAND_COLORS, draw_skeleton
    from core.video.reader import open_video

    src = open_video(video) if not isinstance(video, VideoSource) else video
    out = []
    try:
        n = min(pred.n_frames, src.info.n_frames)
        for f in [f for f in worst_frames(det, ev) if f < n]:
            # scale the frame first, then draw: lines stay crisp at thumbnail size
            pil = Image.fromarray(np.asarray(src.frame(f)))
            scale = THUMB_WIDTH / pil.width
            pil = pil.resize(
                (THUMB_WIDTH, max(1, round(pil.height * scale))), Image.Resampling.LANCZOS
            )
            img = np.array(pil)

            def px(j2: np.ndarray, scale: float = scale) -> np.ndarray:  # pixel-centre convention
                return (j2.astype(np.float64) + 0.5) * scale - 0.5

            for h in range(2):
                if pred.hands[h].present[f]:
                    draw_skeleton(img, px(pred.hands[h].joints_2d[f]), color=HAND_COLORS[h],
                                  alpha=0.9, thickness=3.0, joint_radius=3.5, out=img)  # fmt: skip
            # ground truth on top, thin and white: visible inside the prediction where they agree
            if gt is not None and f < gt.n_frames:
                for h in range(2):
                    if gt.hands[h].present[f]:
                        draw_skeleton(img, px(gt.hands[h].joints_2d[f]), out=img, **GT_STYLE)
            buf = io.BytesIO()
            Image.fromarray(img).save(buf, format="PNG", optimize=True)
            out.append((f, buf.getvalue(), _caption(f, det, ev)))
    finally:
        if not isinstance(video, VideoSource):
            src.close()
    return out


def _caption(f: int, det: Detections, ev: Evaluation | None) -> str:
    parts = [f"frame {f}"]
    if ev is not None:
        for h, name in enumerate(HAND_NAMES):
            e = ev.per_frame["MPJPE-p"][h, f]
            if np.isfinite(e):
                parts.append(f"{name} {e:.0f} mm")
    kinds = sorted(
        {f"{s.kind} ({HAND_NAMES[s.hand]})" for s in det.segments if s.start <= f <= s.end}
    )
    if kinds:
        parts.append(", ".join(kinds))
    return " · ".join(parts)


# -------------------------------------------------------------------------------------- render
_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px auto;
max-width:1180px;color:#222;background:#fff;line-height:1.4}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd;
padding-bottom:4px} .sub{color:#666;font-size:13px}
table{border-collapse:collapse;font-size:13px;margin:6px 0} th,td{padding:3px 10px;
border-bottom:1px solid #eee;text-align:right} th{background:#f6f6f6} td.l,th.l{text-align:left}
.kpi{display:flex;gap:14px;flex-wrap:wrap;margin:10px 0}
.kpi div{background:#f6f8fa;border:1px solid #e3e6ea;border-radius:6px;padding:8px 14px}
.kpi b{display:block;font-size:20px} .kpi span{font-size:12px;color:#666}
img.plot{max-width:100%;display:block;margin:8px 0}
.thumbs{display:grid;grid-template-columns:repeat(auto-fill,minmax(460px,1fr));gap:12px}
.thumbs img{width:100%;display:block}
.thumbs figure{margin:0;border:1px solid #ddd;border-radius:4px;overflow:hidden}
.thumbs figcaption{font-size:12px;padding:4px 8px;background:#fafafa}
.legend span{display:inline-block;width:22px;height:4px;margin:0 4px 3px 10px;vertical-align:middle}
.ctx{color:#888} details{font-size:13px;margin:8px 0} code{font-size:12px}
"""


def _esc(x: Any) -> str:
    return _html.escape(str(x))


def _img(png: bytes, cls: str = "plot", alt: str = "") -> str:
    b64 = base64.b64encode(png).decode("ascii")
    return f'<img class="{cls}" alt="{_esc(alt)}" src="data:image/png;base64,{b64}">'


def _fmt(v: float | None) -> str:
    if v is None:
        return "–"
    return f"{v:.3f}" if abs(v) < 10 else f"{v:.1f}"


def _render(
    pred: LabelDocument,
    gt: LabelDocument | None,
    det: Detections,
    ev: Evaluation | None,
    thumbs: list[tuple[int, bytes, str]],
    title: str | None,
) -> str:
    fps = pred.meta.fps
    parts: list[str] = []
    name = title or (pred.meta.video_path and os.path.basename(pred.meta.video_path)) or "labels"
    parts.append(f"<h1>Failure analysis: {_esc(name)}</h1>")
    pc = pred.present_counts()
    parts.append(
        f'<div class="sub">{pred.n_frames} frames at {fps:g} fps, {pred.meta.width}x'
        f"{pred.meta.height} · backend {_esc(pred.backend or '-')} {_esc(pred.backend_version)}"
        f" · left present on {pc['left']} frames, right on {pc['right']}"
        f" · {'compared with ground truth' if gt is not None else 'no ground truth given'}</div>"
    )
    counts = det.counts()
    errors = sum(v for k, v in counts.items() if k not in CONTEXT_KINDS)
    kpis = [(str(errors), "suspicious segments")]
    if ev is not None:
        for m in ("FAcc", "MPJPE-p", "PA-MPJPE-p", "EPE-p", "Jitter"):
            mv = ev.metrics[m]
            kpis.append((_fmt(mv.value), f"{m} {mv.unit}".strip()))
    parts.append('<div class="kpi">' + "".join(f"<div><b>{v}</b><span>{_esc(t)}</span></div>"
                                               for v, t in kpis) + "</div>")  # fmt: skip

    if ev is not None:
        parts.append("<h2>Metrics (paper protocol)</h2>")
        rows = ['<tr><th class="l">metric</th><th>both</th><th>left</th><th>right</th>'
                '<th class="l">unit</th><th>n</th></tr>']  # fmt: skip
        for m in TABLE_METRICS:
            mv = ev.metrics[m]
            cells = [_fmt(mv.value)] + [_fmt(ev.metrics[f"{m}/{h}"].value)
                                        if f"{m}/{h}" in ev.metrics else "" for h in HAND_NAMES]  # fmt: skip
            rows.append(
                f'<tr title="{_esc(SPECS[m].definition)}"><td class="l">{_esc(m)}</td>'
                + "".join(f"<td>{c}</td>" for c in cells)
                + f'<td class="l">{_esc(mv.unit)}</td><td>{mv.n}</td></tr>'
            )
        parts.append("<table>" + "".join(rows) + "</table>")
        parts.append("<details><summary>Definitions</summary><ul>" + "".join(
            f"<li><b>{_esc(m)}</b>: {_esc(SPECS[m].definition)}</li>" for m in TABLE_METRICS
        ) + "</ul></details>")  # fmt: skip
        for note in ev.notes:
            parts.append(f'<div class="sub">note: {_esc(note)}</div>')

    parts.append("<h2>Failures by kind</h2>")
    rows = ['<tr><th class="l">kind</th><th>left</th><th>right</th><th>frames</th>'
            '<th class="l">what it means</th></tr>']  # fmt: skip
    for k in KINDS:
        segs = [s for s in det.segments if s.kind == k]
        per = [sum(1 for s in segs if s.hand == h) for h in range(2)]
        frames = sum(s.length for s in segs)
        cls = ' class="ctx"' if k in CONTEXT_KINDS else ""
        label = k + (" (context)" if k in CONTEXT_KINDS else "")
        rows.append(f'<tr{cls}><td class="l">{label}</td><td>{per[0]}</td><td>{per[1]}</td>'
                    f'<td>{frames}</td><td class="l">{_esc(KIND_DESCRIPTIONS[k])}</td></tr>')  # fmt: skip
    parts.append("<table>" + "".join(rows) + "</table>")
    parts.append(_segment_table(pred, det.ranked(), fps))
    conf = np.stack([t.confidence.astype(np.float64) for t in pred.hands])
    present = np.stack([t.present for t in pred.hands])
    if pred.n_frames < 2:
        parts.append('<p class="sub">Too few frames for plots.</p>')
    else:
        parts.append(_img(plots.detector_lanes(det, fps), alt="detector lanes"))
        parts.append("<h2>Plots</h2>")
        if ev is not None:
            parts.append(_img(plots.error_over_time(ev, fps), alt="error over time"))
            parts.append(_img(plots.error_per_joint(ev), alt="error per joint"))
            parts.append(_img(plots.confidence_vs_error(ev, conf), alt="confidence against error"))
        else:
            parts.append(_img(plots.confidence_over_time(conf, present, fps), alt="confidence"))

    if thumbs:
        what = "largest MPJPE-p" if ev is not None else "highest detector score"
        legend = (f'<span style="background:{HAND_COLORS_HEX[0]}"></span>left <span style="background:{HAND_COLORS_HEX[1]}">'
                  '</span>right (prediction)')  # fmt: skip
        if gt is not None:
            legend += ' <span style="background:#fff;border:1px solid #999"></span>ground truth'
        parts.append(f'<h2>Worst frames ({what})</h2><div class="sub legend">{legend}</div>')
        parts.append('<div class="thumbs">' + "".join(
            f"<figure>{_img(png, cls='thumb', alt=f'frame {f}')}<figcaption>{_esc(cap)}"
            "</figcaption></figure>" for f, png, cap in thumbs
        ) + "</div>")  # fmt: skip
    th = det.thresholds.to_json()
    parts.append("<details><summary>Detector thresholds</summary><code>" + _esc(
        ", ".join(f"{k}={v}" for k, v in th.items())) + "</code></details>")  # fmt: skip
    body = "\n".join(parts)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>Failure analysis: {_esc(name)}</title><style>{_CSS}</style></head>"
        f"<body>\n{body}\n</body></html>\n"
    )


def _segment_table(pred: LabelDocument, segs: list[Segment], fps: float) -> str:
    if not segs:
        return '<p class="sub">No segment above threshold.</p>'
    rows = ['<tr><th>score</th><th class="l">kind</th><th class="l">hand</th><th>frames</th>'
            '<th>time (s)</th><th class="l">review</th></tr>']  # fmt: skip
    for s in segs[:MAX_LISTED]:
        d = decision_for(pred, s.kind, s.hand, s.start, s.end)
        review = "" if d is None else d.status + (f" ({d.category})" if d.category else "")
        rows.append(
            f"<tr><td>{s.score:.2f}</td><td class='l'>{s.kind}</td><td class='l'>"
            f"{HAND_NAMES[s.hand]}</td><td>{s.start}–{s.end}</td><td>{s.start / fps:.2f}</td>"
            f"<td class='l'>{_esc(review)}</td></tr>"
        )
    more = (f'<p class="sub">{len(segs) - MAX_LISTED} more in the JSON.</p>'
            if len(segs) > MAX_LISTED else "")  # fmt: skip
    return "<h2>Most suspicious segments</h2><table>" + "".join(rows) + "</table>" + more
