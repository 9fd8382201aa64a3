# SPDX-License-Identifier: GPL-3.0-or-later
"""Correctives keyed at every keyframe / frame of a range equal the core's weights of the keyed pose."""

import bpy
import numpy as np
import pytest
from blender_helpers import evaluated_world_vertices, synthetic_model

from smpl_blender_addon import core
from smpl_blender_addon.blender import add_body, animation, body_mesh, fcurves
from smpl_blender_addon.blender.body import to_blender
from smpl_blender_addon.blender.correctives import corrective_channels, key_correctives


def animate(kind, frames, mode="QUATERNION", seed=0):
    model = synthetic_model(kind)
    arm = add_body(model)
    for pb in arm.pose.bones:
        pb.rotation_mode = mode
    poses = np.random.default_rng(seed).normal(0, 0.5, (len(frames), model.pose_size))
    animation.key_pose_sequence(arm, frames, poses)
    return arm, model, poses


def corrective_keys(arm):
    key = body_mesh(arm).data.shape_keys
    bag = fcurves.channelbag(key)
    out = []
    for path, _ in corrective_channels(body_mesh(arm)):
        fc = bag.fcurves.find(path)
        co = np.empty(2 * len(fc.keyframe_points), np.float32)
        fc.keyframe_points.foreach_get("co", co)
        out.append(co.reshape(-1, 2))
    return np.stack(out)  # (P, K, 2)


@pytest.mark.parametrize("kind, mode", [("smplx", "QUATERNION"), ("smplh", "XYZ"), ("smpl", "YZX")])
def test_keyframes_scope_keys_exactly_the_keyframes_with_core_weights(kind, mode):
    frames = np.array([1.0, 5.0, 6.0, 20.0])
    arm, model, poses = animate(kind, frames, mode)
    keyed = key_correctives(arm, "KEYFRAMES")
    np.testing.assert_array_equal(keyed, frames)
    keys = corrective_keys(arm)
    assert keys.shape == (9 * (model.num_joints - 1), 4, 2)  # every corrective, hands included
    np.testing.assert_array_equal(keys[:, :, 0], np.broadcast_to(frames, keys.shape[:2]))
    expected = core.pose_corrective_weights(poses, model)
    np.testing.assert_allclose(keys[:, :, 1].T, expected, atol=2e-6)
    assert all(pb.rotation_mode == mode for pb in arm.pose.bones)  # the Euler animation is left intact
    # playback: at a keyed frame the evaluated mesh is the core's forward pass with correctives
    bpy.context.scene.frame_set(6)
    got = evaluated_world_vertices(body_mesh(arm))
    np.testing.assert_allclose(got, to_blender(model.forward(pose=poses[2], dtype=np.float64).vertices[0]), atol=2e-5)


def test_range_scope_keys_every_frame_and_replaces_earlier_keys():
    arm, model, _ = animate("smpl", np.array([1.0, 11.0]))
    key_correctives(arm, "KEYFRAMES")
    keyed = key_correctives(arm, "RANGE", frame_start=1, frame_end=11)
    np.testing.assert_array_equal(keyed, np.arange(1.0, 12.0))
    keys = corrective_keys(arm)
    np.testing.assert_array_equal(keys[0, :, 0], np.arange(1.0, 12.0))  # no duplicates at 1 and 11
    poses, _ = animation.read_pose_sequence(arm, np.arange(1.0, 12.0))
    np.testing.assert_allclose(keys[:, :, 1].T, core.pose_corrective_weights(poses, model), atol=2e-6)


def test_stopping_the_iterator_writes_nothing():
    from smpl_blender_addon.blender.correctives import key_correctives_iter

    arm, _, _ = animate("smpl", np.arange(1.0, 600.0))
    it = key_correctives_iter(arm, "KEYFRAMES")
    assert next(it) < 1.0
    it.close()  # cancelled after the first chunk
    assert fcurves.channelbag(body_mesh(arm).data.shape_keys) is None
