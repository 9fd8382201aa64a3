# SPDX-License-Identifier: GPL-3.0-or-later
"""The bpy.ops.smpl operators, called with keyword arguments as a user's script calls them (real bpy, no mocks).

The package is registered directly (smpl_blender_addon.register()). Geometry is checked against smplx (PyTorch), an
implementation independent of ours, on a synthetic SMPL-sized model written to an official-layout .npz file.
Undo needs Blender's undo stack, which the bpy module only creates on an explicit ``ed.undo_push``: that test runs in a
subprocess so that its memfile undo cannot touch this process's data.
"""

import json
import os
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

import bpy_process  # noqa: E402  (tests/ on sys.path)
from blender_helpers import evaluated_world_vertices  # noqa: E402  (tests/blender on sys.path)
from synthetic_body import official_layout_arrays, synthetic_arrays  # noqa: E402

import smpl_blender_addon  # noqa: E402
from smpl_blender_addon import core  # noqa: E402
from smpl_blender_addon.blender import add_body  # noqa: E402
from smpl_blender_addon.blender import body as body_api  # noqa: E402
from smpl_blender_addon.blender.pose import get_pose  # noqa: E402
from smpl_blender_addon.ui import body as ui_body  # noqa: E402
from smpl_blender_addon.ui import common as ui_common  # noqa: E402
from smpl_blender_addon.ui import import_export as ui_import_export  # noqa: E402
from smpl_blender_addon.ui import panels as ui_panels  # noqa: E402
from smpl_blender_addon.ui import pose as ui_pose  # noqa: E402
from smpl_blender_addon.ui import preferences as ui_prefs  # noqa: E402
from smpl_blender_addon.ui import properties as ui_props  # noqa: E402
from smpl_blender_addon.ui import shape as ui_shape  # noqa: E402

OPERATOR_MODULES = (ui_body, ui_shape, ui_pose, ui_import_export)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
C = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])  # SMPL (Y-up) -> Blender (Z-up)
SMPL_VERTICES = 6890  # smplx's SMPL class picks extra joints by SMPL vertex ids, so the synthetic mesh needs this many


@pytest.fixture(scope="module", autouse=True)
def registered():
    smpl_blender_addon.register()
    yield
    smpl_blender_addon.unregister()


@pytest.fixture(scope="module")
def model_files(tmp_path_factory):
    """Synthetic official-layout model files: SMPL (6890 vertices), SMPL-X, and broken ones."""
    folder = tmp_path_factory.mktemp("ui_models")
    smpl = synthetic_arrays("smpl", seed=5, extra_vertices=SMPL_VERTICES - 282)
    np.savez(folder / "basicmodel_neutral_lbs_10_207_0_v1.1.0.npz", **official_layout_arrays(smpl))
    np.savez(folder / "SMPLX_NEUTRAL.npz", **official_layout_arrays(synthetic_arrays("smplx", seed=6)))
    (folder / "broken.npz").write_bytes(b"PK\x03\x04 this is not a zip archive")
    arrays = official_layout_arrays(synthetic_arrays("smpl", seed=7))
    del arrays["weights"]
    np.savez(folder / "no_weights.npz", **arrays)
    return {
        "smpl": folder / "basicmodel_neutral_lbs_10_207_0_v1.1.0.npz",
        "smplx": folder / "SMPLX_NEUTRAL.npz",
        "broken": folder / "broken.npz",
        "no_weights": folder / "no_weights.npz",
    }


def smplx_vertices(model_path, betas, pose=None):
    """Vertices from the independent smplx implementation, in Blender axes, (V, 3) float64."""
    torch = pytest.importorskip("torch")
    smplx = pytest.importorskip("smplx")
    from smplx.utils import Struct

    with np.load(model_path, allow_pickle=False) as data:  # smplx itself would pickle.load the file: hand it the arrays
        arrays = {key: data[key] for key in data.files}
    model = smplx.SMPL(model_path="", data_struct=Struct(**arrays), num_betas=10)
    pose = np.zeros(72) if pose is None else np.asarray(pose, dtype=np.float64)
    with torch.no_grad():
        out = model(
            betas=torch.tensor(np.asarray(betas, np.float32)[None]),
            global_orient=torch.tensor(pose[None, :3], dtype=torch.float32),
            body_pose=torch.tensor(pose[None, 3:], dtype=torch.float32),
        )
    return out.vertices[0].numpy().astype(np.float64) @ C.T


def evaluated_vertices(arm):
    """The body's mesh as Blender evaluates it, relative to where its armature stands, (V, 3) float64: the operators
    put a new body on the ground at the 3D cursor."""
    return evaluated_world_vertices(body_api.body_mesh(arm)) - np.array(arm.matrix_world.translation)


def slider_values(collection):
    return np.array([item.value for item in collection], dtype=np.float32)


def scene_snapshot():
    """Counts and names of everything an add or a pose change could leave behind."""
    data = bpy.data
    return {
        "objects": sorted(o.name for o in data.objects),
        "meshes": len(data.meshes),
        "armatures": len(data.armatures),
        "materials": len(data.materials),
        "shape_keys": len(data.shape_keys),
        "actions": len(data.actions),
    }


def test_operators_registered_with_undo_panels_and_import_menu():
    for cls in (cls for module in OPERATOR_MODULES for cls in module.CLASSES):
        assert {"REGISTER", "UNDO"} <= set(cls.bl_options), cls.bl_idname
        group, name = cls.bl_idname.split(".")
        assert group == "smpl" and hasattr(bpy.ops.smpl, name)
        assert getattr(bpy.types, cls.__name__, None) is not None, cls.__name__
    for cls in ui_panels.CLASSES:
        assert getattr(bpy.types, cls.__name__, None) is not None, cls.__name__
    assert ui_panels.SMPL_PT_body.bl_category == "SMPL" and ui_panels.SMPL_PT_body.bl_space_type == "VIEW_3D"
    import_menu_draws = bpy.types.TOPBAR_MT_file_import._dyn_ui_initialize()
    assert ui_body.menu_import_body in import_menu_draws and ui_pose.menu_import_pose in import_menu_draws


def test_model_menu_offers_exactly_the_core_built_in_bodies():
    assert {item[0] for item in ui_props.BUILTIN_MODELS} == set(core.model.BUILTIN_MODELS)


def test_body_operators_need_a_selected_body():
    assert ui_common.active_body(bpy.context) is None
    assert bpy.ops.smpl.add_body.poll()
    for name in ("set_pose", "write_pose", "random_shape", "snap_to_ground", "update_correctives", "load_pose"):
        assert not getattr(bpy.ops.smpl, name).poll(), name
    with pytest.raises(RuntimeError, match="Select an SMPL body"):
        bpy.ops.smpl.set_pose(pose="0 " * 72)


def test_add_body_with_keywords_matches_smplx(model_files):
    result = bpy.ops.smpl.add_body(model=str(model_files["smpl"]), betas="0.8, -0.5", name="Alice")
    assert result == {"FINISHED"}
    arm = bpy.context.active_object
    assert arm.name == "Alice" and body_api.find_body(arm) == arm and arm.select_get()
    np.testing.assert_allclose(slider_values(arm.smpl_ui.betas), [0.8, -0.5] + [0.0] * 8, atol=1e-7)
    assert len(arm.smpl_ui.expression) == 0
    reference = smplx_vertices(model_files["smpl"], [0.8, -0.5] + [0.0] * 8)
    np.testing.assert_allclose(evaluated_vertices(arm), reference, atol=2e-5)


def test_add_body_stands_on_the_ground_at_the_cursor(model_files):
    bpy.context.scene.cursor.location = (1.0, -2.0, 0.5)
    try:
        assert bpy.ops.smpl.add_body(model=str(model_files["smpl"]), betas="1.5") == {"FINISHED"}
        arm = bpy.context.active_object
        world = evaluated_world_vertices(body_api.body_mesh(arm))
        assert abs(world[:, 2].min() - 0.5) < 1e-5  # its lowest point on the cursor's height, not 1 m below it
        assert tuple(arm.location)[:2] == pytest.approx((1.0, -2.0))
        assert bpy.ops.smpl.add_body(model=str(model_files["smpl"]), location=(0.0, 3.0, 0.0)) == {"FINISHED"}
        world = evaluated_world_vertices(body_api.body_mesh(bpy.context.active_object))
        assert abs(world[:, 2].min()) < 1e-5 and tuple(bpy.context.active_object.location)[:2] == pytest.approx((0, 3))
    finally:
        bpy.context.scene.cursor.location = (0.0, 0.0, 0.0)


def test_set_pose_and_write_pose_round_trip(model_files, tmp_path, capsys):
    bpy.ops.smpl.add_body(model=str(model_files["smpl"]), betas="0.3")
    arm = bpy.context.active_object
    pose = np.random.default_rng(11).normal(0.0, 0.3, 72)
    assert bpy.ops.smpl.set_pose(pose=" ".join(repr(float(v)) for v in pose)) == {"FINISHED"}
    # the posed, corrected mesh Blender evaluates is smplx's (correctives are updated by the operator)
    reference = smplx_vertices(model_files["smpl"], [0.3] + [0.0] * 9, pose)
    np.testing.assert_allclose(evaluated_vertices(arm), reference, atol=5e-5)

    json_path = tmp_path / "pose.json"
    assert bpy.ops.smpl.write_pose(target="JSON", filepath=str(json_path)) == {"FINISHED"}
    np.testing.assert_allclose(json.loads(json_path.read_text())["pose"], pose, atol=2e-6)
    npz_path = tmp_path / "pose.npz"
    assert bpy.ops.smpl.write_pose(target="NPZ", filepath=str(npz_path)) == {"FINISHED"}
    with np.load(npz_path, allow_pickle=False) as data:
        np.testing.assert_allclose(data["pose"], pose, atol=2e-6)

    capsys.readouterr()
    assert bpy.ops.smpl.write_pose(target="CONSOLE", copy_to_clipboard=True) == {"FINISHED"}
    # (the bpy module has no system clipboard, and prints operator reports to stdout too: drop those lines)
    printed = "\n".join(line for line in capsys.readouterr().out.splitlines() if not line.startswith("Info:"))
    assert printed.startswith("pose = [")
    # the printed text, comments and all, pastes back into set_pose
    assert bpy.ops.smpl.reset_pose() == {"FINISHED"}
    np.testing.assert_allclose(
        evaluated_vertices(arm), smplx_vertices(model_files["smpl"], [0.3] + [0.0] * 9), atol=2e-5
    )
    assert bpy.ops.smpl.set_pose(pose=printed) == {"FINISHED"}
    np.testing.assert_allclose(evaluated_vertices(arm), reference, atol=5e-5)

    assert bpy.ops.smpl.reset_pose() == {"FINISHED"}
    assert bpy.ops.smpl.load_pose(filepath=str(json_path)) == {"FINISHED"}
    np.testing.assert_allclose(evaluated_vertices(arm), reference, atol=5e-5)


def test_panel_state_follows_the_active_body(model_files):
    bpy.ops.smpl.add_body(model=str(model_files["smpl"]), betas="1.0", name="A")
    body_a = bpy.context.active_object
    bpy.ops.smpl.add_body(model=str(model_files["smpl"]), betas="-1.0", name="B")
    body_b = bpy.context.active_object
    mesh_b = body_api.body_mesh(body_b)
    b_before = evaluated_vertices(body_b)

    bpy.context.view_layer.objects.active = body_a
    assert ui_common.active_body(bpy.context) == body_a
    assert body_a.smpl_ui.betas[0].value == pytest.approx(1.0)
    bpy.context.view_layer.objects.active = mesh_b  # the mesh of a body selects its body too
    assert ui_common.active_body(bpy.context) == body_b
    assert body_b.smpl_ui.betas[0].value == pytest.approx(-1.0)

    # moving a slider of A reshapes A only (the update callback calls set_shape on the slider's own body)
    body_a.smpl_ui.betas[1].value = 0.7
    np.testing.assert_allclose(body_api.body_betas(body_a)[:2], [1.0, 0.7], atol=1e-6)
    np.testing.assert_allclose(
        evaluated_vertices(body_a), smplx_vertices(model_files["smpl"], [1.0, 0.7] + [0] * 8), atol=2e-5
    )
    np.testing.assert_allclose(evaluated_vertices(body_b), b_before, atol=0)
    np.testing.assert_allclose(body_api.body_betas(body_b)[:2], [-1.0, 0.0], atol=1e-6)

    # shape operators act on the active body and write its sliders back (without re-applying them)
    bpy.context.view_layer.objects.active = body_b
    assert bpy.ops.smpl.random_shape(part="BODY", seed=3) == {"FINISHED"}
    np.testing.assert_allclose(slider_values(body_b.smpl_ui.betas), body_api.body_betas(body_b), atol=0)
    assert np.abs(body_api.body_betas(body_b)).max() > 0.1
    np.testing.assert_allclose(slider_values(body_a.smpl_ui.betas)[:2], [1.0, 0.7], atol=1e-6)
    assert bpy.ops.smpl.set_shape(betas="0.25 0.5") == {"FINISHED"}
    np.testing.assert_allclose(slider_values(body_b.smpl_ui.betas), [0.25, 0.5] + [0.0] * 8, atol=1e-7)
    assert bpy.ops.smpl.reset_shape(part="BODY") == {"FINISHED"}
    assert not slider_values(body_b.smpl_ui.betas).any() and not body_api.body_betas(body_b).any()


def test_shape_and_pose_tool_operators(model_files):
    bpy.ops.smpl.add_body(model=str(model_files["smplx"]))
    arm = bpy.context.active_object
    assert len(arm.smpl_ui.expression) == 10
    assert bpy.ops.smpl.random_shape(part="EXPRESSION", scale=0.5, seed=1) == {"FINISHED"}
    np.testing.assert_allclose(slider_values(arm.smpl_ui.expression), body_api.body_expression(arm), atol=0)
    assert bpy.ops.smpl.height_weight(height=1.8, weight=80.0) == {"FINISHED"}
    # the dialog opens on the current measurements: those of the fitted body now
    assert ui_shape.current_height_weight(arm) == pytest.approx((1.8, 80.0), rel=1e-3)
    np.testing.assert_allclose(slider_values(arm.smpl_ui.betas), body_api.body_betas(arm), atol=0)
    assert bpy.ops.smpl.set_pose(pose=" ".join(["0.2"] * 165), transl="0 0.5 0") == {"FINISHED"}
    assert bpy.ops.smpl.snap_to_ground() == {"FINISHED"}
    assert evaluated_world_vertices(body_api.body_mesh(arm))[:, 2].min() == pytest.approx(0.0, abs=1e-5)
    assert bpy.ops.smpl.hand_pose(preset="RELAXED") == {"FINISHED"}
    model = body_api.body_model(arm)
    relaxed = np.concatenate([model.hands_mean_left, model.hands_mean_right])
    np.testing.assert_allclose(get_pose(arm)[25 * 3 : 55 * 3], relaxed, atol=1e-5)  # joints 25-54: the fingers
    # correctives: rotate a bone by hand, then the operator brings the Pose### keys to the core's pose feature
    arm.pose.bones["left_knee"].rotation_mode = "XYZ"
    arm.pose.bones["left_knee"].rotation_euler = (1.0, 0.0, 0.0)
    assert bpy.ops.smpl.update_correctives() == {"FINISHED"}
    blocks = body_api.body_mesh(arm).data.shape_keys.key_blocks
    start = blocks.find("Pose000")
    values = np.array([b.value for b in blocks[start : start + 486]])
    np.testing.assert_allclose(values, core.pose_corrective_weights(get_pose(arm), model)[0], atol=1e-6)


def test_bad_input_is_reported_and_changes_nothing(model_files, tmp_path):
    before = scene_snapshot()
    for bad in ("broken", "no_weights"):
        path = model_files[bad]
        with pytest.raises(RuntimeError, match=re.escape(path.name)):
            bpy.ops.smpl.add_body(model=str(path))
        with pytest.raises(RuntimeError, match=re.escape(path.name)):
            bpy.ops.smpl.import_body(filepath=str(path))
        assert scene_snapshot() == before
    with pytest.raises(RuntimeError, match="no such file"):
        bpy.ops.smpl.add_body(model=str(tmp_path / "missing.npz"))
    assert scene_snapshot() == before

    bpy.ops.smpl.add_body(model=str(model_files["smpl"]))
    arm = bpy.context.active_object
    rest = evaluated_vertices(arm)
    before = scene_snapshot()
    with pytest.raises(RuntimeError, match=r"pose: cannot read 'abc'"):
        bpy.ops.smpl.set_pose(pose="0.1 abc")
    with pytest.raises(RuntimeError, match=r"pose: 71 numbers given"):
        bpy.ops.smpl.set_pose(pose="0.1 " * 71)
    with pytest.raises(RuntimeError, match="165"):  # a SMPL-X pose on a SMPL body: the blender layer says so
        bpy.ops.smpl.set_pose(pose="0.1 " * 165)
    bad_pose = tmp_path / "bad_pose.json"
    bad_pose.write_text('{"pose": [1, 2')
    with pytest.raises(RuntimeError, match=re.escape(bad_pose.name)):
        bpy.ops.smpl.load_pose(filepath=str(bad_pose))
    with pytest.raises(RuntimeError, match="file path"):
        bpy.ops.smpl.write_pose(target="JSON")
    assert scene_snapshot() == before
    np.testing.assert_allclose(evaluated_vertices(arm), rest, atol=0)


UNDO_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import bpy
    argv = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else sys.argv[1:]  # Blender binary or bpy module
    sys.path.insert(0, argv[0])
    import smpl_blender_addon
    smpl_blender_addon.register()
    # The bpy module (background mode) has no undo stack until one is pushed explicitly, and bpy.ops calls from a
    # script do not push undo steps: push one after each operator, as Blender's UI does after an UNDO operator.
    bpy.ops.ed.undo_push(message="start")
    bpy.ops.smpl.add_body(model=argv[1], betas="1.0")
    name = bpy.context.active_object.name
    bpy.ops.ed.undo_push(message="Add SMPL Body")
    bpy.context.active_object.smpl_ui.betas[0].value = 2.0
    bpy.ops.ed.undo_push(message="beta slider")
    def state():
        arm = bpy.data.objects.get(name)
        if arm is None:
            return None
        return {"betas": list(arm["smpl_betas"]), "slider": arm.smpl_ui.betas[0].value,
                "objects": len(bpy.data.objects)}
    steps = {"after_slider": state()}
    bpy.ops.ed.undo()
    steps["undo_slider"] = state()
    bpy.ops.ed.undo()
    steps["undo_add"] = state()
    bpy.ops.ed.redo()
    steps["redo_add"] = state()
    print("RESULT " + json.dumps(steps))
    """
)


def test_undo_and_redo_restore_body_and_slider_state(model_files, tmp_path):
    script = tmp_path / "undo.py"
    script.write_text(UNDO_SCRIPT)
    done = subprocess.run(
        bpy_process.script_command(script, REPO, model_files["smpl"]), capture_output=True, text=True, timeout=300
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, done.stdout[-2000:] + done.stderr[-2000:]
    steps = json.loads(lines[0][len("RESULT ") :])
    assert steps["after_slider"]["betas"][0] == pytest.approx(2.0) and steps["after_slider"]["slider"] == 2.0
    assert steps["undo_slider"]["betas"][0] == pytest.approx(1.0) and steps["undo_slider"]["slider"] == 1.0
    assert steps["undo_add"] is None
    assert steps["redo_add"]["betas"][0] == pytest.approx(1.0) and steps["redo_add"]["slider"] == 1.0
    assert steps["redo_add"]["objects"] == steps["after_slider"]["objects"]


def test_write_pose_prints_into_an_open_python_console(model_files):
    window = bpy.context.window_manager.windows[0]
    area = next(a for a in window.screen.areas if a.type != "VIEW_3D")
    area.type = "CONSOLE"
    bpy.ops.smpl.add_body(model=str(model_files["smpl"]))
    pose = np.random.default_rng(2).normal(0.0, 0.2, 72)
    bpy.ops.smpl.set_pose(pose=repr(pose.tolist()))
    assert bpy.ops.smpl.write_pose(target="CONSOLE") == {"FINISHED"}
    lines = [line.body for line in area.spaces[0].scrollback]
    assert len(lines) == 1 + 24 and lines[0].startswith("pose = [") and lines[1].startswith("#  0 pelvis")
    np.testing.assert_allclose(np.array(lines[0][len("pose = [") : -1].split(", "), dtype=np.float64), pose, atol=2e-6)


def test_body_built_by_a_script_gets_its_sliders_on_demand(model_files):
    assert not ui_panels.SMPL_PT_shape.poll(bpy.context) and not ui_panels.SMPL_PT_pose.poll(bpy.context)
    arm = add_body(model=str(model_files["smpl"]), betas=[0.4, 0.0, -0.2])  # the scripting API, no operator
    bpy.context.view_layer.objects.active = arm
    assert ui_panels.SMPL_PT_shape.poll(bpy.context) and ui_panels.SMPL_PT_pose.poll(bpy.context)
    assert len(arm.smpl_ui.betas) == 0 and not ui_props.sliders_in_sync(arm)
    assert bpy.ops.smpl.show_shape_sliders() == {"FINISHED"}
    assert ui_props.sliders_in_sync(arm)
    np.testing.assert_allclose(slider_values(arm.smpl_ui.betas), [0.4, 0.0, -0.2] + [0.0] * 7, atol=1e-7)
    description = dict(ui_panels.body_description(arm))
    assert description["Kind"] == "SMPL" and description["Model"] == model_files["smpl"].name


def test_ui_icons_and_properties_named_in_draw_code_exist():
    """draw() cannot run without a GPU window; check the names it hands to Blender instead (a typo raises there)."""
    icons = set(bpy.types.UILayout.bl_rna.functions["prop"].parameters["icon"].enum_items.keys())
    sources = "".join(open(module.__file__, encoding="utf-8").read() for module in (ui_panels, ui_prefs))
    used = set(re.findall(r'icon="([A-Z_0-9]+)"', sources))
    assert used and used <= icons, sorted(used - icons)
    settings = bpy.context.scene.smpl_add
    for name in ("model", "gender"):
        assert name in settings.bl_rna.properties
    for name in ("betas", "expression", "betas_index", "expression_index"):
        assert name in ui_props.SMPL_PG_body_ui.bl_rna.properties


def _knee_correctives(arm):
    """Current Pose### values of the left knee (SMPL joint 4: entries 27..35), (3, 3)."""
    blocks = body_api.body_mesh(arm).data.shape_keys.key_blocks
    start = blocks.find("Pose000") + 9 * (4 - 1)
    return np.array([blocks[start + i].value for i in range(9)]).reshape(3, 3)


def _rx_minus_identity(angle):
    """R_x(angle) - I: what an SMPL pose corrective of a joint rotated about its x axis must hold."""
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[0.0, 0.0, 0.0], [0.0, c - 1.0, -s], [0.0, s, c - 1.0]])


def test_correctives_keyed_for_keyframes_and_for_a_frame_range(model_files):
    bpy.ops.smpl.add_body(model=str(model_files["smpl"]))
    arm = bpy.context.active_object
    scene = bpy.context.scene
    knee = arm.pose.bones["left_knee"]
    knee.rotation_mode = "XYZ"  # an Euler-animated bone, as FBX / BVH imports make them
    for frame, angle in ((1, 0.3), (11, 1.2)):
        knee.rotation_euler = (angle, 0.0, 0.0)
        knee.keyframe_insert("rotation_euler", frame=frame)

    assert bpy.ops.smpl.update_correctives(scope="KEYFRAMES") == {"FINISHED"}
    for frame, angle in ((1, 0.3), (11, 1.2)):
        scene.frame_set(frame)
        np.testing.assert_allclose(_knee_correctives(arm), _rx_minus_identity(angle), atol=1e-6)
    scene.frame_set(6)  # between two keys the keyed correctives are interpolated linearly, not R(0.75) - I
    assert np.abs(_knee_correctives(arm) - _rx_minus_identity(0.75)).max() > 1e-3

    assert bpy.ops.smpl.update_correctives(scope="RANGE", use_scene_range=False, frame_start=1, frame_end=11) == {
        "FINISHED"
    }
    for frame in (3, 6, 9):
        scene.frame_set(frame)
        np.testing.assert_allclose(_knee_correctives(arm), _rx_minus_identity(knee.rotation_euler[0]), atol=1e-6)
    with pytest.raises(RuntimeError, match="empty"):
        bpy.ops.smpl.update_correctives(scope="RANGE", use_scene_range=False, frame_start=5, frame_end=2)


def test_automatic_correctives_switch_is_stored_on_the_body(model_files):
    bpy.ops.smpl.add_body(model=str(model_files["smpl"]), name="A")
    body_a = bpy.context.active_object
    bpy.ops.smpl.add_body(model=str(model_files["smpl"]), name="B")
    body_b = bpy.context.active_object
    assert body_a.smpl_ui.auto_correctives and body_b.smpl_ui.auto_correctives  # on by default
    body_a.smpl_ui.auto_correctives = False
    assert body_a["smpl_auto_correctives"] is False or body_a["smpl_auto_correctives"] == 0
    assert not body_a.smpl_ui.auto_correctives and body_b.smpl_ui.auto_correctives
    # with the switch off, posing A leaves its correctives alone; B (on) follows its pose
    for body in (body_a, body_b):
        knee = body.pose.bones["left_knee"]
        knee.rotation_mode = "XYZ"
        knee.rotation_euler = (0.9, 0.0, 0.0)
    bpy.context.view_layer.update()
    np.testing.assert_allclose(_knee_correctives(body_a), np.zeros((3, 3)), atol=0)
    np.testing.assert_allclose(_knee_correctives(body_b), _rx_minus_identity(0.9), atol=1e-6)


def _smoothstep_keys(frame, first, last, start_value, end_value):
    """The value Blender's Bezier F-curve takes between two keys with auto-clamped (so flat) handles: the cubic
    3t^2 - 2t^3 of the frame's fraction t of the way."""
    t = (np.asarray(frame, dtype=np.float64) - first) / (last - first)
    return start_value + (end_value - start_value) * (3.0 * t**2 - 2.0 * t**3)


def test_export_motion_writes_the_keyed_animation(model_files, tmp_path):
    from smpl_blender_addon.blender.fcurves import channelbag

    bpy.ops.smpl.add_body(model=str(model_files["smpl"]))
    arm = bpy.context.active_object
    knee = arm.pose.bones["left_knee"]
    knee.rotation_mode = "XYZ"
    for frame, angle in ((1, 0.2), (9, 1.0)):
        knee.rotation_euler = (angle, 0.0, 0.0)
        knee.keyframe_insert("rotation_euler", frame=frame)
    for fcurve in channelbag(arm).fcurves:  # Blender's defaults, spelled out: the expected values below assume them
        for point in fcurve.keyframe_points:
            point.interpolation = "BEZIER"
            point.handle_left_type = point.handle_right_type = "AUTO_CLAMPED"
        fcurve.update()
    path = tmp_path / "walk.npz"
    assert bpy.ops.smpl.export_motion(filepath=str(path), format="AMASS") == {"FINISHED"}
    with np.load(path, allow_pickle=False) as data:
        poses, rate = data["poses"], float(data["mocap_frame_rate"])
    assert poses.shape == (9, 72) and rate == pytest.approx(bpy.context.scene.render.fps)
    # left knee (joint 4) turns about its own x axis only: Rodrigues vector (angle, 0, 0), the angle eased between keys
    expected_knee = _smoothstep_keys(np.arange(1, 10), 1, 9, 0.2, 1.0)
    np.testing.assert_allclose(
        poses[:, 12:15], np.stack([expected_knee, 0 * expected_knee, 0 * expected_knee], 1), atol=1e-5
    )
    # the root holds the turn from the model's Y-up space into the Z-up (AMASS == Blender) world; no other joint moves
    np.testing.assert_allclose(poses[:, :3], np.tile([np.pi / 2, 0.0, 0.0], (9, 1)), atol=1e-6)
    np.testing.assert_allclose(np.delete(poses, np.r_[0:3, 12:15], axis=1), 0.0, atol=1e-6)

    part = tmp_path / "part.npz"
    assert bpy.ops.smpl.export_motion(
        filepath=str(part), format="AMASS", use_action_range=False, frame_start=3, frame_end=5
    ) == {"FINISHED"}
    with np.load(part, allow_pickle=False) as data:
        np.testing.assert_allclose(data["poses"][:, 12], expected_knee[2:5], atol=1e-5)
    with pytest.raises(RuntimeError, match="empty"):
        bpy.ops.smpl.export_motion(filepath=str(path), use_action_range=False, frame_start=5, frame_end=1)


def _amass_file(path, frames=12, seed=4):
    """An AMASS-style SMPL-H motion (Z-up world, 30 fps) with random body joint rotations; returns its poses (F, 156)."""
    rng = np.random.default_rng(seed)
    poses = np.zeros((frames, 156))
    poses[:, 3:66] = rng.normal(0.0, 0.3, (frames, 63))
    np.savez(
        path,
        poses=poses,
        trans=rng.normal(0.0, 0.1, (frames, 3)),
        betas=np.zeros(16),
        gender="neutral",
        mocap_framerate=30.0,
    )
    return poses


def test_import_motion_new_body_and_onto_the_active_body(model_files, tmp_path):
    poses = _amass_file(tmp_path / "walk_poses.npz")
    scene = bpy.context.scene
    result = bpy.ops.smpl.import_motion(
        filepath=str(tmp_path / "walk_poses.npz"), model=str(model_files["smpl"]), fps_mode="SOURCE"
    )
    assert result == {"FINISHED"}
    arm = bpy.context.active_object
    assert body_api.find_body(arm) == arm
    if not ui_props.sliders_in_sync(arm):  # if the import did not fill the sliders, the panel's button does
        assert bpy.ops.smpl.show_shape_sliders() == {"FINISHED"}
    np.testing.assert_allclose(slider_values(arm.smpl_ui.betas), body_api.body_betas(arm), atol=0)
    assert (scene.frame_start, scene.frame_end) == (1, 12)
    for frame in (1, 7, 12):
        scene.frame_set(frame)
        # joints 1..21 are parent-relative rotations: the same in any world frame (only the root is re-framed)
        np.testing.assert_allclose(get_pose(arm)[3:66], poses[frame - 1, 3:66], atol=1e-5)

    bpy.ops.smpl.add_body(model=str(model_files["smpl"]), name="Target")
    target = bpy.context.active_object
    before = scene_snapshot()
    bad = tmp_path / "bad_motion.npz"
    np.savez(bad, poses=np.zeros((3, 7)), trans=np.zeros((3, 3)), mocap_framerate=30.0)
    with pytest.raises(RuntimeError, match=re.escape(bad.name)):
        bpy.ops.smpl.import_motion(filepath=str(bad), body="SELECTED")
    assert scene_snapshot() == before and target.animation_data is None
    assert bpy.ops.smpl.import_motion(
        filepath=str(tmp_path / "walk_poses.npz"), body="SELECTED", fps_mode="CUSTOM", fps=30.0
    ) == {"FINISHED"}
    assert bpy.context.active_object == target and target.animation_data.action is not None
    scene.frame_set(7)
    np.testing.assert_allclose(get_pose(target)[3:66], poses[6, 3:66], atol=1e-5)


def test_hostile_files_are_one_clear_report_and_change_nothing(model_files, tmp_path):
    """Import Motion and Load Pose on every hostile file: one error naming the file and the problem, no change."""
    from hostile_files import hostile_motion_files

    cases = hostile_motion_files(tmp_path)
    bpy.ops.smpl.add_body(model=str(model_files["smpl"]), name="Target")
    before = scene_snapshot()
    for name, needle in cases.items():
        path = str(tmp_path / name)
        with pytest.raises(RuntimeError, match=re.escape(name) + ".*" + re.escape(needle)):
            bpy.ops.smpl.import_motion(filepath=path, model=str(model_files["smplx"]))
        if name.endswith((".npz", ".json", ".pkl")):
            with pytest.raises(RuntimeError, match=re.escape(name)):
                bpy.ops.smpl.load_pose(filepath=path)
        assert scene_snapshot() == before, name
    norate = tmp_path / "norate.npz"
    np.savez(norate, poses=np.zeros((5, 72)), trans=np.zeros((5, 3)))
    with pytest.raises(RuntimeError, match="stores no frame rate: set Frame rate to Custom") as info:
        bpy.ops.smpl.import_motion(filepath=str(norate), fps_mode="SCENE")
    assert "fps=" not in str(info.value)
    assert bpy.ops.smpl.import_motion(filepath=str(norate), fps_mode="CUSTOM", fps=24.0) == {"FINISHED"}


UFBX_READER = textwrap.dedent(
    """
    import json, sys
    import ufbx
    scene = ufbx.load_file(sys.argv[1])
    print("RESULT " + json.dumps({
        "bones": sorted(node.name for node in scene.nodes if node.bone is not None),
        "blend_channels": len(scene.blend_channels),
        "stacks": len(scene.anim_stacks),
        "vertices": [mesh.num_vertices for mesh in scene.meshes],
    }))
    """
)


def test_export_fbx_and_gltf_read_back_independently(model_files, tmp_path):
    ufbx = pytest.importorskip("ufbx")
    pygltflib = pytest.importorskip("pygltflib")
    bpy.ops.smpl.add_body(model=str(model_files["smplx"]))  # 282 vertices: a fast export
    arm = bpy.context.active_object
    knee = arm.pose.bones["left_knee"]
    for frame, angle in ((1, 0.1), (5, 0.8)):
        knee.rotation_quaternion = (np.cos(angle / 2), np.sin(angle / 2), 0.0, 0.0)
        knee.keyframe_insert("rotation_quaternion", frame=frame)
    bpy.context.scene.frame_set(3)

    fbx_path = tmp_path / "body.fbx"
    assert bpy.ops.smpl.export_fbx(filepath=str(fbx_path), target="UNITY") == {"FINISHED"}
    assert bpy.context.active_object == arm and bpy.context.scene.frame_current == 3  # scene as it was
    script = tmp_path / "read_fbx.py"
    script.write_text(UFBX_READER)
    # ufbx can crash at interpreter exit: read in a subprocess, keep only its printed result
    done = subprocess.run([sys.executable, str(script), str(fbx_path)], capture_output=True, text=True, timeout=120)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, done.stdout + done.stderr
    read = json.loads(lines[0][len("RESULT ") :])
    assert {"pelvis", "left_knee", "jaw", "right_index3"} <= set(read["bones"]) and read["stacks"] >= 1
    assert read["vertices"] == [282] and read["blend_channels"] == 10 + 10 + 486  # Shape###, Exp###, Pose###
    del ufbx

    glb_path = tmp_path / "body.glb"
    assert bpy.ops.smpl.export_body(filepath=str(glb_path), format="GLB") == {"FINISHED"}
    gltf = pygltflib.GLTF2().load(str(glb_path))
    assert "left_knee" in {node.name for node in gltf.nodes} and len(gltf.animations) >= 1
    targets = {len(primitive.targets or []) for mesh in gltf.meshes for primitive in mesh.primitives}
    assert targets == {10 + 10 + 486}  # morph targets: betas, expression and correctives
    one = tmp_path / "one.glb"
    assert bpy.ops.smpl.export_body(filepath=str(one), format="GLB", max_influences=1) == {"FINISHED"}
    attributes = pygltflib.GLTF2().load(str(one)).meshes[0].primitives[0].attributes
    assert getattr(attributes, "JOINTS_1", None) is None  # one joint per vertex: one set


def test_export_body_in_a_blender_without_alembic_reports_it(model_files, tmp_path, monkeypatch):
    from smpl_blender_addon.blender import compat

    bpy.ops.smpl.add_body(model=str(model_files["smpl"]))
    monkeypatch.setattr(compat, "has_alembic", lambda: False)
    with pytest.raises(RuntimeError, match=r"Alembic export: this Blender .+ is built without Alembic support"):
        bpy.ops.smpl.export_body(filepath=str(tmp_path / "body.abc"), format="ABC")
    assert not list(tmp_path.iterdir())


def test_an_unexpected_failure_is_one_report_with_the_traceback_on_the_console(model_files, monkeypatch, capsys):
    from smpl_blender_addon.blender import shape as shape_api

    bpy.ops.smpl.add_body(model=str(model_files["smpl"]))

    def broken(*args, **kwargs):
        raise KeyError("a bug")

    monkeypatch.setattr(shape_api, "random_shape", broken)
    with pytest.raises(RuntimeError, match=r"^Error: Random Shape failed: KeyError: 'a bug' \(the traceback is in"):
        bpy.ops.smpl.random_shape()
    assert "Traceback" in capsys.readouterr().err


@pytest.mark.parametrize(
    "text, expected",
    [
        ("0.1 0.2 -3e-2", [0.1, 0.2, -0.03]),
        ("0.1, 0.2;\n-0.03", [0.1, 0.2, -0.03]),
        ("[[0.1, 0.2], [-0.03]]", [0.1, 0.2, -0.03]),
        ('{"pose": [0.1, 0.2, -0.03], "gender": "female"}', [0.1, 0.2, -0.03]),
        ("pose = [0.1, 0.2, -0.03]\n#  0 pelvis: [0.1, 0.2, -0.03]\n", [0.1, 0.2, -0.03]),
        ("[np.float64(0.1), np.float32(0.2), numpy.float64(-3e-2)]", [0.1, 0.2, -0.03]),  # numpy 2 scalar reprs
        ("array([ 0.1,  0.2, -0.03], dtype=float32)", [0.1, 0.2, -0.03]),
        ("   ", None),
    ],
)
def test_number_text_forms(text, expected):
    from smpl_blender_addon.ui.parsing import parse_numbers

    values = parse_numbers(text, "betas")
    if expected is None:
        assert values is None
    else:
        assert values.dtype == np.float32
        np.testing.assert_allclose(values, expected, rtol=1e-6)


@pytest.mark.parametrize(
    "text, message",
    [
        ("1 2 x", "cannot read 'x'"),
        ("1 nan 2", "contains values that are not finite"),
        ("[1, 2]", "2 numbers given, expected 3"),
        ("{}", "cannot read '{}'"),
        ("pose = []", "no numbers found"),
    ],
)
def test_number_text_errors_name_the_field_and_the_problem(text, message):
    from smpl_blender_addon.ui.parsing import parse_numbers

    with pytest.raises(ValueError, match=re.escape(f"betas: {message}")):
        parse_numbers(text, "betas", sizes=(3,))


def test_a_script_that_registers_the_add_on_exits():
    """With the bpy module, a registered operator class or app handler left at exit made Blender 4.5 hang forever
    after the script ended: register() arranges for both to go at interpreter exit."""
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]); import bpy, smpl_blender_addon; "
        "smpl_blender_addon.register(); print('REGISTERED', bpy.app.version_string)"
    )
    try:
        done = subprocess.run(bpy_process.code_command(script, REPO), capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        pytest.fail("the interpreter did not exit after the script registered the add-on")
    assert done.returncode == 0 and "REGISTERED" in done.stdout, done.stderr[-2000:]
