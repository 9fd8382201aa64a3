# SPDX-License-Identifier: GPL-3.0-or-later
"""A body's animation leaves as AMASS .npz / Meshcapade .smpl and comes back unchanged."""

import bpy
import numpy as np
import pytest
from blender_helpers import evaluated_world_vertices, synthetic_model

from smpl_blender_addon.blender import add_body, animation, body_mesh, fcurves, update_correctives
from smpl_blender_addon.blender.body import to_blender
from smpl_blender_addon.blender.motion_export import export_motion
from smpl_blender_addon.core.formats import read_motion
from smpl_blender_addon.core.rotations import axis_angle_to_matrix

FRAMES = np.arange(1.0, 9.0)


def animated(kind, mode="QUATERNION", seed=0, betas=None):
    model = synthetic_model(kind)
    arm = add_body(model, betas=betas)
    for pb in arm.pose.bones:
        pb.rotation_mode = mode
    rng = np.random.default_rng(seed)
    poses = rng.normal(0, 0.6, (len(FRAMES), model.pose_size))
    transl = rng.normal(0, 0.5, (len(FRAMES), 3))
    animation.key_pose_sequence(arm, FRAMES, poses, transl)
    bpy.context.scene.render.fps = 30
    return arm, model, poses, transl


def assert_same_rotations(a, b, atol=1e-5):
    np.testing.assert_allclose(
        axis_angle_to_matrix(a.reshape(-1, 3)), axis_angle_to_matrix(b.reshape(-1, 3)), atol=atol
    )


@pytest.mark.parametrize("kind", ["smpl", "smplh", "smplx"])
@pytest.mark.parametrize("fmt, suffix", [("AMASS", ".npz"), ("SMPL", ".smpl")])
def test_export_then_import_is_exact(tmp_path, kind, fmt, suffix):
    arm, model, poses, transl = animated(kind, betas=[0.5, -1.0])
    path = export_motion(arm, tmp_path / f"motion{suffix}", format=fmt)
    with np.load(path, allow_pickle=False) as data:  # numbers only
        assert len(data.files) > 3
    back = read_motion(path, model=model)
    assert back.num_frames == len(FRAMES) and back.fps == 30 and back.kind == kind
    back = back.reframe("Y", model) if back.up_axis != "Y" else back
    assert_same_rotations(back.poses, poses)
    np.testing.assert_allclose(back.trans, transl, atol=1e-6)
    np.testing.assert_allclose(back.betas[:2], [0.5, -1.0], atol=1e-6)


def test_euler_body_exports_the_same_parameters_as_its_quaternion_twin(tmp_path):
    q_arm, model, poses, _ = animated("smplx", "QUATERNION", seed=3)
    e_arm, _, _, _ = animated("smplx", "ZYX", seed=3)
    a = read_motion(export_motion(q_arm, tmp_path / "q.npz"), model=model)
    b = read_motion(export_motion(e_arm, tmp_path / "e.npz"), model=model)
    assert all(pb.rotation_mode == "ZYX" for pb in e_arm.pose.bones)
    assert_same_rotations(a.poses, b.poses)
    np.testing.assert_allclose(a.trans, b.trans, atol=1e-6)


def test_exported_parameters_reproduce_what_blender_shows(tmp_path):
    arm, model, _, _ = animated("smpl", seed=5, betas=[1.0])
    arm.location = (0.3, -0.2, 0.5)  # e.g. after snap-to-ground: part of the exported motion
    arm.rotation_euler = (0.0, 0.0, 0.7)
    motion = read_motion(export_motion(arm, tmp_path / "m.npz", format="AMASS"), model=model)
    assert motion.up_axis == "Z"
    bpy.context.scene.frame_set(4)
    update_correctives(arm)
    shown = evaluated_world_vertices(body_mesh(arm))
    # AMASS world (Z-up) == Blender world: re-frame to the model's Y-up space, pose, and convert with C
    y = motion.reframe("Y", model)
    out = model.forward(y.betas[: model.num_betas], y.poses[3], transl=y.trans[3], dtype=np.float64)
    np.testing.assert_allclose(shown, to_blender(out.vertices[0]), atol=2e-5)


@pytest.mark.parametrize("kind", ["smpl", "smplx"])
def test_smpl_files_load_in_smplcodec(tmp_path, kind):
    smplcodec = pytest.importorskip("smplcodec")
    arm, model, poses, transl = animated(kind, seed=7, betas=[0.3])
    codec = smplcodec.SMPLCodec.from_file(str(export_motion(arm, tmp_path / "m.smpl", format="SMPL")))
    codec.validate()
    assert codec.frame_count == len(FRAMES) and codec.frame_rate == 30
    assert int(codec.smpl_version) == {"smpl": 0, "smplx": 2}[kind]
    full = np.asarray(codec.full_pose).reshape(len(FRAMES), -1)
    assert_same_rotations(full[:, : model.pose_size], poses, atol=1e-5)  # Y-up: the pose is as keyed
    np.testing.assert_allclose(codec.body_translation, transl, atol=1e-6)


def test_animated_expression_keeps_the_pelvis_where_blender_shows_it(tmp_path):
    arm, model, _, _ = animated("smplx", seed=9)
    key = body_mesh(arm).data.shape_keys
    expression = np.random.default_rng(1).normal(0, 2.0, len(FRAMES))
    fcurves.write_fcurves(key, [('key_blocks["Exp000"].value', 0)], FRAMES, expression[None])
    motion = read_motion(export_motion(arm, tmp_path / "e.smpl", format="SMPL"), model=model)
    np.testing.assert_allclose(motion.expression[:, 0], expression, atol=1e-6)
    for f in (2, 6):
        bpy.context.scene.frame_set(int(FRAMES[f]))
        shown = np.array(arm.matrix_world @ arm.pose.bones["pelvis"].head)
        out = model.forward(motion.betas, motion.poses[f], motion.expression[f], motion.trans[f], dtype=np.float64)
        np.testing.assert_allclose(to_blender(out.joints[0, 0]), shown, atol=1e-5)
