"""Cost of drawing the 2D overlay (core/render/overlay.py) on a frame: two hands' skeletons
(what the video pane draws on every step) and their meshes (the mesh overlay and the HTML
report's images), at 640x480 and 1920x1080.

Baseline in the same run: decoding one frame of a generated clip of the same size (sequential
decode, the cheapest way to get the frame the overlay goes on), so the figures read as "the
overlay costs X frames' decoding". Expected at 640x480 (the loose bounds tests/core/
test_render_overlay.py asserted before speed moved here): skeletons under 100 ms, meshes under 1 s.

    python bench/bench_overlay.py [--repeats 20] [--quick]
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

from core.camera import project  # noqa: E402
from core.hands.simple_mesh import SIMPLE_HAND_FACES, simple_hand_mesh  # noqa: E402
from core.hands.skeleton import RELAXED_FINGERS, hand_joints  # noqa: E402
from core.labels.document import default_intrinsics  # noqa: E402
from core.labels.joints import LEFT, RIGHT  # noqa: E402
from core.render.overlay import Mesh, draw_hands, draw_meshes  # noqa: E402
from core.video.reader import open_video  # noqa: E402
from core.video.synth import write_clip  # noqa: E402


def two_hands(z: float = 0.4) -> np.ndarray:
    rot = np.array([[np.pi, 0, 0.3], [np.pi, 0, -0.3]])
    tr = np.array([[-0.1, 0.06, z], [0.1, 0.06, z]])
    return np.stack([hand_joints(rot[h], tr[h], RELAXED_FINGERS, side=h) for h in (LEFT, RIGHT)])


def median_ms(fn, repeats: int) -> float:  # noqa: ANN001
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1000 * statistics.median(times)


def measure(width: int, height: int, repeats: int, folder: Path) -> dict[str, float]:
    k = default_intrinsics(width, height)
    joints = two_hands()
    uv = project(joints, k)
    meshes = [Mesh(simple_hand_mesh(joints[h]), SIMPLE_HAND_FACES) for h in (LEFT, RIGHT)]
    clip = write_clip(folder / f"clip_{width}x{height}.mp4", n_frames=repeats + 2, width=width,
                      height=height, gop=30)  # fmt: skip
    with open_video(clip) as video:
        frames = iter(range(repeats + 2))
        decode = median_ms(lambda: video.frame(next(frames)), repeats)
        img = video.frame(0)
    skeleton = median_ms(lambda: draw_hands(img.copy(), uv), repeats)
    mesh = median_ms(lambda: draw_meshes(img, meshes, k), max(3, repeats // 4))
    return {"decode": decode, "skeleton": skeleton, "mesh": mesh}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--quick", action="store_true", help="5 repeats")
    args = ap.parse_args()
    repeats = 5 if args.quick else args.repeats
    with tempfile.TemporaryDirectory() as tmp:
        for w, h in ((640, 480), (1920, 1080)):
            r = measure(w, h, repeats, Path(tmp))
            print(
                f"[{w}x{h}] decode one frame (baseline) {r['decode']:.1f} ms | "
                f"skeleton {r['skeleton']:.1f} ms ({r['skeleton'] / r['decode']:.2f}x decode, "
                f"{1000 / r['skeleton']:.0f} frames/s) | meshes {r['mesh']:.1f} ms "
                f"({r['mesh'] / r['decode']:.1f}x decode, {1000 / r['mesh']:.1f} frames/s)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
