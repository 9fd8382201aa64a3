# SPDX-License-Identifier: GPL-3.0-or-later
"""The demo: an open SMPL-X body walks the bundled demo motion, checked against the core and exported (needs bpy).

    from smpl_blender_addon.demo import run_demo
    run_demo("out/demo")            # or: python -m smpl_blender_addon demo --out out/demo

Everything goes through the public Blender-layer API (``smpl_blender_addon.blender``), as a user's script would:
import the motion onto a new body, key its pose correctives, compare Blender's evaluated mesh at a mid frame with
the core forward pass, export FBX and glTF, write the pose of that frame to JSON, save a .blend and render a preview
strip (Workbench: no GPU needed). Each output is printed as ``demo: <what> <path>``.
"""

import contextlib
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

__all__ = ["run_demo", "demo_motion_path", "render_frames", "render_strip", "render_gif", "write_gif", "DEMO_MOTION"]

DEMO_MOTION = "demo_motion_smplx.npz"
STRIP_CELLS = 6
STRIP_CELL_SIZE = (320, 480)  # width, height of one preview frame in pixels
GIF_SIZE = (240, 360)
GIF_FRAME_STEP = 2  # 30 fps motion -> 15 fps GIF: smooth enough, half the renders
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


def _said(what, path):
    """Print ``demo: <what> <path>`` as soon as an output exists (progress for a long run); returns the path."""
    _say(what, path)
    return path


@contextlib.contextmanager
def _output_to(log_path):
    """Send everything written to the process's stdout / stderr (Blender's exporter and render chatter, harmless
    EGL warnings of a headless render) to ``log_path`` for the duration of the block, so that the demo prints only
    its own lines. File-descriptor level, because Blender writes from C."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(log_path, "ab") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def _timed(times, step, function, *args, **kwargs):
    """``function(*args, **kwargs)`` with its seconds stored in ``times[step]`` and Blender's output in
    ``times["log"]`` (a path) when that is set."""
    start = time.perf_counter()
    with _output_to(times["log"]) if times.get("log") else contextlib.nullcontext():
        result = function(*args, **kwargs)
    times[step] = time.perf_counter() - start
    return result


def _motion_slice(motion_file, frames, out_dir):
    """The motion file to import: ``motion_file`` itself, or its ``frames`` (1-based scene frames, contiguous)
    written to ``out_dir/demo_motion.npz`` (AMASS, Z-up) or ``.smpl`` (Y-up). Returns (path, Motion as read)."""
    from .core.formats import read_motion, write_amass_npz, write_smpl_codec

    motion = read_motion(motion_file)
    if frames is None:
        return Path(motion_file), motion
    frames = list(frames)
    first, last = frames[0], frames[-1]
    if frames != list(range(first, last + 1)) or first < 1 or last > motion.num_frames:
        raise ValueError(f"frames must be a contiguous range within 1..{motion.num_frames}, got {frames[:3]}...")
    part = motion.slice(first - 1, last)
    if part.up_axis == "Z":  # each world in its own format, so nothing is re-framed
        return Path(write_amass_npz(out_dir / "demo_motion.npz", part)), part
    return Path(write_smpl_codec(out_dir / "demo_motion.smpl", part)), part


def _reference_vertices(arm, motion, index):
    """(V, 3) core forward pass of motion frame ``index`` (0-based) for the body ``arm`` in Blender's world.

    The body plays the motion in its own layout with its own shape (an open body keeps its mean shape), so the
    reference uses the body's model, betas and expression keys. A Z-up motion's world is Blender's world exactly
    (formats.md §4.4); a Y-up one is turned by the rig's SMPL -> Blender axis change.
    """
    from .blender.body import body_betas, body_expression, body_model, to_blender

    model = body_model(arm)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # dropped betas / expression are expected here, not news
        motion = motion.to_kind(model.kind)
    expression = body_expression(arm)
    if motion.expression is not None and expression.size:
        values = motion.expression[index, : expression.size]
        expression = np.concatenate([values, np.zeros(expression.size - values.size)])
    vertices = model.forward(
        betas=body_betas(arm),
        pose=motion.poses[index],
        transl=motion.trans[index],
        expression=expression if expression.size else None,
        dtype=np.float64,
    ).vertices[0]
    return vertices if motion.up_axis == "Z" else to_blender(vertices)


def _mesh_difference(arm, motion, index):
    """Max |Blender's evaluated mesh - core forward| (m) at motion frame ``index`` (0-based)."""
    import bpy

    from .blender import body_mesh
    from .blender.shape import evaluated_vertices_world

    bpy.context.scene.frame_set(bpy.context.scene.frame_start + index)
    expected = _reference_vertices(arm, motion, index)
    return float(np.abs(evaluated_vertices_world(body_mesh(arm)) - expected).max())


def run_demo(
    out_dir, model="open-smplx", gender="neutral", motion=None, render=True, frames=None, update_docs=False, gif=True
):
    """Build, animate, check, export and render the demo body. Returns a dict of output paths and figures.

    Starts from an empty factory scene (``read_factory_settings``): run it headless (command line, scripts), not in
    a Blender session whose scene you want to keep.

    Args:
        out_dir: output folder (created).
        model: body model of the new body (built-in name or official model file).
        gender: its gender.
        motion: motion file (default: the bundled procedural walk, :func:`demo_motion_path`).
        render: render the preview strip (``preview.png``, 6 frames) and animation (``preview.gif``, 15 fps) with
            Workbench (CPU only; about half a minute for the 4 s demo motion on 2 cores).
        frames: scene frames of the motion to use (contiguous, 1-based, e.g. ``range(1, 11)``); default all.
        update_docs: also copy the strip to ``docs/img/readme-demo-strip.png`` of the source tree.
        gif: with ``render``, also render the animated GIF.
    Returns:
        dict: ``blend``, ``fbx``, ``glb``, ``pose_json``, ``motion``, ``preview``, ``preview_gif`` (or None),
        ``blender_log`` (Blender's own output) paths (``docs_strip`` with ``update_docs``); ``max_difference_m``,
        ``mid_frame``, ``frames``, ``vertices``, ``correctives``, ``seconds`` (per step) and ``total_seconds``.
        Raises RuntimeError when Blender's mesh does not match the core (after writing every output).
    """
    start = time.perf_counter()
    import bpy

    from .blender import body_mesh, body_model, export_fbx, export_gltf, import_motion, write_pose
    from .blender.correctives import key_correctives

    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    log = out / "blender.log"
    log.write_bytes(b"")
    times = {"log": log}
    source, played = _motion_slice(Path(motion) if motion else demo_motion_path(), frames, out)
    files = {"motion": source}
    _say("motion", source)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    with warnings.catch_warnings():  # the open body keeps its own (mean) shape: nothing to warn a newcomer about
        warnings.filterwarnings("ignore", message=".*betas")
        arm = _timed(
            times,
            "import",
            import_motion,
            source,
            model=model,
            gender=gender,
            fps="source",
            correctives=False,
            name="demo_body",
        )
    body = body_model(arm)
    _timed(times, "correctives", key_correctives, arm, scope="KEYFRAMES")
    _say(
        "body",
        f"{body.kind} '{arm.name}': {body.num_vertices} vertices, {body.num_joints} joints, "
        f"{body.posedirs.shape[2]} correctives keyed at {played.num_frames} frames ({played.fps:g} fps)",
    )
    difference = _timed(times, "check", _mesh_difference, arm, played, played.num_frames // 2)
    mid_frame = bpy.context.scene.frame_current
    _say(
        "check",
        f"frame {mid_frame}: Blender's evaluated mesh vs core forward: max difference "
        f"{difference:.3g} m ({difference * 1e3:.4f} mm)",
    )
    files["pose_json"] = _said("pose_json", Path(write_pose(arm, "JSON", out / "demo_pose.json")))
    files["fbx"] = _said("fbx", Path(_timed(times, "fbx", export_fbx, arm, out / "demo.fbx")["path"]))
    files["glb"] = _said("glb", Path(_timed(times, "gltf", export_gltf, arm, out / "demo.glb")["path"]))
    _timed(times, "blend", bpy.ops.wm.save_as_mainfile, filepath=str(out / "demo.blend"), check_existing=False)
    files["blend"] = _said("blend", out / "demo.blend")
    files["preview"] = files["preview_gif"] = None
    if render:
        files["preview"] = _said("preview", _timed(times, "render", render_strip, arm, out / "preview.png"))
        if gif:
            files["preview_gif"] = _said("preview_gif", _timed(times, "gif", render_gif, arm, out / "preview.gif"))
        if update_docs:
            docs = Path(__file__).resolve().parent.parent / "docs" / "img"
            docs.mkdir(parents=True, exist_ok=True)
            strip = docs / "readme-demo-strip.png"
            strip.write_bytes(files["preview"].read_bytes())
            files["docs_strip"] = _said("docs_strip", strip)
    files["blender_log"] = _said("blender_log", times.pop("log"))
    total = time.perf_counter() - start
    _say("seconds", ", ".join(f"{k} {v:.1f}" for k, v in times.items()) + f"; total {total:.1f}")
    result = dict(
        files,
        max_difference_m=difference,
        mid_frame=mid_frame,
        frames=played.num_frames,
        vertices=body.num_vertices,
        correctives=int(body.posedirs.shape[2]),
        seconds=times,
        total_seconds=total,
        armature=arm.name,
        mesh=body_mesh(arm).name,
    )
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
    """A square floor mesh at Z = 0 centred on the origin. Returns the object."""
    half = size / 2
    return flat_mesh_object(
        name, [(-half, -half, 0), (half, -half, 0), (half, half, 0), (-half, half, 0)], [(0, 1, 2, 3)], color
    )


def flat_mesh_object(name, verts, faces, color):
    """A small mesh object (Blender-space ``verts``, ``faces``) with one flat-colour material, linked to the scene."""
    import bpy

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


def render_frames(arm, path, frames, cell_size=STRIP_CELL_SIZE, camera_offset=(2.1, -3.0, 0.25)):
    """Render the body at ``frames``: a list of (H, W, 4) float RGBA images (top row first).

    The camera follows the pelvis (a 3/4 front view at ``camera_offset`` from it), so the body stays centred while
    it walks over a temporary floor. ``path`` names the temporary render files (removed). The scene's camera,
    frame and render settings are restored afterwards and the helper objects removed.
    """
    import bpy

    scene = bpy.context.scene
    path = Path(path)
    kept = (
        scene.camera,
        scene.frame_current,
        scene.render.engine,
        scene.render.resolution_x,
        scene.render.resolution_y,
        scene.render.filepath,
    )
    camera = bpy.data.objects.new("demo_camera", bpy.data.cameras.new("demo_camera"))
    camera.data.lens = 60
    scene.collection.objects.link(camera)
    scene.camera = camera
    floor = add_floor()
    workbench_scene(scene, *cell_size)
    images = []
    try:
        for frame in frames:
            scene.frame_set(frame)
            pelvis = np.array(arm.matrix_world @ arm.pose.bones["pelvis"].head)  # world position of the pelvis
            target = (pelvis[0], pelvis[1], 0.88)
            look_at(camera, tuple(np.add(target, camera_offset)), target)
            still = path.with_name(f".{path.stem}-{frame:04d}.png")
            images.append(read_png(render_still(scene, still)))
            os.remove(still)
    finally:
        remove_object(camera)
        remove_object(floor)
        (
            scene.camera,
            _,
            scene.render.engine,
            scene.render.resolution_x,
            scene.render.resolution_y,
            scene.render.filepath,
        ) = kept
        scene.frame_set(kept[1])
    return images


def render_strip(arm, path, frames=None, cell_size=STRIP_CELL_SIZE):
    """Render the body at ``frames`` (default 6 across the scene range) side by side into the PNG ``path``."""
    import bpy

    scene = bpy.context.scene
    cells = render_frames(arm, path, frames or strip_frames(scene.frame_start, scene.frame_end), cell_size)
    for cell in cells[1:]:
        cell[:, :2, :3] = 0.12  # a thin dark line between frames
    return write_png(path, np.concatenate(cells, axis=1))


def render_gif(arm, path, step=GIF_FRAME_STEP, cell_size=GIF_SIZE):
    """Render every ``step``-th frame of the scene range into the looping animated GIF ``path`` (real time)."""
    import bpy

    from .blender.scene import scene_fps

    scene = bpy.context.scene
    images = render_frames(arm, path, range(scene.frame_start, scene.frame_end + 1, step), cell_size)
    rgb = np.round(np.clip(np.stack(images)[..., :3], 0.0, 1.0) * 255).astype(np.uint8)
    return write_gif(path, rgb, scene_fps(scene) / step)


# ----------------------------------------------------------------------------------------------------------------
# Animated GIF (no imaging library needed: a 256-colour palette and a plain LZW encoder, GIF89a).


def gif_palette(frames):
    """A 256-colour palette for uint8 RGB ``frames`` (N, H, W, 3) and the frames as palette indices (N, H, W) uint8.

    Colours are binned at 5 bits per channel; the 256 most frequent bins (their mean colours) form the palette and
    every bin maps to its nearest palette colour. Workbench pictures (flat backgrounds, smooth skin) need no dither.
    """
    rgb = frames.reshape(-1, 3)
    bins = (rgb[:, 0].astype(np.int64) >> 3) << 10 | (rgb[:, 1].astype(np.int64) >> 3) << 5 | (rgb[:, 2] >> 3)
    counts = np.bincount(bins, minlength=1 << 15)
    sums = np.stack([np.bincount(bins, weights=rgb[:, c], minlength=1 << 15) for c in range(3)], axis=1)
    used = np.flatnonzero(counts)
    top = used[np.argsort(-counts[used], kind="stable")[:256]]
    palette = np.zeros((256, 3))
    palette[: len(top)] = sums[top] / counts[top, None]
    means = sums[used] / counts[used, None]
    nearest = np.argmin(((means[:, None, :] - palette[None, : len(top), :]) ** 2).sum(axis=2), axis=1)
    lut = np.zeros(1 << 15, dtype=np.uint8)
    lut[used] = nearest
    return np.round(palette).astype(np.uint8), lut[bins].reshape(frames.shape[:3])


def lzw_encode(indices, min_code_size=8):
    """GIF LZW code stream (bytes, before sub-blocking) of a flat sequence of 8-bit palette ``indices``."""
    clear, end = 1 << min_code_size, (1 << min_code_size) + 1
    width, next_code, table = min_code_size + 1, end + 1, {}
    out, bits, nbits = bytearray(), 0, 0

    def emit(code):
        nonlocal bits, nbits
        bits |= code << nbits
        nbits += width
        while nbits >= 8:
            out.append(bits & 0xFF)
            bits >>= 8
            nbits -= 8

    emit(clear)
    data = indices.tolist()
    prefix = data[0]
    for pixel in data[1:]:
        key = prefix << 8 | pixel
        code = table.get(key)
        if code is not None:
            prefix = code
            continue
        emit(prefix)
        table[key] = next_code
        next_code += 1
        if next_code - 1 == 1 << width and width < 12:  # the decoder widens one entry later than the encoder adds
            width += 1
        if next_code == 4096:  # table full: start over (the decoder resets on the clear code)
            emit(clear)
            width, next_code, table = min_code_size + 1, end + 1, {}
        prefix = pixel
    emit(prefix)
    emit(end)
    if nbits:
        out.append(bits & 0xFF)
    return bytes(out)


def _sub_blocks(data):
    chunks = [data[i : i + 255] for i in range(0, len(data), 255)]
    return b"".join(bytes([len(c)]) + c for c in chunks) + b"\x00"


def write_gif(path, frames, fps):
    """Write uint8 RGB ``frames`` (N, H, W, 3) as a looping animated GIF at ``fps`` (delays in 1/100 s). Returns
    the path."""
    import struct

    count, height, width = frames.shape[:3]
    palette, indices = gif_palette(frames)
    delay = max(2, int(round(100.0 / fps)))
    parts = [
        b"GIF89a",
        struct.pack("<HHBBB", width, height, 0xF7, 0, 0),
        palette.tobytes(),
        b"\x21\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00",
    ]
    for k in range(count):
        parts.append(struct.pack("<BBBBHBB", 0x21, 0xF9, 4, 0x04, delay, 0, 0))  # keep each frame until the next
        parts.append(struct.pack("<BHHHHB", 0x2C, 0, 0, width, height, 0))
        parts.append(b"\x08" + _sub_blocks(lzw_encode(indices[k].reshape(-1))))
    parts.append(b"\x3b")
    Path(path).write_bytes(b"".join(parts))
    return Path(path)
