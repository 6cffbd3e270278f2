"""Frame-exact video access: `open_video(path)` for video files (through PyAV) and folders of
images, returning a `VideoSource` with metadata (`.info`), exact random access (`.frame(i)`) and
fast sequential decoding (`.iter_frames(start, stop)`).

This module is the public entry point; the pieces live next to it: `base` (VideoInfo,
VideoSource), `index` (timestamp index), `decoder` (PyAV files), `images` (image folders),
`cache` (bounded frame cache), `prefetch` (decode-ahead thread), `proxy` (thumbnail strip).
See docs/video.md.
"""

from __future__ import annotations

import os
from pathlib import Path

from core.errors import VideoOpenError
from core.video.base import (
    DEFAULT_IMAGE_FOLDER_FPS,
    IMAGE_EXTENSIONS,
    FrameRangeError,
    VideoInfo,
    VideoSource,
)
from core.video.cache import DEFAULT_CACHE_BYTES, FrameCache
from core.video.decoder import DecodeInterrupted, PyAVVideo
from core.video.images import ImageFolderVideo, natural_key
from core.video.probe import check_plausible_video

_natural_key = natural_key  # older name, kept for callers

__all__ = [
    "DEFAULT_CACHE_BYTES",
    "DEFAULT_IMAGE_FOLDER_FPS",
    "IMAGE_EXTENSIONS",
    "DecodeInterrupted",
    "FrameCache",
    "FrameRangeError",
    "ImageFolderVideo",
    "PyAVVideo",
    "VideoInfo",
    "VideoSource",
    "open_video",
]


def open_video(
    path: str | os.PathLike[str],
    *,
    fps: float = DEFAULT_IMAGE_FOLDER_FPS,
    cache_bytes: int | None = None,
    index: str = "full",
) -> VideoSource:
    """Open a video file or an image folder; raises VideoOpenError with a helpful message.

    fps: frame rate given to an image folder. cache_bytes: bound of the decoded-frame cache.
    index: "full" builds the exact frame index before returning (exact n_frames at once, the
    default); "background" returns after decoding the first frame and indexes on a thread
    (hour-long videos in the app; see docs/video.md).
    """
    p = Path(path).expanduser()
    if p.is_dir():
        return ImageFolderVideo(
            p, fps=float(fps), **({"cache_bytes": cache_bytes} if cache_bytes else {})
        )
    if not p.exists():
        raise VideoOpenError(f"Video not found: {p}", hint="Check the path and try again.")
    check_plausible_video(p)  # raw streams must decode cleanly (core/video/probe.py)
    return PyAVVideo(p, cache_bytes=cache_bytes or DEFAULT_CACHE_BYTES, index=index)
