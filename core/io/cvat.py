"""CVAT for video 1.1: export hand tracks as CVAT tracks, and import a CVAT 2D pass back.

Each hand is one CVAT track. By default a track holds `skeleton` shapes of the skeleton label
`left_hand` / `right_hand`, whose 21 sub-labels are the joint names (`JOINT_NAMES`) joined by
the 20 bones; with `shape="points"` a track holds one `points` shape of 21 points per frame
(label `left_hand` / `right_hand`, points in joint order). The reader accepts both.

Per frame and hand a shape is written when the hand is present (`outside="0"`) and at the
first absent frame after a present stretch (`outside="1"`, CVAT's way of ending a track
segment). `keyframe="1"` marks frames whose values are not interpolated (CVAT keeps those
and re-interpolates the others) and frames marked as keyframes in the labels; a joint with no
2D position is an `outside` sub-point of a skeleton (points shapes need all 21 points, so a
hand with an unknown joint is written as a skeleton only). `occluded="1"` carries the
occluded flag.

Coordinates: CVAT uses continuous image coordinates, (0, 0) = the top-left corner of the
image; the labels use (0, 0) = the centre of the top-left pixel. Export adds 0.5, import
subtracts it, values are written with 2 decimals (0.005 px).

Import gives 2D joints and presence only: `joints_3d` and MANO are unknown (NaN) afterwards;
`source` is imported on CVAT keyframes and interpolated elsewhere, `keyframe` is CVAT's.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from core.errors import LabelFileError
from core.io.atomic import atomic_write_bytes
from core.labels.document import Flag, HandTrack, LabelDocument, Source, VideoMeta
from core.labels.joints import BONES, HAND_COLORS_HEX, HAND_NAMES, JOINT_NAMES, N_JOINTS

#: the CVAT label of each hand (left = 0, right = 1)
CVAT_LABELS: tuple[str, str] = ("left_hand", "right_hand")
#: labels -> pixel-centre coordinates
_CVAT_OFFSET = 0.5
#: one shape of a track: (frame, keyframe, outside, occluded, (21, 2) xy with NaN unknown)
Shape = tuple[int, bool, bool, bool, np.ndarray]


def _skeleton_svg() -> str:
    """The `<svg>` of a CVAT skeleton label: node circles on a 100x100 canvas, bone lines."""
    # an open hand, wrist at the bottom: fingers fan out upwards
    pos = np.zeros((N_JOINTS, 2))
    pos[0] = (50, 95)
    for f in range(5):
        angle = np.radians(-60 + 30 * f)
        for k in range(4):
            r = 18 + 18 * k
            pos[1 + 4 * f + k] = (50 + r * np.sin(angle), 95 - r * np.cos(angle))
    lines = [
        f'<line x1="{pos[p, 0]:.1f}" y1="{pos[p, 1]:.1f}" x2="{pos[c, 0]:.1f}" '
        f'y2="{pos[c, 1]:.1f}" data-type="edge" data-node-from="{p + 1}" data-node-to="{c + 1}"/>'
        for p, c in BONES
    ]
    circles = [
        f'<circle r="1.5" cx="{pos[j, 0]:.1f}" cy="{pos[j, 1]:.1f}" data-type="element node" '
        f'data-element-id="{j + 1}" data-node-id="{j + 1}" data-label-name="{name}"/>'
        for j, name in enumerate(JOINT_NAMES)
    ]
    return "".join(lines + circles)


def _label_meta(labels: ET.Element, shape: str) -> None:
    for hand, name in enumerate(CVAT_LABELS):
        lab = ET.SubElement(labels, "label")
        ET.SubElement(lab, "name").text = name
        ET.SubElement(lab, "color").text = HAND_COLORS_HEX[hand]
        ET.SubElement(lab, "type").text = "skeleton" if shape == "skeleton" else "points"
        ET.SubElement(lab, "attributes")
        if shape == "skeleton":
            ET.SubElement(lab, "svg").text = _skeleton_svg()
            for joint in JOINT_NAMES:
                sub = ET.SubElement(labels, "label")
                ET.SubElement(sub, "name").text = joint
                ET.SubElement(sub, "type").text = "points"
                ET.SubElement(sub, "attributes")
                ET.SubElement(sub, "parent").text = name


def _xy(p: np.ndarray) -> str:
    return f"{p[0] + _CVAT_OFFSET:.2f},{p[1] + _CVAT_OFFSET:.2f}"


def _shape_frames(track_present: np.ndarray) -> np.ndarray:
    """Frames that get a shape: every present frame and the first absent frame after each
    present stretch (written outside)."""
    p = np.asarray(track_present, bool)
    after = np.zeros_like(p)
    after[1:] = p[:-1] & ~p[1:]
    return np.flatnonzero(p | after)


def cvat_tree(doc: LabelDocument, name: str = "video", shape: str = "skeleton") -> ET.Element:
    """The CVAT for video 1.1 `<annotations>` element for `doc`."""
    if shape not in ("skeleton", "points"):
        raise ValueError(f"shape must be 'skeleton' or 'points', got {shape!r}")
    root = ET.Element("annotations")
    ET.SubElement(root, "version").text = "1.1"
    meta = ET.SubElement(root, "meta")
    task = ET.SubElement(meta, "task")
    n = doc.n_frames
    for key, value in (
        ("id", "0"),
        ("name", name),
        ("size", str(n)),
        ("mode", "interpolation"),
        ("overlap", "0"),
        ("start_frame", "0"),
        ("stop_frame", str(max(n - 1, 0))),
        ("frame_filter", ""),
    ):
        ET.SubElement(task, key).text = value
    _label_meta(ET.SubElement(task, "labels"), shape)
    size = ET.SubElement(task, "original_size")
    ET.SubElement(size, "width").text = str(doc.meta.width)
    ET.SubElement(size, "height").text = str(doc.meta.height)
    ET.SubElement(meta, "source").text = Path(doc.meta.video_path).name or name
    for hand, track in enumerate(doc.hands):
        frames = _shape_frames(track.present)
        if not len(frames):
            continue
        el = ET.SubElement(root, "track", id=str(hand), label=CVAT_LABELS[hand], source="manual")
        for f in frames:
            _add_shape(el, track, int(f), shape)
    return root


def _add_shape(track_el: ET.Element, track: HandTrack, f: int, shape: str) -> None:
    outside = not track.present[f]
    key = bool(track.keyframe[f]) or int(track.source[f]) != Source.INTERPOLATED or outside
    occluded = bool(int(track.flags[f]) & Flag.OCCLUDED)
    xy = track.joints_2d[f]
    known = np.isfinite(xy).all(1)
    attrs = {
        "frame": str(f),
        "keyframe": str(int(key)),
        "outside": str(int(outside)),
        "occluded": str(int(occluded)),
        "z_order": "0",
    }
    if shape == "points" and (outside or known.all()):
        pts = ";".join(_xy(p) for p in (xy if not outside else np.zeros((N_JOINTS, 2))))
        ET.SubElement(track_el, "points", {**attrs, "points": pts})
        return
    sk = ET.SubElement(track_el, "skeleton", attrs)
    for j, joint in enumerate(JOINT_NAMES):
        gone = outside or not known[j]
        ET.SubElement(
            sk,
            "points",
            label=joint,
            keyframe=attrs["keyframe"],
            outside=str(int(gone)),
            occluded=attrs["occluded"],
            points=_xy(np.zeros(2) if gone else xy[j]),
        )


def export_cvat(
    doc: LabelDocument,
    path: str | os.PathLike[str],
    name: str | None = None,
    shape: str = "skeleton",
) -> Path:
    """Write `doc` as CVAT for video 1.1 XML (atomically); returns the path."""
    path = Path(path)
    root = cvat_tree(doc, name or Path(doc.meta.video_path).stem or path.stem, shape)
    ET.indent(root)
    data = b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="utf-8")
    atomic_write_bytes(path, data)
    return path


# ---------------------------------------------------------------------------------------------
# import


def _parse_xy(text: str | None, where: str) -> np.ndarray:
    try:
        pts = [tuple(map(float, p.split(","))) for p in (text or "").split(";") if p.strip()]
        arr = np.asarray(pts, np.float64).reshape(-1, 2)
    except ValueError as exc:
        raise LabelFileError(f"CVAT points {text!r} at {where} are not 'x,y;x,y'.") from exc
    return arr - _CVAT_OFFSET


def _hand_of(label: str) -> int | None:
    low = label.lower()
    for hand, name in enumerate(HAND_NAMES):
        if low in (CVAT_LABELS[hand], name, f"{name} hand", f"{name}_hand", f"hand_{name}"):
            return hand
    return None


def _track_shapes(track: ET.Element, label: str) -> list[Shape]:
    """(frame, keyframe, outside, occluded, (21, 2) xy with NaN unknown) per shape of a track."""
    out = []
    for el in track:
        if el.tag not in ("skeleton", "points"):
            continue
        where = f"track {track.get('id')} frame {el.get('frame')}"
        try:
            f = int(el.get("frame", ""))
        except ValueError as exc:
            raise LabelFileError(f"CVAT shape without a frame number at {where}.") from exc
        outside = el.get("outside") == "1"
        xy = np.full((N_JOINTS, 2), np.nan)
        if el.tag == "points":
            pts = _parse_xy(el.get("points"), where)
            if not outside:
                if len(pts) != N_JOINTS:
                    raise LabelFileError(
                        f"{label} points shape at {where} has {len(pts)} points, expected 21.",
                        hint="Points per hand must list the 21 joints in the documented order.",
                    )
                xy = pts
        else:
            for sub in el.findall("points"):
                j = (
                    JOINT_NAMES.index(sub.get("label", ""))
                    if sub.get("label") in JOINT_NAMES
                    else -1
                )
                if j < 0:
                    raise LabelFileError(
                        f"Unknown skeleton point {sub.get('label')!r} at {where}.",
                        hint=f"Skeleton points must be named {', '.join(JOINT_NAMES[:3])}, ...",
                    )
                if sub.get("outside") != "1":
                    xy[j] = _parse_xy(sub.get("points"), where)[0]
        out.append((f, el.get("keyframe", "1") == "1", outside, el.get("occluded") == "1", xy))
    return sorted(out, key=lambda s: s[0])


def import_cvat(
    path: str | os.PathLike[str], meta: VideoMeta, K: np.ndarray | None = None
) -> LabelDocument:
    """A label document (2D joints and presence) from a CVAT for video 1.1 XML file.

    Tracks are assigned to hands by label (`left_hand`/`right_hand`, also `left`/`right`).
    Between two shapes of a track the hand is present when the earlier one is not outside;
    CVAT's video export writes every frame, so in practice every frame has a shape and values
    are taken as they are (a gap inside a track is filled by linear interpolation, as CVAT
    would show it)."""
    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as exc:
        raise LabelFileError(
            f"{path.name} is not a readable CVAT XML file ({exc}).",
            hint="Export the task from CVAT as 'CVAT for video 1.1'.",
        ) from None
    if root.tag != "annotations":
        raise LabelFileError(f"{path.name} is not CVAT XML (root <{root.tag}>).")
    tracks = root.findall("track")
    if not tracks:
        raise LabelFileError(
            f"{path.name} has no <track> elements.",
            hint="Export as 'CVAT for video 1.1' (CVAT for images has no tracks).",
        )
    doc = LabelDocument(meta, K)
    n = meta.n_frames
    seen: set[int] = set()
    for track in tracks:
        label = track.get("label", "")
        hand = _hand_of(label)
        if hand is None:
            continue
        if hand in seen:
            raise LabelFileError(
                f"{path.name} has more than one track labelled {label!r}.",
                hint="Merge the tracks of one hand in CVAT before exporting.",
            )
        seen.add(hand)
        _write_track(doc, hand, _track_shapes(track, label), n, path.name)
    if not seen:
        raise LabelFileError(
            f"{path.name} has no track labelled left_hand or right_hand.",
            hint="Label the hands' tracks left_hand and right_hand in CVAT.",
        )
    doc.backend = "cvat"
    return doc


def _write_track(doc: LabelDocument, hand: int, shapes: list[Shape], n: int, name: str) -> None:
    if shapes and shapes[-1][0] >= n:
        raise LabelFileError(
            f"{name}: a {CVAT_LABELS[hand]} shape is on frame {shapes[-1][0]}, but the video has "
            f"{n} frames.",
            hint="Import with the video the CVAT task was made from.",
        )
    present = np.zeros(n, bool)
    xy = np.full((n, N_JOINTS, 2), np.nan, np.float32)
    key = np.zeros(n, bool)
    occ = np.zeros(n, bool)
    for i, (f, k, outside, occluded, pts) in enumerate(shapes):
        key[f] = k and not outside
        if outside:  # the hand is gone from here to the next shape
            continue
        nxt = shapes[i + 1] if i + 1 < len(shapes) else None
        end = nxt[0] if nxt is not None else n  # a track's last shape holds to the end
        present[f:end] = True
        occ[f:end] = occluded
        xy[f:end] = pts
        if nxt is not None and not nxt[2] and end > f + 1:
            # a gap between two visible shapes: CVAT interpolates linearly
            t = (np.arange(f, end) - f)[:, None, None] / (end - f)
            xy[f:end] = (1 - t) * pts + t * nxt[4]
    frames = np.flatnonzero(present)
    source = np.where(key[frames], Source.IMPORTED, Source.INTERPOLATED)
    doc.write(
        hand,
        frames,
        {
            "present": True,
            "confidence": 1.0,
            "joints_2d": xy[frames],
            "source": source,
            "keyframe": key[frames],
            "flags": np.where(occ[frames], int(Flag.OCCLUDED), 0),
        },
        notify=False,
    )
