# SPDX-License-Identifier: GPL-3.0-or-later
"""Render the pictures of docs/fitting.md with the bpy module (Workbench, no GPU needed).

    .venv/bin/python scripts/render_fit.py [--out docs/img] [--noise 0.01] [--seed 0]

Writes

* ``fit-keypoints.png``: BODY_25 keypoints with 10 mm Gaussian noise per axis (made from the bundled walk on the open
  SMPL body with a random shape) as orange spheres, drawn over the body fitted to them, a few frames side by side;
* ``fit-humanml3d.png``: a HumanML3D-style joints file (the walk's 22 SMPL body joints, ``(F, 22, 3)`` Y-up at 20 fps,
  saved as ``.npy``) read and fitted as the CLI does (``read_points`` then ``fit_points``): top row the input skeleton,
  bottom row the fitted body with that skeleton drawn over it.

Bodies are meshes built from ``core`` forward passes (no add-on needed); the spheres and sticks are composited over
the body (drawn on top, so the joints inside the body show).
"""

import argparse
import pathlib
import sys
import tempfile
import warnings

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import bpy  # noqa: E402
from render_common import (  # noqa: E402
    ROOT,
    add_camera,
    add_floor,
    flat_mesh_object,
    look_at,
    over,
    remove_object,
    render_layers,
    reset_scene,
    write_png,
)

from smpl_blender_addon import core  # noqa: E402
from smpl_blender_addon.core.fitting import (  # noqa: E402
    KEYPOINT_LAYOUTS,
    FitOptions,
    PointSequence,
    fit_points,
    point_definitions,
    read_points,
)

CELL = (300, 440)  # width, height of one frame's picture
BODY_COLOR = (0.78, 0.76, 0.73, 1.0)
TARGET_COLOR = (1.0, 0.5, 0.08, 1.0)
SKELETON_COLOR = (0.1, 0.55, 1.0, 1.0)
CAMERA_OFFSET = np.array([2.3, -2.9, 0.35])  # a 3/4 front view (Blender world, from the pelvis)


def to_blender(v):
    """SMPL Y-up (x, y, z) -> Blender Z-up (x, -z, y)."""
    v = np.asarray(v, np.float64)
    return np.stack([v[..., 0], -v[..., 2], v[..., 1]], axis=-1)


def body_mesh(name, vertices, faces):
    """A smooth-shaded mesh object of SMPL-space ``vertices (V, 3)``, bulk-written."""
    mesh = bpy.data.meshes.new(name)
    v = to_blender(vertices).astype(np.float32)
    mesh.vertices.add(len(v))
    mesh.vertices.foreach_set("co", v.ravel())
    mesh.loops.add(faces.size)
    mesh.loops.foreach_set("vertex_index", faces.astype(np.int32).ravel())
    mesh.polygons.add(len(faces))
    mesh.polygons.foreach_set("loop_start", np.arange(0, faces.size, 3, dtype=np.int32))
    mesh.polygons.foreach_set("loop_total", np.full(len(faces), 3, np.int32))
    mesh.update(calc_edges=True)
    mesh.polygons.foreach_set("use_smooth", np.ones(len(faces), bool))
    material = bpy.data.materials.new(name)
    material.diffuse_color = BODY_COLOR
    mesh.materials.append(material)
    obj = bpy.data.objects.new(name, mesh)
    bpy.context.scene.collection.objects.link(obj)
    return obj


def spheres(name, points, radius, color):
    """Small icospheres at SMPL-space ``points (K, 3)``, one object."""
    t = (1 + 5**0.5) / 2
    unit = np.array([(-1, t, 0), (1, t, 0), (-1, -t, 0), (1, -t, 0), (0, -1, t), (0, 1, t)], float)
    unit = np.concatenate([unit, [(0, -1, -t), (0, 1, -t), (t, 0, -1), (t, 0, 1), (-t, 0, -1), (-t, 0, 1)]])
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    faces = np.array(
        [(0, 11, 5), (0, 5, 1), (0, 1, 7), (0, 7, 10), (0, 10, 11), (1, 5, 9), (5, 11, 4), (11, 10, 2), (10, 7, 6)]
        + [(7, 1, 8), (3, 9, 4), (3, 4, 2), (3, 2, 6), (3, 6, 8), (3, 8, 9), (4, 9, 5), (2, 4, 11), (6, 2, 10)]
        + [(8, 6, 7), (9, 8, 1)]
    )
    centres = to_blender(points)
    verts = (centres[:, None] + radius * unit[None]).reshape(-1, 3)
    tris = (faces[None] + len(unit) * np.arange(len(centres))[:, None, None]).reshape(-1, 3)
    return flat_mesh_object(name, verts.tolist(), tris.tolist(), color)


def sticks(name, points, parents, color, radius=0.011):
    """A skeleton: square sticks from each point to its parent and a ball at each point (SMPL space)."""
    p = to_blender(points)
    verts, faces = [], []
    for child, parent in enumerate(parents):
        if parent < 0:
            continue
        a, b = p[parent], p[child]
        axis = (b - a) / max(np.linalg.norm(b - a), 1e-9)
        helper = np.array([0.0, 0.0, 1.0]) if abs(axis[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
        x = np.cross(axis, helper)
        x /= np.linalg.norm(x)
        y = np.cross(axis, x)
        ring = [radius * (np.cos(t) * x + np.sin(t) * y) for t in np.linspace(0, 2 * np.pi, 7)[:-1]]
        base = len(verts)
        verts += [a + r for r in ring] + [b + r for r in ring]
        faces += [(base + i, base + (i + 1) % 6, base + 6 + (i + 1) % 6, base + 6 + i) for i in range(6)]
    obj = flat_mesh_object(name, verts, faces, color)
    balls = spheres(name + "_joints", points, 1.8 * radius, color)
    return [obj, balls]


def forward(model, betas, poses, trans):
    F = len(poses)
    full = np.zeros((F, model.num_betas))
    full[:, : len(betas)] = betas
    out = model.forward(full, poses, transl=trans, dtype=np.float64)
    return out.vertices, out.joints


def render_cells(scene, frames, layers_of, tmp, overlay_opacity=1.0):
    """One picture per frame: ``layers_of(f)`` gives (back objects, front objects, pelvis in SMPL space); the front
    layer is composited over the back one. The camera follows the pelvis. Returns the cells."""
    camera = add_camera((0, -4, 1), (0, 0, 1), lens=55)
    floor = add_floor(size=60.0)
    cells = []
    for f in frames:
        back, front, pelvis = layers_of(f)
        target = to_blender(pelvis) * np.array([1.0, 1.0, 0.0]) + np.array([0.0, 0.0, 0.88])
        look_at(camera, tuple(target + CAMERA_OFFSET), tuple(target))
        images = render_layers(scene, tmp / "layer.png", [back + [floor], front] if front else [back + [floor]])
        cell = images[0] if len(images) == 1 else over(images[1], images[0], overlay_opacity)
        cells.append(cell)
        for obj in back + front:
            remove_object(obj)
    remove_object(floor)
    remove_object(camera)
    return cells


def strip(cells):
    for cell in cells[1:]:
        cell[:, :2, :3] = 0.12  # a thin dark line between frames
    return np.concatenate(cells, axis=1)


def walk(model, seed):
    """The bundled walk on ``model`` in a Y-up world with a random shape (10 betas ~ N(0, 1))."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its hand and face joints have no place on SMPL: dropped, as wanted
        motion = core.formats.read_motion(ROOT / "assets" / "demo_motion_smplx.npz", model=model).reframe("Y", model)
    betas = np.zeros(model.num_betas)
    betas[:10] = np.random.default_rng(seed).standard_normal(10)
    return motion.copy(betas=betas)


def keypoints_picture(model, out, tmp, noise, seed, frames=(10, 35, 60, 85, 110)):
    """Noisy BODY_25 keypoints over the body fitted to them."""
    motion = walk(model, seed)
    names = KEYPOINT_LAYOUTS["body25"]
    d = point_definitions(model, names)
    vertices, joints = forward(model, motion.betas, motion.poses, motion.trans)
    points = np.einsum("kj,fjc->fkc", d.joint_coeffs, joints)
    points += np.einsum("ku,fuc->fkc", d.vertex_coeffs, vertices[:, d.vertex_ids])
    points += np.random.default_rng(seed + 1).normal(0.0, noise, points.shape)
    result = fit_points(model, PointSequence(points, names=names, fps=motion.fps), FitOptions())
    fit = result.motion
    fitted, fitted_joints = forward(model, fit.betas, fit.poses, fit.trans)
    print(
        f"keypoints: {len(names)} points, noise {1000 * noise:g} mm per axis, mean distance to the targets "
        f"{1000 * result.mean_error:.1f} mm, {result.seconds:.2f} s"
    )

    def layers(f):
        body = body_mesh("fit", fitted[f], model.faces)
        return [body], [spheres("targets", points[f], 0.016, TARGET_COLOR)], fitted_joints[f, 0]

    scene = reset_scene(*CELL)
    path = write_png(out / "fit-keypoints.png", strip(render_cells(scene, frames, layers, tmp)))
    print("wrote", path)


def humanml3d_picture(model, out, tmp, seed, frames=(12, 32, 52, 72), cell=(250, 370)):
    """A HumanML3D-style (F, 22, 3) .npy, fitted as the CLI does: its skeleton, and the body with it drawn over."""
    motion = walk(model, seed).resample(20.0)
    _, joints = forward(model, motion.betas, motion.poses, motion.trans)
    path = tmp / "walk_joints.npy"
    np.save(path, joints[:, :22].astype(np.float32))
    points = read_points(path, fps=20.0)  # 22 points: the humanml3d layout, Y up
    result = fit_points(model, points, FitOptions())
    fit = result.motion
    fitted, fitted_joints = forward(model, fit.betas, fit.poses, fit.trans)
    parents = list(model.parents[:22])
    print(
        f"humanml3d: {points.num_frames} frames at {points.fps:g} fps, layout {points.layout}, MPJPE to the input "
        f"{1000 * result.mean_error:.2f} mm, {result.seconds:.2f} s"
    )
    scene = reset_scene(*cell)

    def skeleton_only(f):
        return sticks("input", points.points[f], parents, SKELETON_COLOR), [], fitted_joints[f, 0]

    def body_and_skeleton(f):
        body = body_mesh("fit", fitted[f], model.faces)
        return [body], sticks("input", points.points[f], parents, SKELETON_COLOR), fitted_joints[f, 0]

    top = strip(render_cells(scene, frames, skeleton_only, tmp))
    bottom = strip(render_cells(scene, frames, body_and_skeleton, tmp, overlay_opacity=0.85))
    top[-2:, :, :3] = 0.12
    path = write_png(out / "fit-humanml3d.png", np.concatenate([top, bottom], axis=0))
    print("wrote", path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(ROOT / "docs" / "img"))
    parser.add_argument("--noise", type=float, default=0.01, help="keypoint noise, metres per axis (default 0.01)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model = core.load_model("open-smpl")
    with tempfile.TemporaryDirectory() as tmp:
        keypoints_picture(model, out, pathlib.Path(tmp), args.noise, args.seed)
        humanml3d_picture(model, out, pathlib.Path(tmp), args.seed)


if __name__ == "__main__":
    main()
