"""Stage 1 of the fit: every frame's pose fitted to its own 2D joints, independently.

Levenberg-Marquardt per frame (36 unknowns: rotation update, translation update, 30 finger
angles; residuals: the robust 2D errors in millimetres at the hand by iteratively reweighted
least squares, the angle limits and the hinge term), all frames at once. The Jacobian is analytic (`joint_jacobian`):
every unknown turns or shifts a known set of joints about a known axis, so one pass of the
kinematic chain gives the joints and all their derivatives (forward differences needed twelve
batched passes). Rotation and translation are re-linearised at every step (the update is
applied to the current pose), the 36x36 solves are batched, and a frame that has converged
leaves the batch. Independent frames converge in a few iterations, which a first-order solver
over the whole sequence cannot do.
"""

from __future__ import annotations

import numpy as np
import torch

from core.labels.joints import FINGERS
from core.recon.refine import energy
from core.recon.refine.kinematics import bone_rotation, forward, project, rodrigues
from core.recon.refine.shape import PALM

N_PARAMS = 36
#: the translation unknowns are in these units (metres): as well scaled as the angles
T_UNIT = torch.tensor([0.05, 0.05, 0.2], dtype=torch.float64)
#: parameter columns of the hinge residuals: abduction of the middle and end bones
_HINGE_COLS = torch.tensor([6 + 6 * f + 2 * k for f in range(5) for k in (1, 2)])
#: a frame leaves the batch when a step improves its cost by less than this fraction
_CONVERGED = 1e-3

_FINGER_IDX = torch.as_tensor(np.asarray(FINGERS))  # (5, 4)
#: per finger f, bone k, angle (abduction, flexion), moved joint m (1..3): the joint index and
#: the parameter column; entries with m <= k (joints before the bone) are masked out
_JAC_JOINT = _FINGER_IDX[:, None, None, 1:].expand(5, 3, 2, 3)
_JAC_COL = (6 + 6 * torch.arange(5)[:, None, None] + 2 * torch.arange(3)[None, :, None]
            + torch.arange(2)[None, None, :])[..., None].expand(5, 3, 2, 3)  # fmt: skip
_JAC_MASK = torch.arange(3)[None, :] >= torch.arange(3)[:, None]  # (k, m): joint m beyond bone k
#: flat (joint * 36 + column) positions of the finger-angle derivatives that are not zero
_JAC_FLAT = (_JAC_JOINT * N_PARAMS + _JAC_COL)[:, _JAC_MASK[:, None, :].expand(3, 2, 3)]


def joint_jacobian(
    R: torch.Tensor, t: torch.Tensor, angles: torch.Tensor, skel: dict[str, torch.Tensor]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Joints (N, 21, 3) of one hand's poses and their derivatives (N, 21, 36, 3) with respect
    to the LM unknowns at zero update: a rotation w applied as R @ exp(w), a translation in
    T_UNIT, and the 30 finger angles (the same chain as `kinematics.forward`, H = 1).

    A rotation about a world axis a through a pivot p moves a point x by a x (x - p): the
    global rotation's axes are R's columns (pivot: the wrist), a bone's abduction turns about
    its parent frame's dorsal axis and its flexion about its own lateral axis (pivot: the
    bone's base), moving the joints beyond the bone.
    """
    n = R.shape[0]
    dt = R.dtype
    palm = torch.einsum("nij,kj->nki", R, skel["palm"][0])  # (N, 6, 3)
    F = R[:, None] @ skel["rest"][0][None]  # (N, 5, 3, 3)
    M = bone_rotation(angles[..., 0], angles[..., 1])  # (N, 5, 3, 3, 3)
    lengths = skel["lengths"][0]  # (5, 3)
    pos = palm[:, 1:]  # finger bases (N, 5, 3)
    chain, pivots, axes = [], [], []
    for k in range(3):
        pivots.append(pos)
        axis_a = F[..., :, 2]
        F = F @ M[:, :, k]
        axes.append(torch.stack([axis_a, F[..., :, 1]], 2))  # (N, 5, 2, 3)
        pos = pos + lengths[:, k, None] * F[..., :, 0]
        chain.append(pos)
    local = torch.empty(n, 21, 3, dtype=dt)
    local[:, list(PALM)] = palm
    P = torch.stack(chain, 2)  # (N, 5, 3 moved joints, 3)
    local[:, _FINGER_IDX[:, 1:]] = P
    d = torch.zeros(n, 21, N_PARAMS, 3, dtype=dt)
    # global rotation: column k of R crossed with the joint (wrist at the origin of `local`)
    d[:, :, :3] = torch.linalg.cross(R.transpose(1, 2)[:, None], local[:, :, None], dim=-1)
    d[:, :, 3:6] = torch.diag(T_UNIT.to(dt))
    # finger angles: (N, 5 fingers, 3 bones, 2 angles, 3 moved joints, 3)
    rel = P[:, :, None] - torch.stack(pivots, 2)[:, :, :, None]  # (N, 5, k, m, 3)
    ax = torch.stack(axes, 2)  # (N, 5, k, 2, 3)
    D = torch.linalg.cross(ax[:, :, :, :, None], rel[:, :, :, None], dim=-1)
    mask = _JAC_MASK[:, None, :].expand(3, 2, 3)
    d.view(n, 21 * N_PARAMS, 3)[:, _JAC_FLAT.reshape(-1)] = D[:, :, mask].reshape(n, -1, 3)
    return local + t[:, None], d


def project_jacobian(J: torch.Tensor, K: torch.Tensor, min_depth: float = 0.02) -> torch.Tensor:
    """(N, 21, 2, 3) derivative of `kinematics.project` at camera points J (N, 21, 3)."""
    z = J[..., 2].clamp(min=min_depth)
    x, y = J[..., 0] / z, J[..., 1] / z
    zero = torch.zeros_like(z)
    du = torch.stack([K[0, 0] / z, K[0, 1] / z, -(K[0, 0] * x + K[0, 1] * y) / z], -1)
    dv = torch.stack([zero, K[1, 1] / z, -K[1, 1] * y / z], -1)
    return torch.stack([du, dv], -2)


def fit_frames(
    R0: np.ndarray, t0: np.ndarray, angles0: np.ndarray, uv: np.ndarray, w2d: np.ndarray,
    skel: dict[str, torch.Tensor], K: np.ndarray, sigma: float, w_limits: float,
    w_hinge: float, iterations: int = 10, anchor: np.ndarray | None = None,
    w_anchor: float = 0.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """Fit N frames of one hand (skeleton `skel`, H = 1); returns R, t, angles.

    With `anchor` (N, 21, 3) the fit also pays `w_anchor` per squared millimetre of each
    joint's distance to it (stage 2's way back onto the 2D evidence, solve.py)."""
    dt = torch.float64
    n = len(R0)
    if n == 0:
        return R0, t0, angles0
    R = torch.as_tensor(R0, dtype=dt).clone()
    t = torch.as_tensor(t0, dtype=dt).clone()
    ang = torch.as_tensor(angles0, dtype=dt).reshape(n, 30).clone()
    uvt = torch.nan_to_num(torch.as_tensor(uv, dtype=dt))
    sqw = torch.sqrt(torch.as_tensor(w2d, dtype=dt))
    Kt = torch.as_tensor(K, dtype=dt)
    # pixels -> millimetres at the hand, from the starting depth (held: not a variable)
    mm_per_px = (1000.0 * t[:, 2].clamp(min=0.05) / float(K[0, 0]))[:, None, None]
    lo, hi = torch.as_tensor(energy.ANGLE_LIMITS, dtype=dt).reshape(30, 2).unbind(-1)
    sl, sh = float(np.sqrt(w_limits)), float(np.sqrt(w_hinge))
    sa = 1000.0 * float(np.sqrt(w_anchor)) if anchor is not None else 0.0
    held = torch.as_tensor(anchor, dtype=dt) if anchor is not None else None
    hinge_idx = _HINGE_COLS - 6
    s2 = sigma * sigma

    def residuals(
        J: torch.Tensor, a: torch.Tensor, idx: torch.Tensor, sw: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """2D errors (m, 21, 2) and the weighted residuals: 2D (with IRLS weights `sw`, or
        new ones), limits and hinges (m, 40), anchor (m, 63 or 0)."""
        e = (project(J, Kt) - uvt[idx]) * mm_per_px[idx]
        if sw is None:  # IRLS for Geman-McClure: weight (s^2 / (s^2 + r^2))^2 on r^2
            sw = sqw[idx] * (s2 / (s2 + e.pow(2).sum(-1)))
        lim = sl * ((lo - a).clamp(min=0.0) + (a - hi).clamp(min=0.0))
        r = [(e * sw[..., None]).reshape(len(a), -1), lim, sh * a[:, hinge_idx]]
        if held is not None:
            r.append(sa * (J - held[idx]).reshape(len(a), -1))
        return e, sw, torch.cat(r, 1)

    todo = torch.arange(n)
    mu = torch.full((n,), 1e-2, dtype=dt)
    with torch.no_grad():
        for _ in range(iterations):
            if todo.numel() == 0:
                break
            Ri, ti, ai, m = R[todo], t[todo], ang[todo], todo.numel()
            J, dJ = joint_jacobian(Ri, ti, ai.reshape(m, 5, 3, 2), skel)
            _, sw, r = residuals(J, ai, todo, None)
            J2 = torch.einsum("njux,njpx->njup", project_jacobian(J, Kt), dJ)
            J2 = J2 * (mm_per_px[todo] * sw[..., None])[..., None]
            J2 = J2.reshape(m, 42, N_PARAMS)
            if held is not None:  # the anchor's rows: the joints' own derivatives
                J2 = torch.cat([J2, sa * dJ.transpose(2, 3).reshape(m, 63, N_PARAMS)], 1)
                rj = torch.cat([r[:, :42], r[:, 82:]], 1)
            else:
                rj = r[:, :42]
            JtJ = J2.transpose(1, 2) @ J2
            g = (J2.transpose(1, 2) @ rj[..., None])[..., 0]
            # limits and hinges are diagonal in the angles: their part of JtJ and g directly
            dlim = sl * (((ai - hi) > 0).to(dt) - ((lo - ai) > 0).to(dt))
            dprior = dlim * dlim
            dprior[:, hinge_idx] += sh * sh
            JtJ[:, 6:, 6:] += torch.diag_embed(dprior)
            gp = dlim * r[:, 42:72]
            gp[:, hinge_idx] += sh * r[:, 72:82]
            g[:, 6:] += gp
            cost = (r * r).sum(-1)
            diag = torch.diagonal(JtJ, dim1=1, dim2=2)
            A = JtJ + torch.diag_embed(mu[todo, None] * diag + 1e-9)
            L, bad = torch.linalg.cholesky_ex(A)
            if bool(bad.any()):
                step = -torch.linalg.solve(A, g[..., None])[..., 0]
            else:
                step = -torch.cholesky_solve(g[..., None], L)[..., 0]
            Rn, tn, an = Ri @ rodrigues(step[:, :3]), ti + T_UNIT * step[:, 3:6], ai + step[:, 6:]
            J1 = forward(Rn[None], tn[None], an.reshape(1, m, 5, 3, 2), skel)[0]
            new_cost = residuals(J1, an, todo, sw)[2].pow(2).sum(-1)
            better = new_cost < cost
            R[todo] = torch.where(better[:, None, None], Rn, Ri)
            t[todo] = torch.where(better[:, None], tn, ti)
            ang[todo] = torch.where(better[:, None], an, ai)
            mu[todo] = torch.where(better, mu[todo] * 0.3, mu[todo] * 10.0).clamp(1e-6, 1e6)
            converged = better & (cost - new_cost < _CONVERGED * cost)
            todo = todo[~(converged | (mu[todo] >= 1e6))]
    return R.numpy(), t.numpy(), ang.reshape(n, 5, 3, 2).numpy()
