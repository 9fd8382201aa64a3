# SPDX-License-Identifier: GPL-3.0-or-later
"""The scene's timing: frame rate (as Blender stores it) and frame range, set in an order Blender does not clamp."""

import math


def scene_fps(scene):
    """The scene's frame rate in frames per second (``render.fps / render.fps_base``)."""
    return scene.render.fps / scene.render.fps_base


def set_scene_fps(scene, fps):
    """Set the scene's rate to ``fps`` exactly as Blender stores rates: an integer ``fps`` over ``fps_base``
    (29.97 -> 30 / 1.001). Returns the rate set."""
    whole = max(1, int(math.ceil(fps - 1e-6)))
    scene.render.fps = whole
    scene.render.fps_base = whole / fps
    return scene_fps(scene)


def set_frame_range(scene, start, end):
    """Set the scene range in the order that keeps start <= end at every step (Blender clamps the other end)."""
    if end >= scene.frame_start:
        scene.frame_end, scene.frame_start = end, start
    else:
        scene.frame_start, scene.frame_end = start, end


def scene_timing(scene):
    """What :func:`set_scene_timing` puts back: rate and range."""
    return scene.render.fps, scene.render.fps_base, scene.frame_start, scene.frame_end


def set_scene_timing(scene, timing):
    fps, fps_base, start, end = timing
    scene.render.fps, scene.render.fps_base = fps, fps_base
    set_frame_range(scene, start, end)
