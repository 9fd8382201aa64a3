# SPDX-License-Identifier: GPL-3.0-or-later
"""Automatic correctives: live while posing, keys follow inserted / changed / deleted keyframes, bodies only."""

import bpy
import numpy as np
import pytest
from blender_helpers import synthetic_model

from smpl_blender_addon import core
from smpl_blender_addon.blender import add_body, animation, auto_correctives, body_mesh, fcurves, get_pose, set_pose
from smpl_blender_addon.blender.correctives import corrective_channels


@pytest.fixture(autouse=True)
def handlers():
    auto_correctives.enable()
    yield
    auto_correctives.disable()


def update():
    bpy.context.view_layer.update()


def pose_values(arm):
    blocks = body_mesh(arm).data.shape_keys.key_blocks
    return np.array([b.value for b in blocks if b.name.startswith("Pose")])


def keyed(arm):
    bag = fcurves.channelbag(body_mesh(arm).data.shape_keys)
    if bag is None:
        return {}
    out = {}
    for p, (path, _) in enumerate(corrective_channels(body_mesh(arm))):
        fc = bag.fcurves.find(path)
        for k in fc.keyframe_points:
            out.setdefault(float(k.co[0]), {})[p] = k.co[1]
    return out


def test_live_correctives_follow_the_pose():
    model = synthetic_model("smplx")
    arm = add_body(model)
    update()
    pose = np.random.default_rng(0).normal(0, 0.5, model.pose_size)
    set_pose(arm, pose)
    update()
    np.testing.assert_allclose(pose_values(arm), core.pose_corrective_weights(get_pose(arm), model)[0], atol=1e-6)


def test_keys_follow_inserted_changed_and_deleted_keyframes():
    model = synthetic_model("smpl")
    arm = add_body(model)
    rng = np.random.default_rng(1)
    poses = rng.normal(0, 0.5, (3, model.pose_size))
    animation.key_pose_sequence(arm, [1.0, 10.0, 20.0], poses)
    update()
    assert sorted(keyed(arm)) == [1.0, 10.0, 20.0]
    # insert a keyframe the way a user does (keyframe_insert on a bone at a new frame)
    elbow = arm.pose.bones["left_elbow"]
    bpy.context.scene.frame_set(15)
    elbow.rotation_quaternion = (0.7071, 0.7071, 0.0, 0.0)
    elbow.keyframe_insert("rotation_quaternion", frame=15)
    update()
    frames = sorted(keyed(arm))
    assert frames == [1.0, 10.0, 15.0, 20.0]
    bpy.context.scene.frame_set(15)
    expected = core.pose_corrective_weights(get_pose(arm), model)[0]
    got = np.array([keyed(arm)[15.0][p] for p in range(len(expected))])
    np.testing.assert_allclose(got, expected, atol=1e-5)
    # delete the keyframes at frame 10 on every channel
    bag = fcurves.channelbag(arm)
    for fc in bag.fcurves:
        for k in [k for k in fc.keyframe_points if abs(k.co[0] - 10) < 1e-3]:
            fc.keyframe_points.remove(k)
    update()
    assert sorted(keyed(arm)) == [1.0, 15.0, 20.0]


def test_handlers_ignore_objects_that_are_not_bodies_and_bodies_switched_off():
    model = synthetic_model("smpl")
    arm = add_body(model)
    arm[auto_correctives.PROP_AUTO] = False
    other = bpy.data.objects.new("plain", bpy.data.armatures.new("plain"))
    bpy.context.scene.collection.objects.link(other)
    update()
    set_pose(arm, np.random.default_rng(2).normal(0, 0.5, model.pose_size))
    other.location = (1, 2, 3)
    update()
    assert np.all(pose_values(arm) == 0)
    assert not auto_correctives.is_auto(other)


def test_range_keyed_correctives_between_keyframes_follow_an_edited_keyframe():
    from smpl_blender_addon.blender.correctives import key_correctives

    model = synthetic_model("smpl")
    arm = add_body(model)
    rng = np.random.default_rng(4)
    animation.key_pose_sequence(arm, [1.0, 10.0, 20.0], rng.normal(0, 0.5, (3, model.pose_size)))
    update()
    key_correctives(arm, "RANGE", frame_start=1, frame_end=20)
    update()
    assert sorted(keyed(arm)) == [float(f) for f in range(1, 21)]
    elbow = arm.pose.bones["left_elbow"]
    bpy.context.scene.frame_set(10)
    elbow.rotation_quaternion = (0.5, 0.5, 0.5, 0.5)
    elbow.keyframe_insert("rotation_quaternion", frame=10)
    update()
    poses, _ = animation.read_pose_sequence(arm, np.arange(1.0, 21.0))
    expected = core.pose_corrective_weights(poses, model)
    got = np.array([[keyed(arm)[float(f)][p] for p in range(expected.shape[1])] for f in range(1, 21)])
    np.testing.assert_allclose(got, expected, atol=1e-5)
