"""Is this file plausibly a video? A check made before a file is opened for decoding.

FFmpeg recognises raw elementary streams (H.263, H.264, MPEG-4 part 2, ...) by a few start-code
bytes, and its decoders conceal damage rather than report it. So random bytes that happen to
hold an H.263 picture start code (about 1 in 400 random 300 kB files, or any file given such a
header) "open" as a one-frame 176x144 video, and `reconstruct` would write labels for it.

A file in a real container (MP4, MOV, MKV, AVI, ...) carries its own structure and is left to
the decoder. A raw elementary stream must prove itself: its first frames must decode with the
decoder's strict error detection (`err_detect=explode`) and have sane dimensions. Real raw
streams (e.g. `ffmpeg -i clip.mp4 -c:v h263 clip.h263`) decode cleanly and still open.
"""

from __future__ import annotations

from pathlib import Path

from core.errors import VideoOpenError
from core.video.index import raw_stream

#: frames of a raw stream that must decode cleanly (fewer when the stream is shorter)
CHECK_FRAMES = 4
#: largest frame side accepted (FFmpeg's own limit is 16384 for most codecs)
MAX_SIDE = 32768


def check_plausible_video(path: str | Path) -> None:
    """Raise VideoOpenError when `path` is a raw video stream that does not decode cleanly.

    Files FFmpeg cannot open at all are left to the decoder, which reports them as before."""
    import av

    path = Path(path)
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError, ValueError):
        return
    with container:
        streams = container.streams.video
        if not streams or not raw_stream(container):
            return
        stream = streams[0]
        codec = stream.codec_context.name or "video"
        stream.codec_context.options = {"err_detect": "explode"}
        n = 0
        problem = ""
        try:
            for frame in container.decode(stream):
                if not (1 <= frame.width <= MAX_SIDE and 1 <= frame.height <= MAX_SIDE):
                    problem = f"a {frame.width}x{frame.height} frame"
                    break
                n += 1
                if n >= CHECK_FRAMES:
                    break
        except (av.FFmpegError, ValueError) as exc:
            problem = f"its frame {n} does not decode cleanly ({type(exc).__name__})"
        if problem or n == 0:
            raise VideoOpenError(
                f"{path.name} is not a video: it looks like a raw {codec} stream, but "
                f"{problem or 'no frame decodes'}.",
                hint="The file is damaged or not a video; open the original recording.",
            )
