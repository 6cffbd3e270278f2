"""Checkpoints: a folder with the configuration and safetensors weights.

    DIR/config.json        the full configuration (architecture, training), plus "base_weights":
                           the Wan diffusers folder the frozen backbone came from, or null
    DIR/model.safetensors  what training changes: VACE branch, text embedding, decoder
    DIR/base.safetensors   the frozen backbone (VAE + base transformer), only when it did not come
                           from a Wan folder (random tiny backbones), so the folder is complete
    DIR/state.json         stage, step, losses of the last log line (for resume and reports)
    DIR/optimizer.pt       optimizer state (resume only; loaded with weights_only=True)

Loading checks every tensor name and shape against the configuration and raises CheckpointError
with what is missing or different.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from core.errors import CheckpointError
from core.extras import require
from core.io.atomic import atomic_path
from core.recon.vidihand.config import ViDiHandConfig
from core.recon.vidihand.model import ViDiHandModel

CONFIG_NAME = "config.json"
MODEL_NAME = "model.safetensors"
BASE_NAME = "base.safetensors"
STATE_NAME = "state.json"
OPTIM_NAME = "optimizer.pt"


def _split_state(model: ViDiHandModel) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    trainable = {f"backbone.{n}" for n in model.backbone.trainable_names()}
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    train = {k: v for k, v in state.items() if k in trainable or k.startswith("decoder.")}
    base = {k: v for k, v in state.items() if k not in train and k.startswith("backbone.")}
    return train, base


def save_checkpoint(
    model: ViDiHandModel,
    directory: str | Path,
    *,
    base_weights: str | None = None,
    state: dict[str, Any] | None = None,
    optimizer: torch.optim.Optimizer | None = None,
) -> Path:
    """Write a checkpoint folder (files replaced atomically one by one)."""
    require("safetensors", "model")
    from safetensors.torch import save_file

    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    raw = dict(model.cfg.raw)
    raw["base_weights"] = str(base_weights) if base_weights else None
    train, base = _split_state(model)
    with atomic_path(d / MODEL_NAME) as tmp:
        save_file(train, str(tmp), metadata={"format": "pt", "config": model.cfg.name})
    if base_weights is None:
        with atomic_path(d / BASE_NAME) as tmp:
            save_file(base, str(tmp), metadata={"format": "pt", "config": model.cfg.name})
    with atomic_path(d / CONFIG_NAME) as tmp:
        Path(tmp).write_text(json.dumps(raw, indent=2))
    if state is not None:
        with atomic_path(d / STATE_NAME) as tmp:
            Path(tmp).write_text(json.dumps(state, indent=2))
    if optimizer is not None:
        with atomic_path(d / OPTIM_NAME) as tmp:
            torch.save(optimizer.state_dict(), tmp)
    return d


def read_checkpoint_config(directory: str | Path) -> tuple[ViDiHandConfig, str | None]:
    """The configuration of a checkpoint folder and its base-weights folder (or None)."""
    d = Path(directory)
    hint = "Train one with `vidihand train --config tiny --out DIR`, or pass the folder it wrote."
    if not d.is_dir():
        raise CheckpointError(f"ViDiHand checkpoint folder {d} does not exist.", hint=hint)
    if not (d / CONFIG_NAME).is_file() or not (d / MODEL_NAME).is_file():
        raise CheckpointError(
            f"{d} is not a ViDiHand checkpoint: it needs {CONFIG_NAME} and {MODEL_NAME}.", hint=hint
        )
    try:
        raw = json.loads((d / CONFIG_NAME).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"Cannot read {d / CONFIG_NAME}: {exc}.", hint=hint) from exc
    base = raw.pop("base_weights", None)
    return ViDiHandConfig(raw).validate(), base


def load_checkpoint(
    directory: str | Path,
    *,
    base_weights: str | Path | None = None,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
) -> ViDiHandModel:
    """Rebuild the model of a checkpoint folder. `base_weights` overrides the folder recorded in
    the checkpoint (e.g. the Wan weights live elsewhere on this machine)."""
    require("safetensors", "model")
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    d = Path(directory)
    cfg, recorded = read_checkpoint_config(d)
    base_dir = base_weights or recorded
    has_base_file = (d / BASE_NAME).is_file()
    if base_dir is None and not has_base_file:
        raise CheckpointError(
            f"Checkpoint {d} has neither {BASE_NAME} nor a base_weights folder for its frozen backbone.",
            hint="Pass the Wan2.1-VACE-1.3B diffusers folder the model was trained on (base_weights).",
        )
    model = ViDiHandModel(cfg, base_weights=base_dir if not has_base_file else None)
    tensors: dict[str, torch.Tensor] = {}
    try:
        tensors.update(load_file(str(d / MODEL_NAME)))
        if has_base_file:
            tensors.update(load_file(str(d / BASE_NAME)))
    except (OSError, SafetensorError) as exc:
        raise CheckpointError(f"Cannot read the weights in {d}: {exc}.") from exc
    expected = model.state_dict()
    if not has_base_file:
        base_keys = set(_split_state(model)[1])
        expected = {k: v for k, v in expected.items() if k not in base_keys}
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    wrong = sorted(k for k in set(expected) & set(tensors) if expected[k].shape != tensors[k].shape)
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {missing[0]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]})")
        if wrong:
            k = wrong[0]
            parts.append(
                f"{len(wrong)} with another shape (e.g. {k}: file {tuple(tensors[k].shape)}, "
                f"configuration {tuple(expected[k].shape)})"
            )
        raise CheckpointError(
            f"The weights in {d} do not match its configuration {cfg.name!r}: "
            + "; ".join(parts)
            + ".",
            hint="The folder mixes files of different models: re-save it, or use the config.json "
            "that was written with these weights.",
        )
    model.load_state_dict(tensors, strict=False)
    model.backbone._zero_latents.clear()
    if dtype != torch.float32:  # diffusers' float32 modules stay float32 (precision.py)
        from core.recon.vidihand.precision import cast_backbone

        cast_backbone(model.backbone, dtype)  # before the move: the GPU never holds float32
    model.to(device=device)
    model.eval()
    return model


def read_state(directory: str | Path) -> dict[str, Any]:
    p = Path(directory) / STATE_NAME
    return json.loads(p.read_text()) if p.is_file() else {}


def load_optimizer_state(directory: str | Path) -> dict[str, Any] | None:
    p = Path(directory) / OPTIM_NAME
    return torch.load(p, weights_only=True) if p.is_file() else None
