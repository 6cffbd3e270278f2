"""Decoding packet by packet, skipping the non-reference frames that come before a wanted frame.

To show frame i the decoder starts at the keyframe before it and decodes forward (decoder.py).
Most frames on the way are never shown, and in H.264 many of them are *non-reference* frames
(`nal_ref_idc == 0`: the B-frames no other frame predicts from; about half of all frames with
x264's defaults). Skipping those (FFmpeg's `skip_frame = NONREF`) changes no pixel of any frame
that is decoded, because nothing reads them; it only saves their decoding time (0.5-0.65x the
time of decoding every frame on the way, measured on demo3.mp4 and human_hand_video.mp4).

The skip is decided per packet, before the packet is sent to the decoder: a packet whose
presentation timestamp is below `skip_below` may be skipped (if it is non-reference), any other
packet (the wanted frame itself, the frames kept around it, everything after it) is decoded in
full. Loop filters are never skipped: that would change pixels.

H.264 packets are read before they are sent: a packet whose pictures are all non-reference
(every slice NAL unit has `nal_ref_idc == 0`; `nal_ref_idc` is two bits of each NAL unit's first
byte) is not sent to the decoder at all (`NonRefPackets`). FFmpeg's own skip drops such a
picture's slices inside a frame thread, after the packet took that thread's turn and waited
for the previous thread's context: on two cores, decoding demo3.mp4's reference frames took
387 ms that way and 311 ms with the packets left out (every frame decoded in full before 500),
the same pixels. Packets it cannot read (another layout, parameter sets or other NAL units
inside) go to the decoder with FFmpeg's skip set, as before. FFmpeg copies that setting into a
frame thread's context when the packet is submitted, so it holds with frame threads too.

Only codecs whose non-reference frames are truly unreferenced are skipped: H.264, and MPEG-1/2/4
part 2 (their B-frames are never references). HEVC is left out on purpose: its "sub-layer
non-reference" pictures may still be referenced by pictures of higher temporal layers (phones
write such streams), and FFmpeg's NONREF drops them.
"""

from __future__ import annotations

from collections.abc import Iterator

import av

#: codecs where FFmpeg's NONREF skips only frames that no other frame references
SKIPPABLE_CODECS = frozenset({"h264", "mpeg1video", "mpeg2video", "mpeg4"})

_SLICE = (1, 5)  # H.264 NAL unit types: coded slice (non-IDR, IDR)
#: NAL units a dropped packet may carry besides its slices: SEI, access unit delimiter, filler
_DROPPABLE_EXTRAS = (6, 9, 12)


class NonRefPackets:
    """Tells H.264 packets that hold only non-reference pictures, from their NAL unit headers.

    `length_size` is the size of the NAL unit length prefixes (1, 2 or 4: the 'avcC' layout of
    MP4, MOV and Matroska), or 0 for Annex B start codes (MPEG-TS, raw .h264). A packet is
    non-reference only when its NAL units parse exactly and every one is a slice with
    `nal_ref_idc == 0`, an SEI, a delimiter or filler; anything else (parameter sets, other
    layers, a parse that does not add up) is "not known", so the packet is decoded."""

    def __init__(self, length_size: int) -> None:
        self.length_size = length_size

    @classmethod
    def for_stream(cls, stream: av.video.stream.VideoStream) -> NonRefPackets | None:
        """The reader for an H.264 stream's packets; None for another codec or layout."""
        cc = stream.codec_context
        if cc.name != "h264":
            return None
        extra = bytes(cc.extradata or b"")
        if len(extra) >= 7 and extra[0] == 1:  # avcC: lengthSizeMinusOne in the fifth byte
            size = (extra[4] & 3) + 1
            return cls(size) if size != 3 else None  # 3 is not allowed by the format
        if not extra or extra.startswith((b"\0\0\1", b"\0\0\0\1")):
            return cls(0)
        return None

    def is_nonref(self, data: bytes | memoryview) -> bool:
        """True when every picture in the packet is non-reference (see the class)."""
        headers = self._headers_annexb(data) if self.length_size == 0 else self._headers(data)
        if not headers:
            return False
        slices = 0
        for h in headers:
            kind = h & 0x1F
            if kind in _SLICE:
                if h & 0x60:  # nal_ref_idc
                    return False
                slices += 1
            elif kind not in _DROPPABLE_EXTRAS:
                return False
        return slices > 0

    def _headers(self, data: bytes | memoryview) -> list[int]:
        n, size, i, out = len(data), self.length_size, 0, []
        while i < n:
            if i + size >= n:
                return []
            length = int.from_bytes(data[i : i + size], "big")
            i += size
            if length <= 0 or i + length > n:
                return []
            out.append(data[i])
            i += length
        return out

    @staticmethod
    def _headers_annexb(data: bytes | memoryview) -> list[int]:
        raw = bytes(data)
        out, i = [], raw.find(b"\0\0\1")
        if i < 0 or raw[:i].strip(b"\0"):
            return []  # bytes before the first start code: not Annex B
        while i >= 0:
            if i + 3 >= len(raw):
                return []
            out.append(raw[i + 3])
            i = raw.find(b"\0\0\1", i + 3)
        return out


class PacketDecoder:
    """Iterates over the decoded frames of one stream from the container's current position,
    skipping non-reference frames whose packets have a pts below `skip_below` (None: decode
    every frame). `skip_below` may change between two frames; it applies to the packets sent
    from then on."""

    def __init__(
        self,
        container: av.container.InputContainer,
        stream: av.video.stream.VideoStream,
        can_skip: bool,
    ) -> None:
        self._container = container
        self._stream = stream
        self._can_skip = can_skip
        self._nonref = NonRefPackets.for_stream(stream) if can_skip else None
        self.skip_below: int | None = None
        self.skipping = False  # the codec context's current setting
        self.dropped = 0  #: non-reference packets left out before a wanted frame (counter)
        self._frames = self._decode()

    def __iter__(self) -> Iterator[av.VideoFrame]:
        return self

    def __next__(self) -> av.VideoFrame:
        return next(self._frames)

    def _decode(self) -> Iterator[av.VideoFrame]:
        cc = self._stream.codec_context
        self._set_skip(cc, False)
        for packet in self._container.demux(self._stream):
            if self._can_skip:
                below = self.skip_below
                skip = below is not None and packet.pts is not None and packet.pts < below
                if skip != self.skipping:
                    self._set_skip(cc, skip)
                if skip and self._nonref is not None and self._nonref.is_nonref(memoryview(packet)):
                    self.dropped += 1
                    continue
            yield from packet.decode()  # the empty packet at the end drains the decoder

    def _set_skip(self, cc: av.codec.context.CodecContext, skip: bool) -> None:
        cc.skip_frame = "NONREF" if skip else "DEFAULT"
        self.skipping = skip
