# SPDX-License-Identifier: GPL-3.0-or-later
"""The installed extension driven as a user drives it, through its operators, in a Blender binary (``blender -b``).

    blender -b --python tests/real_blender/operators.py -- OUT_DIR

Needs the extension installed and enabled (``blender --command extension install-file -r user_default --enable``);
scripts/real_blender.sh runs it. Every step is checked against the extension's own core (the evaluated mesh against
``BodyModel.forward``, the written pose against the set one), and the files against independent readers where the
binary's Python has them (ufbx, pygltflib). Exit status 0 when every check passed; any failure prints its traceback.
"""

import importlib
import json
import os
import re
import subprocess
import sys
import traceback
import warnings

import bpy
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # Blender does not put a --python script's folder there
from scene import body_mesh, evaluated_world  # noqa: E402

PACKAGE = "bl_ext.user_default.smpl_blender_addon"
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEMO_MOTION = os.path.join(REPO, "assets", "demo_motion_smplx.npz")
C = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])  # SMPL -> Blender axes


def expect_error(match, operator, **kwargs):
    """The operator reports an error (bpy.ops raises RuntimeError carrying it) that matches ``match``."""
    try:
        operator(**kwargs)
    except RuntimeError as err:
        assert re.search(match, str(err)), f"unexpected message: {err}"
        return str(err)
    raise AssertionError(f"{operator.idname_py()} accepted {kwargs}")


def check_body(out):
    package = importlib.import_module(PACKAGE)
    core = importlib.import_module(PACKAGE + ".core")
    print(
        "extension",
        package.__name__,
        "in Blender",
        bpy.app.version_string,
        "Python",
        sys.version.split()[0],
        "numpy",
        np.__version__,
    )
    bpy.ops.smpl.add_body(model="open-smplx", gender="NEUTRAL", betas="0.5 -1 0.3")
    arm = bpy.context.view_layer.objects.active
    assert arm is not None and arm.type == "ARMATURE", arm
    mesh = body_mesh(arm)
    lowest = evaluated_world(mesh)[:, 2].min()
    cursor = bpy.context.scene.cursor.location
    assert abs(lowest - cursor.z) < 1e-4, f"the new body's lowest point is at z={lowest}, not on the ground"

    bpy.ops.smpl.set_shape(betas="1.5 0.2 -0.7 0.1")
    bpy.ops.smpl.random_shape(part="EXPRESSION", seed=3)
    rng = np.random.default_rng(0)
    model = core.load_model("open-smplx", gender="neutral")
    pose = rng.normal(0, 0.3, model.pose_size)
    bpy.ops.smpl.set_pose(pose=" ".join(f"{v:.6f}" for v in pose), update_correctives=True)

    # the evaluated mesh equals the core's forward pass (up to where the armature stands)
    record_path = os.path.join(out, "pose.json")
    bpy.ops.smpl.write_pose(target="JSON", filepath=record_path)
    record = json.load(open(record_path))
    assert np.allclose(record["pose"], np.round(pose, 6), atol=1e-5), "written pose differs from the set pose"
    betas, expression = np.array(record["betas"]), np.array(record["expression"])
    assert np.allclose(betas[:4], [1.5, 0.2, -0.7, 0.1]) and not np.allclose(expression, 0)
    expected = (
        model.forward(betas=betas, pose=np.array(record["pose"]), expression=expression, dtype=np.float64).vertices[0]
        @ C.T
    )
    got = evaluated_world(mesh) - np.array(arm.matrix_world.translation)
    error = np.abs(got - expected).max()
    print(f"posed body vs core forward: max |error| {error:.2e} m over {len(got)} vertices")
    assert error < 1e-4, error

    bpy.ops.smpl.write_pose(target="CONSOLE")
    expect_error(r"pose: cannot read 'abc'", bpy.ops.smpl.set_pose, pose="0.1 abc")
    expect_error(r"nothing\.npz", bpy.ops.smpl.load_pose, filepath=os.path.join(out, "nothing.npz"))
    bpy.ops.smpl.height_weight(height=1.80, weight=80.0)
    bpy.ops.smpl.hand_pose(preset="RELAXED")
    bpy.ops.smpl.reset_pose()
    bpy.ops.ed.undo_push(message="checked")
    return arm


def check_motion(out):
    bpy.ops.smpl.import_motion(filepath=DEMO_MOTION, body="NEW", correctives=True)
    arm = bpy.context.view_layer.objects.active
    start, end = (int(f) for f in arm.animation_data.action.frame_range)
    assert end - start > 10, (start, end)
    scene = bpy.context.scene
    scene.frame_set(start + 5)
    bpy.ops.smpl.update_correctives(scope="KEYFRAMES")
    scene.frame_end = min(end, start + 20)

    fbx = os.path.join(out, "walk.fbx")
    bpy.ops.smpl.export_fbx(filepath=fbx, use_action_range=False, frame_start=start, frame_end=scene.frame_end)
    glb = os.path.join(out, "walk.glb")
    bpy.ops.smpl.export_body(
        filepath=glb, format="GLB", use_action_range=False, frame_start=start, frame_end=scene.frame_end
    )
    for path in (fbx, glb):
        assert os.path.getsize(path) > 100_000, path
    motion = os.path.join(out, "walk_out.npz")
    bpy.ops.smpl.export_motion(filepath=motion, format="AMASS")
    assert os.path.getsize(motion) > 0
    abc = os.path.join(out, "walk.abc")
    if bpy.app.build_options.alembic:
        bpy.ops.smpl.export_body(
            filepath=abc, format="ABC", use_action_range=False, frame_start=start, frame_end=start + 3
        )
        assert os.path.getsize(abc) > 0
    else:
        message = expect_error(r"Alembic", bpy.ops.smpl.export_body, filepath=abc, format="ABC")
        print("Alembic (not in this build):", message.strip())
    return fbx, glb


def check_fit(out):
    """Fit to Points on HumanML3D-style joints made by the core, then Fit to Selected on empties at those joints: the
    fitted bodies' evaluated bones sit on the targets; a broken file is reported."""
    core = importlib.import_module(PACKAGE + ".core")
    model = core.load_model("open-smpl")
    with warnings.catch_warnings():  # (the SMPL-X joints an SMPL body lacks are dropped)
        warnings.simplefilter("ignore")
        motion = core.read_motion(DEMO_MOTION).to_kind("smpl")
    motion = motion.copy(betas=np.zeros(0)).reframe("Y", model).resample(20.0).slice(0, 10)
    joints = model.forward(pose=motion.poses, transl=motion.trans, dtype=np.float64).joints[:, :22]
    path = os.path.join(out, "joints.npy")
    np.save(path, joints.astype(np.float32))
    bad = os.path.join(out, "broken.npy")
    with open(bad, "wb") as f:
        f.write(b"\x93NUMPY broken")
    expect_error(r"broken\.npy", bpy.ops.smpl.fit_to_points, filepath=bad)
    bpy.ops.smpl.fit_to_points(filepath=path, fps=20.0, correctives=False)
    fitted = bpy.context.view_layer.objects.active
    scene = bpy.context.scene
    empties = []
    for k, name in enumerate(model.joint_names[:22]):
        empty = bpy.data.objects.new(name.upper(), None)  # "PELVIS": names are read as joint names
        scene.collection.objects.link(empty)
        for f in range(len(joints)):
            empty.location = C @ joints[f, k]
            empty.keyframe_insert("location", frame=f + 1)
        empties.append(empty)
    bpy.context.view_layer.update()
    for obj in bpy.context.view_layer.objects:
        obj.select_set(obj in empties)
    bpy.context.view_layer.objects.active = empties[0]
    bpy.ops.smpl.fit_to_selected(correctives=False)
    for arm in (fitted, bpy.context.view_layer.objects.active):
        assert arm.type == "ARMATURE" and arm not in empties, arm
        errors = []
        for f in range(len(joints)):
            scene.frame_set(f + 1)
            evaluated = arm.evaluated_get(bpy.context.evaluated_depsgraph_get())
            M = np.array(evaluated.matrix_world)
            heads = np.array([evaluated.pose.bones[n].head for n in model.joint_names[:22]]) @ M[:3, :3].T + M[:3, 3]
            errors.append(np.linalg.norm(heads - joints[f] @ C.T, axis=1).mean())
        print(f"fit {arm.name}: mean joint error {1000 * np.mean(errors):.2f} mm over {len(joints)} frames")
        assert np.mean(errors) < 0.002, errors


def check_readers(fbx, glb):
    # ufbx in its own process (it can crash when a scene is freed: tests/ufbx_reader.py); Blender's sys.executable
    # is its Python interpreter
    reader = subprocess.run(
        [sys.executable, os.path.join(REPO, "tests", "ufbx_reader.py"), fbx, "--frames", "1", "5"],
        capture_output=True,
        text=True,
    )
    if "No module named 'ufbx'" in reader.stderr:
        print("ufbx is not installed here: FBX not read back")
    else:
        assert reader.returncode == 0, reader.stderr
        read = json.loads(reader.stdout)
        names = {node["name"] for node in read["nodes"]}
        assert {"pelvis", "left_wrist", "jaw"} <= names, sorted(names)[:20]
        assert read["stacks"] and len(read["samples"]) == 2, read["stacks"]
        print("ufbx:", len(names), "nodes,", len(read["stacks"]), "animation stack(s)")
    try:
        import pygltflib
    except ImportError:
        print("pygltflib is not installed here: glTF not read back")
    else:
        gltf = pygltflib.GLTF2().load(glb)
        assert gltf.skins and gltf.animations and gltf.meshes[0].primitives[0].targets
        print(
            "pygltflib:",
            len(gltf.nodes),
            "nodes,",
            len(gltf.animations[0].channels),
            "animation channels,",
            len(gltf.meshes[0].primitives[0].targets),
            "morph targets",
        )


def main():
    out = sys.argv[sys.argv.index("--") + 1] if "--" in sys.argv else "/tmp/smpl_operators"
    os.makedirs(out, exist_ok=True)
    try:
        check_body(out)
        check_readers(*check_motion(out))
        check_fit(out)
    except Exception:  # noqa: BLE001 - the whole traceback goes to the log, the exit status fails the step
        traceback.print_exc()
        sys.exit(1)
    print("operators: all checks passed", flush=True)
    sys.exit(0)


main()
