"""The frame index of a video stream: every frame's presentation timestamp, found by demuxing
(reading packets without decoding them).

Frame i of a video is the i-th presentation timestamp (pts) in sorted order, counting only
packets the decoder will hand out (packets FFmpeg flags as discarded, e.g. the part of a GOP
that an edit list cuts away, are left out). The index can be built at once (`scan` on the
caller's thread) or by a background thread (`BackgroundIndexer`) for long videos: it then grows
while the video is already in use, and a frame counts as indexed once no later packet can sort
before it (its pts is at or below the largest decode timestamp seen so far).

Streams without any timestamps (raw .h264/.hevc elementary streams) get ordinal "timestamps":
frame i is the i-th frame the decoder outputs, which the reader reaches by decoding forward.
So do all raw elementary streams (`raw_stream`): some raw demuxers (H.263, MPEG-4 part 2) make up
timestamps from a nominal rate and flag every packet as a keyframe, and a seek to such a
timestamp lands on a predicted frame, so frames past 0 came back wrong.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import av
import numpy as np

#: formats whose header frame count (stream.frames) is exact: a shortfall means truncation
_EXACT_COUNT_FORMATS = ("mov", "mp4", "m4a", "3gp", "3g2", "mj2")

#: how many packets the background scan reads between publishing its progress
PUBLISH_EVERY = 4096


@dataclass
class IndexState:
    """A snapshot of what the scan has found. Arrays are never modified after publishing."""

    pts: np.ndarray  #: (n,) int64 sorted unique presentation timestamps of the indexed frames
    key_pts: np.ndarray  #: (k,) int64 sorted keyframe pts among them
    complete: bool  #: the scan reached the end of the file
    timestampless: bool = False  #: no packet carries a timestamp: pts are output ordinals
    suspect_tail: bool = False  #: the file looks truncated (its tail must be verified)
    error: str = ""  #: what stopped the scan early, if anything
    packets: int = 0  #: packets read so far (progress)
    extra: dict[str, object] = field(default_factory=dict)


#: FFmpeg demuxers of raw (container-less) video elementary streams
RAW_STREAM_FORMATS = frozenset(
    {
        "avs2", "avs3", "cavsvideo", "dirac", "dnxhd", "evc", "h261", "h263", "h264", "hevc",
        "ingenient", "m4v", "mjpeg", "mjpeg_2000", "mpegvideo", "obu", "vc1", "vvc",
    }
)  # fmt: skip


def raw_stream(container: av.container.InputContainer) -> bool:
    """True for a raw elementary stream: no container, so no timestamps that can be seeked to."""
    return bool(set(str(getattr(container.format, "name", "")).split(",")) & RAW_STREAM_FORMATS)


class _Accumulator:
    """Collects packets in decode order and tells which pts are final."""

    def __init__(
        self, stream: av.video.stream.VideoStream, file_size: int, ordinal: bool = False
    ) -> None:
        self.stream = stream
        self.ordinal = ordinal  # locate frames by output order whatever the packets' pts say
        self.file_size = file_size
        self.pts: list[int] = []
        self.key_pts: list[int] = []
        self.no_ts = 0
        self.max_dts: int | None = None
        self.max_pts: int | None = None
        self.suspect_tail = False
        self.packets = 0

    def add(self, packet: av.Packet[Any]) -> None:
        if packet.size == 0:
            return
        self.packets += 1
        if packet.pos is not None and packet.pos >= 0 and packet.pos + packet.size > self.file_size:
            self.suspect_tail = True  # the packet's bytes run past the end of the file
        if packet.is_discard:
            return
        pts = packet.pts
        if pts is None:
            if packet.dts is None:
                self.no_ts += 1  # all packets like this: a timestampless (raw) stream
            return  # otherwise a frame the decoder hands out without a pts: not offered
        if packet.dts is not None:
            self.max_dts = packet.dts if self.max_dts is None else max(self.max_dts, packet.dts)
        self.max_pts = pts if self.max_pts is None else max(self.max_pts, pts)
        self.pts.append(int(pts))
        if packet.is_keyframe:
            self.key_pts.append(int(pts))

    def snapshot(self, complete: bool, error: str = "") -> IndexState:
        timestampless = self.packets > 0 and (self.ordinal or self.no_ts == self.packets)
        if timestampless:
            n = self.packets
            pts = np.arange(n, dtype=np.int64)
            keys = np.asarray([0], np.int64)
        else:
            pts = np.unique(np.asarray(self.pts, dtype=np.int64))
            if not complete:
                # pts above the largest dts may still be preceded by packets not read yet
                limit = self.max_dts if self.max_dts is not None else None
                if limit is None:
                    pts = pts[:0]
                else:
                    pts = pts[: int(np.searchsorted(pts, limit, side="right"))]
            keys = np.unique(np.asarray(self.key_pts, dtype=np.int64))
            keys = keys[keys <= (pts[-1] if len(pts) else -(2**62))]
            if len(pts) and (len(keys) == 0 or keys[0] > pts[0]):
                keys = np.concatenate([[pts[0]], keys])  # seek to the start for early frames
        return IndexState(
            pts=pts,
            key_pts=keys,
            complete=complete,
            timestampless=timestampless,
            suspect_tail=self.suspect_tail,
            error=error,
            packets=self.packets,
        )


def _exact_count_shortfall(
    container: av.container.InputContainer, stream: object, acc: _Accumulator
) -> bool:
    names = str(getattr(container.format, "name", "")).split(",")
    expected = int(getattr(stream, "frames", 0) or 0)
    return any(n in _EXACT_COUNT_FORMATS for n in names) and expected > 0 and acc.packets < expected


def scan(
    container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    file_size: int,
    publish: Callable[[IndexState], None] | None = None,
    stop: threading.Event | None = None,
) -> IndexState:
    """Demux every packet of `stream` and return the finished index. With `publish`, partial
    indexes are handed out every PUBLISH_EVERY packets (for background indexing)."""
    acc = _Accumulator(stream, file_size, ordinal=raw_stream(container))
    error = ""
    try:
        for packet in container.demux(stream):
            acc.add(packet)
            if publish is not None and acc.packets % PUBLISH_EVERY == 0:
                if stop is not None and stop.is_set():
                    return acc.snapshot(complete=False, error="stopped")
                publish(acc.snapshot(complete=False))
    except av.error.FFmpegError as exc:
        # damage or a truncated tail: keep what was read, frames past the damage are not offered
        error = str(exc)
        acc.suspect_tail = True
    if _exact_count_shortfall(container, stream, acc):
        acc.suspect_tail = True
    state = acc.snapshot(complete=True, error=error)
    if publish is not None:
        publish(state)
    return state


def lower_thread_priority(niceness: int = 10) -> None:
    """Make the calling thread (and the decoder threads it starts) yield the CPU to the GUI and
    to the prefetcher: background work must not slow down what the user is looking at. Linux
    gives each thread its own nice value; elsewhere this does nothing."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), niceness)
    except (AttributeError, OSError):
        pass


class BackgroundIndexer:
    """Scans a file's packets on a daemon thread with its own container; `on_state` receives
    each published IndexState (from that thread)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        stream_index: int,
        on_state: Callable[[IndexState], None],
    ) -> None:
        self.path = str(path)
        self.stream_index = stream_index
        self.on_state = on_state
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="vidihand-video-index", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        lower_thread_priority()
        try:
            with av.open(self.path, metadata_errors="ignore") as container:
                stream = container.streams[self.stream_index]
                scan(container, stream, os.path.getsize(self.path), self.on_state, self._stop)  # type: ignore[arg-type]  # a video stream
        except Exception as exc:  # noqa: BLE001 - reported through the state, never lost
            self.on_state(
                IndexState(
                    pts=np.empty(0, np.int64),
                    key_pts=np.empty(0, np.int64),
                    complete=True,
                    error=f"indexing failed: {exc}",
                    extra={"failed": True},
                )
            )

    def stop(self, timeout: float | None = 5.0) -> None:
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()


def key_before(st: IndexState, target: int) -> int:
    """pts of the keyframe at or before pts `target` (the first keyframe when none is)."""
    k = int(np.searchsorted(st.key_pts, target, side="right")) - 1
    return int(st.key_pts[max(k, 0)])
