"""Paper-protocol evaluation of predicted labels against ground-truth labels.

`evaluate(pred, gt)` compares two `LabelDocument`s of the same video frame by frame and side by
side and returns an `Evaluation`: every metric with its value, unit, definition and sample count,
for each hand and for both hands pooled, plus per-frame and per-joint error arrays for plots.

Two protocols (docs/metrics.md):
- penalty (names ending in "-p", the paper's headline protocol): every (frame, side) where the
  ground truth has the hand is scored; where the prediction misses it (absent), the prediction is
  replaced by the canonical hand (core/metrics/canonical.py).
- no penalty (plain names): only (frame, side) where both ground truth and prediction have the
  hand.
Hands the prediction invents (present where the ground truth has none) cost nothing in pose
metrics; they lower FAcc and precision.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.errors import LabelMismatchError
from core.labels.document import HandTrack, LabelDocument, VideoMeta
from core.labels.joints import HAND_NAMES, N_JOINTS, WRIST
from core.metrics.alignment import (
    joint_errors,
    procrustes_align,
    rotation_angle_deg,
    second_difference,
)
from core.metrics.canonical import (
    CANONICAL_DEFINITION,
    CANONICAL_ORIENT,
    canonical_joints,
    canonical_joints_2d,
)

MM = 1000.0


@dataclass(frozen=True)
class MetricSpec:
    """What a metric is: its name, unit, whether lower is better, and its definition."""

    name: str
    unit: str
    definition: str
    lower_is_better: bool = True


# Definitions live beside the code that computes them and are written into every JSON.
_PENALTY = (
    " Penalty protocol: every (frame, side) where the ground truth has the hand counts; where "
    "the prediction is absent (or present without these joints) it is replaced by the "
    "canonical hand."
)
_BOTH = " Only (frame, side) where both the prediction and the ground truth have the hand."
SPECS: dict[str, MetricSpec] = {
    s.name: s
    for s in (
        MetricSpec(
            "FAcc", "", "Fraction of (frame, side) pairs whose presence (hand there or not) the "
            "prediction gets right.", lower_is_better=False),
        MetricSpec(
            "precision", "", "Presence precision: TP / (TP + FP) over (frame, side) pairs, "
            "positive = hand present.", lower_is_better=False),
        MetricSpec(
            "recall", "", "Presence recall: TP / (TP + FN) over (frame, side) pairs, positive = "
            "hand present.", lower_is_better=False),
        MetricSpec(
            "F1", "", "Harmonic mean of presence precision and recall.", lower_is_better=False),
        MetricSpec(
            "MPJPE-p", "mm", "Mean over (frame, side) of the mean Euclidean distance of the 21 "
            "3D joints in the camera frame, no alignment." + _PENALTY),
        MetricSpec(
            "PA-MPJPE-p", "mm", "MPJPE after aligning the predicted joints to the ground truth "
            "by the best similarity transform (rotation, uniform scale, translation; Umeyama), "
            "one per hand per frame." + _PENALTY),
        MetricSpec(
            "EPE-p", "px", "Mean over (frame, side) of the mean 2D distance between predicted "
            "and ground-truth joints_2d (pixels)." + _PENALTY
            + " The canonical hand's 2D joints are all at the principal point."),
        MetricSpec(
            "OrientErr-p", "deg", "Geodesic angle between predicted and ground-truth MANO "
            "global_orient rotations (angle of R_pred^T R_gt), where the ground truth has "
            "global_orient." + _PENALTY + " The canonical orientation is the identity."),
        MetricSpec(
            "TranslErr-p", "m", "Euclidean distance between predicted and ground-truth root "
            "(wrist joint) positions in the camera frame." + _PENALTY
            + " The canonical root is the camera origin."),
        MetricSpec(
            "MPJPE", "mm", "Mean Euclidean distance of the 21 3D joints in the camera frame, no "
            "alignment." + _BOTH),
        MetricSpec(
            "PA-MPJPE", "mm", "MPJPE after per-hand per-frame similarity (Procrustes with "
            "scale) alignment of prediction to ground truth." + _BOTH),
        MetricSpec(
            "EPE", "px", "Mean 2D distance between predicted and ground-truth joints_2d." + _BOTH),
        MetricSpec(
            "OrientErr", "deg", "Geodesic angle between predicted and ground-truth MANO "
            "global_orient, where both have it." + _BOTH),
        MetricSpec(
            "TranslErr", "m", "Distance between predicted and ground-truth root (wrist) "
            "positions in the camera frame." + _BOTH),
        MetricSpec(
            "RR-MPJPE", "mm", "Root-relative MPJPE: joints minus their wrist in both prediction "
            "and ground truth, then MPJPE." + _BOTH),
        MetricSpec(
            "MRRPE", "mm", "Mean relative-root position error: distance between the predicted "
            "and ground-truth right-wrist-to-left-wrist vectors, over frames where both hands "
            "are present in both prediction and ground truth (both hands pooled only)."),
        MetricSpec(
            "Jitter", "mm/frame^2", "Mean over joints and frames of the norm of the second "
            "finite difference x[t+1] - 2 x[t] + x[t-1] of the predicted 3D joints, over frames "
            "t where the prediction has the hand at t-1, t and t+1 (no ground truth involved)."),
        MetricSpec(
            "Jitter-GT", "mm/frame^2", "The same jitter measured on the ground truth."),
        MetricSpec(
            "Jitter-diff", "mm/frame^2", "Jitter minus Jitter-GT: how much smoother (negative) "
            "or shakier (positive) the prediction is than the ground truth."),
        MetricSpec(
            "AccelErr", "mm/frame^2", "Acceleration error: mean norm of the difference between "
            "the predicted and ground-truth second finite differences, over frames t where both "
            "have the hand at t-1, t and t+1."),
    )
}  # fmt: skip

PRESENCE_METRICS = ("FAcc", "precision", "recall", "F1")


@dataclass
class MetricValue:
    """One reported number with what it means. `value` is None when nothing could be scored."""

    value: float | None
    unit: str
    definition: str
    n: int

    def to_json(self) -> dict[str, Any]:
        return {"value": self.value, "unit": self.unit, "definition": self.definition, "n": self.n}


@dataclass
class Evaluation:
    """Metrics of a prediction against ground truth, plus error arrays for plots.

    `metrics` keys are metric names (both hands pooled) and "NAME/left", "NAME/right".
    `per_frame[name]` is (2, T) with NaN where undefined, for "MPJPE", "PA-MPJPE", "EPE" (both
    present) and their "-p" versions (penalty where missed). `per_joint[name]` is (2, 21) for
    "MPJPE" and "EPE" averaged over frames where both have the hand.
    """

    n_frames: int
    metrics: dict[str, MetricValue]
    per_frame: dict[str, np.ndarray] = field(default_factory=dict)
    per_joint: dict[str, np.ndarray] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def value(self, name: str) -> float | None:
        return self.metrics[name].value

    def to_json(self, *, per_frame: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "metrics": {k: v.to_json() for k, v in self.metrics.items()},
            "frames": self.n_frames,
            "protocol": {
                "penalty": "Metrics ending in -p use the penalty protocol. " + CANONICAL_DEFINITION,
                "no_penalty": "Metrics without -p use only (frame, side) pairs where both have "
                "the hand.",
                "false_positives": "Hands predicted where the ground truth has none cost nothing "
                "in pose metrics; they lower FAcc and precision.",
            },
            "notes": list(self.notes),
        }
        if per_frame:
            out["per_frame"] = {
                k: {h: _nan_to_none(v[i]) for i, h in enumerate(HAND_NAMES)}
                for k, v in self.per_frame.items()
            }
        return out

    def table(self) -> str:
        """A plain-text table: metric, both hands, left, right, unit, n."""
        rows = [("metric", "both", "left", "right", "unit", "n")]
        for name, spec in SPECS.items():
            if name not in self.metrics:
                continue
            both = self.metrics[name]
            cells = [name, _fmt(both.value)]
            for h in HAND_NAMES:
                m = self.metrics.get(f"{name}/{h}")
                cells.append(_fmt(m.value) if m else "")
            cells += [spec.unit, str(both.n)]
            rows.append((cells[0], cells[1], cells[2], cells[3], cells[4], cells[5]))
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines = []
        for k, r in enumerate(rows):
            lines.append(
                "  ".join(
                    c.ljust(w) if i in (0, 4) else c.rjust(w)
                    for i, (c, w) in enumerate(zip(r, widths, strict=True))
                )
            )
            if k == 0:
                lines.append("  ".join("-" * w for w in widths))
        return "\n".join(lines)


def _fmt(v: float | None) -> str:
    if v is None:
        return "-"
    if abs(v) >= 100:
        return f"{v:.1f}"
    if abs(v) >= 1:
        return f"{v:.2f}"
    return f"{v:.4f}"


def _nan_to_none(a: np.ndarray) -> list[float | None]:
    return [None if not np.isfinite(x) else round(float(x), 4) for x in a]


# ------------------------------------------------------------------------------ compatibility
def check_comparable(
    pred: LabelDocument, gt: LabelDocument, *, overlap: bool = False, force: bool = False
) -> tuple[LabelDocument, LabelDocument, list[str]]:
    """Make sure two documents describe the same frames; returns them (cut to the common frames
    with `overlap`) and notes about what was done.

    Raises LabelMismatchError when frame counts differ (unless `overlap`), or when the video
    hashes or image sizes differ (unless `force`).
    """
    notes: list[str] = []
    mp, mg = pred.meta, gt.meta
    if mp.video_sha256 and mg.video_sha256 and mp.video_sha256 != mg.video_sha256 and not force:
        raise LabelMismatchError(
            f"The prediction and the ground truth were made for different videos (hashes "
            f"{mp.video_sha256[:12]}... and {mg.video_sha256[:12]}...).",
            hint="Compare labels of the same video, or pass --force if you know they match.",
        )
    if (mp.width, mp.height) != (mg.width, mg.height) and not force:
        raise LabelMismatchError(
            f"The prediction is for {mp.width}x{mp.height} images, the ground truth for "
            f"{mg.width}x{mg.height}: 2D errors would be meaningless.",
            hint="Compare labels of the same video, or pass --force if you know they match.",
        )
    if mp.n_frames != mg.n_frames:
        if not overlap:
            raise LabelMismatchError(
                f"The prediction has {mp.n_frames} frames, the ground truth {mg.n_frames}.",
                hint="Evaluate labels of the same clip, or pass --overlap to compare only the "
                f"first {min(mp.n_frames, mg.n_frames)} frames both have.",
            )
        n = min(mp.n_frames, mg.n_frames)
        notes.append(
            f"frame counts differ ({mp.n_frames} predicted, {mg.n_frames} ground truth): "
            f"evaluated the first {n} frames"
        )
        pred, gt = slice_frames(pred, n), slice_frames(gt, n)
    return pred, gt, notes


def slice_frames(doc: LabelDocument, n: int) -> LabelDocument:
    """A copy of `doc` keeping only its first `n` frames."""
    meta = VideoMeta(**{**vars(doc.meta), "n_frames": n})
    hands = tuple(HandTrack(**{k: v[:n].copy() for k, v in t.arrays().items()}) for t in doc.hands)
    out = LabelDocument(meta, doc.K, hands)  # type: ignore[arg-type]
    out.backend, out.backend_version = doc.backend, doc.backend_version
    return out


# ---------------------------------------------------------------------------------- evaluation
def _finite(a: np.ndarray) -> np.ndarray:
    """(T,) True where every value of a frame is finite."""
    return np.isfinite(a).all(axis=tuple(range(1, a.ndim)))


def evaluate(
    pred: LabelDocument, gt: LabelDocument, *, overlap: bool = False, force: bool = False
) -> Evaluation:
    """All metrics of `pred` against `gt` (see SPECS and docs/metrics.md)."""
    pred, gt, notes = check_comparable(pred, gt, overlap=overlap, force=force)
    T = gt.n_frames
    samples: dict[str, list[np.ndarray]] = {name: [] for name in SPECS}
    per_frame = {k: np.full((2, T), np.nan) for k in ("MPJPE", "PA-MPJPE", "EPE")}
    per_frame.update({f"{k}-p": np.full((2, T), np.nan) for k in ("MPJPE", "PA-MPJPE", "EPE")})
    per_joint = {k: np.full((2, N_JOINTS), np.nan) for k in ("MPJPE", "EPE")}
    counts: list[dict[str, int]] = []

    for h in range(2):
        p, g = pred.hands[h], gt.hands[h]
        pp, gp = p.present.astype(bool), g.present.astype(bool)
        counts.append({
            "tp": int((pp & gp).sum()), "fp": int((pp & ~gp).sum()),
            "fn": int((~pp & gp).sum()), "tn": int((~pp & ~gp).sum()),
        })  # fmt: skip
        samples["FAcc"].append((pp == gp).astype(float))

        # 3D joints
        g_ok = gp & _finite(g.joints_3d)
        p_ok = pp & _finite(p.joints_3d)
        both = g_ok & p_ok
        missed = g_ok & ~p_ok  # absent, or present without 3D joints: no free pass
        pj = p.joints_3d.astype(np.float64)
        gj = g.joints_3d.astype(np.float64)
        pj_pen = np.where(missed[:, None, None], canonical_joints(h)[None], pj)
        err = joint_errors(pj, gj) * MM  # (T, 21)
        err_pen = joint_errors(pj_pen, gj) * MM
        pa = joint_errors(procrustes_align(pj_pen, gj), gj).mean(axis=1) * MM
        per_frame["MPJPE"][h, both] = err[both].mean(axis=1)
        per_frame["PA-MPJPE"][h, both] = pa[both]
        scored = both | missed
        per_frame["MPJPE-p"][h, scored] = err_pen[scored].mean(axis=1)
        per_frame["PA-MPJPE-p"][h, scored] = pa[scored]
        samples["MPJPE"].append(per_frame["MPJPE"][h, both])
        samples["PA-MPJPE"].append(pa[both])
        samples["MPJPE-p"].append(per_frame["MPJPE-p"][h, scored])
        samples["PA-MPJPE-p"].append(pa[scored])
        if both.any():
            per_joint["MPJPE"][h] = err[both].mean(axis=0)

        # root (wrist) position and root-relative joints
        root_err = np.linalg.norm(pj_pen[:, WRIST] - gj[:, WRIST], axis=-1)
        samples["TranslErr"].append(root_err[both])
        samples["TranslErr-p"].append(root_err[scored])
        rr = joint_errors(pj - pj[:, WRIST : WRIST + 1], gj - gj[:, WRIST : WRIST + 1]) * MM
        samples["RR-MPJPE"].append(rr[both].mean(axis=1))

        # 2D joints
        g2_ok = gp & _finite(g.joints_2d)
        p2_ok = pp & _finite(p.joints_2d)
        both2 = g2_ok & p2_ok
        missed2 = g2_ok & ~p2_ok
        p2 = np.where(missed2[:, None, None], canonical_joints_2d(gt.K)[None], p.joints_2d)
        e2 = joint_errors(p2, g.joints_2d)
        per_frame["EPE"][h, both2] = e2[both2].mean(axis=1)
        scored2 = both2 | missed2
        per_frame["EPE-p"][h, scored2] = e2[scored2].mean(axis=1)
        samples["EPE"].append(per_frame["EPE"][h, both2])
        samples["EPE-p"].append(per_frame["EPE-p"][h, scored2])
        if both2.any():
            per_joint["EPE"][h] = e2[both2].mean(axis=0)

        # global orientation (MANO)
        go_ok = gp & _finite(g.global_orient)
        po_ok = pp & _finite(p.global_orient)
        both_o = go_ok & po_ok
        missed_o = go_ok & ~pp  # a backend without MANO is not penalised, only a missed hand
        po = np.where(missed_o[:, None], CANONICAL_ORIENT[None], p.global_orient)
        ang = rotation_angle_deg(np.nan_to_num(po), np.nan_to_num(g.global_orient))
        samples["OrientErr"].append(ang[both_o])
        samples["OrientErr-p"].append(ang[both_o | missed_o])

        # temporal
        acc_p, ok_p = second_difference(pj, p_ok)
        acc_g, ok_g = second_difference(gj, g_ok)
        jit_p = np.linalg.norm(acc_p, axis=-1).mean(axis=1) * MM
        jit_g = np.linalg.norm(acc_g, axis=-1).mean(axis=1) * MM
        samples["Jitter"].append(jit_p[ok_p])
        samples["Jitter-GT"].append(jit_g[ok_g])
        ok_pg = ok_p & ok_g
        samples["AccelErr"].append(np.linalg.norm(acc_p - acc_g, axis=-1).mean(axis=1)[ok_pg] * MM)

    # both hands: MRRPE
    both_all = np.ones(T, bool)
    for h in range(2):
        both_all &= pred.hands[h].present & gt.hands[h].present
        both_all &= _finite(pred.hands[h].joints_3d) & _finite(gt.hands[h].joints_3d)
    pr = pred.hands[1].joints_3d[:, WRIST].astype(np.float64) - pred.hands[0].joints_3d[:, WRIST]
    gr = gt.hands[1].joints_3d[:, WRIST].astype(np.float64) - gt.hands[0].joints_3d[:, WRIST]
    mrrpe = np.linalg.norm(pr - gr, axis=-1)[both_all] * MM

    metrics: dict[str, MetricValue] = {}
    _presence(metrics, counts, samples["FAcc"])
    for name in SPECS:
        if name in PRESENCE_METRICS or name in ("MRRPE", "Jitter-diff"):
            continue
        _pooled(metrics, name, samples[name])
    spec = SPECS["MRRPE"]
    metrics["MRRPE"] = MetricValue(_mean(mrrpe), spec.unit, spec.definition, int(mrrpe.size))
    for suffix in ("", "/left", "/right"):
        a, b = metrics[f"Jitter{suffix}"], metrics[f"Jitter-GT{suffix}"]
        diff = None if a.value is None or b.value is None else a.value - b.value
        spec = SPECS["Jitter-diff"]
        metrics[f"Jitter-diff{suffix}"] = MetricValue(
            diff, spec.unit, spec.definition, min(a.n, b.n)
        )
    metrics = {k: metrics[k] for k in _ordered_keys(metrics)}
    return Evaluation(T, metrics, per_frame, per_joint, notes)


def _mean(a: np.ndarray) -> float | None:
    return float(np.mean(a)) if a.size else None


def _pooled(metrics: dict[str, MetricValue], name: str, per_hand: list[np.ndarray]) -> None:
    spec = SPECS[name]
    allv = np.concatenate(per_hand)
    metrics[name] = MetricValue(_mean(allv), spec.unit, spec.definition, int(allv.size))
    for h, hname in enumerate(HAND_NAMES):
        v = per_hand[h]
        metrics[f"{name}/{hname}"] = MetricValue(_mean(v), spec.unit, spec.definition, int(v.size))


def _presence(
    metrics: dict[str, MetricValue], counts: list[dict[str, int]], correct: list[np.ndarray]
) -> None:
    pooled = {k: counts[0][k] + counts[1][k] for k in counts[0]}
    for suffix, c, corr in (
        ("", pooled, np.concatenate(correct)),
        ("/left", counts[0], correct[0]),
        ("/right", counts[1], correct[1]),
    ):
        tp, fp, fn = c["tp"], c["fp"], c["fn"]
        prec = tp / (tp + fp) if tp + fp else None
        rec = tp / (tp + fn) if tp + fn else None
        f1 = (
            2 * prec * rec / (prec + rec)
            if prec is not None and rec is not None and prec + rec > 0
            else (0.0 if prec is not None and rec is not None else None)
        )
        values = {
            "FAcc": (_mean(corr), int(corr.size)),
            "precision": (prec, tp + fp),
            "recall": (rec, tp + fn),
            "F1": (f1, tp + fp + fn),
        }
        for name, (v, n) in values.items():
            spec = SPECS[name]
            metrics[f"{name}{suffix}"] = MetricValue(v, spec.unit, spec.definition, n)


def _ordered_keys(metrics: dict[str, MetricValue]) -> list[str]:
    keys = []
    for name in SPECS:
        for suffix in ("", "/left", "/right"):
            if f"{name}{suffix}" in metrics:
                keys.append(f"{name}{suffix}")
    return keys
