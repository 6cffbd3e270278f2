"""The autosave journal under a full disk and under kill -9 during a save (issue 14).

- A journal write that fails half-way (half a record written, then ENOSPC) is cut back to the
  last complete record, reported (`journal_error`), and the next change rewrites the journal
  whole: recovery then restores every edit that was acknowledged, with the failure injected at
  every record in turn.
- kill -9 at every step of a save: reopening never loses an edit, never sets the journal aside,
  and once the new file is in place the journal is recognised as settled and dropped quietly.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from test_journal import make_doc, perform, script  # noqa: E402

from core.edits import use_hand_model  # noqa: E402
from core.edits.session import EditSession  # noqa: E402
from core.io.journal import _FRAME, Journal, JournalWriteError  # noqa: E402
from core.io.labels_h5 import load_labels, save_labels  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
ACTIONS = script(10)


@pytest.fixture(autouse=True)
def _no_mano():
    use_hand_model(None)
    yield


class DiskFull:
    """Journal._write_bytes that fails calls number `fail_at` .. `fail_at + times - 1` (1-based):
    the first failing call writes half of what it was given, then raises ENOSPC."""

    def __init__(self, fail_at: int, times: int = 1) -> None:
        self.calls = 0
        self.fail_at, self.times = fail_at, times

    def __call__(self, fd: int, view: memoryview) -> int:
        self.calls += 1
        if self.fail_at <= self.calls < self.fail_at + self.times:
            if self.calls == self.fail_at:
                os.write(fd, view[: max(1, len(view) // 2)])
            raise OSError(errno.ENOSPC, "No space left on device")
        return os.write(fd, view)


def _records_end_at_eof(path: Path) -> bool:
    """Every byte of the journal belongs to a complete record: no torn record hides later ones."""
    data = path.read_bytes()
    records = Journal(path).records()
    end = sum(_FRAME.size + len(r.payload) + _head_len(data, r) for r in records)
    return end == len(data)


def _head_len(data: bytes, record) -> int:  # noqa: ANN001
    import json

    return len(json.dumps(record.header, separators=(",", ":"), allow_nan=True).encode())


def _session_with_failures(labels: Path, monkeypatch, disk: DiskFull):
    """Open, then run ACTIONS; returns the session, the state after the last acknowledged
    action (its journal write succeeded) and the autosave error after opening and each action."""
    monkeypatch.setattr(Journal, "_write_bytes", staticmethod(disk))
    session = EditSession.open(labels)
    acked = session.doc.copy()  # the label file itself
    errors = [session.autosave_error]
    for action in ACTIONS:
        perform(session.history, action)
        errors.append(session.autosave_error)
        if session.autosave_error is None:  # acknowledged: on disk before the user goes on
            acked = session.doc.copy()
    return session, acked, errors


def _count_writes(labels: Path, monkeypatch) -> int:
    disk = DiskFull(fail_at=10**9)
    monkeypatch.setattr(Journal, "_write_bytes", staticmethod(disk))
    session = EditSession.open(labels)
    for action in ACTIONS:
        perform(session.history, action)
    session.journal.clear()
    return disk.calls


@pytest.mark.parametrize("times", [1, 3])
def test_failed_writes_at_every_record_lose_no_acknowledged_edit(tmp_path, monkeypatch, times):
    labels = save_labels(make_doc(), tmp_path / "clip.h5")
    n_writes = _count_writes(labels, monkeypatch)
    assert n_writes >= len(ACTIONS)
    for k in range(1, n_writes + 1):
        disk = DiskFull(fail_at=k, times=times)
        session, acked, errors = _session_with_failures(labels, monkeypatch, disk)
        assert disk.calls >= k  # the failure did happen
        reported = [e for e in errors if e is not None]
        assert reported and all(isinstance(e, JournalWriteError) for e in reported), k
        assert reported[0].title == "Autosave is failing" and "crash" in str(reported[0])
        assert "Save As" in str(reported[0])
        before_crash = session.doc.copy()
        # kill -9: nothing closes the journal; the file is what the process left on disk
        assert _records_end_at_eof(session.journal.path), k
        monkeypatch.undo()
        again = EditSession.open(labels)
        restored = again.restore() if again.recovery else again.doc
        assert restored.equals(acked) and restored.history == acked.history, k
        if errors[-1] is None:  # the last edit was acknowledged: every edit is back
            assert restored.equals(before_crash), k
        again.journal.clear()


def test_the_app_side_sees_the_error_and_a_later_edit_catches_up(tmp_path, monkeypatch):
    labels = save_labels(make_doc(), tmp_path / "clip.h5")
    disk = DiskFull(fail_at=4)  # the 4th write: half a record, then ENOSPC
    session, _, errors = _session_with_failures(labels, monkeypatch, disk)
    # errors[0] is the opening (one write: the header); the 3rd edit's record failed
    assert errors[3] is not None and "Autosave cannot write" in errors[3].message
    assert all(e is None for e in errors[4:])  # the next edit rewrote the journal whole
    before_crash = session.doc.copy()
    monkeypatch.undo()
    again = EditSession.open(labels)
    assert again.restore().equals(before_crash)  # all 10 edits, not 3


SAVE_CHILD = textwrap.dedent(
    """
    import os, signal, sys
    sys.path.insert(0, {test_dir!r})
    from test_journal import perform, script
    import core.io.atomic as atomic
    import core.io.labels_h5 as labels_h5
    from core.edits import use_hand_model
    from core.edits.session import EditSession
    from core.io.journal import Journal

    use_hand_model(None)
    labels, target, step = sys.argv[1], sys.argv[2], sys.argv[3]
    session = EditSession.open(labels)
    for action in script(10):
        perform(session.history, action)

    def die():
        os.kill(os.getpid(), signal.SIGKILL)

    def wrap(owner, name, before=False, after=False):
        real = getattr(owner, name)
        def wrapper(*a, **k):
            if before:
                die()
            out = real(*a, **k)
            if after:
                die()
            return out
        setattr(owner, name, wrapper)

    if step == "before_mark":
        wrap(Journal, "mark_saving", before=True)
    elif step == "after_mark":
        wrap(Journal, "mark_saving", after=True)
    elif step == "before_rename":
        wrap(atomic.os, "replace", before=True)
    elif step == "after_rename":
        wrap(atomic.os, "replace", after=True)
    elif step == "after_save_labels":
        wrap(labels_h5, "save_labels", after=True)
    elif step == "after_clear":
        wrap(Journal, "clear", after=True)
    elif step == "after_start":
        wrap(Journal, "start", after=True)
    print("saving", flush=True)
    session.save(target if target != "-" else None)
    die()
    """
)
SAVE_STEPS = [
    "before_mark",
    "after_mark",
    "before_rename",
    "after_rename",
    "after_save_labels",
    "after_clear",
    "after_start",
]


@pytest.mark.parametrize("save_as", [False, True])
@pytest.mark.parametrize("step", SAVE_STEPS)
def test_kill_9_at_every_step_of_save_loses_nothing(tmp_path, step, save_as):
    labels = save_labels(make_doc(), tmp_path / "clip.h5")
    target = tmp_path / "copy.h5" if save_as else labels
    child = tmp_path / "saver.py"
    child.write_text(SAVE_CHILD.format(test_dir=str(Path(__file__).parent)))
    proc = subprocess.run(
        [sys.executable, str(child), str(labels), str(target) if save_as else "-", step],
        capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert proc.returncode == -signal.SIGKILL and "saving" in proc.stdout, proc.stderr
    # what the session held: the same script on the same file
    from core.edits import EditHistory

    base = make_doc()
    history = EditHistory(base)
    for action in script(10):
        perform(history, action)
    expected = base

    saved = target.exists() and load_labels(target).equals(expected)
    session = EditSession.open(target if saved else labels)
    assert not list(tmp_path.glob("*.kept")), step
    if saved:
        # the file holds every edit: no question, nothing set aside
        assert session.recovery is None, step
        assert session.doc.equals(expected) and session.doc.history == expected.history
    else:
        assert session.recovery is not None, step
        restored = session.restore()
        assert restored.equals(expected) and restored.history == expected.history, step
    session.close()
