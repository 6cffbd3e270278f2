"""MANO fitting from 21 joints: accuracy (mean joint error after the fit, mm) and speed (frames/s
on CPU) at batch sizes 1 and 64, on poses sampled from the synthetic MANO-format model.

Baseline, measured in the same run: the straightforward fit (smplx's full forward with all 778
vertices skinned, identity rotation and the wrist as translation to start, the same L-BFGS and
iteration budget). Run: `.venv/bin/python bench/bench_fit.py [--quick]`.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
import torch

from core.hands.fit import fit_mano, fit_track
from core.hands.mano import ManoModel, single_thread
from core.hands.synthetic_mano import write_synthetic_mano
from core.labels.joints import RIGHT


def sample_params(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    return {
        "global_orient": rng.normal(size=(n, 3)),
        "hand_pose": rng.normal(size=(n, 45)) * 0.25,
        "betas": rng.normal(size=(n, 10)),
        "transl": rng.normal(size=(n, 3)) * 0.1 + [0.0, 0.0, 0.5],
    }


def baseline_fit(model: ManoModel, joints: np.ndarray, iterations: int) -> np.ndarray:
    """Plain L-BFGS on smplx's full forward from a neutral start; returns per-frame error (m)."""
    n = len(joints)
    tgt = torch.tensor(joints, dtype=torch.float32)
    go = torch.zeros(n, 3, requires_grad=True)
    hp = torch.zeros(n, 45, requires_grad=True)
    be = torch.zeros(n, 10, requires_grad=True)
    tr = torch.tensor(joints[:, 0], dtype=torch.float32, requires_grad=True)
    opt = torch.optim.LBFGS([go, hp, be, tr], max_iter=iterations, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        _, pred = model.forward_torch(RIGHT, go, hp, be, tr)
        loss = ((pred - tgt) * 100).pow(2).sum(-1).mean(-1).sum() + 1e-3 * hp.pow(2).sum()
        loss = loss + 1e-2 * be.pow(2).sum()
        loss.backward()
        return loss

    with single_thread():
        opt.step(closure)
    with torch.no_grad():
        _, pred = model.forward_torch(RIGHT, go, hp, be, tr)
    return (pred - tgt).norm(dim=-1).mean(-1).numpy()


def run(batch: int, total: int, model: ManoModel, rng: np.random.Generator, iterations: int):
    joints = model.joints(RIGHT, sample_params(rng, total))
    errs, base_errs = [], []
    t0 = time.perf_counter()
    for s in range(0, total, batch):
        errs.append(
            fit_mano(model, RIGHT, joints[s : s + batch], iterations=iterations).joint_error
        )
    t_fit = time.perf_counter() - t0
    t0 = time.perf_counter()
    for s in range(0, total, batch):
        base_errs.append(baseline_fit(model, joints[s : s + batch], iterations))
    t_base = time.perf_counter() - t0
    return (
        float(np.concatenate(errs).mean() * 1e3),
        total / t_fit,
        float(np.concatenate(base_errs).mean() * 1e3),
        total / t_base,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer frames")
    ap.add_argument("--iterations", type=int, default=30, help="L-BFGS iterations (default 30)")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as d:
        model = ManoModel(write_synthetic_mano(d, chumpy=True))
        print(
            f"torch {torch.__version__}, CPU, 1 intra-op thread; {args.iterations} L-BFGS iterations"
        )
        print(
            f"{'batch':>5} {'frames':>6} | {'fit mm':>7} {'fit fps':>8} | {'base mm':>8} {'base fps':>8} | speed x  error /"
        )
        for batch, total in ((1, 8 if args.quick else 32), (64, 64 if args.quick else 256)):
            mm, fps, bmm, bfps = run(batch, total, model, rng, args.iterations)
            print(
                f"{batch:>5} {total:>6} | {mm:7.2f} {fps:8.1f} | {bmm:8.2f} {bfps:8.1f} | "
                f"{fps / bfps:6.1f}  {bmm / mm:6.1f}"
            )
        # a whole track of one person (constant betas): one shape, then fixed-shape fits
        total = 64 if args.quick else 512
        p = sample_params(rng, total)
        p["betas"][:] = p["betas"][0]
        joints = model.joints(RIGHT, p)
        t0 = time.perf_counter()
        track = fit_track(model, RIGHT, joints, iterations=args.iterations)
        t_track = time.perf_counter() - t0
        spread = float(np.ptp(track.params["betas"], axis=0).max())
        print(
            f"track of {total} frames (fit_track, one shape): {track.joint_error.mean() * 1e3:.2f} mm,"
            f" {total / t_track:.1f} frames/s, betas spread over frames {spread:.1e}"
        )


if __name__ == "__main__":
    main()
