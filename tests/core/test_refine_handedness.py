"""Left/right fixes (core/recon/refine/handedness.py) never move a person's frame, and
degenerate joints do not stop them."""

from __future__ import annotations

import numpy as np

from core.hands.skeleton import RELAXED_FINGERS, hand_joints
from core.labels.document import LabelDocument, Source, VideoMeta
from core.labels.joints import RIGHT
from core.recon.refine.handedness import fix_handedness


def right_hand_reported_as_left(n: int = 12) -> LabelDocument:
    """A right hand (by its 3D chirality) that the detector put on the left side throughout."""
    doc = LabelDocument(VideoMeta(n, 30.0, 640, 480))
    s = np.linspace(0, 1, n)[:, None]
    transl = np.concatenate([0.05 + 0.02 * s, 0.0 * s, 0.5 + 0.0 * s], 1)
    rot = np.concatenate([0.2 * s, 0.3 + 0.0 * s, 0.0 * s], 1)
    j3 = hand_joints(rot, transl, np.broadcast_to(RELAXED_FINGERS, (n, 5, 4)), RIGHT)
    uv = j3[..., :2] / j3[..., 2:] * doc.K[0, 0] + doc.K[:2, 2]
    doc.write(0, np.arange(n), {"present": True, "confidence": 0.9, "joints_3d": j3,
                                "joints_2d": uv, "source": int(Source.PREDICTED)})  # fmt: skip
    return doc


def test_chirality_moves_predicted_frames_but_never_a_persons_frame() -> None:
    doc = right_hand_reported_as_left()
    doc.write(0, [6], {"source": int(Source.EDITED)})
    doc.write(0, [2], {"joints_3d": np.full((21, 3), 0.4)})  # degenerate: no vote, no warning
    edited = {k: v[6].copy() for k, v in doc.hands[0].arrays().items()}
    assert fix_handedness(doc, range(doc.n_frames)) > 0
    right, left = doc.hands[1], doc.hands[0]
    assert right.present[7:].all() and not left.present[7:].any()  # moved to the right
    for k, v in left.arrays().items():  # the edited frame stays where the person put it
        assert np.array_equal(v[6], edited[k], equal_nan=v.dtype.kind == "f"), k
    assert not right.present[6]
