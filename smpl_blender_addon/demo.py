# SPDX-License-Identifier: GPL-3.0-or-later
"""The demo: an open SMPL-X body walks the bundled demo motion, checked against the core and exported (needs bpy).

    from smpl_blender_addon.demo import run_demo
    run_demo("out/demo")            # or: python -m smpl_blender_addon demo --out out/demo

Everything goes through the public Blender-layer API (``smpl_blender_addon.blender``), as a user's script would:
import the motion onto a new body, key its pose correctives, compare Blender's evaluated mesh at a mid frame with
the core forward pass, export FBX and glTF, write the pose of that frame to JSON, save a .blend and render a preview
strip (Workbench: no GPU needed). Each output is printed as ``demo: <what> <path>``.
"""

import os
import time
import warnings
from pathlib import Path

import numpy as np

__all__ = ["run_demo", "demo_motion_path", "render_strip", "DEMO_MOTION"]

DEMO_MOTION = "demo_motion_smplx.npz"
STRIP_CELLS = 6
STRIP_CELL_SIZE = (320, 480)  # width, height of one preview frame in pixels
MAX_DIFFERENCE_M = 1e-4  # Blender vs core: float32 skinning of ~1 m coordinates stays far below this


def demo_motion_path():
    """Path of the bundled CC0 demo motion (``assets/demo_motion_smplx.npz`` beside or inside the package)."""
    package = Path(__file__).resolve().parent
    for folder in (package / "assets", package.parent / "assets"):
        if (folder / DEMO_MOTION).is_file():
            return folder / DEMO_MOTION
    raise FileNotFoundError(f"{DEMO_MOTION} not found in {package / 'assets'} or {package.parent / 'assets'}")


def _say(what, value):
    print(f"demo: {what:14s} {value}", flush=True)


def _timed(times, step, function, *args, **kwargs):
    start = time.perf_counter()
    result = function(*args, **kwargs)
    times[step] = time.perf_counter() - start
    return result


def _motion_slice(motion_file, frames, out_dir):
    """The motion file to import: ``motion_file`` itself, or its ``frames`` (1-based scene frames, contiguous)
    written to ``out_dir/demo_motion.npz``. Returns (path, Z-up Motion as the file has it)."""
    from .core.motion import read_motion, write_amass_npz

    motion = read_motion(motion_file)
    if frames is None:
        return Path(motion_file), motion
    frames = list(frames)
    first, last = frames[0], frames[-1]
    if frames != list(range(first, last + 1)) or first < 1 or last > motion.num_frames:
        raise ValueError(f"frames must be a contiguous range within 1..{motion.num_frames}, got {frames[:3]}...")
    part = motion.slice(first - 1, last)
    return Path(write_amass_npz(out_dir / "demo_motion.npz", part)), part


def _mesh_difference(arm, motion, index):
    """Max |Blender's evaluated mesh - core forward| (m) at motion frame ``index`` (0-based), Blender world == the
    motion's Z-up world (formats.md §4.4), so the core result needs no axis change."""
    import bpy

    from .blender import body_mesh, body_model
    from .blender.shape import evaluated_vertices_world

    bpy.context.scene.frame_set(bpy.context.scene.frame_start + index)
    model = body_model(arm)
    expression = None if motion.expression is None else motion.expression[index, : model.num_expressions]
    expected = model.forward(betas=motion.betas[: model.num_betas], pose=motion.poses[index], expression=expression,
                             transl=motion.trans[index], dtype=np.float64).vertices[0]  # fmt: skip
    return float(np.abs(evaluated_vertices_world(body_mesh(arm)) - expected).max())


def run_demo(out_dir, model="open-smplx", gender="neutral", motion=None, render=True, frames=None,
             update_docs=False):
    """Build, animate, check, export and render the demo body. Returns a dict of output paths and figures.

    Args:
        out_dir: output folder (created).
        model: body model of the new body (built-in name or official model file).
        gender: its gender.
        motion: motion file (default: the bundled procedural walk, :func:`demo_motion_path`).
        render: render the preview strip (``preview.png``; Workbench, a few seconds per frame on a CPU).
        frames: scene frames of the motion to use (contiguous, 1-based, e.g. ``range(1, 11)``); default all.
        update_docs: also copy the strip to ``docs/img/readme-demo-strip.png`` of the source tree.
    Returns:
        dict: ``blend``, ``fbx``, ``glb``, ``pose_json``, ``motion``, ``preview`` (or None) paths; ``max_difference_m``,
        ``mid_frame``, ``frames``, ``vertices``, ``correctives``, ``seconds`` (per step) and ``total_seconds``.
        Raises RuntimeError when Blender's mesh does not match the core (after writing every output).
    """
    start = time.perf_counter()
    import bpy

    from .blender import body_mesh, body_model, export_fbx, export_gltf, import_motion, write_pose
    from .blender.keyed_correctives import key_correctives

    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    times = {}
    source, motion_z = _motion_slice(Path(motion) if motion else demo_motion_path(), frames, out)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    with warnings.catch_warnings():  # the open body keeps its own (mean) shape: nothing to warn a newcomer about
        warnings.filterwarnings("ignore", message=".*betas")
        arm = _timed(times, "import", import_motion, source, model=model, gender=gender, fps="source",
                     correctives=False, name="demo_body")  # fmt: skip
    body = body_model(arm)
    _timed(times, "correctives", key_correctives, arm, scope="KEYFRAMES")
    mid = motion_z.num_frames // 2
    difference = _timed(times, "check", _mesh_difference, arm, motion_z, mid)
    mid_frame = bpy.context.scene.frame_current
    files = {"motion": source, "pose_json": Path(write_pose(arm, "JSON", out / "demo_pose.json"))}
    files["fbx"] = Path(_timed(times, "fbx", export_fbx, arm, out / "demo.fbx")["path"])
    files["glb"] = Path(_timed(times, "gltf", export_gltf, arm, out / "demo.glb")["path"])
    files["blend"] = out / "demo.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(files["blend"]), check_existing=False)
    files["preview"] = None
    if render:
        files["preview"] = _timed(times, "render", render_strip, arm, out / "preview.png")
        if update_docs:
            docs = Path(__file__).resolve().parent.parent / "docs" / "img" / "readme-demo-strip.png"
            docs.parent.mkdir(parents=True, exist_ok=True)
            docs.write_bytes(files["preview"].read_bytes())
            files["docs_strip"] = docs
    total = time.perf_counter() - start
    _say("body", f"{body.kind} '{arm.name}': {body.num_vertices} vertices, {body.num_joints} joints, "
                 f"{body.posedirs.shape[2]} correctives, {motion_z.num_frames} frames at {motion_z.fps:g} fps")
    _say("check", f"frame {mid_frame}: Blender's evaluated mesh vs core forward: max difference "
                  f"{difference:.3g} m ({difference * 1e3:.4f} mm)")
    for what in ("motion", "blend", "fbx", "glb", "pose_json", "preview", "docs_strip"):
        if files.get(what) is not None:
            _say(what, files[what])
    _say("seconds", ", ".join(f"{k} {v:.1f}" for k, v in times.items()) + f"; total {total:.1f}")
    result = dict(files, max_difference_m=difference, mid_frame=mid_frame, frames=motion_z.num_frames,
                  vertices=body.num_vertices, correctives=int(body.posedirs.shape[2]), seconds=times,
                  total_seconds=total, armature=arm.name, mesh=body_mesh(arm).name)
    if not difference < MAX_DIFFERENCE_M:
        raise RuntimeError(f"demo: Blender's mesh differs from the core forward pass by {difference:.3g} m")
    return result


# ----------------------------------------------------------------------------------------------------------------
# Preview strip (also used by scripts/render_readme.py through scripts/render_common.py).


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
        scene.world = __import__("bpy").data.worlds.new("World")
    scene.world.color = (0.2, 0.2, 0.2)


def look_at(camera, location, target):
    """Place ``camera`` at ``location`` looking at ``target`` (Blender world), its up axis toward +Z."""
    from mathutils import Vector

    camera.location = location
    camera.rotation_euler = (Vector(target) - Vector(location)).to_track_quat("-Z", "Y").to_euler()


def read_png(path):
    """(H, W, 4) float32 RGBA of a PNG, top row first (Blender's pixels are bottom row first)."""
    import bpy

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
    import bpy

    height, width = rgba.shape[:2]
    image = bpy.data.images.new("strip", width, height, alpha=True)
    try:
        image.pixels.foreach_set(np.ascontiguousarray(rgba[::-1], dtype=np.float32).ravel())
        image.save_render(str(path), scene=bpy.context.scene)
    finally:
        bpy.data.images.remove(image)
    return Path(path)


def render_still(scene, path):
    """Render the scene's camera to ``path`` (PNG). Returns the path."""
    import bpy

    scene.render.filepath = str(path)
    bpy.ops.render.render(write_still=True)
    return Path(path)


def strip_frames(frame_start, frame_end, count=STRIP_CELLS):
    """``count`` evenly spaced whole frames from ``frame_start`` to ``frame_end`` (fewer for a short range)."""
    return sorted({int(round(f)) for f in np.linspace(frame_start, frame_end, count)})


def add_floor(size=400.0, color=(0.34, 0.35, 0.37, 1.0), name="demo_floor"):
    """A square floor mesh at Z = 0 centred on the origin (two triangles). Returns the object."""
    import bpy

    half = size / 2
    mesh = bpy.data.meshes.new(name)
    mesh.from_pydata([(-half, -half, 0), (half, -half, 0), (half, half, 0), (-half, half, 0)], [], [(0, 1, 2, 3)])
    material = bpy.data.materials.new(name)
    material.diffuse_color = color
    mesh.materials.append(material)
    floor = bpy.data.objects.new(name, mesh)
    bpy.context.scene.collection.objects.link(floor)
    return floor


def remove_object(obj):
    """Remove an object made for a picture, with its data and materials."""
    import bpy

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


def render_strip(arm, path, frames=None, cell_size=STRIP_CELL_SIZE, camera_offset=(2.1, -3.0, 0.25)):
    """Render the body at ``frames`` (default 6 across the scene range) and paste them side by side into ``path``.

    The camera follows the pelvis (a 3/4 front view at ``camera_offset`` from it), so the body stays centred while
    it walks over a temporary floor. The scene's camera, frame and render settings are restored afterwards and the
    helper objects removed. Returns the path.
    """
    import bpy

    scene = bpy.context.scene
    path = Path(path)
    frames = frames or strip_frames(scene.frame_start, scene.frame_end)
    kept = (scene.camera, scene.frame_current, scene.render.engine, scene.render.resolution_x,
            scene.render.resolution_y, scene.render.filepath)  # fmt: skip
    camera = bpy.data.objects.new("demo_camera", bpy.data.cameras.new("demo_camera"))
    camera.data.lens = 60
    scene.collection.objects.link(camera)
    scene.camera = camera
    floor = add_floor()
    workbench_scene(scene, *cell_size)
    cells = []
    try:
        for frame in frames:
            scene.frame_set(frame)
            pelvis = np.array(arm.matrix_world @ arm.pose.bones["pelvis"].head)  # world position of the pelvis
            target = (pelvis[0], pelvis[1], 0.88)
            look_at(camera, tuple(np.add(target, camera_offset)), target)
            cell = path.with_name(f".{path.stem}-{frame:04d}.png")
            cells.append(read_png(render_still(scene, cell)))
            os.remove(cell)
    finally:
        remove_object(camera)
        remove_object(floor)
        (scene.camera, _, scene.render.engine, scene.render.resolution_x, scene.render.resolution_y,
         scene.render.filepath) = kept  # fmt: skip
        scene.frame_set(kept[1])
    for cell in cells[1:]:
        cell[:, :2, :3] = 0.12  # a thin dark line between frames
    return write_png(path, np.concatenate(cells, axis=1))
