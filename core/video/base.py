"""What every opened video offers, whatever it is read from: metadata (`VideoInfo`) and the
`VideoSource` interface (exact `frame(i)`, sequential `iter_frames`)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from core.errors import VideoReadError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
DEFAULT_IMAGE_FOLDER_FPS = 30.0


class FrameRangeError(VideoReadError, IndexError):
    """A frame index outside the frames the video offers (also an IndexError)."""


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
    #: False while a background index is still being built: n_frames and the timestamps past
    #: `n_indexed` are then estimates from the duration and the nominal frame rate
    index_complete: bool = True
    n_indexed: int = -1  #: frames whose timestamp is known exactly (-1: all of them)
    #: the file ends in damage: frames past it are not offered (n_frames counts the good ones)
    truncated: bool = False
    #: no timestamps in the stream (raw elementary stream): random access decodes from the start
    timestampless: bool = False

    def __post_init__(self) -> None:
        if self.n_indexed < 0:
            self.n_indexed = self.n_frames

    @property
    def duration(self) -> float:
        if self.n_frames == 0:
            return 0.0
        return float(self.timestamps[-1]) + 1.0 / self.fps

    @property
    def frame_bytes(self) -> int:
        """Bytes of one decoded RGB frame."""
        return self.width * self.height * 3

    def gop_summary(self) -> dict[str, float | int]:
        """Keyframe spacing: what makes random access cheap or expensive."""
        k = self.keyframes
        n = self.n_indexed
        if len(k) < 2:
            return {"keyframes": int(len(k)), "gop_mean": float(n), "gop_max": int(n)}
        d = np.diff(np.append(k, n))
        return {"keyframes": int(len(k)), "gop_mean": float(d.mean()), "gop_max": int(d.max())}


class VideoSource:
    """Common interface of a video file and an image folder. `frame` may be called from several
    threads at once (the GUI and a prefetch thread)."""

    info: VideoInfo

    def frame(self, index: int) -> np.ndarray:
        """Frame `index` as an (H, W, 3) uint8 RGB array (rotation applied). Read-only."""
        raise NotImplementedError

    def iter_frames(
        self, start: int = 0, stop: int | None = None
    ) -> Iterator[tuple[int, np.ndarray]]:
        """Yield (index, frame) for start <= index < stop, decoding sequentially."""
        raise NotImplementedError

    def cached(self, index: int) -> np.ndarray | None:
        """The frame if it is already decoded and cached, else None. Never blocks on decoding."""
        return None

    def decode_cost(self, index: int) -> int:
        """About how many frames `frame(index)` would decode now (0: cached or cheap). Formats
        without decoder state (image folders) read one image: 1."""
        return 0 if self.cached(index) is not None else 1

    def fork(self, threads: int | None = None) -> VideoSource:
        """Another handle on the same video that decodes independently (own decoder, shared
        index and cache): for a background thread that must not wait on the GUI's decoding.
        `threads`: the fork's decoding threads, where the format has any (default: as this)."""
        return self

    def close(self) -> None:
        pass

    def __enter__(self) -> VideoSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check_index(self, index: int) -> int:
        n = self.info.n_frames
        if not 0 <= index < n:
            hint = "Frame indices start at 0."
            if self.info.truncated:
                hint = (
                    f"The file is damaged after frame {n - 1}; frames past the damage cannot be "
                    "read. Re-copy or re-export the video to get them back."
                )
            raise FrameRangeError(f"frame {index} outside 0..{n - 1}", hint=hint)
        return int(index)
