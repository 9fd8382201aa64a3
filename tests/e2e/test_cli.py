# SPDX-License-Identifier: GPL-3.0-or-later
"""The command line's entries and conventions in subprocesses: --help, usage errors (exit code 2), the script form used
by ``blender -b --python smpl_blender_addon/cli.py -- ...``, the info / demo commands, and the glTF / Alembic siblings
of export-fbx (glTF read back with pygltflib)."""

import json
import os
import subprocess
import sys

import bpy_process
import numpy as np
import pytest

from smpl_blender_addon.core.formats import write_amass_npz
from smpl_blender_addon.core.motion import Motion

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run(args, script=False, timeout=240):
    env = dict(os.environ, PYTHONPATH=REPO)
    return subprocess.run(
        bpy_process.cli_command(*args, script=script),
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def motion_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("motion") / "wave.npz"
    rng = np.random.default_rng(3)
    write_amass_npz(
        path,
        Motion(
            fps=25.0,
            poses=rng.normal(0, 0.3, (11, 72)),
            trans=np.zeros((11, 3)),
            betas=np.zeros(10),
            gender="neutral",
            kind="smpl",
            up_axis="Z",
        ),
    )
    return str(path)


def test_help_lists_the_commands():
    done = run(["--help"])
    assert done.returncode == 0
    for command in ("info", "demo", "export-fbx", "export-gltf", "export-abc"):
        assert command in done.stdout
    assert "batch-worker" not in done.stdout  # internal
    sub = run(["export-fbx", "--help"])
    assert sub.returncode == 0
    options = ("--out", "--model", "--gender", "--fps", "--target", "--correctives", "--jobs", "--shard", "--force")
    for option in options:
        assert option in sub.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["export-fbx", "{motion}"], "--out"),
        (["export-fbx", "/no/such/motion.npz", "--out", "{tmp}"], "input not found"),
        (["export-fbx", "{motion}", "--out", "{tmp}", "--shard", "3/3"], "--shard"),
        (["export-fbx", "{motion}", "--out", "{tmp}", "--shard", "x"], "--shard"),
        (["export-fbx", "{motion}", "--out", "{tmp}", "--jobs", "0"], "--jobs"),
        (["export-fbx", "{motion}", "--out", "{tmp}", "--target", "maya"], "--target"),
        (["export-fbx", "{empty}", "--out", "{tmp}"], "no motion files"),
        (["export-fbx", "{motion}", "--out", "{motion}"], "is a file, not a folder"),
        (["export-fbx", "{motion}", "--out", "{motion}/sub"], "cannot write there"),
        (["export-fbx", "{motion}", "--out", "/proc/smpl-out"], "cannot write there"),  # read-only, even for root
        (["export-fbx", "{motion}", "--out", "{tmp}", "--fps", "1e-300"], "--fps must be between"),
        (["export-fbx", "{motion}", "--out", "{tmp}", "--timeout", "-1"], "--timeout"),
    ],
)
def test_usage_errors_exit_2(args, message, motion_file, tmp_path):
    (tmp_path / "empty").mkdir()
    fill = {"motion": motion_file, "tmp": tmp_path / "out", "empty": tmp_path / "empty"}
    done = run([a.format(**fill) for a in args])
    assert done.returncode == 2, done.stderr
    assert message in done.stderr
    assert not (tmp_path / "out" / "report.json").exists()


def test_info_needs_no_blender():
    """Plain Python (inside a Blender binary too, sys.executable is one without bpy)."""
    done = subprocess.run(
        [sys.executable, "-m", "smpl_blender_addon", "info", "open-smpl"],
        cwd=REPO,
        env=dict(os.environ, PYTHONPATH=REPO),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0
    assert json.loads(done.stdout)["joints"] == 24


def test_demo_still_works(tmp_path):
    done = run(["demo", "--out", tmp_path, "--frames", "1-10", "--no-render"])
    assert done.returncode == 0, done.stderr
    names = set(os.listdir(tmp_path))
    assert any(n.endswith(".fbx") for n in names) and any(n.endswith(".glb") for n in names), names
    bad = run(["demo", "--out", tmp_path, "--frames", "9-2"])
    assert bad.returncode == 2 and "empty frame span" in bad.stderr


def test_script_entry_after_double_dash(motion_file, tmp_path):
    """The form Blender runs: ``blender -b --python smpl_blender_addon/cli.py -- export-fbx ...``; here the script
    runs under this Python with the arguments after ``--``, as Blender leaves them in sys.argv."""
    pytest.importorskip("bpy")
    done = run(["--", "export-fbx", motion_file, "--out", tmp_path, "--model", "open-smpl"], script=True)
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    assert [e["status"] for e in report["inputs"]] == ["ok"]
    assert report["inputs"][0]["frames"] == 11  # the file's own rate (25 fps) kept without --fps
    assert (tmp_path / "wave.npz.fbx").stat().st_size > 0


def test_gltf_sibling(motion_file, tmp_path):
    pytest.importorskip("bpy")
    pygltflib = pytest.importorskip("pygltflib")
    gltf = run(
        [
            "export-gltf",
            motion_file,
            "--out",
            tmp_path / "gltf",
            "--model",
            "open-smpl",
            "--fps",
            50,
            "--no-morph-normals",
        ]
    )
    assert gltf.returncode == 0, gltf.stderr
    glb = pygltflib.GLTF2().load(str(tmp_path / "gltf" / "wave.npz.glb"))
    assert glb.skins and {"pelvis", "left_knee"} <= {n.name for n in glb.nodes}
    times = glb.accessors[glb.animations[0].samplers[0].input]
    assert times.count == 21  # 0.4 s at 50 fps
    assert times.min[0] == 0.0 and times.max[0] == pytest.approx(0.4, abs=1e-4)
    assert glb.animations[0].name == "wave"  # the input's stem
    assert not any("NORMAL" in t for t in glb.meshes[0].primitives[0].targets)  # --no-morph-normals


def test_max_influences_and_reproducible_batch_exports(motion_file, tmp_path):
    pytest.importorskip("bpy")
    pygltflib = pytest.importorskip("pygltflib")
    for k in range(2):
        for command in ("export-gltf", "export-fbx"):
            done = run(
                [command, motion_file, "--out", tmp_path / str(k), "--model", "open-smpl", "--max-influences", 4]
            )
            assert done.returncode == 0, done.stderr
    for name in ("wave.npz.glb", "wave.npz.fbx"):  # the same input gives the same bytes (FBX: its time stamp too)
        assert (tmp_path / "0" / name).read_bytes() == (tmp_path / "1" / name).read_bytes(), name
    glb = pygltflib.GLTF2().load(str(tmp_path / "0" / "wave.npz.glb"))
    assert getattr(glb.meshes[0].primitives[0].attributes, "JOINTS_1", None) is None
    bad = run(["export-fbx", motion_file, "--out", tmp_path / "bad", "--max-influences", 0])
    assert bad.returncode == 2 and "--max-influences" in bad.stderr


def test_alembic_sibling(motion_file, tmp_path):
    pytest.importorskip("bpy")
    from smpl_blender_addon.blender import compat

    abc = run(["export-abc", motion_file, "--out", tmp_path / "abc", "--model", "open-smpl"])
    if not compat.has_alembic():  # Debian's Blender: refused with the reason before any input is read
        assert abc.returncode == 2 and "built without Alembic support" in abc.stderr, abc.stderr
        assert not (tmp_path / "abc").exists()
        return
    assert abc.returncode == 0, abc.stderr
    assert (tmp_path / "abc" / "wave.npz.abc").stat().st_size > 0
    assert json.loads((tmp_path / "abc" / "report.json").read_text())["inputs"][0]["frames"] == 11


# -- the batch runner's pure parts (no Blender) ----------------------------------------------------------------------


def _touch(path, content=b"x"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)


NO_BPY_RUNNER = """
import json, sys
sys.modules["bpy"] = None  # every import of bpy now fails
from smpl_blender_addon.batch import runner
code = None
if len(sys.argv) > 1:  # a batch of one input in a worker (--timeout)
    options = dict(model="open-smplx", gender=None, fps=None, target="blender", correctives="keys")
    code = runner.run_batch("export-fbx", [sys.argv[1]], sys.argv[2], options, timeout=120)
loaded = [m for m in sys.modules if m.startswith(("smpl_blender_addon.blender", "smpl_blender_addon.batch.jobs"))]
print("RESULT " + json.dumps({"code": code, "loaded": loaded}))
"""


def run_without_bpy(*args):
    done = subprocess.run(
        [sys.executable, "-c", NO_BPY_RUNNER, *map(str, args)],
        cwd=REPO,
        env=dict(os.environ, PYTHONPATH=REPO),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(next(line for line in done.stdout.splitlines() if line.startswith("RESULT "))[7:])


def test_the_runner_imports_without_bpy():
    """The batch runner imports no bpy, not even indirectly (imported here with every import of bpy failing)."""
    assert run_without_bpy() == {"code": None, "loaded": []}


def test_only_the_workers_of_the_runner_load_blender(tmp_path):
    """The parent of a worker (--timeout) never needs bpy: the input runs in the worker and fails there for its own
    reason (a file that is no motion), not for a missing bpy."""
    if bpy_process.blender_binary():
        pytest.skip("inside a Blender binary, a plain Python parent's workers have no bpy")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    assert run_without_bpy(bad, tmp_path / "out") == {"code": 1, "loaded": []}
    (entry,) = json.loads((tmp_path / "out" / "report.json").read_text())["inputs"]
    assert entry["status"] == "failed" and entry["error"].startswith(f"{bad}: unrecognised motion file")
    assert "bpy" not in entry["error"]


def test_inputs_outputs_never_collide_and_skip_the_output_folder(tmp_path):
    from smpl_blender_addon.batch.inputs import collect_inputs

    data = tmp_path / "data"
    for name in (
        "walk.npz",
        "walk.pkl",
        "walk.smpl",
        "sub/walk.npz",
        "pose.json",
        ".hidden.npz",
        "notes.txt",
        "out/report.json",
        ".cache/x.npz",
        "old/report.json",
        "old/report.shard-1-of-4.json",
    ):
        _touch(data / name)
    _touch(data / "easy" / "smpl" / "000000.json")  # an EasyMocap output folder: one input
    _touch(data / "easy" / "smpl" / "000001.json")
    entries = collect_inputs([str(data)], ".fbx", exclude=str(data / "out"))
    rel = [r for _, r in entries]
    assert (
        rel
        == sorted(rel)
        == ["easy.fbx", "pose.json.fbx", "sub/walk.npz.fbx", "walk.npz.fbx", "walk.pkl.fbx", "walk.smpl.fbx"]
    )
    assert dict(entries)[str(data / "easy")] == "easy.fbx"
    # two folders and a file: relative to their common folder, still unique
    other = tmp_path / "more"
    _touch(other / "walk.npz")
    both = collect_inputs([str(data / "sub"), str(other), str(data / "walk.npz")], ".glb")
    assert [r for _, r in both] == ["data/sub/walk.npz.glb", "data/walk.npz.glb", "more/walk.npz.glb"]


def test_shards_partition_any_list():
    from smpl_blender_addon.batch.errors import UsageError
    from smpl_blender_addon.batch.inputs import parse_shard, shard

    items = [(f"/x/{i:03d}.npz", f"{i:03d}.npz.fbx") for i in range(23)]
    for n in (1, 2, 3, 7, 23, 30):
        parts = [shard(items, i, n) for i in range(n)]
        assert sorted(sum(parts, [])) == items
        assert max(map(len, parts)) - min(map(len, parts)) <= 1  # balanced
    assert parse_shard("2/10") == (2, 10)
    for bad in ("10/10", "-1/3", "1", "a/b", "0/0"):
        with pytest.raises(UsageError):
            parse_shard(bad)


def test_progress_bar_on_a_terminal_and_lines_otherwise():
    import io

    from smpl_blender_addon.batch.progress import Progress

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    entries = [
        {"input": "a.npz", "output": "a.fbx", "status": "ok", "frames": 10, "seconds": 1.0, "error": None},
        {
            "input": "b.npz",
            "output": "b.fbx",
            "status": "failed",
            "frames": None,
            "seconds": None,
            "error": "b.npz: corrupt",
        },
    ]
    terminal, log = Terminal(), io.StringIO()
    for stream in (terminal, log):
        progress = Progress(2, stream)
        for entry in entries:
            progress.finished(entry)
    shown = terminal.getvalue()
    assert "\r[" in shown and "2/2" in shown and "failed: b.npz: corrupt" in shown
    lines = log.getvalue().splitlines()
    assert len(lines) == 2 and lines[0].startswith("[1/2] ok") and "b.npz: corrupt" in lines[1]
    assert "\r" not in log.getvalue()


def test_vposer_decodes_smplify_x_latent_fits(tmp_path):
    pytest.importorskip("bpy")
    import pickle

    from vposer_reference import random_state, write_checkpoint

    weights = write_checkpoint(tmp_path / "V02_05.ckpt", random_state(seed=2))
    fit = {"body_pose": np.random.default_rng(6).normal(0, 1, (1, 32)).astype(np.float32)}
    fit.update({k: np.zeros((1, n), np.float32) for k, n in (("global_orient", 3), ("betas", 10), ("jaw_pose", 3))})
    fit.update({k: np.zeros((1, 12), np.float32) for k in ("left_hand_pose", "right_hand_pose")})
    (tmp_path / "fits").mkdir()
    (tmp_path / "fits" / "fit.pkl").write_bytes(pickle.dumps(fit, protocol=2))
    args = ["export-fbx", tmp_path / "fits", "--out", tmp_path / "out", "--model", "open-smplx", "--fps", 30]
    refused = run(args)
    assert refused.returncode == 1 and "pass --vposer PATH" in refused.stderr, refused.stderr
    done = run(args + ["--vposer", weights, "--force"])
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out" / "fit.pkl.fbx").stat().st_size > 0
