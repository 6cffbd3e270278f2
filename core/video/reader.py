"""Frame-exact video access through PyAV, and image folders read as videos.

`open_video(path)` returns a `VideoSource`: metadata (`VideoInfo`) plus `frame(i)` for exact
random access and `iter_frames(start, stop)` for fast sequential decoding.

Exactness: a demux-only pass (no decoding, milliseconds per minute of video) lists every
packet's presentation timestamp. Frame i is the i-th timestamp in presentation order. To show
frame i we seek back to the keyframe at or before it and decode forward until the decoder hands
out that exact timestamp, so B-frames, open GOPs and variable frame rates never shift a frame.
Memory is the index (16 bytes a frame) plus a small LRU cache of decoded frames.
"""

from __future__ import annotations

import bisect
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np

from core.errors import VideoOpenError, VideoReadError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
DEFAULT_IMAGE_FOLDER_FPS = 30.0


@dataclass
class VideoInfo:
    """Metadata of an opened video. Sizes are as displayed (after rotation)."""

    path: str
    n_frames: int
    fps: float
    width: int
    height: int
    rotation: int  #: degrees clockwise applied to decoded frames for display (0, 90, 180, 270)
    timestamps: np.ndarray  #: (n_frames,) float64 seconds from the first frame
    codec: str = ""
    is_image_folder: bool = False
    variable_frame_rate: bool = False
    keyframes: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))  #: frame indices
    bit_rate: int = 0
    pix_fmt: str = ""

    @property
    def duration(self) -> float:
        if self.n_frames == 0:
            return 0.0
        return float(self.timestamps[-1]) + 1.0 / self.fps

    def gop_summary(self) -> dict[str, float | int]:
        """Keyframe spacing: what makes random access cheap or expensive."""
        k = self.keyframes
        if len(k) < 2:
            gop = float(self.n_frames)
            return {"keyframes": int(len(k)), "gop_mean": gop, "gop_max": int(self.n_frames)}
        d = np.diff(np.append(k, self.n_frames))
        return {"keyframes": int(len(k)), "gop_mean": float(d.mean()), "gop_max": int(d.max())}


class FrameCache:
    """A small LRU cache of decoded frames, bounded in bytes."""

    def __init__(self, max_bytes: int = 256 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[int, np.ndarray] = OrderedDict()
        self._bytes = 0

    def get(self, index: int) -> np.ndarray | None:
        item = self._items.get(index)
        if item is not None:
            self._items.move_to_end(index)
        return item

    def put(self, index: int, frame: np.ndarray) -> None:
        if index in self._items:
            self._items.move_to_end(index)
            return
        self._items[index] = frame
        self._bytes += frame.nbytes
        while self._bytes > self.max_bytes and len(self._items) > 1:
            _, old = self._items.popitem(last=False)
            self._bytes -= old.nbytes

    def __contains__(self, index: int) -> bool:
        return index in self._items

    def clear(self) -> None:
        self._items.clear()
        self._bytes = 0


class VideoSource:
    """Common interface of a video file and an image folder."""

    info: VideoInfo

    def frame(self, index: int) -> np.ndarray:
        """Frame `index` as an (H, W, 3) uint8 RGB array (rotation applied). Read-only."""
        raise NotImplementedError

    def iter_frames(self, start: int = 0, stop: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """Yield (index, frame) for start <= index < stop, decoding sequentially."""
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self) -> VideoSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check_index(self, index: int) -> int:
        n = self.info.n_frames
        if not 0 <= index < n:
            raise IndexError(f"frame {index} outside 0..{n - 1}")
        return int(index)


# ------------------------------------------------------------------------------ video files
class PyAVVideo(VideoSource):
    """A video file decoded through PyAV with exact random access."""

    def __init__(self, path: str | os.PathLike[str], cache_bytes: int = 256 * 1024 * 1024) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        self._container = _open_container(self.path)
        try:
            self._stream = self._container.streams.video[0]
        except IndexError:
            self._container.close()
            raise VideoOpenError(
                f"{self.path.name} has no video stream.",
                hint="Choose a video file (mp4, mov, mkv, avi, webm ...) or a folder of images.",
            ) from None
        self._stream.thread_type = "AUTO"
        self._pts, key_pts = self._index()
        if len(self._pts) == 0:
            self._container.close()
            raise VideoOpenError(
                f"{self.path.name} contains no video frames.",
                hint="The file is empty or truncated; re-export or re-download it.",
            )
        self._pts_to_index = {int(p): i for i, p in enumerate(self._pts)}
        self._key_pts = sorted(set(key_pts) or {int(self._pts[0])})
        self.cache = FrameCache(cache_bytes)
        self._decoder: Iterator[av.VideoFrame] | None = None
        self._last_pts: int | None = None  # pts of the last frame the decoder handed out
        self.info = self._make_info()
        # decode the first frame now: an undecodable stream fails at open, not later
        try:
            self.frame(0)
        except VideoReadError as exc:
            self.close()
            raise VideoOpenError(
                f"{self.path.name}: the first frame cannot be decoded ({exc.message}).",
                hint="The codec may be unsupported or the file damaged; convert it with "
                "`ffmpeg -i IN -c:v libx264 OUT.mp4`.",
            ) from exc

    # ------------------------------------------------------------------ index
    def _index(self) -> tuple[np.ndarray, list[int]]:
        pts: list[int] = []
        key_pts: list[int] = []
        try:
            for packet in self._container.demux(self._stream):
                if packet.pts is None or packet.size == 0:
                    continue
                pts.append(int(packet.pts))
                if packet.is_keyframe:
                    key_pts.append(int(packet.pts))
        except av.error.FFmpegError:
            # a truncated tail: keep what was indexed; frames past the damage are not offered
            pass
        arr = np.unique(np.asarray(pts, dtype=np.int64))
        self._container.seek(0)  # rewind for decoding
        return arr, key_pts

    def _make_info(self) -> VideoInfo:
        s = self._stream
        tb = float(s.time_base) if s.time_base else 1.0 / 90000
        ts = (self._pts - self._pts[0]) * tb
        n = len(self._pts)
        if n > 1:
            d = np.diff(ts)
            vfr = bool(d.max() - d.min() > 0.5 * max(np.median(d), 1e-9))
        else:
            vfr = False
        rate = s.average_rate or s.guessed_rate
        if n > 1 and (vfr or not rate):
            fps = (n - 1) / float(ts[-1]) if ts[-1] > 0 else 30.0
        else:
            fps = float(rate) if rate else 30.0
        rot = _stream_rotation(s)
        cc = s.codec_context
        w, h = int(cc.width), int(cc.height)
        if rot in (90, 270):
            w, h = h, w
        keyframes = np.searchsorted(self._pts, np.asarray(self._key_pts, np.int64))
        return VideoInfo(
            path=str(self.path),
            n_frames=n,
            fps=float(fps),
            width=w,
            height=h,
            rotation=rot,
            timestamps=ts.astype(np.float64),
            codec=cc.name or "",
            variable_frame_rate=vfr,
            keyframes=keyframes.astype(np.int64),
            bit_rate=int(s.bit_rate or self._container.bit_rate or 0),
            pix_fmt=str(cc.pix_fmt or ""),
        )

    # ----------------------------------------------------------------- decode
    def _convert(self, frame: av.VideoFrame) -> np.ndarray:
        img = frame.to_ndarray(format="rgb24")
        r = self.info.rotation if hasattr(self, "info") else _stream_rotation(self._stream)
        if r:
            img = np.ascontiguousarray(np.rot90(img, k=-(r // 90)))
        img.flags.writeable = False
        return img

    def _seek_to(self, target_pts: int) -> None:
        k = bisect.bisect_right(self._key_pts, target_pts) - 1
        key = self._key_pts[max(k, 0)]
        self._container.seek(key, stream=self._stream, backward=True, any_frame=False)
        self._decoder = self._container.decode(self._stream)
        self._last_pts = None

    def _next_decoded(self) -> av.VideoFrame | None:
        assert self._decoder is not None
        try:
            return next(self._decoder)
        except StopIteration:
            return None
        except av.error.FFmpegError as exc:
            raise VideoReadError(
                f"{self.path.name} is damaged near {self._last_pts_time()}: {exc}",
                hint="Frames beyond the damage cannot be shown; re-encode the file.",
            ) from exc

    def _last_pts_time(self) -> str:
        if self._last_pts is None:
            return "the start"
        i = self._pts_to_index.get(self._last_pts)
        return f"frame {i}" if i is not None else "an unknown frame"

    def frame(self, index: int) -> np.ndarray:
        index = self._check_index(index)
        with self._lock:
            cached = self.cache.get(index)
            if cached is not None:
                return cached
            target = int(self._pts[index])
            if not self._can_continue_to(target):
                self._seek_to(target)
            for _attempt in range(2):
                found = self._decode_until(target)
                if found is not None:
                    return found
                # the decoder ran past or ended without the target (rare demuxer quirks):
                # restart from an earlier keyframe once
                k = bisect.bisect_right(self._key_pts, target) - 2
                self._container.seek(
                    self._key_pts[max(k, 0)], stream=self._stream, backward=True, any_frame=False
                )
                self._decoder = self._container.decode(self._stream)
                self._last_pts = None
            raise VideoReadError(
                f"{self.path.name}: frame {index} could not be decoded.",
                hint="The file may be damaged at this point; re-encode it.",
            )

    def _can_continue_to(self, target: int) -> bool:
        """True when decoding forward from where the decoder is reaches `target` sooner than a
        seek would (same GOP, target ahead)."""
        if self._decoder is None or self._last_pts is None or self._last_pts >= target:
            return False
        k = bisect.bisect_right(self._key_pts, target) - 1
        return self._key_pts[max(k, 0)] <= self._last_pts

    def _decode_until(self, target: int) -> np.ndarray | None:
        while True:
            frame = self._next_decoded()
            if frame is None:
                return None
            pts = frame.pts
            if pts is None:
                continue
            self._last_pts = int(pts)
            idx = self._pts_to_index.get(int(pts))
            if int(pts) == target:
                img = self._convert(frame)
                self.cache.put(idx, img)  # type: ignore[arg-type]
                return img
            if int(pts) > target:
                return None
            if idx is not None and idx + 8 > self._pts_to_index[target]:
                # frames just before the target are likely to be asked for next (stepping back)
                self.cache.put(idx, self._convert(frame))

    def iter_frames(self, start: int = 0, stop: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
        n = self.info.n_frames
        stop = n if stop is None else min(stop, n)
        if start >= stop:
            return
        start = self._check_index(start)
        with self._lock:
            self._seek_to(int(self._pts[start]))
            wanted = start
            while wanted < stop:
                frame = self._next_decoded()
                if frame is None:
                    raise VideoReadError(
                        f"{self.path.name} ended at frame {wanted} of {n}.",
                        hint="The file is truncated; frames after this one cannot be read.",
                    )
                if frame.pts is None:
                    continue
                self._last_pts = int(frame.pts)
                idx = self._pts_to_index.get(int(frame.pts))
                if idx is None or idx < wanted:
                    continue
                img = self._convert(frame)
                wanted = idx + 1
                yield idx, img

    def close(self) -> None:
        with self._lock:
            self._decoder = None
            self.cache.clear()
            self._container.close()


def _open_container(path: Path) -> av.container.InputContainer:
    if not path.exists():
        raise VideoOpenError(f"Video not found: {path}", hint="Check the path and try again.")
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
    except (av.error.InvalidDataError, av.error.FFmpegError, UnicodeDecodeError) as exc:
        raise VideoOpenError(
            f"{path.name} is not a readable video: it is corrupt, truncated or in a format FFmpeg "
            f"does not support ({exc}).",
            hint="Check that the file plays in a video player; re-export it as H.264 MP4 with "
            "`ffmpeg -i IN -c:v libx264 OUT.mp4`.",
        ) from exc


def _stream_rotation(stream: av.video.stream.VideoStream) -> int:
    """Display rotation in degrees clockwise (0, 90, 180, 270) from metadata or side data."""
    angle = 0.0
    meta = getattr(stream, "metadata", {}) or {}
    if "rotate" in meta:
        try:
            angle = float(meta["rotate"])
        except ValueError:
            angle = 0.0
    else:
        side = getattr(stream, "side_data", None)
        try:
            dm = side.get("DISPLAYMATRIX") if side is not None else None  # type: ignore[union-attr]
        except Exception:  # noqa: BLE001 - side data API differs across PyAV versions
            dm = None
        if dm is not None:
            try:
                # FFmpeg's display matrix angle is counter-clockwise
                angle = -float(dm)
            except (TypeError, ValueError):
                angle = 0.0
    return int(round(angle / 90.0)) % 4 * 90


# ----------------------------------------------------------------------------- image folders
def _natural_key(name: str) -> list[object]:
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)]


class ImageFolderVideo(VideoSource):
    """A folder of images, sorted by name (numbers in names compared as numbers)."""

    def __init__(self, folder: str | os.PathLike[str], fps: float = DEFAULT_IMAGE_FOLDER_FPS) -> None:
        from PIL import Image, UnidentifiedImageError

        self._Image = Image
        self.folder = Path(folder)
        files = sorted(
            (p for p in self.folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()),
            key=lambda p: _natural_key(p.name),
        )
        if not files:
            raise VideoOpenError(
                f"{self.folder} holds no images ({', '.join(IMAGE_EXTENSIONS)}).",
                hint="Choose a folder of frames or a video file.",
            )
        sizes: dict[tuple[int, int], list[str]] = {}
        for p in files:
            try:
                with Image.open(p) as im:
                    sizes.setdefault(im.size, []).append(p.name)
            except (UnidentifiedImageError, OSError) as exc:
                raise VideoOpenError(
                    f"{p.name} in {self.folder} is not a readable image ({exc}).",
                    hint="Remove or replace the damaged image.",
                ) from exc
        if len(sizes) > 1:
            desc = "; ".join(
                f"{w}x{h}: {len(names)} images (e.g. {names[0]})" for (w, h), names in sizes.items()
            )
            raise VideoOpenError(
                f"The images in {self.folder} have different sizes ({desc}).",
                hint="All frames of a video must have one size; resize or separate them.",
            )
        (w, h) = next(iter(sizes))
        self.files = files
        self.cache = FrameCache(128 * 1024 * 1024)
        n = len(files)
        self.info = VideoInfo(
            path=str(self.folder),
            n_frames=n,
            fps=float(fps),
            width=int(w),
            height=int(h),
            rotation=0,
            timestamps=np.arange(n, dtype=np.float64) / fps,
            codec="images",
            is_image_folder=True,
            keyframes=np.arange(n, dtype=np.int64),
        )

    def frame(self, index: int) -> np.ndarray:
        index = self._check_index(index)
        cached = self.cache.get(index)
        if cached is not None:
            return cached
        try:
            with self._Image.open(self.files[index]) as im:
                img = np.asarray(im.convert("RGB"))
        except OSError as exc:
            raise VideoReadError(
                f"{self.files[index].name} cannot be read ({exc}).",
                hint="Replace the damaged image.",
            ) from exc
        if img.shape[:2] != (self.info.height, self.info.width):
            raise VideoReadError(
                f"{self.files[index].name} changed size while open.", hint="Reopen the folder."
            )
        img.flags.writeable = False
        self.cache.put(index, img)
        return img

    def iter_frames(self, start: int = 0, stop: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
        stop = self.info.n_frames if stop is None else min(stop, self.info.n_frames)
        for i in range(start, stop):
            yield i, self.frame(i)


def open_video(path: str | os.PathLike[str], **kwargs: object) -> VideoSource:
    """Open a video file or an image folder; raises VideoOpenError with a helpful message."""
    p = Path(path).expanduser()
    if p.is_dir():
        fps = kwargs.get("fps", DEFAULT_IMAGE_FOLDER_FPS)
        return ImageFolderVideo(p, fps=float(fps))  # type: ignore[arg-type]
    return PyAVVideo(p)
