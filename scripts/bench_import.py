# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark: import a 1000-frame SMPL-X motion (AMASS .npz, random poses) onto a new open SMPL-X body with the pose
correctives keyed at every frame (target: under 2 s), and the naive per-frame way (set the pose, keyframe_insert every
bone and every Pose### key, frame by frame) measured on a shorter motion in the same run, as a ratio per frame.

    .venv/bin/python scripts/bench_import.py [--frames 1000] [--naive-frames 50] [--repeat 3]
"""

import argparse
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import bpy  # noqa: E402

from smpl_blender_addon.blender import add_body  # noqa: E402
from smpl_blender_addon.blender import body as body_api  # noqa: E402
from smpl_blender_addon.blender.correctives import corrective_key_range, corrective_weights  # noqa: E402
from smpl_blender_addon.blender.motion import import_motion  # noqa: E402
from smpl_blender_addon.blender.pose import set_pose  # noqa: E402
from smpl_blender_addon.core.formats import write_amass_npz  # noqa: E402
from smpl_blender_addon.core.motion import Motion  # noqa: E402


def write_motion(path, frames, seed=0):
    rng = np.random.default_rng(seed)
    motion = Motion(
        fps=30.0,
        poses=rng.normal(0, 0.3, (frames, 165)),
        trans=rng.normal(0, 0.2, (frames, 3)),
        betas=np.zeros(10),
        expression=rng.normal(0, 0.5, (frames, 10)),
        gender="neutral",
        kind="smplx",
        up_axis="Z",
    )
    write_amass_npz(path, motion)
    return motion


def time_import(path, model):
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.context.scene.render.fps = 30
    t0 = time.perf_counter()
    import_motion(path, model=model, fps=30, correctives=True)
    return time.perf_counter() - t0


def time_naive(motion, model):
    """The per-frame loop of the existing add-ons: pose the bones, key each bone, compute and key every corrective."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    arm = add_body(model)
    mesh = body_api.body_mesh(arm)
    core_model = body_api.body_model(arm)
    start, count = corrective_key_range(mesh)
    blocks = mesh.data.shape_keys.key_blocks
    names = list(arm["smpl_joint_names"])
    t0 = time.perf_counter()
    for f in range(motion.num_frames):
        set_pose(arm, motion.poses[f], transl=motion.trans[f])
        for name in names:
            arm.pose.bones[name].keyframe_insert("rotation_quaternion", frame=f + 1)
        arm.pose.bones[names[0]].keyframe_insert("location", frame=f + 1)
        weights = corrective_weights(core_model, motion.poses[f])[0]
        for k in range(count):
            blocks[start + k].value = float(weights[k])
            blocks[start + k].keyframe_insert("value", frame=f + 1)
    return time.perf_counter() - t0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=1000)
    parser.add_argument("--naive-frames", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--model", default="open-smplx")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "bench.npz")
        write_motion(path, args.frames)
        cold = time_import(path, args.model)  # includes loading the model file once
        warm = min(time_import(path, args.model) for _ in range(args.repeat))
        naive_motion = write_motion(os.path.join(tmp, "naive.npz"), args.naive_frames, seed=1)
        naive = time_naive(naive_motion, args.model)
    model = body_api.load_body_model(args.model)[0]
    correctives = 9 * (model.num_joints - 1)
    print(
        f"import_motion: {args.frames} {model.kind} frames ({model.num_vertices} vertices, {correctives} "
        f"correctives keyed, 10 expressions keyed) in {warm:.2f} s = {args.frames / warm:.0f} frames/s "
        f"(best of {args.repeat}; first call with the model load: {cold:.2f} s); target < 2 s: "
        f"{'met' if warm < 2.0 else 'NOT met'}"
    )
    naive_per_frame = naive / args.naive_frames
    print(
        f"naive per-frame keyframe_insert loop: {args.naive_frames} frames in {naive:.2f} s = "
        f"{1 / naive_per_frame:.1f} frames/s (quadratic: longer motions are slower per frame)"
    )
    print(f"ratio per frame: import_motion is {naive_per_frame / (warm / args.frames):.0f}x faster")


if __name__ == "__main__":
    main()
