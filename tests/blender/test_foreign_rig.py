# SPDX-License-Identifier: GPL-3.0-or-later
"""SMPL parameters from rigs that are not bodies of this add-on (blender/foreign_rig.py): a rig with child-pointing
bones, random rolls, SMPL FBX bone names, an extra root bone, centimetre data and a transformed object gives the same
parameters as our aligned rig playing the same animation; our FBX files re-imported give back the body's parameters,
betas and expression included."""

import bpy
import numpy as np
import pytest
from blender_helpers import C, synthetic_model
from mathutils import Matrix

from smpl_blender_addon.blender import add_body, animation, fcurves
from smpl_blender_addon.blender.export import export_fbx
from smpl_blender_addon.blender.foreign_rig import (
    find_smpl_armatures,
    foreign_body_motion,
    rest_alignment,
    rig_gender,
    rig_joints,
    smpl_joint_name,
)
from smpl_blender_addon.blender.motion_export import body_motion
from smpl_blender_addon.core import layouts
from smpl_blender_addon.core.rotations import axis_angle_to_matrix, matrix_to_quaternion

FRAMES = np.arange(1.0, 13.0)
SMPL_FBX_NAMES = [
    "Pelvis",
    "L_Hip",
    "R_Hip",
    "Spine1",
    "L_Knee",
    "R_Knee",
    "Spine2",
    "L_Ankle",
    "R_Ankle",
    "Spine3",
    "L_Foot",
    "R_Foot",
    "Neck",
    "L_Collar",
    "R_Collar",
    "Head",
    "L_Shoulder",
    "R_Shoulder",
    "L_Elbow",
    "R_Elbow",
    "L_Wrist",
    "R_Wrist",
    "L_Hand",
    "R_Hand",
]


def assert_same_rotations(a, b, atol=1e-5):
    Ra, Rb = axis_angle_to_matrix(a.reshape(-1, 3)), axis_angle_to_matrix(b.reshape(-1, 3))
    np.testing.assert_allclose(Ra, Rb, atol=atol)


def animated_body(model, seed=0, betas=None, expression=None):
    arm = add_body(model, betas=betas, expression=expression, correctives=False)
    rng = np.random.default_rng(seed)
    poses = rng.normal(0, 0.5, (len(FRAMES), model.pose_size))
    transl = rng.normal(0, 0.4, (len(FRAMES), 3))
    animation.key_pose_sequence(arm, FRAMES, poses, transl)
    bpy.context.scene.render.fps = 30
    return arm, poses, transl


def general_rig(model, names, poses, transl, unit=100.0, seed=1):
    """A rig of the same body built the way other tools build theirs: bones pointing at their (first) child, random
    rolls, an extra ``root`` bone above the pelvis, data in centimetres under an object scaled 0.01 and turned about Z
    (with the object turned back so that the world is unchanged), keyed with the general-rig rule (blender/foreign_rig.py):
    ``Basis_i = B_i^T C' R_i C'^T B_i`` and pelvis location ``B_0^T C' transl`` (C' = the armature space's axes)."""
    rng = np.random.default_rng(seed)
    turn = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])  # data turned 90 deg about Z
    axes = turn @ C  # SMPL -> armature space
    heads = unit * model.rest_joints() @ axes.T
    data = bpy.data.armatures.new("foreign")
    obj = bpy.data.objects.new("foreign", data)
    bpy.context.scene.collection.objects.link(obj)
    bpy.context.view_layer.objects.active = obj
    bpy.ops.object.mode_set(mode="EDIT")
    root = data.edit_bones.new("root")
    root.head, root.tail = (0.0, 0.0, 0.0), (0.0, 0.0, 10.0)
    bones = []
    children = {p: j for j, p in reversed(list(enumerate(model.parents))) if p >= 0}
    for j, name in enumerate(names):
        bone = data.edit_bones.new(name)
        bone.head = heads[j]
        target = heads[children[j]] if j in children else heads[j] + rng.normal(0, 5.0, 3)
        if np.linalg.norm(target - heads[j]) < 1e-3 * unit:
            target = heads[j] + np.array([0.0, 0.0, 0.05 * unit])
        bone.tail = target
        bone.roll = rng.uniform(-np.pi, np.pi)
        bones.append(bone)
    for j, bone in enumerate(bones):
        bone.parent = bones[model.parents[j]] if model.parents[j] >= 0 else root
        bone.use_connect = False
    bpy.ops.object.mode_set(mode="OBJECT")
    world = np.eye(4)
    world[:3, :3] = 0.01 * turn.T
    obj.matrix_world = Matrix(world.tolist())
    B = np.array([np.array(obj.data.bones[n].matrix_local)[:3, :3] for n in names])
    R = axis_angle_to_matrix(poses.reshape(len(FRAMES), -1, 3))
    basis = B.transpose(0, 2, 1)[None] @ axes @ R @ axes.T @ B[None]
    quats = matrix_to_quaternion(basis)
    quats[1:] *= np.where(np.sum(quats[1:] * quats[:-1], -1, keepdims=True) < 0, -1.0, 1.0)
    for j, name in enumerate(names):
        path = f'pose.bones["{name}"].rotation_quaternion'
        fcurves.write_fcurves(obj, [(path, i) for i in range(4)], FRAMES, quats[:, j].T)
    location = unit * transl @ (B[0].T @ axes).T
    fcurves.write_fcurves(obj, [(f'pose.bones["{names[0]}"].location', i) for i in range(3)], FRAMES, location.T)
    return obj


def test_bone_names_of_other_tools():
    assert smpl_joint_name("m_avg_L_Hip") == "left_hip"
    assert smpl_joint_name("f_avg_R_Collar") == "right_collar"
    assert smpl_joint_name("SMPLX-neutral:pelvis") == "pelvis"
    assert smpl_joint_name("left_eye") == "left_eye_smplhf"
    assert smpl_joint_name("Spine3") == "spine3"


def test_smpl_fbx_rig_names_and_ours_are_found_and_others_are_not(smplx_model):
    model = synthetic_model("smpl")
    _, poses, transl = animated_body(model)
    general_rig(model, ["f_avg_" + n for n in SMPL_FBX_NAMES], poses, transl)
    incomplete = bpy.data.objects.new("no-hands", bpy.data.armatures.new("no-hands"))
    bpy.context.scene.collection.objects.link(incomplete)
    bpy.context.view_layer.objects.active = incomplete
    bpy.ops.object.mode_set(mode="EDIT")
    for name in layouts.JOINT_NAMES["smpl"][:-1]:  # right_hand missing
        incomplete.data.edit_bones.new(name).tail = (0.0, 0.0, 0.1)
    bpy.ops.object.mode_set(mode="OBJECT")
    add_body(smplx_model, name="x", correctives=False)
    found = find_smpl_armatures(bpy.context.scene)
    assert [o.name for o in found] == sorted(["SMPL-neutral", "foreign", "x"])
    kinds = {o.name: rig_joints(o)[0] for o in found}
    assert kinds == {"SMPL-neutral": "smpl", "foreign": "smpl", "x": "smplx"}
    assert rig_joints(bpy.data.objects["foreign"])[1][1] == "f_avg_L_Hip"
    assert rig_gender(bpy.data.objects["foreign"]) == "female"
    with pytest.raises(ValueError, match="not an SMPL rig"):
        foreign_body_motion(incomplete, model)


@pytest.mark.parametrize("kind", ["smpl", "smplh", "smplx"])
def test_general_rig_gives_the_parameters_of_our_rig(kind):
    model = synthetic_model(kind)
    ours, poses, transl = animated_body(model, seed=4)
    names = SMPL_FBX_NAMES if kind == "smpl" else layouts.JOINT_NAMES[kind]
    rig = general_rig(model, ["m_avg_" + n if kind == "smpl" else n for n in names], poses, transl)
    expected = body_motion(ours)
    got = foreign_body_motion(rig, model)
    assert got.kind == kind and got.num_frames == len(FRAMES) and got.fps == 30 and got.up_axis == "Y"
    # Both read Blender's float32 pose matrices; down the finger chains of a rig with other bone axes, Blender 5.2
    # gives up to 1.7e-5 between the two (5.0: below 1e-5): 5e-5 rad is 0.003 degrees
    assert_same_rotations(got.poses, expected.poses, atol=5e-5)
    assert_same_rotations(got.poses, poses, atol=5e-5)
    np.testing.assert_allclose(got.trans, expected.trans, atol=1e-5)
    # Z-up (AMASS) output: the same body in Blender's world
    z_up = foreign_body_motion(rig, model, frames=FRAMES[2:5], up_axis="Z")
    assert z_up.num_frames == 3 and z_up.up_axis == "Z"
    back = z_up.reframe("Y", model)
    assert_same_rotations(back.poses, poses[2:5], atol=5e-5)
    np.testing.assert_allclose(back.trans, transl[2:5], atol=1e-5)


def test_rest_alignment_finds_the_axes_of_common_rigs():
    model = synthetic_model("smplx")
    joints = model.rest_joints()
    for axes in (np.eye(3), C, C @ np.diag([-1.0, 1.0, -1.0])):
        A, misfit = rest_alignment(100.0 * joints @ axes.T + 3.0, joints)
        np.testing.assert_array_equal(A, axes)
        assert misfit < 1e-6


@pytest.mark.parametrize("target", ["blender", "unity", "unreal"])
def test_our_fbx_reimported_gives_back_the_body_with_its_shape(tmp_path, target):
    model = synthetic_model("smplx")
    arm, poses, transl = animated_body(model, seed=9, betas=[0.8, -0.5, 0.3], expression=[0.4, -0.2])
    expected = body_motion(arm)
    export_fbx(arm, tmp_path / "body.fbx", target=target, correctives="none")
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.import_scene.fbx(filepath=str(tmp_path / "body.fbx"), anim_offset=0.0)
    (rig,) = find_smpl_armatures(bpy.context.scene)
    got = foreign_body_motion(rig, model)
    assert got.num_frames == len(FRAMES) and got.kind == "smplx"
    np.testing.assert_allclose(got.betas[:3], [0.8, -0.5, 0.3], atol=1e-6)
    np.testing.assert_allclose(got.expression[:, :2], np.tile([0.4, -0.2], (len(FRAMES), 1)), atol=1e-6)
    assert_same_rotations(got.poses, expected.poses, atol=1e-4)
    np.testing.assert_allclose(got.trans, expected.trans, atol=1e-5)


def test_a_body_whose_model_file_is_gone_is_read_as_a_rig_with_a_model(tmp_path):
    from smpl_blender_addon.batch.jobs import write_body_motion
    from smpl_blender_addon.blender.body import PROP_MODEL
    from smpl_blender_addon.core.errors import ModelFileError
    from smpl_blender_addon.core.formats import read_motion

    model = synthetic_model("smpl")
    arm, _, _ = animated_body(model, seed=2, betas=[0.5])
    expected = body_motion(arm)
    arm[PROP_MODEL] = str(tmp_path / "elsewhere" / "model.npz")  # e.g. a .blend made on another machine
    options = dict(format="smpl", model=None, fps=None, frame_start=None, frame_end=None)
    with pytest.raises(ModelFileError, match="--model"):
        write_body_motion(arm, str(tmp_path / "a.smpl"), options)
    assert not (tmp_path / "a.smpl").exists()
    with pytest.warns(UserWarning, match="read as a rig"):
        record = write_body_motion(arm, str(tmp_path / "a.smpl"), dict(options, model=model))
    assert record["rig"] == "rig" and record["frames"] == len(FRAMES) and record["kind"] == "smpl"
    back = read_motion(tmp_path / "a.smpl")  # Y-up, float32
    assert_same_rotations(back.poses, expected.poses)
    np.testing.assert_allclose(back.trans, expected.trans, atol=1e-5)
    np.testing.assert_allclose(back.betas[:1], [0.5], atol=1e-6)


def test_animated_expression_comes_back_and_transl_follows_its_pelvis(tmp_path):
    from smpl_blender_addon.blender import body_mesh
    from smpl_blender_addon.blender.body import to_blender

    model = synthetic_model("smplx")
    arm, _, _ = animated_body(model, seed=6, betas=[0.5])
    expression = np.random.default_rng(6).normal(0, 1.0, (len(FRAMES), 2))
    channels = [(f'key_blocks["Exp00{i}"].value', 0) for i in range(2)]
    fcurves.write_fcurves(body_mesh(arm).data.shape_keys, channels, FRAMES, expression.T)
    export_fbx(arm, tmp_path / "face.fbx", correctives="none")
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.import_scene.fbx(filepath=str(tmp_path / "face.fbx"), anim_offset=0.0)
    (rig,) = find_smpl_armatures(bpy.context.scene)
    got = foreign_body_motion(rig, model)
    np.testing.assert_allclose(got.expression[:, :2], expression, atol=1e-6)
    # J_0 moves with the expression: transl is taken per frame, so the forward pass puts the pelvis where the rig has it
    out = model.forward(got.betas, got.poses, expression=got.expression, transl=got.trans, dtype=np.float64)
    for f in (0, 5):
        bpy.context.scene.frame_set(int(FRAMES[f]))
        pelvis = np.array(rig.matrix_world @ rig.pose.bones["pelvis"].head)
        np.testing.assert_allclose(to_blender(out.joints[f, 0]), pelvis, atol=1e-5)
