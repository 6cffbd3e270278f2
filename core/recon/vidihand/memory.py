"""Training memory of a ViDiHand configuration per GPU, estimated without a GPU.

    est = estimate_training_memory(load_config("full"))
    print("\\n".join(est.lines()))

Stage 1 (flow matching on the VACE branch) is the memory-bound stage: the loss is on the
transformer's output, so activations of every base block and every VACE block are kept for the
backward pass (gradients reach the VACE branch through the frozen base blocks after each hint).
Stage 2 runs the backbone without gradients and trains only the 21 M-parameter decoder.

- parameters, gradients, optimizer state: counted on the meta device with the training
  precision (precision.py: bf16 frozen backbone with diffusers' float32 modules, float32 VACE
  branch and text embedding; AdamW keeps two float32 moments per trained parameter);
- activations: the bytes autograd saves for one base block and one VACE block of the
  configured width, *measured* on the CPU with real tensors at two small token counts under the
  same bf16 autocast and flash attention (saved storages counted once each), and extrapolated
  linearly to the window's token count (flash attention saves O(tokens), no attention matrix);
- with gradient checkpointing: each block keeps only its input (base: the hidden states, VACE:
  its control stream), the VACE hints wait for their block, and the block being recomputed
  holds its activations and their gradients (counted as twice one block).

Not counted: the CUDA context (about 0.5-1 GB), allocator fragmentation, kernels' temporary
workspace. The latents are cached (the VAE runs without gradients, in chunks of 4 frames).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import torch

from core.extras import require
from core.recon.vidihand.config import ViDiHandConfig

GB = 1e9


@dataclass
class TrainingMemory:
    """Bytes per GPU for one stage-1 step at `batch` windows."""

    config: str
    batch: int
    tokens: int  #: transformer tokens of one window
    base_blocks: int
    vace_blocks: int
    params: int
    grads: int
    optimizer: int
    base_block: int  #: saved activations of one base block at `tokens`
    vace_block: int
    activations: int  #: without gradient checkpointing
    activations_ckpt: int  #: with gradient checkpointing
    attention: str  #: the attention kernel the activations were measured with

    @property
    def fixed(self) -> int:
        return self.params + self.grads + self.optimizer

    def total(self, checkpointing: bool) -> int:
        return self.fixed + (self.activations_ckpt if checkpointing else self.activations)

    def lines(self) -> list[str]:
        def gb(n: int) -> str:
            return f"{n / GB:8.1f} GB"

        return [
            f"training memory per GPU, stage 1, batch {self.batch}, configuration {self.config!r} "
            f"({self.tokens:,d} tokens per window; {self.base_blocks} base + {self.vace_blocks} "
            "VACE blocks keep activations)",
            f"  parameters (bf16 frozen, fp32 trained)       {gb(self.params)}",
            f"  gradients (fp32, trained parameters)         {gb(self.grads)}",
            f"  optimizer state (AdamW, 2 x fp32)            {gb(self.optimizer)}",
            f"  activations, one base / VACE block           {gb(self.base_block)} / "
            f"{self.vace_block / GB:.1f} GB",
            f"  activations without checkpointing            {gb(self.activations)}",
            f"  activations with checkpointing               {gb(self.activations_ckpt)}",
            f"  total without checkpointing                  {gb(self.total(False))}",
            f"  total with checkpointing                     {gb(self.total(True))}",
            f"  (activations measured on the CPU with {self.attention}; not counted: CUDA "
            "context ~0.5-1 GB, fragmentation)",
        ]


def _bytes(tensors: Iterable[torch.Tensor]) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)


def estimate_training_memory(cfg: ViDiHandConfig, batch: int = 1) -> TrainingMemory:
    from core.recon.vidihand.model import ViDiHandModel
    from core.recon.vidihand.precision import cast_backbone, precision_of

    model = ViDiHandModel(cfg, meta=True)
    bf16 = precision_of(str(cfg.train.get("precision", "fp32"))) == torch.bfloat16
    if bf16:
        cast_backbone(model.backbone, torch.bfloat16, keep_trainable=True)
    trained = model.backbone.trainable_parameters()
    n_trained = sum(p.numel() for p in trained)
    params = _bytes(model.parameters()) + _bytes(model.buffers())

    tr = model.backbone.transformer
    t = cfg.raw["transformer"]
    p_t, p_h, p_w = t["patch_size"]
    lat = (1 + (cfg.window - 1) // 4, cfg.height // 8, cfg.width // 8)
    tokens = (lat[0] // p_t) * (lat[1] // p_h) * (lat[2] // p_w) * batch
    base, vace, hidden_bytes, kernel = _block_activations(cfg, tr, tokens, bf16)
    n_base = int(t["num_layers"])  # stage 1's loss is on the output: every block runs
    n_vace = len(t["vace_layers"])
    hints = n_vace * tokens * cfg.width_dim * hidden_bytes
    activations = n_base * base + n_vace * vace + hints
    inputs = (n_base + n_vace) * tokens * cfg.width_dim * hidden_bytes
    activations_ckpt = inputs + hints + 2 * max(base, vace)
    return TrainingMemory(
        config=cfg.name,
        batch=batch,
        tokens=tokens,
        base_blocks=n_base,
        vace_blocks=n_vace,
        params=params,
        grads=n_trained * 4,
        optimizer=n_trained * 8,
        base_block=base,
        vace_block=vace,
        activations=activations,
        activations_ckpt=activations_ckpt,
        attention=kernel,
    )


def _block_activations(
    cfg: ViDiHandConfig, tr: Any, tokens: int, bf16: bool
) -> tuple[int, int, int, str]:
    """Saved bytes of one base block and one VACE block at `tokens`, from two measurements on
    the CPU (a line through them: a constant part and a part per token)."""
    require("diffusers", "model")
    from diffusers.models.transformers.transformer_wan import WanTransformerBlock
    from diffusers.models.transformers.transformer_wan_vace import WanVACETransformerBlock

    from core.recon.vidihand.precision import keep_fp32_modules, kept_in_fp32

    t = cfg.raw["transformer"]
    d = cfg.width_dim
    common = dict(
        dim=d,
        ffn_dim=int(t["ffn_dim"]),
        num_heads=int(t["num_attention_heads"]),
        qk_norm=t.get("qk_norm", "rms_norm_across_heads"),
        cross_attn_norm=bool(t.get("cross_attn_norm", True)),
        eps=float(t.get("eps", 1e-6)),
    )
    keep = keep_fp32_modules(tr)
    g = torch.Generator().manual_seed(0)
    base = WanTransformerBlock(**common)
    vace = WanVACETransformerBlock(**common, apply_output_projection=True)
    for pname, p in base.named_parameters():
        p.requires_grad_(False)  # frozen in stage 1
        if bf16 and not kept_in_fp32(pname, keep):
            p.data = p.data.to(torch.bfloat16)
    dtype = torch.bfloat16 if bf16 else torch.float32
    h_p = int(t["patch_size"][1])
    results: dict[str, list[tuple[int, int]]] = {"base": [], "vace": []}
    kernel = "the default attention"
    for frames in (1, 2):
        lat = torch.zeros(1, 16, frames, 8 * h_p, 12 * h_p)
        n = frames * 8 * 12
        rotary = _rope(cfg, lat)
        hidden = torch.randn(1, n, d, generator=g).to(dtype).requires_grad_(True)
        ctrl = torch.randn(1, n, d, generator=g).to(dtype)
        enc = torch.randn(1, cfg.text_tokens, d, generator=g).to(dtype)
        temb = torch.randn(1, 6, d, generator=g).to(dtype)
        shared = {_ptr(x) for x in (*rotary, enc, temb)}
        for name, block, args in (
            ("base", base, (hidden, enc, temb, rotary)),
            ("vace", vace, (hidden, enc, ctrl, temb, rotary)),
        ):
            saved, kernel = _saved_bytes(block, args, bf16, shared)
            results[name].append((n, saved))
    out = []
    for name in ("base", "vace"):
        (n1, b1), (n2, b2) = results[name]
        per_token = (b2 - b1) / (n2 - n1)
        out.append(int(b1 + per_token * (tokens - n1)))
    return out[0], out[1], torch.finfo(dtype).bits // 8, kernel


def _rope(cfg: ViDiHandConfig, lat: torch.Tensor) -> tuple[torch.Tensor, ...]:
    require("diffusers", "model")
    from diffusers.models.transformers.transformer_wan import WanRotaryPosEmbed

    t = cfg.raw["transformer"]
    rope = WanRotaryPosEmbed(
        int(t["attention_head_dim"]), tuple(t["patch_size"]), int(t.get("rope_max_seq_len", 1024))
    )
    return tuple(r.detach() for r in rope(lat))


def _ptr(x: torch.Tensor) -> int:
    return x.untyped_storage().data_ptr()


def _saved_bytes(
    block: torch.nn.Module, args: tuple, bf16: bool, shared: set[int]
) -> tuple[int, str]:
    """Bytes of the distinct storages autograd saves in one forward of `block` (storages in
    `shared`, used by every block, excluded)."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    seen: dict[int, int] = {}

    def pack(x: torch.Tensor) -> torch.Tensor:
        s = x.untyped_storage()
        if s.data_ptr() not in shared:
            seen[s.data_ptr()] = s.nbytes()
        return x

    kernel = "flash attention"
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda x: x):
            try:
                with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
                    out = block(*args)
            except RuntimeError:
                seen.clear()
                kernel = "the default attention (no flash kernel here)"
                out = block(*args)
    del out
    return sum(seen.values()), kernel
