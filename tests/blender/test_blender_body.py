# SPDX-License-Identifier: GPL-3.0-or-later
"""add_body builds a body whose evaluated mesh is the core forward pass (real bpy, synthetic models)."""

import os

import bpy
import numpy as np
import pytest
from blender_helpers import C, evaluated_world_vertices, random_pose, synthetic_model

from smpl_blender_addon import blender as sb
from smpl_blender_addon import core

TOL = 1e-5  # metres: float32 evaluation of a ~2 m body


def _assert_posed_body_matches_core(m, arm, betas, pose, expression, transl):
    """Pose the body, update its correctives: Blender's evaluated mesh and bone heads == the core forward pass."""
    sb.set_pose(arm, pose, transl)
    sb.update_correctives(arm)
    got = evaluated_world_vertices(sb.body_mesh(arm))
    want, want_joints = _expected_world(m, arm, betas, pose, expression, transl)
    assert np.abs(got - want).max() < TOL
    heads = np.array([arm.matrix_world @ arm.pose.bones[n].head for n in m.joint_names])
    np.testing.assert_allclose(heads, want_joints, atol=TOL)


def _expected_world(model, arm, betas, pose, expression=None, transl=None):
    out = model.forward(betas=betas, pose=pose, expression=expression, transl=transl, dtype=np.float64)
    mw = np.array(arm.matrix_world)
    return (out.vertices[0] @ C.T) @ mw[:3, :3].T + mw[:3, 3], (out.joints[0] @ C.T) @ mw[:3, :3].T + mw[:3, 3]


def test_structure(any_model):
    m = any_model
    arm = sb.add_body(m, betas=[0.3, -0.2])
    mesh = sb.body_mesh(arm)
    assert mesh.parent == arm and sb.find_body(mesh) == arm and sb.find_body(arm) == arm
    assert sb.find_body(arm.pose.bones[0]) == arm and sb.find_body(arm.data.bones[3]) == arm
    # bones: names, parents, no extra root, heads at C J(beta), rest axes = SMPL axes
    assert sorted(b.name for b in arm.data.bones) == sorted(m.joint_names)
    for name, parent in zip(m.joint_names, m.parents):
        bone = arm.data.bones[name]
        assert (bone.parent.name if bone.parent else None) == (m.joint_names[parent] if parent >= 0 else None)
        np.testing.assert_allclose(np.array(bone.matrix_local)[:3, :3], C, atol=1e-6)
    joints = m.rest_joints(betas=[0.3, -0.2]) @ C.T
    heads = np.array([arm.data.bones[n].head_local for n in m.joint_names])
    np.testing.assert_allclose(heads, joints, atol=1e-6)
    # vertex groups carry the exact weights
    names = [g.name for g in mesh.vertex_groups]
    assert names == list(m.joint_names)
    weights = np.zeros((m.num_vertices, m.num_joints))
    for v in mesh.data.vertices:
        for g in v.groups:
            weights[v.index, g.group] = g.weight
    np.testing.assert_allclose(weights, m.weights, atol=1e-7)
    mod = mesh.modifiers["Armature"]
    assert mod.object == arm and not mod.use_deform_preserve_volume
    # UVs
    uv = np.empty(2 * len(mesh.data.loops), dtype=np.float32)
    mesh.data.uv_layers["UVMap"].uv.foreach_get("vector", uv)
    np.testing.assert_allclose(uv.reshape(-1, 2), m.vt[m.ft.reshape(-1)], atol=1e-6)
    # shape keys: names, values written explicitly, wide sliders
    blocks = mesh.data.shape_keys.key_blocks
    nb, ne, P = min(m.num_betas, 16), min(m.num_expressions, 10), 9 * (m.num_joints - 1)
    expected = (
        ["Basis"]
        + [f"Shape{i:03d}" for i in range(nb)]
        + [f"Exp{i:03d}" for i in range(ne)]
        + [f"Pose{i:03d}" for i in range(P)]
    )
    assert [b.name for b in blocks] == expected
    values = np.array([b.value for b in blocks])
    assert values[1] == pytest.approx(0.3) and values[2] == pytest.approx(-0.2) and not values[3:].any()
    assert blocks[f"Pose{P - 1:03d}"].slider_min <= -2 and blocks["Pose000"].slider_max >= 2
    assert arm["smpl_kind"] == m.kind and list(arm["smpl_betas"])[:2] == pytest.approx([0.3, -0.2])
    assert len(mesh.data.materials) == 1


def test_evaluated_mesh_equals_forward(any_model):
    m = any_model
    rng = np.random.default_rng(1)
    betas = rng.normal(0, 1, min(m.num_betas, 16))
    expression = rng.normal(0, 1, m.num_expressions) if m.num_expressions else None
    arm = sb.add_body(m, betas=betas, expression=expression)
    arm.location = (0.5, -1.0, 0.25)
    pose, transl = random_pose(m, rng), rng.normal(0, 0.5, 3)
    _assert_posed_body_matches_core(m, arm, betas, pose, expression, transl)


def test_correctives_are_needed(smplx_model):
    m = smplx_model
    rng = np.random.default_rng(2)
    pose = random_pose(m, rng)
    arm = sb.add_body(m)
    sb.set_pose(arm, pose)
    stale = evaluated_world_vertices(sb.body_mesh(arm))
    sb.update_correctives(arm)
    fresh = evaluated_world_vertices(sb.body_mesh(arm))
    want = _expected_world(m, arm, None, pose)[0]
    assert np.abs(fresh - want).max() < TOL < np.abs(stale - want).max()


def test_several_bodies(any_model):
    rng = np.random.default_rng(3)
    other = synthetic_model("smplx")
    bodies = [(sb.add_body(any_model, name="A"), any_model), (sb.add_body(other, name="B"), other)]
    poses = [random_pose(m, rng) for _, m in bodies]
    for (arm, _), pose in zip(bodies, poses):
        sb.set_pose(arm, pose)
        sb.update_correctives(arm)
    for (arm, m), pose in zip(bodies, poses):
        assert sb.body_model(arm) is m
        got = evaluated_world_vertices(sb.body_mesh(arm))
        assert np.abs(got - _expected_world(m, arm, None, pose)[0]).max() < TOL


def test_failed_add_leaves_scene_unchanged(tmp_path, smplx_model):
    sb.add_body(smplx_model)
    before = {k: len(getattr(bpy.data, k)) for k in ("objects", "meshes", "armatures", "materials")}
    bad = tmp_path / "broken.npz"
    bad.write_bytes(b"this is not a zip file")
    for path in (bad, tmp_path / "missing.npz"):
        with pytest.raises(core.ModelFileError) as err:
            sb.add_body(str(path))
        assert os.path.basename(str(path)) in str(err.value)
    with pytest.raises(core.ModelFileError, match="gender"):
        sb.add_body("open-smplx", gender="robot")
    with pytest.raises(ValueError):
        sb.add_body(smplx_model, betas=np.ones(40))  # more betas than keys
    assert {k: len(getattr(bpy.data, k)) for k in before} == before


def test_official_layout_file(official_npz):
    pytest.importorskip("smpl_blender_addon.core.model_files")
    arm = sb.add_body(str(official_npz), betas=[1.0], expression=[0.5, -0.5])
    m = core.load_model(str(official_npz))
    assert sb.body_model(arm) is sb.body_model(arm)  # cached, not re-read
    rng = np.random.default_rng(4)
    pose = random_pose(m, rng)
    sb.set_pose(arm, pose, [0.1, 0.2, 0.3])
    sb.update_correctives(arm)
    got = evaluated_world_vertices(sb.body_mesh(arm))
    want = _expected_world(m, arm, [1.0], pose, [0.5, -0.5], [0.1, 0.2, 0.3])[0]
    assert np.abs(got - want).max() < TOL


def test_save_and_reload(tmp_path, official_npz, smplx_model):
    pytest.importorskip("smpl_blender_addon.core.model_files")
    rng = np.random.default_rng(5)
    arm = sb.add_body(str(official_npz), name="Saved", betas=[0.5, 0.5])
    sb.add_body(smplx_model, name="Other")
    path = str(tmp_path / "bodies.blend")
    bpy.ops.wm.save_as_mainfile(filepath=path)
    bpy.ops.wm.open_mainfile(filepath=path)
    arm = bpy.data.objects["Saved"]
    assert sb.find_body(arm) == arm and list(arm["smpl_betas"])[:2] == pytest.approx([0.5, 0.5])
    m = sb.body_model(arm)
    pose = random_pose(m, rng)
    sb.set_pose(arm, pose)
    sb.set_shape(arm, betas=[-0.5])
    sb.update_correctives(arm)
    got = evaluated_world_vertices(sb.body_mesh(arm))
    assert np.abs(got - _expected_world(m, arm, [-0.5], pose)[0]).max() < TOL


@pytest.mark.parametrize("name", ["open-smpl", "open-smplx"])
def test_open_bodies(name):
    try:
        m = core.load_model(name)
    except core.ModelFileError as err:
        pytest.skip(f"{name} not installed: {err}")
    rng = np.random.default_rng(11)
    betas = rng.normal(0, 1, 16)
    expression = rng.normal(0, 1, m.num_expressions) if m.num_expressions else None
    arm = sb.add_body(name, betas=betas, expression=expression)
    assert arm["smpl_model"] == name and sb.body_model(arm) is sb.body_model(arm)
    assert sb.body_mesh(arm).data.uv_layers.get("UVMap") is not None
    pose, transl = random_pose(m, rng, scale=0.3), rng.normal(0, 0.3, 3)
    _assert_posed_body_matches_core(m, arm, betas, pose, expression, transl)
