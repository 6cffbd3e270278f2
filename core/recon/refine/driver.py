"""Refine a label document: handedness, re-detection (with the video), then the two-hand fit.

    report = refine_document(doc, RefineSettings(), frames=range(0, 300), video=video)

`plan_refinement` computes what would change (a `Patch` per hand, nothing written: the app's
preview); `apply_plan` writes it through `LabelDocument.write` and records the provenance in
`doc.extras["refine"]`. Constraint frames (edited, imported, reviewed, keyframes) are never
in a patch.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from core.errors import ReconstructorError
from core.labels.document import LabelDocument, Patch, Source
from core.recon.refine.kinematics import project
from core.recon.refine.problem import Built, build_problem, constraint_mask, track_skeleton
from core.recon.refine.settings import REFINE_VERSION, RefineSettings
from core.recon.refine.shape import TrackSkeleton
from core.recon.refine.solve import solve
from core.recon.refine.temporal import runs

#: the label file's note of the method, with the settings (doc.extras["refine"])
BACKEND_STRING = f"refine {REFINE_VERSION}"
#: `refine_document` solves and writes this many of the fit's chunks at a time
_CHUNKS_PER_SEGMENT = 8


class RefineError(ReconstructorError):
    """The document cannot be refined as asked."""

    title = "Cannot refine"


@dataclass
class RefinePlan:
    """What a refinement would write: one Patch per hand (possibly empty), and a summary."""

    frames: range
    patches: list[Patch]
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def n_written(self) -> int:
        if "written" in self.summary:  # refine_document: written a segment at a time
            return int(self.summary["written"])
        return sum(len(p.frames) for p in self.patches)

    def describe(self) -> str:
        """One line for people: what was solved, filled, moved and found again."""
        s = self.summary
        filled = s.get("filled", {})
        parts = [
            f"{self.n_written} hand-frames fitted",
            f"{sum(filled.values())} frames filled (short gaps, hands crossing the border)",
        ]
        if "swapped_frames" in s:
            parts.append(f"{s['swapped_frames']} left/right fixes")
        if "redetected" in s:
            parts.append(f"{s['redetected']} hand-frames found again")
        return ", ".join(parts) + f" (frames {s['frames'][0]}:{s['frames'][1]})"


def _check_range(doc: LabelDocument, frames: range | None) -> range:
    if frames is None:
        return range(doc.n_frames)
    if len(frames) == 0 or frames.start < 0 or frames.stop > doc.n_frames or frames.step != 1:
        raise RefineError(
            f"frames {frames.start}:{frames.stop} are not a range of the video's "
            f"0..{doc.n_frames - 1}",
            hint="Give A:B with 0 <= A < B <= the frame count.",
        )
    return frames


def plan_refinement(
    doc: LabelDocument,
    settings: RefineSettings | None = None,
    frames: range | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    skeletons: list[TrackSkeleton | None] | None = None,
) -> RefinePlan:
    """The refined values of `frames` (default: all), without changing `doc`. `skeletons`
    (per hand) default to each whole track's."""
    settings = settings or RefineSettings()
    frames = _check_range(doc, frames)
    _check_camera(doc)
    ctx = max(2, settings.overlap)
    lo, hi = max(0, frames.start - ctx), min(doc.n_frames, frames.stop + ctx)
    window = np.arange(lo, hi)
    writable = (window >= frames.start) & (window < frames.stop)
    if skeletons is None:
        skeletons = [track_skeleton(doc.hands[h], h) for h in range(2)]
    built = [
        build_problem(
            doc, h, window, writable, skeletons[h], settings.max_gap, settings.edge_frames
        )
        for h in range(2)
    ]
    _check_evidence(doc, frames, built)
    t0 = time.perf_counter()
    joints = solve([b.problem for b in built], doc.K, settings, on_chunk=on_progress)
    seconds = time.perf_counter() - t0
    patches = [_patch(doc, h, window, built[h], joints[h], settings) for h in range(2)]
    summary = {
        "frames": [frames.start, frames.stop],
        "solved_frames": int(sum((b.problem.mode == 1).sum() for b in built)),
        "filled": {n: int(len(p.frames) - int(built[h].evidence.sum())) for h, (n, p) in
                   enumerate(zip(("left", "right"), patches, strict=True))},
        "skeletons": {n: (s.as_dict() if s is not None else None) for n, s in
                      zip(("left", "right"), skeletons, strict=True)},
        "seconds": round(seconds, 3),
    }  # fmt: skip
    return RefinePlan(frames, patches, summary)


def _check_camera(doc: LabelDocument) -> None:
    if not np.isfinite(doc.K).all() or doc.K[0, 0] <= 0:
        raise RefineError("the label file's camera intrinsics are not valid")


def _check_evidence(doc: LabelDocument, frames: range, built: list[Built]) -> None:
    """A file whose predicted hands have no 2D joints cannot be refined: say so."""
    if any(b.evidence.any() for b in built):
        return
    idx = np.arange(frames.start, frames.stop)
    for track in doc.hands:
        free = track.present[idx] & ~constraint_mask(track, idx)
        if (free & (track.source[idx] == Source.PREDICTED)).any():
            raise RefineError(
                "the predicted hands have no 2D joints to refine against",
                hint="Re-run `vidihand reconstruct` to get the detector's 2D joints, "
                "or refine a file that has them.",
            )


def _patch(
    doc: LabelDocument, h: int, window: np.ndarray, built: Built, joints: np.ndarray,
    settings: RefineSettings,
) -> Patch:  # fmt: skip
    track = doc.hands[h]
    ok = np.isfinite(joints).all(axis=(1, 2))
    ev = built.evidence & ok
    uv = project(torch.as_tensor(joints), torch.as_tensor(doc.K)).numpy()
    inside = _inside_fraction(uv, doc.meta.width, doc.meta.height)
    # frames the fit holds (or leaves) are not in `joints`: their own 2D joints say how much of
    # the hand is in the image (the anchors of edge runs)
    held = _inside_fraction(track.joints_2d[window].astype(np.float64), doc.meta.width,
                            doc.meta.height)  # fmt: skip
    held[~track.present[window] | ~np.isfinite(track.joints_2d[window]).any((1, 2))] = np.nan
    inside_any = np.where(ok, inside, held)
    # a filled hand must be (partly) in the image, like a detected one
    gap = built.gap & ok & (inside >= 0.3)
    gap |= _crossing_border(built.edge, ok, inside_any)
    sel = ev | gap
    frames = window[sel]
    conf = track.confidence[window].astype(np.float64)
    conf_gap = _gap_confidence(conf, built.evidence | (built.problem.mode == 2), gap)
    confidence = np.where(gap, settings.gap_confidence * conf_gap, conf)[sel]
    source = np.where(gap, int(Source.INTERPOLATED), int(Source.PREDICTED))[sel]
    nan = np.nan
    values = {
        "present": np.ones(len(frames), bool),
        "confidence": confidence.astype(np.float32),
        "joints_3d": joints[sel].astype(np.float32),
        "joints_2d": uv[sel].astype(np.float32),
        "global_orient": np.full((len(frames), 3), nan, np.float32),
        "hand_pose": np.full((len(frames), 45), nan, np.float32),
        "betas": np.full((len(frames), 10), nan, np.float32),
        "transl": np.full((len(frames), 3), nan, np.float32),
        "source": source.astype(np.uint8),
    }
    return Patch(h, frames.astype(np.int64), values)


def _inside_fraction(uv: np.ndarray, width: int, height: int) -> np.ndarray:
    """(N,) fraction of each frame's joints (N, 21, 2) inside the image (NaN counts outside)."""
    with np.errstate(invalid="ignore"):
        x, y = uv[..., 0], uv[..., 1]
        inside = (x > -0.5) & (x < width - 0.5) & (y > -0.5) & (y < height - 0.5)
    return inside.mean(-1)


def _crossing_border(edge: np.ndarray, ok: np.ndarray, inside: np.ndarray) -> np.ndarray:
    """The edge frames (`edge`: +1 after a track, -1 before one) to keep. Per run, going away
    from the track's end frame (the anchor): the frames while some of the continued hand is
    in the image, and only if it is leaving (entering) the picture: less of it is inside than
    at the anchor, and less than all. A hand lost in the middle of the image, or lost where it
    sits partly out of the picture without moving out, is not continued. `inside` holds the
    anchors' fractions too."""
    keep = np.zeros(len(edge), bool)
    n = len(edge)
    for step in (1, -1):
        for a, b in runs(edge == step):
            anchor = a - 1 if step == 1 else b
            if not 0 <= anchor < n or not np.isfinite(inside[anchor]):
                continue
            kept: list[int] = []
            for f in range(a, b) if step == 1 else range(b - 1, a - 1, -1):
                if not ok[f] or inside[f] <= 0.0:
                    break
                kept.append(f)
            frac = inside[kept]
            if kept and (frac < 1.0).any() and (frac < inside[anchor]).any():
                keep[kept] = True
    return keep


def _gap_confidence(conf: np.ndarray, known: np.ndarray, gap: np.ndarray) -> np.ndarray:
    """Per frame, the lower confidence of the nearest known frames before and after."""
    out = np.zeros_like(conf)
    idx = np.flatnonzero(known)
    if idx.size == 0:
        return out
    for f in np.flatnonzero(gap):
        p = int(np.searchsorted(idx, f))
        a, b = idx[max(p - 1, 0)], idx[min(p, idx.size - 1)]
        out[f] = min(float(conf[a]), float(conf[b]))
    return out


def apply_plan(doc: LabelDocument, plan: RefinePlan, settings: RefineSettings) -> None:
    """Write a plan through the document's write path and record the provenance."""
    for patch in plan.patches:
        if len(patch.frames):
            doc.write(patch.hand, patch.frames, patch.values)
    doc.set_extra("refine", provenance(doc, plan, settings))


def provenance(doc: LabelDocument, plan: RefinePlan, settings: RefineSettings) -> dict[str, Any]:
    return {
        "backend": BACKEND_STRING,
        "after": f"{doc.backend} {doc.backend_version}".strip(),
        "settings": settings.as_dict(),
        **{k: v for k, v in plan.summary.items() if k != "seconds"},
    }


def refine_document(
    doc: LabelDocument,
    settings: RefineSettings | None = None,
    *,
    frames: range | None = None,
    video: Any | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> RefinePlan:
    """Fix handedness, re-detect lost hands (with `video`), fit and write `frames` of `doc`."""
    settings = settings or RefineSettings()
    frames = _check_range(doc, frames)
    extra: dict[str, Any] = {}
    if settings.fix_handedness:
        from core.recon.refine.handedness import fix_handedness

        extra["swapped_frames"] = fix_handedness(doc, frames)
    if video is not None and settings.redetect_max_gap > 0:
        from core.recon.refine.redetect import redetect_gaps

        extra["redetected"] = redetect_gaps(doc, video, frames, settings)
    plan = _refine_in_segments(doc, settings, frames, on_progress)
    plan.summary.update(extra)
    doc.set_extra("refine", provenance(doc, plan, settings))
    return plan


def _refine_in_segments(
    doc: LabelDocument, settings: RefineSettings, frames: range,
    on_progress: Callable[[int, int], None] | None,
) -> RefinePlan:  # fmt: skip
    """Plan and write `frames` a segment at a time, so memory follows the segment, not the
    video. Each segment is solved `overlap` frames past its end (those are solved again with the
    next one, whose context is the frames just written: the same hand-over as the fit's
    chunks); every segment uses the skeletons of the whole tracks. The returned plan has the
    summary of all segments and no patches (they are written already)."""
    _check_camera(doc)
    skeletons = [track_skeleton(doc.hands[h], h) for h in range(2)]
    seg = max(settings.chunk, 1) * _CHUNKS_PER_SEGMENT
    tail = max(2, settings.overlap)
    total: dict[str, Any] = {}
    plan = None
    for s0 in range(frames.start, frames.stop, seg):
        s1 = min(frames.stop, s0 + seg)
        solve_to = min(frames.stop, s1 + tail) if s1 < frames.stop else s1

        def progress(done: int, _n: int, s0: int = s0, s1: int = s1) -> None:
            if on_progress is not None:  # never past the segment's end: it only goes forward
                on_progress(min(s1, s0 + done) - frames.start, len(frames))

        try:
            plan = plan_refinement(doc, settings, range(s0, solve_to), progress, skeletons)
        except RefineError:
            if len(frames) <= seg:
                raise
            continue  # a segment without 2D evidence: nothing to write there
        filled, written = {"left": 0, "right": 0}, 0
        for patch, name in zip(plan.patches, ("left", "right"), strict=True):
            keep = patch.frames < s1
            if keep.any():
                values = {k: v[keep] for k, v in patch.values.items()}
                doc.write(patch.hand, patch.frames[keep], values)
                written += int(keep.sum())
                filled[name] += int((values["source"] == Source.INTERPOLATED).sum())
        plan.summary.update(filled=filled, written=written)
        _merge_summary(total, plan.summary)
    if plan is None:
        raise RefineError(
            "the predicted hands have no 2D joints to refine against",
            hint="Re-run `vidihand reconstruct` to get the detector's 2D joints, "
            "or refine a file that has them.",
        )
    total["frames"] = [frames.start, frames.stop]
    return RefinePlan(frames, [], total)


def _merge_summary(total: dict[str, Any], part: dict[str, Any]) -> None:
    if not total:
        total.update(part)
        total["filled"] = dict(part["filled"])
        return
    for key in ("solved_frames", "written"):
        total[key] += part[key]
    total["seconds"] = round(total["seconds"] + part["seconds"], 3)
    for name, n in part["filled"].items():
        total["filled"][name] += n
