"""Binary glTF export, read back with pygltflib (an independent glTF reader): per frame the
animation shows exactly the hand the labels hold, in glTF's axes, with the video's camera."""

from __future__ import annotations

import math

import numpy as np
import pytest

from core.cli.main import main
from core.edits import EditHistory
from core.hands.simple_mesh import simple_hand_mesh
from core.io.gltf import BLOCK, export_gltf
from core.io.labels_h5 import load_labels, save_labels
from core.labels.document import MANO_FIELDS

try:
    import pygltflib
except ImportError:  # each test fails, naming it (the `requires` mark, tests/conftest.py)
    pygltflib = None

pytestmark = pytest.mark.requires("pygltflib", "pygltflib (the test extra, requirements.lock)")


class Glb:
    """A .glb read with pygltflib, with what a viewer computes at a frame's time."""

    def __init__(self, path):
        self.g = pygltflib.GLTF2().load_binary(str(path))
        self.blob = self.g.binary_blob()

    def array(self, index):
        acc = self.g.accessors[index]
        view = self.g.bufferViews[acc.bufferView]
        dtype = np.uint32 if acc.componentType == pygltflib.UNSIGNED_INT else np.float32
        width = {"SCALAR": 1, "VEC3": 3, "VEC4": 4}[acc.type]
        raw = self.blob[view.byteOffset : view.byteOffset + view.byteLength]
        return np.frombuffer(raw, dtype).reshape(acc.count, width)

    def node(self, name):
        return next(i for i, n in enumerate(self.g.nodes) if n.name == name)

    def sampled(self, node, path, t):
        """The STEP-interpolated value of an animated property at time t."""
        (anim,) = self.g.animations
        (ch,) = [c for c in anim.channels if c.target.node == node and c.target.path == path]
        s = anim.samplers[ch.sampler]
        times = self.array(s.input)[:, 0]
        out = self.array(s.output).reshape(len(times), -1)
        i = np.searchsorted(times, t + 1e-6) - 1
        return out[max(i, 0)]

    def hand_at(self, hand, frame, fps):
        """(vertices in the camera_frame node's axes, visible) of a hand at a frame's time."""
        node = self.node(f"{hand}_hand.{frame // BLOCK:03d}")
        t = frame / fps
        scale = self.sampled(node, "scale", t)
        w = self.sampled(node, "weights", t)
        (prim,) = self.g.meshes[self.g.nodes[node].mesh].primitives
        v = self.array(prim.attributes.POSITION).copy()
        for k, target in enumerate(prim.targets):
            v += w[k] * self.array(target["POSITION"])
        return v, bool(scale[0] == 1.0)


@pytest.fixture
def doc(sample):
    doc = load_labels(sample[1])
    EditHistory(doc).apply("delete_range", hand="left", start=40, end=49)
    return doc


def test_gltf_animates_the_simple_mesh_and_places_the_camera(doc, tmp_path):
    out = tmp_path / "hands.glb"
    assert export_gltf(doc, out) == {"left": "simple", "right": "simple"}
    glb = Glb(out)
    assert glb.g.asset.version == "2.0"
    root = glb.g.nodes[glb.g.scenes[glb.g.scene].nodes[0]]
    assert root.name == "camera_frame" and root.rotation == [1.0, 0.0, 0.0, 0.0]
    (cam,) = glb.g.cameras
    fy, h, w = doc.K[1, 1], doc.meta.height, doc.meta.width
    assert cam.perspective.yfov == pytest.approx(2 * math.atan(h / 2 / fy))
    assert cam.perspective.aspectRatio == pytest.approx(w / h)
    cam_node = glb.g.nodes[glb.node("camera")]
    assert cam_node.camera == 0 and glb.node("camera") in root.children
    fps = doc.meta.fps
    for hand, name in enumerate(("left", "right")):
        t = doc.hands[hand]
        for f in (0, 33, 44, 47, 90, 179):
            v, shown = glb.hand_at(name, f, fps)
            assert shown == bool(t.present[f]), (name, f)
            if shown:
                want = simple_hand_mesh(t.joints_3d[f])
                np.testing.assert_allclose(v, want, atol=2e-6)
    (prim,) = glb.g.meshes[0].primitives
    assert prim.mode == pygltflib.TRIANGLES
    faces = glb.array(prim.indices)
    assert faces.max() < glb.g.accessors[prim.attributes.POSITION].count


def test_gltf_skeleton_and_cli(doc, tmp_path, capsys):
    labels = save_labels(doc, tmp_path / "l.h5")
    out = tmp_path / "s.glb"
    assert main(["export", str(labels), "gltf", "-o", str(out), "--mesh", "skeleton"]) == 0
    assert "left skeleton, right skeleton" in capsys.readouterr().out
    glb = Glb(out)
    v, shown = glb.hand_at("right", 100, doc.meta.fps)
    assert shown and v.shape == (21, 3)
    np.testing.assert_allclose(v, doc.hands[1].joints_3d[100], atol=1e-6)
    (prim,) = glb.g.meshes[0].primitives
    assert prim.mode == pygltflib.LINES and glb.array(prim.indices).size == 40
    assert main(["export", str(labels), "gltf", "-o", str(out), "--mesh", "mano"]) == 2


def test_gltf_uses_the_mano_mesh_when_mano_is_set_up(doc, synthetic_mano_dir, tmp_path):
    from core.hands.mano import ManoModel

    model = ManoModel(synthetic_mano_dir)
    rng = np.random.default_rng(0)
    for hand in (0, 1):
        f = np.flatnonzero(doc.hands[hand].present)
        params = {
            "global_orient": rng.normal(0, 0.3, (len(f), 3)),
            "hand_pose": rng.normal(0, 0.2, (len(f), 45)),
            "betas": np.zeros((len(f), 10)),
            "transl": np.tile([0.0, 0.0, 0.5], (len(f), 1)),
        }
        doc.write(hand, f, params)
    out = tmp_path / "m.glb"
    assert export_gltf(doc, out, model=model) == {"left": "mano", "right": "mano"}
    glb = Glb(out)
    v, shown = glb.hand_at("left", 70, doc.meta.fps)
    want = model.vertices(0, {k: getattr(doc.hands[0], k)[[70]] for k in MANO_FIELDS})[0]
    assert shown and v.shape == (778, 3)
    np.testing.assert_allclose(v, want, atol=1e-5)
