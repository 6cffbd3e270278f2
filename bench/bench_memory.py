"""Peak memory of `vidihand reconstruct` on generated 720p videos of growing length.

Generates 720p 30 fps H.264 videos (ffmpeg, ultrafast preset, a moving test pattern with a moving
disc; cached in the temp folder so reruns skip it) of 1, 5 and 10 minutes, runs the real
`vidihand reconstruct` on each in a subprocess and samples its resident memory (psutil, every
0.2 s; the sampled peak is cross-checked with the kernel's high-water mark reported by
/usr/bin/time). Target: under 1 GiB and flat in length: the only growth allowed is the label document's
arrays, ~1.4 KB a frame (about 25 MB for 10 minutes).

The baseline in the same run is the same process importing everything and opening the video but
reconstructing a single frame (start-up cost: interpreter, MediaPipe graph, PyAV).

    python bench/bench_memory.py            # 1, 5, 10 minutes (~20 min on 2 loaded cores)
    python bench/bench_memory.py --quick    # 0.5, 1, 2 minutes
    python bench/bench_memory.py --minutes 1 10
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
VIDIHAND = Path(sys.executable).with_name("vidihand")
CACHE = Path(tempfile.gettempdir()) / "vidihand-bench"


def make_video(minutes: float) -> Path:
    """A cached 1280x720 30 fps clip of `minutes` minutes with simple moving content."""
    CACHE.mkdir(parents=True, exist_ok=True)
    out = CACHE / f"moving_720p_{minutes:g}min.mp4"
    if out.exists() and out.stat().st_size > 0:
        return out
    tmp = out.with_suffix(".part.mp4")
    seconds = minutes * 60
    src = (
        f"testsrc2=size=1280x720:rate=30:duration={seconds},"
        "drawbox=x='mod(t*200,1180)':y='300+150*sin(t)':w=100:h=100:color=white@0.8:t=fill"
    )
    cmd = [
        "ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", src,
        "-c:v", "libx264", "-preset", "ultrafast", "-g", "60", "-pix_fmt", "yuv420p", str(tmp),
    ]  # fmt: skip
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True)
    tmp.rename(out)
    print(f"  generated {out.name} in {time.perf_counter() - t0:.0f} s", flush=True)
    return out


def measure(video: Path, frames: str | None, out: Path) -> tuple[float, float, float]:
    """(sampled peak RSS MiB, kernel max RSS MiB, seconds) of one `vidihand reconstruct` run."""
    maxrss_file = out.with_suffix(".maxrss")
    cmd = ["/usr/bin/time", "-f", "%M", "-o", str(maxrss_file)]
    cmd += [str(VIDIHAND), "reconstruct", str(video), "-o", str(out), "--quiet"]
    if frames:
        cmd += ["--frames", frames]
    env = {**os.environ, "GLOG_minloglevel": "2"}
    t0 = time.perf_counter()
    err_file = out.with_suffix(".stderr")
    with open(err_file, "wb") as err_fh:  # a file, not a pipe: a chatty child never blocks
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err_fh, env=env)
        ps = psutil.Process(proc.pid)
        peak = 0
        timeline: list[tuple[float, int]] = []
        while proc.poll() is None:
            try:
                rss = ps.memory_info().rss + sum(
                    c.memory_info().rss for c in ps.children(recursive=True)
                )
                peak = max(peak, rss)
                timeline.append((time.perf_counter() - t0, rss))
            except psutil.Error:
                pass
            time.sleep(0.2)
    seconds = time.perf_counter() - t0
    err = err_file.read_text(errors="replace")
    if timeline:
        marks = []
        for q in (0.25, 0.5, 0.75, 0.95):
            _, rss_q = min(timeline, key=lambda x: abs(x[0] - q * seconds))
            marks.append(f"{int(q * 100)}%: {rss_q / 2**20:.0f}")
        print(f"    RSS MiB during the run ({', '.join(marks)})", flush=True)
    if proc.returncode != 0:
        raise SystemExit(f"vidihand reconstruct failed ({proc.returncode}):\n{err}")
    kernel = int(maxrss_file.read_text().split()[-1]) / 1024  # KiB from the kernel (wait4)
    return peak / 2**20, kernel, seconds


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--minutes", type=float, nargs="+", default=[1, 5, 10])
    ap.add_argument("--quick", action="store_true", help="0.5, 1 and 2 minutes")
    args = ap.parse_args()
    minutes = [0.5, 1, 2] if args.quick else args.minutes
    print(f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}; videos cached in {CACHE}")
    videos = {m: make_video(m) for m in minutes}
    with tempfile.TemporaryDirectory() as td:
        base_peak, _, base_s = measure(videos[minutes[0]], "0:1", Path(td) / "base.h5")
        print(f"baseline (1 frame, start-up only): peak RSS {base_peak:7.1f} MiB  ({base_s:.1f} s)")
        rows = []
        for m in minutes:
            peak, kernel, s = measure(videos[m], None, Path(td) / f"{m}.h5")
            n = int(round(m * 60 * 30))
            rows.append((m, peak, kernel, s, n))
            print(
                f"{m:5g} min ({n:6d} frames): peak RSS {peak:7.1f} MiB sampled, "
                f"{kernel:7.1f} MiB kernel high-water ; {s:6.0f} s ({n / s:5.1f} frames/s); "
                f"above baseline {peak - base_peak:6.1f} MiB",
                flush=True,
            )
    first, last = rows[0], rows[-1]
    # the kernel's high-water mark is exact; the 0.2 s samples sum processes and can count a
    # short-lived overlap twice, so they only cross-check it
    growth = last[2] - first[2]
    per_frame = growth * 2**20 / max(last[4] - first[4], 1)
    print(
        f"growth {first[0]:g} -> {last[0]:g} min: {growth:+.1f} MiB ({per_frame:.0f} bytes/frame; "
        f"the document's arrays alone are ~1.4 KB/frame); worst kernel peak {max(r[2] for r in rows):.0f} MiB "
        f"(target < 1024 MiB)"
    )


if __name__ == "__main__":
    main()
