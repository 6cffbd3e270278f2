"""ViDiHandModel: backbone + decoder + hand layer, and the clip preprocessing they share.

model = ViDiHandModel(load_config("tiny"))
clip, K_model = prepare_clip(frames_uint8, K, model.cfg)     # resize, scale K
out = model(clip[None], K_model[None])                        # dict of (1, T, 2, ...)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from core.extras import require
from core.recon.vidihand.backbone import Backbone, build_backbone
from core.recon.vidihand.config import ViDiHandConfig
from core.recon.vidihand.decoder import HandDecoder
from core.recon.vidihand.geometry import scale_intrinsics
from core.recon.vidihand.handmodel import build_hand_layer


class ViDiHandModel(nn.Module):
    """The whole reconstructor network."""

    def __init__(
        self,
        cfg: ViDiHandConfig,
        *,
        base_weights: str | Path | None = None,
        meta: bool = False,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        self.cfg = cfg
        self.backbone: Backbone = build_backbone(
            cfg, base_weights=base_weights, meta=meta, dtype=dtype
        )
        dec = cfg.decoder
        kwargs = dict(
            width=cfg.width_dim,
            dim=int(dec["dim"]),
            heads=int(dec["heads"]),
            layers=int(dec["layers"]),
            heatmap_upsample=int(dec.get("heatmap_upsample", 2)),
            ray_freqs=int(dec.get("ray_freqs", 6)),
            token_stride=cfg.token_stride,
        )
        if meta:
            require("accelerate", "model")
            from accelerate import init_empty_weights

            with init_empty_weights():
                self.decoder = HandDecoder(**kwargs)
        else:
            self.decoder = HandDecoder(**kwargs)
        self.hand_layer = build_hand_layer(cfg.hand_model)

    def features(
        self, clip: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        return self.backbone.features(clip, generator)

    def decode(
        self, feats: torch.Tensor, K: torch.Tensor, n_frames: int
    ) -> dict[str, torch.Tensor]:
        return self.decoder(feats, K, n_frames, self.hand_layer)

    def forward(
        self, clip: torch.Tensor, K: torch.Tensor, generator: torch.Generator | None = None
    ) -> dict[str, torch.Tensor]:
        """clip (B, 3, T, H, W) in [-1, 1] at model size; K (B, 3, 3) at model size."""
        return self.decode(self.features(clip, generator), K, clip.shape[2])

    def noise_generator(self, device: torch.device) -> torch.Generator:
        """The fixed-seed generator inference uses, so a clip always gets the same features."""
        g = torch.Generator(device=device)
        g.manual_seed(self.cfg.noise_seed)
        return g

    def parameter_counts(self) -> dict[str, int]:
        """Parameters per part (counts work on the meta device too)."""
        t = self.backbone.transformer
        vace = sum(p.numel() for p in t.vace_blocks.parameters()) + sum(
            p.numel() for p in t.vace_patch_embedding.parameters()
        )
        transformer = sum(p.numel() for p in t.parameters())
        counts = {
            "transformer_base": transformer - vace,
            "transformer_vace": vace,
            "transformer_total": transformer,
            "text_embedding": self.backbone.text_embed.numel(),
            "vae": sum(p.numel() for p in self.backbone.vae.parameters()),
            "vae_encoder": sum(p.numel() for p in self.backbone.vae.encoder.parameters())
            + sum(p.numel() for p in self.backbone.vae.quant_conv.parameters()),
            "decoder": sum(p.numel() for p in self.decoder.parameters()),
        }
        counts["total"] = (
            counts["transformer_total"]
            + counts["text_embedding"]
            + counts["vae"]
            + counts["decoder"]
        )
        counts["trainable_stage1"] = counts["transformer_vace"] + counts["text_embedding"]
        return counts


def prepare_clip(
    frames: np.ndarray | torch.Tensor,
    K: np.ndarray,
    cfg: ViDiHandConfig,
    device: str | torch.device = "cpu",
) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 frames (T, H, W, 3) -> clip (3, T, h, w) in [-1, 1] at the model size, and K scaled
    to that size (pixel-centre convention)."""
    x = torch.as_tensor(np.array(frames, copy=True)).to(device)
    H, W = x.shape[1:3]
    x = x.permute(0, 3, 1, 2).float() / 127.5 - 1.0  # (T, 3, H, W)
    if (H, W) != (cfg.height, cfg.width):
        x = F.interpolate(
            x, size=(cfg.height, cfg.width), mode="bilinear", antialias=True, align_corners=False
        )
    Km = scale_intrinsics(K, cfg.width / W, cfg.height / H)
    return x.permute(1, 0, 2, 3).contiguous(), torch.as_tensor(
        Km, dtype=torch.float32, device=device
    )
