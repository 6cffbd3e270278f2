"""Crash-safe autosave journal: every edit is on disk before the user sees it done.

A journal is an append-only file beside the label file (`LABELS.h5.journal`), or for a document
never saved `data_dir()/autosave/<video sha256>.journal`. It holds records, each written with one
`write` and `fsync`ed:

- `header`: journal version, label path, video hash, fingerprint (size, mtime) of the label file
  it builds on; recovery refuses to apply the changes to a label file that changed since;
- `blank`: the document was new and empty (no label file): its meta, K, notes, history and
  extras, no arrays; recovery rebuilds the empty tracks (an hour of them is ~145 MB, 2 s to
  write and fsync, which opening a video must not wait for);
- `snapshot`: the whole document (track arrays, K, meta, notes, history, extras), raw arrays
  (float labels barely compress: zlib took 15x longer than writing for a 25% saving);
- `delta`: what one gesture, undo or redo changed, as absolute values (the patches written, notes
  set, extras set, doc.history cut and appended). Replaying a delta twice gives the same state
  as once.

- `saving`: a save of the document is starting, under a random token that the saved label file
  carries (`save_id` attribute). A journal whose last `saving` token is in the file at its path,
  with no change after it, is settled: the file holds every edit (a crash between the save and
  clearing the journal), so it is dropped without asking.

Record framing: b"VJR1", u32 header length, u64 payload length, u32 CRC-32 of header+payload,
then the JSON header and the binary payload (raw little-endian arrays). A crash can only leave a
torn last record; reading stops at the first record whose length or CRC does not check out, so
recovery returns the state after the last complete record.

A write that fails (disk full, I/O error) is cut off again (the file is truncated back to the
last complete record, so no torn record can hide later ones) and raises `JournalWriteError`; the
journal is then `behind` the document, and the next change rewrites it whole (`resync`: header
and snapshot in a new file renamed over the old one), so once the disk has room again recovery
restores every change, including those whose records failed.

Lifecycle for the app: `j = Journal.open_for(labels_path)` (or `video_sha256=...` for an unsaved
document); if `j.has_recovery()`, offer `doc = j.recover(base_doc)`; then `j.start(doc)` and
`EditHistory(doc, journal=j)`; after a successful save, `j.clear()` (and `j.start(doc)` again to
keep journaling). `start` writes a snapshot only when the document can be rebuilt neither from
its label file (unchanged on disk since it was loaded or saved) nor as a blank document; later
snapshots come when changes pile up (`wants_snapshot`), written in the background.
"""

from __future__ import annotations

import contextlib
import json
import os
import struct
import threading
import time
import uuid
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import LabelFileError
from core.labels.delta import Delta
from core.labels.document import (
    TRACK_FIELDS,
    HandTrack,
    LabelDocument,
    Patch,
    VideoMeta,
)
from core.paths import data_dir

JOURNAL_VERSION = 1
#: a snapshot is due once change records since the last one hold this many bytes
DEFAULT_SNAPSHOT_BYTES = 64 * 1024 * 1024
MAGIC = b"VJR1"
_FRAME = struct.Struct("<4sIQI")  # magic, header length, payload length, crc32


class JournalWriteError(LabelFileError):
    """The autosave journal cannot be written: edits are kept in memory but not crash-safe."""

    title = "Autosave is failing"


@dataclass
class Record:
    kind: str
    header: dict[str, Any]
    payload: bytes


def _fingerprint(path: Path) -> dict[str, int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


# ------------------------------------------------------------------------------ array packing
def _pack_arrays(arrays: dict[str, np.ndarray]) -> tuple[list[dict[str, Any]], bytes]:
    specs, chunks, offset = [], [], 0
    for name, arr in arrays.items():
        a = np.ascontiguousarray(arr)
        data = a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes()
        specs.append({"name": name, "dtype": a.dtype.str, "shape": list(a.shape), "offset": offset})
        chunks.append(data)
        offset += len(data)
    return specs, b"".join(chunks)


def _unpack_arrays(specs: list[dict[str, Any]], payload: bytes) -> dict[str, np.ndarray]:
    out = {}
    for s in specs:
        dt = np.dtype(s["dtype"])
        n = int(np.prod(s["shape"], dtype=np.int64)) * dt.itemsize
        out[s["name"]] = (
            np.frombuffer(
                payload, dt, count=n // dt.itemsize if dt.itemsize else 0, offset=s["offset"]
            )
            .reshape(s["shape"])
            .copy()
        )
    return out


def _encode_delta(delta: Delta) -> tuple[dict[str, Any], bytes]:
    arrays: dict[str, np.ndarray] = {}
    patches = []
    for i, p in enumerate(delta.patches):
        arrays[f"{i}/frames"] = p.frames
        for k, v in p.values.items():
            arrays[f"{i}/{k}"] = v
        patches.append({"hand": p.hand, "fields": list(p.values)})
    specs, payload = _pack_arrays(arrays)
    header = {
        "kind": "delta",
        "label": delta.label,
        "patches": patches,
        "arrays": specs,
        "notes": [[f, t] for f, t in delta.notes],
        "history_len": delta.history_len,
        "history_append": delta.history_append,
        "extras": [[k, v] for k, v in delta.extras],
    }
    return header, payload


def _decode_delta(header: dict[str, Any], payload: bytes) -> Delta:
    arrays = _unpack_arrays(header["arrays"], payload)
    patches = [
        Patch(p["hand"], arrays[f"{i}/frames"], {k: arrays[f"{i}/{k}"] for k in p["fields"]})
        for i, p in enumerate(header["patches"])
    ]
    notes = [(int(f), t) for f, t in header["notes"]]
    extras = [(str(k), v) for k, v in header.get("extras", [])]  # absent before extras
    return Delta(
        header["label"],
        patches,
        notes,
        int(header["history_len"]),
        header["history_append"],
        extras,
    )


def _encode_snapshot(doc: LabelDocument) -> tuple[dict[str, Any], bytes]:
    arrays = {"K": doc.K}
    for h, track in enumerate(doc.hands):
        for name in TRACK_FIELDS:
            arrays[f"{h}/{name}"] = getattr(track, name)
    specs, raw = _pack_arrays(arrays)
    header = {
        "kind": "snapshot",
        "arrays": specs,
        "compression": "none",
        "meta": vars(doc.meta),
        "backend": doc.backend,
        "backend_version": doc.backend_version,
        "created": doc.created,
        "notes": {str(k): v for k, v in doc.notes.items()},
        "history": doc.history,
        "extras": doc.extras,
    }
    return header, raw


def _encode_blank(doc: LabelDocument) -> dict[str, Any]:
    """Everything of a blank document but its (empty) tracks."""
    return {
        "kind": "blank",
        "K": doc.K.tolist(),
        "meta": vars(doc.meta),
        "backend": doc.backend,
        "backend_version": doc.backend_version,
        "created": doc.created,
        "notes": {str(k): v for k, v in doc.notes.items()},
        "history": doc.history,
        "extras": doc.extras,
    }


def _decode_snapshot(header: dict[str, Any], payload: bytes) -> LabelDocument:
    meta = VideoMeta(**header["meta"])
    if header["kind"] == "blank":
        doc = LabelDocument(meta, np.asarray(header["K"], np.float64))
    else:
        raw = zlib.decompress(payload) if header.get("compression") == "zlib" else payload
        arrays = _unpack_arrays(header["arrays"], raw)
        hands = tuple(
            HandTrack(**{name: arrays[f"{h}/{name}"] for name in TRACK_FIELDS}) for h in range(2)
        )
        doc = LabelDocument(meta, arrays["K"], hands)  # type: ignore[arg-type]
    doc.backend, doc.backend_version = header["backend"], header["backend_version"]
    doc.created = header["created"]
    doc.notes = {int(k): v for k, v in header["notes"].items()}
    doc.history = list(header["history"])
    doc.extras = dict(header["extras"])
    return doc


def _file_save_id(path: str) -> str:
    """The `save_id` attribute of the label file at `path` ("" when none or unreadable)."""
    if not path:
        return ""
    from core.io.labels_h5 import read_save_id

    return read_save_id(Path(path))


# ------------------------------------------------------------------------------ the journal
class Journal:
    """The autosave journal of one document (see the module docstring for the lifecycle)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        labels_path: Path | None = None,
        *,
        snapshot_every: int = 2000,
        snapshot_bytes: int = DEFAULT_SNAPSHOT_BYTES,
    ) -> None:
        self.path = Path(path)
        self.labels_path = labels_path
        #: a snapshot is due after this many change records, or this many bytes of them
        self.snapshot_every = int(snapshot_every)
        self.snapshot_bytes = int(snapshot_bytes)
        self._fd: int | None = None
        self._pending: threading.Thread | None = None
        self._error: BaseException | None = None
        self.records_written = 0
        #: a record could not be written: the journal lacks changes the document has, and the
        #: next change must rewrite it whole (`resync`)
        self.behind = False
        #: size to cut the file back to before the next write (a failed write left a torn tail
        #: and truncating it failed too)
        self._cut_to: int | None = None
        self._records_since_snapshot = 0
        self._bytes_since_snapshot = 0

    @classmethod
    def open_for(
        cls,
        labels_path: str | os.PathLike[str] | None = None,
        *,
        video_sha256: str = "",
        **options: int,
    ) -> Journal:
        """The journal of a label file (beside it), or of an unsaved document (by video hash).

        `options`: snapshot_every, snapshot_bytes (see __init__)."""
        if labels_path is not None:
            lp = Path(labels_path).absolute()
            return cls(lp.with_name(lp.name + ".journal"), lp, **options)
        if not video_sha256:
            raise ValueError("give a labels path or the video's sha256")
        folder = data_dir() / "autosave"
        folder.mkdir(parents=True, exist_ok=True)
        return cls(folder / f"{video_sha256}.journal", None, **options)

    # ------------------------------------------------------------------ writing
    def _frame(self, header: dict[str, Any], payload: bytes = b"") -> bytes:
        head = json.dumps(header, separators=(",", ":"), allow_nan=True).encode("utf-8")
        crc = zlib.crc32(payload, zlib.crc32(head))
        return _FRAME.pack(MAGIC, len(head), len(payload), crc) + head + payload

    def _write(self, data: bytes) -> None:
        """Append one record, fsynced; on failure cut the torn tail off and raise
        JournalWriteError (the journal is then `behind`)."""
        start = None
        try:
            if self._fd is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            if self._cut_to is not None:
                self._truncate(self._cut_to)
            start = os.lseek(self._fd, 0, os.SEEK_END)
            view = memoryview(data)
            while view:
                n = self._write_bytes(self._fd, view)
                view = view[n:]
            os.fsync(self._fd)
        except OSError as exc:
            self.behind = True
            if start is not None:
                self._cut_to = start
                with contextlib.suppress(OSError):
                    self._truncate(start)
            raise self._failure(exc) from exc
        self.records_written += 1

    @staticmethod
    def _write_bytes(fd: int, view: memoryview) -> int:
        """One os.write (a seam for tests that simulate a full disk)."""
        return os.write(fd, view)

    def _truncate(self, size: int) -> None:
        assert self._fd is not None
        os.ftruncate(self._fd, size)
        os.fsync(self._fd)
        self._cut_to = None

    def _failure(self, exc: BaseException) -> JournalWriteError:
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        return JournalWriteError(
            f"Autosave cannot write its journal {self.path} ({reason}): your edits are kept "
            "in this window, but a crash now would lose them.",
            hint="Save your work now, to another disk if this one is full (File > Save As).",
        )

    def _write_in_background(self, data: bytes) -> None:
        try:
            self._write(data)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller by _wait()
            self._error = exc

    def _wait(self) -> None:
        """Let a snapshot being written in the background finish (records keep their order)."""
        if self._pending is not None:
            self._pending.join()
            self._pending = None
        if self._error is not None:
            exc, self._error = self._error, None
            if isinstance(exc, JournalWriteError):
                raise exc
            self.behind = True
            raise self._failure(exc) from exc

    def _append(self, header: dict[str, Any], payload: bytes = b"") -> None:
        self._wait()
        self._write(self._frame(header, payload))

    def start(self, doc: LabelDocument) -> None:
        """Begin journaling `doc` (after opening, recovering or saving it).

        Writes a header, and what recovery starts from when the label file (unchanged on disk,
        checked by size and mtime) cannot be: a `blank` record for a new empty document (a few
        hundred bytes), else a full snapshot.
        """
        self.clear()
        self.behind = False
        for data in self._opening(doc):
            self._append_raw(data)

    def _opening(self, doc: LabelDocument) -> list[bytes]:
        """The records a journal of `doc` starts with: a header, and what recovery starts from
        when the label file cannot be (a blank record or a snapshot)."""
        base = _fingerprint(self.labels_path) if self.labels_path else None
        header = {
            "kind": "header",
            "version": JOURNAL_VERSION,
            "labels_path": str(self.labels_path or ""),
            "video_sha256": doc.meta.video_sha256,
            "base": base,
        }
        out = [self._frame(header)]
        if base is not None and not doc.dirty:
            return out
        if doc.blank:
            out.append(self._frame(_encode_blank(doc)))
        else:
            out.append(self._frame(*_encode_snapshot(doc)))
            self._records_since_snapshot = self._bytes_since_snapshot = 0
        return out

    def _append_raw(self, data: bytes) -> None:
        self._wait()
        self._write(data)

    def resync(self, doc: LabelDocument) -> None:
        """Rewrite the journal whole for `doc` (after failed writes left it `behind`): a new
        file with a header and a snapshot, renamed over the old one, so the old journal stays
        valid until the new one is complete. Raises JournalWriteError if it cannot."""
        with contextlib.suppress(LabelFileError):  # a failed background snapshot: superseded
            self.close()
        tmp = self.path.with_name(self.path.name + ".new")
        try:
            data = b"".join(self._opening(doc))
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                view = memoryview(data)
                while view:
                    view = view[self._write_bytes(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, self.path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            self.behind = True
            raise self._failure(exc) from exc
        self.behind = False
        self._cut_to = None

    def mark_saving(self, target: str | os.PathLike[str]) -> str:
        """Record that the document is being saved to `target`; returns the token the saved
        file must carry (`save_labels(..., save_id=token)`). A crash after the save but before
        the journal is cleared then leaves a settled journal, dropped on the next open."""
        token = uuid.uuid4().hex
        path = str(Path(target).absolute())
        self._append({"kind": "saving", "token": token, "path": path})
        return token

    def record(self, delta: Delta) -> None:
        """Append one gesture's (or undo's, redo's) change. Called by EditHistory."""
        header, payload = _encode_delta(delta)
        self._append(header, payload)
        self._records_since_snapshot += 1
        self._bytes_since_snapshot += len(payload)

    def wants_snapshot(self) -> bool:
        """True when enough changes piled up that recovery should start from a new snapshot."""
        return (
            self._records_since_snapshot >= self.snapshot_every
            or self._bytes_since_snapshot >= self.snapshot_bytes
        )

    def snapshot(self, doc: LabelDocument, *, background: bool = False) -> None:
        """Append the whole document: recovery starts from the last snapshot.

        With `background`, the document is copied now and written by a thread (an hour of
        labels is ~150 MB, seconds on a slow disk); the next record waits for it, so records
        stay in order and nothing after the snapshot is lost.
        """
        data = self._frame(*_encode_snapshot(doc))
        self._wait()
        self._records_since_snapshot = self._bytes_since_snapshot = 0
        if not background:
            self._write(data)
            return
        self._pending = threading.Thread(
            target=self._write_in_background, args=(data,), name="journal-snapshot"
        )
        self._pending.start()

    def close(self) -> None:
        try:
            self._wait()
        finally:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def clear(self) -> None:
        """Remove the journal (after a successful save: the file now holds everything)."""
        with contextlib.suppress(LabelFileError):  # a failed background write: moot now
            self.close()
        self.behind = False
        self._cut_to = None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    # ------------------------------------------------------------------ reading
    def records(self) -> list[Record]:
        """The complete records of the journal file, stopping at a torn or damaged tail."""
        self._wait()
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return []
        out, pos = [], 0
        while pos + _FRAME.size <= len(data):
            magic, hlen, plen, crc = _FRAME.unpack_from(data, pos)
            start, end = pos + _FRAME.size, pos + _FRAME.size + hlen + plen
            if magic != MAGIC or end > len(data):
                break
            head, payload = data[start : start + hlen], data[start + hlen : end]
            if zlib.crc32(payload, zlib.crc32(head)) != crc:
                break
            header = json.loads(head)
            out.append(Record(header["kind"], header, payload))
            pos = end
        return out

    def _unsaved(self, records: list[Record]) -> tuple[list[Record], bool]:
        """The records after the last save that reached its file (and whether there was one).

        A `saving` record whose token the label file at its path carries means that file holds
        the state of every record before it."""
        for i in range(len(records) - 1, -1, -1):
            r = records[i]
            if r.kind == "saving" and _file_save_id(r.header.get("path", "")) == r.header.get(
                "token"
            ):
                return records[i + 1 :], True
        return records, False

    def has_recovery(self) -> bool:
        """True when the journal holds unsaved work (a snapshot or any change)."""
        rest, _ = self._unsaved(self.records())
        return any(r.kind in ("delta", "snapshot") for r in rest)

    def recover(self, base_doc: LabelDocument | None = None) -> LabelDocument:
        """The document as it was after the last complete record.

        Starts from the last snapshot (or blank document record), or from `base_doc` (the label
        file as saved, loaded by the caller) when there is none; the result is marked dirty (it is
        not saved yet). Raises LabelFileError, leaving the journal as it is, when the label file
        changed on disk since the journal began: the changes belong to the file as it was then.
        """
        records, saved = self._unsaved(self.records())
        last_snap = max(
            (i for i, r in enumerate(records) if r.kind in ("snapshot", "blank")), default=-1
        )
        if last_snap >= 0:
            doc = _decode_snapshot(records[last_snap].header, records[last_snap].payload)
        elif base_doc is not None:
            if not saved:  # else the base is the file that save wrote, checked by its token
                self._check_base(records)
            doc = base_doc.copy()
        else:
            raise LabelFileError(
                f"The journal {self.path.name} holds changes but no snapshot to apply them to.",
                hint="Open the label file it belongs to and recover with that document.",
            )
        for r in records[last_snap + 1 :]:
            if r.kind == "delta":
                _decode_delta(r.header, r.payload).apply(doc)
        doc.dirty = True
        return doc

    def _check_base(self, records: list[Record]) -> None:
        """Raise unless the label file is the one the journal's changes were made on."""
        head = records[0].header if records and records[0].kind == "header" else {}
        expected = head.get("base")
        # the file beside the journal (the two may have been moved together), else the one named
        where = self.labels_path or head.get("labels_path")
        if expected is None or not where:
            return  # a journal without a fingerprint (none was saved): nothing to compare
        labels = Path(where)
        now = _fingerprint(labels)
        if now != expected:
            state = "was deleted" if now is None else "changed on disk (size or time differ)"
            raise LabelFileError(
                f"{labels.name} {state} since the unsaved changes in {self.path.name} were "
                "made; applying them to it could mix two versions of the labels.",
                hint=f"Nothing was applied and {self.path} is left as it is. Put the label file "
                "back as it was (e.g. from a backup) and open it again to recover them.",
            )

    def set_aside(self) -> Path | None:
        """Rename the journal to `<name>.<time>.kept` so that starting afresh does not delete
        changes that could not be recovered; returns the new path (None without a journal)."""
        self.close()
        if not self.path.exists():
            return None
        kept = self.path.with_name(f"{self.path.name}.{time.strftime('%Y%m%d-%H%M%S')}.kept")
        os.replace(self.path, kept)
        return kept

    def describe(self) -> dict[str, Any]:
        """A summary for a "restore unsaved work?" dialog."""
        records, _ = self._unsaved(self.records())
        deltas = [r.header["label"] for r in records if r.kind == "delta"]
        return {
            "path": str(self.path),
            "changes": len(deltas),
            "last_change": deltas[-1] if deltas else None,
            "has_snapshot": any(r.kind in ("snapshot", "blank") for r in records),
            "modified": os.path.getmtime(self.path) if self.path.exists() else None,
        }

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
