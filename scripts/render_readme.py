# SPDX-License-Identifier: GPL-3.0-or-later
"""Render the README pictures from the real add-on (bpy, Workbench, no GPU needed).

    .venv/bin/python scripts/render_readme.py [--out docs/img] [--only hero|panel|strip ...]

Writes, in about half a minute on 2 cores:
* readme-hero.png: the open SMPL-X body walking and waving (frame 100 of the bundled demo motion, imported with
  ``import_motion``), its rig drawn in front as octahedral bones built from the posed bones;
* readme-panel-result.png: what the sidebar panel's buttons do, each on its own open SMPL-X body (``add_body``):
  "Random shape" (``random_shape``), "Height / weight" (``set_height_weight`` 1.85 m, 95 kg), and a pose written
  to JSON from one body (``write_pose``) then loaded onto another (``load_pose``) with "Relaxed hands"
  (``set_hand_pose``), each body snapped to the ground (``snap_to_ground``), labelled in the picture;
* readme-demo-strip.png: the demo's preview strip (``run_demo(update_docs=True)``; six frames of the walk).
"""

import argparse
import pathlib
import sys
import tempfile

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from render_common import (
    ROOT,
    add_camera,
    add_floor,
    add_label,
    bone_mesh,
    over,
    remove_object,  # noqa: E402
    render_layers,
    render_still,
    reset_scene,
    write_png,
)

from smpl_blender_addon.blender import (
    add_body,
    body_mesh,
    body_model,
    import_motion,
    load_pose,  # noqa: E402
    random_shape,
    set_hand_pose,
    set_height_weight,
    set_pose,
    snap_to_ground,
    write_pose,
)
from smpl_blender_addon.blender.correctives import update_correctives  # noqa: E402
from smpl_blender_addon.core.rotations import matrix_to_axis_angle  # noqa: E402
from smpl_blender_addon.demo import demo_motion_path, run_demo  # noqa: E402

HERO_FRAME = 100  # mid stride, right hand up, jaw opening
BONE_OPACITY = 0.85
# A relaxed contrapposto for the "pose loaded" body: Euler XYZ degrees per SMPL joint name (model axes: Y up,
# facing +Z, the body's left at +X).
PANEL_POSE_DEG = {
    "pelvis": (0, -8, 0),
    "left_hip": (-4, 0, 6),
    "right_hip": (6, 8, -2),
    "right_knee": (14, 0, 0),
    "spine1": (3, 4, 0),
    "spine3": (0, 6, 0),
    "neck": (-6, 8, 0),
    "head": (4, 10, 3),
    "left_shoulder": (0, 0, -62),
    "right_shoulder": (0, -20, 58),
    "left_elbow": (0, -70, 0),
    "right_elbow": (0, 15, 0),
    "left_wrist": (0, 0, 15),
    "jaw": (8, 0, 0),
}


def euler_pose(joint_names, degrees):
    """(3J,) axis-angle pose from ``{joint: (x, y, z) Euler degrees}``, rotation R = Rz Ry Rx."""
    pose = np.zeros((len(joint_names), 3))
    for name, (x, y, z) in degrees.items():
        cx, sx, cy, sy, cz, sz = (f(np.radians(a)) for a in (x, y, z) for f in (np.cos, np.sin))
        rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
        ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
        rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
        pose[joint_names.index(name)] = matrix_to_axis_angle(rz @ ry @ rx)
    return pose.reshape(-1)


def hero(out):
    """The posed open SMPL-X body with its rig in front: a body layer, then a bone layer composited over it."""
    scene = reset_scene(900, 1100)
    arm = import_motion(demo_motion_path(), model="open-smplx", gender="neutral", fps="source")
    scene.frame_set(HERO_FRAME)
    bones = bone_mesh(arm)
    floor = add_floor()
    pelvis = np.array(arm.matrix_world @ arm.pose.bones["pelvis"].head)
    target = (pelvis[0] - 0.02, pelvis[1], 0.86)
    add_camera(tuple(np.add(target, (1.9, -2.6, 0.45))), target, lens=54)
    body, rig = render_layers(scene, out / ".hero-layer.png", [[body_mesh(arm), floor], [bones]])
    (out / ".hero-layer.png").unlink()
    path = write_png(out / "readme-hero.png", over(rig, body, BONE_OPACITY))
    print("wrote", path)


def panel_bodies(tmp):
    """Three bodies showing what the panel's buttons do. Returns [(armature, label), ...] left to right."""
    shaped = add_body("open-smplx", gender="neutral", name="random_shape")
    random_shape(shaped, seed=11)
    sized = add_body("open-smplx", gender="neutral", name="height_weight")
    set_height_weight(sized, 1.85, 95.0)
    source = add_body("open-smplx", gender="neutral", name="pose_source")
    set_pose(source, euler_pose(body_model(source).joint_names, PANEL_POSE_DEG))
    update_correctives(source)
    written = write_pose(source, "JSON", pathlib.Path(tmp) / "pose.json")
    for obj in (body_mesh(source), source):
        remove_object(obj)
    posed = add_body("open-smplx", gender="neutral", name="pose_loaded")
    load_pose(posed, written)
    set_hand_pose(posed, "RELAXED")
    return [
        (shaped, "Random shape\n(seed 11)"),
        (sized, "Height / weight\n1.85 m, 95 kg"),
        (posed, "Pose loaded from JSON\n+ relaxed hands"),
    ]


def panel(out):
    """Three labelled bodies side by side (readme-panel-result.png)."""
    scene = reset_scene(1800, 820)
    with tempfile.TemporaryDirectory() as tmp:
        bodies = panel_bodies(tmp)
    for k, (arm, text) in enumerate(bodies):
        arm.location.x = 1.9 * (k - 1)
        snap_to_ground(arm)
        add_label(text, (arm.location.x, -0.35, 2.2), size=0.1)
    add_floor()
    add_camera((0.0, -7.6, 1.5), (0.0, 0.0, 1.08), lens=42)
    print("wrote", render_still(scene, out / "readme-panel-result.png"))


def strip(out):
    """The demo's preview strip, rendered by the demo itself (readme-demo-strip.png)."""
    with tempfile.TemporaryDirectory() as tmp:
        result = run_demo(tmp, render=True, gif=False, update_docs=out.resolve() == (ROOT / "docs" / "img").resolve())
        if result.get("docs_strip") is None:
            target = out / "readme-demo-strip.png"
            target.write_bytes(pathlib.Path(result["preview"]).read_bytes())
            print("wrote", target)


def main(argv=None):
    argv = argv if argv is not None else (sys.argv[sys.argv.index("--") + 1 :] if "--" in sys.argv else sys.argv[1:])
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "docs" / "img"))
    ap.add_argument("--only", choices=("hero", "panel", "strip"), action="append")
    args = ap.parse_args(argv)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    jobs = {"hero": hero, "panel": panel, "strip": strip}
    for name in args.only or jobs:
        jobs[name](out)


if __name__ == "__main__":
    main()
