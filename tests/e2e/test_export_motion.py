# SPDX-License-Identifier: GPL-3.0-or-later
"""``export-motion`` in subprocesses, as users run it: Blender scenes and FBX files back to SMPL parameters.

Inputs are made here with the add-on itself: AMASS-style motions imported on the open SMPL / SMPL-X bodies, exported
to FBX with every target preset (blender.export.export_fbx), and a .blend holding two bodies; a corrupt .blend and a
corrupt .fbx sit among them. The outputs are compared with the source motions (FBX: float32 matrices in centimetres,
so 1e-4 rad and 1e-5 m), loaded with ``np.load(allow_pickle=False)``, and the .smpl files with smplcodec.
"""

import json
import os
import subprocess

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

import bpy_process  # noqa: E402  (tests/ on sys.path)

from smpl_blender_addon import core  # noqa: E402
from smpl_blender_addon.blender.export import export_fbx  # noqa: E402
from smpl_blender_addon.blender.motion import import_motion  # noqa: E402
from smpl_blender_addon.blender.motion_export import export_motion  # noqa: E402
from smpl_blender_addon.blender.shape import set_shape  # noqa: E402
from smpl_blender_addon.core import layouts  # noqa: E402
from smpl_blender_addon.core.formats import read_motion, write_amass_npz  # noqa: E402
from smpl_blender_addon.core.motion import Motion  # noqa: E402
from smpl_blender_addon.core.rotations import axis_angle_to_matrix, matrix_to_axis_angle  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FPS, FRAMES = 30.0, 12
TARGETS = ("blender", "unity", "unreal")
MODELS = {"smpl": "open-smpl", "smplx": "open-smplx"}
FBX_INPUTS = [f"{kind}_{target}.fbx" for kind in MODELS for target in TARGETS]
BAD = ["broken.blend", "broken.fbx"]


def run_cli(*args, timeout=300):
    env = dict(os.environ, PYTHONPATH=REPO)
    return subprocess.run(
        bpy_process.cli_command(*args), cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout
    )


def rotation_error(a, b):
    """Largest angle (rad) between the rotations of two axis-angle arrays of the same shape."""
    Ra, Rb = axis_angle_to_matrix(np.reshape(a, (-1, 3))), axis_angle_to_matrix(np.reshape(b, (-1, 3)))
    return float(np.linalg.norm(matrix_to_axis_angle(Ra.transpose(0, 2, 1) @ Rb), axis=-1).max())


def source_motion(kind, seed):
    rng = np.random.default_rng(seed)
    return Motion(
        fps=FPS,
        poses=rng.normal(0, 0.4, (FRAMES, 3 * len(layouts.JOINT_NAMES[kind]))),
        trans=rng.normal(0, 0.3, (FRAMES, 3)),
        betas=np.zeros(10),
        gender="neutral",
        kind=kind,
        up_axis="Z",
    )


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    """The input folder and the expected AMASS (Z-up) motion of every output."""
    folder = tmp_path_factory.mktemp("scenes")
    truth = tmp_path_factory.mktemp("truth")
    expected = {}
    sources = {}
    for seed, kind in enumerate(MODELS):
        sources[kind] = str(truth / f"{kind}.npz")
        write_amass_npz(sources[kind], source_motion(kind, seed))
    for kind, model in MODELS.items():
        for target in TARGETS:
            bpy.ops.wm.read_factory_settings(use_empty=True)
            arm = import_motion(sources[kind], model=model, fps="source", correctives=False)
            export_fbx(arm, folder / f"{kind}_{target}.fbx", target=target, correctives="none")
            expected[f"{kind}_{target}.fbx.npz"] = read_motion(sources[kind])
    # a scene with two bodies, one of them shaped: its file must say so
    bpy.ops.wm.read_factory_settings(use_empty=True)
    import_motion(sources["smpl"], model="open-smpl", fps="source", correctives=False, name="walker")
    dancer = import_motion(sources["smplx"], model="open-smplx", fps="source", correctives=False, name="dancer")
    set_shape(dancer, betas=[0.6, -0.4, 0.2])
    expected["two.blend.bodies/walker.npz"] = read_motion(sources["smpl"])
    expected["two.blend.bodies/dancer.npz"] = read_motion(export_motion(dancer, truth / "dancer.npz"))
    bpy.ops.wm.save_as_mainfile(filepath=str(folder / "two.blend"))
    bpy.ops.wm.read_factory_settings(use_empty=True)
    (folder / "broken.blend").write_bytes(b"BLENDER-v500" + b"\x00" * 64)
    (folder / "broken.fbx").write_bytes(b"Kaydara FBX Binary  \x00\x1a\x00" + b"\xff" * 64)
    return str(folder), expected, sources


@pytest.fixture(scope="module")
def amass_run(scenes, tmp_path_factory):
    folder = scenes[0]
    out = str(tmp_path_factory.mktemp("amass"))
    return out, run_cli("export-motion", folder, "--out", out)


def read_report(out):
    with open(os.path.join(out, "report.json")) as f:
        return json.load(f)


def test_every_body_of_every_good_input_is_written_and_the_corrupt_ones_fail(amass_run, scenes):
    folder, expected, _ = scenes
    out, done = amass_run
    assert done.returncode == 1, done.stderr
    written = [os.path.relpath(os.path.join(root, f), out) for root, _, files in os.walk(out) for f in files]
    assert sorted(f for f in written if f.endswith(".npz")) == sorted(expected)
    report = read_report(out)
    entries = {os.path.basename(e["input"]): e for e in report["inputs"]}
    assert report["command"] == "export-motion"
    assert report["summary"] == dict(report["summary"], ok=7, failed=2, skipped=0, pending=0, total=9)
    for name in BAD:
        assert entries[name]["status"] == "failed" and name in entries[name]["error"]
        assert entries[name]["outputs"] == []
    two = entries["two.blend"]
    assert two["status"] == "ok" and two["frames"] == FRAMES
    assert {(o["body"], os.path.relpath(o["path"], out), o["kind"], o["rig"]) for o in two["outputs"]} == {
        ("walker", "two.blend.bodies/walker.npz", "smpl", "body"),
        ("dancer", "two.blend.bodies/dancer.npz", "smplx", "body"),
    }
    for name in FBX_INPUTS:
        (output,) = entries[name]["outputs"]
        assert entries[name]["status"] == "ok" and entries[name]["output"] == output["path"] == os.path.join(
            out, name + ".npz"
        )
        assert output["rig"] == "rig" and output["frames"] == FRAMES
    lines = [line for line in done.stderr.splitlines() if line.startswith("[")]
    assert len(lines) == 9 and sum("failed" in line for line in lines) == 2


@pytest.mark.parametrize("name", FBX_INPUTS + ["two.blend.bodies/walker.npz", "two.blend.bodies/dancer.npz"])
def test_parameters_come_back(amass_run, scenes, name):
    out, _ = amass_run
    expected = scenes[1][name if name.endswith(".npz") else name + ".npz"]
    path = os.path.join(out, name if name.endswith(".npz") else name + ".npz")
    with np.load(path, allow_pickle=False) as data:  # numbers and fixed-width strings only
        assert data["poses"].shape == expected.poses.shape
        assert float(data["mocap_frame_rate"]) == FPS
        assert rotation_error(data["poses"], expected.poses) < 1e-4
        np.testing.assert_allclose(data["trans"], expected.trans, atol=1e-5)
        np.testing.assert_allclose(data["betas"][: expected.betas.size], expected.betas, atol=1e-6)
        assert str(data["surface_model_type"]) == expected.kind


def test_smpl_format_with_frame_range_fps_and_workers(scenes, tmp_path):
    smplcodec = pytest.importorskip("smplcodec")
    folder, _, sources = scenes
    out = tmp_path / "smpl"
    done = run_cli(
        "export-motion",
        os.path.join(folder, "two.blend"),
        os.path.join(folder, "smplx_unity.fbx"),
        "--out",
        out,
        "--format",
        "smpl",
        "--frame-start",
        3,
        "--frame-end",
        10,
        "--fps",
        15,
        "--jobs",
        2,
    )
    assert done.returncode == 0, done.stderr
    files = sorted(
        os.path.relpath(os.path.join(r, f), out) for r, _, fs in os.walk(out) for f in fs if f.endswith(".smpl")
    )
    assert files == ["smplx_unity.fbx.smpl", "two.blend.bodies/dancer.smpl", "two.blend.bodies/walker.smpl"]
    assert all(e["frames"] == 4 for e in read_report(out)["inputs"])  # frames 3..10 at 30 fps = 7/30 s -> 4 at 15
    for name, kind in (("smplx_unity.fbx.smpl", "smplx"), ("two.blend.bodies/walker.smpl", "smpl")):
        codec = smplcodec.SMPLCodec.from_file(str(out / name))
        codec.validate()
        assert codec.frame_count == 4 and codec.frame_rate == 15
        # output frame k = scene frame 3 + 2k = source frame 2 + 2k, in the Y-up world of the .smpl format
        model = core.load_model(MODELS[kind])
        source = read_motion(sources[kind]).reframe("Y", model)
        full = np.asarray(codec.full_pose).reshape(4, -1)[:, : 3 * model.num_joints]
        assert rotation_error(full, source.poses[2:10:2]) < 1e-4
        np.testing.assert_allclose(codec.body_translation, source.trans[2:10:2], atol=1e-5)


def test_rerun_skips_finished_inputs(amass_run, scenes):
    folder, expected, _ = scenes
    out, _ = amass_run
    stamps = {f: os.path.getmtime(os.path.join(out, f)) for f in expected}
    again = run_cli("export-motion", folder, "--out", out)
    assert again.returncode == 1
    entries = {os.path.basename(e["input"]): e for e in read_report(out)["inputs"]}
    assert {n: e["status"] for n, e in entries.items()} == {
        **{n: "skipped" for n in FBX_INPUTS + ["two.blend"]},
        **{n: "failed" for n in BAD},
    }
    assert len(entries["two.blend"]["outputs"]) == 2 and entries["two.blend"]["frames"] == FRAMES
    assert {f: os.path.getmtime(os.path.join(out, f)) for f in expected} == stamps


@pytest.mark.parametrize(
    "args, message",
    [
        (["--frame-start", "5", "--frame-end", "2"], "--frame-end"),
        (["--format", "bvh"], "--format"),
        (["--jobs", "0"], "--jobs"),
        (["--timeout", "0"], "--timeout"),
    ],
)
def test_usage_errors_exit_2(scenes, tmp_path, args, message):
    done = run_cli("export-motion", os.path.join(scenes[0], "two.blend"), "--out", tmp_path / "out", *args)
    assert done.returncode == 2 and message in done.stderr
    assert not (tmp_path / "out" / "report.json").exists()


def test_a_folder_without_scenes_is_a_usage_error(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "walk.npz").write_bytes(b"x")
    done = run_cli("export-motion", tmp_path / "in", "--out", tmp_path / "out")
    assert done.returncode == 2 and "no .blend or .fbx files" in done.stderr


def test_no_two_outputs_share_a_path(scenes, tmp_path):
    """``a.blend`` with bodies named "fbx" and "other" beside ``a.blend.fbx``: once both wrote ``a.blend.fbx.npz``."""
    folder, _, sources = scenes
    inputs = tmp_path / "in"
    inputs.mkdir()
    bpy.ops.wm.read_factory_settings(use_empty=True)
    for name, kind in (("fbx", "smpl"), ("other", "smplx")):
        import_motion(sources[kind], model=MODELS[kind], fps="source", correctives=False, name=name)
    bpy.ops.wm.save_as_mainfile(filepath=str(inputs / "a.blend"))
    bpy.ops.wm.read_factory_settings(use_empty=True)
    os.link(os.path.join(folder, "smplx_blender.fbx"), inputs / "a.blend.fbx")
    out = tmp_path / "out"
    done = run_cli("export-motion", inputs, "--out", out)
    assert done.returncode == 0, done.stderr
    paths = [o["path"] for e in read_report(out)["inputs"] for o in e["outputs"]]
    assert len(paths) == len(set(paths)) == 3
    assert sorted(os.path.relpath(p, out) for p in paths) == [
        "a.blend.bodies/fbx.npz",
        "a.blend.bodies/other.npz",
        "a.blend.fbx.npz",
    ]
    assert read_motion(out / "a.blend.bodies/fbx.npz").kind == "smpl"
    assert read_motion(out / "a.blend.fbx.npz").kind == "smplx"


def test_a_rig_without_gender_says_so(amass_run):
    out, _ = amass_run
    entries = {os.path.basename(e["input"]): e for e in read_report(out)["inputs"]}
    assert any("does not say the body's gender" in w for w in entries["smpl_unity.fbx"]["warnings"])
    assert not any("gender" in w for w in entries["two.blend"]["warnings"])  # our bodies carry it
