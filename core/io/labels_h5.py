"""HDF5 label files, schema v1 (documented in docs/labels-format.md).

Writes are atomic: the file is written next to its destination under a temporary name, flushed
to disk and renamed over the destination, so a crash or a full disk never leaves a half-written
label file and never damages the previous one. Reads validate everything a later step relies
on and raise `LabelFileError` with a message that says what is wrong.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from core import __version__
from core.errors import LabelFileError, LabelMismatchError
from core.io.atomic import atomic_path
from core.labels.document import (
    TRACK_FIELDS,
    HandTrack,
    LabelDocument,
    Source,
    VideoMeta,
)
from core.labels.joints import HAND_NAMES, JOINT_NAMES, N_JOINTS

SCHEMA_VERSION = 1
#: n_frames above this is damage, not a video (~19 days at 30 fps); checked before allocating
MAX_FRAMES = 50_000_000
#: Rows per chunk along the frame axis: ~1 minute of 30 fps video. Big enough that an hour of
#: labels is ~100 chunks per dataset (fast), small enough that a partial read stays cheap.
CHUNK_FRAMES = 2048

FILE_ATTRS: dict[str, str] = {
    "coordinate_frame": "OpenCV camera frame: x right, y down, z forward; origin at the camera centre",
    "units": "metres (3D), pixels (2D)",
    "pixel_convention": "(0, 0) is the centre of the top-left pixel",
    "rotation_format": "axis-angle (Rodrigues vector, radians)",
    "joint_order": json.dumps(list(JOINT_NAMES)),
    "hand_order": json.dumps(list(HAND_NAMES)),
    "mano_convention": (
        "smplx MANO, use_pca=False, flat_hand_mean=False: hand_pose is 15 joints x axis-angle "
        "relative to the mean hand, in MANO's joint order (index, middle, little, ring, thumb)"
    ),
    "missing_values": "NaN where unknown; confidence 0 and present False where no hand",
}

REQUIRED_ROOT_ATTRS = ("schema_version", "fps", "n_frames", "width", "height", "video_sha256")
#: v1 required per-hand datasets (others in TRACK_FIELDS are optional and default when absent).
REQUIRED_HAND_FIELDS = (
    "present",
    "confidence",
    "joints_3d",
    "joints_2d",
    "source",
    "global_orient",
    "hand_pose",
    "betas",
    "transl",
)


# ---------------------------------------------------------------------------------------- write
def save_labels(doc: LabelDocument, path: str | os.PathLike[str], *, save_id: str = "") -> Path:
    """Write `doc` to `path` (schema v1), atomically. Returns the path written.

    `save_id`: a token stored as the `save_id` attribute, so that the autosave journal can tell
    that this file holds every edit it recorded before the save (core/io/journal.py)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w", libver="latest") as f:
            _write(f, doc)
            if save_id:
                f.attrs["save_id"] = save_id
    doc.dirty = False
    return path


def read_save_id(path: Path) -> str:
    """The `save_id` attribute of a label file; "" when it has none or cannot be read."""
    try:
        if not path.is_file():
            return ""
        with h5py.File(path, "r") as f:
            return _attr_str(f.attrs.get("save_id", ""))
    except Exception:  # noqa: BLE001 - any damage just means "not that save"
        return ""


def _write(f: h5py.File, doc: LabelDocument) -> None:
    m = doc.meta
    f.attrs["schema_version"] = SCHEMA_VERSION
    f.attrs["fps"] = float(m.fps)
    f.attrs["n_frames"] = int(m.n_frames)
    f.attrs["width"] = int(m.width)
    f.attrs["height"] = int(m.height)
    f.attrs["video_sha256"] = m.video_sha256
    f.attrs["video_path"] = m.video_path
    for key, value in FILE_ATTRS.items():
        f.attrs[key] = value
    f.attrs["backend"] = doc.backend
    f.attrs["backend_version"] = doc.backend_version
    f.attrs["created"] = doc.created
    f.attrs["writer"] = f"vidihand-studio {__version__}"

    f.create_dataset("camera/K", data=np.asarray(doc.K, np.float64))
    for name, track in zip(HAND_NAMES, doc.hands, strict=True):
        group = f.create_group(f"hands/{name}")
        for field_name, (shape, dtype, fill) in TRACK_FIELDS.items():
            data = np.ascontiguousarray(getattr(track, field_name), dtype=dtype)
            _write_track_array(group, field_name, data, shape, fill)
    str_dt = h5py.string_dtype("utf-8")
    f.create_dataset(
        "meta/notes", data=json.dumps({str(k): v for k, v in doc.notes.items()}), dtype=str_dt
    )
    f.create_dataset("meta/history", data=json.dumps(doc.history), dtype=str_dt)
    f.create_dataset("meta/extras", data=json.dumps(doc.extras), dtype=str_dt)


def _write_track_array(
    group: h5py.Group, name: str, data: np.ndarray, shape: tuple[int, ...], fill: Any
) -> None:
    """One (T, ...) track array, chunked along frames.

    Float arrays (joints, MANO, confidence: 97% of the bytes) are stored without compression:
    float noise barely compresses (gzip saved ~35% at 10-20x the time, too slow for an hour of
    labels in well under a second). Instead the dataset's HDF5 fill value is the field's
    "unknown" value (NaN, or 0 for confidence) and chunks holding nothing else are never
    written: HDF5 does not allocate them and every reader returns the fill value, so stretches
    without a hand, and MANO fields a backend does not produce, cost neither time nor space.
    Small integer and bool arrays compress very well with gzip, readable by every HDF5 build.
    """
    n = data.shape[0]
    if n == 0:
        group.create_dataset(name, data=data)
        return
    chunks = (min(CHUNK_FRAMES, n), *shape)
    if data.dtype.kind != "f":
        group.create_dataset(
            name, data=data, chunks=chunks, compression="gzip", compression_opts=1, shuffle=True
        )
        return
    ds = group.create_dataset(
        name, shape=data.shape, dtype=data.dtype, chunks=chunks, fillvalue=fill
    )
    flat = data.reshape(n, -1)
    unknown = np.isnan(flat) if np.isnan(fill) else (flat == fill)
    known_frames = ~unknown.all(axis=1)
    # one write per run of consecutive chunks holding something known
    step = chunks[0]
    known_chunks = [bool(known_frames[a : a + step].any()) for a in range(0, n, step)]
    start = None
    for i, known in enumerate([*known_chunks, False]):
        if known and start is None:
            start = i * step
        elif not known and start is not None:
            stop = min(n, i * step)
            ds[start:stop] = data[start:stop]
            start = None


# ----------------------------------------------------------------------------------------- read
def load_labels(
    path: str | os.PathLike[str],
    *,
    expect: VideoMeta | None = None,
    force: bool = False,
) -> LabelDocument:
    """Read and validate a label file.

    With `expect` (the metadata of the opened video), a file made for another video (a different
    hash or frame count) raises `LabelMismatchError` unless `force` is True.
    """
    path = Path(path)
    if not path.exists():
        raise LabelFileError(f"Label file not found: {path}", hint="Check the path.")
    if path.is_dir():
        raise LabelFileError(f"{path} is a folder, not a label file.", hint="Choose an .h5 file.")
    if not path.is_file():  # a FIFO or a device would block or never end
        raise LabelFileError(
            f"{path.name} is not a regular file (a pipe, socket or device).",
            hint="Choose an .h5 label file.",
        )
    try:
        f = h5py.File(path, "r")
    except Exception as exc:  # noqa: BLE001 - h5py reports damage with many exception types
        raise LabelFileError(
            f"{path.name} is not a readable HDF5 file ({_short(exc)}).",
            hint="The file may be truncated or not a label file; open another one or re-export it.",
        ) from exc
    try:
        with f:
            refuse_links(f, path.name)
            doc = _read(f, path)
    except LabelFileError:
        raise
    except Exception as exc:  # noqa: BLE001 - damaged files raise OSError, RuntimeError, ...
        raise LabelFileError(
            f"{path.name} is damaged or malformed: {_short(exc)}.",
            hint="Open a backup or re-export the labels; the file was not changed.",
        ) from exc
    if expect is not None:
        check_matches(doc, expect, path=path, force=force)
    doc.dirty = False
    return doc


def _read(f: h5py.File, path: Path) -> LabelDocument:
    missing = [a for a in REQUIRED_ROOT_ATTRS if a not in f.attrs]
    if missing:
        raise LabelFileError(
            f"{path.name} is not a ViDiHand label file: root attributes {', '.join(missing)} "
            "are missing.",
            hint="Label files are written by `vidihand reconstruct` or the app's Save.",
        )
    version = _attr_int(f, "schema_version", path)
    if version != SCHEMA_VERSION:
        raise LabelFileError(
            f"{path.name} uses label schema v{version}; this version of ViDiHand Studio reads v"
            f"{SCHEMA_VERSION}.",
            hint="Update ViDiHand Studio, or re-export the labels from the tool that wrote them.",
        )
    n = _attr_int(f, "n_frames", path)
    if n > MAX_FRAMES:
        raise LabelFileError(
            f"{path.name}: n_frames {n} is beyond what a label file can hold ({MAX_FRAMES}).",
            hint="The file is damaged; open a backup or re-export the labels.",
        )
    meta = VideoMeta(
        n_frames=n,
        fps=_attr_float(f, "fps", path),
        width=_attr_int(f, "width", path),
        height=_attr_int(f, "height", path),
        video_sha256=_attr_str(f.attrs["video_sha256"]),
        video_path=_attr_str(f.attrs.get("video_path", "")),
    )
    if n < 0 or meta.width <= 0 or meta.height <= 0 or not np.isfinite(meta.fps) or meta.fps <= 0:
        raise LabelFileError(
            f"{path.name} has impossible video metadata (frames={n}, size={meta.width}x"
            f"{meta.height}, fps={meta.fps}).",
            hint="Re-export the labels.",
        )
    if "camera/K" not in f:
        raise LabelFileError(f"{path.name} has no /camera/K.", hint="Re-export the labels.")
    K = np.asarray(f["camera/K"][()], dtype=np.float64)
    if K.shape != (3, 3) or not np.isfinite(K).all() or K[0, 0] <= 0 or K[1, 1] <= 0:
        raise LabelFileError(
            f"{path.name}: /camera/K must be a finite 3x3 matrix with positive focal lengths, "
            f"got shape {K.shape}.",
            hint="Re-export the labels.",
        )
    # every shape and type is checked before anything is read or allocated: a damaged n_frames
    # must not make the reader allocate terabytes
    for name in HAND_NAMES:
        key = f"hands/{name}"
        if not isinstance(f.get(key), h5py.Group):
            raise LabelFileError(f"{path.name} has no /{key} group.", hint="Re-export the labels.")
        for field_name, (shape, dtype, _) in TRACK_FIELDS.items():
            ds = f[key].get(field_name)
            if ds is None:
                if field_name in REQUIRED_HAND_FIELDS:
                    raise LabelFileError(
                        f"{path.name}: /{key}/{field_name} is missing.",
                        hint="Re-export the labels.",
                    )
                continue
            if not isinstance(ds, h5py.Dataset) or ds.dtype.kind not in "biuf":
                what = f"dtype {ds.dtype}" if isinstance(ds, h5py.Dataset) else "a group"
                raise LabelFileError(
                    f"{path.name}: /{key}/{field_name} is {what}, expected numbers ({dtype}).",
                    hint="The file is damaged; re-export the labels.",
                )
            if ds.shape != (n, *shape):
                raise LabelFileError(
                    f"{path.name}: /{key}/{field_name} has shape {ds.shape}, expected "
                    f"{(n, *shape)} for {n} frames.",
                    hint="The file is inconsistent; re-export the labels.",
                )
    tracks = []
    for name in HAND_NAMES:
        key = f"hands/{name}"
        group = f[key]
        arrays: dict[str, np.ndarray] = {}
        for field_name, (shape, dtype, fill) in TRACK_FIELDS.items():
            if field_name not in group:
                arrays[field_name] = np.full((n, *shape), fill, dtype=dtype)
                continue
            raw = np.asarray(group[field_name][()])
            with np.errstate(over="ignore", invalid="ignore"):  # checked just below
                a = raw.astype(dtype, copy=False)
            if a.dtype.kind == "f" and a.size and np.isinf(a).any():
                raise LabelFileError(
                    f"{path.name}: /{key}/{field_name} holds infinite values (or values too "
                    f"large for {np.dtype(dtype).name}).",
                    hint="Unknown values are NaN in label files; re-export the labels.",
                )
            if a.dtype.kind != "f" and a.size and not np.array_equal(a, raw):
                raise LabelFileError(
                    f"{path.name}: /{key}/{field_name} holds values that are not "
                    f"{np.dtype(dtype).name} (fractions, NaN or out of range).",
                    hint="The file is damaged; re-export the labels.",
                )
            arrays[field_name] = a
        tracks.append(HandTrack(**arrays))
    doc = LabelDocument(meta, K, (tracks[0], tracks[1]))
    doc.backend = _attr_str(f.attrs.get("backend", ""))
    doc.backend_version = _attr_str(f.attrs.get("backend_version", ""))
    doc.created = _attr_str(f.attrs.get("created", doc.created))
    notes = _json(f, "meta/notes", {}, dict, path)
    try:
        doc.notes = {int(k): str(v) for k, v in notes.items()}
    except ValueError:
        raise LabelFileError(
            f"{path.name}: /meta/notes must map frame numbers to text.",
            hint="The file is damaged; re-export the labels.",
        ) from None
    doc.history = _json(f, "meta/history", [], list, path)
    if not all(isinstance(e, dict) for e in doc.history):
        raise LabelFileError(
            f"{path.name}: /meta/history must be a list of edits (JSON objects).",
            hint="The file is damaged; re-export the labels.",
        )
    doc.extras = _json(f, "meta/extras", {}, dict, path)
    return doc


def refuse_links(f: h5py.File, name: str, *, max_objects: int = 10_000) -> None:
    """Raise LabelFileError for anything that makes HDF5 read outside this file or loop: soft
    and external links, datasets stored in external raw files, virtual datasets.

    Label files written by ViDiHand hold none of these. An external link makes the reader open
    any file the link names (a FIFO blocks forever, a device never ends); a soft-link loop makes
    every lookup fail in odd ways. Links are inspected without being followed.
    """
    seen = 0
    stack: list[tuple[str, h5py.Group, int]] = [("", f, 0)]
    while stack:
        prefix, group, depth = stack.pop()
        for key in group:
            seen += 1
            where = f"{prefix}/{key}"
            if seen > max_objects or depth > 8:
                raise LabelFileError(
                    f"{name}: too many objects or nesting levels (at {where}) for a label file.",
                    hint="The file is damaged or not a label file.",
                )
            link = group.get(key, getlink=True)
            if isinstance(link, h5py.ExternalLink):
                raise LabelFileError(
                    f"{name}: {where} is an external link to {link.filename}; label files must "
                    "be self-contained.",
                    hint="Re-export the labels; nothing outside the file is read.",
                )
            if not isinstance(link, h5py.HardLink):
                raise LabelFileError(
                    f"{name}: {where} is a soft link ({getattr(link, 'path', '?')}); label files "
                    "hold no links.",
                    hint="Re-export the labels.",
                )
            obj = group[key]
            if isinstance(obj, h5py.Group):
                stack.append((where, obj, depth + 1))
            elif isinstance(obj, h5py.Dataset) and (obj.external or obj.is_virtual):
                raise LabelFileError(
                    f"{name}: {where} keeps its data in an external file; label files must be "
                    "self-contained.",
                    hint="Re-export the labels; nothing outside the file is read.",
                )


def check_matches(
    doc: LabelDocument, video: VideoMeta, *, path: Path | str = "labels", force: bool = False
) -> None:
    """Raise LabelMismatchError if `doc` was made for another video than `video`."""
    name = Path(path).name
    problems = []
    if doc.meta.n_frames != video.n_frames:
        problems.append(f"{doc.meta.n_frames} frames in the labels, {video.n_frames} in the video")
    if doc.meta.video_sha256 and video.video_sha256 and doc.meta.video_sha256 != video.video_sha256:
        problems.append(
            f"video hash {doc.meta.video_sha256[:12]}... in the labels, "
            f"{video.video_sha256[:12]}... for the video"
        )
    if (doc.meta.width, doc.meta.height) != (video.width, video.height):
        problems.append(
            f"size {doc.meta.width}x{doc.meta.height} in the labels, "
            f"{video.width}x{video.height} for the video"
        )
    if problems and not force:
        raise LabelMismatchError(
            f"{name} was made for another video: " + "; ".join(problems) + ".",
            hint="Open the video these labels belong to, or force loading (--force, or "
            "'Open anyway' in the app) if you know they match.",
        )


def _json(f: h5py.File, key: str, default: Any, kind: type, path: Path) -> Any:
    """The JSON value of a scalar string dataset, which must be of type `kind`."""
    if key not in f:
        return default
    ds = f[key]
    hint = "The file is damaged; re-export the labels."
    if not isinstance(ds, h5py.Dataset) or ds.shape != () or ds.dtype.kind not in "OSU":
        raise LabelFileError(f"{path.name}: /{key} must be one JSON string.", hint=hint)
    raw = ds[()]
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else str(raw)
        value = json.loads(text)
    except RecursionError:
        raise LabelFileError(f"{path.name}: /{key} is nested too deeply.", hint=hint) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LabelFileError(
            f"{path.name}: /{key} is not valid JSON ({_short(exc)}).", hint=hint
        ) from None
    if not isinstance(value, kind):
        raise LabelFileError(
            f"{path.name}: /{key} must hold a JSON {'object' if kind is dict else 'list'}, "
            f"got {type(value).__name__}.",
            hint=hint,
        )
    return value


def _attr_number(f: h5py.File, key: str, path: Path) -> float:
    value = np.asarray(f.attrs[key])
    if value.shape != () or value.dtype.kind not in "iuf" or not np.isfinite(value):
        raise LabelFileError(
            f"{path.name}: root attribute {key} must be one finite number, got {_short_repr(value)}.",
            hint="The file is damaged; re-export the labels.",
        )
    return float(value)


def _attr_int(f: h5py.File, key: str, path: Path) -> int:
    value = _attr_number(f, key, path)
    if value != int(value):
        raise LabelFileError(
            f"{path.name}: root attribute {key} must be a whole number, got {value:g}.",
            hint="The file is damaged; re-export the labels.",
        )
    return int(value)


def _attr_float(f: h5py.File, key: str, path: Path) -> float:
    return _attr_number(f, key, path)


def _short_repr(value: Any) -> str:
    text = repr(value.tolist() if isinstance(value, np.ndarray) else value)
    return text if len(text) <= 40 else text[:37] + "..."


def _attr_str(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8")
    return str(value)


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]


def describe_existing(path: Path) -> str:
    """What an existing output holds, in a few words, for "X exists: ...; use --force" messages
    (label files: how many frames a person reviewed or edited, i.e. what replacing it loses)."""
    if path.is_dir():
        return f"is a folder holding {sum(1 for _ in path.iterdir())} item(s)"
    if path.suffix.lower() not in (".h5", ".hdf5"):
        try:
            return f"exists ({path.stat().st_size:,d} bytes)"
        except OSError:
            return "exists"
    try:
        doc = load_labels(path)
    except LabelFileError:
        return "exists (not a readable label file)"
    reviewed = np.zeros(doc.n_frames, bool)
    edited = np.zeros(doc.n_frames, bool)
    for t in doc.hands:
        reviewed |= t.reviewed
        edited |= np.isin(t.source, (int(Source.EDITED), int(Source.INTERPOLATED)))
    notes = f", {len(doc.notes)} note(s)" if doc.notes else ""
    return (
        f"exists: {int(reviewed.sum())} reviewed, {int(edited.sum())} edited frames "
        f"of {doc.n_frames}{notes}"
    )


def describe(doc: LabelDocument) -> dict[str, Any]:
    """A short JSON-able summary for `vidihand check` and the README's main command."""
    return {
        "frames": doc.n_frames,
        "fps": doc.meta.fps,
        "size": [doc.meta.width, doc.meta.height],
        "backend": f"{doc.backend} {doc.backend_version}".strip(),
        "present": doc.present_counts(),
        "sources": doc.source_counts(),
        "reviewed": {n: int(t.reviewed.sum()) for n, t in zip(HAND_NAMES, doc.hands, strict=True)},
        "joints": N_JOINTS,
    }
