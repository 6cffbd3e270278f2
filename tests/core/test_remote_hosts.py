"""Remote hosts from the settings (core/remote/hosts.py) and the "remote" backend in a worker:
what a person typed is checked with clear messages, a host becomes plain job options, a worker
job on a server streams the same batches as a local one plus the link's state, and a server
refuses to run the client-only "remote" backend itself."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from core.errors import RemoteError, SettingsError
from core.remote.backend import ConnectionState
from core.remote.client import RemoteClient
from core.remote.hosts import check_host, host_problems, remote_job, remote_job_options
from core.remote.protocol import ServerError
from core.remote.server import Server, ServerConfig
from core.settings import RemoteHost, Settings
from core.worker.messages import Batch, Done, Progress, Started
from core.worker.process import JobSpec, run_job

TOKEN = "hosts-test-token"


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    p = tmp_path / "token"
    p.write_text(TOKEN + "\n")
    p.chmod(0o600)  # a token file others can read is refused (core/remote/exposure.py)
    return p


def fields_at_fault(host: RemoteHost, others: list[RemoteHost] | None = None) -> set[str]:
    return {name for name, _ in host_problems(host, others or [])}


def test_host_problems_name_each_field(tmp_path: Path, token_file: Path) -> None:
    good = RemoteHost("gpu", "gpu-box.example.org", user="alice", token_file=str(token_file))
    assert host_problems(good) == []
    check_host(good)
    assert fields_at_fault(RemoteHost("", "")) == {"name", "host", "token_file"}
    assert fields_at_fault(good, [RemoteHost("GPU", "other")]) == {"name"}  # names are unique
    cases = {
        "host": {"host": "alice@gpu"},
        "user": {"user": "-oProxyCommand=x"},
        "port": {"port": 0},
        "remote_port": {"remote_port": 70000},
        "key_file": {"key_file": str(tmp_path / "no-key")},
        "known_hosts": {"known_hosts": str(tmp_path / "no-known-hosts")},
        "ssh_options": {"ssh_options": ["-F/dev/null"]},
        "remote_command": {"remote_command": "vidihand serve\nrm -rf ~"},
    }
    for field_name, change in cases.items():
        bad = RemoteHost(**{**good.__dict__, **change})
        assert fields_at_fault(bad) == {field_name}, change
    empty = tmp_path / "empty-token"
    empty.write_text("  \n")
    empty.chmod(0o600)
    problems = host_problems(RemoteHost("gpu", "gpu", token_file=str(empty)))
    assert problems == [("token_file", f"The token file {empty} is empty.")]
    token_file.chmod(0o640)  # the settings dialog names the client's readable token file
    ((field_name, text),) = host_problems(good)
    assert field_name == "token_file" and "accessible by other users (mode 0640)" in text
    with pytest.raises(SettingsError, match="cannot be used: Put the user name") as info:
        check_host(RemoteHost(**{**good.__dict__, "host": "bob@gpu"}))
    assert "Remote hosts" in info.value.hint


def test_host_becomes_plain_job_options(tmp_path: Path, token_file: Path) -> None:
    host = RemoteHost(
        "gpu",
        "10.0.0.5",
        user="alice",
        port=2222,
        remote_port=9000,
        token_file=str(token_file),
        remote_command="vidihand serve --port 9000 --token-file ~/.vidihand/token",
        remote_log="/tmp/serve.log",
        accept_new_host_key=True,
        ssh_options=["ProxyJump=bastion"],
    )
    name, options = remote_job(host, "mediapipe", {"labels": "gt.h5"})
    assert name == "remote"
    assert options == {
        "ssh": "alice@10.0.0.5:2222",
        "remote_port": 9000,
        "identity_file": None,
        "known_hosts": None,
        "remote_command": "vidihand serve --port 9000 --token-file ~/.vidihand/token",
        "token_file": str(token_file),
        "backend": "mediapipe",
        "options": {"labels": "gt.h5"},
        "ssh_options": ["ProxyJump=bastion", "StrictHostKeyChecking=accept-new"],
        "remote_log": "/tmp/serve.log",
    }
    json.dumps(options)  # a worker job spec carries it
    v6 = RemoteHost("v6", "::1", user="bob", port=22, token_file=str(token_file))
    assert host_problems(v6) == [] and remote_job_options(v6, "x")["ssh"] == "bob@[::1]:22"
    from core.remote.tunnel import SshTarget

    assert SshTarget.parse(remote_job_options(v6, "x")["ssh"]).host == "::1"
    known = tmp_path / "known_hosts"
    known.write_text("")
    strict = RemoteHost(**{**host.__dict__, "known_hosts": str(known)})
    assert "StrictHostKeyChecking=accept-new" not in remote_job_options(strict, "x")["ssh_options"]
    # the registry builds the backend from exactly these values (no connection yet)
    from core.recon.registry import available_backends, create_backend

    backend = create_backend(name, **options)
    assert backend.name == "mediapipe" and backend.version == "remote"
    assert "remote" not in available_backends()  # not a choice of its own


def test_settings_keep_every_host_field(tmp_path: Path, token_file: Path) -> None:
    path = tmp_path / "settings.json"
    s = Settings.load(path)
    host = RemoteHost("gpu", "gpu-box", token_file=str(token_file), ssh_options=["Compression=yes"])
    s.remote_hosts.append(host)
    s.save()
    assert Settings.load(path).remote_hosts == [host]
    data = json.loads(path.read_text())
    data["remote_hosts"][0]["from_a_newer_version"] = 1  # skipped, not an error
    path.write_text(json.dumps(data))
    assert Settings.load(path).remote_hosts == [host]
    path.write_text(json.dumps({"remote_hosts": [{"name": "no host"}]}))
    with pytest.raises(SettingsError, match="need name and host"):
        Settings.load(path)


def test_worker_job_on_a_server_streams_like_a_local_one(
    tmp_path: Path, token_file: Path, demo3: Path
) -> None:
    from core.recon.registry import create_backend
    from core.video.reader import open_video

    labels = _make_labels(demo3, tmp_path / "gt.h5")
    server = Server(
        ServerConfig(token=TOKEN.encode(), jobs_dir=tmp_path / "jobs", isolation="thread")
    ).start()
    try:
        options = {
            "remote": f"127.0.0.1:{server.address[1]}",
            "token_file": str(token_file),
            "backend": "groundtruth",
            "options": {"labels": str(labels), "decode": False},
        }
        messages: list = []
        final = run_job(JobSpec(str(demo3), "remote", options, 40, 88), messages.append)
        assert isinstance(final, Done) and final.done == 48, final
        kinds = [type(m) for m in messages]
        assert kinds[0] is Started and kinds.count(Started) == 1  # the backend's own is dropped
        assert kinds.count(Progress) == kinds.count(Batch) == 3
        states = [m.state for m in messages if isinstance(m, ConnectionState)]
        assert states[0] == "connecting" and "uploading" in states and states[-1] == "closed"
        assert all(m.job_id == messages[0].job_id for m in messages)
        assert final.backend_version.startswith("replay of ")
        assert final.backend_version.endswith(" (remote)")
        got = np.concatenate([m.arrays["joints_3d"] for m in messages if isinstance(m, Batch)])
        with open_video(demo3) as video:
            local = create_backend("groundtruth", labels=str(labels), decode=False)
            want = np.concatenate(
                [b.joints_3d for b in local.reconstruct(video, range(40, 88), np.eye(3))]
            )
        np.testing.assert_array_equal(got, want)
        # the server itself never runs "remote" (no hops from the server to other machines)
        with RemoteClient(*server.address, TOKEN) as client, pytest.raises(ServerError) as info:
            client.start_job("0" * 64, "remote", range(0, 8), np.eye(3), {}, True)
        assert info.value.code == "bad_request" and "remote" not in (info.value.hint or "")
        # a second server on the busy port (a start command run again) leaves the jobs alone:
        # an index line being appended by the first must not be cut by the second
        (index,) = (tmp_path / "jobs" / "jobs").glob("*/index.jsonl")
        with open(index, "ab") as fh:
            fh.write(b'{"file": "0000')
        before = index.read_bytes()
        with pytest.raises(OSError):
            Server(ServerConfig(token=b"x", jobs_dir=tmp_path / "jobs", port=server.address[1]))
        assert index.read_bytes() == before
    finally:
        server.close()


def test_a_refused_token_is_a_worker_error_with_its_hint(
    tmp_path: Path, demo3: Path, token_file: Path
) -> None:
    server = Server(
        ServerConfig(token=b"another-token", jobs_dir=tmp_path / "jobs", isolation="thread")
    ).start()
    try:
        options = {
            "remote": f"127.0.0.1:{server.address[1]}",
            "token_file": str(token_file),
            "backend": "mediapipe",
        }
        final = run_job(JobSpec(str(demo3), "remote", options, 0, 8), lambda m: None)
    finally:
        server.close()
    assert final.kind == "error" and final.title == RemoteError.title
    assert "authentication failed: the client sent a wrong token" in final.message
    assert "--token-file" in final.hint


def _make_labels(video: Path, out: Path) -> Path:
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "_remote_server_tests", Path(__file__).with_name("test_remote_server.py")
    )
    mod = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(mod)
    return mod.make_labels(video, out)
