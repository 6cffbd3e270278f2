"""GUI-side cost of failure analysis in the app, on long label tracks (no video, no 3D view):

    QT_QPA_PLATFORM=offscreen .venv/bin/python bench/bench_app_analysis.py [--quick]

For 1 and 10 minutes of two-hand labels at 30 fps (bench_analysis.make_docs: noise, a swap,
dropouts), with the failures model, the compare model (clean labels as reference), the
failures panel and the timeline:
1. GUI-thread work per run: the document snapshot handed to the worker.
2. Latency from a request to the result in the GUI thread (detectors; metrics), and the longest
   stall of the GUI event loop meanwhile (a 5 ms timer; the work runs on a worker thread, the
   stall is what the GIL and the snapshot leave).
3. Refreshing the failures list (all segments, review state looked up).
4. Rendering the timeline's lanes at 1200 px: the default lanes alone (baseline, same run) and
   with the failures and error lanes.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def best_ms(fn, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best * 1000.0


def wait_for(app, job, signal) -> tuple[float, float]:
    """(seconds from request to result, longest event-loop gap in ms meanwhile)."""
    from PySide6.QtCore import QTimer

    done: list[float] = []
    gaps: list[float] = []
    last = [time.perf_counter()]

    def tick() -> None:
        now = time.perf_counter()
        gaps.append(now - last[0])
        last[0] = now

    timer = QTimer()
    timer.timeout.connect(tick)
    timer.start(5)
    signal.connect(lambda *_: done.append(time.perf_counter()))
    t0 = time.perf_counter()
    job.request(0)
    while not done:
        app.processEvents()
        time.sleep(0.001)
    timer.stop()
    return done[0] - t0, max(gaps, default=0.0) * 1000.0


def run(minutes: float, app) -> None:
    from bench_analysis import make_docs

    from app.compare import CompareModel
    from app.failures import FailuresModel
    from app.session import Session
    from app.widgets.analysis_lanes import ERROR_METRICS, ErrorScale, error_lane, failure_lane
    from app.widgets.failures_panel import FailuresPanel
    from app.widgets.timeline import Columns, Timeline, default_lanes

    n = int(minutes * 60 * 30)
    pred, gt = make_docs(n)
    session = Session()
    session.doc = pred  # no video: set the document without the clock/video machinery
    failures = FailuresModel(session)
    compare = CompareModel(session)
    compare.reference = gt
    panel = FailuresPanel(failures)

    snap_ms = best_ms(pred.copy)
    det_s, det_gap = wait_for(app, failures.job, failures.updated)
    ev_s, ev_gap = wait_for(app, compare.job, compare.evaluated)
    segs = failures.segments()
    refresh_ms = best_ms(panel.refresh)

    tl = Timeline(session)
    cols = Columns(0, n, 1200)
    base = default_lanes()
    scale = ErrorScale(compare)
    extra = [failure_lane(failures, h) for h in (0, 1)]
    extra += [error_lane(compare, scale, m, h) for h in (0, 1) for m in ERROR_METRICS]

    def render(lanes) -> None:
        cache: dict = {}
        for lane in lanes:
            lane.render(pred, cols, lane.height, cache)

    base_ms = best_ms(lambda: render(base))
    all_ms = best_ms(lambda: render(base + extra))
    print(f"{minutes:g} min ({n} frames), {len(segs)} segments")
    print(f"  GUI thread: snapshot {snap_ms:.1f} ms per run; list refresh {refresh_ms:.1f} ms")
    print(f"  detectors: result after {det_s:.2f} s, longest GUI stall {det_gap:.0f} ms")
    print(f"  metrics:   result after {ev_s:.2f} s, longest GUI stall {ev_gap:.0f} ms")
    print(
        f"  timeline lanes at 1200 px: default {base_ms:.1f} ms (baseline), with failures and "
        f"error lanes {all_ms:.1f} ms (x{all_ms / max(base_ms, 1e-9):.2f})"
    )
    for job in (failures.job, compare.job):
        job.shutdown()
    tl.deleteLater()
    panel.deleteLater()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="1 minute only")
    args = ap.parse_args()
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    for minutes in (1,) if args.quick else (1, 10):
        run(minutes, app)


if __name__ == "__main__":
    main()
