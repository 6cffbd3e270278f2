"""What a batch worker runs: plain functions, independent of Ray so that they can be tested and
called directly. They never raise: failures come back as an `error` string, so that one bad
video cannot take a worker or the run down and no exception has to cross process boundaries."""

from __future__ import annotations

import os
import time
import traceback
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.errors import VidihandError


@dataclass
class VideoProbe:
    """What the driver needs to know about a video before planning it."""

    path: str
    n_frames: int = 0
    fps: float = 0.0
    width: int = 0
    height: int = 0
    sha256: str = ""
    error: str | None = None


def describe_error(exc: BaseException) -> str:
    """One or two lines for summary.json: the message and hint of our errors, else the type."""
    if isinstance(exc, VidihandError):
        return exc.message + (f" ({exc.hint})" if exc.hint else "")
    return f"{type(exc).__name__}: {exc}".strip()


def probe_video(path: str | os.PathLike[str]) -> VideoProbe:
    """Open the video (index only) and hash it; errors become `VideoProbe.error`."""
    from core.video.hashing import video_sha256
    from core.video.reader import open_video

    try:
        with open_video(path) as video:
            info = video.info
            probe = VideoProbe(str(path), info.n_frames, info.fps, info.width, info.height)
        probe.sha256 = video_sha256(path)
        return probe
    except Exception as exc:  # noqa: BLE001 - reported per video, never fatal to the run
        return VideoProbe(str(path), error=describe_error(exc))


def run_chunk(
    path: str,
    run: tuple[int, int],
    keep: tuple[int, int],
    backend: str,
    options: dict[str, Any],
    K: np.ndarray,
) -> dict[str, Any]:
    """Reconstruct frames `run` of `path` and return the results for frames `keep`.

    Returns {"batch": FrameBatch fields as arrays, "backend", "version", "seconds", "error"}.
    """
    from core.batch.plan import keep_rows
    from core.labels.document import FrameBatch
    from core.recon.base import stream_reconstruction
    from core.recon.registry import create_backend
    from core.video.reader import open_video

    t0 = time.perf_counter()
    try:
        with open_video(path) as video, create_backend(backend, **options) as recon:
            parts = [
                keep_rows(b, range(*keep))
                for b, _progress in stream_reconstruction(recon, video, range(*run), K)
            ]
            batch = FrameBatch.concat([p for p in parts if len(p)]) if parts else None
            if batch is None or len(batch) != keep[1] - keep[0]:
                got = 0 if batch is None else len(batch)
                raise VidihandError(
                    f"the backend returned {got} of the {keep[1] - keep[0]} frames "
                    f"{keep[0]}:{keep[1]}."
                )
            return {
                "batch": batch.to_dict(),
                "backend": recon.name,
                "version": recon.version,
                "seconds": time.perf_counter() - t0,
                "error": None,
            }
    except Exception as exc:  # noqa: BLE001 - reported per video
        detail = describe_error(exc)
        if not isinstance(exc, VidihandError):
            detail += "\n" + "".join(traceback.format_exception(exc)[-3:])
        return {"batch": None, "seconds": time.perf_counter() - t0, "error": detail}
