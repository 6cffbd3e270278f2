"""Training data: windows of frames at the model's input size with their two-hand targets.

Sources:
- `LabelVideoDataset`: the project's own HDF5 labels plus their video (so corrected labels
  exported from the app feed training directly).
- `Hot3dDataset` / `ArcticDataset` (core/recon/vidihand/datasets_ext.py): the public datasets'
  layouts, read into the same `Targets` arrays.

Every source yields `Window`s: frames (T, H, W, 3) uint8 resized to the model size, K scaled
with them, and per frame and hand the targets (NaN where unknown).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from core.errors import LabelFileError
from core.labels.joints import N_JOINTS
from core.recon.vidihand.config import ViDiHandConfig
from core.recon.vidihand.geometry import scale_intrinsics, scale_points

if TYPE_CHECKING:  # torch is imported where tensors are made
    import torch


@dataclass
class Targets:
    """Per-frame, per-hand targets (T, 2, ...); NaN where unknown."""

    present: np.ndarray  # (T, 2) bool
    joints_3d: np.ndarray  # (T, 2, 21, 3)
    joints_2d: np.ndarray  # (T, 2, 21, 2) pixels of the frames they go with
    global_orient: np.ndarray  # (T, 2, 3)
    hand_pose: np.ndarray  # (T, 2, 45)
    betas: np.ndarray  # (T, 2, 10)
    transl: np.ndarray  # (T, 2, 3)

    @classmethod
    def unknown(cls, n: int) -> Targets:
        nan = np.float32(np.nan)
        return cls(
            present=np.zeros((n, 2), bool),
            joints_3d=np.full((n, 2, N_JOINTS, 3), nan, np.float32),
            joints_2d=np.full((n, 2, N_JOINTS, 2), nan, np.float32),
            global_orient=np.full((n, 2, 3), nan, np.float32),
            hand_pose=np.full((n, 2, 45), nan, np.float32),
            betas=np.full((n, 2, 10), nan, np.float32),
            transl=np.full((n, 2, 3), nan, np.float32),
        )

    def slice(self, a: int, b: int) -> Targets:
        return Targets(**{k: v[a:b] for k, v in vars(self).items()})

    def scaled_2d(self, sx: float, sy: float) -> Targets:
        out = Targets(**dict(vars(self)))
        out.joints_2d = scale_points(self.joints_2d, sx, sy).astype(np.float32)
        return out


@dataclass
class Window:
    frames: np.ndarray  # (T, H, W, 3) uint8 at model size
    K: np.ndarray  # (3, 3) at model size
    targets: Targets  # 2D targets at model size
    key: tuple = ()  #: identifies the window (source, start): lets training cache its latents


def resize_frame(img: np.ndarray, width: int, height: int) -> np.ndarray:
    """Area-averaged resize of an RGB uint8 frame (torch, antialiased bilinear)."""
    import torch
    import torch.nn.functional as F

    if img.shape[:2] == (height, width):
        return np.ascontiguousarray(img)
    x = torch.from_numpy(np.array(img, copy=True)).permute(2, 0, 1)[None].float()
    y = F.interpolate(x, size=(height, width), mode="bilinear", antialias=True, align_corners=False)
    return y[0].permute(1, 2, 0).round().clamp(0, 255).to(torch.uint8).numpy()


class FrameSource:
    """Frames by index from a video (PyAV reader) or a list of image files, resized and cached."""

    def __init__(self, width: int, height: int, video: str | Path | None = None,
                 images: list[Path] | None = None) -> None:  # fmt: skip
        self.width, self.height = width, height
        self.images = images
        self._video = None
        if video is not None:
            from core.video.reader import open_video

            self._video = open_video(video)
            self.n_frames = self._video.info.n_frames
            self.size = (self._video.info.width, self._video.info.height)
        elif images:
            from PIL import Image

            with Image.open(images[0]) as im:
                self.size = im.size
            self.n_frames = len(images)
        else:
            raise LabelFileError("A training source needs a video or image files.")
        self._cache: dict[int, np.ndarray] = {}

    def get(self, index: int) -> np.ndarray:
        if index not in self._cache:
            if self._video is not None:
                img = self._video.frame(index)
            else:
                from PIL import Image

                assert self.images is not None  # no video: the source was built from images
                with Image.open(self.images[index]) as im:
                    img = np.asarray(im.convert("RGB"))
            self._cache[index] = resize_frame(img, self.width, self.height)
        return self._cache[index]

    def window(self, start: int, n: int) -> np.ndarray:
        return np.stack([self.get(i) for i in range(start, start + n)])

    def preload(self, start: int, stop: int, max_bytes: int = 1 << 30) -> None:
        """Decode frames start..stop-1 sequentially (much faster than seeking) when they fit."""
        if (stop - start) * self.width * self.height * 3 > max_bytes:
            return
        if self._video is not None:
            for i, img in self._video.iter_frames(start, stop):
                if i not in self._cache:
                    self._cache[i] = resize_frame(img, self.width, self.height)
        else:
            for i in range(start, stop):
                self.get(i)


class SequenceDataset:
    """A sequence of frames with targets and one camera: random windows of T frames."""

    def __init__(self, frames: FrameSource, targets: Targets, K: np.ndarray, cfg: ViDiHandConfig,
                 name: str = "", span: tuple[int, int] | None = None) -> None:  # fmt: skip
        self.frames, self.cfg, self.name = frames, cfg, name
        n = frames.n_frames
        self.first, self.stop = (0, n) if span is None else (max(0, span[0]), min(n, span[1]))
        if len(targets.present) != n:
            raise LabelFileError(
                f"{name}: {len(targets.present)} frames of labels for {n} frames of video.",
                hint="Labels and video must cover the same frames.",
            )
        W, H = frames.size
        sx, sy = cfg.width / W, cfg.height / H
        self.targets = targets.scaled_2d(sx, sy)
        self.K = scale_intrinsics(K, sx, sy)
        self.n_frames = n

    def __len__(self) -> int:
        return max(1, self.stop - self.first - self.cfg.window + 1)

    def window(self, start: int) -> Window:
        T = self.cfg.window
        if self.stop - self.first < T:
            raise LabelFileError(
                f"{self.name}: {self.stop - self.first} frames, fewer than a {T}-frame window."
            )
        if not self._preloaded:
            self.frames.preload(self.first, self.stop)
            self._preloaded = True
        return Window(self.frames.window(start, T), self.K.copy(),
                      self.targets.slice(start, start + T), key=(self.name, start))  # fmt: skip

    def sample(self, rng: np.random.Generator) -> Window:
        return self.window(self.first + int(rng.integers(0, len(self))))

    _preloaded = False


class LabelVideoDataset(SequenceDataset):
    """The project's HDF5 labels (schema v1) plus the video they label."""

    def __init__(self, labels: str | Path, video: str | Path, cfg: ViDiHandConfig,
                 span: tuple[int, int] | None = None) -> None:  # fmt: skip
        from core.io.labels_h5 import load_labels

        doc = load_labels(labels)
        frames = FrameSource(cfg.width, cfg.height, video=video)
        if doc.n_frames != frames.n_frames:
            raise LabelFileError(
                f"{labels} has {doc.n_frames} frames but {video} has {frames.n_frames}.",
                hint="Use the video the labels were made for.",
            )
        t = Targets.unknown(doc.n_frames)
        for h, track in enumerate(doc.hands):
            t.present[:, h] = track.present
            for k in ("joints_3d", "joints_2d", "global_orient", "hand_pose", "betas", "transl"):
                getattr(t, k)[:, h] = getattr(track, k)
        super().__init__(frames, t, doc.K, cfg, name=str(labels), span=span)


class MixedDataset:
    """Several datasets sampled in proportion to their number of windows."""

    def __init__(self, parts: list[SequenceDataset]) -> None:
        if not parts:
            raise LabelFileError(
                "No training data given.",
                hint="Pass --labels LABELS.h5 --video VIDEO (or --hot3d / --arctic), or list them "
                "under train.data in the configuration.",
            )
        self.parts = parts
        sizes = np.array([len(p) for p in parts], np.float64)
        self.p = sizes / sizes.sum()

    def sample(self, rng: np.random.Generator) -> Window:
        return self.parts[int(rng.choice(len(self.parts), p=self.p))].sample(rng)


def collate(windows: list[Window], device: str | torch.device = "cpu") -> dict[str, Any]:
    """Stack windows into torch tensors: clip (B, 3, T, H, W) in [-1, 1], K, targets."""
    import torch

    frames = np.stack([w.frames for w in windows])  # (B, T, H, W, 3)
    clip = torch.from_numpy(frames).to(device).permute(0, 4, 1, 2, 3).float() / 127.5 - 1.0
    out: dict[str, Any] = {
        "clip": clip,
        "K": torch.as_tensor(np.stack([w.K for w in windows]), dtype=torch.float32, device=device),
    }
    for k in vars(windows[0].targets):
        v = np.stack([getattr(w.targets, k) for w in windows])
        out[k] = (
            torch.as_tensor(v, device=device)
            if v.dtype == bool
            else torch.as_tensor(v, dtype=torch.float32, device=device)
        )
    out["frames"] = frames
    out["K_np"] = np.stack([w.K for w in windows])
    out["keys"] = [w.key for w in windows]
    return out
