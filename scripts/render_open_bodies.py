# SPDX-License-Identifier: GPL-3.0-or-later
"""Render the README pictures of the open bodies with the bpy module (Workbench, no GPU needed).

    .venv/bin/python scripts/render_open_bodies.py [--assets assets] [--out docs/img]

Writes open-rest-uv.png (rest T-pose with a UV grid and the joints, plus a profile), open-posed.png (one pose, left
with pose correctives, right plain LBS), open-betas.png (beta 1-3 at -2 / +2) and open-expressions.png (neutral,
expression components 1-4, jaw open + eyes). Meshes are built straight from core.forward output with foreach_set.
"""

import argparse
import pathlib
import sys

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
import bpy  # noqa: E402
from render_common import reset_scene  # noqa: E402  (scripts/ is on sys.path when run as a script)

from smpl_blender_addon import core  # noqa: E402


def to_blender(v):
    """SMPL Y-up (x, y, z) -> Blender Z-up (x, -z, y)."""
    v = np.asarray(v, np.float64)
    return np.stack([v[..., 0], -v[..., 2], v[..., 1]], axis=-1)


def add_mesh(name, verts, faces, offset=(0.0, 0.0, 0.0), uv=None, color=(0.78, 0.76, 0.73, 1.0), image=None):
    """Mesh object from (V, 3) SMPL-space vertices and (F, 3) triangles, bulk-written with foreach_set."""
    mesh = bpy.data.meshes.new(name)
    v = to_blender(verts) + np.asarray(offset)
    mesh.vertices.add(len(v))
    mesh.vertices.foreach_set("co", v.astype(np.float32).ravel())
    mesh.loops.add(faces.size)
    mesh.loops.foreach_set("vertex_index", faces.astype(np.int32).ravel())
    mesh.polygons.add(len(faces))
    mesh.polygons.foreach_set("loop_start", np.arange(0, faces.size, 3, dtype=np.int32))
    mesh.polygons.foreach_set("loop_total", np.full(len(faces), 3, np.int32))
    mesh.update(calc_edges=True)
    mesh.polygons.foreach_set("use_smooth", np.ones(len(faces), bool))
    if uv is not None:
        layer = mesh.uv_layers.new(name="UVMap")
        vt, ft = uv
        layer.data.foreach_set("uv", vt[ft.ravel()].astype(np.float32).ravel())
    mat = bpy.data.materials.new(name + "_mat")
    mat.diffuse_color = color
    if image is not None:
        mat.use_nodes = True
        tex = mat.node_tree.nodes.new("ShaderNodeTexImage")
        tex.image = image
        bsdf = mat.node_tree.nodes.get("Principled BSDF")
        mat.node_tree.links.new(tex.outputs["Color"], bsdf.inputs["Base Color"])
    mesh.materials.append(mat)
    obj = bpy.data.objects.new(name, mesh)
    bpy.context.scene.collection.objects.link(obj)
    return obj


def add_spheres(points, offset, radius=0.012):
    """Yellow joint markers: one icosphere mesh instanced by hand (all points in one object)."""
    bpy.ops.mesh.primitive_ico_sphere_add(subdivisions=2, radius=radius)
    proto = bpy.context.active_object
    sv = np.array([v.co[:] for v in proto.data.vertices])
    sf = np.array([p.vertices[:] for p in proto.data.polygons])
    bpy.data.objects.remove(proto)
    pts = to_blender(points) + np.asarray(offset)
    verts = (pts[:, None, :] + sv[None]).reshape(-1, 3)
    faces = (sf[None] + len(sv) * np.arange(len(pts))[:, None, None]).reshape(-1, 3)
    # add_mesh expects SMPL space: undo the axis change for the already converted points
    back = np.stack([verts[:, 0], verts[:, 2], -verts[:, 1]], axis=-1)
    return add_mesh("joints", back, faces, color=(0.95, 0.85, 0.1, 1.0))


def add_camera(location, target, ortho_scale=None, lens=50.0):
    cam_data = bpy.data.cameras.new("cam")
    if ortho_scale:
        cam_data.type = "ORTHO"
        cam_data.ortho_scale = ortho_scale
    else:
        cam_data.lens = lens
    cam = bpy.data.objects.new("cam", cam_data)
    bpy.context.scene.collection.objects.link(cam)
    cam.location = location
    direction = np.asarray(target, float) - np.asarray(location, float)
    from mathutils import Vector

    cam.rotation_euler = Vector(direction).to_track_quat("-Z", "Y").to_euler()
    bpy.context.scene.camera = cam


def render(path):
    bpy.context.scene.render.filepath = str(path)
    bpy.ops.render.render(write_still=True)
    print("wrote", path)


def rest_uv(model, out):
    scene = reset_scene(1000, 562)
    image = bpy.data.images.new("grid", 1024, 1024)
    image.generated_type = "COLOR_GRID"
    res = model.forward()
    add_mesh("front", res.vertices[0], model.faces, (-0.55, 0, 0), uv=(model.vt, model.ft), image=image)
    add_spheres(res.joints[0], (-0.55, -0.3, 0))
    side = add_mesh("side", res.vertices[0], model.faces, (0.0, 0, 0))
    side.rotation_euler = (0, 0, np.pi / 2)
    side.location = (1.0, 0, 0)
    scene.display.shading.color_type = "TEXTURE"
    add_camera((0.1, -6.0, -0.3), (0.1, 0.0, -0.3), ortho_scale=3.4)
    render(out / "open-rest-uv.png")


def posed(model, out):
    reset_scene(900, 642)
    pose = np.zeros(model.pose_size, np.float32)
    names = model.joint_names

    def setj(name, aa):
        j = names.index(name)
        pose[3 * j : 3 * j + 3] = aa

    setj("left_hip", (-0.9, 0, 0.1))
    setj("right_hip", (0.45, 0, -0.05))
    setj("left_knee", (1.3, 0, 0))
    setj("right_knee", (0.4, 0, 0))
    setj("left_shoulder", (0, 0.3, -1.2))
    setj("right_shoulder", (0, 0.3, 1.25))
    setj("left_elbow", (0, -1.6, 0))
    setj("right_elbow", (0, 0.5, 0))
    setj("spine1", (0.1, 0.15, 0))
    setj("spine3", (0.05, 0.15, 0))
    setj("neck", (0.0, -0.2, 0))
    setj("left_ankle", (0.3, 0, 0))
    with_pc = model.forward(pose=pose).vertices[0]
    plain = core.load_model(model.name)
    plain.posedirs = np.zeros_like(plain.posedirs)
    without = plain.forward(pose=pose).vertices[0]
    add_mesh("with", with_pc, model.faces, (-0.5, 0, 0))
    add_mesh("without", without, model.faces, (0.5, 0, 0), color=(0.76, 0.70, 0.64, 1.0))
    add_camera((1.2, -3.6, 0.2), (0.0, 0.0, -0.45), lens=45)
    render(out / "open-posed.png")


def betas(model, out):
    reset_scene(1400, 380)
    k = 0
    for i in range(3):
        for sign in (-2.0, 2.0):
            b = np.zeros(model.num_betas, np.float32)
            b[i] = sign
            v = model.forward(betas=b).vertices[0]
            v[:, 1] -= v[:, 1].min()  # stand on the floor
            add_mesh(f"b{i}{sign}", v, model.faces, (-4.75 + 1.9 * k, 0, 0))
            k += 1
    add_camera((0.0, -12.0, 0.98), (0.0, 0.0, 0.98), ortho_scale=11.8)
    render(out / "open-betas.png")


def expressions(model, out):
    reset_scene(1200, 280)
    head = model.rest_joints()[15]
    items = [np.zeros(model.num_expressions, np.float32)]
    for i in range(4):
        e = np.zeros(model.num_expressions, np.float32)
        e[i] = 2.0
        items.append(e)
    names = model.joint_names
    for k, e in enumerate(items + [None]):
        pose = np.zeros(model.pose_size, np.float32)
        if e is None:
            e = np.zeros(model.num_expressions, np.float32)
            pose[3 * names.index("jaw") : 3 * names.index("jaw") + 3] = (0.35, 0, 0)
            for eye in ("left_eye_smplhf", "right_eye_smplhf"):
                pose[3 * names.index(eye) : 3 * names.index(eye) + 3] = (0, 0.35, 0)
        v = model.forward(pose=pose, expression=e).vertices[0] - head
        add_mesh(f"e{k}", v, model.faces, (-0.6 + 0.24 * k, 0, 0))
    add_camera((0.0, -3.0, 0.08), (0.0, 0.0, 0.08), ortho_scale=1.45)
    render(out / "open-expressions.png")


def main(argv=None):
    argv = argv if argv is not None else (sys.argv[sys.argv.index("--") + 1 :] if "--" in sys.argv else sys.argv[1:])
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--assets", default=str(ROOT / "assets"))
    ap.add_argument("--out", default=str(ROOT / "docs" / "img"))
    ap.add_argument("--only", choices=("rest", "posed", "betas", "expressions"), action="append")
    args = ap.parse_args(argv)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    smpl = core.load_model(str(pathlib.Path(args.assets) / "open_smpl_neutral.npz"))
    smplx = core.load_model(str(pathlib.Path(args.assets) / "open_smplx_neutral.npz"))
    jobs = {
        "rest": lambda: rest_uv(smpl, out),
        "posed": lambda: posed(smpl, out),
        "betas": lambda: betas(smpl, out),
        "expressions": lambda: expressions(smplx, out),
    }
    for name in args.only or jobs:
        jobs[name]()


if __name__ == "__main__":
    main()
