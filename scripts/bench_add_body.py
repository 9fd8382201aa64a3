# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark: add_body against a naive build measured in the same run (bpy as a Python module).

    .venv/bin/python scripts/bench_add_body.py [--repeat 3]

Bodies: the built-in open SMPL-X body (if its asset is installed) and a synthetic SMPL-X-sized model (10,475 vertices,
55 joints, 10 betas + 10 expressions + 486 correctives). The naive reference builds the same body the way the existing
add-ons' scripts do: ``from_pydata``, a per-loop UV loop, per-vertex ``vertex_group.add``, and per-key Python loops for
shape-key values and slider ranges. Prints the median of ``--repeat`` runs of each and their ratio.
"""

import argparse
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests", "blender"))

import bpy  # noqa: E402
import numpy as np  # noqa: E402
from synthetic_body import synthetic_arrays  # noqa: E402

from smpl_blender_addon import blender as sb  # noqa: E402
from smpl_blender_addon import core  # noqa: E402
from smpl_blender_addon.blender.body import to_blender  # noqa: E402
from smpl_blender_addon.blender.build import set_rest_bones  # noqa: E402


def naive_add_body(model, name="naive"):
    """The slow reference: per-element Python loops wherever the existing add-ons use them."""
    verts = to_blender(model.v_template).tolist()
    mesh = bpy.data.meshes.new(name)
    mesh.from_pydata(verts, [], model.faces.tolist())
    uv = mesh.uv_layers.new(name="UVMap")
    if model.vt is not None:
        ft = model.ft.reshape(-1)
        for i, loop_uv in enumerate(uv.uv):
            loop_uv.vector = model.vt[ft[i]]
    mesh_obj = bpy.data.objects.new(name + "-mesh", mesh)
    arm_obj = bpy.data.objects.new(name, bpy.data.armatures.new(name))
    for obj in (arm_obj, mesh_obj):
        bpy.context.scene.collection.objects.link(obj)
    arm_obj["smpl_joint_names"] = list(model.joint_names)
    set_rest_bones(
        arm_obj, to_blender(model.rest_joints()), create_with=(list(model.joint_names), model.parents.tolist())
    )
    groups = [mesh_obj.vertex_groups.new(name=n) for n in model.joint_names]
    for v, row in enumerate(model.weights):
        for j in np.nonzero(row)[0]:
            groups[j].add([v], float(row[j]), "REPLACE")
    basis = np.asarray(to_blender(model.v_template), dtype=np.float32)
    mesh_obj.shape_key_add(name="Basis", from_mix=False)
    columns = [("Shape", model.shapedirs), ("Exp", model.exprdirs), ("Pose", model.posedirs)]
    for prefix, dirs in columns:
        for k in range(dirs.shape[2]):
            block = mesh_obj.shape_key_add(name=f"{prefix}{k:03d}", from_mix=False)
            block.points.foreach_set("co", (basis + to_blender(dirs[:, :, k]).astype(np.float32)).reshape(-1))
    for block in mesh.shape_keys.key_blocks:
        block.slider_min, block.slider_max, block.value = -10.0, 10.0, 0.0
    mod = mesh_obj.modifiers.new("Armature", "ARMATURE")
    mod.object = arm_obj
    mesh_obj.parent = arm_obj
    return arm_obj


def _time(fn, repeat):
    times = []
    for _ in range(repeat):
        bpy.ops.wm.read_factory_settings(use_empty=True)
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    models = []
    try:
        models.append(("open-smplx", core.load_model("open-smplx")))
    except core.ModelFileError as err:
        print(f"open-smplx: not installed ({err}); skipped")
    arrays = synthetic_arrays("smplx", rings=96, segments=109, seed=0, extra_vertices=10475 - (2 + 96 * 109))
    models.append(("synthetic SMPL-X-sized", core.BodyModel.from_arrays(arrays, name="synthetic-bench")))
    print(
        f"add_body vs naive build, median of {args.repeat} runs (numpy {np.__version__}, bpy {bpy.app.version_string})"
    )
    for label, model in models:
        sb.add_body(model)  # warm the model's caches (the blender layer caches models per path / name)
        fast = _time(
            lambda: sb.add_body(model, num_betas=model.num_betas, num_expressions=model.num_expressions), args.repeat
        )
        slow = _time(lambda: naive_add_body(model), args.repeat)
        print(
            f"{label:24s} V={model.num_vertices} J={model.num_joints} keys={model.num_betas}+"
            f"{model.num_expressions}+{model.posedirs.shape[2]}: add_body {fast * 1000:7.1f} ms, "
            f"naive {slow * 1000:7.1f} ms, ratio {slow / fast:5.1f}x"
        )


if __name__ == "__main__":
    main()
