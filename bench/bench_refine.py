"""Refinement (core/recon/refine) against the raw MediaPipe output, in the same run.

Per clip: reconstruct raw (as `vidihand reconstruct --no-refine`), then refine that document
with the video (handedness, re-detection, fit: what `vidihand reconstruct` does by default),
and report, raw -> refined:

- the project's sample (exact ground truth): Jitter, MPJPE, EPE, presence recall/precision,
  palm-length std (wrist to middle knuckle);
- demo3.mp4, human_hand_video.mp4 (no ground truth): jitter per hand, palm-length std, median
  2D distance between refined and raw joints where both have the hand, both-hands coverage,
  interpenetrating frames (core.analysis: capsule overlap deeper than its threshold);
- cost: (reconstruct + refine) / reconstruct, wall and CPU time (the machine is shared: CPU
  time is the steadier figure), and the fit alone in frames/s (both hands, no video);
- memory: RSS before and peak of the refinement (`refine_document`, no video: the fit,
  written a segment at a time) on the demo3 document tiled to 500 .. 32000 frames, each in its
  own process.

Targets (issue 13): sample jitter <= 3, MPJPE <= 0.6x raw, EPE <= raw + 2 px, recall >= 0.95 at
precision >= 0.98, palm std <= 2 mm; videos jitter <= 5, palm std <= 2, 2D distance <= 4 px,
demo3 both hands >= 90%, interpenetration <= raw; cost <= 1.35x; fit >= 300 frames/s; memory flat.

    python bench/bench_refine.py [--quick] [--json OUT.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("GLOG_minloglevel", "2")

import numpy as np  # noqa: E402

from core.analysis.thresholds import Thresholds  # noqa: E402
from core.analysis.two_hands import penetration_depth_mm  # noqa: E402
from core.labels.document import LabelDocument, Source  # noqa: E402
from core.recon.base import meta_for, run_reconstruction  # noqa: E402
from core.recon.mediapipe_backend import MediaPipeReconstructor  # noqa: E402
from core.recon.refine import RefineSettings, plan_refinement, refine_document  # noqa: E402
from core.video.reader import open_video  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
CLIPS = {
    "demo3": SHARED / "dyn-hamr" / "demo3.mp4",
    "human_hand_video": SHARED / "dex-retargeting" / "human_hand_video.mp4",
}


def clocks() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def reconstruct(path: Path) -> tuple[LabelDocument, float, float]:
    w0, c0 = clocks()
    with open_video(path) as video, MediaPipeReconstructor() as backend:
        doc = LabelDocument(meta_for(video))
        run_reconstruction(backend, video, doc)
    w1, c1 = clocks()
    return doc, w1 - w0, c1 - c0


def refine(doc: LabelDocument, path: Path) -> tuple[LabelDocument, float, float]:
    out = doc.copy()
    w0, c0 = clocks()
    with open_video(path) as video:
        refine_document(out, RefineSettings(), video=video)
    w1, c1 = clocks()
    return out, w1 - w0, c1 - c0


def valid(track) -> np.ndarray:  # type: ignore[no-untyped-def]
    return track.present & np.isfinite(track.joints_3d).all(axis=(1, 2))


def jitter(track) -> float:  # type: ignore[no-untyped-def]
    """mm/frame^2, the metrics' definition (core/metrics)."""
    ok = valid(track)
    j = track.joints_3d.astype(np.float64) * 1000.0
    m = ok[2:] & ok[1:-1] & ok[:-2]
    if not m.any():
        return float("nan")
    acc = np.linalg.norm(j[2:] - 2 * j[1:-1] + j[:-2], axis=-1).mean(-1)
    return float(acc[m].mean())


def palm_std(track) -> float:  # type: ignore[no-untyped-def]
    ok = valid(track)
    if ok.sum() < 2:
        return float("nan")
    return float(
        1000 * np.linalg.norm(track.joints_3d[ok, 9] - track.joints_3d[ok, 0], axis=-1).std()
    )


def dist_2d(raw: LabelDocument, ref: LabelDocument) -> float:
    d = []
    for a, b in zip(raw.hands, ref.hands, strict=True):
        ok = a.present & b.present & (a.source == Source.PREDICTED)
        d.append(np.linalg.norm(a.joints_2d[ok] - b.joints_2d[ok], axis=-1).ravel())
    d = np.concatenate(d)
    return float(np.nanmedian(d)) if d.size else float("nan")


def penetrating(doc: LabelDocument) -> int:
    th = Thresholds()
    return int((penetration_depth_mm(doc, th) > th.penetration_mm).sum())


def per_hand(f, doc: LabelDocument) -> list[float]:  # type: ignore[no-untyped-def]
    return [round(f(t), 2) for t in doc.hands if valid(t).sum() > 2]


def fit_speed(doc: LabelDocument, repeats: int) -> tuple[float, float]:
    """Frames/s of the fit alone (both hands), best of `repeats`: by wall clock and by CPU
    time (the fit runs on one thread, so on an idle machine the two agree; on the shared
    machine the CPU figure is the one that says what the code costs)."""
    best_wall = best_cpu = 0.0
    for _ in range(repeats):
        w0, c0 = clocks()
        plan_refinement(doc.copy(), RefineSettings(fix_handedness=False))
        w1, c1 = clocks()
        best_wall = max(best_wall, doc.n_frames / (w1 - w0))
        best_cpu = max(best_cpu, doc.n_frames / (c1 - c0))
    return best_wall, best_cpu


def clip_row(name: str, path: Path, gt: LabelDocument | None) -> dict:
    raw, w_raw, c_raw = reconstruct(path)
    ref, w_ref, c_ref = refine(raw, path)
    n = raw.n_frames
    row = {
        "frames": n,
        "jitter": [per_hand(jitter, raw), per_hand(jitter, ref)],
        "palm_std_mm": [per_hand(palm_std, raw), per_hand(palm_std, ref)],
        "median_2d_px_refined_vs_raw": round(dist_2d(raw, ref), 2),
        "both_hands": [round(raw.present_counts()["both"] / n, 3), round(ref.present_counts()["both"] / n, 3)],
        "interpenetrating_frames": [penetrating(raw), penetrating(ref)],
        "cost_wall": round((w_raw + w_ref) / w_raw, 3),
        "cost_cpu": round((c_raw + c_ref) / c_raw, 3),
        "seconds": {"reconstruct_wall": round(w_raw, 2), "refine_wall": round(w_ref, 2),
                    "reconstruct_cpu": round(c_raw, 2), "refine_cpu": round(c_ref, 2)},
        "fit_frames_per_s_wall_cpu": [round(v, 1) for v in fit_speed(raw, 2)],
    }  # fmt: skip
    if gt is not None:
        from core.metrics import evaluate

        for tag, doc in (("raw", raw), ("refined", ref)):
            ev = evaluate(doc, gt)
            row[tag] = {k: round(float(ev.value(k)), 3) for k in
                        ("Jitter", "MPJPE", "EPE", "recall", "precision")}  # fmt: skip
    return row


def memory_rss(n_frames: int, source: Path) -> list[float]:
    """[before, peak] RSS (MiB) of the fit alone on `source` tiled to `n_frames`, in a fresh
    process (before: after the imports and the document are made)."""
    code = f"""
import sys, numpy as np
sys.path.insert(0, {str(ROOT)!r})
from core.io.labels_h5 import load_labels
from core.labels.document import LabelDocument, HandTrack, VideoMeta
from core.recon.refine import refine_document, RefineSettings
def hwm():  # this process's peak RSS, MiB (ru_maxrss would carry the parent's over exec)
    line = next(x for x in open("/proc/self/status") if x.startswith("VmHWM"))
    return int(line.split()[1]) / 1024
src = load_labels({str(source)!r}); n = {n_frames}
reps = -(-n // src.n_frames)
hands = tuple(HandTrack(**{{k: np.concatenate([v] * reps)[:n] for k, v in t.arrays().items()}})
              for t in src.hands)
meta = VideoMeta(n, src.meta.fps, src.meta.width, src.meta.height)
doc = LabelDocument(meta, src.K, hands)
import torch
base = hwm()
refine_document(doc, RefineSettings(fix_handedness=False))
print(base, hwm())
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return [round(float(v), 1) for v in out.stdout.strip().splitlines()[-1].split()]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="sample and demo3 only, short memory run")
    ap.add_argument("--json", help="also write the figures here")
    args = ap.parse_args()
    from core.io.labels_h5 import load_labels, save_labels
    from core.sample import make_sample

    results: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        video, gt_path = make_sample(Path(tmp) / "sample")
        results["sample"] = clip_row("sample", video, load_labels(gt_path))
        print(json.dumps({"sample": results["sample"]}), flush=True)
        for name, path in CLIPS.items():
            if args.quick and name != "demo3":
                continue
            results[name] = clip_row(name, path, None)
            print(json.dumps({name: results[name]}), flush=True)
        raw, _, _ = reconstruct(CLIPS["demo3"])
        src = Path(tmp) / "demo3_raw.h5"
        save_labels(raw, src)
        lengths = (500, 2000) if args.quick else (500, 2000, 8000, 32000)
        results["memory_peak_rss_mib"] = {n: memory_rss(n, src) for n in lengths}
        print(json.dumps({"memory_peak_rss_mib": results["memory_peak_rss_mib"]}), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
