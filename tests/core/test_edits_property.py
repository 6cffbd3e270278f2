"""Property test: any sequence of edits (single edits, multi-edit gestures, undos on the way),
undone completely, gives back the original document exactly (NaNs included) and its history;
redoing everything gives back the edited state."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from core.camera import project
from core.edits import EditHistory, use_hand_model
from core.errors import EditError
from core.hands.skeleton import RELAXED_FINGERS, hand_joints
from core.labels.document import LabelDocument, Source, VideoMeta

N = 24


def make_doc() -> LabelDocument:
    rng = np.random.default_rng(7)
    doc = LabelDocument(VideoMeta(N, 30.0, 640, 480))
    t = np.arange(N) / N
    for h in range(2):
        rot = np.stack([0.3 * np.sin(6 * t), 0.2 + 0 * t, t + h], 1)
        transl = np.stack([(-0.1 if h == 0 else 0.1) + 0 * t, 0.02 * t, 0.5 + 0.1 * t], 1)
        joints = hand_joints(rot, transl, RELAXED_FINGERS * (1 + t)[:, None, None], side=h)
        doc.write(
            h,
            slice(None),
            {
                "present": True,
                "confidence": 0.8,
                "joints_3d": joints,
                "joints_2d": project(joints, doc.K),
                "global_orient": rot,
                "hand_pose": rng.normal(0, 0.3, (N, 45)),
                "betas": np.zeros(10),
                "transl": transl,
                "source": int(Source.PREDICTED),
            },
        )
    # unknown values on some frames: NaN must come back exactly
    doc.write(0, [5, 6, 7], {"present": False, "joints_3d": np.nan, "hand_pose": np.nan})
    doc.write(1, [20], {"global_orient": np.nan})
    doc.notes = {3: "original note"}
    return doc


hands = st.sampled_from(["left", "right"])
frames = st.integers(0, N - 1)
joints = st.integers(0, 20)
small = st.floats(-0.3, 0.3)


@st.composite
def ranges(draw):
    a, b = draw(frames), draw(frames)
    return min(a, b), max(a, b)


@st.composite
def edits(draw):
    kind = draw(
        st.sampled_from(
            [
                "move_joint_2d",
                "move_joint_3d",
                "set_present",
                "swap_hands",
                "copy_pose",
                "delete_range",
                "transform_hand",
                "set_joint_rotation",
                "interpolate",
                "smooth",
                "set_reviewed",
                "set_flags",
                "set_note",
                "set_keyframe",
            ]
        )
    )
    hand, f = draw(hands), draw(frames)
    a, b = draw(ranges())
    if kind == "move_joint_2d":
        uv = [draw(st.floats(0, 639)), draw(st.floats(0, 479))]
        return {"op": kind, "hand": hand, "frame": f, "joint": draw(joints), "uv": uv}
    if kind == "move_joint_3d":
        xyz = [draw(small), draw(small), draw(st.floats(0.2, 1.0))]
        return {"op": kind, "hand": hand, "frame": f, "joint": draw(joints), "xyz": xyz}
    if kind == "set_present":
        return {"op": kind, "hand": hand, "frames": [f, a], "present": draw(st.booleans())}
    if kind == "swap_hands":
        return {"op": kind, "start": a, "end": b}
    if kind == "copy_pose":
        src = draw(st.sampled_from([{"from": "prev"}, {"from": "next"}, {"from_frame": a}]))
        return {"op": kind, "hand": hand, "frame": f, **src}
    if kind == "delete_range":
        return {"op": kind, "hand": hand, "start": a, "end": b}
    if kind == "transform_hand":
        rot, tr = [draw(small) for _ in range(3)], [draw(small) / 10 for _ in range(3)]
        return {"op": kind, "hand": hand, "start": a, "end": b, "rotation": rot, "translation": tr}
    if kind == "set_joint_rotation":
        j = draw(st.sampled_from([0, 1, 2, 3, 5, 6, 7, 9, 13, 17, 19]))
        aa = [draw(small) for _ in range(3)]
        return {"op": kind, "hand": hand, "frame": f, "joint": j, "axis_angle": aa}
    if kind == "interpolate":
        return {"op": kind, "hand": hand, "start": a, "end": max(b, a + 1) if a < N - 1 else b}
    if kind == "smooth":
        return {"op": kind, "hand": hand, "start": a, "end": b, "sigma": draw(st.floats(0.5, 3))}
    if kind == "set_reviewed":
        return {
            "op": kind,
            "hand": draw(st.sampled_from(["left", "right", "both"])),
            "start": a,
            "end": b,
        }
    if kind == "set_flags":
        names = draw(st.lists(st.sampled_from(["occluded", "truncated", "lr_swap"]), min_size=1))
        return {"op": kind, "hand": hand, "frames": [f], "flags": names, "on": draw(st.booleans())}
    if kind == "set_note":
        return {"op": kind, "frame": f, "text": draw(st.sampled_from(["", "blur", "check thumb"]))}
    return {"op": kind, "hand": hand, "frames": [f], "keyframe": draw(st.booleans())}


#: an action is a single edit, a gesture of several edits, or an undo
actions = st.one_of(
    edits().map(lambda e: ("edit", [e])),
    st.lists(edits(), min_size=2, max_size=5).map(lambda es: ("gesture", es)),
    st.just(("undo", [])),
)

BASE = make_doc()


@given(st.lists(actions, min_size=1, max_size=12))
def test_undo_all_restores_the_original_and_redo_all_the_edited_state(seq):
    use_hand_model(None)
    doc = BASE.copy()
    history = EditHistory(doc)
    for kind, es in seq:
        if kind == "undo":
            history.undo()
            continue
        try:
            with history.gesture(kind):
                for e in es:
                    history.apply(e)
        except EditError:
            pass  # refused edits (e.g. no pose to copy) roll back their whole gesture
    while history.redo():  # the top of the stack: what undo-all then redo-all must give back
        pass
    edited = doc.copy()
    while history.undo():
        pass
    assert doc.equals(BASE) and doc.history == BASE.history and doc.notes == BASE.notes
    while history.redo():
        pass
    assert doc.equals(edited) and doc.history == edited.history
