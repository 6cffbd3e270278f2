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

from core.recon.refine import energy
from core.recon.refine.kinematics import forward, project, rodrigues

N_PARAMS = 36
#: the translation unknowns are in these units (metres): as well scaled as the angles
T_UNIT = torch.tensor([0.05, 0.05, 0.2], dtype=torch.float64)
#: forward-difference step of the Jacobian (parameters are radians or T_UNIT)
_EPS = 1e-6


def unpack(p: torch.Tensor, R0: torch.Tensor, t0: torch.Tensor):  # type: ignore[no-untyped-def]
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

    def res(p_: torch.Tensor, R0_: torch.Tensor, t0_: torch.Tensor, uv_: torch.Tensor,
            sw_: torch.Tensor) -> torch.Tensor:  # fmt: skip
        """Residuals (N, 82) of parameters (N, 36)."""
        R, t, ang = unpack(p_, R0_, t0_)
        J = forward(R[None], t[None], ang[None], skel)[0]
        r2d = ((project(J, Kt) - uv_) * px_scale * sw_[..., None]).reshape(len(p_), -1)
        lim = (limits[..., 0] - ang).clamp(min=0.0) + (ang - limits[..., 1]).clamp(min=0.0)
        hinge = ang[:, :, 1:, 0].reshape(len(p_), -1)
        return torch.cat([r2d, sl * lim.reshape(len(p_), -1), sh * hinge], dim=1)

    eye = torch.eye(N_PARAMS, dtype=dt) * _EPS

    def jac(p_: torch.Tensor, r_: torch.Tensor, sw_: torch.Tensor) -> torch.Tensor:
        """(N, 82, 36) by forward differences, all frames and parameters in one forward."""
        rep = lambda x: x.repeat_interleave(N_PARAMS, dim=0)  # noqa: E731
        shifted = (p_[:, None, :] + eye).reshape(-1, N_PARAMS)
        r_all = res(shifted, rep(R0t), rep(t0t), rep(uvt), rep(sw_)).reshape(n, N_PARAMS, -1)
        return ((r_all - r_[:, None, :]) / _EPS).transpose(1, 2)

    p = torch.zeros(n, N_PARAMS, dtype=dt)
    p[:, 6:] = torch.as_tensor(angles0, dtype=dt).reshape(n, -1)
    mu = torch.full((n,), 1e-2, dtype=dt)
    s2 = sigma * sigma

    def weights(p_: torch.Tensor) -> torch.Tensor:
        # IRLS for Geman-McClure: weight (s^2 / (s^2 + r^2))^2 on the squared error
        R, t, ang = unpack(p_, R0t, t0t)
        J = forward(R[None], t[None], ang[None], skel)[0]
        r2 = ((project(J, Kt) - uvt) * px_scale).pow(2).sum(-1)
        return torch.sqrt(wt) * (s2 / (s2 + r2))

    with torch.no_grad():
        for _ in range(iterations):
            sw = weights(p)
            r = res(p, R0t, t0t, uvt, sw)
            Jm = jac(p, r, sw)  # (n, m, 36)
            JtJ = Jm.transpose(1, 2) @ Jm
            g = (Jm.transpose(1, 2) @ r[..., None])[..., 0]
            cost = (r * r).sum(-1)
            diag = torch.diagonal(JtJ, dim1=1, dim2=2)
            A = JtJ + torch.diag_embed(mu[:, None] * diag + 1e-9)
            step = -torch.linalg.solve(A, g[..., None])[..., 0]
            trial = p + step
            r_new = res(trial, R0t, t0t, uvt, sw)
            better = (r_new * r_new).sum(-1) < cost
            p = torch.where(better[:, None], trial, p)
            mu = torch.where(better, mu * 0.3, mu * 10.0).clamp(1e-6, 1e6)
    R, t, ang = unpack(p, R0t, t0t)
    return R.numpy(), t.numpy(), ang.numpy()
