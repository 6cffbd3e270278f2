"""COCO keypoints export: one image per frame, one annotation per present hand.

The file follows the COCO keypoint format (`images`, `annotations`, `categories`) with one
category, `hand`, whose 21 keypoints are named in the project's joint order (`JOINT_NAMES`) and
whose `skeleton` lists the 20 bones (1-based, as COCO does). Each annotation carries
`keypoints` (63 numbers: x, y, v per joint), `num_keypoints`, `bbox`, `area`, `iscrowd` 0,
`score` (the hand's confidence), `track_id` (0 left, 1 right, the same on every frame, as in
PoseTrack) and the extra keys `handedness`, `source`, `reviewed` and `flags`.

Conventions (docs/formats.md):
- keypoint x, y: pixels, (0, 0) = the centre of the top-left pixel, as the labels store them
  and as COCO's keypoints are meant (integer keypoints are pixel indices);
- bbox: COCO's continuous coordinates ((0, 0) = the top-left corner of the image), the
  smallest box covering the pixels of the labelled keypoints, clipped to the image;
- v: 0 = unknown (x = y = 0), 1 = labelled but not visible (outside the image, the hand is
  flagged occluded, or the hand's confidence is below `visible_confidence`), 2 = visible.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from core.io.atomic import atomic_write_bytes
from core.labels.document import Flag, LabelDocument, Source
from core.labels.joints import BONES, HAND_NAMES, JOINT_NAMES

#: a present hand whose confidence is below this gets v = 1 (labelled, not visible)
VISIBLE_CONFIDENCE = 0.5
CATEGORY_ID = 1


def frame_file_name(stem: str, frame: int) -> str:
    """The image name a frame gets (frames extracted as `<stem>/<frame:06d>.jpg`)."""
    return f"{stem}/{frame:06d}.jpg"


def coco_keypoints(
    joints_2d: np.ndarray,
    present: np.ndarray,
    confidence: np.ndarray,
    flags: np.ndarray,
    width: int,
    height: int,
    visible_confidence: float = VISIBLE_CONFIDENCE,
) -> np.ndarray:
    """(N, 21, 3) COCO keypoints (x, y, v) for one hand on N frames."""
    xy = np.asarray(joints_2d, np.float64)
    known = np.isfinite(xy).all(-1) & np.asarray(present, bool)[:, None]
    inside = (
        (xy[..., 0] >= -0.5)
        & (xy[..., 0] <= width - 0.5)
        & (xy[..., 1] >= -0.5)
        & (xy[..., 1] <= height - 0.5)
    )
    seen = (np.asarray(confidence) >= visible_confidence) & (
        (np.asarray(flags).astype(np.int64) & int(Flag.OCCLUDED)) == 0
    )
    v = np.where(known, np.where(inside & seen[:, None], 2, 1), 0)
    out = np.zeros((*xy.shape[:2], 3))
    out[..., :2] = np.where(known[..., None], xy, 0.0)
    out[..., 2] = v
    return out


def keypoint_bbox(kp: np.ndarray, width: int, height: int) -> list[float] | None:
    """COCO bbox [x, y, w, h] (continuous coordinates) around the labelled keypoints of one
    hand (21, 3); None when no keypoint is labelled."""
    xy = kp[kp[:, 2] > 0, :2]
    if not len(xy):
        return None
    # the pixel whose centre is at u (labels) spans [u, u + 1] in continuous coordinates
    lo = np.clip(xy.min(0), 0.0, None)
    hi = np.minimum(xy.max(0) + 1.0, (width, height))
    lo = np.minimum(lo, hi)
    return [round(float(lo[0]), 3), round(float(lo[1]), 3), *map(float, np.round(hi - lo, 3))]


def coco_dict(
    doc: LabelDocument, stem: str = "video", visible_confidence: float = VISIBLE_CONFIDENCE
) -> dict[str, Any]:
    """The COCO keypoints document (a JSON-ready dict) for `doc`."""
    w, h, fps = int(doc.meta.width), int(doc.meta.height), float(doc.meta.fps)
    images = [
        {
            "id": f + 1,
            "file_name": frame_file_name(stem, f),
            "width": w,
            "height": h,
            "frame_index": f,
            "time_s": round(f / fps, 6) if fps > 0 else None,
        }
        for f in range(doc.n_frames)
    ]
    annotations: list[dict[str, Any]] = []
    per_hand = []
    for track in doc.hands:
        kp = coco_keypoints(
            track.joints_2d, track.present, track.confidence, track.flags, w, h, visible_confidence
        )
        per_hand.append(kp)
    for f in range(doc.n_frames):
        for hand, (name, track) in enumerate(zip(HAND_NAMES, doc.hands, strict=True)):
            if not track.present[f]:
                continue
            kp = per_hand[hand][f]
            bbox = keypoint_bbox(kp, w, h) or [0.0, 0.0, 0.0, 0.0]
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": f + 1,
                    "category_id": CATEGORY_ID,
                    "track_id": hand,
                    "handedness": name,
                    "keypoints": [round(float(x), 3) for x in kp.ravel()],
                    "num_keypoints": int((kp[:, 2] > 0).sum()),
                    "bbox": bbox,
                    "area": round(bbox[2] * bbox[3], 3),
                    "iscrowd": 0,
                    "score": round(float(track.confidence[f]), 6),
                    "source": Source(int(track.source[f])).name.lower(),
                    "reviewed": bool(track.reviewed[f]),
                    "flags": int(track.flags[f]),
                }
            )
    return {
        "info": {
            "description": f"ViDiHand Studio hand keypoints of {stem}",
            "version": "1.0",
            "video_sha256": doc.meta.video_sha256,
            "fps": fps,
            "pixel_convention": "keypoints: (0, 0) is the centre of the top-left pixel; "
            "bbox: COCO continuous coordinates, (0, 0) is the top-left corner of the image",
        },
        "licenses": [],
        "images": images,
        "annotations": annotations,
        "categories": [
            {
                "id": CATEGORY_ID,
                "name": "hand",
                "supercategory": "person",
                "keypoints": list(JOINT_NAMES),
                "skeleton": [[p + 1, c + 1] for p, c in BONES],
            }
        ],
    }


def export_coco(
    doc: LabelDocument,
    path: str | os.PathLike[str],
    stem: str | None = None,
    visible_confidence: float = VISIBLE_CONFIDENCE,
) -> Path:
    """Write `doc` as a COCO keypoints JSON file (atomically); returns the path."""
    path = Path(path)
    name = stem or Path(doc.meta.video_path).stem or path.stem
    data = coco_dict(doc, name, visible_confidence)
    atomic_write_bytes(path, json.dumps(data, separators=(",", ":")).encode())
    return path
