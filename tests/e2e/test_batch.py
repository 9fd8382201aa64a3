# SPDX-License-Identifier: GPL-3.0-or-later
"""The batch command line in subprocesses, as users run it: a folder of small AMASS-style files with one corrupt file,
exit codes, report.json, resume, --force, --shard, --jobs, an interrupted run, and the FBX files read back with ufbx
(tests/ufbx_reader.py, its own subprocess)."""

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

pytest.importorskip("bpy")

import bpy_process  # noqa: E402  (tests/ on sys.path)

from smpl_blender_addon import core  # noqa: E402
from smpl_blender_addon.core import conversions, layouts  # noqa: E402
from smpl_blender_addon.core.formats import write_amass_npz  # noqa: E402
from smpl_blender_addon.core.motion import Motion  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
UFBX_READER = os.path.join(REPO, "tests", "ufbx_reader.py")
SOURCE_FPS, TARGET_FPS, SOURCE_FRAMES = 30.0, 20.0, 13  # 0.4 s: 9 frames at 20 fps
TARGET_FRAMES = 9
GOOD = ["a_walk.npz", "b_run.npz", "nested/c_jump.npz", "nested/deeper/d_hands.npz"]
BAD = "nested/zz_corrupt.npz"


def run_cli(*args, timeout=240):
    """``python -m smpl_blender_addon ARGS`` in a fresh process; returns the CompletedProcess."""
    env = dict(os.environ, PYTHONPATH=REPO)
    return subprocess.run(
        bpy_process.cli_command(*args), cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout
    )


def export_args(data, out, *extra):
    return ["export-fbx", data, "--out", out, "--model", "open-smpl", "--fps", TARGET_FPS, *extra]


def read_report(out, name="report.json"):
    with open(os.path.join(out, name)) as f:
        return json.load(f)


def statuses(report, data):
    return {os.path.relpath(e["input"], data): e["status"] for e in report["inputs"]}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Four small AMASS-style files (SMPL, SMPL-H, two SMPL-X) in nested folders, a corrupt one, and junk to ignore."""
    folder = tmp_path_factory.mktemp("amass")
    rng = np.random.default_rng(0)
    kinds = ["smpl", "smplx", "smplh", "smplx"]
    for name, kind in zip(GOOD, kinds):
        size = 3 * len(layouts.JOINT_NAMES[kind])
        motion = Motion(
            fps=SOURCE_FPS,
            poses=rng.normal(0, 0.3, (SOURCE_FRAMES, size)),
            trans=rng.normal(0, 0.1, (SOURCE_FRAMES, 3)),
            betas=np.linspace(-1, 1, 10) if name == "b_run.npz" else np.zeros(10),
            gender="neutral",
            kind=kind,
            up_axis="Z",
        )
        os.makedirs(os.path.dirname(folder / name), exist_ok=True)
        write_amass_npz(folder / name, motion)
    (folder / BAD).write_bytes(b"PK\x03\x04 this is not a zip archive")
    (folder / "nested" / "readme.txt").write_text("not a motion")
    return str(folder)


@pytest.fixture(scope="module")
def first_run(data, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("fbx"))
    done = run_cli(*export_args(data, out))
    return out, done


def outputs(out):
    """Relative paths of the finished FBX files under ``out`` (not the exporter's hidden temporary folders)."""
    found = []
    for root, dirs, files in os.walk(out):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        found += [os.path.relpath(os.path.join(root, f), out) for f in files if f.endswith(".fbx")]
    return sorted(found)


def test_corrupt_input_fails_alone(first_run, data):
    out, done = first_run
    assert done.returncode == 1, done.stderr
    assert outputs(out) == sorted(name + ".fbx" for name in GOOD)
    report = read_report(out)
    assert statuses(report, data) == {**{n: "ok" for n in GOOD}, BAD: "failed"}
    entries = {os.path.relpath(e["input"], data): e for e in report["inputs"]}
    assert "zz_corrupt.npz" in entries[BAD]["error"] and entries[BAD]["frames"] is None
    for name in GOOD:
        assert entries[name]["frames"] == TARGET_FRAMES
        assert entries[name]["seconds"] > 0
        assert entries[name]["output"] == os.path.join(out, name + ".fbx")
    assert any("shape spaces" in w for w in entries["b_run.npz"]["warnings"])  # official betas, open body
    assert entries["a_walk.npz"]["warnings"] == []
    assert report["summary"] == dict(report["summary"], ok=4, failed=1, skipped=0, pending=0, total=5)
    assert report["finished"] is not None
    # not a TTY: one line per input on stderr, the failure named
    lines = [line for line in done.stderr.splitlines() if line.startswith("[")]
    assert len(lines) == 5 and any("failed" in line and "zz_corrupt.npz" in line for line in lines)


def test_fbx_read_back_with_ufbx(first_run, data):
    out, _ = first_run
    fbx = os.path.join(out, "nested", "c_jump.npz.fbx")  # an SMPL-H motion on the open SMPL body
    pytest.importorskip("ufbx")
    done = subprocess.run(
        [sys.executable, UFBX_READER, fbx, "--frames", "1", "3", "5", "9"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    info = json.loads(done.stdout)
    bones = {n["name"] for n in info["nodes"] if n["is_bone"]}
    assert set(layouts.JOINT_NAMES["smpl"]) <= bones
    assert not any(name.endswith("_end") for name in bones)  # no leaf bones
    stack = info["stacks"][0]
    assert stack["time_end"] - stack["time_begin"] == pytest.approx((TARGET_FRAMES - 1) / TARGET_FPS, abs=1e-3)
    assert info["settings"]["fps"] == pytest.approx(TARGET_FPS)
    mesh = next(m for m in info["meshes"] if m["channels"])
    pose_channels = [c["name"] for c in mesh["channels"] if "Pose" in c["name"]]
    assert len(pose_channels) == 9 * 23
    weights = np.array([[s["weights"][c] for c in pose_channels] for s in info["samples"]])
    assert np.ptp(weights, axis=0).max() > 0.05  # the correctives are animated, not static
    # scene frame 3 = output frame 2 at t = 0.1 s = file frame 3 (30 fps): the FBX joints (Y-up, cm) are the core
    # joints of that file frame in its Z-up world, the SMPL-H pose mapped to SMPL by hand
    source = np.load(os.path.join(data, "nested", "c_jump.npz"))
    pose = np.zeros(72)
    pose[:66] = source["poses"][3, :66]
    model = core.load_model("open-smpl")
    joints_z_up = model.forward(pose=pose, transl=source["trans"][3], dtype=np.float64).joints[0]
    expected = 100.0 * joints_z_up @ conversions.Z_UP_TO_Y_UP.T
    world = info["samples"][1]["world"]
    got = np.array([np.array(world[name])[:3, 3] for name in model.joint_names])
    np.testing.assert_allclose(got, expected, atol=2e-3)  # 0.02 mm


def test_rerun_skips_and_force_redoes(first_run, data):
    out, _ = first_run
    stamps = {p: os.path.getmtime(os.path.join(out, p)) for p in outputs(out)}
    again = run_cli(*export_args(data, out))
    assert again.returncode == 1  # the corrupt file still fails
    report = read_report(out)
    assert statuses(report, data) == {**{n: "skipped" for n in GOOD}, BAD: "failed"}
    assert all(e["frames"] == TARGET_FRAMES for e in report["inputs"] if e["status"] == "skipped")
    assert {p: os.path.getmtime(os.path.join(out, p)) for p in outputs(out)} == stamps
    forced = run_cli(*export_args(data, out, "--force"))
    assert forced.returncode == 1
    assert statuses(read_report(out), data) == {**{n: "ok" for n in GOOD}, BAD: "failed"}
    assert all(os.path.getmtime(os.path.join(out, p)) > stamps[p] for p in stamps)


def test_shards_cover_every_input_once(data, tmp_path):
    out = str(tmp_path / "sharded")
    seen = []
    for index in range(3):
        done = run_cli(*export_args(data, out, "--shard", f"{index}/3"))
        report = read_report(out, f"report.shard-{index}-of-3.json")
        assert done.returncode == (1 if BAD in statuses(report, data) else 0)
        seen += list(statuses(report, data))
    assert sorted(seen) == sorted(GOOD + [BAD])
    assert outputs(out) == sorted(name + ".fbx" for name in GOOD)


def test_jobs_give_the_same_outputs(first_run, data, tmp_path):
    out1, _ = first_run
    out2 = str(tmp_path / "jobs")
    done = run_cli(*export_args(data, out2, "--jobs", "2"))
    assert done.returncode == 1, done.stderr
    assert outputs(out2) == outputs(out1)
    r1, r2 = read_report(out1), read_report(out2)
    assert [(e["input"], e["frames"]) for e in r2["inputs"]] == [(e["input"], e["frames"]) for e in r1["inputs"]]
    assert statuses(r2, data) == {**{n: "ok" for n in GOOD}, BAD: "failed"}
    for p in outputs(out1):  # same content up to the FBX creation time stamps: same size
        assert os.path.getsize(os.path.join(out1, p)) == os.path.getsize(os.path.join(out2, p))


def test_interrupted_batch_resumes(data, tmp_path):
    out = str(tmp_path / "interrupted")
    env = dict(os.environ, PYTHONPATH=REPO)
    proc = subprocess.Popen(
        bpy_process.cli_command(*export_args(data, out)),
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 120
    while not outputs(out) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    first = outputs(out)
    assert first, "no output appeared before the deadline"
    report = read_report(out)  # valid JSON even though the process was killed
    done_before = {os.path.relpath(e["input"], data) for e in report["inputs"] if e["status"] == "ok"}
    assert len(report["inputs"]) == 5 and report["finished"] is None
    resumed = run_cli(*export_args(data, out))
    assert resumed.returncode == 1
    final = statuses(read_report(out), data)
    assert final[BAD] == "failed"
    assert all(final[n] == ("skipped" if n + ".fbx" in first else "ok") for n in GOOD)
    assert done_before <= {n for n in GOOD if n + ".fbx" in first}
    assert outputs(out) == sorted(name + ".fbx" for name in GOOD)


def test_correctives_none_exports_without_pose_channels(data, tmp_path):
    out = str(tmp_path / "plain")
    done = run_cli(*export_args(os.path.join(data, GOOD[0]), out, "--correctives", "none"))
    assert done.returncode == 0, done.stderr
    fbx = os.path.join(out, os.path.basename(GOOD[0]) + ".fbx")
    pytest.importorskip("ufbx")
    read = subprocess.run([sys.executable, UFBX_READER, fbx], capture_output=True, text=True, timeout=120)
    channels = [c["name"] for m in json.loads(read.stdout)["meshes"] for c in m["channels"]]
    assert channels and not any("Pose" in c for c in channels)
