"""Protocol-frame fuzzing against a live server: random, crafted and mutated frames, sent before
and after the handshake, never crash it, never produce an `internal` error or a logged
traceback, and the server keeps serving real clients.

Derandomized (the same frames every run, the "ci" profile), a few seconds in CI. A longer run
(VIDIHAND_HYPOTHESIS=long: new random frames on every run):

    VIDIHAND_FUZZ_LONG=1 VIDIHAND_HYPOTHESIS=long python -m pytest tests/core/test_remote_fuzz.py -s

prints how many frames were sent and what the server answered (figures for docs/remote.md).
"""

from __future__ import annotations

import logging
import os
import socket
import struct
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import msgpack
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.remote.client import RemoteClient
from core.remote.limits import Limits
from core.remote.options import CLIENT_OPTIONS
from core.remote.protocol import ALLOWED_DTYPES, MAGIC, PREFIX_SIZE, Packet, decode, encode
from core.remote.server import Server, ServerConfig

TOKEN = "fuzz-token-0123456789"
LONG = os.environ.get("VIDIHAND_FUZZ_LONG") == "1"
EXAMPLES = 4000 if LONG else 120

TYPES = [
    "hello", "upload_begin", "upload_chunk", "upload_end", "start_job", "job_status",
    "list_jobs", "cancel", "stream", "bye", "welcome", "error",
]  # fmt: skip
FIELDS = [
    "token", "client", "sha256", "size", "name", "offset", "video_sha256", "backend", "options",
    "start", "stop", "reuse", "job", "cursor", "labels", "blob",
]  # fmt: skip
INTERESTING = [
    "../../etc/passwd", "/etc/passwd", "a" * 64, "0123456789abcdef", "groundtruth", "mediapipe",
    "remote", "private_labels.h5", TOKEN, "", "\0", "é" * 3,
]  # fmt: skip

leaves = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.sampled_from([0, 1, -1, 2**31, 2**32, 2**63 - 1, 2**64 - 1, -(2**63)])
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=16)
    | st.sampled_from(INTERESTING)
    | st.binary(max_size=16)
)
values = st.recursive(
    leaves,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=8) | st.sampled_from(FIELDS), inner, max_size=4)
    ),
    max_leaves=12,
)
fields = st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=8), values, max_size=6)
shapes = st.lists(
    st.integers(-2, 6) | st.sampled_from([2**31, 2**32, 2**40, 2**63, 2**64 - 1]), max_size=9
)
raw_specs = st.lists(
    st.lists(
        st.sampled_from(["data", "K", "a", ""])
        | st.sampled_from(sorted(ALLOWED_DTYPES) + ["|O", ">f4", "<c16", "V8"])
        | shapes
        | values,
        min_size=0,
        max_size=4,
    ),
    max_size=3,
)
real_arrays = st.dictionaries(
    st.sampled_from(["data", "K", "a", "b"]),
    st.tuples(st.sampled_from(sorted(ALLOWED_DTYPES)), st.lists(st.integers(0, 5), max_size=3)).map(
        lambda t: np.zeros(t[1], np.dtype(t[0]))
    ),
    max_size=2,
)


EMPTY_SHA = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"  # of b""
shas = st.sampled_from([EMPTY_SHA, "a" * 64, "A" * 64, "../" + "a" * 61]) | values
jobs = st.sampled_from(["0123456789abcdef", "../../etc/passwd", ""]) | values
options = st.dictionaries(
    st.sampled_from(sorted({k for o in CLIENT_OPTIONS.values() for k in o} | {"checkpoint"})),
    values | shas.map(lambda sha: {"blob": sha}),
    max_size=3,
)
counts = st.integers(-2, 10) | st.sampled_from([2**31, 2**63 - 1, 2**64 - 1, -(2**63)]) | values
#: the catalogue's messages with their fields present and plausibly typed (deeper paths)
MESSAGES = {
    "upload_begin": {"sha256": shas, "size": counts, "name": values},
    "upload_chunk": {"offset": counts},
    "upload_end": {},
    "start_job": {
        "video_sha256": shas,
        "backend": st.sampled_from(["groundtruth", "mediapipe", "vidihand", "remote"]) | values,
        "options": options | values,
        "start": counts,
        "stop": counts,
        "reuse": st.booleans() | values,
    },
    "job_status": {"job": jobs},
    "cancel": {"job": jobs},
    "stream": {"job": jobs, "cursor": counts},
    "list_jobs": {},
}


@st.composite
def message(draw: st.DrawFn) -> bytes:
    mtype = draw(st.sampled_from(sorted(MESSAGES)))
    fields_ = draw(st.fixed_dictionaries(MESSAGES[mtype]))
    arrays = draw(real_arrays)
    if mtype == "upload_chunk" and draw(st.booleans()):
        arrays = {"data": np.frombuffer(draw(st.binary(max_size=64)), np.uint8)}
    if mtype == "start_job" and draw(st.booleans()):
        arrays = {"K": draw(st.sampled_from([np.eye(3), np.full((3, 3), np.nan), np.eye(2)]))}
    try:
        return b"".join(bytes(b) for b in encode(Packet(mtype, fields_, arrays)))
    except Exception:
        return b""


@st.composite
def frame(draw: st.DrawFn) -> bytes:
    mtype = draw(st.sampled_from(TYPES) | st.text(max_size=12))
    how = draw(st.sampled_from(["encoded", "crafted", "mutated", "message"]))
    if how == "message":
        return draw(message())
    if how in ("encoded", "mutated"):
        version = draw(st.sampled_from([1, 1, 1, 0, 2, -1]))
        packet = Packet(mtype, draw(fields), draw(real_arrays), version)
        try:
            frame = b"".join(bytes(b) for b in encode(packet))
        except Exception:  # a header over the limit, values msgpack cannot pack
            frame = b""
        if how == "mutated" and frame:
            data = bytearray(frame)
            for _ in range(draw(st.integers(1, 6))):
                i = draw(st.integers(0, len(data) - 1))
                op = draw(st.sampled_from(["flip", "cut", "insert"]))
                if op == "flip":
                    data[i] ^= 1 << draw(st.integers(0, 7))
                elif op == "cut":
                    del data[i : i + draw(st.integers(1, 8))]
                else:
                    data[i:i] = draw(st.binary(min_size=1, max_size=8))
                if not data:
                    break
            frame = bytes(data)
        return frame
    header: dict = {"type": mtype, "v": draw(values), "fields": draw(values | fields)}
    header["arrays"] = draw(raw_specs | values)
    for key in draw(st.lists(st.sampled_from(list(header)), max_size=2)):
        header.pop(key, None)
    try:
        hb = msgpack.packb(header, use_bin_type=True)
    except Exception:
        hb = b""
    payload = draw(st.binary(max_size=64))
    hlen = draw(st.sampled_from([len(hb)] * 3 + [0, len(hb) + 1, 2**20, 2**32 - 1]))
    plen = draw(st.sampled_from([len(payload)] * 3 + [0, len(payload) + 3, 2**40, 2**64 - 1]))
    magic = draw(st.sampled_from([MAGIC] * 5 + [b"VDHQ", b"\0\0\0\0"]))
    return struct.pack(">4sIQ", magic, hlen, plen) + hb + payload


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.bad: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info or record.levelno >= logging.ERROR:  # internal errors log both
            self.bad.append(record)


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    handler = Collect()
    logger = logging.getLogger("vidihand.remote")
    logger.addHandler(handler)
    old_level = logger.level
    logger.setLevel(logging.DEBUG)
    cfg = ServerConfig(
        token=TOKEN.encode(),
        jobs_dir=tmp_path_factory.mktemp("fuzz") / "jobs",
        isolation="thread",
        max_upload_bytes=1 << 20,
        limits=Limits(handshake_timeout_s=2.0),
    )
    server = Server(cfg).start()
    state = {"server": server, "log": handler, "codes": Counter(), "frames": 0, "t0": time.time()}
    yield state
    server.close()
    logger.removeHandler(handler)
    logger.setLevel(old_level)
    took = time.time() - state["t0"]
    print(
        f"\nfuzz: {state['frames']} connections (1-3 frames each) in {took:.1f} s "
        f"({state['frames'] / max(took, 1e-9):.0f}/s); replies: {dict(state['codes'])}"
    )


def replies(data: bytes) -> Iterator[dict]:
    """The header maps of the complete frames in `data` (what the server answered)."""
    pos = 0
    while pos + PREFIX_SIZE <= len(data):
        magic, hlen, plen = struct.unpack(">4sIQ", data[pos : pos + PREFIX_SIZE])
        assert magic == MAGIC, "the server sent something that is not a frame"
        end = pos + PREFIX_SIZE + hlen + plen
        assert end <= len(data), "the server sent a torn frame"
        p = decode(data[pos + PREFIX_SIZE : pos + PREFIX_SIZE + hlen], data[end - plen : end])
        yield {"type": p.type, **p.fields}
        pos = end
    assert pos == len(data), "the server's reply stream ends in a torn frame"


def exchange(address: tuple[str, int], frame: bytes, authenticated: bool) -> bytes:
    """Send (hello and) `frame`, end our side, read everything until the server closes."""
    s = socket.create_connection(address, timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        if authenticated:
            s.sendall(b"".join(bytes(b) for b in encode(Packet("hello", {"token": TOKEN}))))
        try:
            s.sendall(frame)
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server may already have refused and closed
        chunks = []
        while True:
            try:
                chunk = s.recv(1 << 16)
            except ConnectionResetError:
                break
            except TimeoutError:
                raise AssertionError("the server neither answered nor closed in 10 s") from None
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        s.close()


#: one to three frames on one connection (an upload_begin, upload_end, start_job can follow)
frames = st.lists(frame(), min_size=1, max_size=3).map(b"".join)


@settings(
    max_examples=EXAMPLES,
    deadline=None,  # derandomize and database come from the profile (tests/conftest.py)
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(frame=frames, authenticated=st.booleans())
def test_random_frames_never_crash_the_server(
    fuzz_server: dict, frame: bytes, authenticated: bool
) -> None:
    server: Server = fuzz_server["server"]
    data = exchange(server.address, frame, authenticated)
    fuzz_server["frames"] += 1
    for reply in replies(data):
        code = reply.get("code", reply["type"])
        fuzz_server["codes"][code] += 1
        assert code != "internal", reply
    assert not fuzz_server["log"].bad, [r.getMessage() for r in fuzz_server["log"].bad]
    with RemoteClient(*server.address, TOKEN) as c:  # still serving
        assert isinstance(c.list_jobs(), list)


def test_fuzz_stored_only_whole_uploads(fuzz_server: dict) -> None:
    import hashlib

    uploads = Path(fuzz_server["server"].config.jobs_dir) / "uploads"
    for p in uploads.iterdir():
        if not p.name.endswith(".part"):  # a stored upload is exactly what its name says
            assert hashlib.sha256(p.read_bytes()).hexdigest() == p.name
