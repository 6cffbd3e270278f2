"""Differentiable hand layers for the decoder: MANO-layout parameters -> 21 root-relative joints.

The decoder predicts MANO's parameter layout (global orientation, 15 joint rotations in MANO's
joint order, 10 betas). Two layers turn them into joints:

- `SkeletonLayer` (default, no licensed files needed): joint-only forward kinematics over the
  project's own skeleton (core/hands/skeleton.py, straight-finger rest pose, same hand frame and
  left-hand mirroring). Each of MANO's 15 rotations turns the bone that leaves that joint. Its
  betas are a small shape model: beta 0 scales the whole hand (x exp(0.05 b0)), beta 1 the
  finger bones (x exp(0.05 b1)); betas 2-9 are predicted and stored but do not move joints. The
  rotations are *not* MANO's (different rest pose and axes), so a backend using this layer
  writes joints, presence and confidence but leaves the label file's MANO fields unknown (NaN).
- `ManoLayer` (hand_model.kind = "mano", a MANO model folder configured): smplx MANO with full
  axis-angle pose (use_pca=False, flat_hand_mean=False, the label file's convention); fingertips
  from vertices 744/320/443/554/671; then the MANO fields are real and written.

Both return joints relative to the wrist, rotated into the camera frame (no translation).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from core.errors import CheckpointError
from core.labels.joints import LEFT, MANO16_TO_21, MANO_TIP_VERTICES, N_JOINTS, PARENTS

#: 21-joint index of each of MANO's 15 rotated joints (MANO order: index, middle, little, ring,
#: thumb; three each).
MANO15_TO_21: tuple[int, ...] = tuple(MANO16_TO_21[1:])
#: Joints whose outgoing finger bones the skeleton's finger-scale beta lengthens.
_FINGER_CHILDREN = tuple(j for j in range(1, N_JOINTS) if PARENTS[j] != 0)


# ------------------------------------------------------------------------------ rotations
def rot6d_to_matrix(x: torch.Tensor) -> torch.Tensor:
    """(..., 6) -> (..., 3, 3) by Gram-Schmidt on two columns (Zhou et al. 2019)."""
    a1, a2 = x[..., :3], x[..., 3:]
    b1 = F.normalize(a1, dim=-1)
    b2 = F.normalize(a2 - (b1 * a2).sum(-1, keepdim=True) * b1, dim=-1)
    b3 = torch.cross(b1, b2, dim=-1)
    return torch.stack([b1, b2, b3], dim=-1)


def matrix_to_rot6d(m: torch.Tensor) -> torch.Tensor:
    return torch.cat([m[..., :, 0], m[..., :, 1]], dim=-1)


def axis_angle_to_matrix(aa: torch.Tensor) -> torch.Tensor:
    """(..., 3) Rodrigues vectors -> (..., 3, 3)."""
    theta = aa.norm(dim=-1, keepdim=True).clamp_min(1e-8)
    k = aa / theta
    x, y, z = k.unbind(-1)
    zero = torch.zeros_like(x)
    kk = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], -1).reshape(*aa.shape[:-1], 3, 3)
    s, c = torch.sin(theta)[..., None], torch.cos(theta)[..., None]
    eye = torch.eye(3, dtype=aa.dtype, device=aa.device).expand_as(kk)
    return eye + s * kk + (1 - c) * (kk @ kk)


def matrix_to_axis_angle(m: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) -> (..., 3), via numpy's robust conversion (not differentiable; outputs only)."""
    from core.hands.rotations import matrix_to_axis_angle as np_m2a

    out = np_m2a(m.detach().double().cpu().numpy())
    return torch.as_tensor(out, dtype=m.dtype, device=m.device)


# --------------------------------------------------------------------------------- layers
class SkeletonLayer(nn.Module):
    """Joint-only FK over the project's skeleton (see module docstring)."""

    kind = "skeleton"
    # buffers registered in __init__ (nn.Module's attribute lookup cannot say they are tensors)
    template: torch.Tensor
    finger_bone: torch.Tensor

    def __init__(self) -> None:
        super().__init__()
        from core.hands.skeleton import local_joints

        right = torch.as_tensor(local_joints(np.zeros((5, 4))), dtype=torch.float32)
        left = right * torch.tensor([-1.0, 1.0, 1.0])
        self.register_buffer("template", torch.stack([left, right]), persistent=False)
        rot_of = [-1] * N_JOINTS
        for k, j in enumerate(MANO15_TO_21):
            rot_of[j] = k
        self.rot_of = rot_of
        finger = torch.zeros(N_JOINTS, dtype=torch.bool)
        finger[list(_FINGER_CHILDREN)] = True
        self.register_buffer("finger_bone", finger, persistent=False)

    def pose_mean(self, side: int) -> torch.Tensor:
        """Zero: the skeleton's rotations are its parameters."""
        return self.template.new_zeros(15, 3)

    def forward(
        self, R_global: torch.Tensor, R_pose: torch.Tensor, betas: torch.Tensor, side: int
    ) -> torch.Tensor:
        """R_global (N,3,3), R_pose (N,15,3,3), betas (N,10) -> joints (N,21,3) wrist-relative."""
        t = self.template[side].to(R_global.dtype)
        scale_all = torch.exp(0.05 * betas[:, 0])[:, None]  # (N,1)
        scale_finger = torch.exp(0.05 * betas[:, 1])[:, None]
        G = [R_global]
        P = [torch.zeros_like(R_global[:, :, 0])]
        for j in range(1, N_JOINTS):
            p = PARENTS[j]
            bone = (t[j] - t[p]).expand(R_global.shape[0], 3)
            s = scale_all * (scale_finger if self.finger_bone[j] else 1.0)
            P.append(P[p] + (G[p] @ (bone * s)[..., None])[..., 0])
            k = self.rot_of[j]
            G.append(G[p] @ R_pose[:, k] if k >= 0 else G[p])
        return torch.stack(P, dim=1)


class _SmplxMano(Protocol):
    """What this module reads of an smplx MANO layer (smplx ships no type information)."""

    pose_mean: torch.Tensor
    v_template: torch.Tensor
    shapedirs: torch.Tensor
    posedirs: torch.Tensor
    J_regressor: torch.Tensor
    parents: torch.Tensor
    lbs_weights: torch.Tensor


class ManoLayer(nn.Module):
    """smplx MANO (full axis-angle pose) for both hands, from a folder with MANO_{LEFT,RIGHT}.pkl.

    R_pose are rotations relative to the flat hand; the label file's hand_pose (flat_hand_mean
    False) is their axis-angle minus `pose_mean(side)`, as smplx adds the mean in axis-angle.
    """

    kind = "mano"
    components: torch.Tensor  # a buffer registered in __init__

    def __init__(self, model_dir: str | Path) -> None:
        super().__init__()
        from core.hands.mano import MANO_FILES, ManoModel, ManoModelError, mano_arrays

        try:  # the project's chumpy-free loader, left-hand shapedirs fix included
            model = ManoModel(model_dir)
        except ManoModelError as exc:
            raise CheckpointError(exc.message, hint=exc.hint) from exc
        self.mano = nn.ModuleList(model.layers)  # (left, right) smplx MANO layers
        comps = [mano_arrays(model.folder / MANO_FILES[h], h)["hands_components"] for h in (0, 1)]
        #: PCA basis of hand_pose per side (HOT3D stores 15 PCA coefficients)
        self.register_buffer(
            "components", torch.as_tensor(np.stack(comps), dtype=torch.float32), persistent=False
        )
        for p in self.mano.parameters():
            p.requires_grad_(False)

    def smplx_layer(self, side: int) -> _SmplxMano:
        """The smplx MANO layer of one side (0 left, 1 right)."""
        return cast(_SmplxMano, self.mano[side])

    def pose_mean(self, side: int) -> torch.Tensor:
        """(15, 3) MANO mean hand pose (axis-angle) of one side."""
        return self.smplx_layer(side).pose_mean[3:].view(15, 3)

    @torch.no_grad()
    def rest_wrist(self, betas: torch.Tensor, side: int) -> torch.Tensor:
        """(N, 3) MANO root joint J0(betas): smplx places the wrist at J0 + transl."""
        from smplx.lbs import blend_shapes, vertices2joints

        layer = self.smplx_layer(side)
        v = layer.v_template + blend_shapes(betas.to(layer.shapedirs), layer.shapedirs)
        return vertices2joints(layer.J_regressor, v)[:, 0].cpu()

    def forward(
        self, R_global: torch.Tensor, R_pose: torch.Tensor, betas: torch.Tensor, side: int
    ) -> torch.Tensor:
        from smplx.lbs import lbs

        layer = self.smplx_layer(side)
        n = R_global.shape[0]
        full = torch.cat([R_global[:, None], R_pose], dim=1)  # (N,16,3,3), flat-hand relative
        verts, joints = lbs(
            betas, full, layer.v_template, layer.shapedirs, layer.posedirs,
            layer.J_regressor, layer.parents, layer.lbs_weights, pose2rot=False,
        )  # fmt: skip
        tips = verts[:, list(MANO_TIP_VERTICES)]
        out = joints.new_zeros(n, N_JOINTS, 3)
        out[:, list(MANO16_TO_21)] = joints
        out[:, [4, 8, 12, 16, 20]] = tips
        return out - out[:, :1]


def build_hand_layer(spec: dict) -> SkeletonLayer | ManoLayer:
    """The hand layer a configuration's `hand_model` section asks for."""
    kind = spec.get("kind", "skeleton")
    if kind == "mano":
        if not spec.get("mano_dir"):
            raise CheckpointError(
                "hand_model.kind is 'mano' but no hand_model.mano_dir is set.",
                hint="Set it to the folder with MANO_LEFT.pkl and MANO_RIGHT.pkl.",
            )
        return ManoLayer(spec["mano_dir"])
    return SkeletonLayer()


__all__ = [
    "LEFT",
    "ManoLayer",
    "SkeletonLayer",
    "axis_angle_to_matrix",
    "build_hand_layer",
    "matrix_to_axis_angle",
    "matrix_to_rot6d",
    "rot6d_to_matrix",
]
