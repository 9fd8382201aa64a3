# SPDX-License-Identifier: GPL-3.0-or-later
"""Pose I/O on real bpy: get/set in every rotation mode, write/load round trips, hand presets, Euler animation."""

import json

import bpy
import numpy as np
import pytest
from blender_helpers import C, evaluated_world_vertices, random_pose, synthetic_model
from mathutils import Matrix

from smpl_blender_addon import blender as sb
from smpl_blender_addon import core
from smpl_blender_addon.core import rotations


def _canonical(pose):
    return rotations.canonical_axis_angle(np.asarray(pose).reshape(-1, 3)).reshape(-1)


def _set_modes(arm, modes):
    for i, bone in enumerate(arm.pose.bones):
        bone.rotation_mode = modes[i % len(modes)]


@pytest.mark.parametrize("modes", [["QUATERNION"], ["XYZ"], ["ZXY", "AXIS_ANGLE", "QUATERNION", "YXZ"]])
def test_set_get_round_trip_any_rotation_mode(modes, smplx_model):
    m = smplx_model
    arm = sb.add_body(m)
    _set_modes(arm, modes)
    pose = random_pose(m, np.random.default_rng(0), scale=1.0)
    pose[3:6] *= 3.0 / np.linalg.norm(pose[3:6])  # a near-pi angle
    sb.set_pose(arm, pose, transl=[0.1, -0.2, 0.3])
    assert [b.rotation_mode for b in arm.pose.bones] == [modes[i % len(modes)] for i in range(len(arm.pose.bones))]
    got = sb.get_pose(arm)
    assert got.dtype == np.float64 and got.shape == (3 * m.num_joints,)
    assert np.linalg.norm(got.reshape(-1, 3), axis=1).max() <= np.pi + 1e-9
    np.testing.assert_allclose(
        rotations.axis_angle_to_matrix(got.reshape(-1, 3)),
        rotations.axis_angle_to_matrix(pose.reshape(-1, 3)),
        atol=2e-6,
    )
    np.testing.assert_allclose(sb.get_translation(arm), [0.1, -0.2, 0.3], atol=1e-7)
    # the pose bones themselves (independent of our reader): pose_bone.matrix == C Rg_i
    out = m.forward(pose=pose, dtype=np.float64)
    sb.update_correctives(arm)
    got_mesh = evaluated_world_vertices(sb.body_mesh(arm))
    np.testing.assert_allclose(got_mesh, (out.vertices[0] + [0.1, -0.2, 0.3]) @ C.T, atol=1e-5)


def test_get_pose_reads_rotations_of_angle_above_pi(smplx_model):
    arm = sb.add_body(smplx_model)
    bone = arm.pose.bones["left_knee"]
    bone.rotation_quaternion = Matrix.Rotation(4.0, 3, (0.0, 0.0, 1.0)).to_quaternion()  # 4 rad == -2.28 rad
    r = sb.get_pose(arm).reshape(-1, 3)[smplx_model.joint_names.index("left_knee")]
    np.testing.assert_allclose(r, [0, 0, 4.0 - 2 * np.pi], atol=1e-6)


def test_euler_animation_survives_get_pose(smplx_model):
    arm = sb.add_body(smplx_model)
    names = ["left_elbow", "spine1", "right_index2"]
    for name in names:
        bone = arm.pose.bones[name]
        bone.rotation_mode = "XZY"
        for frame, angle in ((1, 0.0), (11, 1.0)):
            bone.rotation_euler = (angle, 0.5 * angle, -angle)
            bone.keyframe_insert("rotation_euler", frame=frame)
    scene = bpy.context.scene
    scene.frame_set(6)
    pose = sb.get_pose(arm).reshape(-1, 3)
    for name in names:
        bone = arm.pose.bones[name]
        assert bone.rotation_mode == "XZY"
        want = np.array(bone.rotation_euler.to_matrix())
        np.testing.assert_allclose(
            rotations.axis_angle_to_matrix(pose[smplx_model.joint_names.index(name)]), want, atol=1e-6
        )
    scene.frame_set(11)
    for name in names:
        np.testing.assert_allclose(tuple(arm.pose.bones[name].rotation_euler), (1.0, 0.5, -1.0), atol=1e-6)
    # set_pose on an animated Euler bone writes Euler, not quaternions
    sb.set_pose(arm, np.zeros(smplx_model.pose_size))
    assert all(arm.pose.bones[n].rotation_mode == "XZY" for n in names)
    np.testing.assert_allclose(tuple(arm.pose.bones["spine1"].rotation_euler), (0, 0, 0), atol=1e-7)


@pytest.mark.parametrize("target", ["JSON", "NPZ"])
@pytest.mark.parametrize("modes", [["QUATERNION"], ["YZX"]])
def test_write_then_load_round_trip(target, modes, tmp_path, smplx_model):
    m = smplx_model
    rng = np.random.default_rng(7)
    arm = sb.add_body(m, betas=[0.4, -0.1], expression=[0.3])
    _set_modes(arm, modes)
    pose, transl = random_pose(m, rng), rng.normal(0, 0.3, 3)
    sb.set_pose(arm, pose, transl)
    path = sb.write_pose(arm, target, tmp_path / f"pose.{target.lower()}")
    if target == "JSON":
        data = json.load(open(path))
        assert set(data) >= {"pose", "trans", "betas", "model", "gender", "joint_names"}
        assert data["model"] == "smplx" and data["joint_names"] == list(m.joint_names)
        assert len(data["pose"]) == m.pose_size
    else:
        with np.load(path, allow_pickle=False) as npz:
            assert all(npz[k].dtype.kind == "f" for k in npz.files)
            np.testing.assert_allclose(npz["pose"], _canonical(pose), atol=1e-6)
    other = sb.add_body(m, name="Other")
    _set_modes(other, modes)
    sb.load_pose(other, path)
    np.testing.assert_allclose(sb.get_pose(other), sb.get_pose(arm), atol=1e-6)
    np.testing.assert_allclose(sb.get_translation(other), transl, atol=1e-6)
    assert list(other["smpl_betas"])[:2] == pytest.approx([0.4, -0.1])
    np.testing.assert_allclose(
        evaluated_world_vertices(sb.body_mesh(other)),
        (m.forward(betas=[0.4, -0.1], pose=pose, expression=[0.3], transl=transl, dtype=np.float64).vertices[0]) @ C.T,
        atol=1e-5,
    )


def test_console_text_is_pastable(smplx_model):
    arm = sb.add_body(smplx_model)
    pose = random_pose(smplx_model, np.random.default_rng(8))
    sb.set_pose(arm, pose)
    text = sb.write_pose(arm, "CONSOLE")
    assert text == sb.format_pose_console(sb.get_pose(arm), smplx_model.joint_names)
    scope = {}
    exec(text, scope)
    np.testing.assert_allclose(scope["pose"], _canonical(pose), atol=1e-6)
    assert "# 54 right_thumb3:" in text and text.count("\n") == 1 + smplx_model.num_joints


def test_hand_presets(smplx_model):
    m = smplx_model
    arm = sb.add_body(m)
    pose = random_pose(m, np.random.default_rng(9))
    sb.set_pose(arm, pose)
    sb.set_hand_pose(arm, "RELAXED")
    got = sb.get_pose(arm)
    left, right = core.layouts.hand_slices("smplx")
    np.testing.assert_allclose(got[left], _canonical(m.hands_mean_left), atol=1e-6)
    np.testing.assert_allclose(got[right], _canonical(m.hands_mean_right), atol=1e-6)
    np.testing.assert_allclose(got[: left.start], _canonical(pose)[: left.start], atol=1e-6)
    # correctives follow the preset: the evaluated mesh is the forward pass of the relaxed-hand pose
    np.testing.assert_allclose(
        evaluated_world_vertices(sb.body_mesh(arm)), m.forward(pose=got, dtype=np.float64).vertices[0] @ C.T, atol=1e-5
    )
    sb.set_hand_pose(arm, "FLAT")
    got = sb.get_pose(arm)
    assert not got[left].any() and not got[right].any()
    smpl = sb.add_body(synthetic_model("smpl"))
    with pytest.raises(ValueError, match="finger"):
        sb.set_hand_pose(smpl, "FLAT")


def test_reset_pose(smplx_model):
    arm = sb.add_body(smplx_model)
    sb.set_pose(arm, random_pose(smplx_model, np.random.default_rng(10)), transl=[1, 2, 3])
    sb.update_correctives(arm)
    sb.reset_pose(arm)
    assert not sb.get_pose(arm).any() and not sb.get_translation(arm).any()
    values = np.array([b.value for b in sb.body_mesh(arm).data.shape_keys.key_blocks])
    assert not values.any()


def test_bad_pose_input(tmp_path, smplx_model):
    arm = sb.add_body(smplx_model)
    with pytest.raises(ValueError, match="165"):
        sb.set_pose(arm, np.zeros(72))
    bad = tmp_path / "short.json"
    bad.write_text(json.dumps({"pose": [0.0] * 72}))
    with pytest.raises(core.MotionFileError, match="short.json"):
        sb.load_pose(arm, bad)
    assert not sb.get_pose(arm).any()


@pytest.mark.parametrize("angle", [np.pi, np.pi - 1e-4, 1e-7])
@pytest.mark.parametrize("mode", ["QUATERNION", "XYZ", "AXIS_ANGLE"])
def test_extreme_angles(angle, mode, smplx_model):
    arm = sb.add_body(smplx_model)
    _set_modes(arm, [mode])
    axes = np.random.default_rng(12).normal(size=(smplx_model.num_joints, 3))
    pose = (axes / np.linalg.norm(axes, axis=1, keepdims=True) * angle).reshape(-1)
    sb.set_pose(arm, pose)
    got = sb.get_pose(arm).reshape(-1, 3)
    assert np.linalg.norm(got, axis=1).max() <= np.pi + 1e-9
    np.testing.assert_allclose(
        rotations.axis_angle_to_matrix(got), rotations.axis_angle_to_matrix(pose.reshape(-1, 3)), atol=2e-6
    )
