# SPDX-License-Identifier: GPL-3.0-or-later
"""Shaping bodies on real bpy: joints follow betas and expression, height/weight fit, random/reset, ground snap."""

import bmesh
import bpy
import numpy as np
import pytest
from blender_helpers import C, evaluated_world_vertices, random_pose, synthetic_model

from smpl_blender_addon import blender as sb


def _rest_heads(arm, names):
    return np.array([arm.data.bones[n].head_local for n in names])


def test_set_shape_moves_joints_and_keeps_pose(smplx_model):
    m = smplx_model
    rng = np.random.default_rng(0)
    arm = sb.add_body(m)
    pose, transl = random_pose(m, rng), [0.0, 0.1, 0.0]
    sb.set_pose(arm, pose, transl)
    before = sb.get_pose(arm)
    betas, expression = rng.normal(0, 1.5, 10), rng.normal(0, 1.5, 10)
    sb.set_shape(arm, betas=betas, expression=expression)
    np.testing.assert_allclose(_rest_heads(arm, m.joint_names), m.rest_joints(betas, expression) @ C.T, atol=1e-6)
    np.testing.assert_allclose(sb.get_pose(arm), before, atol=1e-7)
    sb.update_correctives(arm)
    want = m.forward(betas=betas, pose=pose, expression=expression, transl=transl, dtype=np.float64).vertices[0] @ C.T
    assert np.abs(evaluated_world_vertices(sb.body_mesh(arm)) - want).max() < 1e-5
    # expression only: betas stay
    sb.set_shape(arm, expression=np.zeros(10))
    np.testing.assert_allclose(list(arm["smpl_betas"]), betas, atol=1e-6)
    np.testing.assert_allclose(_rest_heads(arm, m.joint_names), m.rest_joints(betas) @ C.T, atol=1e-6)
    with pytest.raises(ValueError):
        sb.set_shape(arm, betas=np.zeros(11))


def test_random_and_reset_shape(smplx_model):
    arm = sb.add_body(smplx_model)
    a = sb.random_shape(arm, "BODY", scale=0.5, seed=4)
    assert np.array(arm["smpl_betas"]) == pytest.approx(a) and np.abs(a).max() > 0
    b = sb.random_shape(sb.body_mesh(arm), "FACE", seed=5)  # FACE == expression keys
    np.testing.assert_allclose(list(arm["smpl_expression"]), b, atol=1e-7)
    blocks = sb.body_mesh(arm).data.shape_keys.key_blocks
    assert blocks["Exp003"].value == pytest.approx(b[3])
    sb.reset_shape(arm, "BODY")
    assert not np.array(arm["smpl_betas"]).any() and np.array(arm["smpl_expression"]).any()
    sb.reset_shape(arm, "EXPRESSION")
    assert not np.array([b.value for b in blocks]).any()
    smpl = sb.add_body(synthetic_model("smpl"))
    with pytest.raises(ValueError, match="expression"):
        sb.random_shape(smpl, "FACE")


def _blender_measurements(mesh_obj):
    """Stature (z extent) and volume of the evaluated mesh, measured by Blender (bmesh.calc_volume)."""
    depsgraph = bpy.context.evaluated_depsgraph_get()
    ev = mesh_obj.evaluated_get(depsgraph)
    bm = bmesh.new()
    bm.from_mesh(ev.to_mesh())
    ev.to_mesh_clear()
    z = np.array([v.co.z for v in bm.verts])
    volume = bm.calc_volume()
    bm.free()
    return z.max() - z.min(), volume


@pytest.mark.parametrize("height, weight", [(1.55, 50.0), (1.9, 95.0)])
def test_height_weight_fit_hits_targets(height, weight, smplx_model):
    arm = sb.add_body(smplx_model, expression=[2.0, -1.0, 1.5])
    betas = sb.set_height_weight(arm, height, weight)
    assert np.array(arm["smpl_betas"]) == pytest.approx(betas, abs=1e-6)
    stature, volume = _blender_measurements(sb.body_mesh(arm))
    assert stature == pytest.approx(height, abs=1e-3)
    assert volume * 1000.0 == pytest.approx(weight, abs=0.1)


def test_snap_to_ground(smplx_model):
    arm = sb.add_body(smplx_model)
    sb.set_pose(arm, random_pose(smplx_model, np.random.default_rng(6)), transl=[0.3, 0.4, 0.5])
    sb.update_correctives(arm)
    x, y = arm.location.x, arm.location.y
    sb.snap_to_ground(arm)
    bpy.context.view_layer.update()
    z = evaluated_world_vertices(sb.body_mesh(arm))[:, 2]
    assert abs(z.min()) < 1e-5
    assert (arm.location.x, arm.location.y) == (x, y)


def test_set_shape_keeps_pose_mode(smplx_model):
    arm = sb.add_body(smplx_model)
    bpy.context.view_layer.objects.active = arm
    bpy.ops.object.mode_set(mode="POSE")
    sb.set_shape(arm, betas=[1.0])
    assert arm.mode == "POSE" and bpy.context.view_layer.objects.active == arm
    bpy.ops.object.mode_set(mode="OBJECT")
    np.testing.assert_allclose(
        _rest_heads(arm, smplx_model.joint_names), smplx_model.rest_joints([1.0]) @ C.T, atol=1e-6
    )


def test_set_shape_on_hidden_body(smplx_model):
    arm = sb.add_body(smplx_model)
    arm.hide_set(True)
    arm.hide_viewport = True
    sb.set_shape(arm, betas=[0.0, 1.0])
    assert arm.hide_get() and arm.hide_viewport
    np.testing.assert_allclose(
        _rest_heads(arm, smplx_model.joint_names), smplx_model.rest_joints([0.0, 1.0]) @ C.T, atol=1e-6
    )


def test_set_shape_on_excluded_collection_is_a_clear_error(smplx_model):
    collection = bpy.data.collections.new("Hidden")
    bpy.context.scene.collection.children.link(collection)
    arm = sb.add_body(smplx_model, collection=collection)
    bpy.context.view_layer.layer_collection.children["Hidden"].exclude = True
    with pytest.raises(ValueError, match="edit mode"):
        sb.set_shape(arm, betas=[1.0])
    bpy.context.view_layer.layer_collection.children["Hidden"].exclude = False
    sb.set_shape(arm, betas=[1.0])
    np.testing.assert_allclose(
        _rest_heads(arm, smplx_model.joint_names), smplx_model.rest_joints([1.0]) @ C.T, atol=1e-6
    )
