"""Quirks of real files, found at open: truncated tails, AVI's guessed timestamps, and the
errors for files that cannot be opened at all (each with a message and a hint)."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

from core.errors import VideoOpenError
from core.video.index import IndexState


def guessed_pts(container: av.container.InputContainer) -> bool:
    """AVI stores no presentation timestamps: FFmpeg guesses them, wrongly with B-frames."""
    return "avi" in str(getattr(container.format, "name", "")).split(",")


def ordinal_if_reordered(
    path: Path, stream_index: int, state: IndexState, probe: int = 300
) -> IndexState:
    """Decode the first frames; if their timestamps come out of order (guessed pts with
    B-frames), the pts cannot locate frames: fall back to output order (timestampless)."""
    last = None
    with av.open(str(path), metadata_errors="ignore") as c:
        s = c.streams[stream_index]
        try:
            for n, f in enumerate(c.decode(s)):
                if f.pts is not None:
                    if last is not None and f.pts < last:
                        n_frames = len(state.pts)
                        span = float((state.pts[-1] - state.pts[0]) * s.time_base)
                        fps = (n_frames - 1) / span if span > 0 else 0.0
                        return IndexState(
                            pts=np.arange(n_frames, dtype=np.int64),
                            key_pts=np.zeros(1, np.int64),
                            complete=state.complete,
                            timestampless=True,
                            error=state.error,
                            packets=state.packets,
                            extra={"fps": fps} if fps > 0 else {},
                        )
                    last = f.pts
                if n >= probe:
                    break
        except av.error.FFmpegError:
            pass
    return state


def verify_tail(path: Path, stream_index: int, state: IndexState) -> IndexState:
    """For a file that looks truncated: decode its last GOPs and drop every indexed frame from
    the first one that does not decode on."""
    pts, keys = state.pts, state.key_pts
    if state.timestampless:
        return state
    for k in range(len(keys) - 1, max(len(keys) - 5, -1), -1):
        key = int(keys[k])
        got: set[int] = set()
        try:
            with av.open(str(path), metadata_errors="ignore") as c:
                s = c.streams[stream_index]
                c.seek(key, stream=s, backward=True, any_frame=False)
                for f in c.decode(s):
                    if f.pts is not None:
                        got.add(int(f.pts))
        except av.error.FFmpegError:
            pass
        tail = pts[pts >= key]
        if len(tail) and int(tail[0]) in got:
            ok = np.asarray([int(p) in got for p in tail])
            n_ok = int(np.argmin(ok)) if not ok.all() else len(tail)
            good = np.concatenate([pts[pts < key], tail[:n_ok]])
            break
    else:
        good = pts[pts < int(keys[max(len(keys) - 5, 0)])] if len(keys) else pts[:0]
    return IndexState(
        pts=good,
        key_pts=keys[keys <= (good[-1] if len(good) else -(2**62))],
        complete=True,
        suspect_tail=False,
        error=state.error or "truncated",
        packets=state.packets,
    )


def open_container(path: Path) -> av.container.InputContainer:
    if not path.exists():
        raise VideoOpenError(f"Video not found: {path}", hint="Check the path and try again.")
    if path.is_dir():
        raise VideoOpenError(f"{path} is a folder.", hint="Open it as an image folder.")
    if path.stat().st_size == 0:
        raise VideoOpenError(
            f"{path.name} is empty (0 bytes).",
            hint="The copy or download did not finish; copy the video again.",
        )
    try:
        return av.open(str(path), mode="r", metadata_errors="ignore")
    except av.error.FileNotFoundError as exc:
        raise VideoOpenError(f"Video not found: {path}", hint="Check the path.") from exc
    except av.error.PermissionError as exc:
        raise VideoOpenError(
            f"No permission to read {path}.", hint="Check the file's permissions."
        ) from exc
    except PermissionError as exc:
        raise VideoOpenError(
            f"No permission to read {path}.", hint="Check the file's permissions."
        ) from exc
    except (av.error.FFmpegError, UnicodeDecodeError, OSError) as exc:
        raise VideoOpenError(
            f"{path.name} is not a readable video: it is corrupt, truncated or in a format FFmpeg "
            f"does not support ({exc}).",
            hint="Check that the file plays in a video player; re-export it as H.264 MP4 with "
            "`ffmpeg -i IN -c:v libx264 OUT.mp4`.",
        ) from exc
