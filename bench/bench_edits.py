"""Latency of edits on an hour of labels (108,000 frames), with and without the crash journal.

What an annotator feels: one gesture (a joint drag step, a 300-frame interpolation, a swap),
undo/redo, and the cost of making each one crash-safe (journal record written and fsynced).
Baseline in the same run: the same gestures without a journal. Also the journal's snapshot
(every 200 steps) and recovery times.

    python bench/bench_edits.py [--frames 108000] [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench_labels_io import full_document  # noqa: E402

from core.edits import EditHistory, use_hand_model  # noqa: E402
from core.io.journal import Journal  # noqa: E402


def gestures(doc, rng):
    """A mix of gestures an annotator makes, at random places in the video."""
    n = doc.n_frames
    while True:
        f = int(rng.integers(0, n - 400))
        hand = ("left", "right")[int(rng.integers(0, 2))]
        if doc.hands[1].present[f]:
            yield (
                "move_joint_2d",
                {
                    "op": "move_joint_2d",
                    "hand": "right",
                    "frame": f,
                    "joint": 8,
                    "uv": [900.0, 500.0],
                },
            )
        if doc.hands[0].present[f] and doc.hands[0].present[f + 300]:
            yield (
                "interpolate 300",
                {"op": "interpolate", "hand": "left", "start": f, "end": f + 300},
            )
        yield "swap 30", {"op": "swap_hands", "start": f, "end": f + 29}
        yield "set_reviewed 100", {"op": "set_reviewed", "hand": hand, "start": f, "end": f + 99}


def run(doc, journal, count: int) -> dict[str, list[float]]:
    history = EditHistory(doc, journal=journal)
    times: dict[str, list[float]] = {}
    rng = np.random.default_rng(1)
    it = gestures(doc, rng)
    for _ in range(count):
        name, edit = next(it)
        t0 = time.perf_counter()
        history.apply(edit)
        times.setdefault(name, []).append(time.perf_counter() - t0)
    for _ in range(20):
        t0 = time.perf_counter()
        history.undo()
        times.setdefault("undo", []).append(time.perf_counter() - t0)
    for _ in range(20):
        t0 = time.perf_counter()
        history.redo()
        times.setdefault("redo", []).append(time.perf_counter() - t0)
    return times


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=108_000)
    ap.add_argument("--gestures", type=int, default=120)
    ap.add_argument("--quick", action="store_true", help="18,000 frames, 40 gestures")
    args = ap.parse_args()
    if args.quick:
        args.frames, args.gestures = 18_000, 40
    use_hand_model(None)
    print(
        f"document: {args.frames} frames, both hands; {args.gestures} gestures + 20 undo + 20 redo"
    )
    base = full_document(args.frames)
    plain = run(base.copy(), None, args.gestures)
    with tempfile.TemporaryDirectory() as tmp:
        journal = Journal.open_for(Path(tmp) / "labels.h5")
        doc = base.copy()
        doc.dirty = True
        t0 = time.perf_counter()
        journal.start(doc)  # header + full snapshot (no saved file)
        snap_s = time.perf_counter() - t0
        snap_mb = journal.path.stat().st_size / 1e6
        journaled = run(doc, journal, args.gestures)
        journal.close()
        size_mb = journal.path.stat().st_size / 1e6
        t0 = time.perf_counter()
        recovered = Journal.open_for(Path(tmp) / "labels.h5").recover()
        rec_s = time.perf_counter() - t0
        assert recovered.equals(doc)
    print(f"\n{'gesture':<18}{'n':>5}{'plain ms':>11}{'journaled ms':>15}{'ratio':>8}")
    for name in plain:
        a, b = statistics.median(plain[name]) * 1e3, statistics.median(journaled[name]) * 1e3
        print(f"{name:<18}{len(plain[name]):>5}{a:>11.2f}{b:>15.2f}{b / a:>8.2f}")
    print(
        f"\nsnapshot: {snap_s * 1e3:.0f} ms, {snap_mb:.1f} MB; journal after session {size_mb:.1f} MB"
    )
    print(f"recover (snapshot + {args.gestures + 40} records): {rec_s * 1e3:.0f} ms, state exact")


if __name__ == "__main__":
    main()
