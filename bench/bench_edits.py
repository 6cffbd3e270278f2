"""Latency of edits on an hour of labels (108,000 frames), with and without the crash journal.

What an annotator feels: one gesture (a joint drag step, a 300-frame interpolation, a swap),
undo/redo, and the cost of making each one crash-safe (journal record written and fsynced).
Baseline in the same run: the same gestures without a journal. Also the journal's snapshot
(every 200 steps) and recovery times, and the time to start journaling an opened video (blank
record) against the full snapshot it used to write.

    python bench/bench_edits.py [--frames 108000] [--quick]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench_labels_io import full_document  # noqa: E402

from core.edits import EditHistory, EditSession, use_hand_model  # noqa: E402
from core.io.journal import Journal  # noqa: E402
from core.io.labels_h5 import save_labels  # noqa: E402
from core.labels.document import LabelDocument, VideoMeta  # noqa: E402


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


def journal_start(frames: int, tmp: Path) -> None:
    """Time to start crash-safe editing of an opened video (an empty document, as the app makes
    for a new video) and of labels loaded from a file; baseline: the full snapshot that
    `Journal.start` used to write for the empty document."""
    meta = VideoMeta(frames, 30.0, 1920, 1080, video_sha256="ab" * 32)
    t0 = time.perf_counter()
    doc = LabelDocument(meta)
    alloc_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    session = EditSession.new(doc)
    blank_s = time.perf_counter() - t0
    blank_bytes = session.journal.path.stat().st_size
    session.close()
    journal = Journal.open_for(video_sha256=meta.video_sha256)
    t0 = time.perf_counter()
    journal.start(doc)
    journal.snapshot(doc)  # the old start: header + every array, fsynced
    snap_s = time.perf_counter() - t0
    snap_mb = journal.path.stat().st_size / 1e6
    journal.clear()
    labels = save_labels(full_document(frames), tmp / "start.h5")
    t0 = time.perf_counter()
    session = EditSession.open(labels)
    open_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    session.close()
    session = EditSession(session.doc, labels)
    start_s = time.perf_counter() - t0
    session.close()
    print(f"journal start, {frames} frames:")
    print(f"  empty document allocated:                 {alloc_s * 1e3:7.0f} ms")
    print(f"  EditSession.new(empty), blank record:      {blank_s * 1e3:7.1f} ms, {blank_bytes} B")
    print(f"  baseline, full snapshot of it:             {snap_s * 1e3:7.0f} ms, {snap_mb:.0f} MB")
    print(f"  ratio baseline / blank:                    {snap_s / blank_s:7.0f}x")
    print(f"  EditSession.open(labels) incl. loading:    {open_s * 1e3:7.0f} ms")
    print(f"  EditSession on the loaded labels, start:   {start_s * 1e3:7.1f} ms (header only)\n")


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
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("VIDIHAND_DATA_DIR", tmp)  # the unsaved journal's folder
        journal_start(args.frames, Path(tmp))
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
