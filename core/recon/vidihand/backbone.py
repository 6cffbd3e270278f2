"""The video diffusion backbone: Wan VAE + Wan VACE transformer, used as a one-pass feature encoder.

Features (the paper's recipe): encode the clip with the VAE, noise the latents to level tau with
the flow-matching interpolation x_tau = (1 - tau) x0 + tau noise, run ONE forward pass of the
transformer at timestep 1000 tau and take the hidden states after block L. The forward pass is
written here over `transformer.blocks` (the same computation as diffusers'
`WanVACETransformer3DModel.forward`, checked in the tests) so that inference can stop after block
L: the blocks after L and the VACE blocks that feed them never run.

VACE control input (96 channels = inactive latents 16 + reactive latents 16 + mask 64): the whole
frame is "to be edited" (mask = 1, so overlays may appear anywhere), hence inactive = VAE(zeros),
reactive = VAE(clip). VAE(zeros) depends only on the clip's shape and is cached.

Text conditioning: no text encoder ships with the product, so the transformer's cross-attention
reads a learned embedding of `text_tokens` x text_dim (initialised to zeros, i.e. the text
projection's bias only; trained with the VACE branch in stage 1).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from core.errors import CheckpointError
from core.extras import require
from core.recon.vidihand.config import ViDiHandConfig

if TYPE_CHECKING:  # the optional "model" extra; imported at run time through require()
    from diffusers.models.autoencoders.autoencoder_kl_wan import AutoencoderKLWan
    from diffusers.models.transformers.transformer_wan_vace import WanVACETransformer3DModel

#: Wan's timestep scale: sigma in [0, 1] is fed as timestep 1000 sigma.
NUM_TRAIN_TIMESTEPS = 1000


class Backbone(nn.Module):
    """VAE + VACE transformer + learned text embedding. Base weights frozen, VACE trainable."""

    # buffers registered in __init__ (nn.Module's attribute lookup cannot say they are tensors)
    latents_mean: torch.Tensor
    latents_std: torch.Tensor

    def __init__(
        self, cfg: ViDiHandConfig, vae: AutoencoderKLWan, transformer: WanVACETransformer3DModel
    ) -> None:
        super().__init__()
        self.cfg = cfg
        self.vae = vae
        self.transformer = transformer
        text_dim = int(cfg.transformer["text_dim"])
        self.text_embed = nn.Parameter(torch.zeros(cfg.text_tokens, text_dim))
        self.gradient_checkpointing = False
        self._zero_latents: dict[tuple, torch.Tensor] = {}
        self.freeze_base()
        mean = torch.tensor(vae.config["latents_mean"], dtype=torch.float32)
        std = torch.tensor(vae.config["latents_std"], dtype=torch.float32)
        self.register_buffer("latents_mean", mean.view(1, -1, 1, 1, 1), persistent=False)
        self.register_buffer("latents_std", std.view(1, -1, 1, 1, 1), persistent=False)

    # ------------------------------------------------------------ parameters
    def freeze_base(self) -> None:
        """VAE and base transformer frozen; VACE blocks, VACE patch embedding and text trainable."""
        for p in self.parameters():
            p.requires_grad_(False)
        for p in self.trainable_parameters():
            p.requires_grad_(True)

    def trainable_parameters(self) -> list[nn.Parameter]:
        t = self.transformer
        return [
            *t.vace_blocks.parameters(),
            *t.vace_patch_embedding.parameters(),
            self.text_embed,
        ]

    def trainable_names(self) -> set[str]:
        ids = {id(p) for p in self.trainable_parameters()}
        return {n for n, p in self.named_parameters() if id(p) in ids}

    @torch.no_grad()
    def calibrate_latents(self, videos: list[torch.Tensor]) -> None:
        """Set the latent normalisation (per-channel mean and std) from data.

        Wan's latents_mean/std describe the *pretrained* VAE. A randomly initialised VAE (the
        tiny configuration) has other statistics: large constant per-channel offsets that would
        drown the content in the features. Every VAE's normalisation is measured on data; this
        does it for a random one. The values go into the configuration, so checkpoints keep them.
        """
        raw = torch.cat([self.encode(v) * self.latents_std + self.latents_mean for v in videos])
        mean = raw.mean(dim=(0, 2, 3, 4))
        std = raw.std(dim=(0, 2, 3, 4)).clamp_min(1e-6)
        self.latents_mean.copy_(mean.view(1, -1, 1, 1, 1))
        self.latents_std.copy_(std.view(1, -1, 1, 1, 1))
        self.cfg.raw["vae"]["latents_mean"] = [round(float(v), 6) for v in mean]
        self.cfg.raw["vae"]["latents_std"] = [round(float(v), 6) for v in std]
        self.latents_mean.copy_(
            torch.tensor(self.cfg.raw["vae"]["latents_mean"]).view(1, -1, 1, 1, 1)
        )
        self.latents_std.copy_(
            torch.tensor(self.cfg.raw["vae"]["latents_std"]).view(1, -1, 1, 1, 1)
        )
        self._zero_latents.clear()

    # --------------------------------------------------------------- latents
    @torch.no_grad()
    def encode(self, video: torch.Tensor) -> torch.Tensor:
        """(B, 3, T, H, W) in [-1, 1] -> normalised latents (B, z, 1 + (T-1)/4, H/8, W/8)."""
        dist = self.vae.encode(video.to(self.vae.dtype)).latent_dist
        z = dist.mode().float()
        return (z - self.latents_mean) / self.latents_std

    def zero_latents(self, shape: torch.Size, device: torch.device) -> torch.Tensor:
        """Latents of an all-zero (mid-grey) clip of `shape`, cached per shape and device."""
        key = (tuple(shape[1:]), str(device))
        if key not in self._zero_latents:
            zeros = torch.zeros((1, *shape[1:]), device=device, dtype=self.vae.dtype)
            self._zero_latents[key] = self.encode(zeros)
        return self._zero_latents[key]

    def control(self, video: torch.Tensor, latents: torch.Tensor) -> torch.Tensor:
        """VACE control input (B, 96, F, h, w) for a clip and its latents (mask = 1 everywhere)."""
        return self.control_from(latents, video.shape)

    def control_from(self, latents: torch.Tensor, video_shape: torch.Size) -> torch.Tensor:
        b, _, f, h, w = latents.shape
        inactive = self.zero_latents(video_shape, latents.device).expand(b, -1, -1, -1, -1)
        mask_ch = int(self.cfg.transformer["vace_in_channels"]) - 2 * latents.shape[1]
        mask = latents.new_ones((b, mask_ch, f, h, w))
        return torch.cat([inactive, latents, mask], dim=1)

    def noised(
        self,
        latents: torch.Tensor,
        tau: float,
        generator: torch.Generator | None = None,
        shared: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Flow-matching interpolation (1 - tau) x0 + tau noise; returns (x_tau, noise).
        `shared`: one noise draw for every clip of the batch (inference: a window's features do
        not depend on its place in the batch)."""
        shape = (1, *latents.shape[1:]) if shared else latents.shape
        noise = torch.randn(shape, generator=generator, device=latents.device, dtype=latents.dtype)
        noise = noise.expand_as(latents)
        return (1.0 - tau) * latents + tau * noise, noise

    # --------------------------------------------------------------- forward
    def run(
        self,
        x: torch.Tensor,
        control: torch.Tensor,
        sigma: torch.Tensor | float,
        stop_after: int | None = None,
    ) -> torch.Tensor:
        """The transformer on noisy latents x (B, C, F, h, w) at noise level sigma.

        With `stop_after=L`: the hidden states (B, F, h/2, w/2, width) after block L (and its
        VACE hint); no later block runs. Without: the predicted flow velocity, shaped like x.
        """
        tr = self.transformer
        cfg = tr.config  # diffusers' FrozenDict, typed as a dict: read by key
        dtype = tr.patch_embedding.weight.dtype  # norms and time embedder may be float32
        b, _, f, h, w = x.shape
        p_t, p_h, p_w = cfg["patch_size"]
        n_layers = int(cfg["num_layers"])
        last = n_layers - 1 if stop_after is None else int(stop_after)
        if not 0 <= last < n_layers:
            raise ValueError(f"stop_after={stop_after} outside 0..{n_layers - 1}")

        x = x.to(dtype)
        control = control.to(dtype)
        rotary = tr.rope(x)
        hidden = tr.patch_embedding(x).flatten(2).transpose(1, 2)
        ctrl = tr.vace_patch_embedding(control).flatten(2).transpose(1, 2)
        sig = torch.as_tensor(sigma, device=x.device, dtype=torch.float32).reshape(-1)
        timestep = (sig * NUM_TRAIN_TIMESTEPS).expand(b)
        text = self.text_embed.to(dtype)[None].expand(b, -1, -1)
        temb, tproj, enc, _ = tr.condition_embedder(timestep, text, None)
        tproj = tproj.unflatten(1, (6, -1))

        # VACE hints, only for the blocks that will run.
        hints: dict[int, torch.Tensor] = {}
        for i, layer in enumerate(cfg["vace_layers"]):
            if layer > last:
                break
            cond, ctrl = self._call(tr.vace_blocks[i], hidden, enc, ctrl, tproj, rotary)
            hints[layer] = cond
        for i in range(last + 1):
            hidden = self._call(tr.blocks[i], hidden, enc, tproj, rotary)
            if i in hints:
                hidden = hidden + hints[i]

        if stop_after is not None:
            return hidden.view(b, f // p_t, h // p_h, w // p_w, -1)
        shift, scale = (tr.scale_shift_table.to(temb.device) + temb.unsqueeze(1)).chunk(2, dim=1)
        hidden = (tr.norm_out(hidden.float()) * (1 + scale) + shift).type_as(hidden)
        hidden = tr.proj_out(hidden)
        hidden = hidden.reshape(b, f // p_t, h // p_h, w // p_w, p_t, p_h, p_w, -1)
        hidden = hidden.permute(0, 7, 1, 4, 2, 5, 3, 6)
        return hidden.flatten(6, 7).flatten(4, 5).flatten(2, 3).float()

    def _call(self, block: nn.Module, *args: torch.Tensor) -> Any:
        if self.gradient_checkpointing and torch.is_grad_enabled():
            from torch.utils.checkpoint import checkpoint

            return checkpoint(block, *args, use_reentrant=False)
        return block(*args)

    def features(
        self, video: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Block-L hidden states (B, F, h, w, width) of a clip (B, 3, T, H, W) in [-1, 1]."""
        return self.features_from_latents(self.encode(video), video.shape, generator)

    def features_from_latents(
        self,
        latents: torch.Tensor,
        video_shape: torch.Size,
        generator: torch.Generator | None = None,
        shared: bool = True,
    ) -> torch.Tensor:
        """`features` for latents already encoded (training caches them per window). `shared`:
        every clip of the batch gets the same noise draw (inference; fixed-noise training)."""
        x, _ = self.noised(latents, self.cfg.tau, generator, shared=shared)
        control = self.control_from(latents, video_shape)
        return self.run(x, control, self.cfg.tau, stop_after=self.cfg.layer)


# ------------------------------------------------------------------------------ construction
def build_backbone(
    cfg: ViDiHandConfig,
    *,
    base_weights: str | Path | None = None,
    meta: bool = False,
    dtype: torch.dtype = torch.float32,
) -> Backbone:
    """Build the backbone from the configuration: random weights, the meta device, or real Wan
    weights from a local diffusers-layout folder (`transformer/` and `vae/` subfolders)."""
    require("diffusers", "model")
    # (from their modules: mypy reads the package's placeholder classes)
    from diffusers.models.autoencoders.autoencoder_kl_wan import AutoencoderKLWan
    from diffusers.models.transformers.transformer_wan_vace import WanVACETransformer3DModel

    if base_weights is not None:
        vae, transformer = _load_pretrained(cfg, Path(base_weights), dtype)
    elif meta:
        require("accelerate", "model")
        from accelerate import init_empty_weights

        with init_empty_weights():
            vae = AutoencoderKLWan(**cfg.vae)
            transformer = WanVACETransformer3DModel(**cfg.transformer)
    else:
        vae = AutoencoderKLWan(**cfg.vae)
        transformer = WanVACETransformer3DModel(**cfg.transformer)
    if meta:
        with init_empty_weights():
            return Backbone(cfg, vae, transformer)
    backbone = Backbone(cfg, vae, transformer)
    if dtype != torch.float32:
        from core.recon.vidihand.precision import cast_backbone

        cast_backbone(backbone, dtype)
    return backbone


def _load_pretrained(
    cfg: ViDiHandConfig, root: Path, dtype: torch.dtype
) -> tuple[AutoencoderKLWan, WanVACETransformer3DModel]:
    """VAE and transformer from a diffusers-layout folder, checked before any tensor is used:
    configuration values first, then every parameter name and shape in the safetensors headers
    (diffusers would otherwise warn and leave mismatched parameters on the meta device)."""
    require("diffusers", "model")
    # (from their modules: mypy reads the package's placeholder classes)
    from diffusers.models.autoencoders.autoencoder_kl_wan import AutoencoderKLWan
    from diffusers.models.transformers.transformer_wan_vace import WanVACETransformer3DModel

    hint = (
        "Point --base-weights (or the config's base_weights) at a diffusers-layout folder of "
        "Wan2.1-VACE-1.3B with transformer/ and vae/ subfolders (config.json + safetensors)."
    )
    for sub in ("transformer", "vae"):
        if not (root / sub / "config.json").is_file():
            raise CheckpointError(
                f"Wan base weights not found: {root / sub} has no config.json.", hint=hint
            )
    parts = (("transformer", WanVACETransformer3DModel, cfg.transformer),
             ("vae", AutoencoderKLWan, cfg.vae))  # fmt: skip
    for sub, cls, wanted in parts:
        try:
            got = dict(cls.load_config(root, subfolder=sub, local_files_only=True))
        except (OSError, ValueError) as exc:
            raise CheckpointError(
                f"Cannot read {root / sub / 'config.json'}: {exc}", hint=hint
            ) from exc
        from accelerate import init_empty_weights

        with init_empty_weights():
            empty = cls.from_config(got)
        check_matches(wanted, dict(empty.config), sub, root)
        check_weight_names(empty, root / sub)
    try:
        transformer = WanVACETransformer3DModel.from_pretrained(
            root, subfolder="transformer", local_files_only=True, torch_dtype=dtype
        )
        vae = AutoencoderKLWan.from_pretrained(
            root, subfolder="vae", local_files_only=True, torch_dtype=torch.float32
        )
    except (OSError, ValueError, RuntimeError, KeyError) as exc:
        raise CheckpointError(
            f"Cannot load the Wan base weights from {root}: {exc}", hint=hint
        ) from exc
    for what, module in (("transformer", transformer), ("vae", vae)):
        left = [n for n, p in module.named_parameters() if p.is_meta]
        if left:  # the name check above should make this impossible; never run with them
            raise CheckpointError(
                f"{len(left)} {what} parameters were not loaded from {root} (e.g. {left[0]}).",
                hint=hint,
            )
    return vae, transformer


def weight_shapes(folder: Path) -> dict[str, tuple[int, ...]]:
    """Parameter name -> shape from the safetensors headers in a diffusers model folder (one
    file, or shards listed in *.safetensors.index.json); no tensor is read."""
    import json

    require("safetensors", "model")
    from safetensors import SafetensorError, safe_open

    index = sorted(folder.glob("*.safetensors.index.json"))
    if index:
        weight_map = json.loads(index[0].read_text()).get("weight_map", {})
        files = sorted({folder / f for f in weight_map.values()})
    else:
        files = sorted(folder.glob("*.safetensors"))
    if not files:
        raise CheckpointError(
            f"{folder} holds no .safetensors weights.",
            hint="Use the diffusers (safetensors) conversion of the model.",
        )
    shapes: dict[str, tuple[int, ...]] = {}
    for f in files:
        try:
            with safe_open(str(f), framework="pt") as fh:
                for key in fh.keys():
                    shapes[key] = tuple(fh.get_slice(key).get_shape())
        except (OSError, SafetensorError) as exc:
            raise CheckpointError(f"Cannot read the weights file {f}: {exc}.") from exc
    return shapes


def check_weight_names(model: nn.Module, folder: Path) -> None:
    """Raise CheckpointError listing missing, unexpected and reshaped parameters of `folder`
    against `model` (built on the meta device from the folder's config.json: no memory)."""
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    found = weight_shapes(folder)
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    wrong = sorted(k for k in set(expected) & set(found) if expected[k] != found[k])
    if not (missing or unexpected or wrong):
        return
    parts = []
    if missing:
        parts.append(f"missing {len(missing)}: {_names(missing)}")
    if unexpected:
        parts.append(f"unexpected {len(unexpected)}: {_names(unexpected)}")
    if wrong:
        parts.append(
            f"other shape {len(wrong)}: "
            + _names([f"{k} {found[k]} instead of {expected[k]}" for k in wrong])
        )
    raise CheckpointError(
        f"The parameter names in {folder} do not match {type(model).__name__}: "
        + "; ".join(parts)
        + ".",
        hint="The folder was written by another model or another diffusers conversion: use the "
        "diffusers-format Wan2.1-VACE weights this configuration was made for.",
    )


def _names(items: list[str], limit: int = 5) -> str:
    return ", ".join(items[:limit]) + (
        f", ... ({len(items) - limit} more)" if len(items) > limit else ""
    )


def check_matches(wanted: dict[str, Any], got: dict[str, Any], what: str, where: Path) -> None:
    """Raise CheckpointError naming every configuration value that differs."""
    diffs = []
    for key, value in wanted.items():
        have = got.get(key)
        a = list(value) if isinstance(value, (list, tuple)) else value
        b = list(have) if isinstance(have, (list, tuple)) else have
        if a != b:
            diffs.append(f"{key}: configuration {a!r}, weights {b!r}")
    if diffs:
        raise CheckpointError(
            f"The {what} weights in {where} do not match the ViDiHand configuration: "
            + "; ".join(diffs[:6])
            + ("; ..." if len(diffs) > 6 else "")
            + ".",
            hint="Use the configuration the weights were made for (e.g. --config full for "
            "Wan2.1-VACE-1.3B) or the weights that fit this configuration.",
        )
