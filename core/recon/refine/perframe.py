"""Stage 1 of the fit: every frame's pose fitted to its own 2D joints, independently.

Levenberg-Marquardt per frame (36 unknowns: rotation update, translation update, 30 finger
angles; residuals: the robust 2D errors by iteratively reweighted least squares, the angle
limits and the hinge term), all frames at once: Jacobians by forward-mode autodiff vectorised
over frames (forward differences: one batched forward of 37 poses per frame, much cheaper
than autodiff on tensors this small), 36x36 solves batched. Independent frames converge in a few
iterations, which a first-order solver over the whole sequence cannot do.
"""

from __future__ import annotations

import numpy as np
import torch

from core.labels.joints import FINGERS
from core.recon.refine import energy
from core.recon.refine.kinematics import forward, project, rodrigues

N_PARAMS = 36
#: the translation unknowns are in these units (metres): as well scaled as the angles
T_UNIT = torch.tensor([0.05, 0.05, 0.2], dtype=torch.float64)
#: forward-difference step of the Jacobian (parameters are radians or T_UNIT)
_EPS = 1e-6
#: the joints each finger's angles move (its three distal joints)
_FINGER_JOINTS = [list(FINGERS[f][1:]) for f in range(5)]
#: parameter columns of the hinge residuals: abduction of the middle and end bones
_HINGE_COLS = torch.tensor([6 + 6 * f + 2 * k for f in range(5) for k in (1, 2)])


def unpack(
    p: torch.Tensor, R0: torch.Tensor, t0: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Parameters (..., 36) -> rotation (..., 3, 3), translation (..., 3), angles (..., 5, 3, 2)."""
    R = R0 @ rodrigues(p[..., :3])
    t = t0 + T_UNIT * p[..., 3:6]
    angles = p[..., 6:].reshape(*p.shape[:-1], 5, 3, 2)
    return R, t, angles


def fit_frames(
    R0: np.ndarray, t0: np.ndarray, angles0: np.ndarray, uv: np.ndarray, w2d: np.ndarray,
    skel: dict[str, torch.Tensor], K: np.ndarray, sigma: float, w_limits: float,
    w_hinge: float, iterations: int = 10,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """Fit N frames of one hand (skeleton `skel`, H = 1); returns R, t, angles."""
    dt = torch.float64
    n = len(R0)
    if n == 0:
        return R0, t0, angles0
    R0t, t0t = torch.as_tensor(R0, dtype=dt), torch.as_tensor(t0, dtype=dt)
    uvt = torch.nan_to_num(torch.as_tensor(uv, dtype=dt))
    wt = torch.as_tensor(w2d, dtype=dt)
    Kt = torch.as_tensor(K, dtype=dt)
    px_scale = 640.0 / float(K[0, 0])
    limits = torch.as_tensor(energy.ANGLE_LIMITS, dtype=dt)
    sl, sh = float(np.sqrt(w_limits)), float(np.sqrt(w_hinge))

    def uv_err(
        p_: torch.Tensor, R0_: torch.Tensor, t0_: torch.Tensor, uv_: torch.Tensor
    ) -> torch.Tensor:
        """2D errors (N, 21, 2) in pixels at a 640 px focal length, unweighted."""
        R, t, ang = unpack(p_, R0_, t0_)
        J = forward(R[None], t[None], ang[None], skel)[0]
        return (project(J, Kt) - uv_) * px_scale

    def prior(p_: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Limit and hinge residuals (N, 40) and their (diagonal) derivatives (N, 40)."""
        ang = p_[:, 6:].reshape(len(p_), 5, 3, 2)
        below, above = limits[..., 0] - ang, ang - limits[..., 1]
        lim = sl * (below.clamp(min=0.0) + above.clamp(min=0.0)).reshape(len(p_), -1)
        dlim = sl * ((above > 0).to(dt) - (below > 0).to(dt)).reshape(len(p_), -1)
        hinge = sh * ang[:, :, 1:, 0].reshape(len(p_), -1)
        return torch.cat([lim, hinge], 1), torch.cat([dlim, torch.full_like(hinge, sh)], 1)

    def residuals(p_: torch.Tensor, sw_: torch.Tensor) -> torch.Tensor:
        r2d = (uv_err(p_, R0t, t0t, uvt) * sw_[..., None]).reshape(len(p_), -1)
        return torch.cat([r2d, prior(p_)[0]], 1)

    def jacobian(p_: torch.Tensor, e0: torch.Tensor, sw_: torch.Tensor) -> torch.Tensor:
        """(N, 82, 36). 2D part by forward differences in 12 batched poses per frame: the six
        global unknowns one by one, and each of the six per-finger angle slots perturbed in all
        five fingers at once (a finger's angles move only that finger's joints)."""
        steps = p_[:, None, :].repeat(1, 12, 1)
        for k in range(6):
            steps[:, k, k] += _EPS
        for k in range(6):
            steps[:, 6 + k, 6 + k :: 6] += _EPS
        rep = lambda x: x.repeat_interleave(12, 0)  # noqa: E731
        e = uv_err(steps.reshape(-1, N_PARAMS), rep(R0t), rep(t0t), rep(uvt))
        e = e.reshape(n, 12, 21, 2)
        d = (e - e0[:, None]) / _EPS * sw_[:, None, :, None]  # (n, 12, 21, 2)
        J2 = torch.zeros(n, 21, 2, N_PARAMS, dtype=dt)
        J2[..., :6] = d[:, :6].permute(0, 2, 3, 1)
        for f, joints in enumerate(_FINGER_JOINTS):
            cols = slice(6 + 6 * f, 12 + 6 * f)
            J2[:, joints, :, cols] = d[:, 6:, joints].permute(0, 2, 3, 1)
        Jp = torch.zeros(n, 40, N_PARAMS, dtype=dt)
        _, dprior = prior(p_)
        Jp[:, torch.arange(30), 6 + torch.arange(30)] = dprior[:, :30]
        Jp[:, 30 + torch.arange(10), _HINGE_COLS] = dprior[:, 30:]
        return torch.cat([J2.reshape(n, 42, N_PARAMS), Jp], 1)

    p = torch.zeros(n, N_PARAMS, dtype=dt)
    p[:, 6:] = torch.as_tensor(angles0, dtype=dt).reshape(n, -1)
    mu = torch.full((n,), 1e-2, dtype=dt)
    s2 = sigma * sigma

    with torch.no_grad():
        for _ in range(iterations):
            e0 = uv_err(p, R0t, t0t, uvt)
            # IRLS for Geman-McClure: weight (s^2 / (s^2 + r^2))^2 on the squared error
            sw = torch.sqrt(wt) * (s2 / (s2 + e0.pow(2).sum(-1)))
            r = torch.cat([(e0 * sw[..., None]).reshape(n, -1), prior(p)[0]], 1)
            Jm = jacobian(p, e0, sw)  # (n, m, 36)
            JtJ = Jm.transpose(1, 2) @ Jm
            g = (Jm.transpose(1, 2) @ r[..., None])[..., 0]
            cost = (r * r).sum(-1)
            diag = torch.diagonal(JtJ, dim1=1, dim2=2)
            A = JtJ + torch.diag_embed(mu[:, None] * diag + 1e-9)
            step = -torch.linalg.solve(A, g[..., None])[..., 0]
            trial = p + step
            r_new = residuals(trial, sw)
            better = (r_new * r_new).sum(-1) < cost
            p = torch.where(better[:, None], trial, p)
            mu = torch.where(better, mu * 0.3, mu * 10.0).clamp(1e-6, 1e6)
    R, t, ang = unpack(p, R0t, t0t)
    return R.numpy(), t.numpy(), ang.numpy()
