"""MANO parameters from 21 joints: batched inverse kinematics in torch.

Used to fill the MANO fields for backends that give only joints, and after a person moves a
joint. Per frame, in two steps:

1. Global rotation and translation in closed form (Kabsch) from the palm joints (wrist and the
   four finger knuckles), which no finger pose moves; then each finger joint's rotation in
   closed form down the chain, as the smallest rotation (no twist) that turns the rest bone
   onto the target bone. With the right shape this is already within a millimetre or so.
2. All parameters refined together by L-BFGS on the squared joint error (in cm^2), with a
   pose prior (an L2 pull of hand_pose towards MANO's mean hand, which is hand_pose = 0 with
   flat_hand_mean=False) and an L2 pull of betas towards the mean shape. Frames are independent;
   the batch is one optimisation problem whose loss is the sum over frames.

Frames whose target joints contain NaN are not fitted (NaN parameters, NaN error).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from core.hands.rotations import axis_angle_to_matrix, matrix_to_axis_angle, normalize
from core.hands.threads import single_thread
from core.labels.joints import MANO16_TO_21, MIDDLE_MCP, WRIST, hand_index

#: joints that only the global rotation and translation move (wrist and finger knuckles)
PALM_JOINTS = (WRIST, 5, MIDDLE_MCP, 13, 17)


@dataclass
class FitResult:
    """Fitted MANO fields (N, ...) float32 and the mean per-joint error (N,) in metres."""

    params: dict[str, np.ndarray]
    joint_error: np.ndarray
    iterations: int


def kabsch(source: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rotations R (N, 3, 3) and translations t (N, 3) minimising |R source + t - target|
    over points (N, P, 3)."""
    cs, ct = source.mean(axis=1, keepdims=True), target.mean(axis=1, keepdims=True)
    h = np.swapaxes(source - cs, 1, 2) @ (target - ct)
    u, _, vt = np.linalg.svd(h)
    d = np.sign(np.linalg.det(np.swapaxes(vt, 1, 2) @ np.swapaxes(u, 1, 2)))
    fix = np.ones((len(d), 3))
    fix[:, 2] = d
    R = np.swapaxes(vt, 1, 2) @ (fix[:, :, None] * np.swapaxes(u, 1, 2))
    t = ct[:, 0] - np.einsum("nij,nj->ni", R, cs[:, 0])
    return R, t


def _align(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, 3, 3) smallest rotations turning directions a (N, 3) onto b (N, 3)."""
    a, b = normalize(a), normalize(b)
    axis = np.cross(a, b)
    s = np.linalg.norm(axis, axis=1)
    angle = np.arctan2(s, np.sum(a * b, axis=1))
    # opposite directions: any perpendicular axis
    perp = np.cross(a, np.where(np.abs(a[:, :1]) < 0.9, [[1.0, 0, 0]], [[0, 1.0, 0]]))
    axis = np.where((s < 1e-9)[:, None], perp, axis)
    return axis_angle_to_matrix(normalize(axis) * angle[:, None])


def analytic_pose(
    rest: np.ndarray, target: np.ndarray, pose_mean: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Closed-form (global_orient, hand_pose, transl) placing the rest joints (N, 21, 3) of a
    MANO hand at zero full pose on target joints (N, 21, 3): Kabsch on the palm, then swing
    rotations down each finger. `pose_mean` (48,) is MANO's mean pose (global + 45)."""
    palm = list(PALM_JOINTS)
    R, c = kabsch(rest[:, palm], target[:, palm])
    n = len(rest)
    local = np.zeros((n, 15, 3))
    for finger in range(5):
        parent_g = R
        for k in range(3):
            mj = 1 + 3 * finger + k
            a = MANO16_TO_21[mj]
            b = a + 1  # next joint along the finger (the tip after the last MANO joint)
            v = np.einsum("nij,nj->ni", parent_g, rest[:, b] - rest[:, a])
            g = _align(v, target[:, b] - target[:, a]) @ parent_g
            local[:, mj - 1] = matrix_to_axis_angle(np.swapaxes(parent_g, 1, 2) @ g)
            parent_g = g
    j0 = rest[:, WRIST]
    transl = c - j0 + np.einsum("nij,nj->ni", R, j0)
    hand_pose = local.reshape(n, 45) - pose_mean[3:]
    return matrix_to_axis_angle(R), hand_pose, transl


def fit_mano(
    model: Any,  # core.hands.mano.ManoModel
    hand: int | str,
    joints: np.ndarray,
    init: dict[str, np.ndarray] | None = None,
    *,
    iterations: int = 30,
    pose_weight: float = 1e-3,
    betas_weight: float = 1e-2,
    fit_betas: bool = True,
    shared_betas: bool = False,
    accept_error: float = 1e-3,
) -> FitResult:
    """Fit MANO to target joints (N, 21, 3) in metres (camera frame).

    `init` (MANO fields, NaN rows meaning unknown) seeds the betas; with
    `fit_betas=False` the betas are kept at their initial values (the mean shape when
    unknown), which is what edits of one frame want for a track with a known shape; with
    `shared_betas` one betas vector is fitted for all frames (one person). Then, when
    the closed-form start is already within `accept_error` (metres, mean per joint) on every
    frame, the refinement is skipped (an interactive refit takes milliseconds).
    """
    import torch

    h = hand_index(hand)
    target = np.asarray(joints, np.float64).reshape(-1, 21, 3)
    n = len(target)
    ok = np.isfinite(target).all(axis=(1, 2))
    params = {
        "global_orient": np.full((n, 3), np.nan, np.float32),
        "hand_pose": np.full((n, 45), np.nan, np.float32),
        "betas": np.full((n, 10), np.nan, np.float32),
        "transl": np.full((n, 3), np.nan, np.float32),
    }
    error = np.full(n, np.nan)
    idx = np.nonzero(ok)[0]
    if idx.size == 0:
        return FitResult(params, error, 0)
    tgt = target[idx]
    m = len(idx)

    def init_rows(name: str, dim: int) -> np.ndarray:
        if init is None or name not in init:
            return np.zeros((m, dim))
        v = np.asarray(init[name], np.float64).reshape(-1, dim)[idx]
        return np.where(np.isfinite(v).all(axis=1, keepdims=True), v, 0.0)

    be0 = init_rows("betas", 10)

    def tt(a: np.ndarray, grad: bool = False) -> torch.Tensor:
        return torch.tensor(a, dtype=torch.float32, device=model.device, requires_grad=grad)

    # 1. closed form against the rest hand (zero full pose) of the initial shape
    pose_mean = model.pose_mean(h)
    with torch.no_grad():  # (one pass: threads do not matter here)
        zero = np.zeros((m, 3))
        rest = model.joints_torch(
            h, tt(zero), tt(np.tile(-pose_mean[3:], (m, 1))), tt(be0), tt(zero)
        )
    go0, hp0, tr0 = analytic_pose(rest.cpu().numpy().astype(np.float64), tgt, pose_mean)

    if not fit_betas:
        with torch.no_grad():
            start = model.joints_torch(h, tt(go0), tt(hp0), tt(be0), tt(tr0)).cpu().numpy()
        start_err = np.linalg.norm(start - tgt, axis=-1).mean(-1)
        if start_err.max() < accept_error:
            for name, value in (("global_orient", go0), ("hand_pose", hp0), ("betas", be0),
                                ("transl", tr0)):  # fmt: skip
                params[name][idx] = value
            error[idx] = start_err
            return FitResult(params, error, 0)

    # 2. refine everything
    go, hp, tr = tt(go0, True), tt(hp0, True), tt(tr0, True)
    if shared_betas:  # one shape for all frames (one person)
        be_var = tt(be0.mean(axis=0, keepdims=True), fit_betas)
        be = be_var.expand(m, 10)
    else:
        be_var = be = tt(be0, fit_betas)
    variables = [go, hp, tr] + ([be_var] if fit_betas else [])
    tgt_t = tt(tgt)
    be_prior = tt(be0)
    opt = torch.optim.LBFGS(
        variables, lr=1.0, max_iter=iterations, line_search_fn="strong_wolfe",
        tolerance_grad=1e-7, tolerance_change=1e-7, history_size=20,
    )  # fmt: skip
    steps = [0]

    def closure() -> torch.Tensor:
        opt.zero_grad()
        pred = model.joints_torch(h, go, hp, be, tr)
        err = ((pred - tgt_t) * 100.0).pow(2).sum(-1).mean(-1)  # cm^2 per frame
        loss = err.sum() + pose_weight * hp.pow(2).sum()
        if fit_betas:
            loss = loss + betas_weight * (be - be_prior).pow(2).sum() / (m if shared_betas else 1)
        loss.backward()
        steps[0] += 1
        return loss

    with single_thread():
        opt.step(closure)
    with torch.no_grad():
        pred = model.joints_torch(h, go, hp, be, tr)
        err = (pred - tgt_t).norm(dim=-1).mean(-1).cpu().numpy()
    params["global_orient"][idx] = go.detach().cpu().numpy()
    params["hand_pose"][idx] = hp.detach().cpu().numpy()
    params["betas"][idx] = be.detach().cpu().numpy()  # (expanded when shared)
    params["transl"][idx] = tr.detach().cpu().numpy()
    error[idx] = err
    return FitResult(params, error, steps[0])


def fit_track(
    model: Any,  # core.hands.mano.ManoModel
    hand: int | str,
    joints: np.ndarray,
    *,
    shape_frames: int = 64,
    batch_size: int = 256,
    iterations: int = 30,
) -> FitResult:
    """Fit a whole track (T, 21, 3) with one hand shape: betas are fitted on up to
    `shape_frames` frames spread over the track jointly (one betas vector), then
    all frames are fitted in batches with that shape. This is how MANO fields are filled for
    backends that give only joints: one person, one shape, no shape flicker between frames."""
    target = np.asarray(joints, np.float64).reshape(-1, 21, 3)
    n = len(target)
    ok = np.flatnonzero(np.isfinite(target).all(axis=(1, 2)))
    betas = np.zeros(10)
    if ok.size:
        pick = ok[np.linspace(0, ok.size - 1, min(shape_frames, ok.size)).round().astype(int)]
        first = fit_mano(model, hand, target[pick], iterations=2 * iterations, shared_betas=True)
        betas = first.params["betas"][0].astype(np.float64)
    params = {
        "global_orient": np.full((n, 3), np.nan, np.float32),
        "hand_pose": np.full((n, 45), np.nan, np.float32),
        "betas": np.full((n, 10), np.nan, np.float32),
        "transl": np.full((n, 3), np.nan, np.float32),
    }
    error = np.full(n, np.nan)
    steps = 0
    for s in range(0, n, batch_size):
        sl = slice(s, min(s + batch_size, n))
        init = {"betas": np.tile(betas, (sl.stop - sl.start, 1))}
        r = fit_mano(model, hand, target[sl], init=init, fit_betas=False, iterations=iterations)
        for k in params:
            params[k][sl] = r.params[k]
        error[sl] = r.joint_error
        steps += r.iterations
    return FitResult(params, error, steps)
