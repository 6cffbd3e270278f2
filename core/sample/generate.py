"""Write the project's sample: a video of two moving hands and its exact ground truth.

`make_sample(out_dir)` renders `sample.mp4` (H.264, yuv420p, PyAV) from the known motion in
`core.sample.motion` and writes `sample_gt.h5` (schema v1) with the exact joints: 3D from the
motion, 2D their projection with K. A hand is present on a frame when at least
`MIN_VISIBLE_PIXELS` of its mesh are in the image; absent frames have NaN joints. MANO fields
are NaN (the sample is not made with MANO). `ensure_sample()` keeps one copy in the user's data
folder and regenerates it only when it is missing, damaged or from an older generator.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from core.camera import project
from core.labels.document import LabelDocument, Source, VideoMeta, default_intrinsics
from core.sample.motion import sample_motion
from core.sample.scene import background_texture, pan_offsets, render_frame

#: bump when the sample's content changes: ensure_sample() then regenerates it
GENERATOR_VERSION = 2
VIDEO_NAME = "sample.mp4"
GT_NAME = "sample_gt.h5"
BACKEND_NAME = "sample-ground-truth"
#: a hand with fewer visible pixels than this counts as not present
MIN_VISIBLE_PIXELS = 40


def make_sample(
    out_dir: str | os.PathLike[str],
    seconds: float = 6.0,
    fps: int = 30,
    size: tuple[int, int] = (640, 480),
    seed: int = 0,
) -> tuple[Path, Path]:
    """Render the sample into out_dir; returns (video_path, gt_path). Deterministic for a seed."""
    import av

    from core.io.labels_h5 import save_labels
    from core.video.hashing import video_sha256

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    width, height = int(size[0]), int(size[1])
    if width % 2 or height % 2:
        raise ValueError(f"size must be even for yuv420p, got {width}x{height}")
    n = int(round(seconds * fps))
    K = default_intrinsics(width, height)
    rng = np.random.default_rng(seed + 1000)
    motion = sample_motion(n, fps, seed)
    joints = motion.joints()  # (T, 2, 21, 3)
    texture = background_texture(width, height, rng)
    offsets = pan_offsets(n, fps, rng)

    present = np.zeros((n, 2), bool)
    video_path = out / VIDEO_NAME
    fd, tmp_name = tempfile.mkstemp(prefix=".sample-", suffix=".mp4", dir=out)
    os.close(fd)
    try:
        with av.open(tmp_name, "w", format="mp4") as container:
            stream = container.add_stream("libx264", rate=fps)
            stream.width, stream.height = width, height
            stream.pix_fmt = "yuv420p"
            # keyframe every second, B-frames on: seeking is exercised as on camera files
            stream.options = {
                "crf": "20",
                "preset": "veryfast",
                "g": str(fps),
                "bf": "2",
                # one x264 thread, lookahead included: frame threads make the
                # bitstream depend on scheduling (seen differ under load)
                "threads": "1",
                "lookahead_threads": "1",
                "sliced_threads": "0",
            }
            stream.codec_context.thread_count = 1  # byte-identical output for a seed
            for i in range(n):
                ox, oy = offsets[i]
                bg = texture[oy : oy + height, ox : ox + width]
                frame = render_frame(bg, joints[i], K)
                present[i] = frame.visible_pixels >= MIN_VISIBLE_PIXELS
                vf = av.VideoFrame.from_ndarray(frame.image, format="rgb24")
                for packet in stream.encode(vf):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
        os.chmod(tmp_name, 0o644)  # mkstemp makes it private; the sample is an ordinary file
        os.replace(tmp_name, video_path)
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)

    doc = ground_truth_document(joints, present, K, fps, width, height)
    doc.meta.video_sha256 = video_sha256(video_path)
    doc.meta.video_path = str(video_path)
    doc.extras["sample"] = {
        "generator_version": GENERATOR_VERSION,
        "seed": int(seed),
        "seconds": float(seconds),
        "size": [width, height],
        "present_rule": f"at least {MIN_VISIBLE_PIXELS} pixels of the hand mesh in the image",
    }
    gt_path = save_labels(doc, out / GT_NAME)
    return video_path, gt_path


def ground_truth_document(
    joints: np.ndarray, present: np.ndarray, K: np.ndarray, fps: float, width: int, height: int
) -> LabelDocument:
    """A label document holding exact joints (T, 2, 21, 3) where `present` (T, 2)."""
    n = joints.shape[0]
    doc = LabelDocument(VideoMeta(n_frames=n, fps=float(fps), width=width, height=height), K)
    doc.backend, doc.backend_version = BACKEND_NAME, str(GENERATOR_VERSION)
    for h in (0, 1):
        j3 = np.where(present[:, h, None, None], joints[:, h], np.nan).astype(np.float32)
        # 2D from the stored float32 3D so that the file is self-consistent to float precision
        j2 = project(j3.astype(np.float64), K).astype(np.float32)
        doc.write(
            h,
            slice(None),
            {
                "present": present[:, h],
                "confidence": present[:, h].astype(np.float32),
                "joints_3d": j3,
                "joints_2d": j2,
                "source": np.full(n, int(Source.IMPORTED), np.uint8),
            },
            notify=False,
        )
    doc.dirty = False
    return doc


def ensure_sample(
    out_dir: str | os.PathLike[str] | None = None,
    *,
    seconds: float = 6.0,
    size: tuple[int, int] = (640, 480),
    seed: int = 0,
) -> tuple[Path, Path]:
    """The sample in `core.paths.data_dir()/sample` (or out_dir): generated on first use,
    reused while the video and its ground truth are present, match each other and were made
    by this generator with these settings."""
    from core.paths import data_dir

    folder = Path(out_dir) if out_dir is not None else data_dir() / "sample"
    video, gt = folder / VIDEO_NAME, folder / GT_NAME
    wanted = {"seconds": float(seconds), "size": [int(size[0]), int(size[1])], "seed": int(seed)}
    if _valid(video, gt, wanted):
        return video, gt
    return make_sample(folder, seconds=seconds, size=size, seed=seed)


def _valid(video: Path, gt: Path, wanted: dict) -> bool:
    if not (video.is_file() and gt.is_file()):
        return False
    from core.errors import VidihandError
    from core.io.labels_h5 import load_labels
    from core.video.hashing import video_sha256

    try:
        doc = load_labels(gt)
        info = doc.extras.get("sample", {})
        return (
            info.get("generator_version") == GENERATOR_VERSION
            and all(info.get(k) == v for k, v in wanted.items())
            and doc.meta.video_sha256 == video_sha256(video)
        )
    except (VidihandError, OSError):
        return False
