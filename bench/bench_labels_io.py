"""Save and load time of an hour of labels (108,000 frames, both hands full of data).

Measures core.io.labels_h5 (schema v1 as shipped) and, as baselines in the same run, the same
arrays written with other HDF5 filter settings and as an uncompressed .npy-per-array folder,
so the chosen setting can be judged: time, file size, and portability (gzip is readable by
every HDF5 build; lzf only where h5py or the lzf plugin is installed).

    python bench/bench_labels_io.py [--frames 108000] [--repeats 3] [--quick]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.io.labels_h5 import CHUNK_FRAMES, load_labels, save_labels  # noqa: E402
from core.labels.document import TRACK_FIELDS, LabelDocument, Source, VideoMeta  # noqa: E402


def full_document(n: int) -> LabelDocument:
    """Both hands present on ~90% of frames with smooth, realistic-looking values (random noise
    would be incompressible and unrealistic; constant data would flatter compression)."""
    rng = np.random.default_rng(0)
    doc = LabelDocument(VideoMeta(n, 30.0, 1920, 1080, "0" * 64))
    t = np.arange(n)[:, None, None] / 30.0
    for h in range(2):
        present = rng.random(n) > 0.1
        phase = rng.uniform(0, 6, (1, 21, 3))
        j3 = 0.05 * np.sin(0.7 * t + phase) + np.array([0.1 * (2 * h - 1), 0.05, 0.6])
        j3 = j3 + rng.normal(0, 0.002, j3.shape)
        j2 = 1000 * j3[..., :2] / j3[..., 2:] + [960, 540]
        values = {
            "present": present,
            "confidence": np.where(present, rng.uniform(0.6, 1.0, n), 0),
            "joints_3d": j3,
            "joints_2d": j2,
            "global_orient": 0.5 * np.sin(0.3 * t[:, 0] + rng.uniform(0, 6, (1, 3))),
            "hand_pose": 0.3 * np.sin(0.5 * t[:, 0] + rng.uniform(0, 6, (1, 45)))
            + rng.normal(0, 0.01, (n, 45)),
            "betas": np.tile(rng.normal(0, 1, (1, 10)), (n, 1)),
            "transl": j3[:, 0] - [0.0, 0.0, 0.0],
            "source": np.where(present, Source.PREDICTED, Source.NONE).astype(np.uint8),
            "reviewed": rng.random(n) > 0.7,
            "keyframe": rng.random(n) > 0.98,
            "flags": np.zeros(n, np.uint16),
        }
        for name in ("joints_3d", "joints_2d", "global_orient", "hand_pose", "betas", "transl"):
            values[name][~present] = np.nan
        doc.write(h, slice(None), values, notify=False)
    return doc


def _raw_h5(doc: LabelDocument, path: Path, **filters: object) -> None:
    n = doc.n_frames
    with h5py.File(path, "w", libver="latest") as f:
        for name, track in zip(("left", "right"), doc.hands, strict=True):
            for field, (shape, _, _) in TRACK_FIELDS.items():
                f.create_dataset(
                    f"hands/{name}/{field}",
                    data=getattr(track, field),
                    chunks=(min(CHUNK_FRAMES, n), *shape),
                    **filters,
                )


def _raw_h5_read(path: Path) -> None:
    with h5py.File(path, "r") as f:
        for name in ("left", "right"):
            for field in TRACK_FIELDS:
                f[f"hands/{name}/{field}"][()]


def _time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--frames", type=int, default=108_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="one repeat")
    args = ap.parse_args()
    repeats = 1 if args.quick else args.repeats
    n = args.frames
    doc = full_document(n)
    raw_mb = sum(a.nbytes for t in doc.hands for a in t.arrays().values()) / 1e6
    print(
        f"{n} frames ({n / 30 / 60:.0f} min at 30 fps), {raw_mb:.1f} MB of arrays, median of "
        f"{repeats}; {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}"
    )
    with tempfile.TemporaryDirectory() as td:
        d = Path(td)
        path = d / "labels.h5"
        save_s = _time(lambda: save_labels(doc, path), repeats)
        load_s = _time(lambda: load_labels(path), repeats)
        assert load_labels(path).equals(doc)
        size = path.stat().st_size / 1e6
        print(
            f"schema v1 (core.io.labels_h5)   save {save_s * 1000:7.0f} ms   load {load_s * 1000:7.0f} ms"
            f"   {size:6.1f} MB   <- shipped"
        )
        variants = {
            "gzip 1 + shuffle": {"compression": "gzip", "compression_opts": 1, "shuffle": True},
            "gzip 4 + shuffle": {"compression": "gzip", "compression_opts": 4, "shuffle": True},
            "lzf + shuffle": {"compression": "lzf", "shuffle": True},
            "no compression": {},
        }
        for label, filters in variants.items():
            p = d / f"{label.replace(' ', '_')}.h5"
            s = _time(lambda p=p, filters=filters: _raw_h5(doc, p, **filters), repeats)
            lt = _time(lambda p=p: _raw_h5_read(p), repeats)
            print(
                f"raw arrays, {label:<18}  save {s * 1000:7.0f} ms   load {lt * 1000:7.0f} ms"
                f"   {p.stat().st_size / 1e6:6.1f} MB"
            )
        npdir = d / "npy"
        npdir.mkdir()

        def save_npy() -> None:
            for name, t in zip(("left", "right"), doc.hands, strict=True):
                for field, arr in t.arrays().items():
                    np.save(npdir / f"{name}_{field}.npy", arr)

        def load_npy() -> None:
            for f in npdir.iterdir():
                np.load(f)

        s, lt = _time(save_npy, repeats), _time(load_npy, repeats)
        print(
            f"baseline: .npy per array         save {s * 1000:7.0f} ms   load {lt * 1000:7.0f} ms"
            f"   {sum(f.stat().st_size for f in npdir.iterdir()) / 1e6:6.1f} MB"
        )
    verdict = "OK" if max(save_s, load_s) < 1.0 else "TOO SLOW"
    print(
        f"schema v1 save {save_s:.2f} s, load {load_s:.2f} s: target well under 1 s each -> {verdict}"
    )


if __name__ == "__main__":
    main()
