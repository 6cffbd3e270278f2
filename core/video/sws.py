"""Display copies scaled by FFmpeg's swscale straight into memory the caller keeps.

PyAV's `VideoReformatter.reformat` allocates a new output frame for every call. In this process
frame-sized blocks are mmapped and returned on free (core/video/memory.py), so every 1080p
display copy cost ~630 page faults and a kernel-zeroed 2.5 MiB before swscale wrote it, then a
2.5 MiB copy into the array the GUI paints: 3.8-4.6 ms a frame on this machine where scaling
alone is 1.7-2.2 ms. `DirectScaler` calls the same swscale library PyAV loaded (found among the
process's mapped libraries, so versions always agree) through ctypes, with the source frame's
planes and the caller's array as destination: no allocation, no copy. ctypes releases the GIL
during the call, as PyAV does.

Same pixels as PyAV: `sws_scale_frame`, which PyAV calls, reads the frame's colour space, range
and chroma siting from the frame; the legacy `sws_scale` used here is given the same (BT.601
for an untagged frame, limited range unless tagged full or a yuvj format, chroma sited left for
4:2:0 and 4:2:2 as FFmpeg assumes for an unspecified location). Each new kind of frame (size,
pixel format, colour tags, output size) is checked once against PyAV's reformat; a kind that
differs (a frame whose chroma siting is signalled otherwise) is scaled by PyAV from then on,
so a display copy is always the picture PyAV would give. Where the library cannot be found
(PyAV built some other way, another platform) `DirectScaler.create()` returns None and callers
use PyAV.
"""

from __future__ import annotations

import ctypes
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

#: swscale flag for area averaging (what the display copies use)
SWS_AREA = 0x20
#: AVColorSpace -> swscale's coefficient table (SWS_CS_*); others keep swscale's default
_SWS_CS = {1: 1, 4: 4, 5: 5, 6: 5, 7: 7, 9: 9, 10: 9}
_AVCOL_RANGE_JPEG = 2

_lock = threading.Lock()
_libs: tuple[Any, Any] | None | bool = False  # False: not looked up yet


def _loaded_library(stem: str, home: Path) -> str | None:
    """Path of the shared library `stem` (e.g. "libswscale") that PyAV uses, among those this
    process has mapped (Linux): the one in PyAV's wheel (`home`: the av package; its libraries
    lie in av.libs beside it), else the only one mapped. None when it cannot be told (OpenCV's
    wheel maps its own FFmpeg too)."""
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return None
    found: set[str] = set()
    for line in maps.splitlines():
        fields = line.split(maxsplit=5)
        if len(fields) < 6:
            continue
        name = Path(fields[5]).name
        if name.startswith(stem + "-") or name.startswith(stem + "."):
            found.add(fields[5])
    roots = (str(home) + "/", str(home.parent / "av.libs") + "/")
    own = sorted(p for p in found if p.startswith(roots))
    if own:
        return own[0]
    return found.pop() if len(found) == 1 else None


def _load() -> tuple[Any, Any] | None:
    """(swscale, avutil) as ctypes libraries, the copies PyAV uses; None when not found."""
    global _libs
    with _lock:
        if _libs is False:
            _libs = _find()
        return _libs if isinstance(_libs, tuple) else None


def _find() -> tuple[Any, Any] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        import av
        import av.video.reformatter  # noqa: F401 - maps PyAV's libswscale into the process
    except ImportError:
        return None
    home = Path(av.__file__).resolve().parent
    paths = [_loaded_library(s, home) for s in ("libswscale", "libavutil")]
    if None in paths:
        return None
    try:
        sws, avu = (ctypes.CDLL(p) for p in paths if p is not None)
        _declare(sws, avu)
    except (OSError, AttributeError):
        return None
    return sws, avu


def _declare(sws: Any, avu: Any) -> None:
    P, N = ctypes.c_void_p, ctypes.c_int  # noqa: N806 - C types
    IP = ctypes.POINTER(N)  # noqa: N806
    sws.sws_alloc_context.restype = P
    sws.sws_alloc_context.argtypes = []
    sws.sws_init_context.restype = N
    sws.sws_init_context.argtypes = [P, P, P]
    sws.sws_freeContext.restype = None
    sws.sws_freeContext.argtypes = [P]
    sws.sws_scale.restype = N
    sws.sws_scale.argtypes = [P, ctypes.POINTER(P), IP, N, N, ctypes.POINTER(P), IP]
    sws.sws_getCoefficients.restype = IP
    sws.sws_getCoefficients.argtypes = [N]
    sws.sws_getColorspaceDetails.restype = N
    sws.sws_getColorspaceDetails.argtypes = [
        P,
        ctypes.POINTER(IP),
        IP,
        ctypes.POINTER(IP),
        IP,
        IP,
        IP,
        IP,
    ]
    sws.sws_setColorspaceDetails.restype = N
    sws.sws_setColorspaceDetails.argtypes = [P, IP, N, IP, N, N, N, N]
    avu.av_opt_set_int.restype = N
    avu.av_opt_set_int.argtypes = [P, ctypes.c_char_p, ctypes.c_int64, N]
    avu.av_get_pix_fmt.restype = N
    avu.av_get_pix_fmt.argtypes = [ctypes.c_char_p]


def available() -> bool:
    return _load() is not None


class DirectScaler:
    """Scales decoded frames (`av.VideoFrame`) to BGRA into the caller's arrays. One per
    thread (its swscale context is not shared)."""

    def __init__(self, sws: Any, avu: Any, reference: Callable[[Any, tuple[int, int]], np.ndarray]):
        self._sws, self._avu = sws, avu
        #: PyAV's result for a frame and size: what each new kind of frame is checked against
        self._reference = reference
        self._ctx: int | None = None
        self._key: tuple[Any, ...] | None = None
        #: kind of frame -> the direct path gives PyAV's pixels
        self._verdict: dict[tuple[Any, ...], bool] = {}
        self._bgra = avu.av_get_pix_fmt(b"bgra")
        #: frames scaled here (tests, benchmarks)
        self.scaled = 0

    @classmethod
    def create(cls, reference: Callable[[Any, tuple[int, int]], np.ndarray]) -> DirectScaler | None:
        libs = _load()
        return None if libs is None else cls(*libs, reference)

    def scale(self, frame: Any, size: tuple[int, int], out: np.ndarray) -> bool:
        """Write `frame` scaled to `size` (w, h) as BGRA into `out`, a C-contiguous writable
        (h, w, 4) uint8 array. False when this kind of frame is left to PyAV."""
        w, h = size
        if out.shape != (h, w, 4) or out.dtype != np.uint8 or not out.flags.c_contiguous:
            return False
        if not out.flags.writeable:
            return False
        key = (
            frame.width,
            frame.height,
            frame.format.name,
            int(frame.colorspace),
            int(frame.color_range),
            w,
            h,
        )
        if self._verdict.get(key) is False:
            return False
        if key != self._key and not self._setup(key, frame):
            self._verdict[key] = False
            return False
        planes = frame.planes
        n = len(planes)
        src = (ctypes.c_void_p * 4)(*[p.buffer_ptr for p in planes], *([None] * (4 - n)))
        strides = (ctypes.c_int * 4)(*[p.line_size for p in planes], *([0] * (4 - n)))
        dst = (ctypes.c_void_p * 4)(out.ctypes.data, None, None, None)
        dst_strides = (ctypes.c_int * 4)(w * 4, 0, 0, 0)
        if self._sws.sws_scale(self._ctx, src, strides, 0, frame.height, dst, dst_strides) != h:
            self._verdict[key] = False
            return False
        if key not in self._verdict:  # first of its kind: the same pixels as PyAV's?
            same = np.array_equal(out, self._reference(frame, size))
            self._verdict[key] = same
            if not same:
                return False
        self.scaled += 1
        return True

    def _setup(self, key: tuple[Any, ...], frame: Any) -> bool:
        """A swscale context for this kind of frame (the last one is freed)."""
        self.close()
        sws, avu = self._sws, self._avu
        src_w, src_h, fmt_name, colorspace, color_range, w, h = key
        src_fmt = avu.av_get_pix_fmt(fmt_name.encode())
        if src_fmt < 0:
            return False
        ctx = sws.sws_alloc_context()
        if not ctx:
            return False
        self._ctx = ctx
        options = {
            "srcw": src_w,
            "srch": src_h,
            "src_format": src_fmt,
            "dstw": w,
            "dsth": h,
            "dst_format": self._bgra,
            "sws_flags": SWS_AREA,
            "threads": 1,  # see core/video/display.py, SWS_THREADS
        }
        fmt = frame.format
        yuv = not fmt.is_rgb  # (RGB sources have no colour matrix or chroma planes)
        if yuv and len(fmt.components) >= 3:
            # chroma sited as FFmpeg takes an unspecified location: left, and centred
            # vertically between the rows a 4:2:0 chroma sample covers
            subsampled_v = any(c.height != frame.height for c in fmt.components[1:3])
            options["src_h_chr_pos"] = 0
            options["src_v_chr_pos"] = 128 if subsampled_v else 0
        if yuv and color_range == _AVCOL_RANGE_JPEG:
            options["src_range"] = 1
        for name, value in options.items():
            if avu.av_opt_set_int(ctx, name.encode(), value, 0) < 0:
                self.close()
                return False
        if sws.sws_init_context(ctx, None, None) < 0:
            self.close()
            return False
        if yuv and colorspace in _SWS_CS:
            IP = ctypes.POINTER(ctypes.c_int)  # noqa: N806
            inv, table = IP(), IP()
            src_range, dst_range = ctypes.c_int(), ctypes.c_int()
            bri, con, sat = ctypes.c_int(), ctypes.c_int(), ctypes.c_int()
            details = (inv, src_range, table, dst_range, bri, con, sat)
            if sws.sws_getColorspaceDetails(ctx, *map(ctypes.byref, details)) >= 0:
                coeffs = sws.sws_getCoefficients(_SWS_CS[colorspace])
                sws.sws_setColorspaceDetails(
                    ctx, coeffs, src_range.value, table, dst_range.value,
                    bri.value, con.value, sat.value,
                )  # fmt: skip
        self._key = key
        return True

    def close(self) -> None:
        if self._ctx:
            self._sws.sws_freeContext(self._ctx)
        self._ctx, self._key = None, None

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001, S110 - interpreter shutdown: nothing to free into
            pass
