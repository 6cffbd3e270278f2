"""A thread-safe LRU cache of decoded frames, bounded in bytes (not in frames), so that memory
stays the same however long the video and whatever its resolution."""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np

DEFAULT_CACHE_BYTES = 256 * 1024 * 1024


class FrameCache:
    """LRU of frame index -> read-only array. Shared by a video and its forks (prefetch)."""

    def __init__(self, max_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        self.max_bytes = int(max_bytes)
        self._items: OrderedDict[int, np.ndarray] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, index: int) -> np.ndarray | None:
        with self._lock:
            item = self._items.get(index)
            if item is not None:
                self._items.move_to_end(index)
            return item

    def peek(self, index: int) -> np.ndarray | None:
        """Like get, without marking the frame as recently used."""
        with self._lock:
            return self._items.get(index)

    def put(self, index: int, frame: np.ndarray) -> list[np.ndarray]:
        """Keep `frame`; returns the frames evicted to make room (their owner may reuse the
        memory of those nobody else holds)."""
        evicted: list[np.ndarray] = []
        with self._lock:
            if index in self._items:
                self._items.move_to_end(index)
                return evicted
            self._items[index] = frame
            self._bytes += frame.nbytes
            while self._bytes > self.max_bytes and len(self._items) > 1:
                _, old = self._items.popitem(last=False)
                self._bytes -= old.nbytes
                evicted.append(old)
        return evicted

    def __contains__(self, index: int) -> bool:
        with self._lock:
            return index in self._items

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    @property
    def nbytes(self) -> int:
        with self._lock:
            return self._bytes

    def indices(self) -> list[int]:
        with self._lock:
            return list(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0
