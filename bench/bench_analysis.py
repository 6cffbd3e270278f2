"""Speed of the failure analysis on long label tracks (no video needed):

    .venv/bin/python bench/bench_analysis.py [--quick]

For 1 minute and 10 minutes of two-hand labels at 30 fps (the sample's smooth motion, with
noise, a swap and dropouts so every detector has work):
1. `detect` (all detectors), and its slowest part, the capsule interpenetration test; baseline
   in the same run: the capsule test on every frame without the bounding-sphere pruning.
2. `evaluate` against the clean labels (all paper-protocol metrics).
3. `build_report` without video (detectors + metrics + four plots).
Target: a 10-minute clip analysed in well under a minute on one CPU core.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402


def make_docs(n: int):
    from core.camera import in_image, project
    from core.labels.document import POSE_FIELDS, LabelDocument, VideoMeta
    from core.sample.motion import sample_motion

    m = sample_motion(n, 30.0, seed=0)
    gt = LabelDocument(VideoMeta(n_frames=n, fps=30.0, width=640, height=480))
    joints = m.joints()
    for h in range(2):
        j2 = project(joints[:, h], gt.K)
        present = in_image(j2, 640, 480).mean(axis=1) > 0.3
        gt.write(h, slice(None), {
            "present": present, "confidence": present.astype(np.float32),
            "joints_3d": np.where(present[:, None, None], joints[:, h], np.nan),
            "joints_2d": np.where(present[:, None, None], j2, np.nan),
        })  # fmt: skip
    pred = gt.copy()
    rng = np.random.default_rng(0)
    for h in range(2):
        j = pred.hands[h].joints_3d + rng.normal(0, 0.002, (n, 21, 3)).astype(np.float32)
        pred.write(h, slice(None), {"joints_3d": j, "joints_2d": project(j, pred.K)})
    f = np.arange(n // 3, n // 3 + 20)
    a, b = pred.read(0, f, POSE_FIELDS).values, pred.read(1, f, POSE_FIELDS).values
    pred.write(0, f, b)
    pred.write(1, f, a)
    for start in range(100, n, 997):
        pred.write(0, np.arange(start, start + 3), {"present": False, "joints_3d": np.nan})
    return pred, gt


def unpruned_capsules(doc, th) -> np.ndarray:
    """The capsule test on every frame where both hands are present (the baseline)."""
    from core.analysis.two_hands import _PALM, CAPSULES, segment_distances

    both = np.flatnonzero(
        (doc.hands[0].present & doc.hands[1].present)
        & np.isfinite(doc.hands[0].joints_3d).all(axis=(1, 2))
        & np.isfinite(doc.hands[1].joints_3d).all(axis=(1, 2))
    )
    ia = np.array([a for a, _ in CAPSULES])
    ib = np.array([b for _, b in CAPSULES])
    r = np.array([th.palm_radius_mm if c in _PALM else th.finger_radius_mm for c in CAPSULES])
    out = []
    for k in range(0, both.size, 2048):
        sel = both[k : k + 2048]
        L = doc.hands[0].joints_3d[sel].astype(np.float64)
        R = doc.hands[1].joints_3d[sel].astype(np.float64)
        d = segment_distances(L[:, ia, None], L[:, ib, None], R[:, None, ia], R[:, None, ib])
        out.append((r[:, None] + r[None, :] - d * 1000).reshape(len(sel), -1).max(axis=1))
    return np.concatenate(out) if out else np.empty(0)


def timed(fn, *args, repeat: int = 1, **kwargs):
    best = float("inf")
    out = None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn(*args, **kwargs)
        best = min(best, time.perf_counter() - t)
    return best, out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1 minute only")
    args = ap.parse_args()
    from core.analysis import Thresholds, detect
    from core.analysis.report import build_report
    from core.analysis.two_hands import penetration_depth_mm
    from core.metrics import evaluate

    th = Thresholds()
    lengths = [1800] if args.quick else [1800, 18000]
    build_report(*make_docs(60))  # warm imports (matplotlib) outside the timings
    print(f"{'frames':>7}  {'detect':>8}  {'capsules':>9}  {'unpruned':>9}  {'ratio':>6}  "
          f"{'evaluate':>9}  {'report':>8}")  # fmt: skip
    for n in lengths:
        pred, gt = make_docs(n)
        t_det, det = timed(detect, pred, th)
        t_caps, depth = timed(penetration_depth_mm, pred, th, repeat=2)
        t_base, base = timed(unpruned_capsules, pred, th)
        # the pruning only skips frames that cannot touch: same detections
        both = np.isfinite(depth)
        assert ((depth[both] > th.penetration_mm) == (base > th.penetration_mm)).all()
        t_ev, _ = timed(evaluate, pred, gt)
        t_rep, _ = timed(build_report, pred, gt)
        print(f"{n:>7}  {t_det:>7.2f}s  {t_caps:>8.3f}s  {t_base:>8.3f}s  {t_base / t_caps:>5.1f}x"
              f"  {t_ev:>8.2f}s  {t_rep:>7.2f}s   ({len(det.segments)} segments)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
