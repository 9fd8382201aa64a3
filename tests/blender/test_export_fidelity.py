# SPDX-License-Identifier: GPL-3.0-or-later
"""What an engine or a web viewer reads from our FBX / glTF files is what the body does, read back with independent
readers (pygltflib for .glb, ufbx in a subprocess for FBX): the rest state is the rest pose (corrective weights 0,
the body's own betas), morph targets carry normals, the clip starts at time 0 and is named after the motion, a
``max_influences`` limit gives exactly core.influences' weights, and exports are reproducible byte for byte.
"""

import json
import subprocess
import sys
import warnings
from pathlib import Path

import bpy
import numpy as np
import pytest
from test_export import _validate_glb  # the Khronos validator (npm gltf-validator), as for every glTF test

from smpl_blender_addon.blender import body_model
from smpl_blender_addon.blender.export import export_fbx, export_gltf
from smpl_blender_addon.blender.fcurves import channelbag
from smpl_blender_addon.blender.motion import import_motion
from smpl_blender_addon.blender.shape import set_shape
from smpl_blender_addon.core.influences import limit_influences

ROOT = Path(__file__).resolve().parent.parent.parent
DEMO = ROOT / "assets" / "demo_motion_smplx.npz"
READER = ROOT / "tests" / "ufbx_reader.py"
BETAS = [2.0, -2.0, 1.0]
FRAMES = 8


def assert_valid_glb(path):
    """No error from the Khronos validator, when npm can install it (the other checks run without it)."""
    try:
        report = _validate_glb(path)
    except pytest.skip.Exception:
        return
    assert report["issues"]["numErrors"] == 0, report["issues"]["messages"][:5]


def shaped_walker(model="open-smpl"):
    """The bundled walk on an open body with a strong shape, correctives keyed at every frame."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SMPL-X walk onto SMPL: its jaw / eyes / fingers are dropped (said)
        arm = import_motion(DEMO, model=model, fps="source", correctives=True)
    set_shape(arm, betas=BETAS)
    return arm


# -- glTF, read with pygltflib -------------------------------------------------------------------------------------


class Glb:
    """A .glb read with pygltflib, with its accessors decoded (dense and sparse) as float64 / int arrays."""

    TYPES = {5126: np.float32, 5125: np.uint32, 5123: np.uint16, 5121: np.uint8}
    WIDTHS = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT4": 16}

    def __init__(self, path):
        pygltflib = pytest.importorskip("pygltflib")
        self.gltf = pygltflib.GLTF2().load(str(path))
        self.blob = self.gltf.binary_blob()

    def _view(self, view, offset, dtype, count):
        start = self.gltf.bufferViews[view].byteOffset + (offset or 0)
        return np.frombuffer(self.blob, dtype, count, start)

    def accessor(self, index):
        acc = self.gltf.accessors[index]
        width, dtype = self.WIDTHS[acc.type], self.TYPES[acc.componentType]
        out = (
            np.zeros((acc.count, width))
            if acc.bufferView is None
            else self._view(acc.bufferView, acc.byteOffset, dtype, acc.count * width)
            .reshape(acc.count, width)
            .astype(float)
        )
        if acc.sparse is not None:
            sparse = acc.sparse
            rows = self._view(
                sparse.indices.bufferView,
                sparse.indices.byteOffset,
                self.TYPES[sparse.indices.componentType],
                sparse.count,
            ).astype(np.int64)
            out[rows] = self._view(
                sparse.values.bufferView, sparse.values.byteOffset, dtype, sparse.count * width
            ).reshape(sparse.count, width)
        if acc.normalized and dtype is not np.float32:
            out = out / np.iinfo(dtype).max
        return out


def smooth_normals(positions, faces):
    """Corner-angle weighted vertex normals of a triangle mesh, vertices welded by position (glTF splits them at UV
    seams): the normals of the shape the positions describe, computed here, independently of any exporter."""
    _, weld = np.unique(np.round(positions, 5), axis=0, return_inverse=True)
    weld = weld.reshape(-1)
    corners = positions[faces]
    face_normals = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    face_normals /= np.linalg.norm(face_normals, axis=1, keepdims=True) + 1e-30
    total = np.zeros((weld.max() + 1, 3))
    for k in range(3):
        a, b = corners[:, (k + 1) % 3] - corners[:, k], corners[:, (k + 2) % 3] - corners[:, k]
        cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
        np.add.at(total, weld[faces[:, k]], face_normals * np.arccos(np.clip(cos, -1, 1))[:, None])
    total = total[weld]
    return total / np.linalg.norm(total, axis=1, keepdims=True)


def angles(a, b):
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    return np.degrees(np.arccos(np.clip((a * b).sum(1), -1.0, 1.0)))


def test_gltf_rest_state_clip_timing_and_morph_normals(tmp_path):
    arm = shaped_walker()
    result = export_gltf(arm, tmp_path / "walk.glb", frame_start=3, frame_end=3 + FRAMES - 1)
    glb = Glb(tmp_path / "walk.glb")
    (mesh,) = glb.gltf.meshes
    names = mesh.extras["targetNames"]
    weights = dict(zip(names, mesh.weights))
    # rest is rest: no corrective is on before playback; the shape is the body's own
    assert all(weights[n] == 0.0 for n in names if n.startswith("Pose"))
    np.testing.assert_allclose([weights[f"Shape{i:03d}"] for i in range(3)], BETAS, atol=1e-6)
    assert all(weights[n] == 0.0 for n in names if n.startswith("Shape") and int(n[5:]) >= 3)
    # the clip: named after the motion, from time 0, one sample per frame for exactly the exported frames
    (anim,) = glb.gltf.animations
    assert anim.name == result["name"] == "demo_motion_smplx"
    fps = bpy.context.scene.render.fps / bpy.context.scene.render.fps_base
    for sampler in anim.samplers:
        np.testing.assert_allclose(glb.accessor(sampler.input)[:, 0], np.arange(FRAMES) / fps, atol=1e-6)
    # morph targets carry normals: the rest shape's normals follow the shape
    (primitive,) = mesh.primitives
    assert all("NORMAL" in target for target in primitive.targets)
    positions = glb.accessor(primitive.attributes.POSITION)
    normals = glb.accessor(primitive.attributes.NORMAL)
    base = normals.copy()
    for w, target in zip(mesh.weights, primitive.targets):
        if w:
            positions += w * glb.accessor(target["POSITION"])
            normals += w * glb.accessor(target["NORMAL"])
    faces = glb.accessor(primitive.indices).reshape(-1, 3).astype(np.int64)
    truth = smooth_normals(positions, faces)
    assert_valid_glb(tmp_path / "walk.glb")  # the rewritten .glb (rest weights, name) is still valid
    assert np.percentile(angles(normals, truth), 99) < 4.0
    assert np.percentile(angles(base, truth), 99) > 8.0  # what the file's shading was without them


def test_fbx_static_channel_values_are_the_rest_and_the_take_is_named(tmp_path):
    pytest.importorskip("ufbx")
    arm = shaped_walker()
    for target in ("blender", "unity", "unreal"):
        path = tmp_path / f"{target}.fbx"
        export_fbx(arm, path, target=target, frame_start=1, frame_end=FRAMES)
        out = subprocess.run(
            [sys.executable, str(READER), str(path), "--frames", "2"], capture_output=True, text=True, timeout=120
        )
        assert out.returncode == 0, out.stderr[-2000:]
        info = json.loads(out.stdout)
        assert [s["name"] for s in info["stacks"]] == ["demo_motion_smplx"]
        channels = {c["name"]: c["weight"] for c in info["meshes"][0]["channels"]}
        pose = [w for n, w in channels.items() if n.startswith("Pose")]
        assert pose and all(w == 0.0 for w in pose), target
        np.testing.assert_allclose([channels[f"Shape{i:03d}"] for i in range(3)], BETAS, atol=1e-6)
        # the animated values are still the frames' (frame 2 of the bake)
        sampled = info["samples"][0]["weights"]
        assert any(abs(v) > 1e-3 for n, v in sampled.items() if n.startswith("Pose")), target
    assert bpy.context.scene.name == "Scene"  # the take's name was lent by the scene and given back


@pytest.mark.parametrize("limit", [4, 2])
def test_max_influences_gives_the_limited_weights_to_every_reader(tmp_path, limit):
    arm = shaped_walker()
    model = body_model(arm)
    expected = limit_influences(model.weights, limit)
    result = export_fbx(arm, tmp_path / "body.fbx", frame_start=1, frame_end=2, max_influences=limit)
    assert result["limited_vertices"] == int(np.any(expected != model.weights, axis=1).sum()) > 0
    pytest.importorskip("ufbx")
    npz = tmp_path / "body.npz"
    out = subprocess.run(
        [sys.executable, str(READER), str(tmp_path / "body.fbx"), "--npz", str(npz)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    clusters = json.loads(out.stdout)["meshes"][0]["clusters"]
    skin = np.load(npz, allow_pickle=False)["mesh0_skin"]
    columns = [model.joint_names.index(c["bone"] if isinstance(c, dict) else c) for c in clusters]
    np.testing.assert_allclose(skin, expected[:, columns], atol=1e-6)
    export_gltf(arm, tmp_path / "body.glb", frame_start=1, frame_end=2, max_influences=limit)
    glb = Glb(tmp_path / "body.glb")
    attributes = glb.gltf.meshes[0].primitives[0].attributes
    assert getattr(attributes, "JOINTS_1", None) is None and getattr(attributes, "WEIGHTS_1", None) is None  # 1 set
    gltf_weights = glb.accessor(attributes.WEIGHTS_0)
    assert (np.count_nonzero(gltf_weights > 1e-6, axis=1) <= limit).all()
    np.testing.assert_allclose(gltf_weights.sum(1), 1.0, atol=2e-3)  # stored as normalised 8/16-bit or float
    assert_valid_glb(tmp_path / "body.glb")
    # the body in Blender is not changed by the export
    assert body_model(arm) is model and np.count_nonzero(model.weights, axis=1).max() > limit


def test_exports_are_reproducible(tmp_path):
    arm = shaped_walker()
    for k in range(2):
        export_gltf(arm, tmp_path / f"{k}.glb", frame_start=1, frame_end=4)
        export_fbx(arm, tmp_path / f"{k}.fbx", frame_start=1, frame_end=4, time_stamp=1_700_000_000)
        if k == 0:
            import time

            time.sleep(1.1)  # Blender's FBX time stamp has a resolution of a second
    assert (tmp_path / "0.glb").read_bytes() == (tmp_path / "1.glb").read_bytes()
    assert (tmp_path / "0.fbx").read_bytes() == (tmp_path / "1.fbx").read_bytes()


def test_a_model_that_drops_joints_says_so(tmp_path):
    with pytest.warns(UserWarning, match=r"joints of the smplx motion do not exist on a smpl body.*jaw"):
        import_motion(DEMO, model="open-smpl", fps="source", correctives=False)


def test_unreal_root_motion_is_on_the_root_node_and_the_joints_stay(tmp_path):
    pytest.importorskip("ufbx")
    arm = shaped_walker("open-smplx")
    frames = ["1", "15", "30"]
    read = {}
    for root_motion in (False, True):
        path = tmp_path / f"unreal-{root_motion}.fbx"
        result = export_fbx(arm, path, target="unreal", frame_start=1, frame_end=30, root_motion=root_motion)
        assert result["root_motion"] is root_motion
        out = subprocess.run(
            [sys.executable, str(READER), str(path), "--frames", *frames], capture_output=True, text=True, timeout=120
        )
        assert out.returncode == 0, out.stderr[-2000:]
        read[root_motion] = json.loads(out.stdout)
    root = arm.name  # the armature node: Unreal's root bone
    assert not any(fc.data_path == "location" for fc in channelbag(arm).fcurves)  # only the temporary copy moved
    offsets = []
    for before, after in zip(read[False]["samples"], read[True]["samples"]):
        for joint, world in before["world"].items():
            if joint != root:
                np.testing.assert_allclose(np.array(after["world"][joint])[:3, 3], np.array(world)[:3, 3], atol=1e-3)
        node = np.array(after["world"][root])[:3, 3]
        pelvis = np.array(after["world"]["pelvis"])[:3, 3]
        assert node[2] == pytest.approx(0.0, abs=1e-6)  # on the ground plane (Z up, centimetres)
        offsets.append(pelvis[:2] - node[:2])
        assert np.array(before["world"][root])[:3, 3] == pytest.approx(np.zeros(3), abs=1e-6)
    moved = np.array([np.array(s["world"][root])[:3, 3] for s in read[True]["samples"]])
    assert np.linalg.norm(moved[-1] - moved[0]) > 50  # the walk travels (cm) on the root
    np.testing.assert_allclose(offsets, np.repeat(offsets[:1], len(offsets), axis=0), atol=1e-3)  # the pelvis rides it
