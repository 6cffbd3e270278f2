"""Training loops: stage 1 (hand-overlay adaptation of the VACE branch) and stage 2 (decoder).

    run_training(cfg, out_dir, stage="2", data=[{"kind": "labels", ...}], init=STAGE1_DIR)

Each run writes into its folder: the checkpoint (checkpoint.py), `log.jsonl` with one line of
losses every `train.log_every` steps, and keeps the optimizer state for `resume=True`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

from core.errors import CheckpointError
from core.recon.vidihand.checkpoint import (
    load_checkpoint,
    load_optimizer_state,
    read_state,
    save_checkpoint,
)
from core.recon.vidihand.config import ViDiHandConfig
from core.recon.vidihand.data import collate
from core.recon.vidihand.datasets import build_dataset
from core.recon.vidihand.losses import overlay_video, stage1_loss, stage2_losses
from core.recon.vidihand.model import ViDiHandModel
from core.recon.vidihand.precision import cast_backbone, precision_of

STAGES = ("1a", "1b", "2")


def run_training(
    cfg: ViDiHandConfig,
    out_dir: str | Path,
    *,
    stage: str,
    data: list[dict] | None = None,
    steps: int | None = None,
    init: str | Path | None = None,
    resume: bool = False,
    base_weights: str | None = None,
    device: str | None = None,
    progress: bool = True,
    on_log: Callable[[dict], None] | None = None,
) -> dict[str, Any]:
    """Train one stage; returns {"first": losses of the first log, "last": ..., "steps": n}."""
    if stage not in STAGES:
        raise CheckpointError(f"Unknown stage {stage!r}: use one of {', '.join(STAGES)}.")
    out = Path(out_dir)
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    tcfg = cfg.train
    skey = "stage1" if stage.startswith("1") else "stage2"
    scfg = tcfg[skey]
    n_steps = int(steps if steps is not None else scfg["steps"])
    seed = int(tcfg.get("seed", 0))
    torch.manual_seed(seed)

    start_step = 0
    if resume:
        state = read_state(out)
        if not state:
            raise CheckpointError(
                f"Nothing to resume in {out}: no state.json.",
                hint="Drop --resume to start a new run.",
            )
        if state.get("stage") != stage:
            raise CheckpointError(
                f"{out} holds a stage {state.get('stage')} run, not stage {stage}."
            )
        model = load_checkpoint(out, base_weights=base_weights, device=dev)
        start_step = int(state.get("step", 0))
        base_weights = base_weights or state.get("base_weights")
    elif init is not None:
        model = load_checkpoint(init, base_weights=base_weights, device=dev)
        base_weights = base_weights or read_state(init).get("base_weights")
        model.cfg.raw["train"] = cfg.raw["train"]
    else:
        model = ViDiHandModel(cfg, base_weights=base_weights).to(dev)
    if model.cfg.hand_model.get("kind") != cfg.hand_model.get("kind"):
        model.cfg.raw["hand_model"] = cfg.hand_model
    dataset = build_dataset(data if data is not None else tcfg.get("data", []), model.cfg)
    if not resume and init is None and base_weights is None and tcfg.get("calibrate_latents"):
        cal_rng = np.random.default_rng(seed)
        clips = [collate([dataset.sample(cal_rng)], dev)["clip"] for _ in range(8)]
        model.backbone.calibrate_latents(clips)

    model.train()
    model.backbone.freeze_base()
    # precision (precision.py): "bf16" keeps the frozen backbone in bfloat16 (diffusers' float32
    # modules excepted); stage 1 keeps float32 master weights of what it trains and runs under
    # bf16 autocast; stage 2 computes features with the backbone cast exactly as at inference
    amp = precision_of(str(tcfg.get("precision", "fp32"))) == torch.bfloat16
    if amp:
        cast_backbone(model.backbone, torch.bfloat16, keep_trainable=stage.startswith("1"))
    autocast = partial(torch.autocast, device_type=dev.type, dtype=torch.bfloat16, enabled=amp)
    if stage.startswith("1"):
        params = model.backbone.trainable_parameters()
        for p in model.decoder.parameters():
            p.requires_grad_(False)
        model.backbone.gradient_checkpointing = bool(scfg.get("gradient_checkpointing", False))
    else:
        for p in model.backbone.parameters():
            p.requires_grad_(False)
        params = list(model.decoder.parameters())
        for p in params:
            p.requires_grad_(True)
    opt = torch.optim.AdamW(
        params, lr=float(scfg["lr"]), weight_decay=float(scfg.get("weight_decay", 0.0))
    )
    if resume and (opt_state := load_optimizer_state(out)) is not None:
        opt.load_state_dict(opt_state)
    # linear warm-up over the first 5% of steps, then cosine decay to 10% of the rate
    warm = max(1, n_steps // 20)

    def rate(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        x = (step - warm) / max(1, n_steps - warm)
        return float(0.1 + 0.45 * (1.0 + np.cos(np.pi * min(1.0, x))))

    for g in opt.param_groups:
        g.setdefault("initial_lr", g["lr"])

    rng = np.random.default_rng(seed + start_step)
    gen = torch.Generator(device=dev)
    gen.manual_seed(seed + start_step)
    batch_size = int(scfg.get("batch", 1))
    weights = tcfg.get("loss_weights", {})
    log_every = max(1, int(tcfg.get("log_every", 10)))
    save_every = int(tcfg.get("save_every", 0))
    out.mkdir(parents=True, exist_ok=True)
    log_path = out / "log.jsonl"
    first: dict | None = None
    last: dict = {}
    running: dict[str, list[float]] = {}
    t0 = time.perf_counter()
    cache = LatentCache(int(tcfg.get("latent_cache", 512)))
    fixed_noise = scfg.get("noise", "random") == "fixed"

    from tqdm import tqdm

    bar = tqdm(range(start_step, n_steps), initial=start_step, total=n_steps, disable=not progress,
               desc=f"stage {stage}", unit="step")  # fmt: skip
    step = start_step
    for step in bar:
        batch = collate([dataset.sample(rng) for _ in range(batch_size)], dev)
        if stage.startswith("1"):
            variant = "mesh" if stage == "1b" else "skeleton"
            alpha = float(scfg.get("overlay_alpha", 0.6))
            z_in = cache.latents(model, batch, "input", partial(_input_clip, batch))
            target = partial(_overlay_clip, batch, variant, alpha, dev)
            z_tgt = cache.latents(model, batch, variant, target)
            with autocast():
                loss = stage1_loss(model, batch, z_in, z_tgt, gen)
            terms = {"total": loss}
        else:
            with torch.no_grad():
                z_in = cache.latents(model, batch, "input", partial(_input_clip, batch))
                shape = batch["clip"].shape
                if fixed_noise:  # the inference noise: features are a function of the window
                    make = partial(
                        model.backbone.features_from_latents,
                        z_in,
                        shape,
                        model.noise_generator(dev),
                    )
                    feats = cache.get(batch, "feats", make)
                else:
                    feats = model.backbone.features_from_latents(z_in, shape, gen, shared=False)
            outputs = model.decode(feats, batch["K"], batch["clip"].shape[2])
            terms = stage2_losses(outputs, batch, weights, model)
            loss = terms["total"]
        for g in opt.param_groups:
            g["lr"] = g["initial_lr"] * rate(step)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, float(scfg.get("clip_grad", 1.0)))
        opt.step()
        for k, v in terms.items():
            running.setdefault(k, []).append(float(v.detach()))
        if (step + 1) % log_every == 0 or step + 1 == n_steps:
            entry = {"stage": stage, "step": step + 1, "time_s": round(time.perf_counter() - t0, 2)}
            entry.update({k: float(np.mean(v)) for k, v in running.items()})
            running.clear()
            with open(log_path, "a") as fh:
                fh.write(json.dumps(entry) + "\n")
            first = first or entry
            last = entry
            bar.set_postfix(loss=f"{entry['total']:.4f}")
            if on_log is not None:
                on_log(entry)
        if save_every and (step + 1) % save_every == 0 and step + 1 < n_steps:
            _save(model, out, stage, step + 1, base_weights, last, opt)
    bar.close()
    _save(model, out, stage, n_steps, base_weights, last, opt)
    model.eval()
    return {"first": first, "last": last, "steps": n_steps, "model": model}


class LatentCache:
    """VAE latents per (window, kind): the VAE is frozen in both stages, so a window's latents
    never change; caching them makes repeated windows cost only the transformer."""

    def __init__(self, max_items: int) -> None:
        self.max_items = max_items
        self.items: dict[tuple, torch.Tensor] = {}

    def latents(
        self, model: ViDiHandModel, batch: dict, kind: str, make_clip: Callable[[], torch.Tensor]
    ) -> torch.Tensor:
        return self.get(batch, kind, lambda: model.backbone.encode(make_clip()))

    def get(self, batch: dict, kind: str, make: Callable[[], torch.Tensor]) -> torch.Tensor:
        keys = [(k, kind) if k else None for k in batch["keys"]]
        known = [k for k in keys if k is not None]
        if len(known) == len(keys) and all(k in self.items for k in known):
            return torch.stack([self.items[k] for k in known])
        with torch.no_grad():
            z = make()
        for k, zi in zip(keys, z, strict=True):
            if k is not None and len(self.items) < self.max_items:
                self.items[k] = zi
        return z


def _input_clip(batch: dict) -> torch.Tensor:
    return batch["clip"]


def _overlay_clip(batch: dict, variant: str, alpha: float, device: torch.device) -> torch.Tensor:
    frames = overlay_video(batch, variant, alpha)
    return torch.from_numpy(frames).to(device).permute(0, 4, 1, 2, 3).float() / 127.5 - 1.0


def _save(
    model: ViDiHandModel,
    out: Path,
    stage: str,
    step: int,
    base_weights: str | None,
    last: dict,
    opt: torch.optim.Optimizer,
) -> None:
    state = {"stage": stage, "step": step, "base_weights": base_weights, "last_log": last}
    save_checkpoint(model, out, base_weights=base_weights, state=state, optimizer=opt)


def read_log(out_dir: str | Path) -> list[dict]:
    p = Path(out_dir) / "log.jsonl"
    return (
        [json.loads(line) for line in p.read_text().splitlines() if line.strip()]
        if p.is_file()
        else []
    )
