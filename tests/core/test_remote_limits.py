"""`vidihand serve` against a peer without the token: floods, the file limit, slow and
oversized handshakes, malformed shapes. Options, uploads and start-up refusals:
test_remote_refusals.py.

Real parts only: real `vidihand serve` processes (under a lowered file limit where that is the
point), real sockets on 127.0.0.1, the real client. Every wait is on a socket or a pipe with a
bound; nothing sleeps to let time pass.
"""

from __future__ import annotations

import logging
import os
import queue
import re
import resource
import socket
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import msgpack
import pytest

from core.remote.client import RemoteClient
from core.remote.limits import MAX_HELLO_BYTES, AcceptBackoff, Limits, PendingConnections
from core.remote.protocol import (
    MAGIC,
    Packet,
    ProtocolError,
    decode,
    encode,
    recv_packet,
)
from core.remote.server import Server, ServerConfig

TOKEN = "limits-test-token-0123456789"
ROOT = Path(__file__).resolve().parents[2]


# ----------------------------------------------------------------------------- helpers
def start_server(tmp_path: Path, **limits: float) -> Server:
    cfg = ServerConfig(
        token=TOKEN.encode(),
        jobs_dir=tmp_path / "jobs",
        isolation="thread",
        max_upload_bytes=8 << 20,
        limits=Limits(**limits),
    )
    return Server(cfg).start()


def hello_frame(token: str = TOKEN) -> bytes:
    return b"".join(bytes(b) for b in encode(Packet("hello", {"token": token, "client": "test"})))


def prefix(header_len: int, payload_len: int = 0) -> bytes:
    return struct.pack(">4sIQ", MAGIC, header_len, payload_len)


def closed_by_server(sock: socket.socket, timeout: float = 10.0) -> bool:
    """Wait (at most `timeout`) until the server closes `sock`; replies before that are read."""
    sock.settimeout(timeout)
    try:
        while sock.recv(1 << 16):
            pass
    except TimeoutError:
        return False
    except ConnectionResetError:
        pass
    return True


def still_open(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        return sock.recv(1) != b""  # data would be a surprise, but the link is up
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        sock.setblocking(True)


class Serve:
    """A real `vidihand serve` process on a free port, its stderr collected line by line."""

    def __init__(self, tmp_path: Path, *args: str, nofile: int | None = None) -> None:
        token = tmp_path / "token"
        token.write_text(TOKEN + "\n")
        token.chmod(0o600)

        def limit_files() -> None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "core.cli.main",
                "serve",
                "--port",
                "0",
                "--token-file",
                str(token),
                "--jobs-dir",
                str(tmp_path / "jobs"),
                "--isolation",
                "thread",
                *args,
            ],
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=limit_files if nofile else None,  # runs in the child before exec
        )
        self.lines: list[str] = []
        listening: queue.Queue[str] = queue.Queue()

        def read() -> None:
            assert self.proc.stderr is not None
            for line in self.proc.stderr:
                self.lines.append(line)
                if "listening on" in line:
                    listening.put(line)

        threading.Thread(target=read, daemon=True).start()
        try:
            line = listening.get(timeout=60)
        except queue.Empty:
            self.close()
            raise AssertionError("vidihand serve did not start:\n" + "".join(self.lines)) from None
        host, port = re.search(r"listening on ([\d.]+):(\d+)", line).groups()
        self.address = (host, int(port))

    def client(self) -> RemoteClient:
        return RemoteClient(*self.address, TOKEN, connect_timeout=5, read_timeout=10)

    def vm(self, field: str) -> int:
        """A /proc/PID/status size in bytes (VmRSS, VmHWM)."""
        text = Path(f"/proc/{self.proc.pid}/status").read_text()
        return int(re.search(rf"{field}:\s+(\d+) kB", text).group(1)) << 10

    def close(self) -> str:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(15)
        return "".join(self.lines)


@pytest.fixture
def serve_factory(tmp_path: Path) -> Iterator:
    started: list[Serve] = []

    def make(*args: str, nofile: int | None = None) -> Serve:
        s = Serve(tmp_path, *args, nofile=nofile)
        started.append(s)
        return s

    yield make
    for s in started:
        s.close()


def flood(address: tuple[str, int], n: int, first_bytes: bytes = b"") -> list[socket.socket]:
    """`n` connections that never finish a handshake; stops at the first that cannot connect."""
    socks = []
    for _ in range(n):
        try:
            s = socket.create_connection(address, timeout=3)
        except OSError:
            break
        if first_bytes:
            s.sendall(first_bytes)
        socks.append(s)
    return socks


# ----------------------------------------------------------------------------- floods
@pytest.mark.parametrize(
    "extra, exhausts_files",
    [
        ((), False),  # default limits: the oldest pending connections are shed
        (("--max-pending", "1000", "--max-pending-per-address", "1000"), True),  # EMFILE
    ],
    ids=["shed", "out-of-files"],
)
def test_flood_past_the_file_limit_then_a_real_client_is_served(
    serve_factory, extra: tuple[str, ...], exhausts_files: bool
) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 512:  # this process holds the 200 client ends
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 1024), hard))
    server = serve_factory(*extra, nofile=128)
    socks = flood(server.address, 200)
    try:
        assert len(socks) == 200, f"only {len(socks)} of 200 connections got through"
        with server.client() as c:  # served while the flood is still open
            assert c.list_jobs() == []
    finally:
        for s in socks:
            s.close()
    with server.client() as c:  # and after it
        assert c.list_jobs() == []
    log = server.close()
    assert "Traceback" not in log
    # the second case really ran out of file descriptors, and the loop went on
    assert ("accept() failed ([Errno 24] Too many open files)" in log) == exhausts_files, log


def test_pending_connections_shed_oldest_per_address_and_in_all() -> None:
    pending = PendingConnections(max_total=4, max_per_address=3)
    pairs = [socket.socketpair() for _ in range(6)]
    try:
        for a, _ in pairs[:3]:
            pending.admit(a, "10.0.0.1")
        pending.admit(pairs[3][0], "10.0.0.1")  # 4th from one address: its oldest goes
        assert closed_by_server(pairs[0][1], 1) and still_open(pairs[1][1])
        pending.admit(pairs[4][0], "10.0.0.2")
        pending.done(pairs[4][0])  # authenticated: no longer counts
        assert len(pending) == 3
        pending.admit(pairs[4][0], "10.0.0.2")
        pending.admit(pairs[5][0], "10.0.0.3")  # 5th in all: the oldest of any address goes
        assert closed_by_server(pairs[1][1], 1)
        assert all(still_open(b) for _, b in pairs[2:])
        assert len(pending) == 4 and pending.shed == 2
    finally:
        for a, b in pairs:
            a.close()
            b.close()


def test_idle_connections_cannot_keep_a_client_out(tmp_path: Path) -> None:
    srv = start_server(tmp_path, max_pending=8, max_pending_per_address=4)
    socks = flood(srv.address, 6)
    try:
        # the 5th and 6th shed the two oldest; the newest four wait for their deadline
        assert closed_by_server(socks[0]) and closed_by_server(socks[1])
        assert all(still_open(s) for s in socks[2:])
        with RemoteClient(*srv.address, TOKEN) as c:
            assert c.list_jobs() == []
        assert closed_by_server(socks[2])  # the client made room by shedding the oldest
        assert srv.pending.shed == 3
    finally:
        for s in socks:
            s.close()
        srv.close()


def test_accept_backoff_doubles_to_a_cap_and_does_not_flood_the_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    backoff = AcceptBackoff(first=0.01, cap=0.08, log_every=3600)
    exc = OSError(24, "Too many open files")
    with caplog.at_level(logging.DEBUG, "vidihand.remote"):
        delays = [backoff.failed("accept()", exc) for _ in range(6)]
        backoff.succeeded()
        again = backoff.failed("accept()", exc)
    assert delays == [0.01, 0.02, 0.04, 0.08, 0.08, 0.08] and again == 0.01
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "Too many open files" in warnings[0].getMessage()


def test_accept_loop_survives_any_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """accept() failing (out of files, aborted, out of buffers) and a connection thread that
    cannot start: the server logs, backs off and serves the next client."""
    import errno

    import core.remote.server as server_module

    srv = Server(ServerConfig(token=TOKEN.encode(), jobs_dir=tmp_path / "jobs", isolation="thread"))
    real = srv._sock
    failures = [errno.EMFILE, errno.ECONNABORTED, errno.ENOBUFS, errno.EPERM]

    class FlakyListener:
        def accept(self) -> tuple[socket.socket, tuple]:
            conn, addr = real.accept()
            if failures:
                conn.close()
                code = failures.pop(0)
                raise OSError(code, os.strerror(code))
            return conn, addr

        def __getattr__(self, name: str) -> object:
            return getattr(real, name)

    thread_failures = [RuntimeError("can't start new thread")]

    class FlakyThread(threading.Thread):
        def start(self) -> None:
            if getattr(self, "_target", None) == srv._serve_conn and thread_failures:
                raise thread_failures.pop()
            super().start()

    srv._sock = FlakyListener()  # type: ignore[assignment]
    monkeypatch.setattr(server_module.threading, "Thread", FlakyThread)
    srv.start()
    try:
        for _ in range(5):  # each of these is dropped by one injected failure
            s = socket.create_connection(srv.address, timeout=5)
            assert closed_by_server(s)
            s.close()
        assert not failures and not thread_failures
        with RemoteClient(*srv.address, TOKEN) as c:
            assert c.list_jobs() == []
    finally:
        srv.close()


# ----------------------------------------------------------------------------- handshake
def test_slow_handshake_is_dropped_at_its_deadline(tmp_path: Path) -> None:
    """One byte of a valid hello every 50 ms: each read is quick, the whole is too slow."""
    srv = start_server(tmp_path, handshake_timeout_s=1.0)
    frame = hello_frame()
    s = socket.create_connection(srv.address, timeout=5)
    sent = 0
    try:
        s.settimeout(0.05)
        for byte in frame:
            try:
                s.sendall(bytes([byte]))
            except OSError:
                break
            sent += 1
            try:
                if s.recv(1 << 16) == b"":  # waits 50 ms for the server to close
                    break
            except TimeoutError:
                continue
            except ConnectionResetError:
                break
        assert sent < len(frame), "the server waited for a hello sent over seconds"
        with RemoteClient(*srv.address, TOKEN) as c:  # a prompt client still gets in
            assert c.list_jobs() == []
    finally:
        s.close()
        srv.close()


def test_large_declared_hello_is_refused_before_it_is_read(tmp_path: Path) -> None:
    srv = start_server(tmp_path)
    try:
        for hlen, plen in ((1 << 20, 0), (MAX_HELLO_BYTES + 1, 0), (100, 16)):
            s = socket.create_connection(srv.address, timeout=5)
            s.sendall(prefix(hlen, plen))  # and nothing more: the reply must not wait for it
            reply = recv_packet(s)
            assert reply.type == "error" and reply.fields["code"] == "too_large", reply.fields
            assert closed_by_server(s)
            s.close()
    finally:
        srv.close()


def test_memory_bound_for_200_pending_unauthenticated_connections(serve_factory) -> None:
    """Half declare a 1 MiB hello header (refused from the prefix), half a small one they never
    finish (pending until shed). The server's peak memory grows by far less than 200 MiB."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 512:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 1024), hard))
    server = serve_factory()
    with server.client() as c:  # warm: the first client's imports are not the flood's cost
        c.list_jobs()
    base = server.vm("VmRSS")
    big = prefix(1 << 20) + b"\x80" * 1024
    small = prefix(MAX_HELLO_BYTES) + b"\x80" * 100
    socks = []
    try:
        for i in range(200):
            s = socket.create_connection(server.address, timeout=5)
            s.sendall(big if i % 2 == 0 else small)
            socks.append(s)
        # every 1-MiB one is closed by the server: all 200 have been accepted and looked at
        assert all(closed_by_server(s) for s in socks[::2])
        grown = server.vm("VmHWM") - base
        print(f"peak memory growth for 200 pending connections: {grown / (1 << 20):.1f} MiB")
        assert grown < 32 << 20, f"{grown >> 20} MiB"
        with server.client() as c:
            assert c.list_jobs() == []
    finally:
        for s in socks:
            s.close()
    assert "Traceback" not in server.close()


def test_overflowing_array_shape_in_hello_is_malformed_not_internal(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    header = msgpack.packb(
        {
            "type": "hello",
            "v": 1,
            "fields": {"token": TOKEN},
            "arrays": [["a", "<f8", [2**32, 2**32]]],
        }
    )
    with pytest.raises(ProtocolError, match="do not fit"):
        decode(header, b"")
    srv = start_server(tmp_path)
    caplog.set_level(logging.DEBUG, "vidihand.remote")
    try:
        for _ in range(3):
            s = socket.create_connection(srv.address, timeout=5)
            s.sendall(prefix(len(header)) + header)
            reply = recv_packet(s)
            assert reply.fields["code"] == "malformed" and "do not fit" in reply.fields["message"]
            s.close()
        with RemoteClient(*srv.address, TOKEN) as c:
            assert c.list_jobs() == []
    finally:
        srv.close()
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
