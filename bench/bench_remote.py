"""Throughput of a reconstruction through an SSH tunnel against the same run locally.

Same backend (mediapipe, CPU), same video and frames. The remote run is the real thing on one
machine: a `vidihand serve` process, a throwaway sshd on loopback (core/remote/sshd.py) and the
client's own `ssh -N -L` tunnel; it includes the upload, the job start and the server's model load,
as the local run includes its model load. Prints frames/s of both, their ratio (goal >= 0.9) and
the time to the first result.

    .venv/bin/python bench/bench_remote.py [--quick] [--frames A:B] [--rounds N]
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.labels.document import FrameBatch  # noqa: E402
from core.recon.base import frames_range  # noqa: E402
from core.recon.registry import create_backend  # noqa: E402
from core.remote.backend import ConnectionState, RemoteReconstructor  # noqa: E402
from core.remote.sshd import LocalSshd, sshd_binary  # noqa: E402
from core.remote.tunnel import free_port  # noqa: E402
from core.video.hashing import video_sha256  # noqa: E402
from core.video.reader import open_video  # noqa: E402

DEMO3 = ROOT.parent / "shared" / "data" / "dyn-hamr" / "demo3.mp4"


def timed_run(make_backend, video_path: Path, frames: range) -> tuple[float, float, FrameBatch]:
    """(seconds to the first batch, total seconds, all results) from backend creation on."""
    t0 = time.perf_counter()
    first = None
    batches = []
    with open_video(video_path) as video, make_backend() as backend:
        K = np.array([[1280.0, 0, 639.5], [0, 1280.0, 359.5], [0, 0, 1]])
        for batch in backend.reconstruct(video, frames, K):
            if first is None:
                first = time.perf_counter() - t0
            batches.append(batch)
    return first or 0.0, time.perf_counter() - t0, FrameBatch.concat(batches)


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true", help="150 frames, one round")
    ap.add_argument("--frames", help="frame range A:B (default 0:500, quick 0:150)")
    ap.add_argument(
        "--rounds", type=int, help="alternating local/remote rounds, best of each (default 2)"
    )
    ap.add_argument("--video", type=Path, default=DEMO3)
    ap.add_argument(
        "--isolation",
        choices=("process", "thread"),
        default="process",
        help="the server's job isolation (default process, as `vidihand serve`)",
    )
    args = ap.parse_args()
    if sshd_binary() is None:
        print("OpenSSH (sshd, ssh, ssh-keygen) is not installed: cannot run the tunnel benchmark")
        return 1
    with open_video(args.video) as v:
        frames = frames_range(args.frames or ("0:150" if args.quick else None), v.info.n_frames)
    rounds = args.rounds or (1 if args.quick else 2)
    video_sha256(args.video)  # hash once up front, as a client that opened the video has
    print(
        f"video {args.video.name}, frames {frames.start}:{frames.stop} ({len(frames)}), backend mediapipe, "
        f"server isolation {args.isolation}, "
        f"{rounds} round(s)"
    )

    with tempfile.TemporaryDirectory(prefix="bench-remote-") as tmp_name:
        tmp = Path(tmp_name)
        token = tmp / "token"
        token.write_text("bench-token\n")
        token.chmod(0o600)  # vidihand serve refuses a token file others can read
        port = free_port()
        serve = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "core.cli.main",
                "serve",
                "--port",
                str(port),
                "--token-file",
                str(token),
                "--jobs-dir",
                str(tmp / "jobs"),
                "--isolation",
                args.isolation,
                *(["--preload", "mediapipe"] if args.isolation == "thread" else []),
            ],
            cwd=ROOT,
            stderr=subprocess.DEVNULL,
        )
        sshd = LocalSshd(tmp / "sshd")
        try:
            local, remote = [], []
            reference = None
            for r in range(rounds):
                lf, lt, lres = timed_run(lambda: create_backend("mediapipe"), args.video, frames)
                local.append((lf, lt))
                print(
                    f"round {r + 1} local : first result {lf:6.2f} s, total {lt:6.2f} s, {len(frames) / lt:6.1f} frames/s"
                )
                events: list[tuple[float, str]] = []

                def make_remote(events=events):
                    tunnel = sshd.tunnel(port)
                    return RemoteReconstructor(
                        tunnel,
                        "bench-token",
                        "mediapipe",
                        reuse=False,
                        on_message=lambda m: (
                            events.append((time.perf_counter(), m.state))
                            if isinstance(m, ConnectionState)
                            else None
                        ),
                    )

                t0 = time.perf_counter()
                rf, rt, rres = timed_run(make_remote, args.video, frames)
                remote.append((rf, rt))
                up = [t for t, s in events if s == "uploading"]
                upload = (
                    (
                        next((t for t, s in events if s == "connected" and up and t > up[0]), t0)
                        - up[0]
                    )
                    if up
                    else 0.0
                )
                print(
                    f"round {r + 1} remote: first result {rf:6.2f} s, total {rt:6.2f} s, {len(frames) / rt:6.1f} frames/s"
                    f"  (upload + job start {upload:.2f} s)"
                )
                reference = reference or lres
                same = all(
                    np.array_equal(rres.to_dict()[k], lres.to_dict()[k], equal_nan=True)
                    for k in lres.to_dict()
                )
                print(f"          remote results equal local: {same}")
            best_l = min(t for _, t in local)
            best_r = min(t for _, t in remote)
            ratio = best_l / best_r
            print()
            print(f"throughput local  {len(frames) / best_l:6.1f} frames/s (best of {rounds})")
            print(
                f"throughput remote {len(frames) / best_r:6.1f} frames/s through the SSH tunnel (best of {rounds})"
            )
            print(f"ratio remote/local {ratio:.3f} (goal >= 0.9)")
            print(
                f"time to first result: local {min(f for f, _ in local):.2f} s, remote {min(f for f, _ in remote):.2f} s"
            )
        finally:
            sshd.close()
            serve.terminate()
            serve.wait(10)
    return 0


if __name__ == "__main__":
    print(shlex.join(sys.argv))
    sys.exit(main())
