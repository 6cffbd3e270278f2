"""Speed of the ViDiHand reconstructor.

1. One window, split into VAE encode, transformer (truncated after block L) and decoder, with the
   untruncated transformer as baseline. A window of W frames overlapping the next by O frames
   brings W - O *new* frames (65 of 81 in the full configuration): frames/s are given per new
   frame.
2. End to end: the real backend (`ViDiHandReconstructor.reconstruct`) over a video file, video
   decoding, resizing, every window with its overlap, blending and the host copies included:
   frames out per second of wall time.

    python bench/bench_vidihand.py            # GPU: full config, 81 frames at 832x480, bf16
    python bench/bench_vidihand.py --quick    # fewer repeats
    python bench/bench_vidihand.py --config tiny --device cpu

Random weights (speed does not depend on them), built in float32 and cast to the inference
precision (core/recon/vidihand/precision.py) before the GPU's peak-memory counter is reset, so
the peak is that of inference alone. The video is the project's sample (6 s, 640x480, generated
on first use) unless --video is given. The paper reports 5.5 fps on four A100s; the target is
>= 30 fps on one H100.
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
    p.add_argument("--video", help="video for the end-to-end run (default: the project's sample)")
    p.add_argument("--frames", type=int, help="end-to-end run on the first N frames (default all)")
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

    from core.recon.vidihand.precision import cast_backbone

    t0 = time.perf_counter()
    torch.manual_seed(0)
    model = ViDiHandModel(cfg).eval()  # float32 on the CPU: its size is not inference's
    if dtype != torch.float32:
        cast_backbone(model.backbone, dtype)  # diffusers' float32 modules stay float32
    model = model.to(device)
    build_s = time.perf_counter() - t0
    if cuda:
        torch.cuda.empty_cache()
        resident = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
    T, H, W, B = cfg.window, cfg.height, cfg.width, args.batch
    clip = torch.rand(B, 3, T, H, W, device=device) * 2 - 1  # float32: the VAE's precision
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
    frames = B * (T - cfg.overlap)  # new frames: the overlap is computed twice
    peak_window = torch.cuda.max_memory_allocated(device) if cuda else 0
    print(f"window timed ({time.perf_counter() - t0:.0f} s); end to end...", file=sys.stderr)
    e2e = end_to_end(model, args.video, device, dtype, 1 if args.quick else 2, args.frames)
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
        "new_frames_per_window": T - cfg.overlap,
        "fps": round(frames / total, 2),
        "fps_window_all_frames": round(B * T / total, 2),
        "fps_untruncated": round(frames / (t_vae + t_full + t_dec), 2),
        **e2e,
        "truncation_speedup_transformer": round(t_full / t_tr, 2),
        "share_vae": round(t_vae / total, 3),
        "model_memory_gib": round(resident / 2**30, 2) if cuda else None,
        "peak_memory_gib": round(peak_window / 2**30, 2) if cuda else None,
    }
    print(
        f"ViDiHand speed, {res['config']} config on {res['device']}, {res['clip']}, {res['dtype']}"
    )
    print(
        f"  VAE encode               {t_vae * 1000:9.1f} ms  ({res['share_vae'] * 100:.0f}% of the time)"
    )
    print(f"  transformer to block {cfg.layer:<3} {t_tr * 1000:9.1f} ms")
    print(f"  decoder                  {t_dec * 1000:9.1f} ms")
    print(f"  => {res['fps']:.2f} new frames/s ({T - cfg.overlap} new of {T} per window; "
          f"{res['fps_window_all_frames']:.2f} counting the overlap twice)")  # fmt: skip
    print(f"  end to end on {res['e2e_video']}: {res['e2e_frames']} frames in "
          f"{res['e2e_s']:.2f} s => {res['e2e_fps']:.2f} frames/s (decoding, windows, overlap, "
          f"blending included)")  # fmt: skip
    print(f"  baseline: all {res['num_layers']} blocks {t_full * 1000:9.1f} ms "
          f"=> {res['fps_untruncated']:.2f} frames/s; truncation makes the transformer "
          f"{res['truncation_speedup_transformer']:.2f}x faster")  # fmt: skip
    if res["peak_memory_gib"] is not None:
        print(f"  GPU memory: model {res['model_memory_gib']} GiB; peak of one window's "
              f"inference {res['peak_memory_gib']} GiB, end to end {res['e2e_peak_memory_gib']} "
              "GiB (the float32 build is not in these)")  # fmt: skip
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(res, indent=2))
    return 0


def end_to_end(model, video: str | None, device, dtype, repeats: int, n_frames: int | None) -> dict:  # noqa: ANN001
    """The real backend over a whole video, best of `repeats` (the first also warms up)."""
    import torch

    from core.labels.document import default_intrinsics
    from core.recon.vidihand.backend import ViDiHandReconstructor
    from core.video.reader import open_video

    if video is None:
        from core.sample.generate import ensure_sample

        video = str(ensure_sample()[0])
    cuda = device.type == "cuda"
    backend = ViDiHandReconstructor(
        model=model, device=str(device), precision="bf16" if dtype == torch.bfloat16 else "fp32"
    )
    best, n, peak = float("inf"), 0, 0
    for _ in range(repeats + 1):
        with open_video(video) as v:
            K = default_intrinsics(v.info.width, v.info.height)
            frames = range(0, min(v.info.n_frames, n_frames or v.info.n_frames))
            if cuda:
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats(device)
            t = time.perf_counter()
            n = sum(len(b) for b in backend.reconstruct(v, frames, K))
            if cuda:
                torch.cuda.synchronize()
                peak = torch.cuda.max_memory_allocated(device)
            best = min(best, time.perf_counter() - t)
    return {
        "e2e_video": Path(video).name,
        "e2e_frames": n,
        "e2e_s": round(best, 3),
        "e2e_fps": round(n / best, 2),
        "e2e_peak_memory_gib": round(peak / 2**30, 2) if cuda else None,
    }


if __name__ == "__main__":
    sys.exit(main())
