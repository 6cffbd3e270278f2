"""Split a video's frames into chunks that Ray tasks process independently, and stitch the
chunks' results back into one document.

A tracker (MediaPipe in tracking mode, a temporal model) needs a few frames to lock on, so a
chunk *runs* from `overlap` frames before the frames it *keeps*: those warm-up frames are
processed and thrown away, and every frame of the video is kept from exactly one chunk. Left
and right come from the backend's handedness, not from track identities, so stitching is
concatenation; the overlap only makes the first kept frames of a chunk as good as the rest.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.labels.document import FrameBatch


@dataclass(frozen=True)
class Chunk:
    index: int
    run: range  #: frames the task processes (warm-up included)
    keep: range  #: frames whose results it returns


def plan_chunks(frames: range, chunk_frames: int, overlap: int) -> list[Chunk]:
    """Chunks of at most `chunk_frames` kept frames covering `frames` (step 1), each running
    `overlap` frames earlier than it keeps (not before `frames.start`). A tail shorter than a
    quarter chunk is merged into the previous chunk rather than run on its own."""
    if frames.step != 1:
        raise ValueError("batch chunks need a contiguous frame range")
    if chunk_frames < 1 or overlap < 0:
        raise ValueError("chunk_frames must be >= 1 and overlap >= 0")
    n = len(frames)
    if n == 0:
        return []
    starts = list(range(frames.start, frames.stop, chunk_frames))
    if len(starts) > 1 and frames.stop - starts[-1] < max(1, chunk_frames // 4):
        starts.pop()
    chunks = []
    for i, a in enumerate(starts):
        b = starts[i + 1] if i + 1 < len(starts) else frames.stop
        chunks.append(Chunk(i, range(max(frames.start, a - overlap), b), range(a, b)))
    return chunks


def keep_rows(batch: FrameBatch, keep: range) -> FrameBatch:
    """The rows of `batch` whose frames are in `keep`."""
    sel = (batch.frames >= keep.start) & (batch.frames < keep.stop)
    return FrameBatch(**{k: v[sel] for k, v in batch.to_dict().items()})


def stitch(parts: dict[int, FrameBatch], chunks: list[Chunk]) -> FrameBatch:
    """Concatenate the kept results of every chunk; checks that each frame appears once."""
    missing = [c.index for c in chunks if c.index not in parts]
    if missing:
        raise ValueError(f"chunks {missing} have no results")
    batch = FrameBatch.concat([parts[c.index] for c in chunks])
    expected = np.concatenate([np.arange(c.keep.start, c.keep.stop) for c in chunks])
    if not np.array_equal(batch.frames, expected):
        raise ValueError("stitched chunks do not cover their frames exactly once, in order")
    return batch
