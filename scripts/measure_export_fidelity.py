# SPDX-License-Identifier: GPL-3.0-or-later
"""Measure what a glTF viewer shows of an exported body, read back with pygltflib (not our writer's view), before
and after the export-fidelity fixes, from the same file: the bundled walk on the open SMPL body shaped with
betas (2, -2, 1), frames 3-10.

* rest state: the mesh positions a viewer shows before playback (base + morph targets at ``mesh.weights``) against
  the body at rest (the core's shaped vertices); "before" applies the first frame's weights, as the exporter wrote
  them;
* normals: the rest shape's normals (base + morph normals) against the normals of the rest positions (corner-angle
  weighted, computed here); "before" is the base normals alone (morph targets without normals);
* clip: the first sample's time and the animation's name;
* influences: scripts/measure_influences.py.

    .venv/bin/python scripts/measure_export_fidelity.py
"""

import os
import sys
import tempfile
import warnings

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.insert(0, os.path.join(ROOT, "tests", "blender"))

import bpy  # noqa: E402
from test_export_fidelity import Glb, angles, smooth_normals  # noqa: E402  (the tests' pygltflib reader)

from smpl_blender_addon.blender.export import export_gltf  # noqa: E402
from smpl_blender_addon.blender.motion import import_motion  # noqa: E402
from smpl_blender_addon.blender.shape import set_shape  # noqa: E402


def main():
    bpy.ops.wm.read_factory_settings(use_empty=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        arm = import_motion(
            os.path.join(ROOT, "assets", "demo_motion_smplx.npz"), model="open-smpl", fps="source", correctives=True
        )
    betas = [2.0, -2.0, 1.0]
    set_shape(arm, betas=betas)
    path = os.path.join(tempfile.mkdtemp(prefix="fidelity-"), "walk.glb")
    export_gltf(arm, path, frame_start=3, frame_end=10)
    glb = Glb(path)
    mesh = glb.gltf.meshes[0]
    primitive = mesh.primitives[0]
    (anim,) = glb.gltf.animations
    morph = next(c for c in anim.channels if c.target.path == "weights")
    first = glb.accessor(anim.samplers[morph.sampler].output).reshape(-1, len(primitive.targets))[0]
    base = glb.accessor(primitive.attributes.POSITION)
    deltas = [glb.accessor(t["POSITION"]) for t in primitive.targets]
    normal_deltas = [glb.accessor(t["NORMAL"]) for t in primitive.targets]

    def shape(weights, parts, start):
        out = start.copy()
        for w, d in zip(weights, parts):
            out += w * d
        return out

    rest = shape(mesh.weights, deltas, base)
    before = shape(first, deltas, base)  # what the file showed at rest: the first frame's weights
    shift = np.linalg.norm(before - rest, axis=1) * 1000
    faces = glb.accessor(primitive.indices).reshape(-1, 3).astype(np.int64)
    truth = smooth_normals(rest, faces)
    with_normals = angles(shape(mesh.weights, normal_deltas, glb.accessor(primitive.attributes.NORMAL)), truth)
    without = angles(glb.accessor(primitive.attributes.NORMAL), truth)
    pose = [i for i, n in enumerate(mesh.extras["targetNames"]) if n.startswith("Pose")]
    times = glb.accessor(anim.samplers[0].input)[:, 0]
    fps = bpy.context.scene.render.fps / bpy.context.scene.render.fps_base
    print(
        f"rest state: corrective weights non-zero before {int(np.count_nonzero(first[pose]))} "
        f"(max {np.abs(first[pose]).max():.2f}), after {int(np.count_nonzero(np.asarray(mesh.weights)[pose]))}; "
        f"vertices off at rest before: max {shift.max():.1f} mm, mean {shift.mean():.2f} mm; after: 0"
    )
    print(
        f"normals of the shaped rest body: without morph normals max {without.max():.1f} deg, p99 "
        f"{np.percentile(without, 99):.1f} deg; with: max {with_normals.max():.1f} deg, p99 "
        f"{np.percentile(with_normals, 99):.1f} deg"
    )
    print(
        f"clip {anim.name!r}: first sample at {times[0]:.4f} s (before: frame 3 at {3 / fps:.4f} s), last at "
        f"{times[-1]:.4f} s = 7 frames at {fps:g} fps"
    )


if __name__ == "__main__":
    main()
