"""Draw hands on RGB frames in numpy: 2D skeletons and shaded, z-buffered triangle meshes.

The project's own renderer (no Qt, no OpenGL), used by the sample generator, by the ViDiHand
hand-overlay training targets and by report thumbnails. Images are (H, W, 3) uint8 RGB. The
functions return a new image unless `out` is given (then they draw into it and return it).
Pixel convention: (0, 0) is the centre of the top-left pixel.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from core.labels.joints import BONES, HAND_COLORS_RGB, LEFT, N_JOINTS, RIGHT
from core.render.raster import Raster, rasterize, vertex_normals

#: hand colours (RGB), the same as the app's (core.labels.joints.HAND_COLORS_RGB)
HAND_COLORS: dict[int, tuple[int, int, int]] = {
    LEFT: HAND_COLORS_RGB[LEFT],
    RIGHT: HAND_COLORS_RGB[RIGHT],
}
SKIN_COLOR: tuple[int, int, int] = (224, 172, 140)
#: direction towards the light in the camera frame (up, left, towards the camera)
DEFAULT_LIGHT = np.array([-0.35, -0.55, -0.76])


def _target(image: np.ndarray, out: np.ndarray | None) -> np.ndarray:
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 RGB image, got {image.shape} {image.dtype}")
    if out is None:
        return image.copy()
    if out is not image:
        out[...] = image
    return out


def _composite(img: np.ndarray, cover: np.ndarray, color: np.ndarray, box: tuple) -> None:
    """img[box] = mix(img, color, cover) where cover is (h, w) in [0, 1]."""
    y0, y1, x0, x1 = box
    if y1 <= y0 or x1 <= x0:
        return
    c = cover[y0:y1, x0:x1, None]
    region = img[y0:y1, x0:x1].astype(np.float32)
    region += (color[None, None, :] - region) * c
    img[y0:y1, x0:x1] = np.clip(region + 0.5, 0, 255).astype(np.uint8)


def _segment_cover(
    cover: np.ndarray, p: np.ndarray, q: np.ndarray, half_width: float
) -> tuple[int, int, int, int] | None:
    """Max-accumulate the anti-aliased coverage of a thick segment p-q into `cover`."""
    h, w = cover.shape
    r = half_width + 1.0
    x0 = max(int(np.floor(min(p[0], q[0]) - r)), 0)
    x1 = min(int(np.ceil(max(p[0], q[0]) + r)) + 1, w)
    y0 = max(int(np.floor(min(p[1], q[1]) - r)), 0)
    y1 = min(int(np.ceil(max(p[1], q[1]) + r)) + 1, h)
    if x1 <= x0 or y1 <= y0:
        return None
    ys = np.arange(y0, y1, dtype=np.float32)[:, None]
    xs = np.arange(x0, x1, dtype=np.float32)[None, :]
    d = (q - p).astype(np.float32)
    dd = float(d @ d)
    px, py = xs - np.float32(p[0]), ys - np.float32(p[1])
    t = np.clip((px * d[0] + py * d[1]) / dd, 0.0, 1.0) if dd > 1e-12 else np.float32(0.0)
    dist = np.sqrt((px - t * d[0]) ** 2 + (py - t * d[1]) ** 2)
    cov = np.clip(half_width + 0.5 - dist, 0.0, 1.0)
    np.maximum(cover[y0:y1, x0:x1], cov, out=cover[y0:y1, x0:x1])
    return (y0, y1, x0, x1)


def _union(a: tuple | None, b: tuple | None) -> tuple | None:
    if a is None:
        return b
    if b is None:
        return a
    return (min(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), max(a[3], b[3]))


def draw_skeleton(
    image: np.ndarray,
    joints_2d: np.ndarray,
    *,
    color: Sequence[int] = HAND_COLORS[RIGHT],
    joint_color: Sequence[int] | None = None,
    alpha: float = 1.0,
    thickness: float = 2.5,
    joint_radius: float = 3.5,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Draw one hand's skeleton (21 joints (21, 2) in pixels): bones, then joint dots.

    Bones or joints with a NaN end are skipped. `alpha` is the opacity of the overlay; where
    bones overlap they are drawn once (coverage is a maximum, not a sum).
    """
    img = _target(image, out)
    j = np.asarray(joints_2d, dtype=np.float64).reshape(N_JOINTS, 2)
    if not np.isfinite(j).any() or alpha <= 0:
        return img
    h, w = img.shape[:2]
    col = np.asarray(color, np.float32)
    jcol = (
        np.asarray(joint_color, np.float32)
        if joint_color is not None
        else col + (255.0 - col) * 0.55
    )
    bone_cover = np.zeros((h, w), np.float32)
    box = None
    for a, b in BONES:
        if np.isfinite(j[a]).all() and np.isfinite(j[b]).all():
            box = _union(box, _segment_cover(bone_cover, j[a], j[b], thickness / 2.0))
    if box is not None:
        bone_cover *= alpha
        _composite(img, bone_cover, col, box)
    dot_cover = np.zeros((h, w), np.float32)
    box = None
    for k in range(N_JOINTS):
        if np.isfinite(j[k]).all():
            box = _union(box, _segment_cover(dot_cover, j[k], j[k], joint_radius))
    if box is not None:
        dot_cover *= alpha
        _composite(img, dot_cover, jcol, box)
    return img


def draw_hands(
    image: np.ndarray,
    joints_2d: np.ndarray,
    present: Sequence[bool] | np.ndarray = (True, True),
    *,
    confidence: Sequence[float] | np.ndarray | None = None,
    alpha: float = 0.85,
    thickness: float = 2.5,
    joint_radius: float = 3.5,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Draw both hands' skeletons ((2, 21, 2), left then right) in their colours, faded by
    confidence when given."""
    img = _target(image, out)
    for hand in (LEFT, RIGHT):
        if not present[hand]:
            continue
        a = alpha * (1.0 if confidence is None else float(np.clip(confidence[hand], 0.15, 1.0)))
        draw_skeleton(
            img, joints_2d[hand], color=HAND_COLORS[hand], alpha=a, thickness=thickness,
            joint_radius=joint_radius, out=img,
        )  # fmt: skip
    return img


@dataclass
class Mesh:
    """A triangle mesh in camera coordinates (metres) with one RGB colour."""

    vertices: np.ndarray  # (V, 3)
    faces: np.ndarray  # (F, 3)
    color: tuple[int, int, int] = SKIN_COLOR


def combine(meshes: Sequence[Mesh]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One vertex array, face array and per-face colour array (F, 3) for several meshes."""
    verts, faces, colors = [], [], []
    offset = 0
    for m in meshes:
        v = np.asarray(m.vertices, np.float64).reshape(-1, 3)
        f = np.asarray(m.faces, np.int64).reshape(-1, 3)
        verts.append(v)
        faces.append(f + offset)
        colors.append(np.broadcast_to(np.asarray(m.color, np.float32), (len(f), 3)))
        offset += len(v)
    if not verts:
        return np.zeros((0, 3)), np.zeros((0, 3), np.int64), np.zeros((0, 3), np.float32)
    return np.concatenate(verts), np.concatenate(faces), np.concatenate(colors)


def shade(
    raster: Raster,
    vertices: np.ndarray,
    faces: np.ndarray,
    face_colors: np.ndarray,
    *,
    light: np.ndarray = DEFAULT_LIGHT,
    ambient: float = 0.35,
    specular: float = 0.12,
) -> np.ndarray:
    """Colours (N, 3) float32 of the covered pixels (in raster.mask order): smooth Lambert
    shading with a little specular, lit from both sides (normals turned towards the camera)."""
    mask = raster.mask
    fid = raster.face[mask]
    w = raster.bary[mask]  # (N, 3) float32
    tri = np.asarray(faces, np.int64)[fid]  # (N, 3)
    vn = vertex_normals(vertices, faces).astype(np.float32)
    vp = np.asarray(vertices, np.float32)
    n = w[:, 0:1] * vn[tri[:, 0]] + w[:, 1:2] * vn[tri[:, 1]] + w[:, 2:3] * vn[tri[:, 2]]
    pos = w[:, 0:1] * vp[tri[:, 0]] + w[:, 1:2] * vp[tri[:, 1]] + w[:, 2:3] * vp[tri[:, 2]]
    n *= 1.0 / np.maximum(np.sqrt((n * n).sum(1, keepdims=True)), 1e-12)
    view = -pos / np.maximum(np.sqrt((pos * pos).sum(1, keepdims=True)), 1e-12)
    facing = (n * view).sum(1)
    n *= np.where(facing < 0, -1.0, 1.0).astype(np.float32)[:, None]
    lt = np.asarray(light, np.float32)
    lt = lt / np.linalg.norm(lt)
    lambert = np.clip(n @ lt, 0.0, 1.0)
    half = lt[None, :] + view
    half *= 1.0 / np.maximum(np.sqrt((half * half).sum(1, keepdims=True)), 1e-12)
    spec = np.clip((n * half).sum(1), 0.0, 1.0) ** 24
    base = np.asarray(face_colors, np.float32)[fid]
    rgb = base * (ambient + (1.0 - ambient) * lambert)[:, None] + 255.0 * specular * spec[:, None]
    return np.clip(rgb, 0, 255).astype(np.float32)


def draw_meshes(
    image: np.ndarray,
    meshes: Sequence[Mesh],
    K: np.ndarray,
    *,
    alpha: float = 1.0,
    light: np.ndarray = DEFAULT_LIGHT,
    ambient: float = 0.35,
    cull_back: bool = False,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Render shaded meshes (camera coordinates, intrinsics K) over the image, z-buffered
    together so that hands occlude each other; `alpha` < 1 draws them semi-transparent (the
    nearest surface blended over the image)."""
    img = _target(image, out)
    verts, faces, colors = combine(meshes)
    if len(faces) == 0 or alpha <= 0:
        return img
    h, w = img.shape[:2]
    raster = rasterize(verts, faces, K, w, h, cull_back=cull_back)
    mask = raster.mask
    if not mask.any():
        return img
    rgb = shade(raster, verts, faces, colors, light=light, ambient=ambient)
    ys, xs = np.nonzero(mask)
    if alpha >= 1.0:
        img[ys, xs] = (rgb + 0.5).astype(np.uint8)
    else:
        old = img[ys, xs].astype(np.float32)
        img[ys, xs] = np.clip(old + (rgb - old) * alpha + 0.5, 0, 255).astype(np.uint8)
    return img


def hand_meshes(
    joints_3d: np.ndarray,
    present: Sequence[bool] | np.ndarray = (True, True),
    *,
    colors: Sequence[tuple[int, int, int]] | None = None,
) -> list[Mesh]:
    """Simple meshes of the present hands ((2, 21, 3) joints, left then right)."""
    from core.hands.simple_mesh import SIMPLE_HAND_FACES, simple_hand_mesh

    out = []
    for hand in (LEFT, RIGHT):
        if present[hand] and np.isfinite(joints_3d[hand]).all():
            color = SKIN_COLOR if colors is None else colors[hand]
            out.append(Mesh(simple_hand_mesh(joints_3d[hand]), SIMPLE_HAND_FACES, color))
    return out
