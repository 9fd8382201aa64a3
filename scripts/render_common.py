# SPDX-License-Identifier: GPL-3.0-or-later
"""Workbench rendering helpers shared by the picture scripts and the demo's preview (bpy, no GPU needed).

Render settings, camera aiming, stills, PNG reading / writing, the floor and small flat-colour meshes, a fresh
scene, text labels, the rig drawn as octahedral bones (armatures are overlays: a render does not draw them) and
compositing. Used by render_demo.py (the demo's preview strip and GIF), render_readme.py and render_open_bodies.py.
"""

import pathlib
import sys

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
import bpy  # noqa: E402
from mathutils import Vector  # noqa: E402

__all__ = [
    "ROOT",
    "workbench_scene",
    "look_at",
    "reset_scene",
    "add_camera",
    "add_floor",
    "flat_mesh_object",
    "add_label",
    "bone_mesh",
    "render_still",
    "read_png",
    "write_png",
    "over",
    "remove_object",
    "render_layers",
]

# Octahedral bone in bone space (Y along the bone, length 1), as Blender draws it: head, tail, a square at 1/10.
_OCTA_VERTS = np.array([(0, 0, 0), (0, 1, 0), (0.1, 0.1, 0.1), (-0.1, 0.1, 0.1), (-0.1, 0.1, -0.1), (0.1, 0.1, -0.1)])
_OCTA_FACES = np.array([(0, 3, 2), (0, 4, 3), (0, 5, 4), (0, 2, 5), (1, 2, 3), (1, 3, 4), (1, 4, 5), (1, 5, 2)])


def workbench_scene(scene, width, height):
    """Set ``scene`` up for a quick, GPU-free Workbench render: studio light, cavity, grey world, no film."""
    scene.render.engine = "BLENDER_WORKBENCH"
    scene.render.resolution_x, scene.render.resolution_y = width, height
    scene.render.resolution_percentage = 100
    scene.render.image_settings.file_format = "PNG"
    scene.render.image_settings.color_mode = "RGB"
    scene.render.image_settings.compression = 90  # smaller files; the pictures go into the repository
    scene.display.render_aa = "8"
    shading = scene.display.shading
    shading.light = "STUDIO"
    shading.color_type = "MATERIAL"
    shading.show_cavity = True
    shading.cavity_type = "WORLD"
    shading.show_shadows = False
    scene.view_settings.view_transform = "Standard"
    if scene.world is None:
        scene.world = bpy.data.worlds.new("World")
    scene.world.color = (0.2, 0.2, 0.2)


def look_at(camera, location, target):
    """Place ``camera`` at ``location`` looking at ``target`` (Blender world), its up axis toward +Z."""
    camera.location = location
    camera.rotation_euler = (Vector(target) - Vector(location)).to_track_quat("-Z", "Y").to_euler()


def read_png(path):
    """(H, W, 4) float32 RGBA of a PNG, top row first (Blender's pixels are bottom row first)."""
    image = bpy.data.images.load(str(path), check_existing=False)
    try:
        width, height = image.size
        pixels = np.empty(width * height * 4, dtype=np.float32)
        image.pixels.foreach_get(pixels)
    finally:
        bpy.data.images.remove(image)
    return pixels.reshape(height, width, 4)[::-1]


def write_png(path, rgba):
    """Write (H, W, 4) float RGBA (top row first) as an 8-bit PNG with the scene's image settings (RGB, compressed)."""
    height, width = rgba.shape[:2]
    image = bpy.data.images.new("strip", width, height, alpha=True)
    try:
        image.pixels.foreach_set(np.ascontiguousarray(rgba[::-1], dtype=np.float32).ravel())
        image.save_render(str(path), scene=bpy.context.scene)
    finally:
        bpy.data.images.remove(image)
    return pathlib.Path(path)


def render_still(scene, path):
    """Render the scene's camera to ``path`` (PNG). Returns the path."""
    scene.render.filepath = str(path)
    bpy.ops.render.render(write_still=True)
    return pathlib.Path(path)


def add_floor(size=400.0, color=(0.34, 0.35, 0.37, 1.0), name="demo_floor"):
    """A square floor mesh at Z = 0 centred on the origin. Returns the object."""
    half = size / 2
    return flat_mesh_object(
        name, [(-half, -half, 0), (half, -half, 0), (half, half, 0), (-half, half, 0)], [(0, 1, 2, 3)], color
    )


def flat_mesh_object(name, verts, faces, color):
    """A small mesh object (Blender-space ``verts``, ``faces``) with one flat-colour material, linked to the scene."""
    mesh = bpy.data.meshes.new(name)
    mesh.from_pydata(list(verts), [], list(faces))
    material = bpy.data.materials.new(name)
    material.diffuse_color = color
    mesh.materials.append(material)
    obj = bpy.data.objects.new(name, mesh)
    bpy.context.scene.collection.objects.link(obj)
    return obj


def remove_object(obj):
    """Remove an object made for a picture, with its data and materials."""
    data = obj.data
    materials = list(getattr(data, "materials", ()))
    bpy.data.objects.remove(obj)
    if isinstance(data, bpy.types.Mesh):
        bpy.data.meshes.remove(data)
    elif isinstance(data, bpy.types.Camera):
        bpy.data.cameras.remove(data)
    for material in materials:
        if material is not None and material.users == 0:
            bpy.data.materials.remove(material)


def reset_scene(width, height):
    """An empty factory scene set up for Workbench at ``width`` x ``height`` pixels. Returns the scene."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    workbench_scene(scene, width, height)
    return scene


def add_camera(location, target, lens=50.0):
    """A perspective camera at ``location`` aimed at ``target`` (Blender world), made the scene camera."""
    camera = bpy.data.objects.new("camera", bpy.data.cameras.new("camera"))
    camera.data.lens = lens
    bpy.context.scene.collection.objects.link(camera)
    look_at(camera, location, target)
    bpy.context.scene.camera = camera
    return camera


def add_label(text, location, size=0.09, color=(0.95, 0.95, 0.95, 1.0), facing=(0.0, 0.0, 0.0)):
    """A text object standing upright (in the XZ plane, readable from -Y), centred on ``location``.

    ``facing``: extra rotation (Euler XYZ, radians) added to the upright one, e.g. to face a turned camera.
    """
    curve = bpy.data.curves.new("label", "FONT")
    curve.body = text
    curve.size = size
    curve.align_x = "CENTER"
    curve.align_y = "CENTER"
    material = bpy.data.materials.new("label")
    material.diffuse_color = color
    curve.materials.append(material)
    label = bpy.data.objects.new("label", curve)
    label.location = location
    label.rotation_euler = (np.pi / 2 + facing[0], facing[1], facing[2])
    bpy.context.scene.collection.objects.link(label)
    return label


def bone_mesh(armature, color=(1.0, 0.55, 0.1, 1.0), name="bones", width=0.09, max_width=0.025):
    """The rig as octahedral sticks from each joint to its child joints (world space), like Blender's connected
    octahedral bones, built from the evaluated pose bones' heads (= the joints). Returns the object.

    The add-on's bones do not point at their children (their tails only fix the bone axes), so drawing the bones
    themselves would show spikes; the sticks show the skeleton the body is skinned to.
    """
    depsgraph = bpy.context.evaluated_depsgraph_get()
    evaluated = armature.evaluated_get(depsgraph)
    world = np.array(evaluated.matrix_world)
    heads = {b.name: world[:3, :3] @ np.array(b.head) + world[:3, 3] for b in evaluated.pose.bones}
    pairs = [(b.parent.name, b.name) for b in evaluated.pose.bones if b.parent is not None]
    start = np.array([heads[p] for p, _ in pairs])  # (B, 3)
    end = np.array([heads[c] for _, c in pairs])
    verts = np.concatenate([_octahedra(start, end, width, max_width), _joint_balls(np.array(list(heads.values())))])
    count = len(pairs)
    faces = np.concatenate([_OCTA_FACES + 6 * k for k in range(count + len(heads))])
    return flat_mesh_object(name, verts.tolist(), faces.tolist(), color)


def _octahedra(start, end, width, max_width):
    """(6B, 3) vertices of octahedra from ``start`` (B, 3) to ``end`` (B, 3), square section at 1/10 of the way."""
    axis = end - start
    length = np.linalg.norm(axis, axis=1, keepdims=True)
    y = axis / np.maximum(length, 1e-9)
    helper = np.where(np.abs(y[:, 2:3]) < 0.9, [[0.0, 0.0, 1.0]], [[1.0, 0.0, 0.0]])
    x = np.cross(y, helper)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    z = np.cross(x, y)
    half = np.minimum(width * length, max_width)  # (B, 1): thin sticks for long bones, in proportion for fingers
    frame = np.stack([x * half, y * length, z * half], axis=1)  # (B, 3, 3) rows: scaled x, y, z axes
    unit = _OCTA_VERTS.copy()
    unit[:, [0, 2]] /= 0.1  # the square's half width is `half`, not 1/10 of the length
    return (np.einsum("vi,bij->bvj", unit, frame) + start[:, None]).reshape(-1, 3)


def _joint_balls(points, radius=0.012):
    """(6P, 3) vertices of small octahedra centred on the joints ``points`` (P, 3)."""
    unit = np.array([(0, -1, 0), (0, 1, 0), (1, 0, 0), (0, 0, 1), (-1, 0, 0), (0, 0, -1)], dtype=float)
    return (points[:, None] + radius * unit[None]).reshape(-1, 3)


def over(front, back, opacity=1.0):
    """Alpha-composite ``front`` (H, W, 4) over ``back`` (H, W, 4) with an extra ``opacity``. Returns (H, W, 4)."""
    alpha = front[..., 3:4] * opacity
    out = back.copy()
    out[..., :3] = front[..., :3] * alpha + back[..., :3] * (1.0 - alpha)
    return out


def render_layers(scene, path, layers):
    """Render ``layers`` (lists of objects, back first) one at a time, each alone and the later ones on a
    transparent film, and return the (H, W, 4) images. Objects of other layers are hidden while one renders."""
    everything = [obj for layer in layers for obj in layer]
    images = []
    for k, layer in enumerate(layers):
        for obj in everything:
            obj.hide_render = obj not in layer
        scene.render.film_transparent = k > 0
        scene.render.image_settings.color_mode = "RGBA" if k > 0 else "RGB"
        images.append(read_png(render_still(scene, path)))
    for obj in everything:
        obj.hide_render = False
    scene.render.film_transparent = False
    scene.render.image_settings.color_mode = "RGB"
    return images
