# SPDX-License-Identifier: GPL-3.0-or-later
"""FBX / glTF / Alembic export of animated bodies, read back with independent readers and checked against the core.

FBX files are read with ufbx in a subprocess (tests/ufbx_reader.py; ufbx 0.0.5 can crash when scenes are freed),
glTF with the Khronos validator (npm gltf-validator, installed in a cache folder outside the repository) and pygltflib,
Alembic by Blender's own importer against the evaluated mesh it was written from.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import bpy
import numpy as np
import pytest
from blender_helpers import evaluated_world_vertices, synthetic_model

from smpl_blender_addon import core
from smpl_blender_addon.blender import add_body, animation, body_mesh, body_model, compat, fcurves
from smpl_blender_addon.blender.body import to_blender
from smpl_blender_addon.blender.correctives import key_correctives
from smpl_blender_addon.blender.export import export_abc, export_fbx, export_gltf

READER = Path(__file__).resolve().parent.parent / "ufbx_reader.py"
FRAMES = 12
FPS = 30


def animated_body(kind="smplx", frames=FRAMES, seed=0, betas=None):
    """Body keyed at frames 1..frames: random poses, root motion, correctives. Returns arm, model, poses, transl.

    kind: a synthetic model kind ("smpl", "smplh", "smplx") or a built-in body name ("open-smpl").
    """
    bpy.context.scene.render.fps = FPS
    arm = add_body(kind if kind.startswith("open-") else synthetic_model(kind), betas=betas)
    model = body_model(arm)
    rng = np.random.default_rng(seed)
    poses = rng.normal(0, 0.5, (frames, model.pose_size))
    transl = rng.normal(0, 0.3, (frames, 3))
    animation.key_pose_sequence(arm, np.arange(1.0, frames + 1), poses, transl)
    key_correctives(arm, "KEYFRAMES")
    return arm, model, poses, transl


def read_fbx(path, frames=(), npz=None, skinned=False):
    pytest.importorskip("ufbx")  # the independent reader, run in its own process below
    cmd = [sys.executable, str(READER), str(path), "--frames", *map(str, frames)]
    if npz:
        cmd += ["--npz", str(npz)] + (["--skinned"] if skinned else [])
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    info = json.loads(out.stdout)
    return info, (dict(np.load(npz, allow_pickle=False)) if npz else None)


def core_joints(model, pose, transl, betas=None):
    """The core's world joints (J, 3) in SMPL axes, metres."""
    return model.forward(betas=betas, pose=pose, transl=transl, dtype=np.float64).joints[0]


def world_position(sample, name):
    return np.array(sample["world"][name])[:3, 3]


# ------------------------------------------------------------------------------------------------------------ FBX


def test_fbx_blender_preset_joints_and_weights_equal_the_core(tmp_path):
    betas = np.linspace(-1.0, 1.0, 10)
    arm, model, poses, transl = animated_body(betas=betas)
    mid = 7
    result = export_fbx(arm, tmp_path / "body.fbx")
    assert result["frames"] == FRAMES and result["fast"] and os.path.isfile(result["path"])
    info, arrays = read_fbx(tmp_path / "body.fbx", frames=[mid], npz=tmp_path / "body.npz", skinned=True)
    assert info["settings"]["unit_meters"] == pytest.approx(0.01)  # centimetres
    assert info["settings"]["axes"]["up"] == 2  # UFBX_COORDINATE_AXIS_POSITIVE_Y
    bones = [n["name"] for n in info["nodes"] if n["is_bone"]]
    assert sorted(bones) == sorted(model.joint_names)  # joints by name, no *_end leaf bones
    assert not any(n["name"].endswith("_end") for n in info["nodes"])
    (mesh,) = info["meshes"]
    assert mesh["num_vertices"] == model.num_vertices
    assert sorted(c["bone"] for c in mesh["clusters"]) == sorted(model.joint_names)  # skinned to every joint
    skin = arrays["mesh0_skin"]
    cluster_bones = [c["bone"] for c in mesh["clusters"]]
    order = [cluster_bones.index(n) for n in model.joint_names]
    np.testing.assert_allclose(skin[:, order], model.weights, atol=1e-6)
    channels = [c["name"] for c in mesh["channels"]]
    assert channels[:10] == [f"Shape{i:03d}" for i in range(10)]
    assert sum(c.startswith("Pose") for c in channels) == 9 * (model.num_joints - 1)
    stack = info["stacks"][0]
    assert stack["time_end"] - stack["time_begin"] == pytest.approx((FRAMES - 1) / FPS)
    # mid frame: joint world positions (cm, Y-up == SMPL axes) and blend weights equal the core's
    (sample,) = info["samples"]
    expected = core_joints(model, poses[mid - 1], transl[mid - 1], betas) * 100.0
    got = np.array([world_position(sample, n) for n in model.joint_names])
    np.testing.assert_allclose(got, expected, atol=2e-3)
    weights = core.pose_corrective_weights(poses[mid - 1], model)[0]
    got_w = np.array([sample["weights"][f"Pose{i:03d}"] for i in range(len(weights))])
    np.testing.assert_allclose(got_w, weights, atol=2e-5)
    assert got_w.min() < -0.1  # values outside [0, 1] are carried
    np.testing.assert_allclose([sample["weights"][f"Shape{i:03d}"] for i in range(10)], betas, atol=1e-6)
    # the whole chain as ufbx deforms it (betas, expression, correctives, skin) equals the core's vertices
    vertices = model.forward(betas=betas, pose=poses[mid - 1], transl=transl[mid - 1], dtype=np.float64).vertices[0]
    np.testing.assert_allclose(arrays["sample0_mesh0_skinned"], vertices * 100.0, atol=5e-4)


def test_fast_bake_writes_what_the_plain_exporter_writes(tmp_path):
    other, _, _, _ = animated_body("smplx", frames=8, seed=1)  # another body in the scene, not exported
    arm, _, _, _ = animated_body("smplh", frames=8)
    fast = export_fbx(arm, tmp_path / "fast.fbx")
    plain = export_fbx(arm, tmp_path / "plain.fbx", fast=False)
    assert fast["fast"] and not plain["fast"]
    a, arrays_a = read_fbx(tmp_path / "fast.fbx", frames=[1, 4, 8], npz=tmp_path / "a.npz")
    b, arrays_b = read_fbx(tmp_path / "plain.fbx", frames=[1, 4, 8], npz=tmp_path / "b.npz")
    assert a["nodes"] == b["nodes"] and a["meshes"] == b["meshes"] and a["stacks"] == b["stacks"]
    assert a["samples"] == b["samples"]  # every node's world matrix and every blend weight, exactly
    for key in arrays_a:
        np.testing.assert_array_equal(arrays_a[key], arrays_b[key])
    assert other.name not in {n["name"] for n in a["nodes"]}
    assert not body_mesh(other).hide_viewport and not body_mesh(arm).hide_viewport


@pytest.mark.parametrize("target, unit, up, scale", [("unity", 1.0, 2, 1.0), ("unreal", 0.01, 4, 100.0)])
def test_fbx_targets_axes_units_and_joint_positions(tmp_path, target, unit, up, scale):
    arm, model, poses, transl = animated_body("smpl", frames=6)
    export_fbx(arm, tmp_path / "body.fbx", target=target)
    info, arrays = read_fbx(tmp_path / "body.fbx", frames=[4], npz=tmp_path / "body.npz", skinned=True)
    assert info["settings"]["unit_meters"] == pytest.approx(unit)
    assert info["settings"]["axes"]["up"] == up  # 2: +Y (Unity), 4: +Z (Unreal)
    roots = [n for n in info["nodes"] if n["parent"] is None]
    assert {n["name"] for n in roots} == {arm.name, body_mesh(arm).name}
    for node in roots:  # scale 1 and rotation 0: units and axes are in the data, not in the root nodes
        np.testing.assert_allclose(node["scale"], [1.0, 1.0, 1.0], atol=1e-6)
        np.testing.assert_allclose(np.abs(node["rotation"]), [0.0, 0.0, 0.0, 1.0], atol=1e-6)
    # bones keep their lengths: rest pelvis-to-spine distance equals the core's, in file units
    rest = {n["name"]: np.array(n["node_to_world"])[:3, 3] for n in info["nodes"]}
    J0 = model.rest_joints()
    np.testing.assert_allclose(
        np.linalg.norm(rest["spine1"] - rest["pelvis"]), np.linalg.norm(J0[3] - J0[0]) * scale, rtol=1e-5
    )
    joints = core_joints(model, poses[3], transl[3])
    expected = joints if up == 2 else to_blender(joints)  # Y-up files hold SMPL axes, Z-up files Blender's
    got = np.array([world_position(info["samples"][0], n) for n in model.joint_names])
    np.testing.assert_allclose(got, expected * scale, atol=2e-3 * scale / 100 + 1e-5)
    vertices = model.forward(pose=poses[3], transl=transl[3], dtype=np.float64).vertices[0]
    vertices = vertices if up == 2 else to_blender(vertices)
    np.testing.assert_allclose(arrays["sample0_mesh0_skinned"], vertices * scale, atol=5e-6 * scale)


def test_correctives_none_drops_pose_keys_and_leaves_the_scene(tmp_path):
    arm, model, _, _ = animated_body("smpl", frames=5)
    mesh = body_mesh(arm)
    before = (
        mesh.data.name,
        len(mesh.data.shape_keys.key_blocks),
        len(bpy.data.meshes),
        len(bpy.data.shape_keys),
        len(fcurves.channelbag(mesh.data.shape_keys).fcurves),
    )
    export_fbx(arm, tmp_path / "skel.fbx", correctives="none")
    after = (
        mesh.data.name,
        len(mesh.data.shape_keys.key_blocks),
        len(bpy.data.meshes),
        len(bpy.data.shape_keys),
        len(fcurves.channelbag(mesh.data.shape_keys).fcurves),
    )
    assert after == before
    info, _ = read_fbx(tmp_path / "skel.fbx", frames=[3])
    (m,) = info["meshes"]
    names = [c["name"] for c in m["channels"]]
    assert names == [f"Shape{i:03d}" for i in range(10)]  # shape kept, no Pose###
    assert not any(k.startswith("Pose") for k in info["samples"][0]["weights"])
    assert m["name"] == mesh.data.name


def test_scene_restored_other_objects_not_exported_and_range_default(tmp_path):
    arm, model, _, _ = animated_body("smpl", frames=9)
    bpy.ops.mesh.primitive_cube_add()
    cube = bpy.context.active_object
    mesh = body_mesh(arm)
    mesh.hide_set(True)
    arm.select_set(False)
    scene = bpy.context.scene
    scene.frame_start, scene.frame_end = 3, 50
    scene.frame_set(5)

    def state():
        return (
            scene.frame_current,
            scene.frame_start,
            scene.frame_end,
            bpy.context.view_layer.objects.active,
            [o.name for o in bpy.context.selected_objects],
            mesh.hide_get(),
            arm.hide_viewport,
        )

    before = state()
    calls = []
    result = export_fbx(mesh, tmp_path / "a.fbx", progress=calls.append)
    assert state() == before
    assert result["frames"] == 9  # the action's range 1..9, not the scene's 3..50
    assert calls and calls[-1] == pytest.approx(1.0) and calls == sorted(calls)
    info, _ = read_fbx(tmp_path / "a.fbx")
    assert cube.name not in [n["name"] for n in info["nodes"]]
    assert info["stacks"][0]["time_end"] == pytest.approx(9 / FPS)
    # a failure (the target is a folder) leaves no file, no temporary folder and the same scene
    target = tmp_path / "folder.fbx"
    target.mkdir()
    with pytest.raises(OSError):
        export_fbx(arm, target)
    assert state() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.fbx", "folder.fbx"]
    assert not any(target.iterdir())
    with pytest.raises(ValueError, match="not an SMPL body"):
        export_fbx(cube, tmp_path / "cube.fbx")
    # a body in an excluded collection: a clear error, nothing written, the scene as it was
    hidden = bpy.data.collections.new("hidden")
    scene.collection.children.link(hidden)
    for obj in (arm, mesh):
        hidden.objects.link(obj)
        for user in list(obj.users_collection):
            if user != hidden:
                user.objects.unlink(obj)
    bpy.context.view_layer.layer_collection.children["hidden"].exclude = True
    with pytest.raises(ValueError, match="not visible"):
        export_fbx(arm, tmp_path / "hidden.fbx")
    assert not (tmp_path / "hidden.fbx").exists() and scene.frame_current == 5


def test_unreal_copies_leave_no_trace_and_pose_mode_is_kept(tmp_path):
    arm, model, _, _ = animated_body("smpl", frames=5)
    mesh = body_mesh(arm)
    bpy.context.view_layer.objects.active = arm
    bpy.ops.object.mode_set(mode="POSE")

    def snapshot():
        bag = fcurves.channelbag(arm)
        co = {fc.data_path + str(fc.array_index): [tuple(k.co) for k in fc.keyframe_points] for fc in bag.fcurves}
        counts = tuple(
            len(c)
            for c in (bpy.data.objects, bpy.data.meshes, bpy.data.armatures, bpy.data.actions, bpy.data.shape_keys)
        )
        names = (arm.name, arm.data.name, mesh.name, mesh.data.name, arm.mode, bpy.context.view_layer.objects.active)
        rest = [tuple(b.head_local) for b in arm.data.bones]
        return counts, names, co, rest, tuple(mesh.data.vertices[0].co)

    before = snapshot()
    result = export_fbx(arm, tmp_path / "ue.fbx", target="unreal", correctives="none")
    assert result["fast"]
    assert snapshot() == before
    info, _ = read_fbx(tmp_path / "ue.fbx")
    assert {n["name"] for n in info["nodes"]} >= {arm.name, mesh.name}  # the copies carried the original names


def test_export_from_edit_mode_returns_to_edit_mode(tmp_path):
    arm, _, _, _ = animated_body("smpl", frames=3)
    mesh = body_mesh(arm)
    bpy.context.view_layer.objects.active = mesh
    bpy.ops.object.mode_set(mode="EDIT")
    result = export_fbx(arm, tmp_path / "edit.fbx", correctives="none")
    assert result["frames"] == 3 and os.path.isfile(tmp_path / "edit.fbx")
    assert bpy.context.view_layer.objects.active == mesh and mesh.mode == "EDIT"
    bpy.ops.object.mode_set(mode="OBJECT")
    assert len(mesh.data.shape_keys.key_blocks) == 1 + 10 + 9 * 23


def test_shape_keys_driven_by_bones_keep_the_plain_bake(tmp_path):
    arm = add_body(synthetic_model("smpl"))
    animation.key_pose_sequence(arm, np.array([1.0, 5.0]), np.random.default_rng(2).normal(0, 0.5, (2, 72)))
    key = body_mesh(arm).data.shape_keys
    fcurve = key.key_blocks["Pose000"].driver_add("value")
    var = fcurve.driver.variables.new()
    var.type = "TRANSFORMS"
    var.targets[0].id = arm
    var.targets[0].bone_target = "left_hip"
    var.targets[0].transform_type = "ROT_X"
    fcurve.driver.expression = var.name
    result = export_fbx(arm, tmp_path / "driven.fbx")
    assert not result["fast"]
    info, _ = read_fbx(tmp_path / "driven.fbx", frames=[1, 5])
    values = [s["weights"]["Pose000"] for s in info["samples"]]
    assert values[0] != pytest.approx(values[1])  # the driven value is animated in the file


def test_live_automatic_correctives_bake_the_same_with_the_fast_path(tmp_path):
    from smpl_blender_addon.blender import auto_correctives

    arm = add_body(synthetic_model("smpl"))  # correctives not keyed: the frame handler sets them from the pose
    poses = np.random.default_rng(3).normal(0, 0.5, (4, 72))
    animation.key_pose_sequence(arm, np.arange(1.0, 5.0), poses)
    auto_correctives.enable()
    try:
        fast = export_fbx(arm, tmp_path / "fast.fbx")
        plain = export_fbx(arm, tmp_path / "plain.fbx", fast=False)
    finally:
        auto_correctives.disable()
    assert fast["fast"] and not plain["fast"]
    a, _ = read_fbx(tmp_path / "fast.fbx", frames=[2, 3])
    b, _ = read_fbx(tmp_path / "plain.fbx", frames=[2, 3])
    assert a["samples"] == b["samples"]
    model = body_model(arm)
    got = [a["samples"][0]["weights"][f"Pose{i:03d}"] for i in range(9 * 23)]
    np.testing.assert_allclose(got, core.pose_corrective_weights(poses[1], model)[0], atol=2e-5)


def test_body_without_animation_or_correctives_exports_the_scene_range(tmp_path):
    arm = add_body(synthetic_model("smpl"), correctives=False)
    scene = bpy.context.scene
    scene.frame_start, scene.frame_end = 2, 4
    result = export_fbx(arm, tmp_path / "still.fbx")
    assert result["frames"] == 3
    info, _ = read_fbx(tmp_path / "still.fbx")
    assert not any(c["name"].startswith("Pose") for c in info["meshes"][0]["channels"])
    with pytest.raises(ValueError, match="empty"):
        export_fbx(arm, tmp_path / "none.fbx", frame_start=5, frame_end=4)
    assert not (tmp_path / "none.fbx").exists()


def test_fbx_blender_round_trip_keeps_the_animation_and_values_outside_unit_range(tmp_path):
    arm, model, poses, transl = animated_body("smpl", frames=6, betas=np.linspace(1.5, -1.5, 10))
    export_fbx(arm, tmp_path / "body.fbx")
    bpy.context.scene.frame_set(4)
    vertices = evaluated_world_vertices(body_mesh(arm))
    expected = core.pose_corrective_weights(poses[3], model)[0]
    assert expected.min() < -0.05 and np.abs(expected).max() > 0.05
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.context.scene.render.fps = FPS
    # the file holds frame f at time f / fps; Blender's importer adds anim_offset (default 1 frame) to every time
    bpy.ops.import_scene.fbx(filepath=str(tmp_path / "body.fbx"), anim_offset=0.0)
    (imported,) = [o for o in bpy.data.objects if o.type == "MESH"]
    bones = [o for o in bpy.data.objects if o.type == "ARMATURE"][0].data.bones
    assert sorted(b.name for b in bones) == sorted(model.joint_names)
    bpy.context.scene.frame_set(4)
    blocks = imported.data.shape_keys.key_blocks
    got = np.array([blocks[f"Pose{i:03d}"].value for i in range(len(expected))])
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert min(b.slider_min for b in blocks) < 0.0  # the importer widened the slider ranges
    betas = [blocks[f"Shape{i:03d}"].value for i in range(10)]
    np.testing.assert_allclose(betas, np.linspace(1.5, -1.5, 10), atol=1e-6)
    # the same deformed body: the imported scene evaluates to the original's mesh at that frame
    np.testing.assert_allclose(evaluated_world_vertices(imported), vertices, atol=1e-5)


# ----------------------------------------------------------------------------------------------------------- glTF


def _gltf_validator():
    """Path of the Khronos validator's npm package (installed once in a cache folder outside the repo), or None."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        return None
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "smpl-blender-addon" / "gltf-validator"
    package = cache / "node_modules" / "gltf-validator"
    if not package.is_dir():
        cache.mkdir(parents=True, exist_ok=True)
        out = subprocess.run(
            ["npm", "install", "--prefix", str(cache), "--no-audit", "--no-fund", "gltf-validator"],
            capture_output=True,
            text=True,
            timeout=300,
        )
        if out.returncode != 0:
            return None
    return package


def _validate_glb(path):
    package = _gltf_validator()
    if package is None:
        pytest.skip("npm registry unreachable: cannot install the Khronos gltf-validator")
    script = (
        "const v = require(process.argv[1]); const fs = require('fs');"
        "v.validateBytes(new Uint8Array(fs.readFileSync(process.argv[2])))"
        ".then(r => console.log(JSON.stringify(r))).catch(e => { console.error(e); process.exit(2); });"
    )
    out = subprocess.run(["node", "-e", script, str(package), str(path)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def _accessor(gltf, blob, index):
    """One accessor of a .glb as a float32 / int array (F, components)."""
    acc = gltf.accessors[index]
    view = gltf.bufferViews[acc.bufferView]
    width = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT4": 16}[acc.type]
    dtype = {5126: np.float32, 5125: np.uint32, 5123: np.uint16, 5121: np.uint8}[acc.componentType]
    start = (view.byteOffset or 0) + (acc.byteOffset or 0)
    return np.frombuffer(blob, dtype=dtype, count=acc.count * width, offset=start).reshape(acc.count, width)


def test_gltf_valid_with_animated_morph_weights(tmp_path):
    pygltflib = pytest.importorskip("pygltflib")

    arm, model, poses, _ = animated_body("open-smpl", frames=6)  # up to 6 joints per vertex: 2 glTF weight sets
    result = export_gltf(arm, tmp_path / "body.glb")
    assert result["frames"] == 6
    report = _validate_glb(tmp_path / "body.glb")
    assert report["issues"]["numErrors"] == 0, report["issues"]["messages"][:5]
    gltf = pygltflib.GLTF2().load(str(tmp_path / "body.glb"))
    blob = gltf.binary_blob()
    (skin,) = gltf.skins
    assert sorted(gltf.nodes[j].name for j in skin.joints) == sorted(model.joint_names)
    (mesh,) = gltf.meshes
    (primitive,) = mesh.primitives
    sets = sum(getattr(primitive.attributes, f"WEIGHTS_{i}", None) is not None for i in range(4))
    assert sets == int(np.ceil(np.count_nonzero(model.weights, axis=1).max() / 4)) > 1  # every influence kept
    targets = mesh.extras["targetNames"]
    num_betas = len(arm["smpl_betas"])
    assert len(targets) == num_betas + 9 * (model.num_joints - 1)
    (anim,) = gltf.animations
    weights = [c for c in anim.channels if c.target.path == "weights"]
    assert len(weights) == 1
    sampler = anim.samplers[weights[0].sampler]
    times = _accessor(gltf, blob, sampler.input)[:, 0]
    assert len(times) == 6
    values = _accessor(gltf, blob, sampler.output).reshape(len(times), len(targets))
    pose_cols = [i for i, name in enumerate(targets) if name.startswith("Pose")]
    np.testing.assert_allclose(values[3, pose_cols], core.pose_corrective_weights(poses[3], model)[0], atol=2e-5)


def test_gltf_fast_sampling_writes_the_same_bytes_and_correctives_none(tmp_path):
    pygltflib = pytest.importorskip("pygltflib")

    arm, _, _, _ = animated_body("smplh", frames=6)
    fast = export_gltf(arm, tmp_path / "fast.glb")
    plain = export_gltf(arm, tmp_path / "plain.glb", fast=False)
    assert fast["fast"] and not plain["fast"]
    assert (tmp_path / "plain.glb").read_bytes() == (tmp_path / "fast.glb").read_bytes()
    export_gltf(arm, tmp_path / "skel.glb", correctives="none")  # no Pose### morph targets
    skel = pygltflib.GLTF2().load(str(tmp_path / "skel.glb"))
    assert skel.meshes[0].extras["targetNames"] == [f"Shape{i:03d}" for i in range(len(arm["smpl_betas"]))]


# -------------------------------------------------------------------------------------------------------- Alembic


@pytest.mark.skipif(not compat.has_alembic(), reason="this Blender is built without Alembic (Debian's)")
def test_alembic_vertices_at_mid_frame_equal_the_evaluated_mesh(tmp_path):
    arm, model, _, _ = animated_body("smpl", frames=6)
    bpy.context.scene.frame_set(4)
    expected = evaluated_world_vertices(body_mesh(arm))
    bpy.context.scene.frame_set(1)
    result = export_abc(arm, tmp_path / "body.abc")
    assert result["frames"] == 6 and os.path.getsize(tmp_path / "body.abc") > 0
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.context.scene.render.fps = FPS  # the cache holds times in seconds
    bpy.ops.wm.alembic_import(filepath=str(tmp_path / "body.abc"), as_background_job=False)
    (imported,) = [o for o in bpy.data.objects if o.type == "MESH"]
    bpy.context.scene.frame_set(4)
    np.testing.assert_allclose(evaluated_world_vertices(imported), expected, atol=1e-5)


def test_a_blender_without_alembic_says_so_and_writes_nothing(tmp_path, monkeypatch):
    arm, _, _, _ = animated_body("smpl", frames=2)
    monkeypatch.setattr(compat, "has_alembic", lambda: False)
    with pytest.raises(ValueError, match=r"this Blender \(.+\) is built without Alembic support; export FBX or glTF"):
        export_abc(arm, tmp_path / "body.abc")
    assert not list(tmp_path.iterdir())


def test_fast_paths_fall_back_to_the_plain_export_when_the_exporter_changed(tmp_path, monkeypatch):
    """A private exporter function with another signature (a future Blender) is not wrapped: plain export, same file."""
    import importlib

    from smpl_blender_addon.blender.compat import FBX_BAKE_HOOK, GLTF_SAMPLING_HOOK

    arm, _, _, _ = animated_body("smpl", frames=3)
    for module_name, name, _ in (FBX_BAKE_HOOK, GLTF_SAMPLING_HOOK):
        module = importlib.import_module(module_name)
        original = getattr(module, name)
        monkeypatch.setattr(module, name, lambda *args, changed=True, _f=original: _f(*args))
    fbx = export_fbx(arm, tmp_path / "changed.fbx")
    glb = export_gltf(arm, tmp_path / "changed.glb")
    assert not fbx["fast"] and not glb["fast"]
    monkeypatch.undo()
    assert export_gltf(arm, tmp_path / "fast.glb")["fast"]  # the real exporter is wrapped again
    assert (tmp_path / "changed.glb").read_bytes() == (tmp_path / "fast.glb").read_bytes()
    a, _ = read_fbx(tmp_path / "changed.fbx", frames=[1, 3])
    assert export_fbx(arm, tmp_path / "plain.fbx", fast=False)["frames"] == 3
    b, _ = read_fbx(tmp_path / "plain.fbx", frames=[1, 3])
    assert a["samples"] == b["samples"] and a["nodes"] == b["nodes"]
