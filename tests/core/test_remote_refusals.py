"""What `vidihand serve` refuses from clients and at start: files named by a client, abandoned
and competing uploads, a non-loopback bind and a token file others can read.

Real parts only: a real `Server` on a loopback port, real sockets, the real client, the real
command line. Floods and handshakes: test_remote_limits.py.
"""

from __future__ import annotations

import inspect
import os
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from core.cli.main import main
from core.remote.blobs import BlobStore
from core.remote.client import RemoteClient
from core.remote.exposure import check_bind_host, is_loopback
from core.remote.jobs import JobSpec, JobStore
from core.remote.limits import Limits
from core.remote.options import CLIENT_OPTIONS, SERVER_ONLY
from core.remote.protocol import (
    Packet,
    ProtocolError,
    ServerError,
    encode,
    recv_packet,
    send_packet,
)
from core.remote.server import Server, ServerConfig
from core.video.hashing import video_sha256

TOKEN = "refusals-test-token-0123456789"


def start_server(tmp_path: Path, **limits: float) -> Server:
    cfg = ServerConfig(
        token=TOKEN.encode(),
        jobs_dir=tmp_path / "jobs",
        isolation="thread",
        max_upload_bytes=8 << 20,
        limits=Limits(**limits),
    )
    return Server(cfg).start()


# ----------------------------------------------------------------------------- options
def test_server_never_opens_a_file_a_client_names(
    tmp_path: Path, demo3: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`labels: "private_labels.h5"` would make a lax server open that file in its own working
    folder; a missing name must get the same answer (no file-existence oracle)."""
    cwd = tmp_path / "server-cwd"
    cwd.mkdir()
    (cwd / "private_labels.h5").write_bytes(b"secret")
    monkeypatch.chdir(cwd)
    srv = start_server(tmp_path)
    try:
        with RemoteClient(*srv.address, TOKEN) as c:
            sha = video_sha256(demo3)
            c.upload(demo3, sha)
            answers = []
            for name in ("private_labels.h5", "no_such_file.h5", "private_labels"):
                with pytest.raises(ServerError) as info:
                    c.start_job(sha, "groundtruth", range(0, 4), np.eye(3), {"labels": name})
                assert info.value.code == "path" and "paths are not accepted" in str(info.value)
                assert "upload" in info.value.hint
                answers.append(str(info.value).replace(repr(name), "NAME"))
            assert len(set(answers)) == 1  # the same words whether or not the file exists
            refusals = {
                "vidihand": [
                    ({"base_weights": "w"}, "path", "--backend-option vidihand.base_weights"),
                    ({"checkpoint": "../ckpt"}, "bad_request", "must match"),
                    ({"checkpoint": "/srv/ckpt"}, "bad_request", "must match"),
                ],
                "groundtruth": [
                    ({"decode": "yes"}, "bad_request", "must be a finite bool"),
                    ({"open": "x"}, "bad_request", "has no option 'open'"),
                ],
                "mediapipe": [({"batch_size": float("inf")}, "bad_request", "finite")],
            }
            for backend, cases in refusals.items():
                for options, code, words in cases:
                    with pytest.raises(ServerError) as info:
                        c.start_job(sha, backend, range(0, 4), np.eye(3), options)
                    assert info.value.code == code and words in str(info.value) + (
                        info.value.hint or ""
                    ), (options, str(info.value))
            assert c.list_jobs() == []
    finally:
        srv.close()


def test_a_job_on_disk_naming_a_file_fails_instead_of_opening_it(
    tmp_path: Path, demo3: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A job spec written by an older, laxer server is checked again when the job runs."""
    cwd = tmp_path / "server-cwd"
    cwd.mkdir()
    (cwd / "private_labels.h5").write_bytes(b"secret")
    monkeypatch.chdir(cwd)
    sha = video_sha256(demo3)
    srv = start_server(tmp_path)
    with RemoteClient(*srv.address, TOKEN) as c:
        c.upload(demo3, sha)
    srv.close()
    spec = JobSpec(sha, "groundtruth", {"labels": "private_labels.h5"}, 0, 8, np.eye(3).tolist())
    job = JobStore(tmp_path / "jobs" / "jobs").create(spec)  # queued: resumed at the next start
    srv = start_server(tmp_path)
    try:
        assert srv.runner.wait_idle(30)
        with RemoteClient(*srv.address, TOKEN) as c:
            status = c.status(job.id)
        assert status["state"] == "failed" and status["done"] == 0
        assert "paths are not accepted" in status["error"]["message"]
    finally:
        srv.close()


def test_client_options_are_parameters_of_their_backends() -> None:
    """The allow-list may only name real parameters (a typo would refuse a real option)."""
    from core.recon.registry import BACKENDS, CLIENT_ONLY

    assert set(CLIENT_OPTIONS) == set(BACKENDS) - CLIENT_ONLY
    for backend, options in CLIENT_OPTIONS.items():
        module, _, attr = BACKENDS[backend][0].partition(":")
        factory = getattr(__import__(module, fromlist=[attr]), attr)
        params = set(inspect.signature(factory).parameters)
        assert set(options) <= params, (backend, set(options) - params)
        assert set(SERVER_ONLY.get(backend, ())) <= params


# ----------------------------------------------------------------------------- uploads
def test_abandoned_partial_uploads_expire_and_their_space_is_capped(tmp_path: Path) -> None:
    root = tmp_path / "uploads"
    root.mkdir()
    old, fresh = root / ("a" * 64 + ".part"), root / ("b" * 64 + ".part")
    old.write_bytes(b"\0" * 1000)
    fresh.write_bytes(b"\0" * (2 << 20))
    day_ago = time.time() - 25 * 3600
    os.utime(old, (day_ago, day_ago))
    store = BlobStore(root, 4 << 20, Limits(max_partial_bytes=3 << 20))
    assert not old.exists() and fresh.exists()  # expired at start, the recent one kept
    upload = store.begin("c" * 64, 2 << 20)  # 2 + 2 MiB > 3: the idle older one makes room
    assert upload is not None and not fresh.exists()
    with pytest.raises(ProtocolError, match="unfinished uploads fill the 3 MiB") as info:
        store.begin("d" * 64, 2 << 20)  # the room is held by an upload in progress
    assert info.value.code == "busy" and "Retry" in (info.value.hint or "")
    upload.abort()
    store.release(upload)


def test_second_upload_takes_over_a_stalled_first_one(tmp_path: Path) -> None:
    srv = start_server(tmp_path, upload_stall_s=0.3)
    data = np.random.default_rng(3).integers(0, 255, 3 << 20, dtype=np.uint8)
    path = tmp_path / "video.bin"
    path.write_bytes(data.tobytes())
    sha = video_sha256(path)
    first = socket.create_connection(srv.address, timeout=10)
    try:
        send_packet(first, Packet("hello", {"token": TOKEN}))
        assert recv_packet(first).type == "welcome"
        send_packet(first, Packet("upload_begin", {"sha256": sha, "size": data.size}))
        assert recv_packet(first).fields["offset"] == 0
        send_packet(first, Packet("upload_chunk", {"offset": 0}, {"data": data[: 1 << 20]}))
        # the first connection stays open and idle; a second one does not wait 600 s for it
        seen: list[int] = []
        with RemoteClient(*srv.address, TOKEN) as c:
            assert c.upload(path, sha, on_progress=lambda done, total: seen.append(done))
        assert seen == [data.size]  # resumed after the first MiB, in one chunk
        assert (srv.config.jobs_dir / "uploads" / sha).read_bytes() == data.tobytes()
        # the first connection learns it lost the upload at its next chunk
        send_packet(first, Packet("upload_chunk", {"offset": 1 << 20}, {"data": data[:10]}))
        reply = recv_packet(first)
        assert reply.fields["code"] == "busy" and "took it over" in reply.fields["message"]
    finally:
        first.close()
        srv.close()


def test_a_slow_upload_that_still_receives_bytes_is_not_taken_over(tmp_path: Path) -> None:
    """The first connection sends its one chunk over 2 s (a byte run every 50 ms): slower than
    the 1 s stall limit per chunk, but never silent, so the second upload waits for it."""
    srv = start_server(tmp_path, upload_stall_s=1.0)
    data = np.random.default_rng(4).integers(0, 255, 1 << 20, dtype=np.uint8)
    path = tmp_path / "video.bin"
    path.write_bytes(data.tobytes())
    sha = video_sha256(path)
    first = socket.create_connection(srv.address, timeout=10)
    second: list[object] = []
    try:
        send_packet(first, Packet("hello", {"token": TOKEN}))
        assert recv_packet(first).type == "welcome"
        send_packet(first, Packet("upload_begin", {"sha256": sha, "size": data.size}))
        assert recv_packet(first).fields["offset"] == 0
        frame = b"".join(
            bytes(b) for b in encode(Packet("upload_chunk", {"offset": 0}, {"data": data}))
        )
        pieces = np.array_split(np.frombuffer(frame, np.uint8), 40)
        first.sendall(pieces[0].tobytes())

        def upload_again() -> None:
            with RemoteClient(*srv.address, TOKEN) as c:
                second.append(c.upload(path, sha))

        other = threading.Thread(target=upload_again)
        other.start()
        paced = threading.Event()
        for piece in pieces[1:]:
            paced.wait(0.05)  # the slow link
            first.sendall(piece.tobytes())
        send_packet(first, Packet("upload_end"))
        assert recv_packet(first).type == "uploaded"  # not taken over
        other.join(30)
        assert second == [False]  # the second found the file stored by the first
    finally:
        first.close()
        srv.close()


# ----------------------------------------------------------------------------- start-up
def test_serve_refuses_a_non_loopback_bind_and_a_readable_token_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    token = tmp_path / "token"
    token.write_text("t\n")
    token.chmod(0o600)
    jobs = str(tmp_path / "jobs")
    assert main(["serve", "--host", "0.0.0.0", "--port", "0", "--token-file", str(token),
                 "--jobs-dir", jobs]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert "refusing to listen on 0.0.0.0" in err and "SSH tunnel" in err
    assert "--allow-remote-bind" in err and "Traceback" not in err
    token.chmod(0o644)
    assert main(["serve", "--port", "0", "--token-file", str(token), "--jobs-dir", jobs]) == 2
    err = capsys.readouterr().err
    assert "accessible by other users (mode 0644)" in err and f"chmod 600 {token}" in err
    assert not (tmp_path / "jobs").exists()  # refused before anything was created
    missing = tmp_path / "new-token"
    assert main(["serve", "--token-file", str(missing), "--handshake-timeout", "0"]) == 2
    assert "--handshake-timeout must be a positive number" in capsys.readouterr().err
    assert not missing.exists()
    check_bind_host("0.0.0.0", allow_remote=True)  # the explicit flag allows it
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0")
