# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark the core forward pass against smplx.lbs (PyTorch CPU) in the same process, one BLAS thread.

Runs of the two alternate and the medians are reported (frames/s) with the median of the per-pair ratios, so load from
other processes on a shared machine affects both sides alike.

    python scripts/bench_core.py [--batches 1 64 1024] [--repeat 5]

An SMPL-X-sized random model (10,475 vertices, 55 joints, 486 correctives, 10 betas + 10 expressions) is posed
with random poses. Prints frames/s of both, the ratio, and the peak extra memory of our forward (tracemalloc,
output arrays excluded), plus the time of the pose features alone (Rodrigues + chain + 486 correctives).
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "core"))

from random_model import random_arrays  # noqa: E402

from smpl_blender_addon import core  # noqa: E402
from smpl_blender_addon.core.model import _skinning_transforms  # noqa: E402


def best_time(fn, repeat):
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def paired_times(ours, reference, repeat):
    """Alternate the two, so load from other processes hits both alike; returns the median times and median ratio."""
    ours(), reference()  # warm-up
    a, b = [], []
    for _ in range(repeat):
        for fn, out in ((ours, a), (reference, b)):
            t0 = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t0)
    a, b = np.array(a), np.array(b)
    return float(np.median(a)), float(np.median(b)), float(np.median(b / a))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 64, 1024])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)

    import torch
    from smplx.lbs import lbs

    torch.set_num_threads(1)
    arrays = random_arrays("smplx", num_vertices=10475, seed=0)
    model = core.BodyModel.from_arrays(arrays)
    V = model.num_vertices
    dirs_t = torch.tensor(np.concatenate([arrays["shapedirs"], arrays["exprdirs"]], 2), dtype=torch.float32)
    posedirs_t = torch.tensor(arrays["posedirs"].reshape(3 * V, -1).T.copy(), dtype=torch.float32)
    tensors = [torch.tensor(arrays[k], dtype=torch.float32) for k in ("v_template", "J_regressor", "weights")]
    parents_t = torch.tensor(arrays["parents"])
    rng = np.random.default_rng(1)
    model.forward(pose=np.zeros(model.pose_size))  # precompute the float32 arrays outside the timings

    print(f"SMPL-X-sized model: V={V}, J={model.num_joints}, P={model.posedirs.shape[2]}, one BLAS thread")
    print(f"{'B':>6} {'ours frames/s':>14} {'smplx frames/s':>15} {'ratio':>7} {'peak extra MiB':>15}")
    for B in args.batches:
        betas = rng.normal(size=(1, 10)).astype(np.float32)
        expr = rng.normal(size=(1, 10)).astype(np.float32)
        pose = rng.normal(0, 0.3, (B, model.pose_size)).astype(np.float32)
        transl = rng.normal(size=(B, 3)).astype(np.float32)
        coeff_t = torch.tensor(np.repeat(np.concatenate([betas, expr], 1), B, 0))
        pose_t, transl_t = torch.tensor(pose), torch.tensor(transl)

        def reference():
            with torch.no_grad():
                v, j = lbs(coeff_t, pose_t, tensors[0], dirs_t, posedirs_t, tensors[1], parents_t, tensors[2])
                return v + transl_t[:, None], j + transl_t[:, None]

        repeat = args.repeat * 4 if B == 1 else (args.repeat if B < 1024 else 3)
        ours, ref, ratio = paired_times(lambda: model.forward(betas, pose, expr, transl), reference, repeat)
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        out = model.forward(betas, pose, expr, transl)
        peak = tracemalloc.get_traced_memory()[1] - base - out.vertices.nbytes - out.joints.nbytes
        tracemalloc.stop()
        print(f"{B:>6} {B / ours:>14.1f} {B / ref:>15.1f} {ratio:>7.2f} {peak / 2**20:>15.1f}")

    pose1 = rng.normal(0, 0.3, (1, model.pose_size)).astype(np.float32)
    j_rest = model.rest_joints(dtype=np.float32)[None]

    def features():
        w = core.pose_corrective_weights(pose1, model)
        R = core.rotations.axis_angle_to_matrix(pose1.reshape(1, -1, 3))
        _skinning_transforms(R, j_rest, model.parents, model._levels)
        return w

    t = best_time(features, 200)
    print(f"pose features for one frame (Rodrigues + chain + {model.posedirs.shape[2]} correctives): {t * 1e3:.3f} ms")


if __name__ == "__main__":
    main()
