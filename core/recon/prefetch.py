"""Decode frames on a background thread while the model works on the previous ones.

PyAV releases the GIL while decoding and MediaPipe while inferring, so overlapping the two
hides most of the decode time. The queue is bounded: memory stays a few frames whatever the
video's length.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator, Iterator
from typing import TypeVar

T = TypeVar("T")

_END = object()


class _Failure:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def prefetch(source: Iterator[T], depth: int = 4) -> Generator[T, None, None]:
    """Yield the items of `source`, produced `depth` items ahead on a daemon thread.

    Exceptions raised by `source` are re-raised in the consumer, in order. Closing the returned
    generator (or dropping it) stops the producer and closes `source` on the producer's thread,
    so locks `source` holds are released where they were taken.
    """
    if depth <= 0:
        yield from source
        return
    q: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in source:
                if not put(item):
                    break
            else:
                put(_END)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            put(_Failure(exc))
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=produce, name="vidihand-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is _END:
                return
            if isinstance(item, _Failure):
                raise item.exc
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        thread.join(timeout=5.0)
