"""Rerun recording (.rrd) export: the video, 2D joints, 3D hands and the camera on one timeline.

Needs the `[rerun]` extra (rerun-sdk). Entities (docs/formats.md):
- `world`: the video camera's frame, OpenCV axes (`ViewCoordinates.RDF`: x right, y down,
  z forward), metres;
- `world/camera`: a `Pinhole` from K with the video's resolution; `world/camera/video`: the
  video as an `AssetVideo` with a `VideoFrameReference` per frame (MP4/MOV files), or the
  frames as JPEG `EncodedImage`s (other videos and image folders); without a video, no image;
- `world/camera/<hand>/joints` (Points2D) and `.../bones` (LineStrips2D): 2D joints over the
  image;
- `world/<hand>/joints` (Points3D), `world/<hand>/bones` (LineStrips3D) and
  `world/<hand>/mesh` (Mesh3D: MANO when set up, else the simple mesh; core/io/hand_geometry.py).
A frame without a hand clears that hand's entities.

Timelines: `frame` (sequence, the frame index) and `time` (duration, frame / fps seconds).
Rerun puts (0, 0) at the top-left corner of the image (pixel centres at +0.5), so 2D joints and
the Pinhole's principal point are written with 0.5 added to the labels' pixel-centre values.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import ExportError
from core.extras import require
from core.io.atomic import atomic_path
from core.io.hand_geometry import HandGeometry, hand_geometry
from core.labels.document import LabelDocument
from core.labels.joints import BONES, HAND_COLORS_RGB, HAND_NAMES

#: frames per block of geometry computed at once
_BLOCK = 256
_VIDEO_SUFFIXES = {".mp4", ".mov", ".m4v"}


def _video_path(doc: LabelDocument, video: str | os.PathLike[str] | None) -> Path | None:
    if video is not None:
        p = Path(video)
        if not p.exists():
            raise ExportError(f"Video not found: {p}", hint="Check the --video path.")
        return p
    remembered = Path(doc.meta.video_path) if doc.meta.video_path else None
    return remembered if remembered is not None and remembered.exists() else None


def _bone_strips(joints: np.ndarray) -> np.ndarray:
    return np.stack([joints[[p, c]] for p, c in BONES])


def _log_video(rr: Any, rec: Any, path: Path, n: int, fps: float) -> str:
    """Log the video under world/camera/video; returns how ("asset" or "images")."""
    entity = "world/camera/video"
    if path.is_file() and path.suffix.lower() in _VIDEO_SUFFIXES:
        asset = rr.AssetVideo(path=path)
        rec.log(entity, asset, static=True)
        ts = asset.read_frame_timestamps_nanos()[:n]
        rec.send_columns(
            entity,
            indexes=[
                rr.TimeColumn("frame", sequence=np.arange(len(ts))),
                rr.TimeColumn("time", duration=np.arange(len(ts)) / fps),
            ],
            columns=rr.VideoFrameReference.columns_nanos(ts),
        )
        return "asset"
    import cv2

    from core.video.reader import open_video

    with open_video(path, fps=fps) as video:
        for f in range(min(n, video.info.n_frames)):
            _set_time(rec, f, fps)
            ok, jpg = cv2.imencode(
                ".jpg", video.frame(f)[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 90]
            )
            if ok:
                rec.log(entity, rr.EncodedImage(contents=jpg.tobytes(), media_type="image/jpeg"))
    return "images"


def _set_time(rec: Any, frame: int, fps: float) -> None:
    rec.set_time("frame", sequence=frame)
    rec.set_time("time", duration=frame / fps)


def export_rrd(
    doc: LabelDocument,
    path: str | os.PathLike[str],
    video: str | os.PathLike[str] | None = None,
    mesh: str = "auto",
    model: Any = None,
) -> dict[str, str]:
    """Write `doc` (and its video when found) as a Rerun recording (atomically). Returns what
    was written: "video" ("asset", "images" or "none") and the mesh kind per hand."""
    rr = require("rerun", "rerun")
    fps = float(doc.meta.fps) if doc.meta.fps > 0 else 30.0
    rec = rr.RecordingStream("vidihand_studio", recording_id=doc.meta.video_sha256 or None)
    kinds: dict[str, str] = {}
    with atomic_path(path) as tmp:
        rec.save(tmp)
        rec.log("world", rr.ViewCoordinates.RDF, static=True)
        K = doc.K.copy()
        K[:2, 2] += 0.5  # Rerun's pixel (0, 0) is the image's corner
        rec.log(
            "world/camera",
            rr.Pinhole(
                image_from_camera=K,
                resolution=[doc.meta.width, doc.meta.height],
                camera_xyz=rr.ViewCoordinates.RDF,
            ),
            static=True,
        )
        vpath = _video_path(doc, video)
        kinds["video"] = _log_video(rr, rec, vpath, doc.n_frames, fps) if vpath else "none"
        for hand, name in enumerate(HAND_NAMES):
            geo = None if mesh == "skeleton" else hand_geometry(doc, hand, mesh, model)
            kinds[name] = "skeleton" if geo is None else geo.kind
            _log_hand(rr, rec, doc, hand, geo, fps)
        rec.flush()
        rec.disconnect()
    return kinds


def _log_hand(
    rr: Any, rec: Any, doc: LabelDocument, hand: int, geo: HandGeometry | None, fps: float
) -> None:
    name, color = HAND_NAMES[hand], HAND_COLORS_RGB[hand]
    t = doc.hands[hand]
    faces = None if geo is None else geo.faces
    valid = np.zeros(doc.n_frames, bool) if geo is None else geo.valid
    shown = False
    for start in range(0, doc.n_frames, _BLOCK):
        frames = np.arange(start, min(start + _BLOCK, doc.n_frames))
        verts = None if geo is None else geo.vertices(frames)
        for i, f in enumerate(frames):
            _set_time(rec, int(f), fps)
            if not t.present[f]:
                if shown:
                    rec.log(f"world/{name}", rr.Clear(recursive=True))
                    rec.log(f"world/camera/{name}", rr.Clear(recursive=True))
                    shown = False
                continue
            shown = True
            j3, j2 = t.joints_3d[f], t.joints_2d[f] + 0.5
            rec.log(f"world/{name}/joints", rr.Points3D(j3, colors=color, radii=0.004))
            rec.log(f"world/{name}/bones", rr.LineStrips3D(_bone_strips(j3), colors=color))
            rec.log(f"world/camera/{name}/joints", rr.Points2D(j2, colors=color, radii=3.0))
            rec.log(f"world/camera/{name}/bones", rr.LineStrips2D(_bone_strips(j2), colors=color))
            if verts is not None and valid[f]:
                rec.log(
                    f"world/{name}/mesh",
                    rr.Mesh3D(
                        vertex_positions=verts[i], triangle_indices=faces, albedo_factor=color
                    ),
                )
