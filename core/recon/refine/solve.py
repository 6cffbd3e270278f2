"""The temporal two-hand fit, in three stages per chunk of frames (torch and numpy, CPU).

1. **Per frame** (perframe.py): each frame's pose fitted to its own 2D joints by
   Levenberg-Marquardt (robust, confidence-weighted; angle limits and hinges as residuals).
2. **Over time** (temporal.py): the per-frame poses smoothed exactly as a linear
   maximum-a-posteriori problem (detection noise against an acceleration prior), gaps filled,
   fixed frames passed through.
3. **Jointly**: a few L-BFGS iterations on the whole energy of both hands,

       sum over detected joints of conf * GM(2D error, mm at the hand)  robust reprojection
     + w_accel     * |3D joint acceleration|^2   (mm)           smooth motion
     + w_rot_accel * |rotation acceleration|^2                  smooth orientation
     + w_limits    * (angle beyond its limit)^2                 anatomy
     + w_hinge     * (twist of middle/end joints)^2             hinges stay hinges
     + w_penetration * (overlap of the two hands' spheres)^2 (mm)

   which brings the smoothed track back onto the 2D evidence and pushes interpenetrating hands
   apart.

Frames have a mode: ACTIVE (solved), FIXED (held at given joints: constraint frames and the
already-solved frames of the previous chunk) or NONE (not part of the fit). Fixed frames enter
the smoothness and interpenetration terms, so solved frames run smoothly into them, but they
are never written. Long videos are solved in chunks of `settings.chunk` frames with
`settings.overlap` frames of context on both sides: memory depends on the chunk, not the video.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import torch

from core.hands.mano import single_thread
from core.recon.refine import energy
from core.recon.refine.kinematics import forward, project, rodrigues, skeleton_tensors
from core.recon.refine.lbfgs import lbfgs
from core.recon.refine.modes import ACTIVE, FIXED, NONE
from core.recon.refine.perframe import T_UNIT, fit_frames, joint_jacobian, project_jacobian
from core.recon.refine.settings import RefineSettings
from core.recon.refine.shape import TrackSkeleton, hand_frames
from core.recon.refine.temporal import smooth_track


@dataclass
class HandProblem:
    """One hand over the solved frames (all arrays have the same leading length N)."""

    skeleton: TrackSkeleton | None
    mode: np.ndarray  #: (N,) int8: NONE, ACTIVE or FIXED
    uv: np.ndarray  #: (N, 21, 2) detected joints (pixels); only read where w2d > 0
    w2d: np.ndarray  #: (N, 21) weight of each detected joint (0: no evidence)
    fixed: np.ndarray  #: (N, 21, 3) joints of FIXED frames
    R0: np.ndarray  #: (N, 3, 3) starting rotation (FIXED frames: theirs)
    t0: np.ndarray  #: (N, 3) starting wrist position
    angles0: np.ndarray  #: (N, 5, 3, 2) starting finger angles


@dataclass
class Pose:
    """Solved poses of both hands: R (2, N, 3, 3), t (2, N, 3), angles (2, N, 5, 3, 2) and the
    joints (2, N, 21, 3)."""

    R: np.ndarray
    t: np.ndarray
    angles: np.ndarray
    joints: np.ndarray


def _triples(mode: np.ndarray) -> np.ndarray:
    """(H, T-2): t-1, t, t+1 all in the fit and at least one of them solved."""
    inside = mode != NONE
    ok = inside[:, :-2] & inside[:, 1:-1] & inside[:, 2:]
    act = mode == ACTIVE
    return ok & (act[:, :-2] | act[:, 1:-1] | act[:, 2:])


def _stage_per_frame_and_time(
    problems: list[HandProblem], skel: list[dict[str, torch.Tensor]], K: np.ndarray,
    settings: RefineSettings,
) -> list[HandProblem]:  # fmt: skip
    """Stages 1 and 2: new starting poses for every hand."""
    out = []
    for h, p in enumerate(problems):
        if p.skeleton is None or not (p.mode == ACTIVE).any():
            out.append(p)
            continue
        R, t, ang = p.R0.copy(), p.t0.copy(), p.angles0.copy()
        ev = (p.mode == ACTIVE) & (p.w2d.sum(-1) > 0)
        if ev.any():
            R[ev], t[ev], ang[ev] = fit_frames(
                p.R0[ev], p.t0[ev], p.angles0[ev], p.uv[ev], p.w2d[ev], skel[h], K,
                settings.robust_mm, settings.w_limits, settings.w_hinge, settings.frame_iterations,
            )  # fmt: skip
        conf = np.where(ev, p.w2d.mean(-1), 0.0)
        R, t, ang = smooth_track(
            p.mode, conf, R, t, ang, 2.0 * p.skeleton.palm_length,
            settings.obs_mm, settings.accel_mm, settings.rot_obs, settings.rot_accel,
            settings.angle_obs, settings.angle_accel,
        )  # fmt: skip
        if ev.any() and settings.refit_iterations > 0:
            # back onto the 2D evidence, anchored to the smooth track: a joint moved d mm
            # off a smooth track on one frame costs (1 + 4 + 1) d^2 of stage 3's acceleration
            # term, so the anchor's weight is 6 w_accel
            held = forward(
                torch.as_tensor(R[ev])[None], torch.as_tensor(t[ev])[None],
                torch.as_tensor(ang[ev])[None], skel[h],
            )[0].numpy()  # fmt: skip
            R[ev], t[ev], ang[ev] = fit_frames(
                R[ev], t[ev], ang[ev], p.uv[ev], p.w2d[ev], skel[h], K, settings.robust_mm,
                settings.w_limits, settings.w_hinge, settings.refit_iterations, held,
                6.0 * settings.w_accel,
            )  # fmt: skip
        out.append(replace(p, R0=R, t0=t, angles0=ang))
    return out


def _preconditioner(
    R: torch.Tensor, t: torch.Tensor, angles: torch.Tensor, skel: dict[str, torch.Tensor],
    K: torch.Tensor, w2d: torch.Tensor, mm_per_px: torch.Tensor, settings: RefineSettings,
) -> torch.Tensor:  # fmt: skip
    """(H, N, 36) 1 / sqrt(diagonal of the Gauss-Newton Hessian) per unknown."""
    out = []
    for h in range(R.shape[0]):
        sk = {k: v[h : h + 1] for k, v in skel.items()}
        J, dJ = joint_jacobian(R[h], t[h], angles[h], sk)  # (N, 21, 36, 3)
        d2 = torch.einsum("njux,njpx->njup", project_jacobian(J, K), dJ) * mm_per_px[h, ..., None]
        diag = (w2d[h][..., None, None] * d2.pow(2)).sum((1, 2))
        diag = diag + 6.0 * settings.w_accel * 1e6 * dJ.pow(2).sum((1, 3))
        diag[:, :3] += 12.0 * settings.w_rot_accel
        out.append(1.0 / torch.sqrt(diag + 1.0))
    return torch.stack(out)


def solve_window(problems: list[HandProblem], K: np.ndarray, settings: RefineSettings) -> Pose:
    """Solve both hands over one window (modes in the problems)."""
    # stage 3 in float32: a third cheaper than float64 and the same figures (bench_refine);
    # the per-frame LM and the smoother stay in float64
    dt = torch.float32
    skels = [p.skeleton for p in problems]
    known = next(s for s in skels if s is not None)
    skels_full = [s if s is not None else known for s in skels]
    problems = _stage_per_frame_and_time(
        problems, [skeleton_tensors([s]) for s in skels_full], K, settings
    )
    skel = {k: v.to(dt) for k, v in skeleton_tensors(skels_full).items()}
    mode = np.stack([p.mode for p in problems])
    stack = lambda name: torch.as_tensor(np.stack([getattr(p, name) for p in problems]), dtype=dt)  # noqa: E731
    uv, w2d, fixed = stack("uv"), stack("w2d"), stack("fixed")
    R0, t0, angles = stack("R0"), stack("t0"), stack("angles0")
    modes = torch.as_tensor(mode)
    active = (modes == ACTIVE).to(dt)
    is_fixed = modes == FIXED
    w2d = w2d * active[..., None]
    uv, fixed = torch.nan_to_num(uv), torch.nan_to_num(fixed)
    R_fixed = torch.as_tensor(
        np.nan_to_num(np.stack([hand_frames(p.fixed, h) for h, p in enumerate(problems)])),
        dtype=dt,
    )
    triples = torch.as_tensor(_triples(mode), dtype=dt)
    both = torch.as_tensor(np.flatnonzero((mode != NONE).all(0) & (mode == ACTIVE).any(0)))
    Kt = torch.as_tensor(K, dtype=dt)
    # pixels -> millimetres at the hand, from stage 2's depths (held: not a variable)
    mm_per_px = (1000.0 * t0[..., 2].clamp(min=0.05) / float(K[0, 0]))[..., None, None]
    limits = torch.as_tensor(energy.ANGLE_LIMITS, dtype=dt)
    radii = torch.as_tensor(energy.SPHERE_RADII, dtype=dt)
    n_active = max(float(active.sum()), 1.0)

    shapes = [(*R0.shape[:2], 3), tuple(t0.shape), tuple(angles.shape)]
    sizes = [int(np.prod(sh)) for sh in shapes]
    angles0 = angles

    def unflat(x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(c.reshape(sh) for c, sh in zip(torch.split(x, sizes), shapes, strict=True))

    def pose(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        w, dtr, dang = unflat(x)
        R = R0 @ rodrigues(w)
        t = t0 + T_UNIT.to(dt) * dtr
        ang = angles0 + dang
        J = forward(R, t, ang, skel)
        J = torch.where(is_fixed[..., None, None], fixed, J)
        R = torch.where(is_fixed[..., None, None], R_fixed, R)
        return J, R, t, ang

    def fun(x_in: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = x_in.detach().requires_grad_(True)
        J, R, _, ang = pose(x)
        e = energy.reprojection(project(J, Kt), uv, w2d, settings.robust_mm, mm_per_px)
        e = e + settings.w_accel * energy.acceleration(J * 1000.0, triples)
        e = e + settings.w_rot_accel * energy.rotation_acceleration(R, triples)
        e = e + settings.w_limits * energy.angle_limits(ang, active, limits)
        e = e + settings.w_hinge * energy.hinge_twist(ang, active)
        if settings.w_penetration > 0 and both.numel():
            e = e + settings.w_penetration * energy.interpenetration(J[0, both], J[1, both], radii)
        e = e / n_active
        (g,) = torch.autograd.grad(e, x)
        return e.detach(), g

    # Jacobi preconditioning: L-BFGS runs on x / scale, where scale^-2 is the diagonal of the
    # energy's Gauss-Newton Hessian at the start (2D, acceleration, rotation terms), so a
    # poorly determined unknown (depth) and a well determined one (an angle seen side-on)
    # move at their own pace
    scale = _preconditioner(R0, t0, angles0, skel, Kt, w2d, mm_per_px, settings) * n_active**0.5
    scale = torch.cat([scale[..., :3].reshape(-1), scale[..., 3:6].reshape(-1),
                       scale[..., 6:].reshape(-1)])  # fmt: skip

    def fun_scaled(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f, g = fun(z * scale)
        return f, g * scale

    x = torch.zeros(sum(sizes), dtype=dt)
    if settings.iterations > 0:
        x = lbfgs(fun_scaled, x, settings.iterations) * scale
    with torch.no_grad():
        J, R, t, ang = pose(x)
    return Pose(*(v.double().numpy() for v in (R, t, ang, J)))


def solve(
    problems: list[HandProblem],
    K: np.ndarray,
    settings: RefineSettings,
    on_chunk: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Solve both hands over their N frames in overlapping chunks; joints (2, N, 21, 3), NaN
    where a hand's frame is not ACTIVE."""
    n = len(problems[0].mode)
    out = np.full((2, n, 21, 3), np.nan)
    mode_all = np.stack([p.mode for p in problems]).astype(np.int8)
    if not (mode_all == ACTIVE).any():
        return out
    solved_R = np.stack([p.R0 for p in problems])
    solved_t = np.stack([p.t0 for p in problems])
    solved_a = np.stack([p.angles0 for p in problems])
    chunk, ov = max(8, settings.chunk), max(0, settings.overlap)
    with single_thread():
        for c0 in range(0, n, chunk):
            c1 = min(n, c0 + chunk)
            if not (mode_all[:, c0:c1] == ACTIVE).any():
                continue
            e0, e1 = max(0, c0 - ov), min(n, c1 + ov)
            window = []
            for h, p in enumerate(problems):
                mode = p.mode[e0:e1].copy()
                held, R0 = p.fixed[e0:e1].copy(), solved_R[h, e0:e1].copy()
                t0, a0 = solved_t[h, e0:e1].copy(), solved_a[h, e0:e1].copy()
                # context before the chunk: frames solved there are held where they were put
                done = np.flatnonzero(np.isfinite(out[h, e0:c0]).all(axis=(1, 2)))
                mode[done], held[done] = FIXED, out[h, e0 + done]
                window.append(
                    HandProblem(p.skeleton, mode, p.uv[e0:e1], p.w2d[e0:e1], held, R0, t0, a0)
                )
            pose = solve_window(window, K, settings)
            keep = slice(c0 - e0, c1 - e0)
            for h in range(2):
                act = np.flatnonzero(window[h].mode[keep] == ACTIVE)
                out[h, c0 + act] = pose.joints[h, keep][act]
                solved_R[h, c0 + act] = pose.R[h, keep][act]
                solved_t[h, c0 + act] = pose.t[h, keep][act]
                solved_a[h, c0 + act] = pose.angles[h, keep][act]
            if on_chunk is not None:
                on_chunk(c1, n)
    return out
