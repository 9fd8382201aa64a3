# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark keyed pose correctives on a 1000-frame SMPL-X animation (built-in open SMPL-X body), in one process.

    python scripts/bench_correctives.py [--frames 1000] [--naive-frames 20]

Prints the time of the KEYFRAMES and RANGE modes and of the per-frame approach of the existing add-ons
(frame_set + set the Pose### values + keyframe_insert per key), measured on a short span and scaled linearly to the
full length (an underestimate: keyframe_insert is O(existing keys), so the real per-frame loop grows quadratically).
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=1000)
    parser.add_argument("--naive-frames", type=int, default=20)
    parser.add_argument("--model", default="open-smplx")
    args = parser.parse_args(argv)

    import bpy

    from smpl_blender_addon.blender import add_body, animation, body_mesh, update_correctives
    from smpl_blender_addon.blender.correctives import key_correctives

    bpy.ops.wm.read_factory_settings(use_empty=True)
    arm = add_body(args.model)
    model_joints = len(arm.pose.bones)
    rng = np.random.default_rng(0)
    F = args.frames
    # a smooth random animation: a few sine waves per joint channel
    t = np.arange(F)[:, None] / 30.0
    poses = 0.3 * np.sin(2 * np.pi * rng.uniform(0.1, 1.0, 3 * model_joints) * t + rng.uniform(0, 6, 3 * model_joints))
    frames = np.arange(1, F + 1, dtype=np.float64)
    animation.key_pose_sequence(arm, frames, poses)
    scene = bpy.context.scene
    scene.frame_start, scene.frame_end = 1, F

    t0 = time.perf_counter()
    key_correctives(arm, "KEYFRAMES")
    t_keyframes = time.perf_counter() - t0
    t0 = time.perf_counter()
    key_correctives(arm, "RANGE")
    t_range = time.perf_counter() - t0

    # the existing add-ons' way, on a second body so its keys start empty
    naive = add_body(args.model, name="naive")
    animation.key_pose_sequence(naive, frames[: args.naive_frames], poses[: args.naive_frames])
    blocks = [b for b in body_mesh(naive).data.shape_keys.key_blocks if b.name.startswith("Pose")]
    t0 = time.perf_counter()
    for f in range(1, args.naive_frames + 1):
        scene.frame_set(f)
        update_correctives(naive)
        for block in blocks:
            block.keyframe_insert("value", frame=f)
    t_naive = (time.perf_counter() - t0) * F / args.naive_frames

    # live mode: the work added to one interactive pose change (read pose, weights, one foreach_set)
    scene.frame_set(1)
    update_correctives(arm)
    t0 = time.perf_counter()
    for _ in range(100):
        update_correctives(arm)
    t_live = (time.perf_counter() - t0) / 100

    print(f"{F}-frame animation, {len(blocks)} correctives ({args.model})")
    print(f"KEYFRAMES mode: {t_keyframes:.3f} s   ({F / t_keyframes:.0f} frames/s)")
    print(f"RANGE mode:     {t_range:.3f} s   ({F / t_range:.0f} frames/s)")
    print(f"per-frame loop: {t_naive:.1f} s   (measured on {args.naive_frames} frames, scaled)")
    print(f"live update per pose change: {t_live * 1e3:.2f} ms")
    print(f"speed-up: KEYFRAMES {t_naive / t_keyframes:.0f}x, RANGE {t_naive / t_range:.0f}x")


if __name__ == "__main__":
    main()
