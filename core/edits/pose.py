"""Geometry edits: drag a joint, move or rotate a whole hand, set one joint's MANO rotation.

Conventions (docs/edits-format.md): camera frame OpenCV, metres; pixel (0, 0) is the centre of the
top-left pixel; rotations are axis-angle. Every edited frame becomes an EDITED keyframe of a
present hand with confidence 1.

Keeping joints and MANO consistent:
- after a joint is moved, MANO is refitted to the 21 joints through the hand model when one is
  available (core/hands/model.py), once per frame when the gesture ends (a drag is one refit,
  seeded with the MANO of before the drag); until then, and for good without a model, the
  frame's MANO fields are NaN (they no longer describe the joints). joints_3d always keep
  exactly what the person placed.
- after a MANO rotation edit, joints come from the MANO model when available; otherwise the
  joint's subtree is turned rigidly by the change of that joint's world rotation (MANO's
  kinematic chain composed from global_orient and hand_pose, taking MANO's mean pose as zero: an
  approximation, exact with flat_hand_mean=True).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from core.camera import project, unproject
from core.edits.registry import (
    get_frame,
    get_frames,
    get_joint,
    get_vec,
    one_hand,
    register,
)
from core.errors import EditError
from core.hands.model import hand_model
from core.hands.rotations import axis_angle_to_matrix, matrix_to_axis_angle
from core.labels.document import MANO_FIELDS, Source
from core.labels.joints import MANO16_TO_21, N_JOINTS, PARENTS

if TYPE_CHECKING:
    from core.edits.registry import Editor

#: Parent of each of MANO's 16 joints (MANO order: wrist, index, middle, little, ring, thumb).
MANO_PARENTS: tuple[int, ...] = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 0, 10, 11, 0, 13, 14)

EDITED = {"present": True, "confidence": 1.0, "source": int(Source.EDITED), "keyframe": True}


def _known_joints(h: Editor, hand: int, frame: int) -> np.ndarray:
    j: np.ndarray = h.doc.hands[hand].joints_3d[frame].astype(np.float64)
    if not np.isfinite(j).all():
        raise EditError(
            f"the {('left', 'right')[hand]} hand has no 3D joints on frame {frame}",
            hint="Copy a pose from a neighbouring frame (copy_pose) or interpolate first.",
        )
    return j


def set_joints(
    h: Editor, hand: int, frame: int, joints: np.ndarray, uv: dict[int, np.ndarray]
) -> None:
    """Write a frame's edited 21 joints: 2D positions of the joints in `uv` are set as given,
    unknown 2D positions come from projection, MANO is refitted (or NaN without a model)."""
    doc = h.doc
    _in_front(joints, frame)
    j2d = doc.hands[hand].joints_2d[frame].astype(np.float64)
    proj = project(joints, doc.K)
    j2d = np.where(np.isfinite(j2d), j2d, proj)
    for j, p in uv.items():
        j2d[j] = p
    model = hand_model()
    if model is not None:
        # one refit when the gesture ends (a drag is many moves), seeded with the pre-drag MANO
        track = doc.hands[hand]
        init = {k: getattr(track, k)[frame : frame + 1].astype(np.float64) for k in MANO_FIELDS}
        h.defer(("refit", hand, frame), lambda: _refit(h, model, hand, frame, init))
    values: dict[str, Any] = {"joints_3d": joints, "joints_2d": j2d, **EDITED}
    values.update({k: np.nan for k in MANO_FIELDS})  # stale until refitted (or for good)
    h.write(hand, frame, values)


def _in_front(joints: np.ndarray, frame: int) -> None:
    """Refuse joints at or behind the camera (z <= 0): `check` refuses such files."""
    if (np.asarray(joints)[..., 2] <= 0).any():
        raise EditError(
            f"the edit would put joints at or behind the camera (z <= 0) on frame {frame}",
            hint="3D positions are in metres in the camera frame; z is the depth, > 0.",
        )


def _refit(h: Editor, model: Any, hand: int, frame: int, init: dict[str, np.ndarray]) -> None:
    """Fit MANO to the frame's (edited) joints and write the MANO fields."""
    joints = h.doc.hands[hand].joints_3d[frame].astype(np.float64)
    if not np.isfinite(joints).all():
        return
    fitted = model.fit(hand, joints[None], init)
    h.write(hand, frame, {k: np.asarray(fitted[k])[0] for k in MANO_FIELDS})


@register("move_joint_2d", ("hand", "frame", "joint", "uv"))
def move_joint_2d(h: Editor, e: dict[str, Any]) -> None:
    """Drag a joint in the image: the 3D joint slides along the camera ray through `uv` at its
    current depth (z), so it projects exactly onto uv."""
    hand, frame, joint = one_hand(e), get_frame(h.doc, e), get_joint(e)
    uv = get_vec(e, "uv", 2)
    joints = _known_joints(h, hand, frame)
    z = joints[joint, 2]
    if z <= 0:
        raise EditError(f"joint {joint} is behind the camera (z = {z:.3f} m) on frame {frame}")
    joints[joint] = unproject(uv, np.asarray(z, np.float64), h.doc.K)
    set_joints(h, hand, frame, joints, {joint: uv})


@register("move_joint_3d", ("hand", "frame", "joint", "xyz"))
def move_joint_3d(h: Editor, e: dict[str, Any]) -> None:
    """Place a joint at a 3D position (camera frame, metres)."""
    hand, frame, joint = one_hand(e), get_frame(h.doc, e), get_joint(e)
    xyz = get_vec(e, "xyz", 3)
    joints = _known_joints(h, hand, frame)
    joints[joint] = xyz
    set_joints(h, hand, frame, joints, {joint: project(xyz, h.doc.K)})


@register(
    "transform_hand", ("hand",), ("frame", "frames", "start", "end", "rotation", "translation")
)
def transform_hand(h: Editor, e: dict[str, Any]) -> None:
    """Rotate a whole hand about its wrist (axis-angle `rotation`, camera frame) and then move it
    by `translation` (metres) on each chosen frame.

    MANO stays consistent exactly: MANO's global rotation pivots about its root joint (the
    wrist), so global_orient becomes R * global_orient and transl gains the translation.
    """
    hand, frames = one_hand(e), get_frames(h.doc, e)
    R = axis_angle_to_matrix(get_vec(e, "rotation", 3, [0.0, 0.0, 0.0]))
    t = get_vec(e, "translation", 3, [0.0, 0.0, 0.0])
    track = h.doc.hands[hand]
    joints = np.stack([_known_joints(h, hand, int(f)) for f in frames])
    wrist = joints[:, :1]
    moved = (joints - wrist) @ R.T + wrist + t
    _in_front(moved, int(frames[0]))
    go = track.global_orient[frames].astype(np.float64)
    new_go = matrix_to_axis_angle(R @ axis_angle_to_matrix(go))
    values: dict[str, Any] = {
        "joints_3d": moved,
        "joints_2d": project(moved, h.doc.K),
        "global_orient": np.where(np.isfinite(go), new_go, np.nan),
        "transl": track.transl[frames].astype(np.float64) + t,
        **EDITED,
    }
    h.write(hand, frames, values)


def mano_joint_index(label_joint: int) -> int:
    """MANO joint (0..15) whose rotation turns the bones below label joint `label_joint`."""
    if label_joint not in MANO16_TO_21:
        raise EditError(
            f"joint {label_joint} is a fingertip and has no rotation of its own",
            hint="Rotate its parent joint instead (e.g. 7 for the index tip).",
        )
    return MANO16_TO_21.index(label_joint)


def _descendants(joint: int) -> list[int]:
    out: list[int] = []
    for j in range(N_JOINTS):
        p = PARENTS[j]
        while p != -1:
            if p == joint:
                out.append(j)
                break
            p = PARENTS[p]
    return out


def _world_rotation(go: np.ndarray, pose: np.ndarray, m: int) -> np.ndarray:
    """World rotation of MANO joint m's frame: global_orient times its ancestors' rotations."""
    chain = []
    p = m
    while p > 0:
        chain.append(p)
        p = MANO_PARENTS[p]
    G = axis_angle_to_matrix(go)
    for a in reversed(chain):
        G = G @ axis_angle_to_matrix(pose[3 * (a - 1) : 3 * a])
    return G


@register("set_joint_rotation", ("hand", "frame", "joint", "axis_angle"))
def set_joint_rotation(h: Editor, e: dict[str, Any]) -> None:
    """Set one joint's MANO rotation (axis-angle, relative to its parent as in hand_pose; the
    wrist's is global_orient). `joint` is a label joint index (not a fingertip)."""
    hand, frame, joint = one_hand(e), get_frame(h.doc, e), get_joint(e)
    aa = get_vec(e, "axis_angle", 3)
    m = mano_joint_index(joint)
    track = h.doc.hands[hand]
    params = {k: getattr(track, k)[frame].astype(np.float64) for k in MANO_FIELDS}
    if not all(np.isfinite(v).all() for v in params.values()):
        raise EditError(
            f"the {('left', 'right')[hand]} hand has no MANO parameters on frame {frame}",
            hint="Drag joints instead, or fill MANO by fitting (needs MANO model files).",
        )
    new = {k: v.copy() for k, v in params.items()}
    if m == 0:
        new["global_orient"] = aa
    else:
        new["hand_pose"][3 * (m - 1) : 3 * m] = aa
    model = hand_model()
    if model is not None:
        joints = np.asarray(model.joints(hand, {k: v[None] for k, v in new.items()}))[0]
    else:
        joints = _known_joints(h, hand, frame)
        if m == 0:
            G_old, G_new = axis_angle_to_matrix(params["global_orient"]), axis_angle_to_matrix(aa)
        else:
            G_old = _world_rotation(params["global_orient"], params["hand_pose"], m)
            G_new = _world_rotation(new["global_orient"], new["hand_pose"], m)
        D = G_new @ G_old.T
        pivot = joints[joint].copy()
        sub = _descendants(joint)
        joints[sub] = (joints[sub] - pivot) @ D.T + pivot
    values: dict[str, Any] = {
        "joints_3d": joints,
        "joints_2d": project(joints, h.doc.K),
        **{k: new[k] for k in ("global_orient", "hand_pose")},
        **EDITED,
    }
    h.write(hand, frame, values)


@register("refit_mano", ("hand",), ("frame", "frames", "start", "end"))
def refit_mano(h: Editor, e: dict[str, Any]) -> None:
    """Fit MANO to the frames' 3D joints (needs a MANO model); joints are left as they are."""
    hand, frames = one_hand(e), get_frames(h.doc, e)
    model = hand_model()
    if model is None:
        raise EditError(
            "refit_mano needs MANO model files",
            hint="Set the MANO directory (VIDIHAND_MANO_DIR) to the folder with MANO_RIGHT.pkl.",
        )
    track = h.doc.hands[hand]
    joints = track.joints_3d[frames].astype(np.float64)
    ok = np.isfinite(joints).all(axis=(1, 2))
    if not ok.any():
        raise EditError("none of the frames has 3D joints to fit")
    f = frames[ok]
    init = {k: getattr(track, k)[f].astype(np.float64) for k in MANO_FIELDS}
    fitted = model.fit(hand, joints[ok], init)
    h.write(hand, f, {k: np.asarray(fitted[k]) for k in MANO_FIELDS})
