# SPDX-License-Identifier: GPL-3.0-or-later
"""The demo's preview: a strip of six frames (PNG) and an animated GIF of the walk, rendered with Workbench (bpy,
no GPU needed), the GIF written with Pillow.

``python -m smpl_blender_addon demo`` (scripts/demo.sh) calls :func:`render_strip` and :func:`render_gif` when it
runs from the repository; this script is not part of the extension.
"""

import os
import pathlib
import sys

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import bpy  # noqa: E402
from render_common import add_floor, look_at, read_png, remove_object, render_still, workbench_scene, write_png  # noqa: E402

__all__ = ["render_frames", "render_strip", "render_gif", "write_gif", "strip_frames"]

STRIP_CELLS = 6
STRIP_CELL_SIZE = (320, 480)  # width, height of one preview frame in pixels
GIF_SIZE = (240, 360)
GIF_FRAME_STEP = 2  # 30 fps motion -> 15 fps GIF: smooth enough, half the renders


def strip_frames(frame_start, frame_end, count=STRIP_CELLS):
    """``count`` evenly spaced whole frames from ``frame_start`` to ``frame_end`` (fewer for a short range)."""
    return sorted({int(round(f)) for f in np.linspace(frame_start, frame_end, count)})


def render_frames(arm, path, frames, cell_size=STRIP_CELL_SIZE, camera_offset=(2.1, -3.0, 0.25)):
    """Render the body at ``frames``: a list of (H, W, 4) float RGBA images (top row first).

    The camera follows the pelvis (a 3/4 front view at ``camera_offset`` from it), so the body stays centred while
    it walks over a temporary floor. ``path`` names the temporary render files (removed). The scene's camera,
    frame and render settings are restored afterwards and the helper objects removed.
    """
    scene = bpy.context.scene
    path = pathlib.Path(path)
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
    scene = bpy.context.scene
    cells = render_frames(arm, path, frames or strip_frames(scene.frame_start, scene.frame_end), cell_size)
    for cell in cells[1:]:
        cell[:, :2, :3] = 0.12  # a thin dark line between frames
    return write_png(path, np.concatenate(cells, axis=1))


def render_gif(arm, path, step=GIF_FRAME_STEP, cell_size=GIF_SIZE):
    """Render every ``step``-th frame of the scene range into the looping animated GIF ``path`` (real time)."""
    scene = bpy.context.scene
    images = render_frames(arm, path, range(scene.frame_start, scene.frame_end + 1, step), cell_size)
    rgb = np.round(np.clip(np.stack(images)[..., :3], 0.0, 1.0) * 255).astype(np.uint8)
    return write_gif(path, rgb, scene.render.fps / scene.render.fps_base / step)


def write_gif(path, frames, fps):
    """Write uint8 RGB ``frames`` (N, H, W, 3) as a looping animated GIF at ``fps`` (delays in 1/100 s, at least
    2: browsers slow down shorter ones). One 256-colour palette for all frames, no dither (Workbench pictures have
    flat backgrounds and smooth skin): exact for up to 256 colours, else an octree's (the demo's 60 frames: 0.3 s,
    mean error under 1 of 255, a smaller file than median cut's). Returns the path."""
    from PIL import Image  # (here: only the GIF needs Pillow; the strip renders in a Blender without it)

    count, height, width = frames.shape[:3]
    tall = Image.fromarray(np.ascontiguousarray(frames).reshape(count * height, width, 3), "RGB")
    exact = tall.getcolors(256) is not None
    method = Image.Quantize.MEDIANCUT if exact else Image.Quantize.FASTOCTREE
    indexed = tall.quantize(256, method=method, dither=Image.Dither.NONE)
    images = [indexed.crop((0, k * height, width, (k + 1) * height)) for k in range(count)]
    delay = max(2, int(round(100.0 / fps)))
    images[0].save(path, save_all=True, append_images=images[1:], duration=10 * delay, loop=0, disposal=1)
    return pathlib.Path(path)
