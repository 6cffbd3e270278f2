"""Numeric precision of the ViDiHand backbone at inference and in training.

The transformer runs in bfloat16 except the modules diffusers keeps in float32
(`WanVACETransformer3DModel._keep_in_fp32_modules`: the rotary embedding `rope`, whose
frequency buffers stay as built, in float64; `time_embedder`; every block's
`scale_shift_table`; the layer norms `norm1`, `norm2`, `norm3`). diffusers' own blocks are
written for this mix: they compute the norms and the gated residual adds in float32 and cast
back (`.float()` ... `.type_as(hidden)`). The VAE stays in float32, as diffusers' Wan examples
load it: the latents are the input of everything, and the encoder is 3% of the parameters.
The hand decoder stays in float32 (it reads the features with `.float()`).

    cast_backbone(model.backbone, torch.bfloat16)                    # inference, stage 2
    cast_backbone(model.backbone, torch.bfloat16, keep_trainable=True)  # stage 1 (+ autocast)

Stage 2 trains the decoder on features computed by exactly this cast backbone, so the decoder
sees at training time the same numbers it sees at inference.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16}


def keep_fp32_modules(transformer: nn.Module) -> tuple[str, ...]:
    """diffusers' list of module names kept in float32 for this transformer class."""
    return tuple(getattr(type(transformer), "_keep_in_fp32_modules", None) or ())


def kept_in_fp32(name: str, keep: tuple[str, ...]) -> bool:
    """diffusers' rule: a parameter is kept when a component of its dotted name is listed."""
    return any(part in keep for part in name.split("."))


def cast_backbone(backbone: Any, dtype: torch.dtype, *, keep_trainable: bool = False) -> None:
    """Cast the transformer of `backbone` (a backbone.Backbone, not imported here: it imports
    this module) to `dtype` in place, except diffusers' float32 modules (parameters
    float32, buffers untouched). `keep_trainable`: the VACE branch and the text embedding stay
    float32 too (master weights for training under autocast). The VAE stays float32."""
    tr = backbone.transformer
    keep = keep_fp32_modules(tr)
    trainable = {id(p) for p in backbone.trainable_parameters()} if keep_trainable else set()
    for name, module in tr.named_modules():
        exempt = kept_in_fp32(name, keep)
        for pname, p in module.named_parameters(recurse=False):
            fp32 = exempt or kept_in_fp32(pname, keep) or id(p) in trainable
            target = torch.float32 if fp32 else dtype
            if p.dtype != target and p.is_floating_point():
                p.data = p.data.to(target)
        if exempt:
            continue
        for bname, b in module.named_buffers(recurse=False):
            if b.is_floating_point() and b.dtype != dtype:
                module._buffers[bname] = b.to(dtype)
    for p in backbone.vae.parameters():  # (the VAE's own .to() logs a dtype warning)
        if p.is_floating_point() and p.dtype != torch.float32:
            p.data = p.data.float()
    backbone._zero_latents.clear()


def precision_of(name: str) -> torch.dtype:
    if name not in PRECISIONS:
        from core.errors import CheckpointError

        raise CheckpointError(
            f"Unknown precision {name!r}.", hint=f"Use one of: {', '.join(PRECISIONS)}."
        )
    return PRECISIONS[name]
