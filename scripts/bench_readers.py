# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark: what the checks of core/file_io.py and core/safe_pickle.py cost, against numpy's and pickle's own
readers on the same files in the same process (ratios), and how long hostile files take to be refused.

    .venv/bin/python scripts/bench_readers.py [--repeat 5]

Files: the bundled open SMPL-X body (.npz, ~110 MB of arrays), a 1000-frame SMPL-X AMASS motion, and an SMPL-sized
model pickle written here (protocol 2, as the official files; plain numpy arrays, so ``pickle.load`` can read it for
the reference). No NumPy-free path is benchmarked: the reference loaders are what a careless reader would call.
Runs alternate and the medians are printed, with the median ratio checked / reference.
"""

import argparse
import os
import pickle
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.insert(0, os.path.join(ROOT, "scripts"))

from bench_core import paired_times  # noqa: E402  (alternating runs, medians: fair on a busy machine)
from hostile_files import hostile_motion_files  # noqa: E402

from smpl_blender_addon.core.errors import ModelFileError, MotionFileError  # noqa: E402
from smpl_blender_addon.core.file_io import read_npz  # noqa: E402
from smpl_blender_addon.core.formats import read_motion, write_amass_npz  # noqa: E402
from smpl_blender_addon.core.motion import Motion  # noqa: E402
from smpl_blender_addon.core.safe_pickle import load_pickle_dict  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="bench-readers-")
    body = os.path.join(ROOT, "assets", "open_smplx_neutral.npz")
    rng = np.random.default_rng(0)
    motion_path = os.path.join(folder, "walk.npz")
    write_amass_npz(
        motion_path,
        Motion(
            fps=30.0,
            poses=rng.normal(0, 0.3, (1000, 165)),
            trans=np.zeros((1000, 3)),
            betas=np.zeros(10),
            gender="neutral",
            kind="smplx",
            up_axis="Z",
        ),
    )
    pkl = os.path.join(folder, "model.pkl")
    with open(pkl, "wb") as f:
        pickle.dump(
            {
                "v_template": rng.normal(size=(6890, 3)),
                "shapedirs": rng.normal(size=(6890, 3, 300)),
                "posedirs": rng.normal(size=(6890, 3, 207)),
                "weights": rng.random((6890, 24)),
                "f": rng.integers(0, 6890, (13776, 3)).astype(np.uint32),
                "kintree_table": np.zeros((2, 24)),
            },
            f,
            protocol=2,
        )

    def numpy_npz(path):
        with np.load(path, allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}

    def plain_pickle(path):
        with open(path, "rb") as f:
            return pickle.load(f)  # reference only, on a file written above

    rows = [
        ("open SMPL-X body .npz", lambda: read_npz(body, ModelFileError), lambda: numpy_npz(body)),
        ("1000-frame AMASS .npz", lambda: read_npz(motion_path, MotionFileError), lambda: numpy_npz(motion_path)),
        ("SMPL-sized model .pkl", lambda: load_pickle_dict(pkl), lambda: plain_pickle(pkl)),
    ]
    print(f"{'file':28s} {'checked (s)':>12s} {'reference (s)':>14s} {'ratio':>7s}")
    for name, checked, reference in rows:
        ours, theirs, speedup = paired_times(checked, reference, args.repeat)
        print(f"{name:28s} {ours:12.4f} {theirs:14.4f} {1 / speedup:7.2f}")
    hostile = os.path.join(folder, "hostile")
    os.makedirs(hostile)
    print(f"\n{'hostile file':28s} {'refused in (s)':>14s}")
    for name in hostile_motion_files(Path(hostile)):
        t0 = time.perf_counter()
        try:
            read_motion(os.path.join(hostile, name))
        except MotionFileError:
            pass
        print(f"{name:28s} {time.perf_counter() - t0:14.4f}")


if __name__ == "__main__":
    main()
