"""Remote hosts in the review window, end to end with real parts.

A real OpenSSH server on a loopback port (core/remote/sshd.py: generated host and client keys),
a real `vidihand serve` started by the host's "Start server" command over SSH, the real window:
the host is configured in Settings > Remote Hosts..., tested with "Test connection", and a
reconstruction runs on it through the reconstruction panel. The results must equal a local run;
a tunnel killed mid-run must cost nothing (reconnect, same result, no frame computed twice);
a wrong token must be a clear error that leaves the window working.
"""

from __future__ import annotations

import os
import shlex
import signal
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QDialogButtonBox

from core.labels.document import LabelDocument
from core.remote.sshd import LocalSshd
from core.remote.tunnel import free_port
from core.settings import RemoteHost, Settings

pytestmark = pytest.mark.gui

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "app-remote-test-token"
#: seconds the server sleeps after every batch (a test-only option): jobs last long enough to
#: cut the tunnel in the middle
BATCH_DELAY = 0.15


@pytest.fixture(scope="module")
def sshd(openssh: str, tmp_path_factory: pytest.TempPathFactory):
    server = LocalSshd(tmp_path_factory.mktemp("sshd"))
    yield server
    server.close()


@pytest.fixture(scope="module")
def remote(sshd: LocalSshd, tmp_path_factory: pytest.TempPathFactory):
    """A host entry for the test sshd whose "Start server" command runs `vidihand serve` (from
    this checkout) on a free port; the servers it started are stopped at the end."""
    folder = tmp_path_factory.mktemp("remote")
    token_file = folder / "token"
    token_file.write_text(TOKEN + "\n")
    token_file.chmod(0o600)  # vidihand serve refuses a token file others can read
    port = free_port()
    pids = folder / "serve.pids"
    from core.recon.vidihand.checkpoint import save_checkpoint
    from core.recon.vidihand.config import load_config
    from core.recon.vidihand.model import ViDiHandModel

    # one named model (an untrained tiny checkpoint): the connection test lists it
    save_checkpoint(ViDiHandModel(load_config("tiny")), folder / "models" / "hands-tiny")
    serve = (
        f"{shlex.quote(sys.executable)} -m core.cli.main serve --port {port} --token-file "
        f"{shlex.quote(str(token_file))} --jobs-dir {shlex.quote(str(folder / 'jobs'))} "
        f"--isolation thread --test-batch-delay {BATCH_DELAY} "
        f"--models {shlex.quote(str(folder / 'models'))}"
    )
    command = f"sh -c {shlex.quote(f'echo $$ >> {pids}; cd {ROOT}; exec {serve}')}"
    host = RemoteHost(
        name="gpu-test",
        host="127.0.0.1",
        user=sshd.user,
        port=sshd.port,
        key_file=str(sshd.folder / "client_key"),
        remote_port=port,
        token_file=str(token_file),
        remote_command=command,
        remote_log=str(folder / "serve.log"),
        known_hosts=str(sshd.folder / "known_hosts"),
    )
    yield host
    if pids.exists():
        for line in pids.read_text().split():
            try:
                os.kill(int(line), signal.SIGTERM)
            except ProcessLookupError:
                pass


def local_result(video: Path, gt: Path, frames: range) -> LabelDocument:
    """The same backend run here, in this process: what the remote run must equal."""
    from core.recon.base import meta_for, run_reconstruction
    from core.recon.registry import create_backend
    from core.video.reader import open_video

    with open_video(video) as v, create_backend("groundtruth", labels=str(gt), decode=False) as b:
        doc = LabelDocument(meta_for(v))
        run_reconstruction(b, v, doc, frames)
    return doc


def assert_hands_equal(doc: LabelDocument, ref: LabelDocument, frames: range) -> None:
    for h in (0, 1):
        got, want = doc.hands[h].arrays(), ref.hands[h].arrays()
        for name, arr in want.items():
            if name in ("source", "reviewed", "flags"):
                continue
            np.testing.assert_array_equal(got[name], arr, err_msg=f"hand {h} {name}")
    assert doc.hands[0].present[frames.start : frames.stop].any()


def run_on_host(window, qtbot, host: str | None, gt: Path, first: int, last: int) -> None:
    """Choose where, the groundtruth backend, its options and the range in the panel; Run."""
    panel = window.recon_panel
    panel.run_on.choose(host)
    panel.backend.setCurrentIndex(panel.backend.findData("groundtruth"))
    panel.options.setText(f"labels={shlex.quote(str(gt))} decode=false")
    panel.range.setChecked(True)
    panel.start_spin.setValue(first)
    panel.stop_spin.setValue(last)
    panel.run_button.click()


def ssh_tunnels(port: int, parent: int | None = None) -> list[int]:
    """Running `ssh -N` tunnel processes to the sshd on `port` (started by `parent`)."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            cmd = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if fields[0] == "Z" or (parent is not None and int(fields[1]) != parent):
            continue
        if cmd and cmd[0].endswith(b"ssh") and b"-N" in cmd and str(port).encode() in cmd:
            out.append(int(entry.name))
    return out


def test_hosts_dialog_validates_saves_and_tests(window, qtbot, remote, tmp_path, artifacts):
    menu = window.actions.menu("Settings")  # Settings > Remote Hosts... (a declared action)
    assert menu.title() == "&Settings" and window.remote.act_hosts in menu.actions()
    window.remote.act_hosts.trigger()
    dlg = window.remote.dialog
    assert dlg is not None and dlg.isVisible() and dlg.empty_hint.isVisible()
    assert dlg.add_host().name == "gpu" and dlg.list.count() == 1
    # a new host is not usable yet: the problems are listed in words, OK does not close
    assert "Enter the SSH host" in dlg.problems.text()
    assert "token file" in dlg.problems.text()
    dlg.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    assert dlg.isVisible() and window.settings.remote_hosts == []
    dlg.host.setText("alice@gpu")
    assert "Put the user name in the User field" in dlg.problems.text()
    dlg.token_file.setText(str(tmp_path / "missing-token"))
    assert "cannot read the token file" in dlg.problems.text().lower()
    # fill in the real host field by field, as a person would
    dlg.name.setText(remote.name)
    dlg.host.setText(remote.host)
    dlg.user.setText(remote.user)
    dlg.port.setValue(remote.port)
    dlg.key_file.setText(remote.key_file)
    dlg.remote_port.setValue(remote.remote_port)
    dlg.token_file.setText(remote.token_file)
    dlg.remote_command.setText(remote.remote_command)
    dlg.remote_log.setText(remote.remote_log)
    dlg.known_hosts.setText(remote.known_hosts)
    assert not dlg.problems.isVisible() and dlg.hosts() == [remote]
    assert dlg.list.item(0).text() == remote.name and not dlg.accept_new.isEnabled()
    # Test connection: starts the server with the host's command, passes the token check
    with qtbot.waitSignal(dlg.tested, timeout=90000) as blocker:  # a guard against a hang
        dlg.test_button.click()
        assert not dlg.test_button.isEnabled()  # the GUI thread is free while it connects
        QApplication.processEvents()
    ok, text = blocker.args
    assert ok, text
    assert "Connected through the SSH tunnel to" in text and dlg.test_result.text().startswith("✓")
    assert "serves 1 job at once" in text
    assert "hands-tiny  (tiny, 0.66 M parameters," in dlg.test_result.text()  # the host's models
    for _ in range(3):
        QApplication.processEvents()  # let the result label take its height
    assert dlg.grab().save(str(artifacts / "app_remote_hosts_dialog.png"))
    dlg.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    assert not dlg.isVisible()
    # saved in the settings file at once, and offered in the panel
    assert Settings.load(window.settings.path).remote_hosts == [remote]
    assert window.recon_panel.run_on.findData(remote.name) == 1


def test_remote_run_equals_local_and_survives_a_killed_tunnel(
    window, qtbot, sample, remote, sshd, artifacts
):
    from core.remote.client import RemoteClient

    video, gt = sample
    window.settings.remote_hosts = [remote]
    window.remote.refresh_hosts()
    assert window.open_video(video)
    frames = range(0, 144)  # 9 batches of 16, BATCH_DELAY after each on the server
    applied: list[np.ndarray] = []
    window.recon.batchApplied.connect(applied.append)
    killed: list[int] = []

    def cut_tunnel_once(_frames: object) -> None:
        pids = ssh_tunnels(sshd.port, parent=window.recon.worker.pid)
        if not killed and pids:
            os.kill(pids[0], signal.SIGKILL)  # the link dies in the middle of the job
            killed.append(len(window.remote.status.history))

    def screenshot_while_reconnecting(msg: object) -> None:
        # what the window shows while the link is down (taken outside the controller's poll)
        reconnecting = getattr(msg, "state", "") == "reconnecting"
        if killed and reconnecting and not (artifacts / shot).exists():
            QTimer.singleShot(0, lambda: save_screenshot(window, artifacts / shot))

    from app.screenshot import save_screenshot

    shot = "app_remote_run.png"
    (artifacts / shot).unlink(missing_ok=True)
    window.recon.batchApplied.connect(cut_tunnel_once)
    window.recon.connectionChanged.connect(screenshot_while_reconnecting)
    window.dock_recon.raise_()  # the panel shares its dock area with others: show it
    t0 = time.perf_counter()
    with qtbot.waitSignal(window.recon.finished, timeout=60000) as blocker:
        run_on_host(window, qtbot, remote.name, gt, frames.start, frames.stop - 1)
        assert window.recon_panel.connection.isVisible()
        assert window.remote.status.isVisible()
    seconds = time.perf_counter() - t0
    assert blocker.args == ["done"], window.errors.history
    assert killed, "the tunnel was never cut"
    doc = window.session.doc
    # the same frames as a local run, streamed batch by batch into the document
    assert_hands_equal(doc, local_result(video, gt, frames), frames)
    assert sum(len(a) for a in applied) == len(frames) and len(applied) >= 2
    assert doc.backend == "groundtruth" and doc.backend_version.endswith(" (remote)")
    # the link's states were shown, the reconnect included, and the run ended closed
    states = [s for s, _ in window.recon_panel.connection.history]
    assert states[0] == "connecting" and "uploading" in states and "connected" in states
    assert ("reconnecting", 1) in window.remote.status.history[killed[0] :]  # after the cut
    assert window.remote.status.state == "closed"
    assert "Done: 144 frames" in window.recon_panel.status.text()
    # counted on the server: every frame computed exactly once despite the cut
    with RemoteClient("127.0.0.1", remote.remote_port, TOKEN) as client:
        jobs = [j for j in client.list_jobs() if (j["start"], j["stop"]) == (0, 144)]
    assert len(jobs) == 1 and jobs[0]["frames_computed"] == len(frames)
    print(f"remote run of {len(frames)} frames with one reconnect: {seconds:.1f} s")
    # every tunnel the worker opened ended with the run (the worker closes it)
    qtbot.waitUntil(lambda: not ssh_tunnels(sshd.port), timeout=5000)
    assert (artifacts / shot).exists()


def test_wrong_token_is_a_clear_error_and_the_window_keeps_working(
    window, qtbot, sample, remote, tmp_path
):
    video, gt = sample
    wrong = tmp_path / "wrong-token"
    wrong.write_text("not-the-token\n")
    wrong.chmod(0o600)
    bad = RemoteHost(**{**remote.__dict__, "name": "bad-token", "token_file": str(wrong)})
    window.settings.remote_hosts = [remote, bad]
    window.remote.refresh_hosts()
    assert window.open_video(video)
    # Test connection says what is wrong
    dlg = window.remote.open_hosts_dialog()
    dlg.list.setCurrentRow(1)
    with qtbot.waitSignal(dlg.tested, timeout=90000) as blocker:  # a guard against a hang
        dlg.test_button.click()
    ok, text = blocker.args
    assert not ok and "authentication failed: the client sent a wrong token" in text
    assert "token" in text.splitlines()[-1]  # the hint
    dlg.reject()
    # a run on that host: the error reaches the window's presenter; the link shows "error"
    with qtbot.waitSignal(window.recon.finished, timeout=30000) as blocker:
        run_on_host(window, qtbot, "bad-token", gt, 0, 31)
    assert blocker.args == ["error"]
    info = window.errors.last
    assert info.title == "Remote worker" and "wrong token" in info.message and info.hint
    assert window.errors.current_dialog is not None
    assert window.recon_panel.connection.state == "error"
    assert "bad-token: error" in window.remote.status.text()
    window.errors.close_dialog()
    assert not window.session.doc.hands[0].present.any()  # nothing half-written
    # the window keeps working: the same run on the good host finishes
    with qtbot.waitSignal(window.recon.finished, timeout=30000) as blocker:
        run_on_host(window, qtbot, remote.name, gt, 0, 31)
    assert blocker.args == ["done"]
    assert_hands_equal(window.session.doc, local_result(video, gt, range(0, 32)), range(0, 32))
    # invalid options are refused in the panel with a clear message, nothing starts
    window.recon_panel.options.setText("labels")
    window.recon_panel.run_button.click()
    assert window.errors.last.title == "Invalid backend options" and not window.recon.running


def test_cancel_stops_the_remote_job_and_keeps_finished_frames(window, qtbot, sample, remote, sshd):
    from core.remote.client import RemoteClient

    video, gt = sample
    window.settings.remote_hosts = [remote]
    window.remote.refresh_hosts()
    assert window.open_video(video)
    window.recon.batchApplied.connect(
        lambda _f: window.recon_panel.cancel_button.click() if window.recon.running else None
    )
    with qtbot.waitSignal(window.recon.finished, timeout=60000) as blocker:
        run_on_host(window, qtbot, remote.name, gt, 16, 175)  # 10 batches
    assert blocker.args == ["cancelled"]
    present = window.session.doc.hands[0].present | window.session.doc.hands[1].present
    done = window.recon.state.done
    assert 16 <= done < 160 and "Cancelled after" in window.recon_panel.status.text()
    assert present[16 : 16 + done].any() and not present[16 + done :].any()

    def server_job() -> dict:
        with RemoteClient("127.0.0.1", remote.remote_port, TOKEN) as client:
            return next(j for j in client.list_jobs() if (j["start"], j["stop"]) == (16, 176))

    # the server stopped the job too (after its batch in flight), and the tunnel is gone
    qtbot.waitUntil(lambda: server_job()["state"] == "cancelled", timeout=10000)
    assert server_job()["frames_computed"] < 160
    qtbot.waitUntil(lambda: not ssh_tunnels(sshd.port), timeout=5000)


def test_closing_mid_run_ends_the_tunnel_and_the_job_can_be_picked_up(
    window, qtbot, sample, remote, sshd
):
    from core.remote.client import RemoteClient

    video, gt = sample
    window.settings.remote_hosts = [remote]
    window.remote.refresh_hosts()
    assert window.open_video(video)
    with qtbot.waitSignal(window.recon.batchApplied, timeout=60000):
        run_on_host(window, qtbot, remote.name, gt, 32, 179)  # 10 batches
    worker = window.recon.worker
    window.recon.shutdown()  # what closing the window does: the worker is killed (SIGTERM)
    assert not worker._proc.is_alive() and window.recon.last_outcome == "cancelled"
    assert window.recon_panel.run_button.isEnabled()  # the panel left its running state
    qtbot.waitUntil(lambda: not ssh_tunnels(sshd.port), timeout=5000)  # it closed its tunnel

    def server_job() -> dict:
        with RemoteClient("127.0.0.1", remote.remote_port, TOKEN) as client:
            return next(j for j in client.list_jobs() if (j["start"], j["stop"]) == (32, 180))

    # the job was not cancelled: it finishes on the server, and the same run re-attaches to it
    qtbot.waitUntil(lambda: server_job()["state"] == "done", timeout=20000)
    with qtbot.waitSignal(window.recon.finished, timeout=60000) as blocker:
        run_on_host(window, qtbot, remote.name, gt, 32, 179)
    assert blocker.args == ["done"] and window.recon.state.done == 148
    assert server_job()["frames_computed"] == 148  # nothing computed again
    assert_hands_equal(window.session.doc, local_result(video, gt, range(32, 180)), range(32, 180))
