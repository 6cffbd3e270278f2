"""The reconstruction worker process: message order, streamed batches equal to an in-process
run, cancel keeps finished frames, failures and crashes become Error messages."""

from __future__ import annotations

import os
import signal
import time

import numpy as np
import pytest

from core.worker.messages import Batch, Cancelled, Done, Error, Message, Progress, Started
from core.worker.process import JobSpec, LocalWorker, run_job


def collect(worker: LocalWorker, timeout: float = 120.0, on_message=None) -> list[Message]:
    out: list[Message] = []
    t0 = time.monotonic()
    while not worker.finished:
        assert time.monotonic() - t0 < timeout, f"worker did not finish: {[m.kind for m in out]}"
        for m in worker.poll(timeout=0.2):
            out.append(m)
            if on_message is not None:
                on_message(worker, m)
    worker.join(5)
    return out


def test_messages_round_trip_as_plain_dicts():
    b = Batch(job_id="j", arrays={"frames": np.arange(3), "present": np.ones((3, 2), bool)})
    for msg in (
        Started(job_id="j", backend="x", total=3),
        Progress(done=1, total=3, fps=2.0),
        b,
        Error(title="T", message="M", hint="H"),
        Done(done=3, total=3),
        Cancelled(done=1),
    ):
        d = msg.to_dict()
        assert all(isinstance(k, str) for k in d)
        back = Message.from_dict(d)
        assert type(back) is type(msg) and back.kind == msg.kind
    with pytest.raises(ValueError):
        Message.from_dict({"kind": "nope"})


def test_worker_streams_mediapipe_batches(demo3):
    from core.labels.document import LabelDocument, apply_batch
    from core.recon.base import meta_for, run_reconstruction
    from core.recon.registry import create_backend
    from core.video.reader import open_video

    worker = LocalWorker(JobSpec(str(demo3), "mediapipe", start=100, stop=140))
    worker.start()
    msgs = collect(worker)
    kinds = [m.kind for m in msgs]
    assert kinds[0] == "started" and kinds[-1] == "done", kinds
    assert kinds.count("batch") >= 2 and kinds.count("progress") == kinds.count("batch")
    batches = [m for m in msgs if isinstance(m, Batch)]
    frames = np.concatenate([b.arrays["frames"] for b in batches])
    np.testing.assert_array_equal(frames, np.arange(100, 140))
    progress = [m.done for m in msgs if isinstance(m, Progress)]
    assert progress == sorted(progress) and progress[-1] == 40
    assert msgs[-1].done == 40 and msgs[0].total == 40

    # the same frames reconstructed in this process give the same labels
    with open_video(demo3) as video:
        local = LabelDocument(meta_for(video))
        remote = LabelDocument(meta_for(video))
        with create_backend("mediapipe") as backend:
            run_reconstruction(backend, video, local, range(100, 140))
    for m in batches:
        apply_batch(remote, m.to_frame_batch())
    assert remote.equals(local, atol=1e-5)


def test_cancel_keeps_finished_batches(demo3):
    worker = LocalWorker(JobSpec(str(demo3), "mediapipe", start=0, stop=400))
    worker.start()

    def cancel_after_first_batch(w, m):
        if isinstance(m, Batch):
            w.cancel()

    msgs = collect(worker, on_message=cancel_after_first_batch)
    assert isinstance(msgs[-1], Cancelled)
    sent = sum(m.n_frames for m in msgs if isinstance(m, Batch))
    assert 0 < sent < 400 and msgs[-1].done == sent


def test_errors_become_messages(demo3, tmp_path):
    # unknown backend: a ReconstructorError with its hint, raised in the child
    worker = LocalWorker(JobSpec(str(demo3), "no-such-backend"))
    worker.start()
    msgs = collect(worker, timeout=60)
    err = msgs[-1]
    assert isinstance(err, Error) and err.title == "Reconstruction failed"
    assert "no-such-backend" in err.message and "Choose one of" in err.hint
    # a corrupt video (run in-process through run_job: same code as the child)
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(os.urandom(10_000))
    sent: list[Message] = []
    final = run_job(JobSpec(str(bad), "mediapipe"), sent.append)
    assert (
        isinstance(final, Error)
        and final.title == "Cannot open video"
        and final.error_type == "VideoOpenError"
    )
    assert sent == [final]
    # an empty range
    final = run_job(JobSpec(str(demo3), "mediapipe", start=400, stop=300), sent.append)
    assert isinstance(final, Error) and "selects nothing" in final.message


def test_crash_is_reported(demo3):
    worker = LocalWorker(JobSpec(str(demo3), "mediapipe"))
    worker.start()

    def kill_once_started(w: LocalWorker, m: Message) -> None:  # killed mid-job
        if isinstance(m, Started):
            os.kill(w.pid, signal.SIGKILL)

    msgs = collect(worker, timeout=120, on_message=kill_once_started)
    assert isinstance(msgs[0], Started)
    err = msgs[-1]
    assert isinstance(err, Error) and err.error_type == "WorkerCrash"
    assert "exit code -9" in err.message
