"""`vidihand model-info --config full`: the ViDiHand architecture and its parameter counts.

The model is built on the meta device (no memory, no weights needed), so the full 2 B-parameter
configuration can be inspected on any machine.
"""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "model-info",
        help="print the ViDiHand architecture's parameter counts (built on the meta device)",
    )
    p.add_argument("--config", default="full", help="built-in name (tiny, full) or a JSON file")
    p.add_argument("--checkpoint", help="describe this checkpoint folder's configuration instead")
    p.add_argument("--json", action="store_true", help="print JSON (counts and configuration)")
    p.add_argument(
        "--train",
        action="store_true",
        help="also estimate stage-1 training memory per GPU at batch 1 (no GPU needed)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from core.recon.vidihand.config import load_config
    from core.recon.vidihand.model import ViDiHandModel

    if args.checkpoint:
        from core.recon.vidihand.checkpoint import read_checkpoint_config

        cfg, _ = read_checkpoint_config(args.checkpoint)
    else:
        cfg = load_config(args.config)
    model = ViDiHandModel(cfg, meta=True)
    counts = model.parameter_counts()
    t = cfg.raw["transformer"]
    memory = None
    if args.train:
        from dataclasses import asdict

        from core.recon.vidihand.memory import estimate_training_memory

        memory = estimate_training_memory(cfg)
    if args.json:
        out = {"config": cfg.name, "counts": counts, "configuration": cfg.raw}
        if memory is not None:
            out["training_memory"] = {**asdict(memory), "total_checkpointing": memory.total(True),
                                      "total_no_checkpointing": memory.total(False)}  # fmt: skip
        print(json.dumps(out, indent=2))
        return 0
    print(f"ViDiHand configuration {cfg.name!r}: {cfg.raw.get('description', '')}")
    print(
        f"  transformer: {t['num_layers']} blocks, width {cfg.width_dim} "
        f"({t['num_attention_heads']} heads x {t['attention_head_dim']}), ffn {t['ffn_dim']}, "
        f"text {t['text_dim']}, VACE blocks at {t['vace_layers']}"
    )
    print(
        f"  features: block {cfg.layer} at tau {cfg.tau}; input {cfg.width}x{cfg.height}, "
        f"windows of {cfg.window} frames (overlap {cfg.overlap}); hand layer {cfg.hand_model['kind']}"
    )
    labels = {
        "transformer_base": "transformer, base (frozen)",
        "transformer_vace": "transformer, VACE branch (trained in stage 1)",
        "transformer_total": "transformer, total",
        "text_embedding": "learned text embedding",
        "vae": "VAE (frozen; encoder only at inference)",
        "vae_encoder": "  of which encoder",
        "decoder": "hand decoder (trained in stage 2)",
        "total": "total",
    }
    for key, label in labels.items():
        n = counts[key]
        print(f"  {label:<48} {n:>15,d}  ({n / 1e9:.3f} B)")
    if memory is not None:
        print("\n".join(memory.lines()))
    return 0
