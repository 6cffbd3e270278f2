"""`--backend vidihand`: the ViDiHand model as a Reconstructor.

Frames are resized to the model's input size (K scaled with them) and processed in sliding
windows (81 frames for the full configuration) that overlap by `overlap` frames. Per frame the
windows' results are blended with weights that taper linearly over the overlap, so there is no
seam where one window hands over to the next. Rotations are blended in the 6D representation and
re-orthonormalised. Results stream: a frame is yielded as soon as no later window covers it.

On a GPU the transformer runs in bfloat16 except diffusers' float32 modules (precision.py) and
`batch_windows` windows go through the network together; on the CPU everything is float32
unless `precision="bf16"` is asked for.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import CheckpointError
from core.labels.document import FrameBatch
from core.labels.joints import N_JOINTS
from core.recon.base import CancelToken, Reconstructor
from core.video.reader import VideoSource

#: 0.2: diffusers' float32 modules stay float32 in bfloat16 inference; the clip is not rounded
#: to bfloat16 before the (float32) VAE
VERSION = "0.2"


def plan_windows(n: int, window: int, overlap: int) -> list[int]:
    """Start indices of windows covering n frames (the last window aligned to the end)."""
    if n <= window:
        return [0]
    stride = window - overlap
    starts = list(range(0, n - window + 1, stride))
    if starts[-1] != n - window:
        starts.append(n - window)
    return starts


def blend_weights(window: int, overlap: int) -> np.ndarray:
    """(window,) weights rising over the first `overlap` frames and falling over the last."""
    i = np.arange(window, dtype=np.float64)
    ramp = np.minimum(i + 1, window - i) / (overlap + 1)
    return np.clip(ramp, 0.0, 1.0)


class ViDiHandReconstructor(Reconstructor):
    """The video-diffusion reconstructor (see docs/vidihand.md)."""

    name = "vidihand"
    version = VERSION
    #: `reconstruct` keeps no state between calls: a server may keep the loaded model for the
    #: next job (core/remote/warm.py)
    reusable = True

    def __init__(
        self,
        checkpoint: str | Path | None = None,
        *,
        base_weights: str | Path | None = None,
        device: str | None = None,
        batch_windows: int = 1,
        overlap: int | None = None,
        precision: str = "auto",
        model: Any = None,
    ) -> None:
        import torch

        from core.recon.vidihand.checkpoint import load_checkpoint
        from core.recon.vidihand.precision import precision_of

        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        if precision == "auto":
            precision = "bf16" if self.device.type == "cuda" else "fp32"
        self.precision = precision
        self.dtype = precision_of(precision)
        if model is None:
            if checkpoint is None:
                raise CheckpointError(
                    "The vidihand backend needs a trained checkpoint.",
                    hint="Pass --checkpoint DIR (a folder written by `vidihand train`).",
                )
            model = load_checkpoint(
                checkpoint, base_weights=base_weights, device=self.device, dtype=self.dtype
            )
        self.model = model.eval()  # a model passed in is used in the precision it has
        self.checkpoint = str(checkpoint) if checkpoint else ""
        cfg = self.model.cfg
        self.window = cfg.window
        self.overlap = cfg.overlap if overlap is None else int(overlap)
        if not 0 <= self.overlap < self.window:
            raise CheckpointError(f"overlap must be in [0, {self.window}), got {self.overlap}.")
        self.batch_windows = max(1, int(batch_windows))
        self.batch_size = self.window

    def memory_bytes(self) -> int:
        """Bytes the model's parameters and buffers hold (what keeping it loaded costs)."""
        tensors = [*self.model.parameters(), *self.model.buffers()]
        return int(sum(t.numel() * t.element_size() for t in tensors))

    def describe(self) -> dict[str, Any]:
        cfg = self.model.cfg
        return {
            "name": self.name,
            "version": self.version,
            "checkpoint": self.checkpoint,
            "config": cfg.name,
            "window": self.window,
            "overlap": self.overlap,
            "tau": cfg.tau,
            "layer": cfg.layer,
            "device": str(self.device),
            "precision": self.precision,
        }

    # -------------------------------------------------------------------------- running
    def reconstruct(
        self, video: VideoSource, frames: range, K: np.ndarray, cancel: CancelToken | None = None
    ) -> Iterator[FrameBatch]:
        import torch

        from core.recon.vidihand.model import prepare_clip

        n = len(frames)
        if n == 0:
            return
        K = np.asarray(K, np.float64)
        W = self.window
        starts = plan_windows(n, W, self.overlap)
        weights = blend_weights(W, self.overlap)
        acc = _Accumulator(n)
        cache: dict[int, torch.Tensor] = {}
        Km: torch.Tensor | None = None  # intrinsics at model size, from the first frame read
        reader = video.iter_frames(frames.start, frames.stop)
        next_read = 0
        emitted = 0
        for b0 in range(0, len(starts), self.batch_windows):
            group = starts[b0 : b0 + self.batch_windows]
            need_until = min(group[-1] + W, n)
            while next_read < need_until:
                idx, img = next(reader)
                clip, Km = prepare_clip(img[None], K, self.model.cfg, self.device)
                cache[idx - frames.start] = clip[:, 0]
                next_read += 1
            clips = []
            for s in group:
                ids = [min(s + i, n - 1) for i in range(W)]  # pad short clips by the last frame
                clips.append(torch.stack([cache[i] for i in ids], dim=1))
            batch = torch.stack(clips)  # float32: the VAE runs in float32 (precision.py)
            assert Km is not None  # the first group reads at least its first frame
            Kb = Km.expand(len(group), 3, 3)
            with torch.inference_mode():
                out = self.model(batch, Kb, self.model.noise_generator(self.device))
            host = {k: out[k].float().cpu().numpy() for k in _Accumulator.FIELDS}
            for g, s in enumerate(group):
                valid = min(W, n - s)
                acc.add(s, {k: v[g, :valid] for k, v in host.items()}, weights[:valid])
            low = starts[b0 + len(group)] if b0 + len(group) < len(starts) else n
            for i in [i for i in cache if i < low]:
                del cache[i]
            if low > emitted:
                yield self._batch(acc, emitted, low, frames, K)
                emitted = low
            if cancel is not None and cancel.cancelled:
                return

    def _batch(self, acc: _Accumulator, a: int, b: int, frames: range, K: np.ndarray) -> FrameBatch:
        from core.camera import project

        r = acc.result(a, b)
        prob = r["onscreen"]
        present = prob > 0.5
        joints = r["joints_3d"].astype(np.float32)
        j2d = project(joints, K).astype(np.float32)
        nan = ~present
        joints[nan] = np.nan
        j2d[nan] = np.nan
        batch = FrameBatch(
            frames=np.asarray(frames[a:b], np.int64),
            present=present,
            confidence=prob.astype(np.float32),
            joints_3d=joints,
            joints_2d=j2d,
        )
        layer = self.model.hand_layer
        if layer.kind == "mano":
            self._mano_fields(batch, r, present)
        return batch

    def _mano_fields(
        self, batch: FrameBatch, r: dict[str, np.ndarray], present: np.ndarray
    ) -> None:
        import torch

        from core.hands.rotations import matrix_to_axis_angle

        layer = self.model.hand_layer
        for side in (0, 1):
            mean = layer.pose_mean(side).detach().cpu().numpy()
            go = matrix_to_axis_angle(r["R_global"][:, side])
            hp = matrix_to_axis_angle(r["R_pose"][:, side]) - mean
            betas = r["betas"][:, side]
            j0 = layer.rest_wrist(torch.as_tensor(betas, dtype=torch.float32), side).numpy()
            transl = r["transl"][:, side] - j0
            sel = present[:, side]
            batch.global_orient[sel, side] = go[sel]
            batch.hand_pose[sel, side] = hp.reshape(len(hp), 45)[sel]
            batch.betas[sel, side] = betas[sel]
            batch.transl[sel, side] = transl[sel]


class _Accumulator:
    """Weighted sums of per-frame results over overlapping windows."""

    FIELDS = ("joints_3d", "transl", "onscreen", "betas", "R_global", "R_pose")

    def __init__(self, n: int) -> None:
        self.n = n
        self.w = np.zeros(n)
        self.sums: dict[str, np.ndarray] = {}

    def add(self, start: int, out: dict[str, np.ndarray], w: np.ndarray) -> None:
        sl = slice(start, start + len(w))
        self.w[sl] += w
        for k in self.FIELDS:
            v = out[k]
            if k in ("R_global", "R_pose"):  # blend the 6D representation (two columns)
                v = v[..., :, :2]
            if k not in self.sums:
                self.sums[k] = np.zeros((self.n, *v.shape[1:]))
            self.sums[k][sl] += v * w.reshape(-1, *([1] * (v.ndim - 1)))

    def result(self, a: int, b: int) -> dict[str, np.ndarray]:
        w = self.w[a:b]
        out = {}
        for k, s in self.sums.items():
            v = s[a:b] / w.reshape(-1, *([1] * (s.ndim - 1)))
            if k in ("R_global", "R_pose"):
                v = _orthonormal(v)
            out[k] = v
        assert out["joints_3d"].shape[-2:] == (N_JOINTS, 3)
        return out


def _orthonormal(two_cols: np.ndarray) -> np.ndarray:
    """(..., 3, 2) blended first two columns -> (..., 3, 3) rotations (Gram-Schmidt)."""
    a1, a2 = two_cols[..., 0], two_cols[..., 1]
    b1 = a1 / np.maximum(np.linalg.norm(a1, axis=-1, keepdims=True), 1e-12)
    a2 = a2 - np.sum(b1 * a2, -1, keepdims=True) * b1
    b2 = a2 / np.maximum(np.linalg.norm(a2, axis=-1, keepdims=True), 1e-12)
    return np.stack([b1, b2, np.cross(b1, b2)], axis=-1)
