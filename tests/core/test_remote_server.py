"""The remote worker over loopback TCP: protocol, jobs on disk, refusals, concurrency, restart.

Real parts only: a real `Server` on a free loopback port, real sockets, the real groundtruth
backend replaying a label file the test generates for demo3, and the real video upload. The SSH
tunnel tests are in test_remote_ssh.py.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
from pathlib import Path

import msgpack
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import RemoteError
from core.io.labels_h5 import save_labels
from core.labels.document import MANO_FIELDS, FrameBatch, LabelDocument
from core.recon.base import meta_for
from core.remote.backend import Backoff, RemoteReconstructor
from core.remote.client import RemoteClient
from core.remote.protocol import (
    MAGIC,
    ConnectionLost,
    Packet,
    ProtocolError,
    ServerError,
    decode,
    encode,
    recv_packet,
    send_packet,
)
from core.remote.server import Server, ServerConfig
from core.remote.tunnel import DirectEndpoint
from core.video.hashing import video_sha256
from core.video.reader import open_video

TOKEN = "test-token-0123456789"


# ----------------------------------------------------------------------------- fixtures
def make_labels(video_path: Path, out: Path, seed: int = 0) -> Path:
    """A label file for the video with varied, known values (NaN gaps, absent hands)."""
    rng = np.random.default_rng(seed)
    with open_video(video_path) as video:
        doc = LabelDocument(meta_for(video, video_sha256(video_path)))
    n = doc.n_frames
    for h in range(2):
        present = rng.random(n) > 0.2
        values = {
            "present": present,
            "confidence": np.where(present, rng.random(n), 0).astype(np.float32),
            "joints_3d": rng.normal(size=(n, 21, 3)).astype(np.float32),
            "joints_2d": (rng.random((n, 21, 2)) * 700).astype(np.float32),
        }
        for name in MANO_FIELDS:
            dim = {"global_orient": 3, "hand_pose": 45, "betas": 10, "transl": 3}[name]
            arr = rng.normal(size=(n, dim)).astype(np.float32)
            arr[~present] = np.nan
            values[name] = arr
        doc.write(h, np.arange(n), values)
    save_labels(doc, out)
    return out


@pytest.fixture(scope="module")
def gt_labels(demo3: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_labels(demo3, tmp_path_factory.mktemp("gt") / "demo3_gt.h5")


def start_server(jobs_dir: Path, **kw) -> Server:
    # jobs in server threads keep these tests fast; the default (a child process per job) is
    # exercised by test_remote_job_equals_local_run_and_is_stored and the SSH tests
    kw.setdefault("isolation", "thread")
    cfg = ServerConfig(token=TOKEN.encode(), jobs_dir=jobs_dir, **kw)
    return Server(cfg).start()


@pytest.fixture
def server(tmp_path: Path):
    srv = start_server(tmp_path / "jobs", max_jobs=2, max_upload_bytes=8 << 20)
    yield srv
    srv.close()


def local_batches(video_path: Path, labels: Path, frames: range) -> FrameBatch:
    from core.recon.registry import create_backend

    backend = create_backend("groundtruth", labels=str(labels), decode=False)
    with open_video(video_path) as video:
        K = np.eye(3)
        return FrameBatch.concat(list(backend.reconstruct(video, frames, K)))


def remote_run(
    server: Server, video_path: Path, labels: Path, frames: range, **kw
) -> tuple[FrameBatch, RemoteReconstructor]:
    rec = RemoteReconstructor(
        DirectEndpoint(*server.address),
        TOKEN,
        "groundtruth",
        {"labels": str(labels), "decode": False},
        **kw,
    )
    with open_video(video_path) as video:
        batches = list(rec.reconstruct(video, frames, np.eye(3)))
    return FrameBatch.concat(batches), rec


def assert_same(a: FrameBatch, b: FrameBatch) -> None:
    for k, v in a.to_dict().items():
        np.testing.assert_array_equal(v, b.to_dict()[k], err_msg=k)


def raw_connect(server: Server) -> socket.socket:
    s = socket.create_connection(server.address, timeout=10)
    return s


def hello(sock: socket.socket, token: str = TOKEN) -> Packet:
    send_packet(sock, Packet("hello", {"token": token}))
    return recv_packet(sock)


# ----------------------------------------------------------------------------- protocol
def test_frames_round_trip_arrays_without_pickle() -> None:
    arrays = {
        "a": np.arange(12, dtype=np.float32).reshape(3, 4),
        "b": np.array([True, False]),
        "e": np.zeros((0, 21, 3), np.float32),
        "big": np.arange(5, dtype=">i4"),
    }
    buffers = encode(Packet("batch", {"x": 1, "s": "é"}, arrays))
    raw = b"".join(bytes(b) for b in buffers)
    magic, hlen, plen = struct.unpack(">4sIQ", raw[:16])
    assert magic == MAGIC
    p = decode(raw[16 : 16 + hlen], raw[16 + hlen :])
    assert p.type == "batch" and p.fields == {"x": 1, "s": "é"}
    for k, v in arrays.items():
        np.testing.assert_array_equal(p.arrays[k], v)
        assert p.arrays[k].shape == v.shape
    assert p.arrays["big"].dtype == np.dtype("<i4")


@pytest.mark.parametrize(
    "header, payload, words",
    [
        (b"\xc1\xc1", b"", "not valid msgpack"),
        (msgpack.packb([1, 2]), b"", "must be a map"),
        (msgpack.packb({"v": 1}), b"", "no type"),
        (
            msgpack.packb({"type": "x", "v": 1, "arrays": [["a", "|O", [1]]]}),
            b"\0" * 8,
            "does not carry",
        ),
        (
            msgpack.packb({"type": "x", "v": 1, "arrays": [["a", "<f4", [4]]]}),
            b"\0" * 8,
            "do not fit",
        ),
        (
            msgpack.packb({"type": "x", "v": 1, "arrays": [["a", "<f4", [1]]]}),
            b"\0" * 8,
            "longer than",
        ),
        (
            msgpack.packb({"type": "x", "v": 1, "arrays": [["a", "<f4", [-1]]]}),
            b"",
            "malformed shape",
        ),
    ],
)
def test_malformed_frames_are_refused(header: bytes, payload: bytes, words: str) -> None:
    with pytest.raises(ProtocolError, match=words):
        decode(header, payload)


# cheap examples: 8x the profile's count (tests/conftest.py: "ci" derandomized, "long")
@settings(max_examples=8 * settings.default.max_examples)
@given(header=st.binary(max_size=200), payload=st.binary(max_size=64))
def test_random_bytes_never_crash_the_decoder(header: bytes, payload: bytes) -> None:
    try:
        decode(header, payload)
    except ProtocolError:
        pass


# ----------------------------------------------------------------------------- jobs
def test_remote_job_equals_local_run_and_is_stored(
    tmp_path: Path, demo3: Path, gt_labels: Path, request: pytest.FixtureRequest
) -> None:
    server = start_server(tmp_path / "jobs", isolation="process")  # the default of `serve`
    request.addfinalizer(server.close)
    frames = range(10, 130)
    got, rec = remote_run(server, demo3, gt_labels, frames)
    assert_same(got, local_batches(demo3, gt_labels, frames))
    status = rec.last_status
    assert status["state"] == "done" and status["done"] == len(frames)
    assert status["frames_computed"] == len(frames)
    job_dir = server.config.jobs_dir / "jobs" / rec.job_id
    assert (job_dir / "spec.json").is_file() and (job_dir / "index.jsonl").read_text().count(
        "\n"
    ) == 8

    # a second identical run re-attaches: uploads skipped, nothing recomputed, same results
    again, rec2 = remote_run(server, demo3, gt_labels, frames)
    assert rec2.job_id == rec.job_id
    assert_same(again, got)
    # the same reconstructor object runs another range as another job
    with open_video(demo3) as video:
        other = FrameBatch.concat(list(rec2.reconstruct(video, range(200, 232), np.eye(3))))
    assert rec2.job_id != rec.job_id
    assert_same(other, local_batches(demo3, gt_labels, range(200, 232)))
    with RemoteClient(*server.address, TOKEN) as c:
        assert c.status(rec.job_id)["frames_computed"] == len(frames)
        assert [j["job"] for j in c.list_jobs()] == [rec.job_id, rec2.job_id]


def test_backend_failure_in_the_job_process_is_reported(
    tmp_path: Path, demo3: Path, request: pytest.FixtureRequest
) -> None:
    from core.errors import ReconstructorError
    from core.labels.document import VideoMeta

    wrong = tmp_path / "other_video.h5"
    save_labels(LabelDocument(VideoMeta(10, 30.0, 640, 480)), wrong)  # made for another video
    server = start_server(tmp_path / "jobs", isolation="process")
    request.addfinalizer(server.close)
    with pytest.raises(
        ReconstructorError, match="failed: other_video.h5 was made for another video"
    ) as info:
        remote_run(server, demo3, wrong, range(0, 32))
    assert "Open the video these labels belong to" in info.value.hint
    with RemoteClient(*server.address, TOKEN) as c:  # the server lives on
        (job,) = c.list_jobs()
    assert job["state"] == "failed" and job["error"]["title"] == "Labels belong to another video"


def test_cursor_resumes_mid_batch_and_cancel_keeps_finished(
    tmp_path: Path, demo3: Path, gt_labels: Path
) -> None:
    srv = start_server(tmp_path / "jobs", test_batch_delay=0.3)
    try:
        with RemoteClient(*srv.address, TOKEN) as c:
            sha = video_sha256(demo3)
            c.upload(demo3, sha)
            lsha = video_sha256(gt_labels)
            c.upload(gt_labels, lsha)
            st = c.start_job(
                sha,
                "groundtruth",
                range(0, 480),
                np.eye(3),
                {"labels": {"blob": lsha}, "decode": False},
            )
            items = c.stream(st["job"], 21)
            first = next(it for it in items if it.kind == "batch")
            assert (
                first.batch.frames[0] == 21 and first.batch.frames[-1] == 31
            )  # rest of batch 16..31
        with RemoteClient(*srv.address, TOKEN) as c:
            c.cancel(st["job"])
            # the stream ends (`end`) once the job is in a final state: it waits on the
            # server's condition, not on a clock
            items = list(c.stream(st["job"], 0))
            s = c.status(st["job"])
            assert items[-1].kind == "end" and items[-1].status["state"] == "cancelled"
            assert s["state"] == "cancelled" and 0 < s["done"] < 480
            assert sum(len(it.batch) for it in items if it.kind == "batch") == s["done"]
    finally:
        srv.close()


def test_restart_resumes_from_last_finished_batch(
    tmp_path: Path, demo3: Path, gt_labels: Path
) -> None:
    jobs = tmp_path / "jobs"
    frames = range(0, 160)
    srv = start_server(jobs, test_batch_delay=0.15)
    rec = RemoteReconstructor(
        DirectEndpoint(*srv.address),
        TOKEN,
        "groundtruth",
        {"labels": str(gt_labels), "decode": False},
    )
    with open_video(demo3) as video:
        gen = rec.reconstruct(video, frames, np.eye(3))
        first = [next(gen), next(gen)]
        gen.close()
    srv.close()  # stops mid-job: the job stays 'running' on disk
    job_dir = jobs / "jobs" / rec.job_id
    assert json.loads((job_dir / "state.json").read_text())["state"] == "running"
    finished = (job_dir / "index.jsonl").read_text().count("\n")
    assert 2 <= finished < 10
    with open(job_dir / "index.jsonl", "a") as fh:
        fh.write('{"file": "0000')  # a crash in the middle of appending a line
    srv2 = start_server(jobs)
    try:
        assert srv2.runner.wait_idle(30)
        with RemoteClient(*srv2.address, TOKEN) as c:
            s = c.status(rec.job_id)
            assert s["state"] == "done" and s["done"] == len(frames) and s["batches"] == 10
            assert s["backend_version"].startswith("replay of ")
            # every frame computed once, except at most the batch in flight when it stopped
            assert len(frames) <= s["frames_computed"] <= len(frames) + 16
            rest = [
                it.batch
                for it in c.stream(rec.job_id, int(first[-1].frames[-1]) + 1)
                if it.kind == "batch"
            ]
        assert_same(FrameBatch.concat(first + rest), local_batches(demo3, gt_labels, frames))
    finally:
        srv2.close()


def test_eight_clients_at_once(server: Server, demo3: Path, gt_labels: Path) -> None:
    results: dict[int, FrameBatch] = {}
    errors: list[BaseException] = []

    def one(i: int) -> None:
        try:
            frames = range(20 * i, 20 * i + 64)
            got, _ = remote_run(server, demo3, gt_labels, frames, reuse=False)
            results[i] = got
        except BaseException as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    for i in range(8):
        assert_same(results[i], local_batches(demo3, gt_labels, range(20 * i, 20 * i + 64)))


# ----------------------------------------------------------------------------- refusals
def test_job_limits_refuse_when_full(tmp_path: Path, demo3: Path, gt_labels: Path) -> None:
    srv = start_server(tmp_path / "jobs", max_jobs=1, max_queued=1, test_batch_delay=0.5)
    try:
        with RemoteClient(*srv.address, TOKEN) as c:
            sha, lsha = video_sha256(demo3), video_sha256(gt_labels)
            c.upload(demo3, sha)
            c.upload(gt_labels, lsha)
            opts = {"labels": {"blob": lsha}, "decode": False}
            first = c.start_job(sha, "groundtruth", range(0, 480), np.eye(3), opts)
            c.start_job(sha, "groundtruth", range(0, 240), np.eye(3), opts)  # waits in the queue
            with pytest.raises(ServerError, match="jobs queued or running") as info:
                c.start_job(sha, "groundtruth", range(0, 120), np.eye(3), opts)
            assert info.value.code == "busy"
            assert len(c.list_jobs()) == 2  # the refused job left nothing behind
            c.cancel(first["job"])
    finally:
        srv.close()


def test_cancel_from_a_cancel_token_stops_the_server_job(
    tmp_path: Path, demo3: Path, gt_labels: Path
) -> None:
    from core.errors import CancelledError
    from core.recon.base import CancelToken, run_reconstruction

    srv = start_server(tmp_path / "jobs", test_batch_delay=0.2)
    try:
        rec = RemoteReconstructor(
            DirectEndpoint(*srv.address),
            TOKEN,
            "groundtruth",
            {"labels": str(gt_labels), "decode": False},
        )
        cancel = CancelToken()
        with open_video(demo3) as video:
            doc = LabelDocument(meta_for(video))
            on_batch = lambda b: cancel.cancel() if b.frames[0] >= 32 else None  # noqa: E731
            with pytest.raises(CancelledError, match="those frames were kept"):
                run_reconstruction(rec, video, doc, range(0, 400), cancel=cancel, on_batch=on_batch)
        with RemoteClient(*srv.address, TOKEN) as c:
            end = list(c.stream(rec.job_id, 0))[-1]  # ends once the job is final (no clock)
            s = c.status(rec.job_id)
        assert end.kind == "end" and end.status["state"] == "cancelled"
        assert s["state"] == "cancelled" and 48 <= s["done"] < 400
        assert s["frames_computed"] == s["done"]
        assert doc.hands[0].source[:48].all() and not doc.hands[0].source[s["done"] :].any()
    finally:
        srv.close()


def test_other_protocol_version_is_refused(server: Server) -> None:
    s = raw_connect(server)
    send_packet(s, Packet("hello", {"token": TOKEN}, version=2))
    reply = recv_packet(s)
    assert reply.fields["code"] == "version" and "same vidihand release" in reply.fields["hint"]
    s.close()


def test_wrong_or_missing_token_is_refused(server: Server) -> None:
    for token in ("wrong-token", ""):
        with pytest.raises(ServerError, match="authentication failed") as info:
            RemoteClient(*server.address, token)
        assert info.value.code == "auth" and "--token-file" in info.value.hint
    s = raw_connect(server)
    send_packet(s, Packet("list_jobs"))  # anything before hello
    reply = recv_packet(s)
    assert reply.type == "error" and reply.fields["code"] == "auth"
    s.close()
    with RemoteClient(*server.address, TOKEN) as c:  # still serving
        assert c.list_jobs() == []


def test_malformed_message_is_refused_and_server_keeps_serving(server: Server) -> None:
    s = raw_connect(server)
    assert hello(s).type == "welcome"
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    reply = recv_packet(s)
    assert (
        reply.type == "error"
        and reply.fields["code"] == "malformed"
        and "magic" in reply.fields["message"]
    )
    s.close()
    s = raw_connect(server)
    hello(s)
    header = msgpack.packb(
        {"type": "job_status", "v": 1, "fields": {}, "arrays": [["a", "<f8", [10**6]]]}
    )
    s.sendall(struct.pack(">4sIQ", MAGIC, len(header), 8) + header + b"\0" * 8)
    reply = recv_packet(s)
    assert reply.fields["code"] == "malformed" and "do not fit" in reply.fields["message"]
    s.close()
    s = raw_connect(server)
    hello(s)
    send_packet(s, Packet("format_disk"))
    assert "unknown message type" in recv_packet(s).fields["message"]
    send_packet(s, Packet("job_status", {"job": 5}))  # a request error: the connection goes on
    assert recv_packet(s).fields["code"] == "path"
    send_packet(
        s,
        Packet("start_job", {"video_sha256": "e" * 64, "backend": "groundtruth", "start": "zero"}),
    )
    reply = recv_packet(s)
    assert reply.fields["code"] == "malformed" and "'start'" in reply.fields["message"]
    send_packet(s, Packet("list_jobs"))
    assert recv_packet(s).type == "jobs"
    s.close()
    with RemoteClient(*server.address, TOKEN) as c:
        assert c.list_jobs() == []


def test_oversized_upload_is_refused(server: Server, tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(b"\1" * (9 << 20))  # the fixture's limit is 8 MiB
    with (
        RemoteClient(*server.address, TOKEN) as c,
        pytest.raises(ServerError, match="over this server's limit") as info,
    ):
        c.upload(big, video_sha256(big))
    assert info.value.code == "too_large" and "--max-upload-mb" in info.value.hint
    # a client that lies about the size is cut off when it sends more than announced
    s = raw_connect(server)
    hello(s)
    send_packet(s, Packet("upload_begin", {"sha256": "a" * 64, "size": 10}))
    assert recv_packet(s).type == "upload_ready"
    send_packet(s, Packet("upload_chunk", {"offset": 0}, {"data": np.zeros(100, np.uint8)}))
    reply = recv_packet(s)
    assert reply.fields["code"] == "too_large"
    s.close()
    # a wrong hash is refused, nothing is stored
    small = tmp_path / "small.bin"
    small.write_bytes(b"hello")
    with RemoteClient(*server.address, TOKEN) as c:
        with pytest.raises(ServerError, match="hash to"):
            c.upload(small, "b" * 64)
        assert c.upload(small, video_sha256(small)) is True
        assert c.upload(small, video_sha256(small)) is False  # stored once, reused by hash
    assert sorted(
        p.name
        for p in (server.config.jobs_dir / "uploads").iterdir()
        if not p.name.endswith(".part")
    ) == [video_sha256(small)]


def test_interrupted_upload_resumes_where_it_stopped(server: Server, tmp_path: Path) -> None:
    data = np.random.default_rng(1).integers(0, 255, 5 << 20, dtype=np.uint8)
    path = tmp_path / "video.bin"
    path.write_bytes(data.tobytes())
    sha = video_sha256(path)
    s = raw_connect(server)
    hello(s)
    send_packet(s, Packet("upload_begin", {"sha256": sha, "size": data.size}))
    assert recv_packet(s).fields == {"offset": 0, "have": False}
    send_packet(s, Packet("upload_chunk", {"offset": 0}, {"data": data[: 1 << 20]}))
    s.close()  # the link drops after one MiB
    seen: list[int] = []
    # upload_begin waits (on the blob store's condition) until the dropped connection's upload
    # is released, then resumes it: no retry loop, no clock
    with RemoteClient(*server.address, TOKEN) as c:
        assert c.upload(path, sha, on_progress=lambda done, total: seen.append(done)) is True
    assert seen == [data.size]  # only the remaining 4 MiB were sent, in one chunk
    assert (server.config.jobs_dir / "uploads" / sha).read_bytes() == data.tobytes()


@pytest.mark.parametrize(
    "attack", ["../../etc/passwd", "/etc/passwd", "..", "a" * 15 + "/", "0123456789abcdef/../x"]
)
def test_path_traversal_is_refused(server: Server, attack: str, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    with RemoteClient(*server.address, TOKEN) as c:
        for packet in (
            Packet("job_status", {"job": attack}),
            Packet("stream", {"job": attack, "cursor": 0}),
            Packet("cancel", {"job": attack}),
            Packet("upload_begin", {"sha256": attack, "size": 4}),
        ):
            with pytest.raises(ServerError) as info:
                c.request(packet, "job")
            assert info.value.code == "path", packet
        with pytest.raises(ServerError, match="paths are not accepted") as info:
            c.start_job("c" * 64, "groundtruth", range(0, 4), np.eye(3), {"labels": str(outside)})
        assert info.value.code in ("path", "not_found")
        assert c.list_jobs() == []
    # a symlink planted in the uploads folder is not followed
    uploads = server.config.jobs_dir / "uploads"
    (uploads / ("d" * 64)).symlink_to("/etc/hostname")
    with RemoteClient(*server.address, TOKEN) as c, pytest.raises(ServerError, match="symlink"):
        c.start_job("d" * 64, "groundtruth", range(0, 4), np.eye(3))


def test_unreachable_server_is_a_clear_error(tmp_path: Path, demo3: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    rec = RemoteReconstructor(
        DirectEndpoint("127.0.0.1", port),
        TOKEN,
        "groundtruth",
        backoff=Backoff(initial=0.01, attempts=3),
    )
    with open_video(demo3) as video, pytest.raises(RemoteError) as info:
        next(rec.reconstruct(video, range(0, 8), np.eye(3)))
    text = str(info.value)
    assert f"cannot reach the vidihand server at 127.0.0.1:{port} after 3 attempts" in text
    assert "vidihand serve" in info.value.hint
    with pytest.raises(ConnectionLost):
        RemoteClient("127.0.0.1", port, TOKEN)
