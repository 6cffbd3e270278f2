"""A z-buffered triangle rasteriser in numpy: which face covers each pixel, at what depth.

Vectorised over faces with scanline spans: for every (face, pixel row) pair the covered x
interval is solved from the three edge functions, and the spans are expanded into exactly the
covered pixels. A per-pixel minimum over all fragments keeps the nearest. Pixel convention as everywhere in the project:
(0, 0) is the centre of the top-left pixel, so a pixel is covered when its centre is inside the
projected triangle. Depth and barycentrics are perspective-correct.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.camera import project

#: faces with a vertex nearer than this (metres) are dropped (no near-plane clipping)
NEAR = 1e-3


@dataclass
class Raster:
    """Per pixel: the nearest face (-1 where none), its depth and perspective-correct
    barycentric weights of its three vertices."""

    face: np.ndarray  # (H, W) int32
    depth: np.ndarray  # (H, W) float32, inf where no face
    bary: np.ndarray  # (H, W, 3) float32

    @property
    def mask(self) -> np.ndarray:
        return self.face >= 0


def rasterize(
    vertices: np.ndarray,
    faces: np.ndarray,
    K: np.ndarray,
    width: int,
    height: int,
    *,
    cull_back: bool = False,
) -> Raster:
    """Rasterise a triangle mesh given in camera coordinates (V, 3) with intrinsics K.

    `cull_back` drops faces whose counter-clockwise side faces away from the camera (meshes
    wound outwards, like the simple hand mesh); leave it off for meshes of unknown winding.
    """
    v = np.asarray(vertices, dtype=np.float64)
    f = np.asarray(faces, dtype=np.int64)
    face_buf = np.full((height, width), -1, np.int32)
    depth_buf = np.full((height, width), np.inf, np.float32)
    bary_buf = np.zeros((height, width, 3), np.float32)
    if len(f) == 0 or len(v) == 0:
        return Raster(face_buf, depth_buf, bary_buf)

    uv = project(v, K)
    z = v[:, 2]
    tri_uv = uv[f]  # (F, 3, 2)
    tri_z = z[f]  # (F, 3)
    ok = np.isfinite(tri_uv).all(axis=(1, 2)) & (tri_z > NEAR).all(axis=1)
    x0, y0 = tri_uv[:, 0, 0], tri_uv[:, 0, 1]
    x1, y1 = tri_uv[:, 1, 0], tri_uv[:, 1, 1]
    x2, y2 = tri_uv[:, 2, 0], tri_uv[:, 2, 1]
    area = (x1 - x0) * (y2 - y0) - (x2 - x0) * (y1 - y0)  # > 0: clockwise on screen (y down)
    ok &= np.abs(area) > 1e-12
    if cull_back:
        # Counter-clockwise in camera space seen from outside appears counter-clockwise on a
        # y-down screen as negative area; faces turned away show positive area.
        ok &= area < 0
    with np.errstate(invalid="ignore"):
        xmin = np.ceil(np.nanmin(tri_uv[:, :, 0], axis=1))
        xmax = np.floor(np.nanmax(tri_uv[:, :, 0], axis=1))
        ymin = np.ceil(np.nanmin(tri_uv[:, :, 1], axis=1))
        ymax = np.floor(np.nanmax(tri_uv[:, :, 1], axis=1))
    ok &= (xmax >= 0) & (ymax >= 0) & (xmin <= width - 1) & (ymin <= height - 1)
    idx = np.nonzero(ok)[0]
    if idx.size == 0:
        return Raster(face_buf, depth_buf, bary_buf)
    xmin = np.clip(xmin[idx], 0, width - 1).astype(np.int64)
    xmax = np.clip(xmax[idx], 0, width - 1).astype(np.int64)
    ymin = np.clip(ymin[idx], 0, height - 1).astype(np.int64)
    ymax = np.clip(ymax[idx], 0, height - 1).astype(np.int64)
    keep = (xmax >= xmin) & (ymax >= ymin)
    idx, xmin, xmax, ymin, ymax = idx[keep], xmin[keep], xmax[keep], ymin[keep], ymax[keep]
    if idx.size == 0:
        return Raster(face_buf, depth_buf, bary_buf)

    # Scanline spans: on each pixel row a triangle covers one interval of x, where all three
    # edge functions (linear in x at fixed y) are >= 0. Expanding the spans gives exactly the
    # covered pixels, so the work is proportional to the covered area.
    inv_a = 1.0 / area[idx]
    X0, Y0, X1, Y1, X2, Y2 = x0[idx], y0[idx], x1[idx], y1[idx], x2[idx], y2[idx]
    heights = ymax - ymin + 1
    row_face = np.repeat(np.arange(len(idx)), heights)
    starts = np.cumsum(heights) - heights
    yrow = (ymin[row_face] + np.arange(len(row_face)) - starts[row_face]).astype(np.float64)
    rf = row_face
    ia = inv_a[rf]
    a0 = (Y1[rf] - Y2[rf]) * ia
    b0 = (X1[rf] * (Y2[rf] - yrow) - X2[rf] * (Y1[rf] - yrow)) * ia
    a1 = (Y2[rf] - Y0[rf]) * ia
    b1 = (X2[rf] * (Y0[rf] - yrow) - X0[rf] * (Y2[rf] - yrow)) * ia
    a2 = -(a0 + a1)
    b2 = 1.0 - b0 - b1
    lo = xmin[rf].astype(np.float64)
    hi = xmax[rf].astype(np.float64)
    empty = np.zeros(len(rf), bool)
    eps = 1e-9
    with np.errstate(divide="ignore", invalid="ignore"):
        for a, b in ((a0, b0), (a1, b1), (a2, b2)):
            bound = -b / a
            pos, neg = a > 1e-15, a < -1e-15
            lo = np.where(pos, np.maximum(lo, np.ceil(bound - eps)), lo)
            hi = np.where(neg, np.minimum(hi, np.floor(bound + eps)), hi)
            empty |= ~pos & ~neg & (b < -eps)
    count = np.where(empty, 0, np.maximum(hi - lo + 1, 0)).astype(np.int64)
    total = int(count.sum())
    if total == 0:
        return Raster(face_buf, depth_buf, bary_buf)
    pix_row = np.repeat(np.arange(len(rf)), count)
    span_start = np.cumsum(count) - count
    px = lo[pix_row] + (np.arange(total) - span_start[pix_row])
    py = yrow[pix_row]
    w0 = a0[pix_row] * px + b0[pix_row]
    w1 = a1[pix_row] * px + b1[pix_row]
    w = np.stack([w0, w1, 1.0 - w0 - w1], -1)
    np.clip(w, 0.0, 1.0, out=w)
    fidx = rf[pix_row]
    w *= 1.0 / tri_z[idx][fidx]
    iz = w.sum(-1)
    pix = py.astype(np.int64) * width + px.astype(np.int64)
    depth = (1.0 / iz).astype(np.float32)
    # z-test without sorting: the per-pixel minimum depth, then the fragments that reach it
    # (on an exact tie the last one written wins, which only happens on shared edges)
    zbuf = depth_buf.reshape(-1)
    np.minimum.at(zbuf, pix, depth)
    win = np.nonzero(depth == zbuf[pix])[0]
    flat = pix[win]
    face_buf.reshape(-1)[flat] = idx[fidx[win]]
    bary_buf.reshape(-1, 3)[flat] = w[win] / iz[win, None]
    return Raster(face_buf, depth_buf, bary_buf)


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted unit vertex normals (V, 3); NaN vertices give NaN normals."""
    v = np.asarray(vertices, dtype=np.float64)
    f = np.asarray(faces, dtype=np.int64)
    fn = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    n = np.zeros_like(v)
    for k in range(3):
        for axis in range(3):
            n[:, axis] += np.bincount(f[:, k], weights=fn[:, axis], minlength=len(v))
    norm = np.linalg.norm(n, axis=1, keepdims=True)
    return n / np.maximum(norm, 1e-20)
