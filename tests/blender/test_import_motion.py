# SPDX-License-Identifier: GPL-3.0-or-later
"""blender.motion.import_motion against independent references: the file's own frames, the core forward pass in the
file's Z-up world (Blender world == AMASS world), the core corrective weights, and an unchanged scene on bad input."""

import contextlib
import math
import warnings

import bpy
import numpy as np
import pytest
from blender_helpers import evaluated_world_vertices, synthetic_model

from smpl_blender_addon import core
from smpl_blender_addon.blender import body_mesh
from smpl_blender_addon.blender.fcurves import channelbag
from smpl_blender_addon.blender.motion import import_motion
from smpl_blender_addon.blender.scene import scene_fps
from smpl_blender_addon.core.errors import MotionFileError
from smpl_blender_addon.core.formats import write_amass_npz
from smpl_blender_addon.core.motion import Motion


def amass_file(path, kind, frames, fps, seed=0, expression=False, betas=True):
    """A random AMASS-style file (Z-up) written by the core writer; returns (path, Motion as written)."""
    rng = np.random.default_rng(seed)
    size = {"smplh": 156, "smplx": 165, "smpl": 72}[kind]
    motion = Motion(
        fps=fps,
        poses=rng.normal(0, 0.35, (frames, size)),
        trans=rng.normal(0, 0.3, (frames, 3)) + [0, 0, 0.9],
        betas=rng.normal(0, 1, 16 if kind == "smplh" else 10) if betas else np.zeros(0),
        expression=rng.normal(0, 1, (frames, 10)) if expression else None,
        gender="neutral",
        kind=kind,
        up_axis="Z",
    )
    write_amass_npz(path, motion)
    return str(path), motion


def key_values(id_block, data_path, index=0):
    """(frames, values) of one F-curve of the id's active action slot."""
    fc = channelbag(id_block).fcurves.find(data_path, index=index)
    co = np.empty(2 * len(fc.keyframe_points), dtype=np.float32)
    fc.keyframe_points.foreach_get("co", co)
    return co[0::2].astype(np.float64), co[1::2].astype(np.float64)


def scene_state():
    """Everything an import could add or change."""
    scene = bpy.context.scene
    return (
        sorted(o.name for o in bpy.data.objects),
        sorted(a.name for a in bpy.data.actions),
        sorted(m.name for m in bpy.data.meshes),
        sorted(a.name for a in bpy.data.armatures),
        scene.frame_start,
        scene.frame_end,
        scene.render.fps,
        scene.render.fps_base,
    )


@pytest.mark.parametrize("rate, frames", [(59.94, 120), (50.0, 101)])
def test_resampled_frame_count_and_duration(tmp_path, rate, frames):
    path, source = amass_file(tmp_path / "walk.npz", "smplh", frames, rate)
    arm = import_motion(path, model=synthetic_model("smplh"), fps=30, correctives=False)
    scene = bpy.context.scene
    duration = (frames - 1) / rate
    expected = math.floor(duration * 30 + 1e-9) + 1  # by time, not by an integer step
    assert scene_fps(scene) == pytest.approx(30.0)
    assert (scene.frame_start, scene.frame_end) == (1, expected)
    keyed, _ = key_values(arm, 'pose.bones["pelvis"].location')
    np.testing.assert_array_equal(keyed, np.arange(1, expected + 1))
    assert abs((expected - 1) / 30 - duration) < 1 / 30  # the duration is kept to within one output frame
    assert arm.animation_data.action.name == "walk"


def test_mesh_equals_core_forward_in_amass_world(tmp_path):
    """50 -> 30 fps: output frame 6 is input frame 10 exactly; Blender's world mesh there must be the core forward of
    that file frame, with the file's own (Z-up) pose and trans: Blender world == AMASS world."""
    model = synthetic_model("smplx")
    path, source = amass_file(tmp_path / "jump.npz", "smplx", 21, 50.0, seed=4)
    arm = import_motion(path, model=model, fps=30, frame_start=1)
    bpy.context.scene.frame_set(1 + 6)
    got = evaluated_world_vertices(body_mesh(arm))
    betas = source.betas[: model.num_betas]
    expected = model.forward(betas, source.poses[10], transl=source.trans[10], dtype=np.float64).vertices[0]
    assert np.abs(got - expected).max() < 2e-5
    # and the correctives matter at that frame: without them the mesh differs
    assert np.abs(got - model.forward(betas, source.poses[10] * 0, transl=source.trans[10]).vertices[0]).max() > 1e-2


def test_correctives_keyed_at_every_frame_equal_core_weights(tmp_path):
    model = synthetic_model("smplx")
    path, source = amass_file(tmp_path / "run.npz", "smplx", 30, 59.94, seed=2)
    arm = import_motion(path, model=model, fps=30, frame_start=5)
    expected = core.pose_corrective_weights(source.resample(30).poses, model)  # joint 0 excluded: frame-free
    keys = body_mesh(arm).data.shape_keys
    assert keys.animation_data.action == arm.animation_data.action  # one action for the body
    for k in (0, 17, expected.shape[1] - 1):
        frames, values = key_values(keys, f'key_blocks["Pose{k:03d}"].value')
        np.testing.assert_array_equal(frames, 5 + np.arange(expected.shape[0]))
        np.testing.assert_allclose(values, expected[:, k], atol=1e-5)


def test_expression_keyed_on_exp_keys(tmp_path):
    model = synthetic_model("smplx")
    path, source = amass_file(tmp_path / "talk.npz", "smplx", 12, 30.0, seed=5, expression=True)
    arm = import_motion(path, model=model, fps=30, correctives=False)
    keys = body_mesh(arm).data.shape_keys
    for k in (0, 9):
        frames, values = key_values(keys, f'key_blocks["Exp{k:03d}"].value')
        np.testing.assert_allclose(values, source.expression[:, k], atol=1e-6)


def test_smplh_motion_retargeted_onto_existing_smplx_body(tmp_path):
    from smpl_blender_addon.blender import add_body

    model = synthetic_model("smplx")
    body = add_body(model, betas=[0.5, -0.3])
    path, source = amass_file(tmp_path / "hands.npz", "smplh", 10, 30.0, seed=7)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        arm = import_motion(path, body=body, fps=30, correctives=False)
    assert arm == body and len(bpy.data.objects) == 2
    assert any("keeps its own shape" in str(w.message) for w in caught)
    assert list(arm["smpl_betas"])[:2] == pytest.approx([0.5, -0.3])  # the body keeps its shape
    names = list(model.joint_names)
    q = np.stack([key_values(arm, 'pose.bones["left_index1"].rotation_quaternion', i)[1] for i in range(4)], 1)
    expected = core.rotations.axis_angle_to_quaternion(source.poses[:, 3 * 22 : 3 * 23])  # SMPL-H joint 22
    np.testing.assert_allclose(np.abs(np.sum(q * expected, axis=1)), 1.0, atol=1e-6)
    _, jaw_w = key_values(arm, 'pose.bones["jaw"].rotation_quaternion', 0)
    np.testing.assert_allclose(jaw_w, 1.0)
    assert names[22] == "jaw"


def test_open_body_drops_official_betas_with_warning(tmp_path):
    path, _ = amass_file(tmp_path / "open.npz", "smpl", 4, 30.0, seed=1)
    with pytest.warns(UserWarning, match="different shape spaces"):
        arm = import_motion(path, model="open-smpl", fps=30, correctives=False)
    assert np.all(np.asarray(arm["smpl_betas"]) == 0)


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04garbage", b"not a motion"])
def test_bad_file_leaves_scene_unchanged(tmp_path, content):
    model = synthetic_model("smpl")
    good, _ = amass_file(tmp_path / "good.npz", "smpl", 5, 30.0)
    arm = import_motion(good, model=model, fps=30, correctives=False)
    before = scene_state()
    action = arm.animation_data.action
    bad = tmp_path / "bad.npz"
    bad.write_bytes(content)
    for kwargs in ({"model": model}, {"body": arm}):
        with pytest.raises(MotionFileError, match="bad.npz"):
            import_motion(str(bad), fps=24, **kwargs)
        assert scene_state() == before
        assert arm.animation_data.action == action


def test_missing_frame_rate_is_an_error_naming_the_file(tmp_path):
    path = tmp_path / "norate.npz"
    np.savez(path, poses=np.zeros((5, 156)), trans=np.zeros((5, 3)), mocap_time_length=np.array(1.0))
    before = scene_state()
    with pytest.raises(MotionFileError, match="norate.npz"):
        import_motion(str(path), model=synthetic_model("smplh"))
    assert scene_state() == before


# -- operators (ui/import_export.py, registered with the add-on: the registered_add_on fixture) -----------------


def test_import_operator_new_body_then_selected_body(registered_add_on, tmp_path):
    path, source = amass_file(tmp_path / "op.npz", "smpl", 16, 60.0, seed=8)
    result = bpy.ops.smpl.import_motion(filepath=path, model="open-smpl", fps_mode="CUSTOM", fps=30.0)
    assert result == {"FINISHED"}
    arm = bpy.context.view_layer.objects.active
    assert arm.animation_data.action.name == "op" and bpy.context.scene.frame_end == 8
    assert bpy.context.scene.render.fps == 30
    # again onto the selected body, keeping the file's rate: same body, a second action
    result = bpy.ops.smpl.import_motion(filepath=path, body="SELECTED", fps_mode="SOURCE", frame_start=10)
    assert result == {"FINISHED"}
    assert len([o for o in bpy.data.objects if o.type == "ARMATURE"]) == 1
    frames, _ = key_values(arm, 'pose.bones["pelvis"].location')
    np.testing.assert_array_equal(frames, 10 + np.arange(16))


def test_import_operator_error_leaves_scene_unchanged(registered_add_on, tmp_path):
    bad = tmp_path / "broken.smpl"
    bad.write_bytes(b"PK\x03\x04 broken")
    before = scene_state()
    with pytest.raises(RuntimeError, match="broken.smpl"):  # bpy.ops turns the error report into RuntimeError
        bpy.ops.smpl.import_motion(filepath=str(bad), model="open-smpl")
    assert scene_state() == before


def full_state():
    """scene_state plus what else a half-built import leaves: materials, shape keys, every action assignment."""
    assignments = sorted(
        (block.name, block.animation_data.action.name if block.animation_data and block.animation_data.action else "")
        for block in [*bpy.data.objects, *bpy.data.shape_keys]
    )
    return (
        scene_state(),
        sorted(m.name for m in bpy.data.materials),
        sorted(k.name for k in bpy.data.shape_keys),
        assignments,
    )


def fail_import_midway(monkeypatch, error, started):
    """The import operator's progress callback raises ``error`` at the first report, past 60 % (in the correctives keying), where
    ``started()`` says the import has changed the scene. Returns what the scene held at that moment."""
    from smpl_blender_addon.ui import import_export

    seen = {}

    @contextlib.contextmanager
    def progress(context):
        def update(fraction):
            if fraction > 0.6 and started() and "state" not in seen:
                seen["state"], seen["fraction"] = full_state(), fraction
                raise error

        yield update

    monkeypatch.setattr(import_export, "progress", progress)
    return seen


def test_import_operator_failing_midway_removes_the_new_body(registered_add_on, tmp_path, monkeypatch):
    path, _ = amass_file(tmp_path / "half.npz", "smplx", 6, 60.0, seed=13, expression=True)
    before = full_state()
    seen = fail_import_midway(monkeypatch, ValueError("stopped halfway"), lambda: len(bpy.data.objects) > 0)
    with pytest.raises(RuntimeError, match="stopped halfway"):
        bpy.ops.smpl.import_motion(filepath=path, model="open-smplx", fps_mode="SOURCE", correctives=True)
    # it failed with the body built, its action keyed and its correctives being keyed
    objects, actions = seen["state"][0][0], seen["state"][0][1]
    assert len(objects) == 2 and actions == ["half"] and 0.6 < seen["fraction"] < 1.0
    assert full_state() == before


def test_import_operator_failing_midway_keeps_the_selected_bodys_animation(registered_add_on, tmp_path, monkeypatch):
    path, _ = amass_file(tmp_path / "onto.npz", "smpl", 5, 30.0, seed=14)
    assert bpy.ops.smpl.add_body(model="open-smpl", name="Target") == {"FINISHED"}
    arm = bpy.context.view_layer.objects.active
    arm.pose.bones["left_knee"].keyframe_insert("rotation_quaternion", frame=3)
    arm.animation_data.action.name = "Walk"
    bpy.context.scene.frame_start, bpy.context.scene.frame_end = 3, 40
    bpy.context.view_layer.update()  # the automatic correctives follow the new keyframe (a "KeyAction") before the import
    before = full_state()
    seen = fail_import_midway(monkeypatch, KeyError("a bug"), lambda: "onto" in bpy.data.actions)
    with pytest.raises(RuntimeError, match=r"Import SMPL Motion failed: KeyError: 'a bug'"):
        bpy.ops.smpl.import_motion(filepath=path, body="SELECTED", fps_mode="SCENE")
    assert "onto" in seen["state"][0][1] and ("Target", "onto") in seen["state"][3]
    assert full_state() == before and arm.animation_data.action.name == "Walk"


def test_import_failing_after_the_scene_timing_changed_puts_rate_and_range_back(tmp_path, monkeypatch):
    from smpl_blender_addon.blender import motion as motion_module

    path, _ = amass_file(tmp_path / "late.npz", "smpl", 7, 60.0, seed=15)
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base, scene.frame_start, scene.frame_end = 24, 1.0, 1, 250
    before = full_state()
    real = motion_module.set_scene_fps

    def set_then_fail(scene, fps):
        real(scene, fps)  # the last change an import makes: rate and range are the motion's now
        assert (scene.render.fps, scene.frame_end) == (60, 7)
        raise RuntimeError("late failure")

    monkeypatch.setattr(motion_module, "set_scene_fps", set_then_fail)
    with pytest.raises(RuntimeError, match="late failure"):
        import_motion(path, model="open-smpl", fps="source")
    assert full_state() == before and (scene.render.fps, scene.frame_start, scene.frame_end) == (24, 1, 250)


def test_export_operator_writes_fbx(registered_add_on, tmp_path):
    path, _ = amass_file(tmp_path / "exp.npz", "smpl", 6, 30.0, seed=9)
    bpy.ops.smpl.import_motion(filepath=path, model="open-smpl", fps_mode="SOURCE")
    assert bpy.ops.smpl.export_fbx.poll()
    out = tmp_path / "exp.fbx"
    assert bpy.ops.smpl.export_fbx(filepath=str(out), target="UNITY") == {"FINISHED"}
    assert out.stat().st_size > 0
    for obj in bpy.data.objects:
        obj.select_set(False)
    bpy.context.view_layer.objects.active = None
    assert not bpy.ops.smpl.export_fbx.poll()  # no body selected


def test_easymocap_folder_in_its_world(tmp_path):
    """EasyMocap (no frame rate: fps given): Blender's mesh == R(Rh) M(poses, shapes) + Th, the EasyMocap world."""
    import json

    model = synthetic_model("smpl")
    rng = np.random.default_rng(11)
    frames = [
        {
            "poses": rng.normal(0, 0.3, 72),
            "Rh": rng.normal(0, 0.5, 3),
            "Th": rng.normal(0, 0.5, 3),
            "shapes": np.r_[0.4, -0.2, np.zeros(8)],
        }
        for _ in range(4)
    ]
    (tmp_path / "seq" / "smpl").mkdir(parents=True)
    for i, frame in enumerate(frames):
        record = [dict(id=0, **{k: [v.tolist()] for k, v in frame.items()})]
        (tmp_path / "seq" / "smpl" / f"{i:06d}.json").write_text(json.dumps(record))
    with pytest.raises(MotionFileError, match="frame rate"):
        import_motion(str(tmp_path / "seq"), model=model)  # no rate in the files, none given
    arm = import_motion(str(tmp_path / "seq"), model=model, fps=25)
    assert bpy.context.scene.frame_end == 4 and scene_fps(bpy.context.scene) == pytest.approx(25)
    bpy.context.scene.frame_set(3)
    frame = frames[2]
    local = model.forward(frame["shapes"], frame["poses"], dtype=np.float64).vertices[0]
    expected = local @ core.rotations.axis_angle_to_matrix(frame["Rh"]).T + frame["Th"]
    assert np.abs(evaluated_world_vertices(body_mesh(arm)) - expected).max() < 2e-5


def test_new_body_takes_the_motions_gender_from_a_model_folder(tmp_path):
    """A folder of official-style files without a neutral model: the motion's gender picks the file."""
    from synthetic_body import official_layout_arrays, synthetic_arrays

    folder = tmp_path / "models"
    folder.mkdir()
    for seed, gender in enumerate(("FEMALE", "MALE")):
        np.savez(folder / f"SMPLX_{gender}.npz", **official_layout_arrays(synthetic_arrays("smplx", seed=20 + seed)))
    path, _ = amass_file(tmp_path / "male.npz", "smplx", 3, 30.0)
    np.savez(path, **dict(np.load(path), gender=np.array("male")))
    arm = import_motion(path, model=str(folder), fps=30, correctives=False)
    assert arm["smpl_gender"] == "male"
    arm = import_motion(path, model=str(folder), gender="female", fps=30, correctives=False)
    assert arm["smpl_gender"] == "female"


def test_import_operator_names_the_body_and_fills_its_sliders(registered_add_on, tmp_path):
    from smpl_blender_addon.ui import properties

    path, source = amass_file(tmp_path / "shape.npz", "smpl", 4, 30.0, seed=12)
    result = bpy.ops.smpl.import_motion(filepath=path, model="open-smpl", name="Walker", up_axis="Y", fps_mode="SOURCE")
    assert result == {"FINISHED"}
    arm = bpy.context.view_layer.objects.active
    assert arm.name == "Walker" and properties.sliders_in_sync(arm)
    # up_axis="Y": the data is taken as Y-up, so the root rotation is keyed as it is in the file
    q = np.stack([key_values(arm, 'pose.bones["pelvis"].rotation_quaternion', i)[1] for i in range(4)], 1)
    expected = core.rotations.axis_angle_to_quaternion(source.poses[:, :3])
    np.testing.assert_allclose(np.abs(np.sum(q * expected, axis=1)), 1.0, atol=1e-6)
