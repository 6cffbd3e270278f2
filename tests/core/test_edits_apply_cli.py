"""`vidihand apply LABELS.h5 EDITS.json -o OUT.h5` end to end, with the issue's four edits."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core.camera import project
from core.cli.main import main
from core.edits import apply_edits, use_hand_model
from core.hands.skeleton import RELAXED_FINGERS, hand_joints
from core.io.labels_h5 import load_labels, save_labels
from core.io.npz import load_npz, save_npz
from core.labels.document import LabelDocument, Source, VideoMeta

ISSUE_EDITS = [
    {"op": "move_joint_2d", "hand": "right", "frame": 10, "joint": 8, "uv": [655.0, 402.5]},
    {"op": "set_present", "hand": "left", "frames": [70, 71], "present": False},
    {"op": "swap_hands", "start": 50, "end": 60},
    {"op": "interpolate", "hand": "left", "start": 20, "end": 40},
]


def make_labels(path: Path) -> Path:
    n = 90
    doc = LabelDocument(VideoMeta(n, 30.0, 1280, 720, video_sha256="ef" * 32))
    t = np.arange(n) / n
    for h in range(2):
        rot = np.stack([0.3 * np.sin(3 * t), 0.1 + 0 * t, 0.5 * t + h], 1)
        transl = np.stack([(-0.1 if h == 0 else 0.1) + 0 * t, 0.03 * t, 0.5 + 0 * t], 1)
        joints = hand_joints(rot, transl, RELAXED_FINGERS * (1 + t)[:, None, None], side=h)
        doc.write(
            h,
            slice(None),
            {
                "present": True,
                "confidence": 0.9,
                "joints_3d": joints,
                "joints_2d": project(joints, doc.K),
                "source": int(Source.PREDICTED),
            },
        )
    doc.backend = "groundtruth"
    return save_labels(doc, path)


@pytest.fixture(autouse=True)
def _no_mano():
    use_hand_model(None)
    yield


def test_apply_writes_the_edits_and_their_history(tmp_path, capsys):
    labels = make_labels(tmp_path / "in.h5")
    edits = tmp_path / "edits.json"
    edits.write_text(json.dumps(ISSUE_EDITS))
    out = tmp_path / "out.h5"
    assert main(["apply", str(labels), str(edits), "-o", str(out)]) == 0
    assert "applied 4 edit(s)" in capsys.readouterr().out

    before, after = load_labels(labels), load_labels(out)
    r, left = after.hands[1], after.hands[0]
    np.testing.assert_allclose(project(r.joints_3d[10, 8], after.K), [655.0, 402.5], atol=1e-3)
    assert r.source[10] == Source.EDITED and r.keyframe[10]
    assert not left.present[70:72].any() and left.present[69] and left.present[72]
    np.testing.assert_array_equal(  # swap 50..60 inclusive
        after.hands[0].joints_3d[50:61], before.hands[1].joints_3d[50:61]
    )
    np.testing.assert_array_equal(after.hands[1].joints_3d[61], before.hands[1].joints_3d[61])
    assert left.keyframe[20] and left.keyframe[40]
    assert (left.source[21:40] == Source.INTERPOLATED).all() and left.source[40] == Source.PREDICTED
    assert after.history == ISSUE_EDITS

    # the stored history replays to the same labels
    replayed = load_labels(labels)
    apply_edits(replayed, after.history)
    assert replayed.equals(after)

    # provenance and review state survive schema v1 and NPZ
    after.hands[0].reviewed[5] = True
    after.hands[1].flags[7] = 3
    after.notes[5] = "checked"
    save_labels(after, tmp_path / "again.h5")
    again = load_labels(tmp_path / "again.h5")
    assert again.equals(after) and again.history == after.history
    npz = np.load(save_npz(after, tmp_path / "out.npz"))
    for name in ("source", "reviewed", "keyframe", "flags", "joints_3d"):
        np.testing.assert_array_equal(npz[f"left_{name}"], getattr(after.hands[0], name))
    back = load_npz(tmp_path / "out.npz")
    assert back.equals(after) and back.history == after.history and back.notes == {5: "checked"}


def test_a_bad_edit_names_its_index_and_writes_nothing(tmp_path, capsys):
    labels = make_labels(tmp_path / "in.h5")
    edits = tmp_path / "edits.json"
    edits.write_text(
        json.dumps(
            [ISSUE_EDITS[2], {"op": "set_present", "hand": "left", "frames": [95], "present": True}]
        )
    )
    out = tmp_path / "out.h5"
    assert main(["apply", str(labels), str(edits), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "edit #1 (set_present)" in err and "frame 95" in err
    assert not out.exists()
    edits.write_text("[{")
    assert main(["apply", str(labels), str(edits), "-o", str(out)]) == 2
    assert "not valid JSON" in capsys.readouterr().err


def test_console_script_runs(tmp_path):
    labels = make_labels(tmp_path / "in.h5")
    edits = tmp_path / "edits.json"
    edits.write_text(json.dumps([ISSUE_EDITS[2]]))
    exe = Path(sys.executable).with_name("vidihand")
    res = subprocess.run(
        [str(exe), "apply", str(labels), str(edits), "-o", str(tmp_path / "o.h5"), "--quiet"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    assert load_labels(tmp_path / "o.h5").history == [ISSUE_EDITS[2]]


def test_issue_edits_on_the_project_sample(sample, tmp_path):
    """The four issue edits on the project's own sample ground truth (real generated labels)."""
    _, gt = sample
    edits = tmp_path / "edits.json"
    edits.write_text(json.dumps(ISSUE_EDITS))
    out = tmp_path / "sample_edited.h5"
    assert main(["apply", str(gt), str(edits), "-o", str(out), "--quiet"]) == 0
    truth, after = load_labels(gt), load_labels(out)
    assert after.history == ISSUE_EDITS
    np.testing.assert_allclose(
        project(after.hands[1].joints_3d[10, 8], after.K), [655.0, 402.5], atol=1e-3
    )
    # interpolating 20..40 over the true motion stays close to the truth, with the sample's
    # (constant) bone lengths kept on every interpolated frame
    from core.hands.skeleton import bone_lengths

    got = after.hands[0].joints_3d[21:40].astype(np.float64)
    true = truth.hands[0].joints_3d[21:40].astype(np.float64)
    err_mm = 1000 * np.linalg.norm(got - true, axis=-1).mean()
    assert err_mm < 40, err_mm
    np.testing.assert_allclose(
        bone_lengths(got), np.broadcast_to(bone_lengths(true[0]), (19, 20)), atol=1e-4
    )
