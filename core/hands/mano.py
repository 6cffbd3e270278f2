"""MANO through smplx, from the user's own MANO_RIGHT.pkl / MANO_LEFT.pkl, without chumpy.

The licensed model files cannot ship with the product: the user points the app at a folder
holding them (argument, `VIDIHAND_MANO_DIR`, or the `mano_dir` setting). The real pickles are
Python 2 pickles that hold some arrays as chumpy objects and the joint regressor as a scipy
sparse matrix; chumpy does not import on Python 3.11 / numpy 2. `load_mano_pickle` maps every
chumpy class to a stub that keeps only the plain array, so chumpy is never needed.

Conventions (as schema v1 writes into every label file): smplx MANO with `use_pca=False`
(hand_pose is 15 joints x axis-angle, 45 numbers) and `flat_hand_mean=False` (hand_pose is
relative to MANO's mean hand: zeros give the mean, slightly curled hand). The left model gets
the shapedirs fix (smplx issue 48): `shapedirs[:, 0, :] *= -1`. Output joints are the 21 label
joints: MANO's 16 joints reordered (MANO16_TO_21) plus fingertips from vertices
(MANO_TIP_VERTICES).
"""

from __future__ import annotations

import contextlib
import io
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import VidihandError
from core.hands.threads import single_thread
from core.labels.joints import LEFT, MANO16_TO_21, MANO_TIP_VERTICES, N_JOINTS, RIGHT, hand_index

MANO_FILES = {LEFT: "MANO_LEFT.pkl", RIGHT: "MANO_RIGHT.pkl"}
#: arrays smplx needs from a model file
REQUIRED_KEYS = (
    "v_template", "f", "J_regressor", "weights", "kintree_table", "shapedirs", "posedirs",
    "hands_components", "hands_mean",
)  # fmt: skip
MANO_HINT = (
    "Download MANO_RIGHT.pkl and MANO_LEFT.pkl from https://mano.is.tue.mpg.de (free "
    "registration), put both in one folder and point ViDiHand at it: Settings > MANO folder, "
    "or the environment variable VIDIHAND_MANO_DIR."
)


class ManoModelError(VidihandError):
    """MANO model files are missing, unreadable or not MANO."""

    title = "Cannot load MANO"


# ------------------------------------------------------------------------------ chumpy-free
class _ChumpyStub:
    """Stands in for any chumpy class while unpickling; keeps the pickled state."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._args = args

    def __setstate__(self, state: Any) -> None:
        self._state = state

    def to_array(self) -> np.ndarray:
        state = getattr(self, "_state", None)
        if isinstance(state, dict) and "x" in state:
            return np.asarray(_plain(state["x"]))
        if isinstance(state, tuple) and state and isinstance(state[-1], dict) and "x" in state[-1]:
            return np.asarray(_plain(state[-1]["x"]))
        raise ValueError("a chumpy object without a plain value ('x') in the model file")


def _sparse_class(name: str) -> type:
    from scipy import sparse

    return getattr(sparse, name)


class _ManoUnpickler(pickle.Unpickler):
    """Unpickler for MANO files: chumpy classes become stubs, old scipy.sparse paths resolve
    to today's classes, anything else loads as usual."""

    def find_class(self, module: str, name: str) -> Any:
        if module == "chumpy" or module.startswith("chumpy."):
            return _ChumpyStub
        if module.startswith("scipy.sparse") and name.endswith(("_matrix", "_array")):
            return _sparse_class(name)
        return super().find_class(module, name)


def _plain(value: Any) -> Any:
    """Chumpy stubs -> arrays, sparse matrices -> dense arrays; other values unchanged."""
    if isinstance(value, _ChumpyStub):
        return value.to_array()
    if hasattr(value, "toarray") and "scipy.sparse" in type(value).__module__:
        return np.asarray(value.toarray())
    return value


def load_mano_pickle(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The contents of a MANO pickle as plain numpy arrays (no chumpy, no sparse matrices)."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            raw = _ManoUnpickler(fh, encoding="latin1").load()
    except FileNotFoundError:
        raise ManoModelError(f"MANO model file not found: {path}", hint=MANO_HINT) from None
    except (pickle.UnpicklingError, EOFError, ValueError, AttributeError, ImportError) as exc:
        raise ManoModelError(
            f"{path.name} is not a readable MANO model file ({type(exc).__name__}: {exc}).",
            hint="Download the MANO model files again. " + MANO_HINT,
        ) from exc
    if not isinstance(raw, dict):
        raise ManoModelError(f"{path.name} does not hold a MANO model.", hint=MANO_HINT)
    try:
        data = {k: _plain(v) for k, v in raw.items()}
    except ValueError as exc:
        raise ManoModelError(f"{path.name}: {exc}.", hint=MANO_HINT) from exc
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        raise ManoModelError(
            f"{path.name} is not a MANO model file: {', '.join(missing)} missing.",
            hint=MANO_HINT,
        )
    return data


def mano_arrays(path: str | os.PathLike[str], hand: int) -> dict[str, np.ndarray]:
    """Model arrays for smplx, checked, float64, with the left-hand shapedirs fix applied."""
    data = load_mano_pickle(path)
    out: dict[str, np.ndarray] = {}
    for key in REQUIRED_KEYS:
        out[key] = np.asarray(data[key])
    shapes = {
        "v_template": (778, 3), "f": (1538, 3), "J_regressor": (16, 778), "weights": (778, 16),
        "kintree_table": (2, 16), "posedirs": (778, 3, 135), "hands_components": (45, 45),
        "hands_mean": (45,),
    }  # fmt: skip
    for key, shape in shapes.items():
        if out[key].shape != shape:
            raise ManoModelError(
                f"{Path(path).name}: {key} has shape {out[key].shape}, MANO's is {shape}.",
                hint=MANO_HINT,
            )
    sd = out["shapedirs"]
    if sd.ndim != 3 or sd.shape[:2] != (778, 3) or sd.shape[2] < 10:
        raise ManoModelError(
            f"{Path(path).name}: shapedirs has shape {sd.shape}, expected (778, 3, 10).",
            hint=MANO_HINT,
        )
    for key in ("v_template", "J_regressor", "weights", "shapedirs", "posedirs",
                "hands_components", "hands_mean"):  # fmt: skip
        out[key] = out[key].astype(np.float64)
    out["f"] = out["f"].astype(np.int64)
    out["kintree_table"] = out["kintree_table"].astype(np.int64)
    out["shapedirs"] = out["shapedirs"][:, :, :10].copy()
    if hand == LEFT:
        out["shapedirs"][:, 0, :] *= -1.0  # smplx issue 48: left-hand MANO's x sign bug
    return out


def find_mano_dir(folder: str | os.PathLike[str] | None = None) -> Path | None:
    """The MANO folder: the argument, else VIDIHAND_MANO_DIR / the mano_dir setting; None if
    none is configured."""
    if folder:
        return Path(folder).expanduser()
    env = os.environ.get("VIDIHAND_MANO_DIR")
    if env:
        return Path(env).expanduser()
    try:
        from core.settings import Settings

        return Settings.load().mano_path()
    except (ImportError, VidihandError, OSError):
        return None


def mano_available(folder: str | os.PathLike[str] | None = None) -> bool:
    """True when a MANO folder is configured and holds both model files."""
    d = find_mano_dir(folder)
    return d is not None and all((d / name).is_file() for name in MANO_FILES.values())


# ------------------------------------------------------------------------------ the model
class ManoModel:
    """Both MANO hands (smplx, torch, CPU by default): parameters -> vertices and 21 joints."""

    def __init__(
        self,
        folder: str | os.PathLike[str] | None = None,
        *,
        device: str = "cpu",
        batch_size: int = 512,
    ) -> None:
        import torch
        from smplx import MANO
        from smplx.utils import Struct

        d = find_mano_dir(folder)
        if d is None:
            raise ManoModelError("No MANO folder is configured.", hint=MANO_HINT)
        if not d.is_dir():
            raise ManoModelError(f"The MANO folder {d} does not exist.", hint=MANO_HINT)
        self.folder = d
        self.device = torch.device(device)
        self.batch_size = batch_size
        self.layers = []
        self.faces: list[np.ndarray] = []
        for hand in (LEFT, RIGHT):
            arrays = mano_arrays(d / MANO_FILES[hand], hand)
            with contextlib.redirect_stdout(io.StringIO()):  # smplx prints about 10 betas
                layer = MANO(
                    str(d),
                    is_rhand=hand == RIGHT,
                    data_struct=Struct(**arrays),
                    use_pca=False,
                    flat_hand_mean=False,
                    batch_size=1,
                ).to(self.device)
            layer.requires_grad_(False)
            self.layers.append(layer)
            self.faces.append(arrays["f"].astype(np.int32))
        self._tips = torch.as_tensor(MANO_TIP_VERTICES, device=self.device)
        self._order = torch.as_tensor(np.argsort(_FULL_ORDER), device=self.device)
        self._fast = [self._joint_buffers(layer) for layer in self.layers]

    def _joint_buffers(self, layer: Any) -> dict[str, Any]:
        """What the joints-only forward needs: the regressed rest joints and their shape
        directions, and the fingertip vertices' template, shape, pose and skinning rows."""
        import torch

        tips = self._tips
        with torch.no_grad():
            reg = layer.J_regressor  # (16, V)
            n_v = layer.v_template.shape[0]
            posedirs = layer.posedirs.view(-1, n_v, 3)[:, tips]  # (135, 5, 3)
            return {
                "J": reg @ layer.v_template,  # (16, 3)
                # (48, 10) and (15, 10): shape directions of the joints and of the tips
                "J_dirs": torch.einsum("jv,vcb->jcb", reg, layer.shapedirs).reshape(-1, 10),
                "tip_v": layer.v_template[tips],  # (5, 3)
                "tip_dirs": layer.shapedirs[tips].reshape(-1, 10),
                "tip_pose": posedirs.reshape(posedirs.shape[0], -1),  # (135, 15)
                "tip_w": layer.lbs_weights[tips],  # (5, 16)
                "pose_mean": layer.pose_mean,
                "parents": layer.parents,
            }

    # -------------------------------------------------------------------- torch
    def forward_torch(
        self, hand: int, global_orient: Any, hand_pose: Any, betas: Any, transl: Any
    ) -> Any:
        """(vertices (N, 778, 3), joints (N, 21, 3)) as torch tensors; differentiable."""
        import torch

        out = self.layers[hand_index(hand)](
            betas=betas, global_orient=global_orient, hand_pose=hand_pose, transl=transl
        )
        j16 = out.joints[:, :16]
        tips = out.vertices[:, self._tips]
        j = torch.cat([j16, tips], dim=1)[:, self._order]
        return out.vertices, j

    def joints_torch(
        self, hand: int, global_orient: Any, hand_pose: Any, betas: Any, transl: Any
    ) -> Any:
        """(N, 21, 3) joints only, as torch; equal to `forward_torch`'s joints but skins just
        the five fingertip vertices (what fitting and joint caches need), so it is much faster.
        Uses smplx's own rotation and kinematic-chain functions on the layer's buffers."""
        import torch
        from smplx.lbs import batch_rigid_transform, batch_rodrigues

        b = self._fast[hand_index(hand)]
        n = global_orient.shape[0]
        full = torch.cat([global_orient, hand_pose], dim=1) + b["pose_mean"]
        rot = batch_rodrigues(full.reshape(-1, 3)).view(n, -1, 3, 3)
        # plain matmuls: torch.einsum is many times slower for these small shapes
        J = b["J"] + (betas @ b["J_dirs"].T).view(n, -1, 3)
        eye = torch.eye(3, dtype=rot.dtype, device=rot.device)
        feat = (rot[:, 1:] - eye).reshape(n, -1)
        tip = b["tip_v"] + (betas @ b["tip_dirs"].T).view(n, -1, 3)
        tip = tip + (feat @ b["tip_pose"]).view(n, -1, 3)
        j16, A = batch_rigid_transform(rot, J, b["parents"], dtype=rot.dtype)
        T = (b["tip_w"] @ A.reshape(n, A.shape[1], 16)).view(n, -1, 4, 4)
        tips = (T[..., :3, :3] @ tip.unsqueeze(-1))[..., 0] + T[..., :3, 3]
        j = torch.cat([j16, tips], dim=1)[:, self._order]
        return j + transl.unsqueeze(1)

    def pose_mean(self, hand: int | str) -> np.ndarray:
        """(48,) MANO's mean pose (global 3 zeros + hands_mean), added to every pose."""
        return self._fast[hand_index(hand)]["pose_mean"].cpu().numpy().astype(np.float64)

    # -------------------------------------------------------------------- numpy
    def evaluate(
        self, hand: int | str, params: dict[str, np.ndarray], *, vertices: bool = True
    ) -> tuple[np.ndarray | None, np.ndarray]:
        """(vertices (N, 778, 3) or None, joints (N, 21, 3)) for MANO fields (N, ...).
        Rows with any NaN parameter give NaN."""
        import torch

        h = hand_index(hand)
        go, hp, be, tr = (np.asarray(params[k], np.float64).reshape(-1, d) for k, d in
                          (("global_orient", 3), ("hand_pose", 45), ("betas", 10), ("transl", 3)))  # fmt: skip
        n = len(go)
        ok = np.isfinite(go).all(1) & np.isfinite(hp).all(1) & np.isfinite(be).all(1)
        ok &= np.isfinite(tr).all(1)
        joints = np.full((n, N_JOINTS, 3), np.nan)
        verts = np.full((n, 778, 3), np.nan) if vertices else None
        idx = np.nonzero(ok)[0]
        with torch.no_grad(), single_thread():
            for s in range(0, len(idx), self.batch_size):
                sel = idx[s : s + self.batch_size]

                def t(a: np.ndarray, sel: np.ndarray = sel) -> torch.Tensor:
                    return torch.as_tensor(a[sel], dtype=torch.float32, device=self.device)

                if verts is None:
                    joints[sel] = self.joints_torch(h, t(go), t(hp), t(be), t(tr)).cpu().numpy()
                    continue
                v, j = self.forward_torch(h, t(go), t(hp), t(be), t(tr))
                joints[sel] = j.cpu().numpy()
                verts[sel] = v.cpu().numpy()
        return verts, joints

    def joints(self, hand: int | str, params: dict[str, np.ndarray]) -> np.ndarray:
        """(N, 21, 3) label-order joints for MANO fields (N, ...); NaN rows stay NaN."""
        return self.evaluate(hand, params, vertices=False)[1]

    def vertices(self, hand: int | str, params: dict[str, np.ndarray]) -> np.ndarray:
        """(N, 778, 3) vertices for MANO fields (N, ...); NaN rows stay NaN."""
        v, _ = self.evaluate(hand, params)
        assert v is not None
        return v

    def fit(
        self, hand: int | str, joints: np.ndarray, init: dict[str, np.ndarray] | None = None
    ) -> dict[str, np.ndarray]:
        """MANO fields (N, ...) whose joints best match `joints` (N, 21, 3) (core.hands.fit).

        When `init` gives the betas of every row (a track whose shape is known), they are
        kept: moving a joint changes the pose, not the person's hand."""
        from core.hands.fit import fit_mano

        known = (
            init is not None
            and "betas" in init
            and bool(np.isfinite(np.asarray(init["betas"], np.float64)).all())
        )
        return fit_mano(self, hand, joints, init=init, fit_betas=not known).params


#: position of each of MANO's 16 joints + 5 tips in the 21-joint label order
_FULL_ORDER = np.array(list(MANO16_TO_21) + [4, 8, 12, 16, 20])
