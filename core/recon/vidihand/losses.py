"""Training objectives.

Stage 1 (hand-overlay adaptation, backbone): flow matching. The target video is the input clip
with semi-transparent hand overlays drawn on it (stage 1a: 2D skeletons; stage 1b: rendered hand
meshes), drawn wherever the hand's joints are known, also where the hand is hidden behind an
object. With x0 = latents of the overlay video, noise n and sigma ~ U(0, 1):
x_sigma = (1 - sigma) x0 + sigma n; the transformer, given the clean input clip as VACE control,
predicts the velocity n - x0 (MSE). No hand-parameter loss reaches the backbone.

Stage 2 (decoder; backbone frozen), each term averaged over the frames and hands where its
target is known:
- joints: L1 of camera-frame joints (decimetres), root_rel: L1 of wrist-relative joints,
- transl: L1 of the wrist position, reproj: L1 of projected joints (in units of 1/10 of the
  model's image width), anchors: the same for the heatmap anchors, heatmap: cross-entropy of
  the joint heatmaps against Gaussians at the target joints (inside the image),
- visibility: BCE of the on-screen logit against `present` (every frame),
- mano_rot / betas: rotation-matrix L2 and betas L2 where the target has MANO parameters and the
  model uses the MANO layer,
- smooth: L1 between predicted and target translation acceleration (second difference, cm per
  frame^2) over frames where three consecutive targets are known.
"""

from __future__ import annotations

import functools
import operator
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

from core.recon.vidihand.handmodel import axis_angle_to_matrix

if TYPE_CHECKING:
    from core.recon.vidihand.config import ViDiHandConfig
    from core.recon.vidihand.model import ViDiHandModel


def _masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    m = mask.float()
    while m.dim() < x.dim():
        m = m[..., None]
    m = m.expand_as(x)
    return (x * m).sum() / m.sum().clamp_min(1.0)


def _nan0(x: torch.Tensor) -> torch.Tensor:
    return torch.nan_to_num(x, nan=0.0)


def stage2_losses(
    out: dict, batch: dict, weights: dict, model: ViDiHandModel
) -> dict[str, torch.Tensor]:
    """Loss terms (and their weighted sum under "total") for a decoder output and a batch."""
    cfg = model.cfg
    gt_j = batch["joints_3d"]
    known = torch.isfinite(gt_j).all(-1).all(-1) & batch["present"]  # (B, T, 2)
    gj = _nan0(gt_j)
    pj = out["joints_3d"]
    terms: dict[str, torch.Tensor] = {}
    terms["joints"] = _masked_mean((pj - gj).abs() * 10.0, known)
    rel_p = pj - pj[..., :1, :]
    rel_g = gj - gj[..., :1, :]
    terms["root_rel"] = _masked_mean((rel_p - rel_g).abs() * 10.0, known)
    terms["transl"] = _masked_mean((out["transl"] - gj[..., 0, :]).abs() * 10.0, known)
    g2 = batch["joints_2d"]
    known2 = torch.isfinite(g2).all(-1).all(-1) & batch["present"]
    g2 = _nan0(g2)
    scale = 10.0 / cfg.width
    terms["reproj"] = _masked_mean((out["joints_2d"] - g2).abs() * scale, known2)
    terms["anchors"] = _masked_mean((out["anchors"] - g2).abs() * scale, known2)
    if "heatmap_logp" in out:
        terms["heatmap"] = heatmap_loss(out, batch["joints_2d"], batch["present"], cfg)
    terms["visibility"] = F.binary_cross_entropy_with_logits(
        out["onscreen_logit"], batch["present"].float()
    )
    # MANO parameters, only meaningful when the model's hand layer is MANO itself
    if model.hand_layer.kind == "mano":
        go, hp = batch["global_orient"], batch["hand_pose"]
        has = torch.isfinite(go).all(-1) & torch.isfinite(hp).all(-1) & batch["present"]
        if bool(has.any()):
            mean = torch.stack([model.hand_layer.pose_mean(s) for s in (0, 1)]).to(hp)
            R_go = axis_angle_to_matrix(_nan0(go))
            R_hp = axis_angle_to_matrix(_nan0(hp).view(*hp.shape[:-1], 15, 3) + mean[None, None])
            e = (out["R_global"] - R_go).square().mean((-1, -2)) + (
                out["R_pose"] - R_hp
            ).square().mean((-1, -2, -3))
            terms["mano_rot"] = _masked_mean(e, has)
        hb = torch.isfinite(batch["betas"]).all(-1) & batch["present"]
        if bool(hb.any()):
            terms["betas"] = _masked_mean((out["betas"] - _nan0(batch["betas"])).square(), hb)
    # temporal: translation acceleration against the target's
    t_p = out["transl"]
    t_g = gj[..., 0, :]
    if t_p.shape[1] >= 3:
        acc_p = t_p[:, 2:] - 2 * t_p[:, 1:-1] + t_p[:, :-2]
        acc_g = t_g[:, 2:] - 2 * t_g[:, 1:-1] + t_g[:, :-2]
        k3 = known[:, 2:] & known[:, 1:-1] & known[:, :-2]
        terms["smooth"] = _masked_mean((acc_p - acc_g).abs() * 100.0, k3)
    weighted = (float(weights.get(k, 1.0)) * v for k, v in terms.items())
    terms["total"] = functools.reduce(operator.add, weighted)  # "joints" is always there
    return terms


def heatmap_loss(
    out: dict, joints_2d: torch.Tensor, present: torch.Tensor, cfg: ViDiHandConfig
) -> torch.Tensor:
    """Cross-entropy of the joint heatmaps against Gaussians (sigma = one heatmap cell) at the
    target joints, for joints inside the image. Soft-argmax alone (the anchor L1) trains the
    heatmaps slowly from scratch; this gives every cell a direct signal."""
    grid = out["heatmap_grid"]  # (P, 2)
    sigma = float(out["heatmap_cell"])
    inside = (
        torch.isfinite(joints_2d).all(-1)
        & present[..., None]
        & (joints_2d[..., 0] >= -0.5) & (joints_2d[..., 0] <= cfg.width - 0.5)
        & (joints_2d[..., 1] >= -0.5) & (joints_2d[..., 1] <= cfg.height - 0.5)
    )  # fmt: skip
    g = _nan0(joints_2d)
    d2 = ((g[..., None, :] - grid) ** 2).sum(-1)  # (B, T, 2, 21, P)
    target = torch.softmax(-d2 / (2 * sigma**2), dim=-1)
    ce = -(target * out["heatmap_logp"]).sum(-1)
    return _masked_mean(ce, inside)


def overlay_video(batch: dict, variant: str, alpha: float) -> np.ndarray:
    """The stage-1 target: each window's frames with its hands drawn over them (uint8
    (B, T, H, W, 3)). variant "skeleton" (stage 1a) or "mesh" (stage 1b)."""
    from core.render.overlay import draw_hands, draw_meshes, hand_meshes

    frames = batch["frames"]
    j2 = batch["joints_2d"].cpu().numpy()
    j3 = batch["joints_3d"].cpu().numpy()
    out = frames.copy()
    B, T = frames.shape[:2]
    for b in range(B):
        for t in range(T):
            if variant == "mesh":
                known = np.isfinite(j3[b, t]).all((-1, -2))
                meshes = hand_meshes(j3[b, t], known)
                if meshes:
                    draw_meshes(out[b, t], meshes, batch["K_np"][b], alpha=alpha, out=out[b, t])
            else:
                known = np.isfinite(j2[b, t]).all((-1, -2))
                draw_hands(out[b, t], j2[b, t], known, alpha=alpha, out=out[b, t])
    return out


def stage1_loss(
    model: ViDiHandModel,
    batch: dict,
    z_in: torch.Tensor,
    z_tgt: torch.Tensor,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Flow-matching loss of the backbone for one batch: latents of the input clip (the VACE
    control) and of its overlay target video."""
    bb = model.backbone
    clip = batch["clip"]
    with torch.no_grad():
        control = bb.control_from(z_in, clip.shape)
    b = clip.shape[0]
    sigma = torch.rand(b, generator=generator, device=clip.device)
    noise = torch.randn(z_tgt.shape, generator=generator, device=clip.device)
    s = sigma.view(b, 1, 1, 1, 1)
    x = (1 - s) * z_tgt + s * noise
    pred = bb.run(x, control, sigma)
    return F.mse_loss(pred, noise - z_tgt)
