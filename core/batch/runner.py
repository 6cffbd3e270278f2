"""Run a backend over many videos with Ray: one task per video (long videos in chunks),
resumable, a failing video reported while the others finish, progress and `summary.json`.

    summary = run_batch(["clips/"], BatchOptions(out_dir=Path("labels")))

The driver expands the inputs, probes and hashes every video (threads; hashes are cached), skips
videos whose finished output is already there, and only then starts Ray, so a rerun over a
finished folder costs seconds. Results come back to the driver, which stitches and writes the
label files (atomically) into `out_dir`: the output folder need not be shared with the cluster,
the videos must be readable at the same paths by every node.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.batch.inputs import BatchInput, expand_inputs
from core.batch.plan import Chunk, plan_chunks, stitch
from core.batch.tasks import VideoProbe, describe_error, probe_video, run_chunk
from core.errors import VidihandError
from core.extras import require
from core.io.atomic import atomic_write_bytes
from core.labels.document import FrameBatch, LabelDocument, Source, VideoMeta, apply_batch

SUMMARY_NAME = "summary.json"
#: key in the label file's extras that marks a finished batch output
EXTRAS_KEY = "batch"


class BatchError(VidihandError):
    """The batch run itself cannot start (Ray, output folder)."""

    title = "Batch run failed"


@dataclass
class BatchOptions:
    out_dir: Path
    backend: str = "mediapipe"
    backend_options: dict[str, Any] = field(default_factory=dict)
    #: Ray address of an existing cluster ("auto", "ray://host:10001", ...); None: a local instance
    address: str | None = None
    #: parallel tasks (local: the CPUs given to the local Ray instance; default all cores)
    workers: int | None = None
    gpus_per_task: float = 0.0
    #: kept frames per task; longer videos are split
    chunk_frames: int = 3000
    #: warm-up frames a chunk runs before the frames it keeps (tracking restarts per chunk)
    overlap: int = 30
    #: reconstruct at most the first N frames of each video (quick runs, tests)
    max_frames: int | None = None
    #: refine the stitched labels (core/recon/refine); None: the backend's default, as
    #: `vidihand reconstruct` does
    refine: bool | None = None
    #: intrinsics for every video (None: each video's default from its size)
    K: np.ndarray | None = None
    progress: bool = True
    #: replace label files in out_dir that this batch did not finish with the same options
    force: bool = False


@dataclass
class _Job:
    """One video being processed."""

    item: BatchInput
    probe: VideoProbe
    frames: range
    chunks: list[Chunk]
    parts: dict[int, FrameBatch] = field(default_factory=dict)
    seconds: float = 0.0
    backend: str = ""
    version: str = ""
    error: str | None = None

    @property
    def finished(self) -> bool:
        return self.error is not None or len(self.parts) == len(self.chunks)


# -------------------------------------------------------------------------------- resume
def finished_output(path: Path, probe: VideoProbe, frames: range, backend: str) -> bool:
    """True when `path` is a label file this batch wrote for the same video (hash and frame
    count), the same frames and the same backend."""
    import h5py

    if not path.is_file():
        return False
    try:
        with h5py.File(path, "r") as f:
            if (
                f.attrs.get("video_sha256") != probe.sha256
                or int(f.attrs["n_frames"]) != probe.n_frames
            ):
                return False
            raw = f["meta/extras"][()]
        extras = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
    except (OSError, KeyError, ValueError, TypeError):
        return False  # unreadable or foreign: redo it
    mark = extras.get(EXTRAS_KEY) or {}
    return bool(
        mark.get("complete")
        and mark.get("frames") == [frames.start, frames.stop]
        and mark.get("backend") == backend
    )


# ------------------------------------------------------------------------------ the run
def run_batch(
    inputs: list[str | os.PathLike[str]],
    options: BatchOptions,
    *,
    on_event: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Process `inputs`; returns the summary (also written to out_dir/summary.json)."""
    out_dir = Path(options.out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BatchError(f"Cannot create the output folder {out_dir}: {exc}.") from exc
    items = expand_inputs(list(inputs))
    summary: dict[Path, dict[str, Any]] = {
        it.path: {"path": str(it.path), "output": str(out_dir / it.output_name), "status": "pending",
                  "frames": 0, "seconds": 0.0, "error": None}
        for it in items
    }  # fmt: skip

    def report(item: BatchInput, **values: Any) -> None:
        summary[item.path].update(values)
        _write_summary(out_dir, list(summary.values()))
        if on_event is not None:
            on_event(dict(summary[item.path]))

    with ThreadPoolExecutor(max_workers=min(8, max(1, len(items)))) as pool:
        probes = list(pool.map(lambda it: probe_video(it.path), items))

    jobs: list[_Job] = []
    for item, probe in zip(items, probes, strict=True):
        if probe.error is not None:
            report(item, status="failed", error=probe.error)
            continue
        stop = (
            probe.n_frames
            if options.max_frames is None
            else min(probe.n_frames, options.max_frames)
        )
        frames = range(0, stop)
        if finished_output(out_dir / item.output_name, probe, frames, options.backend):
            report(item, status="skipped", frames=len(frames))
            continue
        output = out_dir / item.output_name
        if output.exists() and not options.force:
            from core.io.labels_h5 import describe_existing

            report(item, status="failed", error=f"{output.name} {describe_existing(output)}; "
                   "use --force to replace it")  # fmt: skip
            continue
        chunks = plan_chunks(frames, options.chunk_frames, options.overlap)
        jobs.append(_Job(item, probe, frames, chunks))
    if jobs:
        _run_jobs(jobs, options, out_dir, report)
    result = list(summary.values())
    _write_summary(out_dir, result)
    return result


def _write_summary(out_dir: Path, entries: list[dict[str, Any]]) -> None:
    atomic_write_bytes(out_dir / SUMMARY_NAME, (json.dumps(entries, indent=2) + "\n").encode())


def _start_ray(options: BatchOptions) -> bool:
    """Connect to or start Ray; returns True when this call started it (and must stop it)."""
    ray = require("ray", "batch")

    if ray.is_initialized():
        return False
    os.environ.setdefault("GLOG_minloglevel", "2")  # workers inherit it: no MediaPipe chatter
    kwargs: dict[str, Any] = {
        "include_dashboard": False,
        "log_to_driver": False,
        "configure_logging": False,
    }
    try:
        if options.address:
            import core

            # ship this package to the cluster's workers; its dependencies must be installed there
            kwargs["runtime_env"] = {"py_modules": [str(Path(core.__file__).parent)]}
            _check_reachable(options.address)
            ray.init(address=options.address, **kwargs)
        else:
            workers = options.workers or os.cpu_count() or 1
            ray.init(
                address="local",  # always a new instance, never a stale `ray start` cluster
                num_cpus=workers,
                num_gpus=None if options.gpus_per_task else 0,
                object_store_memory=256 * 1024 * 1024,
                **kwargs,
            )
    except BatchError:
        raise
    except Exception as exc:  # noqa: BLE001 - Ray raises many types here
        where = (
            f"the Ray cluster at {options.address}" if options.address else "a local Ray instance"
        )
        hint = "Check the address (ray status on the head node) or run without --address."
        if _auth_error(exc):
            hint = (
                "The cluster uses token authentication: put its token in ~/.ray/auth_token or "
                "RAY_AUTH_TOKEN (ray get-auth-token on the head node) and set RAY_AUTH_MODE=token."
            )
        raise BatchError(f"Cannot start or reach {where}: {_first_line(exc)}.", hint=hint) from exc
    return True


def _check_reachable(address: str) -> None:
    """Fail in seconds, not minutes (Ray retries for a long time), when a host:port address
    does not answer. "auto" and other forms are left to Ray."""
    import socket

    target = address.removeprefix("ray://")
    host, sep, port = target.rpartition(":")
    if not sep or not port.isdigit() or not host:
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=5.0).close()
    except OSError as exc:
        raise BatchError(
            f"Cannot reach the Ray cluster at {address}: {exc}.",
            hint="Check the address and port (ray status on the head node shows them), and that "
            "this machine can reach it (firewall, SSH tunnel).",
        ) from exc


def _auth_error(exc: BaseException) -> bool:
    text = f"{type(exc).__name__} {exc}"
    return "AuthenticationError" in text or "InvalidAuthToken" in text


def _token_available() -> bool:
    return bool(
        os.environ.get("RAY_AUTH_TOKEN")
        or (
            os.environ.get("RAY_AUTH_TOKEN_PATH")
            and Path(os.environ["RAY_AUTH_TOKEN_PATH"]).is_file()
        )
        or (Path.home() / ".ray" / "auth_token").is_file()
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


def _run_jobs(
    jobs: list[_Job],
    options: BatchOptions,
    out_dir: Path,
    report: Callable[..., None],
) -> None:
    if options.address and not os.environ.get("RAY_AUTH_MODE") and _token_available():
        # clusters started with `ray start` use token authentication, and a client only sends
        # its token in token mode, which Ray reads when it is imported
        os.environ["RAY_AUTH_MODE"] = "token"
    ray = require("ray", "batch")
    from tqdm import tqdm

    started = _start_ray(options)
    try:
        remote = ray.remote(run_chunk).options(
            num_cpus=1, num_gpus=options.gpus_per_task or 0, max_retries=1
        )
        # bound the tasks in flight: results stream back in order of completion and the
        # driver never holds more than a few chunks' results
        limit = max(2, 2 * (options.workers or int(ray.cluster_resources().get("CPU", 1))))
        queue = [(job, chunk) for job in jobs for chunk in job.chunks]
        total = sum(len(job.frames) for job in jobs)
        bar = tqdm(total=total, unit="frame", disable=not options.progress, file=sys.stderr,
                   dynamic_ncols=True)  # fmt: skip
        counts = {"done": 0, "failed": 0}
        pending: dict[Any, tuple[_Job, Chunk]] = {}
        for job in jobs:
            report(job.item, status="running", frames=0)
        while queue or pending:
            while queue and len(pending) < limit:
                job, chunk = queue.pop(0)
                if job.error is not None:
                    continue  # an earlier chunk of this video failed
                ref = remote.remote(
                    str(job.item.path),
                    (chunk.run.start, chunk.run.stop),
                    (chunk.keep.start, chunk.keep.stop),
                    options.backend,
                    options.backend_options,
                    _K_for(job, options),
                )
                pending[ref] = (job, chunk)
            if not pending:
                continue
            ready, _ = ray.wait(list(pending), num_returns=1)
            ref = ready[0]
            job, chunk = pending.pop(ref)
            try:
                result = ray.get(ref)
            except Exception as exc:  # noqa: BLE001 - a crashed worker, a lost node
                result = {"batch": None, "seconds": 0.0, "error": describe_error(exc)}
            bar.update(len(chunk.keep))
            if job.error is not None:
                continue
            job.seconds += float(result.get("seconds") or 0.0)
            if result["error"] is not None:
                job.error = result["error"]
            else:
                job.parts[chunk.index] = FrameBatch(**result["batch"])
                job.backend, job.version = result["backend"], result["version"]
            if job.finished:
                status = _finish(job, options, out_dir)
                counts[status] += 1
                report(job.item, status=status, frames=len(job.frames) if status == "done" else 0,
                       seconds=round(job.seconds, 3), error=job.error)  # fmt: skip
                bar.set_postfix(counts, refresh=False)
        bar.close()
    finally:
        if started:
            ray.shutdown()


def _K_for(job: _Job, options: BatchOptions) -> np.ndarray:
    if options.K is not None:
        return np.asarray(options.K, np.float64)
    from core.labels.document import default_intrinsics

    return default_intrinsics(job.probe.width, job.probe.height)


def _finish(job: _Job, options: BatchOptions, out_dir: Path) -> str:
    """Stitch and write a finished job's labels; returns "done" or "failed"."""
    from core.io.labels_h5 import save_labels

    if job.error is not None:
        job.parts.clear()
        return "failed"
    try:
        p = job.probe
        meta = VideoMeta(p.n_frames, p.fps, p.width, p.height, p.sha256, str(job.item.path))
        doc = LabelDocument(meta, _K_for(job, options))
        apply_batch(doc, stitch(job.parts, job.chunks), source=Source.PREDICTED, keep_edited=False)
        doc.backend, doc.backend_version = job.backend, job.version
        _refine(doc, job, options)
        doc.extras[EXTRAS_KEY] = {
            "complete": True,
            "backend": options.backend,
            "frames": [job.frames.start, job.frames.stop],
            "chunks": len(job.chunks),
            "overlap": options.overlap,
            "seconds": round(job.seconds, 3),
        }
        save_labels(doc, out_dir / job.item.output_name)
    except Exception as exc:  # noqa: BLE001 - reported per video
        job.error = f"writing the labels failed: {describe_error(exc)}"
        return "failed"
    finally:
        job.parts.clear()
    return "done"


def _refine(doc: LabelDocument, job: _Job, options: BatchOptions) -> None:
    """The same refinement stage as `vidihand reconstruct` (with the video: re-detection)."""
    from core.recon.refine.stage import refine_after_reconstruction, refines_by_default
    from core.video.reader import open_video

    wanted = refines_by_default(options.backend) if options.refine is None else options.refine
    if not wanted:
        return
    with open_video(job.item.path) as video:
        refine_after_reconstruction(
            doc, options.backend, refine=True, frames=job.frames, video=video
        )


def summary_counts(summary: list[dict[str, Any]]) -> dict[str, int]:
    counts = {"done": 0, "skipped": 0, "failed": 0}
    for entry in summary:
        counts[entry["status"]] = counts.get(entry["status"], 0) + 1
    return counts
