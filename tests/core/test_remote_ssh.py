"""The remote worker through a real OpenSSH tunnel.

The test starts its own sshd (/usr/sbin/sshd, via core/remote/sshd.py) on a free loopback port as the current user, with a
host key, a client key and an authorized_keys file generated in a temporary folder; the client
opens `ssh -N -L` itself (core/remote/tunnel.py). A job through the tunnel must equal a local run;
a tunnel killed mid-job must cost nothing (reconnect, same result, no frame computed twice).
"""

from __future__ import annotations

import getpass
import os
import shlex
import signal
import sys
from pathlib import Path

import numpy as np
import pytest

from core.errors import RemoteError
from core.io.labels_h5 import load_labels
from core.labels.document import FrameBatch
from core.remote.backend import Backoff, ConnectionState, RemoteReconstructor
from core.remote.client import RemoteClient
from core.remote.server import Server, ServerConfig
from core.remote.sshd import LocalSshd
from core.remote.tunnel import free_port
from core.video.reader import open_video

TOKEN = "ssh-test-token-42"
ROOT = Path(__file__).resolve().parents[2]


def _make_labels(video: Path, out: Path) -> Path:
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "_remote_server_tests", Path(__file__).with_name("test_remote_server.py")
    )
    mod = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(mod)
    return mod.make_labels(video, out)


@pytest.fixture(scope="module")
def sshd(openssh: str, tmp_path_factory: pytest.TempPathFactory):
    server = LocalSshd(tmp_path_factory.mktemp("sshd"))
    yield server
    server.close()


@pytest.fixture(scope="module")
def gt_labels(demo3: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _make_labels(demo3, tmp_path_factory.mktemp("gt") / "demo3_gt.h5")


def local_result(video: Path, labels: Path, frames: range) -> FrameBatch:
    from core.recon.registry import create_backend

    backend = create_backend("groundtruth", labels=str(labels), decode=False)
    with open_video(video) as v:
        return FrameBatch.concat(list(backend.reconstruct(v, frames, np.eye(3))))


def assert_same(a: FrameBatch, b: FrameBatch) -> None:
    for k, v in a.to_dict().items():
        np.testing.assert_array_equal(v, b.to_dict()[k], err_msg=k)


def test_job_through_tunnel_equals_local_and_survives_a_killed_tunnel(
    sshd: LocalSshd, tmp_path: Path, demo3: Path, gt_labels: Path
) -> None:
    # the batch delay (a test-only server option) keeps the job running long enough to cut it
    server = Server(
        ServerConfig(token=TOKEN.encode(), jobs_dir=tmp_path / "jobs", test_batch_delay=0.12)
    ).start()
    frames = range(0, 320)  # 20 batches
    states: list[str] = []
    tunnel = sshd.tunnel(server.address[1])
    rec = RemoteReconstructor(
        tunnel,
        TOKEN,
        "groundtruth",
        {"labels": str(gt_labels), "decode": False},
        backoff=Backoff(initial=0.1, attempts=6),
        on_message=lambda m: states.append(m.state) if isinstance(m, ConnectionState) else None,
    )
    try:
        got = []
        with open_video(demo3) as video:
            for batch in rec.reconstruct(video, frames, np.eye(3)):
                got.append(batch)
                if len(got) == 3:
                    first_ssh = tunnel.proc
                    first_ssh.send_signal(signal.SIGKILL)  # the link dies mid-job
                    first_ssh.wait()
        result = FrameBatch.concat(got)
        assert_same(result, local_result(demo3, gt_labels, frames))
        assert np.array_equal(result.frames, np.arange(320))  # nothing missing, nothing twice
        assert tunnel.opened >= 2 and rec.reconnects >= 1
        assert "reconnecting" in states and states[-1] == "closed"
        with RemoteClient(*server.address, TOKEN) as c:
            status = c.status(rec.job_id)
        assert status["state"] == "done"
        assert status["frames_computed"] == len(frames)  # counted on the server: no recompute
    finally:
        rec.close()
        server.close()
    assert not tunnel.alive()


def test_cli_over_ssh_starts_the_server_and_matches_local(
    sshd: LocalSshd, tmp_path: Path, demo3: Path, gt_labels: Path
) -> None:
    from core.cli.main import main

    token_file = tmp_path / "token"
    token_file.write_text("cli-token\n")
    token_file.chmod(0o600)  # vidihand serve refuses a token file others can read
    port = free_port()
    pid_file = tmp_path / "serve.pid"
    serve = (
        f"{shlex.quote(sys.executable)} -m core.cli.main serve --port {port} --token-file "
        f"{shlex.quote(str(token_file))} --jobs-dir {shlex.quote(str(tmp_path / 'jobs'))}"
    )
    remote_command = f"sh -c {shlex.quote(f'echo $$ > {pid_file}; cd {ROOT}; exec {serve}')}"
    common = [
        "--backend",
        "groundtruth",
        "--backend-option",
        f"labels={gt_labels}",
        "--backend-option",
        "decode=false",
        "--frames",
        "30:94",
        "--quiet",
    ]
    try:
        assert main(["reconstruct", str(demo3), "-o", str(tmp_path / "local.h5"), *common]) == 0
        rc = main(
            [
                "reconstruct",
                str(demo3),
                "-o",
                str(tmp_path / "remote.h5"),
                *common,
                "--ssh",
                f"{getpass.getuser()}@127.0.0.1:{sshd.port}",
                "--remote-port",
                str(port),
                "--identity-file",
                str(sshd.folder / "client_key"),
                "--known-hosts",
                str(sshd.folder / "known_hosts"),
                "--remote-command",
                remote_command,
                "--remote-log",
                str(tmp_path / "serve.log"),
                "--token-file",
                str(token_file),
            ]
        )
        assert rc == 0
        local, remote = load_labels(tmp_path / "local.h5"), load_labels(tmp_path / "remote.h5")
        assert remote.backend == "groundtruth"
        # the server's backend version, marked remote (run_reconstruction reads it at the end)
        v = remote.backend_version
        assert v.startswith("replay of ") and v.endswith(" (remote)"), v
        for h in range(2):
            for name, arr in local.hands[h].arrays().items():
                np.testing.assert_array_equal(arr, remote.hands[h].arrays()[name], err_msg=name)
        assert local.hands[0].present[30:94].any()
        # the same run against the server directly (--remote) re-attaches to the finished job
        rc = main(
            [
                "reconstruct",
                str(demo3),
                "-o",
                str(tmp_path / "direct.h5"),
                *common,
                "--remote",
                f"127.0.0.1:{port}",
                "--token-file",
                str(token_file),
            ]
        )
        assert rc == 0
        direct = load_labels(tmp_path / "direct.h5")
        np.testing.assert_array_equal(direct.hands[1].joints_3d, local.hands[1].joints_3d)
        with RemoteClient("127.0.0.1", port, "cli-token") as c:
            jobs = c.list_jobs()
        assert len(jobs) == 1 and jobs[0]["frames_computed"] == 64
    finally:
        if pid_file.exists():
            os.kill(int(pid_file.read_text()), signal.SIGTERM)


def test_tunnel_failures_are_clear_errors(
    sshd: LocalSshd, tmp_path: Path, demo3: Path, capsys
) -> None:
    # a key the server does not accept: the tunnel cannot open
    tunnel = sshd.tunnel(free_port(), key="stranger_key")
    rec = RemoteReconstructor(
        tunnel, TOKEN, "groundtruth", backoff=Backoff(initial=0.01, attempts=2)
    )
    with open_video(demo3) as video, pytest.raises(RemoteError) as info:
        next(rec.reconstruct(video, range(0, 8), np.eye(3)))
    text = str(info.value)
    assert "cannot reach the vidihand server through the SSH tunnel to" in text
    assert "Permission denied" in text and "check that `ssh -p" in info.value.hint
    assert "after 1 attempt:" in text  # a refused key is not retried
    # the tunnel opens but nothing listens behind it: retried, then a clear error
    tunnel = sshd.tunnel(free_port())
    rec = RemoteReconstructor(
        tunnel, TOKEN, "groundtruth", backoff=Backoff(initial=0.01, attempts=2)
    )
    try:
        with open_video(demo3) as video, pytest.raises(RemoteError) as info:
            next(rec.reconstruct(video, range(0, 8), np.eye(3)))
    finally:
        rec.close()  # ends the ssh process
    assert not tunnel.alive()
    text = str(info.value)
    assert "through the SSH tunnel" in text and "closed the connection" in text
    assert "vidihand serve --port" in info.value.hint
    # the command line reports it as error + hint, exit status 2
    from core.cli.main import main

    token_file = tmp_path / "token"
    token_file.write_text("x\n")
    token_file.chmod(0o600)
    rc = main(
        [
            "reconstruct",
            str(demo3),
            "-o",
            str(tmp_path / "o.h5"),
            "--frames",
            "0:8",
            "--quiet",
            "--ssh",
            f"nobody-here@127.0.0.1:{sshd.port}",
            "--identity-file",
            str(sshd.folder / "client_key"),
            "--known-hosts",
            str(sshd.folder / "known_hosts"),
            "--token-file",
            str(token_file),
        ]
    )
    err = capsys.readouterr().err
    assert (
        rc == 2
        and "error: cannot reach the vidihand server through the SSH tunnel" in err
        and "hint:" in err
    )


@pytest.mark.parametrize(
    "text, user, host, port",
    [
        ("gpu-box", None, "gpu-box", None),
        ("alice@gpu-box", "alice", "gpu-box", None),
        ("alice@10.0.0.5:2222", "alice", "10.0.0.5", 2222),
        ("bob@[::1]:22", "bob", "::1", 22),
    ],
)
def test_ssh_targets_parse(text: str, user: str | None, host: str, port: int | None) -> None:
    from core.remote.tunnel import SshTarget

    t = SshTarget.parse(text)
    assert (t.user, t.host, t.port) == (user, host, port)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "a@",
        "host:0",
        "host:99999",
        "a b",
        "host;rm -rf /",
        "-oProxyCommand=x",
        "-Fx",
        "u@-x",
        "-oX@host",
    ],
)
def test_bad_ssh_targets_and_addresses_are_refused(text: str) -> None:
    from core.remote.tunnel import DirectEndpoint, SshTarget

    with pytest.raises(RemoteError, match="--ssh must be"):
        SshTarget.parse(text)
    with pytest.raises(RemoteError, match="--remote must be HOST:PORT"):
        DirectEndpoint.parse(text)
