# SPDX-License-Identifier: GPL-3.0-or-later
"""Measure: what limiting skin influences per vertex costs (core.influences.limit_influences: the largest kept,
renormalised), against exact SMPL skinning, on the open bodies driven by the bundled CC0 walk (every frame) and by
random poses (sigma 0.5 rad, a harder case). Prints, per body and limit, the vertices changed and the vertex error
(max and 99th percentile, mm) of the limited skin against the exact one; also the naive cut (no renormalisation).

    .venv/bin/python scripts/measure_influences.py [--limits 1 2 3 4 5 6 8]
"""

import argparse
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from smpl_blender_addon import core  # noqa: E402
from smpl_blender_addon.core.influences import influence_counts, limit_influences  # noqa: E402


def with_weights(model, weights):
    keys = (
        "kind",
        "v_template",
        "faces",
        "shapedirs",
        "posedirs",
        "J_regressor",
        "parents",
        "exprdirs",
        "gender",
        "joint_names",
    )
    return core.BodyModel(weights=weights, name=model.name, **{k: getattr(model, k) for k in keys})


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limits", type=int, nargs="+", default=[1, 2, 3, 4, 5, 6, 8])
    args = parser.parse_args()
    walk = core.read_motion(os.path.join(ROOT, "assets", "demo_motion_smplx.npz"))
    rng = np.random.default_rng(0)
    print(f"{'body':11s} {'poses':7s} {'N':>2s} {'changed':>8s} {'max mm':>8s} {'p99 mm':>8s} {'cut max mm':>11s}")
    for name in ("open-smpl", "open-smplx"):
        model = core.load_model(name)
        motion = walk.to_kind(model.kind) if walk.kind != model.kind else walk
        sets = {"walk": motion.poses, "random": rng.normal(0, 0.5, (120, model.pose_size))}
        counts = influence_counts(model.weights)
        print(f"{name}: up to {counts.max()} joints per vertex; vertices with more than 4: {(counts > 4).sum()}")
        for label, poses in sets.items():
            exact = model.forward(pose=poses, dtype=np.float64).vertices
            for limit in args.limits:
                limited = limit_influences(model.weights, limit)
                cut = model.weights.copy()
                np.put_along_axis(cut, np.argsort(-cut, axis=1, kind="stable")[:, limit:], 0.0, axis=1)
                errors = [
                    np.linalg.norm(
                        with_weights(model, w).forward(pose=poses, dtype=np.float64).vertices - exact, axis=-1
                    )
                    * 1000
                    for w in (limited, cut)
                ]
                changed = int(np.any(limited != model.weights, axis=1).sum())
                print(
                    f"{name:11s} {label:7s} {limit:2d} {changed:8d} {errors[0].max():8.2f} "
                    f"{np.percentile(errors[0], 99):8.3f} {errors[1].max():11.2f}"
                )


if __name__ == "__main__":
    main()
