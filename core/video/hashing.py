"""SHA-256 of a video file (or an image folder's files), cached by path, size and mtime so that
reopening a large video does not hash it again."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from core.paths import cache_dir
from core.video.reader import IMAGE_EXTENSIONS

_CHUNK = 8 * 1024 * 1024


def _cache_file() -> Path:
    return cache_dir() / "video_hashes.json"


def _load_cache() -> dict[str, str]:
    try:
        cache: dict[str, str] = json.loads(_cache_file().read_text())
        return cache
    except (OSError, ValueError):
        return {}


def cached_video_sha256(path: str | os.PathLike[str]) -> str | None:
    """The hash if this file (same path, size and mtime) was hashed before, else None; never
    reads the video (the app uses it to hash big files on a thread only when needed)."""
    p = Path(path).resolve()
    st = p.stat()
    return _load_cache().get(f"{p}|{st.st_size}|{st.st_mtime_ns}")


def video_sha256(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of the file's bytes; for a folder, of its image files' names and bytes."""
    p = Path(path).resolve()
    st = p.stat()
    key = f"{p}|{st.st_size}|{st.st_mtime_ns}"
    cache = _load_cache()
    if key in cache:
        return cache[key]
    h = hashlib.sha256()
    if p.is_dir():
        for f in sorted(x for x in p.iterdir() if x.suffix.lower() in IMAGE_EXTENSIONS):
            h.update(f.name.encode())
            _feed(h, f)
    else:
        _feed(h, p)
    digest = h.hexdigest()
    cache[key] = digest
    if len(cache) > 5000:
        cache = dict(list(cache.items())[-2500:])
    try:
        from core.io.atomic import atomic_write_bytes

        atomic_write_bytes(_cache_file(), json.dumps(cache).encode())
    except OSError:
        pass  # a read-only cache folder only costs a re-hash later
    return digest


def _feed(h: hashlib._Hash, path: Path) -> None:
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
