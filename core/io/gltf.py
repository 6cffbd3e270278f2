"""Binary glTF 2.0 (.glb) export: both hands animated over the video's time, and the camera.

Layout (docs/formats.md):
- the scene's root node `camera_frame` turns the OpenCV camera frame (x right, y down,
  z forward, metres; what the labels use) into glTF's (y up, the camera looking down -z): a
  rotation of 180 degrees about x. Everything under it is in label coordinates;
- `camera`: a perspective camera at the origin looking down the video camera's axis, with the
  vertical field of view and aspect ratio from K (glTF cameras have no principal point offset
  or skew: the view is exact only for a centred principal point);
- per hand, one node per block of `BLOCK` frames (`left_hand.000`, ...), each holding a mesh
  whose morph targets are the block's frames: the weights animation (STEP) selects one target
  per frame and the node's scale (STEP) is 1 on frames with a hand and 0 elsewhere. Triangles for
  the MANO or the simple mesh, line segments for the skeleton (core/io/hand_geometry.py).

Animation keys are at the frames' times, frame / fps seconds, so the hands play in step with
the video. Size: 12 bytes per vertex, hand and frame (MANO: 9 kB a hand a frame).
"""

from __future__ import annotations

import json
import math
import os
import struct
from pathlib import Path
from typing import Any

import numpy as np

from core.io.atomic import atomic_write_bytes
from core.io.hand_geometry import HandGeometry, hand_geometry
from core.labels.document import LabelDocument
from core.labels.joints import HAND_COLORS_RGB, HAND_NAMES

#: frames per morph-target mesh (viewers handle a few dozen targets per mesh well)
BLOCK = 32
_FLOAT, _UINT32 = 5126, 5125
_ARRAY_BUFFER, _ELEMENT_ARRAY_BUFFER = 34962, 34963


class _Blob:
    """The binary chunk: buffer views appended 4-byte aligned."""

    def __init__(self, gltf: dict[str, Any]) -> None:
        self.gltf = gltf
        self.parts: list[bytes] = []
        self.size = 0

    def accessor(
        self,
        arr: np.ndarray,
        type_: str,
        *,
        target: int | None = None,
        minmax: bool = False,
    ) -> int:
        data = np.ascontiguousarray(arr)
        comp = _UINT32 if data.dtype == np.uint32 else _FLOAT
        raw = data.tobytes()
        pad = (-self.size) % 4
        if pad:
            self.parts.append(b"\0" * pad)
            self.size += pad
        view: dict[str, Any] = {"buffer": 0, "byteOffset": self.size, "byteLength": len(raw)}
        if target is not None:
            view["target"] = target
        self.gltf["bufferViews"].append(view)
        self.parts.append(raw)
        self.size += len(raw)
        width = {"SCALAR": 1, "VEC3": 3, "VEC4": 4}[type_]
        flat = data.reshape(-1, width)
        acc: dict[str, Any] = {
            "bufferView": len(self.gltf["bufferViews"]) - 1,
            "componentType": comp,
            "count": len(flat),
            "type": type_,
        }
        if minmax:
            acc["min"] = [float(x) for x in flat.min(0)] if len(flat) else [0.0] * width
            acc["max"] = [float(x) for x in flat.max(0)] if len(flat) else [0.0] * width
        self.gltf["accessors"].append(acc)
        return len(self.gltf["accessors"]) - 1


def _camera(doc: LabelDocument) -> dict[str, Any]:
    fy = float(doc.K[1, 1])
    h, w = float(doc.meta.height), float(doc.meta.width)
    yfov = 2.0 * math.atan2(h / 2.0, fy)
    return {
        "type": "perspective",
        "name": "video camera",
        "perspective": {"aspectRatio": w / h, "yfov": yfov, "znear": 0.01, "zfar": 100.0},
    }


def glb_bytes(gltf: dict[str, Any], blob: bytes) -> bytes:
    """The .glb container: 12-byte header, the JSON chunk (space padded), the BIN chunk."""
    js = json.dumps(gltf, separators=(",", ":")).encode()
    js += b" " * ((-len(js)) % 4)
    blob += b"\0" * ((-len(blob)) % 4)
    total = 12 + 8 + len(js) + 8 + len(blob)
    return b"".join(
        [
            struct.pack("<4sII", b"glTF", 2, total),
            struct.pack("<I4s", len(js), b"JSON"),
            js,
            struct.pack("<I4s", len(blob), b"BIN\0"),
            blob,
        ]
    )


def export_gltf(
    doc: LabelDocument,
    path: str | os.PathLike[str],
    mesh: str = "auto",
    model: Any = None,
) -> dict[str, str]:
    """Write `doc` as a .glb (atomically); returns the geometry kind per hand name."""
    gltf: dict[str, Any] = {
        "asset": {"version": "2.0", "generator": "ViDiHand Studio"},
        **{k: [] for k in ("nodes", "meshes", "materials", "accessors", "bufferViews")},
    }
    blob = _Blob(gltf)
    root: dict[str, Any] = {"name": "camera_frame", "rotation": [1.0, 0.0, 0.0, 0.0]}
    root["children"] = [1]
    # the glTF camera looks down its -z, y up: in the OpenCV frame that is a 180 degree turn
    # about x, which undoes the root's
    camera = {"name": "camera", "camera": 0, "rotation": [1.0, 0.0, 0.0, 0.0]}
    gltf["nodes"] += [root, camera]
    gltf["cameras"] = [_camera(doc)]
    fps = float(doc.meta.fps) if doc.meta.fps > 0 else 30.0
    anim: dict[str, Any] = {"name": "labels", "channels": [], "samplers": []}
    kinds: dict[str, str] = {}
    for hand in (0, 1):
        geo = hand_geometry(doc, hand, mesh, model)
        kinds[HAND_NAMES[hand]] = geo.kind
        gltf["materials"].append(
            {
                "name": f"{HAND_NAMES[hand]} hand",
                "pbrMetallicRoughness": {
                    "baseColorFactor": [c / 255 for c in HAND_COLORS_RGB[hand]] + [1.0],
                    "metallicFactor": 0.0,
                    "roughnessFactor": 0.7,
                },
                "doubleSided": True,
            }
        )
        valid = geo.valid
        for start in range(0, doc.n_frames, BLOCK):
            frames = np.arange(start, min(start + BLOCK, doc.n_frames))
            if valid[frames].any():
                node = _block_node(gltf, blob, anim, geo, frames, valid, fps, hand)
                root["children"].append(node)
    gltf["scenes"] = [{"name": "labels", "nodes": [0]}]
    gltf["scene"] = 0
    if anim["channels"]:
        gltf["animations"] = [anim]
    data = b"".join(blob.parts)
    gltf["buffers"] = [{"byteLength": len(data)}]
    atomic_write_bytes(Path(path), glb_bytes(gltf, data))
    return kinds


def _block_node(
    gltf: dict[str, Any],
    blob: _Blob,
    anim: dict[str, Any],
    geo: HandGeometry,
    frames: np.ndarray,
    valid: np.ndarray,
    fps: float,
    hand: int,
) -> int:
    """A node whose mesh's morph targets are the frames of one block, and its animation."""
    verts = geo.vertices(frames)
    ok = valid[frames]
    base = verts[np.flatnonzero(ok)[0]]
    deltas = np.where(ok[:, None, None], verts - base, 0.0).astype(np.float32)
    prim = {
        "attributes": {"POSITION": blob.accessor(base, "VEC3", target=_ARRAY_BUFFER, minmax=True)},
        "indices": blob.accessor(
            geo.faces.astype(np.uint32).ravel(), "SCALAR", target=_ELEMENT_ARRAY_BUFFER
        ),
        "mode": 1 if geo.is_lines else 4,
        "material": hand,
        "targets": [
            {"POSITION": blob.accessor(d, "VEC3", target=_ARRAY_BUFFER, minmax=True)}
            for d in deltas
        ],
    }
    name = f"{HAND_NAMES[hand]}_hand.{frames[0] // BLOCK:03d}"
    gltf["meshes"].append({"name": name, "primitives": [prim], "weights": [0.0] * len(frames)})
    gltf["nodes"].append({"name": name, "mesh": len(gltf["meshes"]) - 1, "scale": [0.0] * 3})
    node = len(gltf["nodes"]) - 1
    # keys: each frame of the block, plus the frame before (hidden) and after it (hidden)
    n = len(frames)
    first, last = int(frames[0]), int(frames[-1])
    keys = [first - 1] * (first > 0) + list(range(first, last + 1))
    keys += [last + 1] * (last + 1 < geo.doc.n_frames)
    times = np.asarray(keys, np.float32) / np.float32(fps)
    weights = np.zeros((len(keys), n), np.float32)
    scale = np.zeros((len(keys), 3), np.float32)
    for i, k in enumerate(keys):
        if first <= k <= last and ok[k - first]:
            weights[i, k - first] = 1.0
            scale[i] = 1.0
    t_acc = blob.accessor(times, "SCALAR", minmax=True)
    for path_, out in (("weights", weights.ravel()), ("scale", scale)):
        anim["samplers"].append(
            {
                "input": t_acc,
                "output": blob.accessor(out, "SCALAR" if path_ == "weights" else "VEC3"),
                "interpolation": "STEP",
            }
        )
        anim["channels"].append(
            {"sampler": len(anim["samplers"]) - 1, "target": {"node": node, "path": path_}}
        )
    return node
