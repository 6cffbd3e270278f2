"""Uploaded files on the server, stored by the SHA-256 of their bytes.

An upload is written to `<sha>.part` as chunks arrive (so an interrupted upload resumes at its
size), hashed on the fly, and renamed to `<sha>` only when size and digest match what the client
announced. A file already stored is never uploaded twice.
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

from core.remote.paths import check_sha256, child
from core.remote.protocol import ProtocolError


class Upload:
    """One upload in progress on one connection."""

    def __init__(self, store: BlobStore, sha: str, size: int) -> None:
        self.store, self.sha, self.size = store, sha, size
        self.part = child(store.root, sha + ".part")
        self._hash = hashlib.sha256()
        self.offset = 0
        if self.part.exists():
            # resume: re-hash what an earlier connection wrote
            with open(self.part, "rb") as fh:
                while chunk := fh.read(8 << 20):
                    self._hash.update(chunk)
                    self.offset += len(chunk)
            if self.offset > size:
                self.part.unlink()
                self._hash, self.offset = hashlib.sha256(), 0
        self._fh = open(self.part, "ab")

    def write(self, offset: int, data: memoryview | bytes) -> None:
        if offset != self.offset:
            raise ProtocolError(
                f"upload chunk at offset {offset}, expected {self.offset}.", code="bad_request"
            )
        if self.offset + len(data) > self.size:
            raise ProtocolError(
                f"upload is longer than the {self.size} bytes announced.", code="too_large"
            )
        self._fh.write(data)
        self._hash.update(data)
        self.offset += len(data)

    def finish(self) -> Path:
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()
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
        if not self._fh.closed:
            self._fh.close()


class BlobStore:
    """Content-addressed uploads under one folder."""

    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes
        root.mkdir(parents=True, exist_ok=True)
        self._cond = threading.Condition()
        self._active: set[str] = set()
        #: sha -> the client's file name, only to make messages readable (never used as a path)
        self.names: dict[str, str] = {}

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

    def begin(self, sha: str, size: int, wait: float = 600.0) -> Upload | None:
        """Start (or resume) the upload of `sha`; None when the server has the file already.
        While another connection uploads the same file, wait for it rather than refuse."""
        check_sha256(sha)
        if size < 0 or size > self.max_bytes:
            raise ProtocolError(
                f"upload of {size} bytes is over this server's limit of {self.max_bytes} bytes.",
                code="too_large",
                hint="Ask the server's owner to raise --max-upload-mb, or cut the video shorter.",
            )
        with self._cond:
            if not self._cond.wait_for(lambda: sha not in self._active, wait):
                raise ProtocolError(
                    "the same file has been uploading on another connection for too long.",
                    code="busy",
                    hint="Wait for that upload to finish; the file will then be reused.",
                )
            if self.path(sha) is not None:
                return None
            self._active.add(sha)
        try:
            return Upload(self, sha, size)
        except BaseException:
            self.release(sha)
            raise

    def release(self, sha: str) -> None:
        with self._cond:
            self._active.discard(sha)
            self._cond.notify_all()
