"""Named models on a real `vidihand serve --models` process (loopback only), with two tiny
ViDiHand checkpoints trained here: listing, remote equal to local, warm models, a replaced
checkpoint, and a resumed job whose model changed."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from core.cli.main import main as cli
from core.io.labels_h5 import load_labels
from core.labels.document import FrameBatch
from core.recon.vidihand.config import load_config
from core.recon.vidihand.train import run_training
from core.remote.backend import create_remote_backend
from core.remote.client import RemoteClient
from core.remote.models import HASHER
from core.video.reader import open_video

TOKEN = "models-test-token-0123456789"


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def checkpoints(sample, tmp_path_factory) -> dict[str, Path]:
    """Two tiny stage-2 checkpoints: alpha from scratch, beta a few more steps from alpha with
    another seed (other weights, no second latent calibration)."""
    video, gt = sample
    data = [{"kind": "labels", "labels": str(gt), "video": str(video), "frames": [0, 30]}]
    root = tmp_path_factory.mktemp("trained")
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    out = {}
    for name, seed, init in (("alpha", 0, None), ("beta", 1, root / "alpha")):
        cfg = load_config("tiny")
        cfg.raw["train"]["seed"] = seed
        run_training(cfg, root / name, stage="2", data=data, steps=3, init=init, progress=False)
        out[name] = root / name
    torch.set_num_threads(n)
    return out


class ServeProcess:
    """`vidihand serve` in a subprocess on a free loopback port."""

    def __init__(self, tmp: Path, models: Path, *extra: str) -> None:
        self.token_file = tmp / "token"
        self.token_file.write_text(TOKEN + "\n")
        os.chmod(self.token_file, 0o600)
        cmd = [sys.executable, "-m", "core.cli.main", "serve", "--port", "0",
               "--token-file", str(self.token_file), "--jobs-dir", str(tmp / "serve"),
               "--models", str(models), *extra]  # fmt: skip
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        self.log = open(tmp / f"serve-{time.monotonic_ns()}.log", "w+")  # noqa: SIM115
        self.proc = subprocess.Popen(
            cmd, stderr=subprocess.PIPE, stdout=self.log, text=True, env=env
        )
        assert self.proc.stderr is not None
        self.lines: list[str] = []  #: its log so far, for wait_log
        self._heard = threading.Condition()
        self._ended = False
        for line in self.proc.stderr:
            self.log.write(line)
            self.lines.append(line)
            if "listening on" in line:
                self.address = line.split("listening on ")[1].split(",")[0]
                break
        else:
            raise AssertionError(f"serve did not start: {self.read_log()}")
        # keep reading its log: a full pipe would block the server
        self._drain = threading.Thread(target=self._copy_log, daemon=True)
        self._drain.start()
        self.host, port = self.address.rsplit(":", 1)
        self.port = int(port)

    def _copy_log(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.log.write(line)
            with self._heard:
                self.lines.append(line)
                self._heard.notify_all()
        with self._heard:
            self._ended = True
            self._heard.notify_all()

    def wait_log(self, *texts: str, timeout: float = 300.0) -> str:
        """The first log line holding one of `texts`, waiting for the server to write it (on
        a condition the log reader notifies; `timeout` only guards against a hang)."""

        def found() -> str | None:
            return next((ln for ln in self.lines if any(t in ln for t in texts)), None)

        with self._heard:
            if not self._heard.wait_for(lambda: found() is not None or self._ended, timeout):
                raise AssertionError(f"serve never logged any of {texts}: {self.read_log()}")
            line = found()
        assert line is not None, f"serve ended without logging any of {texts}: {self.read_log()}"
        return line

    def read_log(self) -> str:
        self.log.flush()
        return Path(self.log.name).read_text()

    def client(self) -> RemoteClient:
        return RemoteClient(self.host, self.port, TOKEN)

    def models(self) -> dict[str, dict]:
        with self.client() as c:
            return {m["name"]: m for m in c.list_models()}

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self._drain.join(5)
        self.log.close()


@pytest.fixture(scope="module")
def models_dir(checkpoints, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("models")
    for name in ("alpha", "beta", "gamma"):
        shutil.copytree(checkpoints["beta" if name == "beta" else "alpha"], root / name)
    (root / "notes").mkdir()  # not a checkpoint: not a model
    return root


@pytest.fixture(scope="module")
def server(models_dir, tmp_path_factory) -> Iterator[ServeProcess]:
    srv = ServeProcess(tmp_path_factory.mktemp("srv"), models_dir, "--preload", "alpha")
    yield srv
    srv.stop()


def remote(srv: ServeProcess, model: str, video: Path, frames: range, K: np.ndarray):
    rec = create_remote_backend(
        token_file=str(srv.token_file),
        backend="vidihand",
        options={"checkpoint": model},
        remote=srv.address,
        retries=2,
    )
    with open_video(video) as v, rec:
        got = FrameBatch.concat(list(rec.reconstruct(v, frames, K)))
    return got, rec.last_status


def local(checkpoint: Path, video: Path, frames: range, K: np.ndarray) -> FrameBatch:
    from core.recon.vidihand.backend import ViDiHandReconstructor

    with open_video(video) as v:
        backend = ViDiHandReconstructor(checkpoint, device="cpu")
        return FrameBatch.concat(list(backend.reconstruct(v, frames, K)))


def assert_same(a: FrameBatch, b: FrameBatch) -> None:
    for k, v in a.to_dict().items():
        np.testing.assert_array_equal(v, b.to_dict()[k], err_msg=k)


def test_models_are_listed_by_name_with_config_size_and_hash(server, models_dir, capsys):
    # serve describes its models folder at start, before anyone asks
    assert "described 3 model(s)" in server.wait_log("described", "could not describe")
    assert cli(["models", "--remote", server.address, "--token-file", str(server.token_file),
                "--json"]) == 0  # fmt: skip
    listed = {m["name"]: m for m in json.loads(capsys.readouterr().out)["models"]}
    assert sorted(listed) == ["alpha", "beta", "gamma"]  # "notes" holds no checkpoint
    from core.recon.vidihand.model import ViDiHandModel

    n_params = ViDiHandModel(load_config("tiny"), meta=True).parameter_counts()["total"]
    for name, m in listed.items():
        assert m["config"] == "tiny" and m["parameters"] == n_params
        assert m["sha256"] == HASHER.checkpoint(models_dir / name)
        assert "path" not in m and str(models_dir) not in json.dumps(m)
    assert listed["alpha"]["sha256"] == listed["gamma"]["sha256"] != listed["beta"]["sha256"]
    assert cli(["models", "--remote", server.address, "--token-file", str(server.token_file)]) == 0
    out = capsys.readouterr().out
    assert "alpha" in out and "tiny" in out and listed["beta"]["sha256"][:12] in out


def test_remote_run_by_name_equals_local_and_the_model_stays_loaded(
    server, checkpoints, sample, tmp_path, capsys
):
    video, gt = sample
    K = load_labels(gt).K
    # the CLI: --checkpoint NAME with --remote equals a local run of the same checkpoint
    out_remote, out_local = tmp_path / "remote.h5", tmp_path / "local.h5"
    assert cli(["reconstruct", str(video), "-o", str(out_remote), "--backend", "vidihand",
                "--checkpoint", "beta", "--frames", "0:20", "--quiet", "--remote", server.address,
                "--token-file", str(server.token_file)]) == 0  # fmt: skip
    cold = capsys.readouterr().err
    assert "server: first frame after" in cold and "(model loaded in" in cold
    assert cli(["reconstruct", str(video), "-o", str(out_local), "--backend", "vidihand",
                "--checkpoint", str(checkpoints["beta"]), "--frames", "0:20", "--quiet"]) == 0  # fmt: skip
    a, b = load_labels(out_remote), load_labels(out_local)
    for h in range(2):
        np.testing.assert_array_equal(a.hands[h].joints_3d, b.hands[h].joints_3d)
        np.testing.assert_array_equal(a.hands[h].present, b.hands[h].present)
    assert a.backend == "vidihand"
    # a second job on the same model finds it loaded: one load in all
    got, status = remote(server, "beta", video, range(20, 34), K)
    assert_same(got, local(checkpoints["beta"], video, range(20, 34), K))
    assert status["model"] == "beta" and status["timing"]["warm"] is True
    assert status["timing"]["model_load_s"] == 0 and status["timing"]["first_frame_s"] > 0
    print(cold.strip().splitlines()[-1], f"| warm: first frame after {status['timing']}")
    assert server.models()["beta"] == {**server.models()["beta"], "loaded": True, "loads": 1}
    # --preload alpha loaded it at start: its first job is already warm
    # logged once preload returns, after the worker's `loaded` event was taken in
    line = server.wait_log("preloaded alpha", "could not preload alpha")
    assert "preloaded alpha" in line and server.models()["alpha"]["loaded"], line
    got, status = remote(server, "alpha", video, range(0, 14), K)
    assert_same(got, local(checkpoints["alpha"], video, range(0, 14), K))
    assert status["timing"]["warm"] is True and server.models()["alpha"]["loads"] == 1


def test_unknown_model_or_a_path_is_refused_clearly(server, sample, tmp_path, capsys):
    video, gt = sample
    from core.errors import RemoteError

    with pytest.raises(RemoteError, match="no model 'nope'") as err:
        remote(server, "nope", video, range(0, 9), load_labels(gt).K)
    assert "alpha, beta, gamma" in (err.value.hint or "")
    rc = cli(["reconstruct", str(video), "-o", str(tmp_path / "x.h5"), "--backend", "vidihand",
              "--checkpoint", "runs/s2", "--remote", server.address,
              "--token-file", str(server.token_file)])  # fmt: skip
    err_text = capsys.readouterr().err
    assert rc == 2 and "names a model on the server, not a path" in err_text
    assert "Traceback" not in err_text and not (tmp_path / "x.h5").exists()


def test_replaced_checkpoint_gives_the_new_models_frames(server, models_dir, checkpoints, sample):
    video, gt = sample
    K = load_labels(gt).K
    frames = range(0, 14)
    old, s1 = remote(server, "gamma", video, frames, K)
    assert_same(old, local(checkpoints["alpha"], video, frames, K))
    # retrain / swap: gamma now holds beta's weights (new folder moved into place)
    shutil.copytree(checkpoints["beta"], models_dir / "gamma.new")
    shutil.rmtree(models_dir / "gamma")
    os.rename(models_dir / "gamma.new", models_dir / "gamma")
    new, s2 = remote(server, "gamma", video, frames, K)
    assert s2["job"] != s1["job"] and s2["model_sha256"] != s1["model_sha256"]
    assert_same(new, local(checkpoints["beta"], video, frames, K))
    assert not np.array_equal(
        np.nan_to_num(new.joints_3d), np.nan_to_num(old.joints_3d)
    )  # the two models do differ
    assert server.models()["gamma"]["sha256"] == HASHER.checkpoint(checkpoints["beta"])


def test_resumed_job_whose_model_changed_is_refused(checkpoints, sample, tmp_path):
    video, gt = sample
    K = load_labels(gt).K
    models = tmp_path / "models"
    shutil.copytree(checkpoints["alpha"], models / "delta")
    srv = ServeProcess(tmp_path, models, "--test-batch-delay", "0.3")
    try:
        from core.video.hashing import video_sha256

        sha = video_sha256(video)
        with srv.client() as c:
            c.upload(video, sha)
            job = c.start_job(sha, "vidihand", range(0, 30), K, {"checkpoint": "delta"})["job"]
            stream = c.stream(job, 0)
            first = next(item for item in stream if item.kind == "batch")
        assert first.status["state"] == "running"
    finally:
        srv.stop()  # the job stays 'running' on disk with its finished batches
    shutil.rmtree(models / "delta")
    shutil.copytree(checkpoints["beta"], models / "delta")
    srv = ServeProcess(tmp_path, models)
    try:
        with srv.client() as c:
            end = [item for item in c.stream(job, 0) if item.kind == "end"][0].status
        assert end["state"] == "failed", end
        message = end["error"]["message"]
        assert "not resumed: model 'delta' changed since the job started" in message
        assert "must not mix two models" in message
        assert end["done"] < end["total"]
    finally:
        srv.stop()


def test_loaded_models_are_bounded_by_memory_least_recently_used_first(checkpoints):
    """The warm cache with room for one tiny model: loading another evicts the least recently
    used; a model still held is reused without loading."""
    from core.remote.warm import BackendCache

    events: list = []
    probe = BackendCache(budget=1 << 40, emit=events.append)
    probe.get("vidihand", {"checkpoint": str(checkpoints["alpha"]), "device": "cpu"}).close()
    one = events[-1].nbytes
    assert events[-1].event == "loaded" and one > 0
    probe.close()
    events.clear()
    cache = BackendCache(budget=int(1.5 * one), emit=events.append)
    use = {n: {"checkpoint": str(checkpoints[n]), "device": "cpu"} for n in ("alpha", "beta")}
    for name in ("alpha", "alpha", "beta", "beta", "alpha"):
        cache.get("vidihand", use[name]).close()
    got = [(e.event, Path(e.checkpoint).name) for e in events]
    assert got == [
        ("loaded", "alpha"), ("reused", "alpha"),
        ("evicted", "alpha"), ("loaded", "beta"), ("reused", "beta"),
        ("evicted", "beta"), ("loaded", "alpha"),
    ]  # fmt: skip
    cache.close()
    assert [e.event for e in events[-1:]] == ["evicted"] and not cache.items


def test_a_slow_model_listing_is_waited_for_past_the_read_timeout() -> None:
    """The first listing of a big models folder describes and hashes every model: the client
    waits for it (LIST_MODELS_TIMEOUT_S) where any other reply has READ_TIMEOUT_S. A server
    that answers `list_models` after three read timeouts still gets its answer read."""
    import socket

    from core.remote.client import RemoteClient
    from core.remote.protocol import Packet, recv_packet, send_packet

    listening = socket.create_server(("127.0.0.1", 0))
    answered = threading.Event()

    def slow_server() -> None:
        conn, _ = listening.accept()
        with conn:
            assert recv_packet(conn).type == "hello"
            send_packet(conn, Packet("welcome", {"server": "test"}))
            assert recv_packet(conn).type == "list_models"
            time.sleep(0.9)  # stands in for describing a large models folder
            send_packet(conn, Packet("models", {"models": [{"name": "big"}]}))
            answered.set()
            recv_packet(conn)  # bye

    thread = threading.Thread(target=slow_server, daemon=True)
    thread.start()
    try:
        client = RemoteClient(*listening.getsockname()[:2], "t" * 32, read_timeout=0.3)
        with client:
            assert client.list_models() == [{"name": "big"}]
            assert client.sock.gettimeout() == 0.3  # other replies keep the read timeout
        assert answered.is_set()
    finally:
        listening.close()
        thread.join(10)
