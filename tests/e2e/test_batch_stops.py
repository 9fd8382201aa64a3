# SPDX-License-Identifier: GPL-3.0-or-later
"""A batch that is stopped or meets a hung input, in subprocesses as Slurm runs it: SIGTERM (Slurm's time limit,
scancel) stops the workers and leaves a valid report, nothing writes after the parent has exited, ``--timeout``
fails only the input that takes too long, outputs get the umask's permissions, and a file without a frame rate asks
for ``--fps`` (the CLI's control, not the API's ``fps=``)."""

import json
import os
import signal
import stat
import subprocess
import time

import numpy as np
import pytest

pytest.importorskip("bpy")

import bpy_process  # noqa: E402  (tests/ on sys.path)

from smpl_blender_addon.core.formats import write_amass_npz  # noqa: E402
from smpl_blender_addon.core.motion import Motion  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SLOW_FRAMES = 20_000  # ~20 s of FBX export on one core: long enough to stop it half-way


def write_motion(path, frames, rate=True, seed=0):
    rng = np.random.default_rng(seed)
    write_amass_npz(
        path,
        Motion(
            fps=30.0,
            poses=rng.normal(0, 0.3, (frames, 72)),
            trans=np.zeros((frames, 3)),
            betas=np.zeros(10),
            gender="neutral",
            kind="smpl",
            up_axis="Z",
        ),
    )
    if not rate:
        with np.load(path) as npz:
            arrays = {k: npz[k] for k in npz.files if k not in ("mocap_framerate", "mocap_frame_rate")}
        with open(path, "wb") as stream:
            np.savez(stream, **arrays)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("inputs")
    write_motion(folder / "a_quick.npz", 5)
    write_motion(folder / "b_slow.npz", SLOW_FRAMES, seed=1)
    write_motion(folder / "c_quick.npz", 5, seed=2)
    write_motion(folder / "d_slow.npz", SLOW_FRAMES, seed=3)
    write_motion(folder / "e_norate.npz", 5, rate=False, seed=4)
    return folder


def start(args, **kwargs):
    env = dict(os.environ, PYTHONPATH=REPO)
    return subprocess.Popen(
        bpy_process.cli_command(*args),
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def files_under(folder):
    """Every path below ``folder`` with its size (the logs too: a worker must not write anything)."""
    return {
        os.path.relpath(os.path.join(root, f), folder): os.path.getsize(os.path.join(root, f))
        for root, _, names in os.walk(folder)
        for f in names
    }


def wait_for(condition, seconds=180):
    deadline = time.time() + seconds
    while not condition():
        assert time.time() < deadline, "timed out waiting"
        time.sleep(0.05)


def report(out):
    with open(os.path.join(out, "report.json")) as f:
        return json.load(f)


def statuses(out):
    return {os.path.basename(e["input"]): e["status"] for e in report(out)["inputs"]}


def processes_mentioning(text):
    """Live processes whose command line contains ``text`` (the workers name their task file under DIR/logs)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if text.encode() in f.read():
                    found.append(int(pid))
        except OSError:
            continue
    return found


@pytest.mark.parametrize("jobs", [1, 2])
def test_sigterm_stops_the_batch_and_its_workers(inputs, tmp_path, jobs):
    out = tmp_path / "out"
    proc = start(["export-fbx", inputs, "--out", out, "--model", "open-smpl", "--jobs", jobs])
    wait_for(
        lambda: (out / "a_quick.npz.fbx").exists() and any(s == "ok" for s in statuses(out).values())
    )  # a finished input is reported; a slow one runs now
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, stderr
    assert "stopped by SIGTERM" in stderr
    after = files_under(out)
    done = report(out)  # valid JSON, says what happened
    assert "SIGTERM" in done["stopped"] and done["finished"] is None
    final = statuses(out)
    assert final["a_quick.npz"] == "ok" and "pending" in final.values()
    assert all(s in ("ok", "failed", "pending") for s in final.values())
    assert not processes_mentioning(str(out)), "a worker outlived the parent"
    time.sleep(3.0)
    assert files_under(out) == after, "something wrote after the parent exited"
    leftovers = [p for p in after if os.path.basename(p).startswith(".") and not p.startswith("logs")]
    assert not leftovers, leftovers  # stopped exports removed their temporary files
    for name, status in final.items():
        assert (out / (name + ".fbx")).exists() == (status == "ok"), name
    resumed = subprocess.run(
        bpy_process.cli_command("export-fbx", inputs / "a_quick.npz", "--out", out, "--model", "open-smpl"),
        cwd=REPO,
        env=dict(os.environ, PYTHONPATH=REPO),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert resumed.returncode == 0 and statuses(out) == {"a_quick.npz": "skipped"}


def test_timeout_fails_only_the_hung_input(inputs, tmp_path):
    out = tmp_path / "out"
    paths = [inputs / n for n in ("a_quick.npz", "b_slow.npz", "c_quick.npz", "e_norate.npz")]
    proc = start(["export-fbx", *paths, "--out", out, "--model", "open-smpl", "--timeout", "6"], umask=0o027)
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 1, stderr
    entries = {os.path.basename(e["input"]): e for e in report(out)["inputs"]}
    assert {n: e["status"] for n, e in entries.items()} == {
        "a_quick.npz": "ok",
        "b_slow.npz": "failed",
        "c_quick.npz": "ok",
        "e_norate.npz": "failed",
    }
    assert "took more than 6 s (--timeout)" in entries["b_slow.npz"]["error"]
    assert entries["e_norate.npz"]["error"].endswith(
        "stores no frame rate: pass --fps N (the capture's frames per second)"
    )
    assert "fps=" not in entries["e_norate.npz"]["error"]
    assert not (out / "b_slow.npz.fbx").exists()
    assert report(out)["options"]["timeout"] == 6.0
    for name in ("report.json", "a_quick.npz.fbx", "c_quick.npz.fbx"):  # atomic writes honour the umask
        assert stat.S_IMODE(os.stat(out / name).st_mode) == 0o640, name


def test_every_hostile_file_fails_alone_with_one_clear_line(tmp_path):
    """The batch over a folder of hostile files: each input fails with one line naming it and the problem, no
    traceback, and the good file beside them is exported."""
    from hostile_files import hostile_motion_files

    folder = tmp_path / "in"
    folder.mkdir()
    cases = hostile_motion_files(folder)
    write_motion(folder / "good.npz", 5)
    out = tmp_path / "out"
    proc = start(["export-fbx", folder, "--out", out, "--model", "open-smplx"])
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 1, stderr
    assert "Traceback" not in stderr
    entries = {os.path.basename(e["input"]): e for e in report(out)["inputs"]}
    assert entries.pop("good.npz")["status"] == "ok"
    assert set(entries) == set(cases)
    for name, needle in cases.items():
        error = entries[name]["status"] == "failed" and entries[name]["error"]
        assert error and error.startswith(str(folder / name) + ":") and needle in error, (name, error)
        assert "\n" not in error
