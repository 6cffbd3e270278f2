"""The autosave journal: recovery gives back exactly the state after the last recorded edit,
including after a real process is killed (SIGKILL) in the middle of editing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from core.camera import project
from core.edits import EditHistory, use_hand_model
from core.hands.skeleton import RELAXED_FINGERS, hand_joints
from core.io.journal import Journal
from core.io.labels_h5 import load_labels, save_labels
from core.labels.document import LabelDocument, Source, VideoMeta

ROOT = Path(__file__).resolve().parents[2]
N = 60


def make_doc() -> LabelDocument:
    rng = np.random.default_rng(3)
    doc = LabelDocument(VideoMeta(N, 30.0, 1280, 720, video_sha256="cd" * 32))
    t = np.arange(N) / N
    for h in range(2):
        rot = np.stack([0.2 + 0 * t, 0.5 * np.sin(4 * t), t], 1)
        transl = np.stack([(-0.1 if h == 0 else 0.1) + 0.02 * t, 0 * t, 0.6 - 0.1 * t], 1)
        joints = hand_joints(rot, transl, RELAXED_FINGERS, side=h) + rng.normal(0, 1e-3, (N, 21, 3))
        doc.write(
            h,
            slice(None),
            {
                "present": True,
                "confidence": 0.9,
                "joints_3d": joints,
                "joints_2d": project(joints, doc.K),
                "global_orient": rot,
                "hand_pose": rng.normal(0, 0.2, (N, 45)),
                "betas": np.zeros(10),
                "transl": transl,
                "source": int(Source.PREDICTED),
            },
        )
    doc.write(0, np.arange(50, 55), {"present": False, "joints_3d": np.nan})
    doc.dirty = False
    return doc


def script(n: int) -> list[list]:
    """A deterministic editing session: edits, drags (gestures), undos and redos."""
    out: list[list] = []
    for i in range(n):
        f = (7 * i) % N
        hand = ("left", "right")[i % 2]
        k = i % 6
        if k == 0:
            out.append(
                [
                    "apply",
                    {
                        "op": "move_joint_2d",
                        "hand": hand,
                        "frame": f % 45,
                        "joint": i % 21,
                        "uv": [500 + i, 300 + i % 50],
                    },
                ]
            )
        elif k == 1:
            drag = [
                {
                    "op": "move_joint_2d",
                    "hand": "right",
                    "frame": f,
                    "joint": 8,
                    "uv": [600 + s, 320 - s],
                }
                for s in range(4)
            ]
            out.append(["gesture", drag])
        elif k == 2:
            out.append(["apply", {"op": "swap_hands", "start": f // 2, "end": f // 2 + 3}])
        elif k == 3:
            out.append(
                ["undo"]
                if i % 4 == 3
                else [
                    "apply",
                    {"op": "set_reviewed", "hand": "both", "start": f // 3, "end": f // 3 + 5},
                ]
            )
        elif k == 4:
            out.append(["apply", {"op": "set_note", "frame": f, "text": f"note {i}"}])
        else:
            out.append(
                ["redo"]
                if i % 4 == 1
                else [
                    "apply",
                    {"op": "interpolate", "hand": "right", "start": f // 2, "end": f // 2 + 6},
                ]
            )
    return out


def perform(history: EditHistory, action: list) -> None:
    if action[0] == "apply":
        history.apply(action[1])
    elif action[0] == "gesture":
        with history.gesture("drag joint"):
            for e in action[1]:
                history.apply(e)
    elif action[0] == "undo":
        history.undo()
    else:
        history.redo()


@pytest.fixture(autouse=True)
def _no_mano():
    use_hand_model(None)
    yield


def test_recovery_equals_the_state_before_the_crash(tmp_path):
    labels = save_labels(make_doc(), tmp_path / "clip.h5")
    doc = load_labels(labels)
    journal = Journal.open_for(labels, snapshot_every=5)
    assert not journal.has_recovery()
    journal.start(doc)
    history = EditHistory(doc, journal=journal)
    for action in script(30):
        perform(history, action)
    journal.close()  # the process "dies" here: nothing else is written

    again = Journal.open_for(labels)
    assert again.has_recovery() and again.describe()["changes"] >= 25  # no-op redos record nothing
    recovered = again.recover(load_labels(labels))
    assert recovered.equals(doc) and recovered.history == doc.history and recovered.dirty
    # after a save the journal is cleared
    save_labels(recovered, labels)
    again.clear()
    assert not Journal.open_for(labels).has_recovery()


def test_a_torn_last_record_is_ignored(tmp_path):
    labels = save_labels(make_doc(), tmp_path / "clip.h5")
    doc = load_labels(labels)
    journal = Journal.open_for(labels)
    journal.start(doc)
    history = EditHistory(doc, journal=journal)
    states = [doc.copy()]
    for action in script(8):
        perform(history, action)
        states.append(doc.copy())
    journal.close()
    data = journal.path.read_bytes()
    journal.path.write_bytes(data[:-7])  # crash in the middle of writing the last record
    recovered = Journal.open_for(labels).recover(load_labels(labels))
    assert recovered.equals(states[-2]) and recovered.history == states[-2].history


def test_unsaved_document_is_journaled_by_video_hash():
    doc = make_doc()
    journal = Journal.open_for(video_sha256=doc.meta.video_sha256)
    journal.start(doc)  # no label file: starts with a snapshot
    history = EditHistory(doc, journal=journal)
    history.apply("delete_range", hand="left", start=0, end=9)
    journal.close()
    assert journal.path.parent.name == "autosave"
    recovered = Journal.open_for(video_sha256=doc.meta.video_sha256).recover()
    assert recovered.equals(doc) and recovered.history == doc.history
    journal.clear()


CHILD = textwrap.dedent(
    """
    import json, sys, time
    sys.path.insert(0, {test_dir!r})
    from test_journal import perform, script
    from core.edits import EditHistory, use_hand_model
    from core.io.journal import Journal
    from core.io.labels_h5 import load_labels

    use_hand_model(None)
    labels = sys.argv[1]
    doc = load_labels(labels)
    journal = Journal.open_for(labels, snapshot_every=7)
    journal.start(doc)
    history = EditHistory(doc, journal=journal)
    for i, action in enumerate(script(400)):
        perform(history, action)
        print(f"done {{i}}", flush=True)
        time.sleep(0.005)
    """
)


def test_process_killed_mid_editing_loses_nothing(tmp_path):
    labels = save_labels(make_doc(), tmp_path / "clip.h5")
    child = tmp_path / "editor.py"
    child.write_text(CHILD.format(test_dir=str(Path(__file__).parent)))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, str(child), str(labels)], stdout=subprocess.PIPE, text=True, env=env
    )
    acked = -1
    deadline = time.monotonic() + 120
    try:
        for line in proc.stdout:  # type: ignore[union-attr]
            acked = int(line.split()[1])
            if acked >= 40 or time.monotonic() > deadline:
                break
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(30)
    assert proc.returncode == -signal.SIGKILL and acked >= 40

    journal = Journal.open_for(labels)
    assert journal.has_recovery()
    n_changes = journal.describe()["changes"]
    recovered = journal.recover(load_labels(labels))
    # replay the same session here: the recovered document is the state after the last
    # recorded change, which comes at or after the last action the child reported done
    doc = load_labels(labels)
    history = EditHistory(doc)
    changes = [0]
    history.subscribe(lambda: changes.__setitem__(0, changes[0] + 1))  # one per journal record
    expected, last_index = None, -1
    for i, action in enumerate(script(400)):
        perform(history, action)
        if changes[0] > n_changes:
            break
        if changes[0] == n_changes:
            expected = expected or doc.copy()
            last_index = i
    assert expected is not None and last_index >= acked
    assert recovered.equals(expected) and recovered.history == expected.history
    assert not load_labels(labels).equals(recovered)  # the label file itself was never touched
    json.dumps(recovered.history)  # the recovered history is still plain JSON


def test_edit_session_lifecycle(tmp_path):
    from core.edits.session import EditSession

    labels = save_labels(make_doc(), tmp_path / "clip.h5")
    session = EditSession.open(labels)
    assert session.recovery is None
    for action in script(12):
        perform(session.history, action)
    before_crash = session.doc.copy()
    session.journal.close()  # crash: no save, no close

    again = EditSession.open(labels)
    assert again.recovery is not None and again.recovery["changes"] >= 10
    assert again.doc.equals(load_labels(labels))  # nothing replaced until the user decides
    restored = again.restore()
    assert restored.equals(before_crash) and restored.history == before_crash.history
    again.history.apply("set_note", frame=2, text="after restore")
    again.save()
    assert load_labels(labels).notes[2] == "after restore"
    again.close()
    assert not Journal.open_for(labels).has_recovery()

    # an unsaved document is journaled by its video hash until it is saved somewhere
    fresh = EditSession.new(make_doc())
    fresh.history.apply("delete_range", hand="right", start=0, end=3)
    autosave = fresh.journal.path
    assert autosave.parent.name == "autosave" and autosave.exists()
    fresh.save(tmp_path / "new.h5")
    assert not autosave.exists() and fresh.journal.path == tmp_path / "new.h5.journal"
    fresh.close()
