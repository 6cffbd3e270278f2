"""A folder of images read as a video: frames sorted by name, numbers compared as numbers
(frame_2 before frame_10), all of one size."""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from core.errors import VideoOpenError, VideoReadError
from core.video.base import DEFAULT_IMAGE_FOLDER_FPS, IMAGE_EXTENSIONS, VideoInfo, VideoSource
from core.video.cache import FrameCache

#: largest image accepted as a frame (8K UHD is 33 Mpixels)
MAX_FRAME_PIXELS = 80_000_000


def natural_key(name: str) -> list[object]:
    """Sort key that compares runs of digits as numbers: img2 < img10."""
    return [(0, int(t)) if t.isdigit() else (1, t.lower()) for t in re.split(r"(\d+)", name) if t]


def list_images(folder: Path) -> list[Path]:
    """Image files of `folder` in natural order (hidden files skipped)."""
    return sorted(
        (
            p
            for p in folder.iterdir()
            if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file() and not p.name.startswith(".")
        ),
        key=lambda p: natural_key(p.name),
    )


class ImageFolderVideo(VideoSource):
    """A folder of images, sorted by name (numbers in names compared as numbers)."""

    def __init__(
        self,
        folder: str | os.PathLike[str],
        fps: float = DEFAULT_IMAGE_FOLDER_FPS,
        cache_bytes: int = 128 * 1024 * 1024,
    ) -> None:
        from PIL import Image, UnidentifiedImageError

        self._Image = Image
        self.folder = Path(folder)
        try:
            files = list_images(self.folder)
        except OSError as exc:
            raise VideoOpenError(
                f"Cannot list {self.folder} ({exc}).", hint="Check the folder's permissions."
            ) from exc
        if not files:
            raise VideoOpenError(
                f"{self.folder} holds no images ({', '.join(IMAGE_EXTENSIONS)}).",
                hint="Choose a folder of frames or a video file.",
            )
        sizes: dict[tuple[int, int], list[str]] = {}
        for p in files:
            try:
                with warnings.catch_warnings():
                    # PIL warns above 89 Mpixels and raises above 179: both are refused here
                    warnings.simplefilter("error", Image.DecompressionBombWarning)
                    with Image.open(p) as im:
                        size = im.size
            except (Image.DecompressionBombError, Image.DecompressionBombWarning):
                size = (0, 0)
            except (UnidentifiedImageError, OSError) as exc:
                raise VideoOpenError(
                    f"{p.name} in {self.folder} is not a readable image ({exc}).",
                    hint="Remove or replace the damaged image.",
                ) from exc
            if size == (0, 0) or size[0] * size[1] > MAX_FRAME_PIXELS:
                desc = "over 89 Mpixels" if size == (0, 0) else f"{size[0]}x{size[1]} pixels"
                raise VideoOpenError(
                    f"{p.name} in {self.folder} is too large to be a video frame ({desc}; at "
                    f"most {MAX_FRAME_PIXELS // 1_000_000} Mpixels).",
                    hint="Remove it from the folder, or scale the images down.",
                )
            sizes.setdefault(size, []).append(p.name)
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
        self.cache = FrameCache(cache_bytes)
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

    def cached(self, index: int) -> np.ndarray | None:
        return self.cache.get(index)

    def fork(self, threads: int | None = None) -> ImageFolderVideo:
        # reading images keeps no decoder state: the same object serves every thread
        return self

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

    def iter_frames(
        self, start: int = 0, stop: int | None = None
    ) -> Iterator[tuple[int, np.ndarray]]:
        stop = self.info.n_frames if stop is None else min(stop, self.info.n_frames)
        for i in range(start, stop):
            yield i, self.frame(i)
