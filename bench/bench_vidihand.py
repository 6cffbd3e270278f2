"""Speed of the ViDiHand reconstructor: frames per second for one window, split into VAE encode,
transformer (truncated after block L) and decoder, with the untruncated transformer as baseline.

    python bench/bench_vidihand.py            # GPU: full config, 81 frames at 832x480, bf16
    python bench/bench_vidihand.py --quick    # fewer repeats
    python bench/bench_vidihand.py --config tiny --device cpu

Random weights (speed does not depend on them). Needs only torch, diffusers and numpy (plus the
project's pure-Python core package beside it): copy the repository and run it on a GPU machine.
The paper reports 5.5 fps on four A100s; the target is >= 30 fps on one H100.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    import torch

    from core.recon.vidihand.config import load_config
    from core.recon.vidihand.model import ViDiHandModel

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", help="tiny or full (default: full on GPU, tiny on CPU)")
    p.add_argument("--device", help="cuda or cpu (default: cuda when available)")
    p.add_argument("--batch", type=int, default=1, help="windows per forward pass")
    p.add_argument("--dtype", choices=("bfloat16", "float16", "float32"), help="backbone dtype")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--quick", action="store_true", help="2 repeats")
    p.add_argument("--json", help="also write the figures to this JSON file")
    args = p.parse_args()

    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    cuda = device.type == "cuda"
    cfg = load_config(args.config or ("full" if cuda else "tiny"))
    dtype = (
        getattr(torch, args.dtype) if args.dtype else (torch.bfloat16 if cuda else torch.float32)
    )
    repeats = 2 if args.quick else args.repeats
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True

    t0 = time.perf_counter()
    with torch.device(device):
        model = ViDiHandModel(cfg)
    model = model.to(device).eval()
    model.backbone.to(dtype)  # the decoder stays float32, as in the backend
    build_s = time.perf_counter() - t0
    T, H, W, B = cfg.window, cfg.height, cfg.width, args.batch
    clip = torch.rand(B, 3, T, H, W, device=device, dtype=dtype) * 2 - 1
    K = torch.tensor(
        [[W * 0.9, 0, (W - 1) / 2], [0, W * 0.9, (H - 1) / 2], [0, 0, 1]], device=device
    )
    K = K.expand(B, 3, 3)
    bb = model.backbone

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize()

    def timed(fn):
        sync()
        t = time.perf_counter()
        out = fn()
        sync()
        return out, time.perf_counter() - t

    gen = model.noise_generator(device)
    rows = []
    with torch.inference_mode():
        for it in range(repeats + 1):  # the first pass warms up (kernels, caches)
            lat, t_vae = timed(lambda: bb.encode(clip))
            lat = lat.to(dtype)
            bb.zero_latents(clip.shape, device)
            feats, t_tr = timed(lambda: bb.features_from_latents(lat, clip.shape, gen))  # noqa: B023 (called at once)
            _, t_dec = timed(lambda: model.decode(feats, K, T))  # noqa: B023 (called at once)
            ctrl = bb.control_from(lat, clip.shape)
            x, _ = bb.noised(lat, cfg.tau, gen, shared=True)
            _, t_full = timed(lambda: bb.run(x, ctrl, cfg.tau))  # noqa: B023 (called at once)
            if it:
                rows.append((t_vae, t_tr, t_dec, t_full))
    import numpy as np

    r = np.median(np.array(rows), axis=0)
    t_vae, t_tr, t_dec, t_full = (float(v) for v in r)
    total = t_vae + t_tr + t_dec
    frames = B * T
    res = {
        "device": torch.cuda.get_device_name(device) if cuda else "cpu",
        "config": cfg.name,
        "clip": f"{B}x{T} frames at {W}x{H}",
        "dtype": str(dtype).replace("torch.", ""),
        "layer": cfg.layer,
        "num_layers": cfg.transformer["num_layers"],
        "build_s": round(build_s, 2),
        "vae_encode_s": round(t_vae, 4),
        "transformer_truncated_s": round(t_tr, 4),
        "decoder_s": round(t_dec, 4),
        "transformer_full_s": round(t_full, 4),
        "fps": round(frames / total, 2),
        "fps_untruncated": round(frames / (t_vae + t_full + t_dec), 2),
        "truncation_speedup_transformer": round(t_full / t_tr, 2),
        "share_vae": round(t_vae / total, 3),
        "peak_memory_gib": round(torch.cuda.max_memory_allocated(device) / 2**30, 2)
        if cuda
        else None,
    }
    print(
        f"ViDiHand speed, {res['config']} config on {res['device']}, {res['clip']}, {res['dtype']}"
    )
    print(
        f"  VAE encode               {t_vae * 1000:9.1f} ms  ({res['share_vae'] * 100:.0f}% of the time)"
    )
    print(f"  transformer to block {cfg.layer:<3} {t_tr * 1000:9.1f} ms")
    print(f"  decoder                  {t_dec * 1000:9.1f} ms")
    print(f"  => {res['fps']:.2f} frames/s")
    print(f"  baseline: all {res['num_layers']} blocks {t_full * 1000:9.1f} ms "
          f"=> {res['fps_untruncated']:.2f} frames/s; truncation makes the transformer "
          f"{res['truncation_speedup_transformer']:.2f}x faster")  # fmt: skip
    if res["peak_memory_gib"] is not None:
        print(f"  peak GPU memory {res['peak_memory_gib']} GiB")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
