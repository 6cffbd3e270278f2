"""Camera geometry for the decoder, in torch: K scaling, pixel grids, rays, projection and the
closed-form in-plane translation.

Pixel convention as in the label files: (0, 0) is the centre of the top-left pixel. Resizing an
image by (sx, sy) maps u to (u + 0.5) sx - 0.5, so K's principal point moves the same way.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn


def scale_intrinsics(K: np.ndarray, sx: float, sy: float) -> np.ndarray:
    """K of an image resized by (sx, sy) (pixel-centre convention)."""
    K2 = np.asarray(K, dtype=np.float64).copy()
    K2[0, 0] *= sx
    K2[0, 1] *= sx
    K2[1, 1] *= sy
    K2[0, 2] = (K2[0, 2] + 0.5) * sx - 0.5
    K2[1, 2] = (K2[1, 2] + 0.5) * sy - 0.5
    return K2


def scale_points(uv: np.ndarray, sx: float, sy: float) -> np.ndarray:
    """Pixel positions after resizing the image by (sx, sy)."""
    out = np.asarray(uv, dtype=np.float64).copy()
    out[..., 0] = (out[..., 0] + 0.5) * sx - 0.5
    out[..., 1] = (out[..., 1] + 0.5) * sy - 0.5
    return out


def pixel_grid(h: int, w: int, stride: float, device: torch.device) -> torch.Tensor:
    """(h, w, 2) pixel centres (u, v) of the cells of a grid with `stride` pixels per cell."""
    v = (torch.arange(h, device=device, dtype=torch.float32) + 0.5) * stride - 0.5
    u = (torch.arange(w, device=device, dtype=torch.float32) + 0.5) * stride - 0.5
    vv, uu = torch.meshgrid(v, u, indexing="ij")
    return torch.stack([uu, vv], dim=-1)


def ray_directions(uv: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """Unit rays (B, ..., 3) through pixels uv (..., 2) for intrinsics K (B, 3, 3)."""
    Kinv = torch.linalg.inv(K.float())
    homog = torch.cat([uv, torch.ones_like(uv[..., :1])], dim=-1)
    shape = (K.shape[0],) + (1,) * (uv.dim() - 1) + (3, 3)
    d = (Kinv.view(shape) @ homog[None, ..., None])[..., 0]
    return d / d.norm(dim=-1, keepdim=True)


class RayEncoding(nn.Module):
    """Fourier features of the ray direction through each cell, projected to the feature width.

    Encoding the *ray* rather than the pixel position lets one model see the camera: a pixel of
    a wide lens and of a narrow lens look in different directions.
    """

    freqs: torch.Tensor  # a buffer registered in __init__

    def __init__(self, dim: int, n_freqs: int) -> None:
        super().__init__()
        self.register_buffer(
            "freqs", (2.0 ** torch.arange(n_freqs, dtype=torch.float32)) * math.pi, persistent=False
        )
        self.proj = nn.Linear(3 + 6 * n_freqs, dim)

    def forward(self, rays: torch.Tensor) -> torch.Tensor:
        x = rays[..., None] * self.freqs  # (..., 3, F)
        enc = torch.cat([rays, torch.sin(x).flatten(-2), torch.cos(x).flatten(-2)], dim=-1)
        return self.proj(enc)


def project(points: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """Pixels (..., 2) of camera-frame points (..., 3); K (..., 3, 3) broadcastable."""
    z = points[..., 2].clamp_min(1e-3)
    u = K[..., 0, 0] * points[..., 0] / z + K[..., 0, 1] * points[..., 1] / z + K[..., 0, 2]
    v = K[..., 1, 1] * points[..., 1] / z + K[..., 1, 2]
    return torch.stack([u, v], dim=-1)


def solve_translation(
    joints_rel: torch.Tensor,
    anchors: torch.Tensor,
    weights: torch.Tensor,
    K: torch.Tensor,
    depth: torch.Tensor,
) -> torch.Tensor:
    """The wrist translation (..., 3) putting wrist-relative joints (..., 21, 3) on 2D anchors.

    Depth Z comes from the network; tx, ty minimise sum_j w_j ((u_j - cx) z_j / fx - x_j - tx)^2
    (the same for y), where z_j = Z + joints_rel_z: the reprojection error measured on the image
    plane at each joint's depth. Linear in (tx, ty), so the solution is a weighted mean (closed
    form, differentiable). K (..., 3, 3) broadcasts over the leading axes; skew is ignored.
    """
    fx, fy = K[..., 0, 0, None], K[..., 1, 1, None]
    cx, cy = K[..., 0, 2, None], K[..., 1, 2, None]
    z = (depth[..., None] + joints_rel[..., 2]).clamp_min(1e-2)
    ax = (anchors[..., 0] - cx) * z / fx - joints_rel[..., 0]
    ay = (anchors[..., 1] - cy) * z / fy - joints_rel[..., 1]
    w = weights / weights.sum(-1, keepdim=True).clamp_min(1e-8)
    return torch.stack([(w * ax).sum(-1), (w * ay).sum(-1), depth], dim=-1)


def latent_frame_positions(n_frames: int, n_latent: int) -> np.ndarray:
    """Position of each video frame on the latent time axis (Wan VAE: latent 0 is frame 0,
    latent k >= 1 covers frames 4k-3..4k, centred at 4k - 1.5)."""
    t = np.arange(n_frames, dtype=np.float64)
    pos = np.where(t == 0, 0.0, (t + 1.5) / 4.0)
    return np.clip(pos, 0.0, n_latent - 1)
