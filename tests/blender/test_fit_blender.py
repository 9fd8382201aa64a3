# SPDX-License-Identifier: GPL-3.0-or-later
"""blender.fitting and the fit operators against the body's own joints: targets made by the core forward pass of a
known motion (the demo walk on the open SMPL body, a non-mean shape), fitted from a file, from animated empties and
from a foreign SMPL-named armature; the fitted body's evaluated bones must sit on the targets in the scene, and a bad
file or a failure while keying must leave the scene as it was."""

import contextlib
import os
import warnings

import bpy
import numpy as np
import pytest
from blender_helpers import C, evaluated_world_vertices

from smpl_blender_addon import core
from smpl_blender_addon.blender import Body, add_body, animation, body_mesh
from smpl_blender_addon.blender.fitting import fit_to_points, points_from_objects
from smpl_blender_addon.core.errors import MotionFileError
from smpl_blender_addon.core.formats import read_motion

DEMO = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "assets")
FPS, FRAMES = 20.0, 12
SMPL_FBX_NAMES = "Pelvis L_Hip R_Hip Spine1 L_Knee R_Knee Spine2 L_Ankle R_Ankle Spine3 L_Foot R_Foot Neck L_Collar "
SMPL_FBX_NAMES += "R_Collar Head L_Shoulder R_Shoulder L_Elbow R_Elbow L_Wrist R_Wrist L_Hand R_Hand"


@pytest.fixture(scope="module")
def model():
    return core.load_model("open-smpl")


@pytest.fixture(scope="module")
def truth(model):
    """The demo walk on the open SMPL body (20 fps, Y-up, a non-mean shape): poses, trans, betas, joints, vertices."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the SMPL-X joints a SMPL body lacks are dropped
        motion = read_motion(os.path.join(DEMO, "demo_motion_smplx.npz")).to_kind("smpl")
    motion = motion.copy(betas=np.zeros(0)).reframe("Y", model).resample(FPS).slice(0, FRAMES)
    betas = np.zeros(model.num_betas)
    betas[:3] = [0.8, -0.5, 0.3]
    out = model.forward(betas=betas, pose=motion.poses, transl=motion.trans, dtype=np.float64)
    return dict(poses=motion.poses, trans=motion.trans, betas=betas, joints=out.joints, vertices=out.vertices)


@pytest.fixture
def joints_file(tmp_path, truth):
    """HumanML3D-style joints: (F, 22, 3) float32, Y-up, no frame rate."""
    path = tmp_path / "walk.npy"
    np.save(path, truth["joints"][:, :22].astype(np.float32))
    return str(path)


def world_joints(arm, frames):
    """World positions of the body's joints (its evaluated bone heads) at scene ``frames``: (F, J, 3)."""
    names = Body.of(arm).joint_names
    out = []
    for frame in frames:
        bpy.context.scene.frame_set(int(frame))
        evaluated = arm.evaluated_get(bpy.context.evaluated_depsgraph_get())
        M = np.array(evaluated.matrix_world)
        heads = np.array([evaluated.pose.bones[n].head for n in names])
        out.append(heads @ M[:3, :3].T + M[:3, 3])
    return np.array(out)


def mean_distance(a, b):
    return float(np.linalg.norm(a - b, axis=-1).mean())


def scene_state():
    """Everything a fit could add or change."""
    scene = bpy.context.scene
    return (
        sorted(o.name for o in bpy.data.objects),
        sorted(a.name for a in bpy.data.actions),
        sorted(m.name for m in bpy.data.meshes),
        sorted(m.name for m in bpy.data.materials),
        sorted(a.name for a in bpy.data.armatures),
        (scene.frame_start, scene.frame_end, scene.render.fps, scene.render.fps_base),
    )


def test_fit_to_a_file_puts_a_new_body_on_the_targets(joints_file, truth):
    progress = []
    arm, result = fit_to_points(joints_file, fps=FPS, progress=progress.append)
    scene = bpy.context.scene
    assert arm.animation_data.action.name == "walk" and arm.name == "walk"
    assert (scene.frame_start, scene.frame_end, scene.render.fps) == (1, FRAMES, 20)
    assert progress[0] == 0.0 and progress[-1] == 1.0 and progress == sorted(progress)
    assert result.mean_error < 0.002 and result.motion.num_frames == FRAMES
    frames = np.arange(1, FRAMES + 1)
    targets = truth["joints"][:, :22] @ C.T  # Blender world = C · the points' Y-up world
    assert mean_distance(world_joints(arm, frames)[:, :22], targets) < 0.002
    # the shape came from the limb lengths: the skin sits on the true body's within a few millimetres
    scene.frame_set(5)
    skin = evaluated_world_vertices(body_mesh(arm))
    assert mean_distance(skin, truth["vertices"][4] @ C.T) < 0.012  # (twist about a bone: no joint shows it)
    assert np.any(np.asarray(arm["smpl_betas"]) != 0)


def test_fit_keeps_an_existing_body_and_its_shape(joints_file, truth):
    arm = add_body("open-smpl", betas=truth["betas"][:16], name="dancer", correctives=False)
    scene = bpy.context.scene
    scene.render.fps, scene.frame_start, scene.frame_end = 20, 1, 250
    fitted, result = fit_to_points(joints_file, body=arm, fps=FPS, correctives=False, frame_start=5)
    assert fitted == arm and len([o for o in bpy.data.objects if o.type == "ARMATURE"]) == 1
    np.testing.assert_array_equal(np.asarray(arm["smpl_betas"]), truth["betas"][:16].astype(np.float32))
    assert (scene.frame_start, scene.frame_end) == (1, 250)  # an existing body leaves the scene's range alone
    got = world_joints(arm, 5 + np.arange(FRAMES))[:, :22]
    assert mean_distance(got, truth["joints"][:, :22] @ C.T) < 0.002


def animated_empties(truth, names, parent_turn=0.5):
    """One empty per joint, named ``names``, keyed on the true joints (F frames from 1) under a turned, moved parent
    empty: their world positions are the joints. Returns (empties, world joints (F, K, 3))."""
    scene = bpy.context.scene
    parent = bpy.data.objects.new("rig", None)
    scene.collection.objects.link(parent)
    parent.location, parent.rotation_euler = (0.3, -1.0, 0.1), (0.0, 0.0, parent_turn)
    bpy.context.view_layer.update()
    world = truth["joints"][:, : len(names)] @ C.T
    inverse = np.linalg.inv(np.array(parent.matrix_world))
    local = world @ inverse[:3, :3].T + inverse[:3, 3]
    empties = []
    for k, name in enumerate(names):
        empty = bpy.data.objects.new(name, None)
        scene.collection.objects.link(empty)
        empty.parent = parent
        empties.append(empty)
        for f in range(FRAMES):
            empty.location = local[f, k]
            empty.keyframe_insert("location", frame=f + 1)
    scene.frame_start, scene.frame_end, scene.render.fps = 1, FRAMES, int(FPS)
    bpy.context.view_layer.update()  # (new objects join the view layer's list at its next update)
    return empties, world


def test_points_from_empties_and_an_armature_are_their_world_positions_by_joint_name(truth, model):
    names = list(model.joint_names[:22])
    names[1], names[2], names[3] = "L_Hip", "m_avg_R_Hip.001", "ns:Spine1"  # spellings other tools use
    empties, world = animated_empties(truth, names)
    points = points_from_objects(empties)
    assert points.names == tuple(model.joint_names[:22]) and points.fps == FPS
    np.testing.assert_allclose(points.points, truth["joints"][:, :22], atol=1e-5)  # back in the Y-up world
    duplicate = bpy.data.objects.new("pelvis.001", None)
    bpy.context.scene.collection.objects.link(duplicate)
    with pytest.raises(ValueError, match="both stand for the point 'pelvis'"):
        points_from_objects([*empties, duplicate])
    with pytest.raises(ValueError, match="select empties or an armature"):
        points_from_objects([body_mesh(add_body("open-smpl", correctives=False))])


def test_fit_to_selected_empties_operator(registered_add_on, truth, model):
    empties, world = animated_empties(truth, list(model.joint_names[:22]))
    for obj in bpy.context.view_layer.objects:
        obj.select_set(obj in empties)
    bpy.context.view_layer.objects.active = empties[0]
    assert bpy.ops.smpl.fit_to_selected(correctives=False) == {"FINISHED"}
    arm = bpy.context.view_layer.objects.active
    assert Body.of(arm).kind == "smpl" and arm.animation_data.action.name == "fit"
    assert mean_distance(world_joints(arm, np.arange(1, FRAMES + 1))[:, :22], world) < 0.002
    # again onto that body, now active among the selected empties: its poses are fitted, its shape kept
    betas = np.asarray(arm["smpl_betas"])
    for empty in empties:
        empty.select_set(True)
    assert bpy.ops.smpl.fit_to_selected(body="SELECTED", correctives=False) == {"FINISHED"}
    assert bpy.context.view_layer.objects.active == arm and len(bpy.data.armatures) == 1
    np.testing.assert_array_equal(np.asarray(arm["smpl_betas"]), betas)
    assert arm.animation_data.action.name == "fit.001"
    assert mean_distance(world_joints(arm, np.arange(1, FRAMES + 1))[:, :22], world) < 0.002


def foreign_rig(truth, model):
    """An armature that is no body of this add-on, with SMPL FBX bone names (``m_avg_Pelvis``...) and a moved object,
    playing the true motion: its bone heads are the true joints, moved with the object."""
    arm = add_body(model, betas=truth["betas"][:16], name="mocap", correctives=False)
    animation.key_pose_sequence(arm, np.arange(1.0, FRAMES + 1), truth["poses"], truth["trans"])
    bpy.data.objects.remove(body_mesh(arm))
    for key in [k for k in arm.keys() if k.startswith("smpl_")]:
        del arm[key]
    for joint, name in zip(model.joint_names, SMPL_FBX_NAMES.split()):
        arm.data.bones[joint].name = "m_avg_" + name  # (Blender renames the F-curves' paths with the bones)
    arm.location = (1.0, 0.5, 0.0)
    bpy.context.scene.frame_start, bpy.context.scene.frame_end, bpy.context.scene.render.fps = 1, FRAMES, int(FPS)
    return arm


def test_fit_to_selected_foreign_armature(registered_add_on, truth, model):
    rig = foreign_rig(truth, model)
    points = points_from_objects([rig])
    assert sorted(points.names) == sorted(model.joint_names)
    expected = truth["joints"] @ C.T + [1.0, 0.5, 0.0]
    for obj in bpy.context.view_layer.objects:
        obj.select_set(obj == rig)
    bpy.context.view_layer.objects.active = rig
    assert bpy.ops.smpl.fit_to_selected(correctives=False) == {"FINISHED"}
    arm = bpy.context.view_layer.objects.active
    assert arm != rig and Body.of(arm).kind == "smpl"
    assert mean_distance(world_joints(arm, np.arange(1, FRAMES + 1)), expected) < 0.002


def test_fit_to_points_operator_and_a_bad_file(registered_add_on, joints_file, tmp_path):
    before = scene_state()
    bad = tmp_path / "bad.npy"
    bad.write_bytes(b"\x93NUMPY broken")
    with pytest.raises(RuntimeError, match="bad.npy"):  # bpy.ops turns the error report into RuntimeError
        bpy.ops.smpl.fit_to_points(filepath=str(bad))
    assert scene_state() == before
    assert bpy.ops.smpl.fit_to_points(filepath=joints_file, fps=FPS, layout_name="HUMANML3D") == {"FINISHED"}
    arm = bpy.context.view_layer.objects.active
    assert arm.name == "walk" and len(arm.smpl_ui.betas) == 16  # the shape sliders show the fitted betas
    assert bpy.context.scene.frame_end == FRAMES


def test_a_failure_while_keying_removes_the_new_body(registered_add_on, joints_file, monkeypatch):
    from smpl_blender_addon.ui import fit

    seen = {}

    @contextlib.contextmanager
    def progress(context):
        def update(fraction):
            if fraction > 0.9 and "objects" not in seen:  # keying the correctives: the body exists
                seen["objects"] = len(bpy.data.objects)
                raise ValueError("stopped while keying")

        yield update

    monkeypatch.setattr(fit, "progress", progress)
    before = scene_state()
    with pytest.raises(RuntimeError, match="stopped while keying"):
        bpy.ops.smpl.fit_to_points(filepath=joints_file, fps=FPS)
    assert seen["objects"] == 2 and scene_state() == before


def test_a_file_without_a_rate_needs_fps(tmp_path, truth):
    path = tmp_path / "norate.npy"
    np.save(path, truth["joints"][:, :22])
    before = scene_state()
    with pytest.raises(MotionFileError, match="norate.npy.*fps="):
        fit_to_points(str(path))
    assert scene_state() == before
