# SPDX-License-Identifier: GPL-3.0-or-later
"""What an export changes in the scene for a while, and puts back: frame range, selection, visibility, names; the
output file moved into place only on success."""

import contextlib
import os
import shutil
import tempfile

import bpy

from ...core.file_io import publish
from ..scene import set_frame_range


@contextlib.contextmanager
def atomic_output(filepath):
    """Yield a temporary path with the target's file name in a hidden folder beside it; move it into place on success.

    The temporary file keeps the final name, so nothing an exporter derives from the name (glTF's .bin uri for
    separate files, texture folders) changes. On any error the temporary folder is removed and no partial file is left
    at ``filepath``.
    """
    filepath = os.path.abspath(os.fspath(filepath))
    folder = os.path.dirname(filepath)
    os.makedirs(folder, exist_ok=True)
    tmpdir = tempfile.mkdtemp(prefix=".smpl-export-", dir=folder)
    try:
        tmp = os.path.join(tmpdir, os.path.basename(filepath))
        yield tmp
        if not os.path.isfile(tmp):
            raise RuntimeError(f"{filepath}: the exporter wrote no file")
        publish(tmp, filepath)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


@contextlib.contextmanager
def scene_kept(objects, frame_start, frame_end):
    """Restore selection, active object, frame, frame range and the objects' hide flags on exit.

    The exported objects are made visible in the viewport meanwhile (the depsgraph skips ``hide_viewport`` objects,
    so their animation would not be evaluated).
    """
    scene = bpy.context.scene
    view_layer = bpy.context.view_layer
    saved_frame = (scene.frame_current, scene.frame_subframe)
    saved_range = (scene.frame_start, scene.frame_end)
    saved_active = view_layer.objects.active
    saved_selected = [o for o in view_layer.objects if o.select_get()]
    saved_hidden = [(o, o.hide_viewport, o.hide_get()) for o in objects]
    saved_mode = saved_active.mode if saved_active is not None else "OBJECT"
    try:
        if saved_mode not in ("OBJECT", "POSE"):  # edit / paint modes: flush their data to the mesh before copying it
            bpy.ops.object.mode_set(mode="OBJECT")
        for o in objects:
            o.hide_viewport = False
            if o.hide_get():
                o.hide_set(False)
        for o in objects:
            if not o.visible_get(view_layer=view_layer):
                raise ValueError(
                    f"{o.name}: not visible in the view layer (excluded or hidden collection?); "
                    "Blender does not evaluate its animation there"
                )
        if frame_start is not None:
            set_frame_range(scene, frame_start, frame_end)
        yield
    finally:
        set_frame_range(scene, *saved_range)
        for o, hide_viewport, hidden in saved_hidden:
            o.hide_viewport = hide_viewport
            o.hide_set(hidden)
        for o in view_layer.objects:
            o.select_set(False)
        for o in saved_selected:
            if o.name in view_layer.objects:
                o.select_set(True)
        view_layer.objects.active = saved_active
        if saved_active is not None and saved_active.mode != saved_mode:
            with contextlib.suppress(RuntimeError):
                bpy.ops.object.mode_set(mode=saved_mode)
        scene.frame_set(saved_frame[0], subframe=saved_frame[1])


def call_exporter(operator, objects, **kwargs):
    """Run an export operator with ``objects`` as the selection and the first as the active object."""
    view_layer = bpy.context.view_layer
    for o in view_layer.objects:
        if o.select_get():
            o.select_set(False)
    for o in objects:
        o.select_set(True)
    view_layer.objects.active = objects[0]
    with bpy.context.temp_override(selected_objects=list(objects), active_object=objects[0], object=objects[0]):
        result = operator(**kwargs)
    if "FINISHED" not in result:
        raise RuntimeError(f"{kwargs.get('filepath')}: the exporter returned {result}")


@contextlib.contextmanager
def frame_progress(progress, start, end):
    """Call ``progress(fraction)`` once per frame the scene steps to (the exporters bake frame by frame)."""
    if progress is None:
        yield
        return
    count = [0]
    total = max(end - start + 1, 1)

    def on_frame(scene, depsgraph=None):
        count[0] += 1
        progress(min(count[0] / total, 1.0))

    bpy.app.handlers.frame_change_post.append(on_frame)
    try:
        yield
    finally:
        bpy.app.handlers.frame_change_post.remove(on_frame)


@contextlib.contextmanager
def scene_named(name):
    """The scene carries ``name`` meanwhile: Blender's FBX exporter names the take after the scene."""
    scene = bpy.context.scene
    saved = scene.name
    scene.name = name
    try:
        yield
    finally:
        scene.name = saved


def swap_names(pairs):
    """Give each ``new`` ID the name of its ``old`` partner (the old one gets a temporary name). Returns the undo."""
    undo = []
    for old, new in pairs:
        name = old.name
        old.name = name + ".smpl-export-original"
        new.name = name
        undo.append((old, new, name))
    return undo


def restore_names(undo):
    for old, new, name in reversed(undo):
        with contextlib.suppress(ReferenceError):
            new.name = name + ".smpl-export-copy"
        old.name = name
