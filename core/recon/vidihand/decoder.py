"""The metric two-hand decoder on top of the backbone's block-L features.

Per window of T frames:
1. Features (B, F, h, w, width) are projected to the decoder width, interpolated from the latent
   time axis to the T frames, and given a ray-direction encoding computed from K.
2. Two learned hand tokens (left, right), plus a time encoding of the frame, are refined by
   layers of self-attention over all 2T tokens of the window (both hands, all frames: the
   temporal model) and cross-attention to their frame's features.
3. Joint-heatmap branch: on a finer (upsampled) feature map of each frame, per-location joint
   logits (42 channels) plus the attention logits of 42 joint queries (per hand, the hand token
   plus a learned joint embedding) give the joint heatmaps; their spatial soft-argmax is the 2D
   anchor. The attended values flow back
   to the hand tokens by cross-attention (hand token -> its 21 joints).
4. Heads on each hand token: global orientation and 15 joint rotations (6D), 10 betas,
   log-depth, on-screen logit; per-joint anchor weights from the joint branch.
The hand layer then gives wrist-relative joints, and the wrist translation (tx, ty) is solved in
closed form from the anchors (geometry.solve_translation).

Training split: the heatmap branch has its own feature projection and is shaped by the 2D losses
only (anchor L1 and a Gaussian heatmap cross-entropy); the anchors enter the solver and the hand
tokens read the heatmaps with the gradient stopped. When the 3D losses could also pull on the
heatmaps, the two fought and the anchors stopped learning (seen on the tiny configuration).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from core.labels.joints import N_JOINTS
from core.recon.vidihand.geometry import (
    RayEncoding,
    latent_frame_positions,
    pixel_grid,
    project,
    ray_directions,
    solve_translation,
)
from core.recon.vidihand.handmodel import rot6d_to_matrix

_IDENTITY_6D = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
#: Prior depth of a hand in egocentric video (metres): the log-depth head starts here.
PRIOR_DEPTH = 0.45


def _time_encoding(n: int, dim: int, device: torch.device) -> torch.Tensor:
    pos = torch.arange(n, device=device, dtype=torch.float32)[:, None]
    i = torch.arange(dim // 2, device=device, dtype=torch.float32)
    ang = pos / (100.0 ** (2 * i / dim))
    return torch.cat([torch.sin(ang), torch.cos(ang)], dim=-1)


class _Attention(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, ctx: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        q = self.q(x).view(b, n, self.heads, -1).transpose(1, 2)
        k, v = self.kv(ctx).view(b, ctx.shape[1], 2, self.heads, -1).permute(2, 0, 3, 1, 4)
        o = F.scaled_dot_product_attention(q, k, v)
        return self.out(o.transpose(1, 2).reshape(b, n, d))


class _Layer(nn.Module):
    """Self-attention over the window's hand tokens, cross-attention to the frame, MLP."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.n1, self.n2, self.n3 = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.self_attn = _Attention(dim, heads)
        self.cross = _Attention(dim, heads)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def forward(self, q: torch.Tensor, frame_keys: torch.Tensor) -> torch.Tensor:
        b, t, s, d = q.shape
        x = q.reshape(b, t * s, d)
        x = x + self.self_attn(self.n1(x), self.n1(x))
        x = x.reshape(b * t, s, d)
        x = x + self.cross(self.n2(x), frame_keys)
        x = x + self.mlp(self.n3(x))
        return x.view(b, t, s, d)


class HandDecoder(nn.Module):
    """Features + K -> per-frame, per-hand parameters, anchors and joints (see module doc)."""

    def __init__(
        self,
        width: int,
        dim: int = 256,
        heads: int = 8,
        layers: int = 4,
        heatmap_upsample: int = 2,
        ray_freqs: int = 6,
        token_stride: int = 16,
    ) -> None:
        super().__init__()
        self.dim, self.upsample, self.stride = dim, int(heatmap_upsample), token_stride
        self.proj = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, dim))
        self.ray = RayEncoding(dim, ray_freqs)
        self.hand_tokens = nn.Parameter(torch.randn(2, dim) * 0.02)
        self.joint_embed = nn.Parameter(torch.randn(2, N_JOINTS, dim) * 0.02)
        self.layers = nn.ModuleList([_Layer(dim, heads) for _ in range(layers)])
        # joint-heatmap branch
        self.heat_proj = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, dim))
        self.fine_norm = nn.LayerNorm(dim)
        self.joint_from_hand = nn.Linear(dim, dim)
        self.heat_q = nn.Linear(dim, dim)
        self.heat_k = nn.Linear(dim, dim)
        self.heat_v = nn.Linear(dim, dim)
        self.joint_mlp = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, dim), nn.GELU())
        self.joint_weight = nn.Linear(dim, 1)
        #: log inverse temperature of the heatmaps: sharp peaks need large logits; learning the
        #: scale directly is much faster than growing the query and key norms
        self.heat_log_scale = nn.Parameter(torch.tensor(math.log(4.0)))
        #: per-location joint logits (a two-layer 1x1 convolution): each cell's evidence for each joint,
        #: which sharpens far faster than query-key attention alone (DETR-style slow start)
        self.heat_local = nn.Sequential(
            nn.Linear(dim, dim), nn.GELU(), nn.Linear(dim, 2 * N_JOINTS)
        )
        self.hand_from_joints = _Attention(dim, heads)
        self.out_norm = nn.LayerNorm(dim)
        # heads
        self.head_rot = nn.Linear(dim, 6 + 15 * 6)
        self.head_betas = nn.Linear(dim, 10)
        self.head_depth = nn.Linear(dim, 1)
        self.head_onscreen = nn.Linear(dim, 1)
        with torch.no_grad():
            for head in (self.head_rot, self.head_betas, self.head_depth):
                head.weight.mul_(0.01)
            self.head_rot.bias.copy_(torch.tensor(_IDENTITY_6D * 16))
            self.head_betas.bias.zero_()
            self.head_depth.bias.fill_(math.log(PRIOR_DEPTH))
            self.head_onscreen.bias.zero_()

    def forward(
        self, feats: torch.Tensor, K: torch.Tensor, n_frames: int, hand_layer: nn.Module
    ) -> dict[str, torch.Tensor]:
        """feats (B, F, h, w, width), K (B, 3, 3) at model resolution -> dict of (B, T, 2, ...)."""
        b, n_lat, h, w, _ = feats.shape
        dev = feats.device
        T, d = n_frames, self.dim
        # latent time -> video frames (linear interpolation)
        pos = torch.as_tensor(latent_frame_positions(T, n_lat), device=dev, dtype=torch.float32)
        lo = pos.floor().long()
        hi = (lo + 1).clamp_max(n_lat - 1)
        a = (pos - lo.float()).view(1, T, 1, 1, 1)

        def per_frame(x: torch.Tensor) -> torch.Tensor:  # (B, F, h, w, d) -> (B, T, h, w, d)
            return x[:, lo] * (1 - a) + x[:, hi] * a

        feats = feats.float()
        f = per_frame(self.proj(feats))
        # the heatmap branch has its own projection: the 3D heads' gradients do not reach it
        fh = per_frame(self.heat_proj(feats))

        coarse_uv = pixel_grid(h, w, self.stride, dev)
        keys = f + self.ray(ray_directions(coarse_uv, K))[:, None]
        keys = keys.reshape(b * T, h * w, d)

        q = self.hand_tokens.view(1, 1, 2, d) + _time_encoding(T, d, dev).view(1, T, 1, d)
        q = q.expand(b, T, 2, d)
        for layer in self.layers:
            q = layer(q, keys)

        # joint-heatmap branch on the upsampled map
        u = self.upsample
        fine = fh.reshape(b * T, h, w, d).permute(0, 3, 1, 2)
        if u > 1:
            fine = F.interpolate(fine, scale_factor=u, mode="bilinear", align_corners=False)
        fine = fine.permute(0, 2, 3, 1).reshape(b, T, h * u, w * u, d)
        fine_uv = pixel_grid(h * u, w * u, self.stride / u, dev)
        fine = fine + self.ray(ray_directions(fine_uv, K))[:, None]
        fine = self.fine_norm(fine).reshape(b * T, -1, d)
        jq = (
            self.joint_embed.view(1, 1, 2, N_JOINTS, d)
            + self.joint_from_hand(q.detach())[:, :, :, None]
        )
        jq = jq.reshape(b * T, 2 * N_JOINTS, d)
        scale = self.heat_log_scale.exp() / math.sqrt(d)
        logits = self.heat_q(jq) @ self.heat_k(fine).transpose(1, 2) * scale
        logits = logits + self.heat_local(fine).transpose(1, 2)
        log_heat = logits.log_softmax(dim=-1)
        attn = log_heat.exp()  # the joint heatmaps
        anchors = attn @ fine_uv.reshape(-1, 2)  # spatial soft-argmax, (B*T, 42, 2)
        # the hand tokens read features where the heatmaps point; the heatmaps themselves are
        # shaped by the 2D anchor loss only (see `place`)
        jv = self.joint_mlp(attn.detach() @ self.heat_v(fine) + jq)
        weights = F.softplus(self.joint_weight(jv))[..., 0] + 1e-3
        jv = jv.view(b * T * 2, N_JOINTS, d)
        qh = q.reshape(b * T * 2, 1, d)
        qh = qh + self.hand_from_joints(qh, jv)
        q = self.out_norm(qh.view(b, T, 2, d))

        rot = rot6d_to_matrix(self.head_rot(q).view(b, T, 2, 16, 6))
        out = {
            "R_global": rot[..., 0, :, :],
            "R_pose": rot[..., 1:, :, :],
            "betas": self.head_betas(q),
            "log_depth": self.head_depth(q)[..., 0],
            "onscreen_logit": self.head_onscreen(q)[..., 0],
            "anchors": anchors.view(b, T, 2, N_JOINTS, 2),
            "anchor_weights": weights.view(b, T, 2, N_JOINTS),
            "heatmap_logp": log_heat.view(b, T, 2, N_JOINTS, -1),
            "heatmap_grid": fine_uv.reshape(-1, 2),
            "heatmap_cell": torch.tensor(self.stride / u),
        }
        return self.place(out, K, hand_layer)

    @staticmethod
    def place(out: dict[str, torch.Tensor], K: torch.Tensor, hand_layer: nn.Module) -> dict:
        """Add wrist-relative joints, the solved translation, camera joints and projections."""
        b, T = out["betas"].shape[:2]
        rel = []
        for side in (0, 1):
            rel.append(
                hand_layer(
                    out["R_global"][:, :, side].reshape(-1, 3, 3),
                    out["R_pose"][:, :, side].reshape(-1, 15, 3, 3),
                    out["betas"][:, :, side].reshape(-1, 10),
                    side,
                ).view(b, T, N_JOINTS, 3)
            )
        joints_rel = torch.stack(rel, dim=2)  # (B, T, 2, 21, 3)
        Kb = K.float().view(b, 1, 1, 3, 3)
        # The anchors enter the solver as observations: the 3D losses train depth, pose and the
        # anchor weights, and only the 2D anchor loss moves the heatmaps. Letting the 3D losses
        # pull the heatmaps as well makes them fight the 2D loss and the anchors stop learning.
        transl = solve_translation(
            joints_rel, out["anchors"].detach(), out["anchor_weights"], Kb, out["log_depth"].exp()
        )
        joints = joints_rel + transl[..., None, :]
        out.update(
            joints_rel=joints_rel,
            transl=transl,
            joints_3d=joints,
            joints_2d=project(joints, Kb[..., None, :, :]),
            onscreen=torch.sigmoid(out["onscreen_logit"]),
        )
        return out
