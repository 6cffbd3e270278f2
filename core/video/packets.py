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
full. FFmpeg copies the setting into a frame thread's context when the packet is submitted, so
this holds with frame threads too. Loop filters are never skipped: that would change pixels.

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
        self.skip_below: int | None = None
        self.skipping = False  # the codec context's current setting
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
            yield from packet.decode()  # the empty packet at the end drains the decoder

    def _set_skip(self, cc: av.codec.context.CodecContext, skip: bool) -> None:
        cc.skip_frame = "NONREF" if skip else "DEFAULT"
        self.skipping = skip
