# SPDX-License-Identifier: GPL-3.0-or-later
"""``python -m smpl_blender_addon fit`` in subprocesses with bpy blocked (a ``bpy`` package first on PYTHONPATH that
refuses to import, in the parent and in its --jobs workers): HumanML3D-style joints and an EasyMocap keypoints3d
folder made from the open body's own forward pass, fitted, written, read back with the core reader and compared with
the targets; resume, --force, a bad file failing alone, usage errors."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from smpl_blender_addon import core
from smpl_blender_addon.core import conversions
from smpl_blender_addon.core.fitting import KEYPOINT_LAYOUTS, point_definitions
from smpl_blender_addon.core.formats import read_motion

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEMO = os.path.join(REPO, "assets", "demo_motion_smplx.npz")
FPS, FRAMES = 20.0, 24


@pytest.fixture(scope="module")
def model():
    return core.load_model("open-smpl")


@pytest.fixture(scope="module")
def truth(model):
    """A known SMPL motion (the demo walk, 20 fps, Y-up) with a non-mean shape: (poses, trans, betas)."""
    with pytest.warns(UserWarning):  # the SMPL-X joints a SMPL body lacks are dropped
        motion = read_motion(DEMO).to_kind("smpl")
    motion = motion.copy(betas=np.zeros(0)).reframe("Y", model).resample(FPS).slice(0, FRAMES)
    betas = np.zeros(model.num_betas)
    betas[:4] = [0.8, -0.5, 0.3, 0.2]
    return motion.poses, motion.trans, betas


def forward(model, poses, trans, betas):
    out = model.forward(betas=betas, pose=poses, transl=trans, dtype=np.float64)
    return out.joints, out.vertices


def body25_points(model, joints, vertices):
    """The OpenPose BODY_25 keypoints of a forward pass (F, 25, 3): joints and landmark vertices."""
    d = point_definitions(model, KEYPOINT_LAYOUTS["body25"])
    on_joints = np.einsum("kj,fjc->fkc", d.joint_coeffs, joints)
    return on_joints + np.einsum("ku,fuc->fkc", d.vertex_coeffs, vertices[:, d.vertex_ids])


@pytest.fixture(scope="module")
def data(tmp_path_factory, model, truth):
    """HumanML3D-style joints (F, 22, 3) .npy, an EasyMocap output folder (keypoints3d/ of BODY_25, Z-up), a corrupt
    .npy and an .npz holding no points, in one folder."""
    folder = tmp_path_factory.mktemp("points")
    joints, vertices = forward(model, *truth)
    np.save(folder / "walk.npy", joints[:, :22].astype(np.float32))
    frames = folder / "capture" / "keypoints3d"
    frames.mkdir(parents=True)
    keypoints = body25_points(model, joints, vertices) @ conversions.Y_UP_TO_Z_UP.T
    for f, points in enumerate(keypoints):
        rows = np.concatenate([points, np.ones((25, 1))], axis=1).tolist()
        (frames / f"{f:06d}.json").write_text(json.dumps([{"id": 0, "keypoints3d": rows}]))
    (folder / "broken.npy").write_bytes(b"\x93NUMPY garbage")
    np.savez(folder / "nothing.npz", poses=np.zeros((3, 72)))
    return folder


@pytest.fixture(scope="module")
def no_bpy(tmp_path_factory):
    """A folder holding a ``bpy`` package that refuses to import: first on PYTHONPATH, it blocks Blender."""
    folder = tmp_path_factory.mktemp("no_bpy")
    (folder / "bpy").mkdir()
    (folder / "bpy" / "__init__.py").write_text('raise ImportError("bpy is blocked: the fit must not load Blender")\n')
    return folder


def fit_cli(no_bpy, *args):
    """``python -m smpl_blender_addon fit ARGS`` in plain Python with bpy blocked."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(no_bpy), REPO]))
    command = [sys.executable, "-m", "smpl_blender_addon", "fit", *map(str, args)]
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)


def report_of(out):
    report = json.loads((out / "report.json").read_text())
    return report, {os.path.basename(e["input"]): e for e in report["inputs"]}


def fitted(path, model):
    """Joints and vertices of a fitted file read back with the core reader, in the Y-up world."""
    motion = read_motion(path)
    motion = motion.reframe("Y", model) if motion.up_axis == "Z" else motion
    assert motion.kind == "smpl"
    betas = np.zeros(model.num_betas)
    betas[: motion.betas.size] = motion.betas
    return forward(model, motion.poses, motion.trans, betas)


def test_fit_runs_without_blender_and_gives_back_the_joints(data, no_bpy, model, truth, tmp_path):
    out = tmp_path / "fits"
    done = fit_cli(no_bpy, data, "--out", out, "--fps", FPS, "--jobs", 2)
    assert done.returncode == 1, done.stderr  # the two bad files fail, the others do not
    report, entries = report_of(out)
    assert report["summary"] == dict(report["summary"], ok=2, failed=2, total=4)
    assert {name: e["status"] for name, e in entries.items()} == {
        "walk.npy": "ok",
        "capture": "ok",
        "broken.npy": "failed",
        "nothing.npz": "failed",
    }
    # each failure: one line naming its file, in the report and on stderr; nothing about Blender
    for name in ("broken.npy", "nothing.npz"):
        error = entries[name]["error"]
        assert error.startswith(str(data / name)) and "\n" not in error and "bpy" not in error
        assert sum(str(data / name) in line for line in done.stderr.splitlines()) == 1
    assert "no points" in entries["nothing.npz"]["error"]

    walk = entries["walk.npy"]
    assert walk["output"] == str(out / "walk.npy.npz") and walk["frames"] == FRAMES and walk["fps"] == FPS
    assert walk["model"] == "open-smpl" and walk["mean_error_mm"] < 2 and walk["fit_frames_per_second"] > 0
    joints, vertices = fitted(out / "walk.npy.npz", model)
    targets, target_vertices = forward(model, *truth)
    error = np.linalg.norm(joints[:, :22] - targets[:, :22], axis=2)
    assert error.mean() < 0.002 and error.mean() * 1000 == pytest.approx(walk["mean_error_mm"], abs=0.01)

    capture = entries["capture"]  # the EasyMocap folder: one input, Z-up BODY_25 keypoints with landmark vertices
    assert capture["output"] == str(out / "capture.npz") and capture["frames"] == FRAMES
    got = body25_points(model, *fitted(out / "capture.npz", model))
    want = body25_points(model, targets, target_vertices)
    assert np.linalg.norm(got - want, axis=2).mean() < 0.002


def test_resume_skips_finished_inputs_and_force_redoes_them(data, no_bpy, tmp_path):
    out = tmp_path / "fits"
    first = fit_cli(no_bpy, data / "walk.npy", "--out", out, "--fps", FPS, "--format", "smpl")
    assert first.returncode == 0, first.stderr
    output = out / "walk.npy.smpl"
    stamp = output.stat().st_mtime_ns
    again = fit_cli(no_bpy, data / "walk.npy", "--out", out, "--fps", FPS, "--format", "smpl")
    assert again.returncode == 0, again.stderr
    report, entries = report_of(out)
    assert entries["walk.npy"]["status"] == "skipped" and entries["walk.npy"]["frames"] == FRAMES
    assert output.stat().st_mtime_ns == stamp
    forced = fit_cli(no_bpy, data / "walk.npy", "--out", out, "--fps", FPS, "--format", "smpl", "--force")
    assert forced.returncode == 0, forced.stderr
    assert report_of(out)[1]["walk.npy"]["status"] == "ok" and output.stat().st_mtime_ns > stamp
    assert read_motion(output).num_frames == FRAMES  # a .smpl file the core reads


def test_a_file_without_rate_asks_for_fps_and_points_the_body_lacks_are_warned_about(no_bpy, model, truth, tmp_path):
    joints, _ = forward(model, *truth)
    named = tmp_path / "named.npz"
    names = [*model.joint_names[:22], "not_a_joint"]
    np.savez(named, joints=np.concatenate([joints[:, :22], joints[:, :1]], axis=1), names=np.array(names), fps=FPS)
    norate = tmp_path / "norate.npy"
    np.save(norate, joints[:, :22])
    done = fit_cli(no_bpy, named, norate, "--out", tmp_path / "out", "--betas", 4, "--smooth", 0)
    assert done.returncode == 1, done.stderr
    report, entries = report_of(tmp_path / "out")
    error = entries["norate.npy"]["error"]  # one line: the file, the problem, the CLI's option
    assert error.startswith(f"{norate}: ") and error.endswith(": pass --fps N (the capture's frames per second)")
    assert entries["named.npz"]["status"] == "ok" and entries["named.npz"]["mean_error_mm"] < 5
    assert any("not_a_joint" in w for w in entries["named.npz"]["warnings"])
    assert report["options"]["betas"] == 4 and report["options"]["smooth"] == 0


def test_mdm_results_are_fitted_sample_by_choice(no_bpy, model, truth, tmp_path):
    """MDM's results.npy (np.save of a dict: motion (samples, 22, 3, frames), lengths, text) is read as data; the
    first sample by default, named in a warning, or the one --person picks."""
    joints, _ = forward(model, *truth)
    walk = joints[:, :22].transpose(1, 2, 0)
    still = np.repeat(walk[..., :1], FRAMES, axis=2)  # the first pose held
    results = {
        "motion": np.stack([walk, still]).astype(np.float32),
        "lengths": np.array([FRAMES, 10]),
        "text": ["walk", "stand"],
    }
    np.save(tmp_path / "results.npy", results, allow_pickle=True)
    first = fit_cli(no_bpy, tmp_path / "results.npy", "--out", tmp_path / "first", "--fps", FPS)
    assert first.returncode == 0, first.stderr
    entry = report_of(tmp_path / "first")[1]["results.npy"]
    assert entry["frames"] == FRAMES and entry["mean_error_mm"] < 2
    assert any("2 samples (0: 'walk'; 1: 'stand'); sample 0 is fitted" in w for w in entry["warnings"])
    second = fit_cli(no_bpy, tmp_path / "results.npy", "--out", tmp_path / "second", "--fps", FPS, "--person", 1)
    assert second.returncode == 0, second.stderr
    entry = report_of(tmp_path / "second")[1]["results.npy"]
    assert entry["frames"] == 10 and entry["mean_error_mm"] < 2 and not entry["warnings"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--betas", "0"], "--betas must be between"),
        (["--smooth", "-1"], "--smooth must be 0 or more"),
        (["--markers", "missing.json"], "--markers missing.json: no such file"),
        (["--gmm", "missing.pkl"], "--gmm missing.pkl: no such file"),
        (["--jobs", "0"], "--jobs must be at least 1"),
    ],
)
def test_usage_errors_exit_2(data, no_bpy, tmp_path, args, message):
    done = fit_cli(no_bpy, data / "walk.npy", "--out", tmp_path / "out", *args)
    assert done.returncode == 2 and message in done.stderr
    assert not (tmp_path / "out" / "report.json").exists()


def test_the_users_gaussian_mixture_joins_the_fit(data, no_bpy, tmp_path):
    import pickle

    rng = np.random.default_rng(3)
    A = rng.normal(0, 0.2, (2, 69, 69))
    mixture = {"means": rng.normal(0, 0.1, (2, 69)), "covars": A @ A.transpose(0, 2, 1) + 0.1 * np.eye(69)}
    with open(tmp_path / "gmm_08.pkl", "wb") as f:
        pickle.dump(dict(mixture, weights=np.array([0.4, 0.6])), f, protocol=2)
    done = fit_cli(no_bpy, data / "walk.npy", "--out", tmp_path / "out", "--fps", FPS, "--gmm", tmp_path / "gmm_08.pkl")
    assert done.returncode == 0, done.stderr
    report, entries = report_of(tmp_path / "out")
    assert report["options"]["gmm"] == str(tmp_path / "gmm_08.pkl")
    assert entries["walk.npy"]["status"] == "ok" and entries["walk.npy"]["mean_error_mm"] < 5
