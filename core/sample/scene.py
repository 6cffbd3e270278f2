"""What the sample video looks like: a textured desk-like background that pans slowly (as a head
camera would), and two skin-coloured hands with forearms and sleeves, rendered with the
project's own rasteriser."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from core.hands.rotations import normalize
from core.hands.simple_mesh import (
    SIMPLE_HAND_FACES,
    capsule_faces,
    capsule_vertices,
    hand_scale,
    simple_hand_mesh,
)
from core.labels.joints import MIDDLE_MCP, WRIST
from core.render.overlay import combine, shade
from core.render.raster import rasterize

#: skin tones of the two hands (RGB) and sleeve colours
HAND_SKIN = ((214, 160, 128), (222, 168, 136))
SLEEVES = ((52, 70, 110), (52, 70, 110))
#: how far the background can pan (pixels)
PAN = 48


def background_texture(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """A desk-like RGB texture (height + 2 PAN, width + 2 PAN, 3) uint8: wood grain, blotches,
    a few objects. Rich enough that the encoder and seeking are realistic, free of skin tones."""
    h, w = height + 2 * PAN, width + 2 * PAN

    def noise(cells: int) -> np.ndarray:
        small = rng.standard_normal((cells * h // w + 2, cells + 2))
        big = ndimage.zoom(small, (h / (small.shape[0] - 1), w / (small.shape[1] - 1)), order=3)
        return big[:h, :w]

    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    grain = np.sin(xs * 0.045 + 6.0 * noise(6) + 0.8 * noise(24))
    fine = noise(90) * 0.5 + noise(200) * 0.35
    tone = 0.55 + 0.12 * grain + 0.05 * fine + 0.08 * noise(3) - 0.15 * (ys / h)
    wood = np.array([120, 122, 128], np.float32)  # grey-blue desk: nothing skin-like
    img = tone[..., None] * wood[None, None, :] * 1.6
    # objects: soft-edged rectangles and discs in saturated, non-skin colours
    palette = np.array([[40, 110, 60], [30, 60, 140], [150, 150, 40], [70, 70, 70], [20, 120, 130]])
    for k in range(7):
        color = palette[k % len(palette)].astype(np.float32) * rng.uniform(0.8, 1.2)
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        if k % 2:
            rx, ry = rng.uniform(25, 70), rng.uniform(25, 70)
            d = np.sqrt(((xs - cx) / rx) ** 2 + ((ys - cy) / ry) ** 2) - 1.0
            edge = np.clip(-d * 20.0, 0, 1)
        else:
            hw, hh = rng.uniform(30, 110), rng.uniform(20, 60)
            d = np.maximum(np.abs(xs - cx) - hw, np.abs(ys - cy) - hh)
            edge = np.clip(-d / 1.5, 0, 1)
        shading = 1.0 + 0.15 * noise(40)[..., None]
        img = img * (1 - edge[..., None]) + (color * shading) * edge[..., None]
    return np.clip(img, 0, 255).astype(np.uint8)


def pan_offsets(n_frames: int, fps: float, rng: np.random.Generator) -> np.ndarray:
    """(T, 2) integer (x, y) crop offsets into the texture: slow head-like drift."""
    t = np.arange(n_frames) / fps
    ox = PAN + 0.8 * PAN * np.sin(2 * np.pi * 0.11 * t + rng.uniform(0, 6.3))
    oy = PAN + 0.6 * PAN * np.sin(2 * np.pi * 0.07 * t + rng.uniform(0, 6.3))
    return np.round(np.stack([ox, oy], -1)).astype(np.int64)


_ARM_CAP_VERTS, _ARM_FACES = capsule_faces(2)


def forearm_vertices(joints: np.ndarray) -> np.ndarray:
    """Vertices of a forearm (a short bare part, then a sleeve) continuing the hand past the
    wrist; faces are `_ARM_FACES` (first capsule skin, second sleeve)."""
    s = hand_scale(joints)
    wrist = joints[WRIST]
    axis = normalize(joints[MIDDLE_MCP] - wrist)
    across = normalize(joints[5] - joints[17])
    a = np.stack([wrist - axis * 0.01 * s, wrist - axis * 0.07 * s])
    b = np.stack([wrist - axis * 0.075 * s, wrist - axis * 0.32 * s])
    ra = np.array([0.021, 0.031]) * s
    rb = np.array([0.026, 0.036]) * s
    ref = np.broadcast_to(np.cross(axis, across), (2, 3))
    return capsule_vertices(a, b, ra, rb, ref).reshape(-1, 3)


@dataclass
class RenderedFrame:
    image: np.ndarray  # (H, W, 3) uint8
    visible_pixels: np.ndarray  # (2,) pixels of each hand (not its forearm) in the image


def render_frame(background: np.ndarray, joints: np.ndarray, K: np.ndarray) -> RenderedFrame:
    """Draw both hands ((2, 21, 3) joints, camera frame) with forearms over `background`."""
    from core.render.overlay import Mesh

    h, w = background.shape[:2]
    meshes = [Mesh(simple_hand_mesh(joints[k]), SIMPLE_HAND_FACES, HAND_SKIN[k]) for k in (0, 1)]
    n_hand_faces = len(SIMPLE_HAND_FACES)
    n_arm = len(_ARM_FACES) // 2
    for k in (0, 1):
        verts = forearm_vertices(joints[k])
        meshes.append(Mesh(verts[:_ARM_CAP_VERTS], _ARM_FACES[:n_arm], HAND_SKIN[k]))
        meshes.append(
            Mesh(verts[_ARM_CAP_VERTS:], _ARM_FACES[:n_arm], SLEEVES[k])  # same topology
        )
    verts, faces, colors = combine(meshes)
    raster = rasterize(verts, faces, K, w, h, cull_back=True)
    img = background.copy()
    visible = np.zeros(2, np.int64)
    mask = raster.mask
    if mask.any():
        rgb = shade(raster, verts, faces, colors, ambient=0.42)
        img[mask] = (rgb + 0.5).astype(np.uint8)
        fid = raster.face[mask]
        for k in (0, 1):
            visible[k] = int(((fid >= k * n_hand_faces) & (fid < (k + 1) * n_hand_faces)).sum())
    return RenderedFrame(img, visible)
