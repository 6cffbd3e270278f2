"""Uploaded files on the server, stored by the SHA-256 of their bytes.

An upload is written to `<sha>.part` as chunks arrive (so an interrupted upload resumes at its
size), hashed on the fly, and renamed to `<sha>` only when size and digest match what the client
announced. A file already stored is never uploaded twice.

Unfinished uploads cannot pile up: `.part` files untouched for `Limits.partial_ttl_s` are
deleted, and their total size is capped (`Limits.max_partial_bytes`; the oldest idle ones make
room). A second upload of the same file waits for the first only while that one makes progress;
one that sent nothing for `Limits.upload_stall_s` is taken over (the new connection resumes
from the `.part`, the old one is told so at its next chunk).
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from core.remote.limits import Limits
from core.remote.paths import check_sha256, child
from core.remote.protocol import ProtocolError

log = logging.getLogger("vidihand.remote")


class Upload:
    """One upload in progress on one connection."""

    def __init__(
        self, store: BlobStore, sha: str, size: int, heard: Callable[[], float] | None = None
    ) -> None:
        self.store, self.sha, self.size = store, sha, size
        #: when the uploading connection last received bytes (a chunk may take long to arrive)
        self._heard = heard
        self.part = child(store.root, sha + ".part")
        self._hash = hashlib.sha256()
        self.offset = 0
        self._lock = threading.Lock()
        self._fh: BinaryIO | None = None
        self.taken_over = False
        self.last_activity = time.monotonic()

    def open(self) -> None:
        """Open the `.part` for appending; an existing one (an earlier connection's) is hashed
        again so the upload resumes at its end."""
        with self._lock:
            if self.part.exists():
                with open(self.part, "rb") as fh:
                    while chunk := fh.read(8 << 20):
                        self._hash.update(chunk)
                        self.offset += len(chunk)
                        self.last_activity = time.monotonic()
                if self.offset > self.size:
                    self.part.unlink()
                    self._hash, self.offset = hashlib.sha256(), 0
            self._fh = open(self.part, "ab")
            self.last_activity = time.monotonic()

    def idle_s(self) -> float:
        """Seconds since this upload last did something (opened, wrote a chunk, or received
        bytes of one)."""
        last = self.last_activity
        if self._heard is not None:
            last = max(last, self._heard())
        return time.monotonic() - last

    def take_over(self) -> None:
        """Another connection takes this stalled upload over: stop writing to the `.part`."""
        with self._lock:
            self.taken_over = True
            if self._fh is not None and not self._fh.closed:
                self._fh.close()

    def _check_owner(self) -> BinaryIO:
        if self.taken_over or self._fh is None:
            raise ProtocolError(
                "this upload stalled and another connection took it over.",
                code="busy",
                hint="The other connection is uploading the same file; it will then be reused.",
            )
        return self._fh

    def write(self, offset: int, data: memoryview | bytes) -> None:
        with self._lock:
            self._write(offset, data)
            self.last_activity = time.monotonic()

    def _write(self, offset: int, data: memoryview | bytes) -> None:
        fh = self._check_owner()
        if offset != self.offset:
            raise ProtocolError(
                f"upload chunk at offset {offset}, expected {self.offset}.", code="bad_request"
            )
        if self.offset + len(data) > self.size:
            raise ProtocolError(
                f"upload is longer than the {self.size} bytes announced.", code="too_large"
            )
        fh.write(data)
        self._hash.update(data)
        self.offset += len(data)

    def finish(self) -> Path:
        with self._lock:
            return self._finish()

    def _finish(self) -> Path:
        fh = self._check_owner()
        fh.flush()
        os.fsync(fh.fileno())
        fh.close()
        if self.offset != self.size:
            raise ProtocolError(
                f"upload ended at {self.offset} of {self.size} bytes.",
                code="bad_request",
                hint="Send the remaining chunks, then upload_end.",
            )
        digest = self._hash.hexdigest()
        if digest != self.sha:
            self.part.unlink(missing_ok=True)
            raise ProtocolError(
                f"uploaded bytes hash to {digest[:12]}..., not the announced {self.sha[:12]}...",
                code="bad_request",
                hint="The file changed during the upload or was damaged on the way; upload it again.",
            )
        dest = child(self.store.root, self.sha)
        os.replace(self.part, dest)
        return dest

    def abort(self) -> None:
        """Keep what was written (a later upload resumes from it) but close the file."""
        with self._lock:
            if self._fh is not None and not self._fh.closed:
                self._fh.close()


class BlobStore:
    """Content-addressed uploads under one folder."""

    def __init__(self, root: Path, max_bytes: int, limits: Limits | None = None) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self.limits = limits or Limits()
        #: room for unfinished uploads, all together
        self.max_partial_bytes = self.limits.max_partial_bytes or 2 * max_bytes
        root.mkdir(parents=True, exist_ok=True)
        self._cond = threading.Condition()
        self._active: dict[str, Upload] = {}
        #: sha -> the client's file name, only to make messages readable (never used as a path)
        self.names: dict[str, str] = {}
        with self._cond:
            self._expire_parts()

    def remember_name(self, sha: str, name: object) -> None:
        if isinstance(name, str):
            clean = "".join(
                c for c in name.replace("\\", "/").rsplit("/", 1)[-1] if c.isprintable()
            )
            if clean:
                self.names[sha] = clean[:120]

    def readable(self, text: str) -> str:
        """`text` with stored file names in place of digests (for error messages)."""
        for sha, name in list(self.names.items()):
            text = text.replace(sha, name)
        return text

    def path(self, sha: str) -> Path | None:
        """The stored file for `sha`, or None when it has not been uploaded (completely)."""
        p = child(self.root, check_sha256(sha))
        return p if p.is_file() else None

    def begin(
        self,
        sha: str,
        size: int,
        wait: float = 600.0,
        heard: Callable[[], float] | None = None,
    ) -> Upload | None:
        """Start (or resume) the upload of `sha`; None when the server has the file already.
        While another connection uploads the same file and makes progress, wait for it (at
        most `wait` seconds); once it has stalled (received nothing) for `upload_stall_s`, take
        it over. `heard()`: when this upload's connection last received bytes."""
        check_sha256(sha)
        if size < 0 or size > self.max_bytes:
            raise ProtocolError(
                f"upload of {size} bytes is over this server's limit of {self.max_bytes} bytes.",
                code="too_large",
                hint="Ask the server's owner to raise --max-upload-mb, or cut the video shorter.",
            )
        give_up = time.monotonic() + wait
        stall = self.limits.upload_stall_s
        with self._cond:
            while True:
                if self.path(sha) is not None:
                    return None
                current = self._active.get(sha)
                if current is None:
                    break
                idle = current.idle_s()
                if idle >= stall:
                    log.info("upload %s stalled for %.0f s: taken over", sha[:12], idle)
                    current.take_over()
                    del self._active[sha]
                    break
                left = give_up - time.monotonic()
                if left <= 0:
                    raise ProtocolError(
                        "the same file has been uploading on another connection for too long.",
                        code="busy",
                        hint="Wait for that upload to finish; the file will then be reused.",
                    )
                self._cond.wait(min(left, stall - idle + 0.01))
            self._make_room(sha, size)
            upload = Upload(self, sha, size, heard)
            self._active[sha] = upload
        try:
            upload.open()
        except BaseException:
            self.release(upload)
            raise
        return upload

    def release(self, upload: Upload) -> None:
        """`upload` is over on its connection (finished, failed or cut): others may go on."""
        with self._cond:
            if self._active.get(upload.sha) is upload:
                del self._active[upload.sha]
            self._cond.notify_all()

    # ------------------------------------------------------- unfinished uploads
    def _parts(self) -> list[tuple[str, os.stat_result]]:
        """(sha, stat) of every `.part` file, oldest first (by last write)."""
        out = []
        with os.scandir(self.root) as it:
            for entry in it:
                if entry.name.endswith(".part") and entry.is_file(follow_symlinks=False):
                    try:
                        out.append((entry.name[: -len(".part")], entry.stat(follow_symlinks=False)))
                    except OSError:
                        continue
        return sorted(out, key=lambda item: item[1].st_mtime)

    def _expire_parts(self) -> list[tuple[str, os.stat_result]]:
        """Delete idle `.part` files older than the time limit; returns the ones left."""
        now, left = time.time(), []
        for sha, st in self._parts():
            if sha not in self._active and now - st.st_mtime > self.limits.partial_ttl_s:
                self._delete_part(sha, "expired")
            else:
                left.append((sha, st))
        return left

    def _make_room(self, sha: str, size: int) -> None:
        """Make room for an upload of `size` bytes among the unfinished ones (caller holds the
        lock): expire old `.part` files, then delete the oldest idle ones while over the cap."""
        parts = self._expire_parts()

        def charged(item: tuple[str, os.stat_result]) -> int:
            other, st = item
            upload = self._active.get(other)
            return max(st.st_size, upload.size if upload is not None else 0)

        others = [item for item in parts if item[0] != sha]
        used = sum(charged(item) for item in others) + size
        for item in others:
            if used <= self.max_partial_bytes:
                break
            if item[0] not in self._active:
                self._delete_part(item[0], "space for unfinished uploads is full")
                used -= charged(item)
        if used > self.max_partial_bytes:
            raise ProtocolError(
                f"unfinished uploads fill the {self.max_partial_bytes >> 20} MiB this server "
                "keeps for them.",
                code="busy",
                hint="Retry when the uploads in progress have finished.",
            )

    def _delete_part(self, sha: str, why: str) -> None:
        try:
            (self.root / (sha + ".part")).unlink()
            log.info("deleted unfinished upload %s (%s)", sha[:12], why)
        except OSError:
            pass
