"""Long videos in the app: time to first frame, scrubbing latency and memory on an hour of 1080p
(and 4K) camera-style video (H.264, one keyframe every 10 s, B-frames, MP4 with the index at
the end), with the app's path (background index + Prefetcher + ProxyStrip) against decoding
straight from the file without a cache.

The video is made with the ffmpeg binary: one minute of busy moving content (testsrc2 + noise,
ultrafast, 3 B-frames, GOP 300) encoded once, then concatenated without re-encoding to the
wanted length, so an hour costs about a minute of encoding. Files are kept in --workdir.

    /work/main/.venv/bin/python bench/bench_long_video.py [--minutes 60] [--minutes-4k 60]
        [--scrubs 30] [--quick] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.video.prefetch import Prefetcher  # noqa: E402
from core.video.proxy import ProxyStrip  # noqa: E402
from core.video.reader import open_video  # noqa: E402


# ----------------------------------------------------------------------------- generation
def make_long_video(workdir: Path, size: tuple[int, int], minutes: int, bitrate: str) -> Path:
    w, h = size
    out = workdir / f"long_{h}p_{minutes}min.mp4"
    if out.exists():
        return out
    seg = workdir / f"segment_{h}p.mp4"
    if not seg.exists():
        t = time.perf_counter()
        subprocess.run(
            ["ffmpeg", "-v", "error", "-y", "-f", "lavfi",
             "-i", f"testsrc2=size={w}x{h}:rate=30,noise=alls=12:allf=t", "-t", "60",
             "-c:v", "libx264", "-preset", "ultrafast", "-bf", "3", "-g", "300",
             "-keyint_min", "300", "-sc_threshold", "0", "-b:v", bitrate, "-maxrate", bitrate,
             "-bufsize", bitrate, "-pix_fmt", "yuv420p", str(seg)],
            check=True,
        )  # fmt: skip
        print(f"  encoded a 1-minute {h}p segment in {time.perf_counter() - t:.0f} s", flush=True)
    lst = workdir / f"list_{h}p.txt"
    lst.write_text("".join(f"file '{seg.name}'\n" for _ in range(minutes)))
    t = time.perf_counter()
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "concat", "-safe", "0", "-i", str(lst),
         "-c", "copy", str(out)],
        check=True,
    )  # fmt: skip
    print(f"  concatenated {minutes} min in {time.perf_counter() - t:.0f} s", flush=True)
    return out


# ----------------------------------------------------------------------------- measurement
class RssSampler:
    """Peak resident memory of this process, sampled every 20 ms (VmRSS)."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    @staticmethod
    def now() -> int:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        return 0

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.now())
            time.sleep(0.02)

    def reset(self) -> None:
        self.peak = self.now()

    def stop(self) -> None:
        self._stop.set()


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs) * 1000.0, q)) if xs else float("nan")


def cache_for(path: Path) -> int:
    import av

    with av.open(str(path)) as c:
        cc = c.streams.video[0].codec_context
        return max(256 * 2**20, 24 * cc.width * cc.height * 3)


def scrub_round(
    pre: Prefetcher, proxy: ProxyStrip, positions: list[int], steps: int, tag: str
) -> dict[str, float]:
    """Jump to each position (thumbnail first, then the exact frame), then step forward."""
    thumb_ms, exact_ms, step_ms = [], [], []
    for p in positions:
        t = time.perf_counter()
        pre.set_current(p)
        if proxy.get(p) is not None:
            thumb_ms.append(time.perf_counter() - t)
        pre.get(p)  # the exact frame, decoded by the prefetch worker (the app waits on on_frame)
        exact_ms.append(time.perf_counter() - t)
        for k in range(1, steps + 1):  # then play / step forward, 30 fps paced
            time.sleep(1 / 30)
            t = time.perf_counter()
            pre.get(p + k)
            step_ms.append(time.perf_counter() - t)
    return {
        f"{tag}_thumb_p50": pct(thumb_ms, 50), f"{tag}_thumb_p95": pct(thumb_ms, 95),
        f"{tag}_thumb_n": len(thumb_ms),
        f"{tag}_exact_p50": pct(exact_ms, 50), f"{tag}_exact_p95": pct(exact_ms, 95),
        f"{tag}_step_p50": pct(step_ms, 50), f"{tag}_step_p95": pct(step_ms, 95),
    }  # fmt: skip


def bench_file(path: Path, scrubs: int, steps: int, rss: RssSampler) -> dict[str, float]:
    res: dict[str, float] = {}
    rss.reset()
    # --- time to first frame, the app's way
    t = time.perf_counter()
    # the app sizes the cache for the resolution: ~24 frames (150 MiB at 1080p, 600 MiB at 4K)
    video = open_video(path, index="background", cache_bytes=cache_for(path))
    img0 = video.frame(0)
    res["ttff"] = time.perf_counter() - t
    assert img0.shape[0] > 0
    n_est = video.info.n_frames
    proxy = ProxyStrip(video)
    proxy.start()
    pre = Prefetcher(video, ahead=steps + 5)
    # --- scrubbing while the index and proxy are still being built (the first minutes)
    rng = random.Random(0)
    positions = [rng.randrange(n_est - steps - 1) for _ in range(scrubs)]
    res.update(scrub_round(pre, proxy, positions, steps, "busy"))
    t = time.perf_counter()
    video.wait_index(600)
    res["index_s_after_scrub"] = time.perf_counter() - t
    res["n_frames"] = video.info.n_frames
    res["n_estimate"] = n_est
    proxy.wait(600)
    res["proxy_thumbs"] = len(proxy)
    res["proxy_s"] = proxy.build_seconds
    # --- the same once indexing and the proxy are done (new positions: nothing cached)
    later = [rng.randrange(int(res["n_frames"]) - steps - 1) for _ in range(scrubs)]
    res.update(scrub_round(pre, proxy, later, steps, "idle"))
    res["peak_rss_app"] = rss.peak
    pre.close()
    proxy.close()
    video.close()
    # --- baseline: decoding straight from the file, no cache, no prefetch
    rss.reset()
    t = time.perf_counter()
    base = open_video(path, index="full", cache_bytes=1)
    base.frame(0)
    res["ttff_full_index"] = time.perf_counter() - t
    b_exact, b_step = [], []
    for p in positions:
        t = time.perf_counter()
        base.frame(p)
        b_exact.append(time.perf_counter() - t)
        for k in range(1, steps + 1):
            t = time.perf_counter()
            base.frame(p + k)
            b_step.append(time.perf_counter() - t)
    res.update(
        base_exact_p50=pct(b_exact, 50), base_exact_p95=pct(b_exact, 95),
        base_step_p50=pct(b_step, 50), base_step_p95=pct(b_step, 95),
    )  # fmt: skip
    res["peak_rss_base"] = rss.peak
    base.close()
    return res


def report(name: str, r: dict[str, float]) -> None:
    gib = 1024**3
    print(f"\n== {name}: {r['n_frames']:.0f} frames (estimate at open {r['n_estimate']:.0f})")
    print(
        f"time to first frame:    {r['ttff'] * 1000:8.0f} ms (background index)   "
        f"{r['ttff_full_index'] * 1000:8.0f} ms (full index first)   "
        f"ratio {r['ttff_full_index'] / r['ttff']:.1f}x"
    )
    print(
        f"index finished {r['index_s_after_scrub']:.1f} s after the scrub test; proxy: "
        f"{r['proxy_thumbs']:.0f} thumbnails in {r['proxy_s']:.1f} s"
    )
    print("scrub = jump to a random frame, then step 10 frames at 30 fps")
    print(f"{'':34} {'p50 ms':>9} {'p95 ms':>9}")
    for tag, what in (("busy", "while index+proxy build"), ("idle", "after they finished")):
        print(f"app, {what}:")
        print(
            f"{'  jump: proxy thumbnail':34} {r[tag + '_thumb_p50']:9.2f} {r[tag + '_thumb_p95']:9.2f}"
            f"  ({r[tag + '_thumb_n']:.0f} jumps had one)"
        )
        print(
            f"{'  jump: exact frame':34} {r[tag + '_exact_p50']:9.1f} {r[tag + '_exact_p95']:9.1f}"
        )
        print(f"{'  step: exact frame':34} {r[tag + '_step_p50']:9.2f} {r[tag + '_step_p95']:9.2f}")
    print("straight from the file, no cache, no prefetch:")
    print(f"{'  jump: exact frame':34} {r['base_exact_p50']:9.1f} {r['base_exact_p95']:9.1f}")
    print(f"{'  step: exact frame':34} {r['base_step_p50']:9.2f} {r['base_step_p95']:9.2f}")
    print(
        f"ratios (no cache / app, idle): jump p50 {r['base_exact_p50'] / r['idle_exact_p50']:.2f}x, "
        f"step p50 {r['base_step_p50'] / r['idle_step_p50']:.0f}x, "
        f"first feedback on a jump (exact no-cache / thumbnail) p50 "
        f"{r['base_exact_p50'] / r['idle_thumb_p50']:.0f}x"
    )
    print(
        f"peak RSS: app path {r['peak_rss_app'] / gib:.2f} GiB, no-cache path "
        f"{r['peak_rss_base'] / gib:.2f} GiB"
    )


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--minutes", type=int, default=60, help="length of the 1080p video (0: skip)")
    ap.add_argument("--minutes-4k", type=int, default=60, help="length of the 4K video (0: skip)")
    ap.add_argument("--scrubs", type=int, default=30)
    ap.add_argument("--steps", type=int, default=10, help="frames stepped after each jump")
    ap.add_argument("--quick", action="store_true", help="5 min 1080p, 2 min 4K, 10 scrubs")
    ap.add_argument(
        "--workdir",
        type=Path,
        default=Path(os.environ.get("TMPDIR", "/tmp")) / "vidihand-bench-long",
    )
    ap.add_argument("--generate-only", action="store_true")
    args = ap.parse_args()
    if args.quick:
        args.minutes, args.minutes_4k, args.scrubs = 5, 2, 10
    if shutil.which("ffmpeg") is None:
        print("needs the ffmpeg binary to generate the long videos")
        return 1
    os.environ.setdefault("VIDIHAND_CACHE_DIR", str(args.workdir / "cache"))
    args.workdir.mkdir(parents=True, exist_ok=True)
    jobs = [("1080p", (1920, 1080), args.minutes, "2M")] if args.minutes else []
    if args.minutes_4k:
        jobs.append(("4K", (3840, 2160), args.minutes_4k, "6M"))
    files = []
    for name, size, minutes, rate in jobs:
        print(f"generating {name} {minutes} min ...", flush=True)
        path = make_long_video(args.workdir, size, minutes, rate)
        print(f"  {path} ({path.stat().st_size / 1e9:.2f} GB)", flush=True)
        files.append((f"{name} {minutes} min", path))
    if args.generate_only:
        return 0
    rss = RssSampler()
    for name, path in files:
        shutil.rmtree(args.workdir / "cache", ignore_errors=True)  # proxies built fresh
        report(name, bench_file(path, args.scrubs, args.steps, rss))
    rss.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
