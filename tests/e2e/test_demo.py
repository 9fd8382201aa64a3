# SPDX-License-Identifier: GPL-3.0-or-later
"""The demo end to end in a subprocess (a short slice of the bundled motion, no render), its outputs read back by
independent readers: the FBX with ufbx (tests/ufbx_reader.py, its own subprocess), the .glb with pygltflib, Blender's
evaluated mesh of the saved scene, all compared with the core forward pass of the motion file the demo wrote; and
the preview's GIF writer (scripts/render_demo.py)."""

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import bpy_process
import numpy as np
import pytest

from smpl_blender_addon import core
from smpl_blender_addon.core.formats import read_motion

REPO = Path(__file__).resolve().parent.parent.parent
READER = REPO / "tests" / "ufbx_reader.py"
FRAMES = (1, 10)  # scene frames of the slice: range(1, 11)
DEMO = """
import json, sys
import bpy
import numpy as np
from smpl_blender_addon.demo import run_demo
result = run_demo(sys.argv[1], frames=range(1, 11), render=False)
print("RESULT " + json.dumps({k: (str(v) if hasattr(v, "__fspath__") else v) for k, v in result.items()}))
# Blender's evaluated mesh at the frame the demo checked, read here with bpy alone (world coordinates)
bpy.context.scene.frame_set(result["mid_frame"])
obj = bpy.data.objects[result["mesh"]]
mesh = obj.evaluated_get(bpy.context.evaluated_depsgraph_get()).to_mesh()
co = np.empty(3 * len(mesh.vertices))
mesh.vertices.foreach_get("co", co)
world = np.array(obj.matrix_world)
np.save(sys.argv[1] + "/mid_frame_vertices.npy", co.reshape(-1, 3) @ world[:3, :3].T + world[:3, 3])
"""


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    env = dict(os.environ, PYTHONPATH=str(REPO))
    done = subprocess.run(
        bpy_process.code_command(DEMO, out), cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [line for line in done.stdout.splitlines() if line.startswith("demo: ")]
    result = json.loads(next(line for line in done.stdout.splitlines() if line.startswith("RESULT "))[7:])
    return {"out": out, "lines": lines, "result": result}


@pytest.fixture(scope="module")
def reference(demo):
    """Core forward pass of the motion slice the demo imported (Z-up: Blender's world)."""
    motion = read_motion(demo["result"]["motion"])
    model = core.load_model("open-smplx", gender="neutral")
    out = model.forward(pose=motion.poses, transl=motion.trans, expression=motion.expression, dtype=np.float64)
    return {
        "motion": motion,
        "model": model,
        "joints": out.joints,
        "vertices": out.vertices,
        "correctives": core.pose_corrective_weights(motion.poses, model),
    }


def test_every_output_exists_and_is_printed(demo):
    out = Path(demo["out"]).resolve()
    printed = {line.split()[1]: line.split(None, 2)[2] for line in demo["lines"]}
    expected = {  # where the demo writes, in the order it prints; no preview lines with render=False
        "motion": out / "demo_motion.npz",  # the slice of the bundled motion
        "pose_json": out / "demo_pose.json",
        "fbx": out / "demo.fbx",
        "glb": out / "demo.glb",
        "blend": out / "demo.blend",
        "blender_log": out / "blender.log",
    }
    assert list(printed) == ["motion", "body", "check", *list(expected)[1:], "seconds"]
    for what, path in expected.items():
        assert printed[what] == str(path)
        assert path.is_file() and (path.stat().st_size > 0 or what == "blender_log"), what
    assert not list(out.glob("preview*"))  # render=False
    assert f"keyed at {FRAMES[1] - FRAMES[0] + 1} frames" in printed["body"]
    pose = json.loads(expected["pose_json"].read_text())
    assert len(pose["pose"]) == 165 and len(pose["trans"]) == 3


def test_printed_mesh_difference_is_blenders_mesh_against_the_core(demo, reference):
    """The printed check, recomputed here: the mid frame of the slice, Blender's evaluated mesh there (read by the
    demo's subprocess with bpy alone) against this test's core forward pass."""
    check = next(line for line in demo["lines"] if line.startswith("demo: check"))
    frame, printed = re.search(r"frame (\d+): .* max difference (\S+) m", check).groups()
    mid = FRAMES[0] + (FRAMES[1] - FRAMES[0] + 1) // 2
    assert int(frame) == mid
    blender = np.load(Path(demo["out"]) / "mid_frame_vertices.npy")
    difference = np.abs(blender - reference["vertices"][mid - FRAMES[0]]).max()
    assert difference < 1e-4
    assert float(printed) == pytest.approx(difference, rel=0.01)


def test_pose_json_is_the_mid_frame_of_the_motion(demo, reference):
    pose = json.loads(Path(demo["result"]["pose_json"]).read_text())
    index = demo["result"]["mid_frame"] - FRAMES[0]
    R = core.rotations.axis_angle_to_matrix
    motion = reference["motion"]  # the JSON is in the rig's Y-up world: compare body joints (root re-framed)
    np.testing.assert_allclose(
        R(np.reshape(pose["pose"], (-1, 3))[1:]), R(motion.poses[index].reshape(-1, 3)[1:]), atol=1e-5
    )


def read_fbx(path, frames):
    pytest.importorskip("ufbx")  # the independent reader, run in its own process below
    done = subprocess.run(
        [sys.executable, str(READER), str(path), "--frames", *map(str, frames)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def test_fbx_joints_and_animated_correctives_match_the_core(demo, reference):
    frames = (FRAMES[0], 5, FRAMES[1])
    info = read_fbx(demo["result"]["fbx"], frames)
    model = reference["model"]
    bones = {node["name"] for node in info["nodes"] if node["is_bone"]}
    assert set(model.joint_names) <= bones
    channels = [c["name"] for c in info["meshes"][0]["channels"]]
    correctives = [f"Pose{k:03d}" for k in range(reference["correctives"].shape[1])]
    assert set(correctives) <= set(channels)
    scale = 1.0 / info["settings"]["unit_meters"]  # Blender's FBX: centimetres, Y up: (x, y, z)_Z-up -> (x, z, -y)
    values = []
    for sample, frame in zip(info["samples"], frames):
        index = frame - FRAMES[0]
        joints = np.array([np.array(sample["world"][name])[:3, 3] for name in model.joint_names])
        expected = reference["joints"][index][:, [0, 2, 1]] * [1, 1, -1] * scale
        np.testing.assert_allclose(joints, expected, atol=1e-2)  # 0.1 mm
        weights = np.array([sample["weights"][name] for name in correctives])
        np.testing.assert_allclose(weights, reference["correctives"][index], atol=1e-4)
        values.append(weights)
    assert np.abs(values[-1] - values[0]).max() > 0.05  # the correctives are animated, not one static value


def test_glb_has_the_skin_morph_targets_and_every_frame(demo, reference):
    pygltflib = pytest.importorskip("pygltflib")

    gltf = pygltflib.GLTF2().load(demo["result"]["glb"])
    names = [gltf.nodes[j].name for j in gltf.skins[0].joints]
    assert set(reference["model"].joint_names) <= set(names)
    primitive = gltf.meshes[0].primitives[0]
    assert len(primitive.targets) >= reference["correctives"].shape[1]
    assert len(gltf.animations) == 1
    times = gltf.accessors[gltf.animations[0].samplers[0].input]
    assert times.count == FRAMES[1] - FRAMES[0] + 1
    fps = reference["motion"].fps  # the first exported frame at time 0 (FBX converters play the take from 0 too)
    np.testing.assert_allclose([times.min[0], times.max[0]], [0.0, (FRAMES[1] - FRAMES[0]) / fps], atol=1e-4)
    assert gltf.animations[0].name == "demo_motion"  # the motion file the demo imports


def render_demo():
    """scripts/render_demo.py, the demo's preview (it imports bpy; its GIF needs Pillow)."""
    pytest.importorskip("bpy")
    pytest.importorskip("PIL.Image")
    spec = importlib.util.spec_from_file_location("render_demo", REPO / "scripts" / "render_demo.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def gif_test_frames():
    """(4, 96, 128, 3) uint8 frames: gradients and noise patches, far over 256 colours."""
    rng = np.random.default_rng(5)
    y, x = np.mgrid[0:96, 0:128]
    frames = np.stack(
        [np.stack([(2 * x + 9 * k) % 256, 2 * y + 0 * x, (x + 2 * y + k) % 256], axis=-1) for k in range(4)]
    ).astype(np.uint8)
    frames[0, 16:80, 16:112] = rng.integers(0, 256, (64, 96, 3))
    frames[2, 8:40, 8:56] = rng.integers(0, 256, (32, 48, 3))
    return frames


def read_gif(path):
    """Every frame of a GIF as (N, H, W, 3) uint8 (Pillow), and its frame duration (ms) and loop count."""
    from PIL import Image

    with Image.open(path) as gif:
        frames = []
        for k in range(gif.n_frames):
            gif.seek(k)
            frames.append(np.asarray(gif.convert("RGB")))
        return np.stack(frames), gif.info["duration"], gif.info["loop"]


def test_gif_of_up_to_256_colours_is_exact_and_first_frame_decodes_in_blender_ffmpeg(tmp_path):
    frames = gif_test_frames() // 64 * 64 + 7  # 64 colours
    path = render_demo().write_gif(tmp_path / "test.gif", frames, fps=10)
    decoded, duration, loop = read_gif(path)
    np.testing.assert_array_equal(decoded, frames)
    assert (duration, loop) == (100, 0)
    import bpy

    image = bpy.data.images.load(str(path))  # a MOVIE image, decoded by Blender's FFmpeg
    try:
        pixels = np.empty(4 * 128 * 96, dtype=np.float32)
        image.pixels.foreach_get(pixels)
    finally:
        bpy.data.images.remove(image)
    np.testing.assert_array_equal(np.round(pixels.reshape(96, 128, 4)[::-1, :, :3] * 255).astype(int), frames[0])


def test_gif_of_many_colours_keeps_every_frame_close(tmp_path):
    frames = gif_test_frames()
    decoded, duration, loop = read_gif(render_demo().write_gif(tmp_path / "test.gif", frames, fps=15))
    assert decoded.shape == frames.shape and (duration, loop) == (70, 0)  # 100 / 15 fps -> 7 hundredths of a second
    error = np.abs(decoded.astype(int) - frames)
    assert error.mean() < 10  # an octree palette over noise patches: 8.3 with Pillow 13


def test_bundled_demo_motion_is_what_its_script_makes(tmp_path):
    out = tmp_path / "demo_motion.npz"
    done = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "make_demo_motion.py"), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    with (
        np.load(out, allow_pickle=False) as made,
        np.load(REPO / "assets" / "demo_motion_smplx.npz", allow_pickle=False) as bundled,
    ):
        assert sorted(made.files) == sorted(bundled.files)
        for key in made.files:
            if made[key].dtype.kind in "fi":
                np.testing.assert_allclose(made[key], bundled[key], atol=1e-9, err_msg=key)
            else:
                assert made[key] == bundled[key], key


def test_demo_motion_walks_on_the_floor_without_sliding():
    """The open body plays the bundled motion standing on Z = 0, the stance foot still, at a walking speed."""
    motion = read_motion(REPO / "assets" / "demo_motion_smplx.npz")
    model = core.load_model("open-smplx", gender="neutral")
    assert (motion.kind, motion.up_axis, motion.fps, motion.num_frames) == ("smplx", "Z", 30.0, 120)
    out = model.forward(pose=motion.poses, transl=motion.trans, expression=motion.expression, dtype=np.float64)
    np.testing.assert_allclose(out.vertices[..., 2].min(axis=1), 0.0, atol=1e-6)  # Z-up world: feet on the floor
    feet = out.joints[:, [model.joint_names.index("left_foot"), model.joint_names.index("right_foot")]]
    stance = np.argmin(feet[..., 2], axis=1)
    frames = np.arange(motion.num_frames - 1)
    slide = np.linalg.norm(feet[frames + 1, stance[frames], :2] - feet[frames, stance[frames], :2], axis=1)
    assert slide.max() < 1e-6  # metres per frame
    pelvis = out.joints[:, 0, :2]
    speed = np.linalg.norm(pelvis[-1] - pelvis[0]) / motion.duration
    assert 0.8 < speed < 1.8  # m/s, an ordinary walk
