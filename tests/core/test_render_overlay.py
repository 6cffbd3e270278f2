"""The numpy renderer: projection convention, skeleton pixels, rasteriser coverage and z-order."""

from __future__ import annotations

import numpy as np

from core.camera import in_image, project, unproject
from core.hands.simple_mesh import SIMPLE_HAND_FACES, simple_hand_mesh
from core.hands.skeleton import RELAXED_FINGERS, hand_joints
from core.labels.document import default_intrinsics
from core.labels.joints import BONES, LEFT, RIGHT
from core.render.overlay import HAND_COLORS, Mesh, draw_hands, draw_meshes, draw_skeleton
from core.render.raster import rasterize

W, H = 160, 120
K = default_intrinsics(W, H)


def _two_hands(z: float = 0.45) -> np.ndarray:
    rot = np.array([[np.pi, 0, 0.3], [np.pi, 0, -0.3]])
    tr = np.array([[-0.1, 0.06, z], [0.1, 0.06, z]])
    return np.stack([hand_joints(rot[h], tr[h], RELAXED_FINGERS, side=h) for h in (LEFT, RIGHT)])


def test_project_pixel_centre_convention() -> None:
    # the optical axis hits the principal point ((W-1)/2, (H-1)/2): the image centre
    assert np.allclose(project(np.array([0.0, 0.0, 2.0]), K), [(W - 1) / 2, (H - 1) / 2])
    p = np.array([[0.1, -0.2, 1.5], [0.0, 0.0, -1.0], [np.nan, 0, 1]])
    uv = project(p, K)
    assert np.allclose(uv[0], [K[0, 0] * 0.1 / 1.5 + K[0, 2], -K[1, 1] * 0.2 / 1.5 + K[1, 2]])
    assert np.isnan(uv[1:]).all()  # behind the camera, NaN
    assert np.allclose(unproject(uv[0], 1.5, K), p[0])
    assert in_image(np.array([[-0.5, -0.5], [W - 0.51, 0.0]]), W, H).all()
    assert not in_image(np.array([[W - 0.5, 0.0]]), W, H).any()


def test_skeleton_drawn_where_projection_says() -> None:
    img = np.zeros((H, W, 3), np.uint8)
    uv = project(_two_hands(), K)
    out = draw_hands(img, uv, alpha=1.0)
    assert img.max() == 0  # input untouched
    for hand in (LEFT, RIGHT):
        for a, b in BONES:
            mid = np.round((uv[hand, a] + uv[hand, b]) / 2).astype(int)
            assert out[mid[1], mid[0]].max() > 60, (hand, a, b)
        # joint dots are a lighter tint of the hand's colour
        u, v = np.round(uv[hand, 8]).astype(int)
        color = np.array(HAND_COLORS[hand], float)
        px = out[v, u].astype(float)
        assert np.corrcoef(px, color + (255 - color) * 0.55)[0, 1] > 0.9
    # far from every joint nothing is drawn
    assert out[2, 2].max() == 0 and out[H - 3, W // 2].max() == 0
    # left and right hands have distinct colours on their own pixels
    lu, lv = np.round(uv[LEFT, 0]).astype(int)
    ru, rv = np.round(uv[RIGHT, 0]).astype(int)
    assert not np.array_equal(out[lv, lu], out[rv, ru])


def test_skeleton_alpha_blend_and_nan() -> None:
    img = np.full((40, 40, 3), 100, np.uint8)
    j = np.full((21, 2), np.nan)
    j[0], j[1] = [5.0, 20.0], [35.0, 20.0]  # one bone (wrist-thumb cmc), the rest unknown
    out = draw_skeleton(img, j, color=(200, 0, 0), joint_color=(200, 0, 0), alpha=0.5)
    assert np.allclose(out[20, 20], [150, 50, 50], atol=1)  # half-way mix, not drawn twice
    assert (out[5] == 100).all()  # untouched row
    drawn = out.copy()
    draw_skeleton(drawn, np.full((21, 2), np.nan), out=drawn)  # all NaN: nothing drawn
    assert np.array_equal(drawn, out)


def _brute_force_cover(tri_uv: np.ndarray) -> np.ndarray:
    ys, xs = np.mgrid[0:H, 0:W]
    p = np.stack([xs, ys], -1).astype(float)

    def edge(a, b):
        return (b[0] - a[0]) * (p[..., 1] - a[1]) - (b[1] - a[1]) * (p[..., 0] - a[0])

    e = [edge(tri_uv[0], tri_uv[1]), edge(tri_uv[1], tri_uv[2]), edge(tri_uv[2], tri_uv[0])]
    return ((e[0] >= 0) & (e[1] >= 0) & (e[2] >= 0)) | ((e[0] <= 0) & (e[1] <= 0) & (e[2] <= 0))


def test_rasteriser_covers_pixel_centres_inside_and_keeps_nearest() -> None:
    rng = np.random.default_rng(0)
    for _ in range(10):
        v = np.column_stack(
            [rng.uniform(-0.3, 0.3, 3), rng.uniform(-0.25, 0.25, 3), np.full(3, 1.0)]
        )
        r = rasterize(v, np.array([[0, 1, 2]]), K, W, H)
        expected = _brute_force_cover(project(v, K))
        # only pixels whose centre lies on an edge (within rounding) may differ
        assert (r.mask != expected).sum() <= 2
        assert np.allclose(r.depth[r.mask], 1.0, atol=1e-5)
        assert np.allclose(r.bary[r.mask].sum(-1), 1.0, atol=1e-5)
    # two overlapping squares: the nearer one wins wherever both cover, whatever the order
    quad = np.array([[0, 1, 2], [0, 2, 3]])
    sq = np.array([[-0.2, -0.2, 0], [0.2, -0.2, 0], [0.2, 0.2, 0], [-0.2, 0.2, 0]])
    near, far = sq + [0.05, 0, 1.0], sq + [-0.05, 0, 1.5]
    for verts, faces, near_faces in (
        (np.concatenate([near, far]), np.concatenate([quad, quad + 4]), (0, 1)),
        (np.concatenate([far, near]), np.concatenate([quad, quad + 4]), (2, 3)),
    ):
        r = rasterize(verts, faces, K, W, H)
        c = (H // 2, W // 2)
        assert r.face[c] in near_faces and np.isclose(r.depth[c], 1.0, atol=1e-5)


def test_mesh_render_matches_projection_and_culling() -> None:
    joints = _two_hands()
    meshes = [Mesh(simple_hand_mesh(joints[h]), SIMPLE_HAND_FACES) for h in (LEFT, RIGHT)]
    bg = np.zeros((H, W, 3), np.uint8)
    out = draw_meshes(bg, meshes, K)
    covered = out.max(-1) > 0
    uv = np.round(project(joints, K)).astype(int)
    for hand in (LEFT, RIGHT):
        for j in (0, 5, 9, 12, 13, 17):  # joints inside the hand's outline
            assert covered[uv[hand, j, 1], uv[hand, j, 0]], (hand, j)
    assert not covered[:, :5].any() and not covered[:5].any()
    # the simple mesh is closed and wound outwards: culling back faces changes nothing visible
    culled = draw_meshes(bg, meshes, K, cull_back=True)
    assert (np.abs(culled.astype(int) - out).max(-1) > 2).sum() <= 3
    # the visible surface is the one facing the camera: depth at the middle knuckle is in front
    v = np.concatenate([m.vertices for m in meshes])
    f = np.concatenate([SIMPLE_HAND_FACES, SIMPLE_HAND_FACES + len(meshes[0].vertices)])
    r = rasterize(v, f, K, W, H)
    u, vv = uv[RIGHT, 9]
    assert r.depth[vv, u] < joints[RIGHT, 9, 2]
    # semi-transparent: a mix of the background and the opaque colour
    half = draw_meshes(np.full((H, W, 3), 200, np.uint8), meshes, K, alpha=0.5)
    p = (uv[RIGHT, 9, 1], uv[RIGHT, 9, 0])
    assert np.allclose(half[p].astype(float), (200 + out[p].astype(float)) / 2, atol=2)


# drawing speed: bench/bench_overlay.py
