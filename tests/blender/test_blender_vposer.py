# SPDX-License-Identifier: GPL-3.0-or-later
"""VPoser on a body (real bpy): a random pose is VPoser's sample on the 21 body joints, in-betweens of two keyed
poses come from VPoser and keep both keys, the operators read the weights from the preferences or ``weights=``, and
an SMPLify-X fit with a latent body pose imports through them. Weights: random, written without torch (so this also
runs in a Blender whose Python has no torch)."""

import pickle

import bpy
import numpy as np
import pytest
from blender_helpers import evaluated_world_vertices, synthetic_model
from vposer_reference import random_state, write_checkpoint

from smpl_blender_addon import core
from smpl_blender_addon.blender import add_body, animation, body_mesh, get_pose, set_pose
from smpl_blender_addon.blender.body import to_blender
from smpl_blender_addon.blender.fcurves import channelbag
from smpl_blender_addon.blender.motion import import_motion
from smpl_blender_addon.blender.vposer import random_vposer_pose, vposer_inbetweens
from smpl_blender_addon.core.rotations import axis_angle_to_matrix
from smpl_blender_addon.core.vposer import VPoser


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    path = tmp_path_factory.mktemp("vposer") / "V02_05.ckpt"
    return write_checkpoint(path, random_state(seed=3))


def matrices(pose):
    return axis_angle_to_matrix(np.asarray(pose, dtype=np.float64).reshape(-1, 3))


def test_random_pose_is_vposers_sample_on_the_body_joints(weights):
    model = synthetic_model("smplx")
    arm = add_body(model)
    before = np.random.default_rng(0).normal(0, 0.3, 165)
    set_pose(arm, before)
    body_pose = random_vposer_pose(arm, weights, seed=7)
    np.testing.assert_allclose(body_pose, VPoser.load(weights).sample(1, seed=7)[0], atol=1e-6)
    pose = get_pose(arm)
    np.testing.assert_allclose(matrices(pose[3:66]), matrices(body_pose), atol=2e-6)
    keep = np.r_[0:3, 66:165]  # pelvis, jaw, eyes, fingers: untouched
    np.testing.assert_allclose(matrices(pose[keep]), matrices(before[keep]), atol=2e-6)
    # the mesh Blender shows is the model's forward pass for that pose, correctives included
    got = evaluated_world_vertices(body_mesh(arm)) - np.array(arm.matrix_world.translation)
    want = to_blender(model.forward(pose=pose[None], dtype=np.float64).vertices[0])
    assert np.abs(got - want).max() < 2e-5
    assert not np.allclose(random_vposer_pose(arm, weights, seed=8), body_pose)


def test_inbetweens_come_from_vposer_between_the_two_keys(weights):
    model = synthetic_model("smpl")
    arm = add_body(model)
    vposer = VPoser.load(weights)
    rng = np.random.default_rng(4)
    ends = np.zeros((2, 72))
    ends[:, 3:66] = vposer.sample(2, seed=11)
    ends[:, :3] = rng.normal(0, 0.4, (2, 3))
    ends[:, 66:] = rng.normal(0, 0.2, (2, 6))
    transl = np.array([[0.0, 0.9, 0.0], [0.8, 1.0, -0.4]])
    animation.key_pose_sequence(arm, np.array([3.0, 11.0]), ends, transl)
    bpy.context.scene.frame_set(6)
    frames = vposer_inbetweens(arm, weights)
    np.testing.assert_array_equal(frames, np.arange(4.0, 11.0))
    poses, got_transl = animation.read_pose_sequence(arm, frames)
    w = (frames - 3.0) / 8.0
    want_body = vposer.inbetweens(ends[0, 3:66], ends[1, 3:66], w)
    np.testing.assert_allclose(matrices(poses[:, 3:66]), matrices(want_body), atol=1e-5)
    np.testing.assert_allclose(got_transl, transl[0] + w[:, None] * (transl[1] - transl[0]), atol=1e-6)
    # the pelvis turns on the shortest arc: half-way is the rotation whose square is R_a^T R_b from R_a
    half = frames.tolist().index(7.0)
    ra, rb, rh = matrices(ends[0, :3])[0], matrices(ends[1, :3])[0], matrices(poses[half, :3])[0]
    step = ra.T @ rh
    np.testing.assert_allclose(step @ step, ra.T @ rb, atol=1e-5)
    # the end keys stay, and the correctives are keyed at every in-between
    ends_read, _ = animation.read_pose_sequence(arm, np.array([3.0, 11.0]))
    np.testing.assert_allclose(matrices(ends_read), matrices(ends), atol=1e-5)
    bag = channelbag(body_mesh(arm).data.shape_keys)
    fc = bag.fcurves.find('key_blocks["Pose000"].value')
    keyed = np.array([k.co[0] for k in fc.keyframe_points])
    assert set(frames) <= set(keyed)
    bpy.context.scene.frame_set(8)
    weights_now = core.pose_corrective_weights(get_pose(arm), model)[0]
    assert body_mesh(arm).data.shape_keys.key_blocks["Pose000"].value == pytest.approx(weights_now[0], abs=1e-5)


def test_inbetweens_need_a_key_on_each_side(weights):
    arm = add_body(synthetic_model("smpl"))
    animation.key_pose_sequence(arm, np.array([5.0]), np.zeros((1, 72)))
    bpy.context.scene.frame_set(8)
    with pytest.raises(ValueError, match="keyframe before"):
        vposer_inbetweens(arm, weights)


def test_operators_take_the_weights_from_the_argument_and_say_when_there_are_none(registered_add_on, weights):
    assert bpy.ops.smpl.add_body(model="open-smpl") == {"FINISHED"}
    arm = bpy.context.view_layer.objects.active
    with pytest.raises(RuntimeError, match="no VPoser weights"):
        bpy.ops.smpl.random_pose_vposer(seed=1)
    assert bpy.ops.smpl.random_pose_vposer(weights=str(weights), seed=1) == {"FINISHED"}
    np.testing.assert_allclose(
        matrices(get_pose(arm)[3:66]), matrices(VPoser.load(weights).sample(1, seed=1)[0]), atol=2e-6
    )
    animation.key_pose_sequence(arm, np.array([1.0, 5.0]), np.zeros((2, 72)))
    bpy.context.scene.frame_set(2)
    assert bpy.ops.smpl.vposer_inbetweens(weights=str(weights)) == {"FINISHED"}
    keyed, _ = animation.read_pose_sequence(arm, np.arange(2.0, 5.0))
    want = VPoser.load(weights).inbetweens(np.zeros(63), np.zeros(63), np.arange(1.0, 4.0) / 4)
    np.testing.assert_allclose(matrices(keyed[:, 3:66]), matrices(want), atol=1e-5)
    with pytest.raises(RuntimeError, match="empty"):
        bpy.ops.smpl.vposer_inbetweens(weights=str(weights), use_range=True, frame_start=5, frame_end=5)


def test_smplify_x_fit_with_a_latent_body_pose_imports_through_vposer(tmp_path, weights):
    model = synthetic_model("smplx")
    z = np.random.default_rng(5).normal(0, 1, (1, 32)).astype(np.float32)
    fit = {
        "betas": np.zeros((1, 10), np.float32),
        "global_orient": np.zeros((1, 3), np.float32),
        "body_pose": z,
        "left_hand_pose": np.zeros((1, 45), np.float32),
        "right_hand_pose": np.zeros((1, 45), np.float32),
        "jaw_pose": np.zeros((1, 3), np.float32),
        "leye_pose": np.zeros((1, 3), np.float32),
        "reye_pose": np.zeros((1, 3), np.float32),
        "expression": np.zeros((1, 10), np.float32),
    }
    path = tmp_path / "fit.pkl"
    path.write_bytes(pickle.dumps(fit, protocol=2))
    with pytest.raises(core.MotionFileError, match="vposer="):
        import_motion(path, model=model)
    arm = import_motion(path, model=model, vposer=weights, fps="source")
    np.testing.assert_allclose(matrices(get_pose(arm)[3:66]), matrices(VPoser.load(weights).decode(z)[0]), atol=2e-5)
