# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark FBX export of a 1000-frame SMPL-X animation with keyed correctives: plain exporter vs export_fbx.

    python scripts/bench_export.py [--frames 1000] [--target blender] [--out DIR] [--shape-step 1] [--no-compare]
                                   [--gltf]

Builds the open SMPL-X body, keys a smooth random animation (animation.key_pose_sequence) and its correctives
(correctives.key_correctives), then times, in this one process:
  plain: bpy.ops.export_scene.fbx(bake_anim=True, ...) with the same options export_fbx uses (the reference);
  ours:  smpl_blender_addon.blender.export.export_fbx.
It prints seconds, frames/s and file sizes of both and the speed ratio, then reads both files with ufbx (in a
subprocess, tests/ufbx_reader.py) and compares nodes, bones, rest and bind matrices, skin weights, blend-shape targets
(every --shape-step-th channel) and the animated world transforms and blend weights at several frames.
With --gltf, export_gltf is timed the same way (Blender's sampling vs the fast one) and the two .glb files compared.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def build_scene(model, frames):
    """The body, keyed with a smooth random animation (a few sines per channel, root motion) and its correctives."""
    import bpy

    from smpl_blender_addon.blender import add_body, animation
    from smpl_blender_addon.blender.correctives import key_correctives

    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.render.fps = 30
    arm = add_body(model)
    J = len(arm.pose.bones)
    rng = np.random.default_rng(0)
    t = np.arange(frames)[:, None] / 30.0
    poses = 0.3 * np.sin(2 * np.pi * rng.uniform(0.1, 1.0, 3 * J) * t + rng.uniform(0, 6, 3 * J))
    transl = np.stack([0.5 * np.sin(t[:, 0]), 0.9 + 0.05 * np.sin(3 * t[:, 0]), 0.8 * t[:, 0]], 1)
    keyed = np.arange(1, frames + 1, dtype=np.float64)
    animation.key_pose_sequence(arm, keyed, poses, transl)
    t0 = time.perf_counter()
    key_correctives(arm, "KEYFRAMES")
    scene.frame_start, scene.frame_end = 1, frames
    return arm, time.perf_counter() - t0


def plain_export(arm, path, target):
    """Blender's exporter as a user would call it: the body selected, the same options, nothing else changed."""
    import bpy

    from smpl_blender_addon.blender import body_mesh
    from smpl_blender_addon.blender.export import fbx_options

    for obj in bpy.context.view_layer.objects:
        obj.select_set(obj in (arm, body_mesh(arm)))
    t0 = time.perf_counter()
    bpy.ops.export_scene.fbx(filepath=str(path), **fbx_options(target))
    return time.perf_counter() - t0


def read_fbx(path, frames, npz, shape_step):
    reader = ROOT / "tests" / "ufbx_reader.py"
    cmd = [
        sys.executable,
        str(reader),
        str(path),
        "--npz",
        str(npz),
        "--shape-step",
        str(shape_step),
        "--frames",
        *map(str, frames),
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(out.stdout), dict(np.load(npz, allow_pickle=False))


def compare(a, b, arrays_a, arrays_b):
    """Largest differences between two ufbx readings. Returns a dict of named maxima (0 = identical)."""
    out = {}
    out["same_node_names"] = [n["name"] for n in a["nodes"]] == [n["name"] for n in b["nodes"]]
    bones_a = [n["name"] for n in a["nodes"] if n["is_bone"]]
    out["same_bones"] = bones_a == [n["name"] for n in b["nodes"] if n["is_bone"]]
    out["rest_world"] = max(
        np.abs(np.array(x["node_to_world"]) - np.array(y["node_to_world"])).max()
        for x, y in zip(a["nodes"], b["nodes"])
    )
    ma, mb = a["meshes"][0], b["meshes"][0]
    out["same_clusters"] = [c["bone"] for c in ma["clusters"]] == [c["bone"] for c in mb["clusters"]]
    out["bind_to_world"] = max(
        np.abs(np.array(x["bind_to_world"]) - np.array(y["bind_to_world"])).max()
        for x, y in zip(ma["clusters"], mb["clusters"])
    )
    out["same_channels"] = [c["name"] for c in ma["channels"]] == [c["name"] for c in mb["channels"]]
    for key in ("positions", "skin", "shapes"):
        x, y = arrays_a[f"mesh0_{key}"], arrays_b[f"mesh0_{key}"]
        out[key] = float(np.abs(x - y).max()) if x.shape == y.shape else float("inf")
    out["animated_world"] = max(
        np.abs(np.array(sa["world"][k]) - np.array(sb["world"][k])).max()
        for sa, sb in zip(a["samples"], b["samples"])
        for k in sa["world"]
    )
    out["animated_weights"] = max(
        abs(sa["weights"][k] - sb["weights"][k]) for sa, sb in zip(a["samples"], b["samples"]) for k in sa["weights"]
    )
    out["duration"] = abs(
        (a["stacks"][0]["time_end"] - a["stacks"][0]["time_begin"])
        - (b["stacks"][0]["time_end"] - b["stacks"][0]["time_begin"])
    )
    return out


def bench_gltf(arm, out, frames):
    """export_gltf with Blender's sampling unchanged (fast=False) vs the fast sampling; the two .glb must be equal."""
    from smpl_blender_addon.blender.export import export_gltf

    plain = export_gltf(arm, out / "plain.glb", fast=False)
    ours = export_gltf(arm, out / "ours.glb")
    same = (out / "plain.glb").read_bytes() == (out / "ours.glb").read_bytes()
    for label, r in (("glTF plain", plain), (f"glTF fast={ours['fast']}", ours)):
        print(
            f"{label:31s} {r['seconds']:8.2f} s  {frames / r['seconds']:8.1f} frames/s  "
            f"{os.path.getsize(r['path']) / 2**20:7.1f} MiB"
        )
    print(f"glTF speed-up: {plain['seconds'] / ours['seconds']:.1f}x, identical bytes: {same}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=1000)
    parser.add_argument("--model", default="open-smplx")
    parser.add_argument("--target", default="blender", choices=("blender", "unity", "unreal"))
    parser.add_argument("--out", help="folder for the two FBX files (default: a temporary folder)")
    parser.add_argument("--shape-step", type=int, default=1, help="compare every N-th blend-shape target")
    parser.add_argument("--no-compare", action="store_true")
    parser.add_argument("--gltf", action="store_true", help="also time export_gltf plain vs fast (compares the bytes)")
    args = parser.parse_args(argv)

    import bpy  # noqa: F401  (first: bmesh and mathutils come with it)

    from smpl_blender_addon.blender.export import export_fbx

    out = Path(args.out or tempfile.mkdtemp(prefix="bench-export-"))
    out.mkdir(parents=True, exist_ok=True)
    arm, t_correctives = build_scene(args.model, args.frames)
    F = args.frames
    keys = len(arm.children[0].data.shape_keys.key_blocks) - 1
    print(
        f"{args.model}: {F} frames, {len(arm.pose.bones)} bones, {keys} shape keys "
        f"(correctives keyed in {t_correctives:.2f} s)"
    )
    plain_path, ours_path = out / "plain.fbx", out / "ours.fbx"
    t_plain = plain_export(arm, plain_path, args.target)
    result = export_fbx(arm, ours_path, target=args.target)
    t_ours = result["seconds"]
    mb = 1024.0 * 1024.0
    print(
        f"plain bpy.ops.export_scene.fbx: {t_plain:8.2f} s  {F / t_plain:8.1f} frames/s  "
        f"{os.path.getsize(plain_path) / mb:7.1f} MiB"
    )
    print(
        f"export_fbx (fast={result['fast']}):    {t_ours:8.2f} s  {F / t_ours:8.1f} frames/s  "
        f"{os.path.getsize(ours_path) / mb:7.1f} MiB"
    )
    print(f"speed-up: {t_plain / t_ours:.1f}x  (one worker process)")
    if args.gltf:
        bench_gltf(arm, out, F)
    if args.no_compare:
        return 0
    frames = sorted({1, 2, F // 3, F // 2, F - 1, F})
    t0 = time.perf_counter()
    a, arrays_a = read_fbx(plain_path, frames, out / "plain.npz", args.shape_step)
    b, arrays_b = read_fbx(ours_path, frames, out / "ours.npz", args.shape_step)
    diff = compare(a, b, arrays_a, arrays_b)
    print(f"ufbx comparison at frames {frames} ({time.perf_counter() - t0:.1f} s):")
    for key, value in diff.items():
        print(f"  {key:18s} {value}")
    identical = all(v is True or (not isinstance(v, bool) and v == 0.0) for v in diff.values())
    print("IDENTICAL content" if identical else "CONTENT DIFFERS")
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
