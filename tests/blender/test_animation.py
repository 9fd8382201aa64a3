# SPDX-License-Identifier: GPL-3.0-or-later
"""Bulk animation I/O: keyed poses read back exactly from F-curves (any rotation mode) and from evaluated frames."""

import bpy
import numpy as np
import pytest
from blender_helpers import synthetic_model

from smpl_blender_addon.blender import add_body, animation, fcurves, get_pose, get_translation


def animated_body(rng, frames, mode="QUATERNION", kind="smplx"):
    model = synthetic_model(kind)
    arm = add_body(model)
    for pb in arm.pose.bones:
        pb.rotation_mode = mode
    poses = rng.normal(0, 0.5, (len(frames), model.pose_size))
    transl = rng.normal(0, 0.3, (len(frames), 3))
    animation.key_pose_sequence(arm, frames, poses, transl)
    return arm, poses, transl


def same_rotations(a, b, atol=1e-5):
    from smpl_blender_addon.core.rotations import axis_angle_to_matrix

    A = axis_angle_to_matrix(np.asarray(a).reshape(-1, 3))
    B = axis_angle_to_matrix(np.asarray(b).reshape(-1, 3))
    np.testing.assert_allclose(A, B, atol=atol)


@pytest.mark.parametrize("mode", ["QUATERNION", "XYZ", "ZXY", "AXIS_ANGLE"])
def test_keyed_poses_read_back_from_fcurves_and_from_evaluation(mode):
    rng = np.random.default_rng(0)
    frames = np.array([1.0, 4.0, 9.0, 10.0, 30.0])
    arm, poses, transl = animated_body(rng, frames, mode)
    assert all(pb.rotation_mode == mode for pb in arm.pose.bones)  # modes are never switched
    np.testing.assert_array_equal(animation.bone_keyframe_frames(arm), frames)
    got, got_t = animation.read_pose_sequence(arm, frames, evaluate=False)
    same_rotations(got, poses)
    np.testing.assert_allclose(got_t, transl, atol=1e-6)
    assert np.all(np.linalg.norm(got.reshape(-1, 3), axis=1) <= np.pi + 1e-9)
    ev, ev_t = animation.read_pose_sequence(arm, frames, evaluate=True)
    same_rotations(ev, poses)
    np.testing.assert_allclose(ev_t, transl, atol=1e-6)
    # and what Blender shows at a frame is what get_pose reads there
    bpy.context.scene.frame_set(9)
    same_rotations(get_pose(arm), poses[2])
    np.testing.assert_allclose(get_translation(arm), transl[2], atol=1e-6)


def test_between_keys_fcurves_and_evaluation_agree():
    rng = np.random.default_rng(1)
    arm, _, _ = animated_body(rng, np.array([1.0, 11.0]), "XYZ", kind="smpl")
    mid = np.array([3.0, 6.5])
    a, at = animation.read_pose_sequence(arm, mid, evaluate=False)
    b, bt = animation.read_pose_sequence(arm, mid, evaluate=True)
    same_rotations(a, b)
    np.testing.assert_allclose(at, bt, atol=1e-6)


def test_constraints_switch_to_evaluated_frames():
    rng = np.random.default_rng(2)
    arm, poses, _ = animated_body(rng, np.array([1.0, 2.0]), kind="smpl")
    assert not animation.needs_evaluation(arm)
    con = arm.pose.bones["left_elbow"].constraints.new("LIMIT_ROTATION")
    con.use_limit_x = con.use_limit_y = con.use_limit_z = True
    con.owner_space = "LOCAL"  # locks the elbow at its rest orientation
    assert animation.needs_evaluation(arm)
    got, _ = animation.read_pose_sequence(arm, [1.0, 2.0])
    j = arm["smpl_joint_names"].index("left_elbow")
    np.testing.assert_allclose(got[:, 3 * j : 3 * j + 3], 0, atol=1e-6)
    others = np.delete(np.arange(got.shape[1]), np.arange(3 * j, 3 * j + 3))
    same_rotations(got[:, others], poses[:, others])


def test_write_fcurves_replaces_keys_in_span_and_keeps_the_rest():
    rng = np.random.default_rng(3)
    arm, _, _ = animated_body(rng, np.arange(1.0, 21.0), kind="smpl")
    mesh = arm.children[0]
    key = mesh.data.shape_keys
    channel = [('key_blocks["Pose000"].value', 0)]
    fcurves.write_fcurves(key, channel, np.arange(1.0, 21.0), np.zeros((1, 20)))
    fcurves.write_fcurves(key, channel, [5.0, 6.0, 7.5], [[1.0, 2.0, 3.0]])
    fc = fcurves.channelbag(key).fcurves.find(channel[0][0])
    co = np.array([tuple(k.co) for k in fc.keyframe_points])
    expected_frames = [1, 2, 3, 4, 5, 6, 7.5, 8] + list(range(9, 21))
    np.testing.assert_allclose(co[:, 0], expected_frames)
    np.testing.assert_allclose(co[[4, 5, 6], 1], [1, 2, 3])
    assert np.all(co[co[:, 0] < 5, 1] == 0) and np.all(co[co[:, 0] > 7.5, 1] == 0)
    bpy.context.scene.frame_set(6)
    assert abs(key.key_blocks["Pose000"].value - 2.0) < 1e-6
