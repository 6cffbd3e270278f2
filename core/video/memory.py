"""Give freed frames back to the operating system at once.

glibc's malloc serves blocks from 128 KiB up with mmap and unmaps them on free, but after the
first such free it raises that threshold to the freed size (up to 32 MiB). From then on decoded
frames (6 MiB at 1080p, 25 MiB RGB at 4K) come from the heaps of the threads that decode them,
and a heap only shrinks from its top: frames evicted from the cache, frame-thread buffers and
reformatter outputs leave holes that stay resident. Resident memory then grows to several
times what is live. A fixed threshold keeps every frame-sized block on mmap, so a freed frame
is returned immediately (costing a page fault per 4 KiB when the next frame is written).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

#: blocks from this size on are mmapped and unmapped on free (fixed: no dynamic raise)
MMAP_THRESHOLD = 1 << 20
_M_MMAP_THRESHOLD = -3  # glibc malloc.h

_done = False


def return_freed_frames() -> bool:
    """Fix glibc's mmap threshold for this process (once; later calls do nothing). False where
    malloc is not glibc's (macOS, Windows, musl): those allocators need no help here."""
    global _done
    if _done:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    _done = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD))
    return _done
