# SPDX-License-Identifier: GPL-3.0-or-later
"""Export an animated body (its armature and skinned mesh, nothing else) to FBX, glTF (.glb) or Alembic.

Every export leaves the scene as it was (selection, active object, frame, frame range, hidden states, temporary
changes), also on error, and writes its file atomically: into a temporary folder beside the target, then
``os.replace``. The frame range defaults to the body's action range (the scene range when it has no action).
"""

import contextlib
import os
import time

import bpy

from .. import compat
from ..body import Body
from ..fcurves import action_frame_range
from .copies import limited_influences, mesh_without_correctives, root_motion_on_the_armature, transformed_copies
from .fast_bake import mesh_off_during_bake, mesh_off_during_sampling
from .fidelity import (
    clip_name,
    fbx_static_values_at_rest,
    fbx_time_stamp,
    glb_rest_and_name,
    rest_key_values,
    set_fbx_time_stamp,
    stable_fbx_ids,
)
from .presets import COPY_TRANSFORMS, CORRECTIVES, axis_conversion, fbx_options, gltf_options
from .scene_state import atomic_output, call_exporter, frame_progress, scene_kept, scene_named


def body_frame_range(armature):
    """(start, end) whole frames: the body's action range (bones, else shape keys), else the scene's range."""
    body = Body.of(armature)
    scene = bpy.context.scene
    return (
        action_frame_range(body.armature) or action_frame_range(body.shape_keys) or (scene.frame_start, scene.frame_end)
    )


def _export_setup(obj, frame_start, frame_end, correctives="keys"):
    """``(body, start, end)`` of a body export, checked before anything changes."""
    if correctives not in CORRECTIVES:
        raise ValueError(f"unknown correctives mode {correctives!r}; use one of {', '.join(CORRECTIVES)}")
    body = Body.of(obj)
    return (body,) + _resolve_range(body, frame_start, frame_end)


def _exported(armature, mesh):
    """The objects an export selects: the armature and its mesh (when it has one) (a body, or its temporary copies)."""
    return [armature] + ([mesh] if mesh is not None else [])


@contextlib.contextmanager
def _export_run(filepath, objects, start, end):
    """What every export does around the exporter: yields ``(ExitStack, temporary output path)``; on leaving, the
    output is moved into place (only on success) and the scene's frame range, selection and frame are restored."""
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(atomic_output(filepath))
        stack.enter_context(scene_kept(objects, start, end))
        yield stack, tmp


def _export_result(filepath, start, end, t0, **extra):
    """The dict every export returns: ``frames``, ``seconds`` since ``t0``, absolute ``path`` (and ``extra``)."""
    return dict(
        frames=end - start + 1, seconds=time.perf_counter() - t0, path=os.path.abspath(os.fspath(filepath)), **extra
    )


def _resolve_range(body, frame_start, frame_end):
    start, end = body_frame_range(body)
    start = start if frame_start is None else int(frame_start)
    end = end if frame_end is None else int(frame_end)
    if end < start:
        raise ValueError(f"frame range {start}..{end} is empty")
    return start, end


def _body_variants(stack, mesh, correctives, max_influences):
    """What both skinned exports may change on a temporary mesh copy: correctives="none", ``max_influences``.
    Returns the number of vertices whose weights were limited."""
    if max_influences is not None and not (isinstance(max_influences, int) and max_influences >= 1):
        raise ValueError(f"max_influences must be a whole number of at least 1, got {max_influences!r}")
    if mesh is not None and correctives == "none":
        stack.enter_context(mesh_without_correctives(mesh))
    return stack.enter_context(limited_influences(mesh, max_influences))


def export_fbx(
    armature,
    filepath,
    target="blender",
    correctives="keys",
    frame_start=None,
    frame_end=None,
    progress=None,
    fast=True,
    name=None,
    max_influences=None,
    time_stamp=None,
    root_motion=True,
):
    """Write the body (armature + skinned mesh, baked animation) to an FBX file.

    target: "blender" | "unity" | "unreal" (docs/fbx-presets.md); correctives: "keys" exports the Pose### keys and
    their animation, "none" leaves them out (skeleton + shape only). Frames default to the body's action range.
    name: the take's name (default: :func:`clip_name`, the motion's). max_influences: at most that many joints per
    vertex (engines that blend 4; :mod:`core.influences`). Static shape-key values are the rest values
    (:func:`rest_key_values`). root_motion (Unreal): the horizontal pelvis motion on the armature node, Unreal's
    root bone (:func:`root_motion_on_the_armature`). time_stamp: the file's creation time (:func:`fbx_time_stamp`;
    fixed, two exports of the same body give the same bytes). progress(fraction) is called per baked frame.
    fast=False runs Blender's exporter unchanged (reference path). Returns ``dict(frames=int, seconds=float,
    path=str, fast=bool, name=str, limited_vertices=int, root_motion=bool)``.
    """
    options = fbx_options(target)
    body, start, end = _export_setup(armature, frame_start, frame_end, correctives)
    armature, mesh = body.armature, body.mesh  # the temporary copies' for Unity and Unreal
    take = clip_name(armature, name)
    t0 = time.perf_counter()
    with _export_run(filepath, _exported(armature, mesh), start, end) as (stack, tmp):
        if target in COPY_TRANSFORMS:
            scale, rotate = COPY_TRANSFORMS[target]
            rotation = axis_conversion(options) if rotate else None
            armature, mesh = stack.enter_context(transformed_copies(armature, mesh, scale, rotation))
        root_motion = target == "unreal" and root_motion and root_motion_on_the_armature(armature, start, end)
        limited = _body_variants(stack, mesh, correctives, max_influences)
        used_fast = stack.enter_context(mesh_off_during_bake(mesh)) if fast else False
        stack.enter_context(fbx_static_values_at_rest(mesh, rest_key_values(body, mesh)))
        stack.enter_context(frame_progress(progress, start, end))
        stack.enter_context(scene_named(take))
        stack.enter_context(stable_fbx_ids())
        call_exporter(bpy.ops.export_scene.fbx, _exported(armature, mesh), filepath=tmp, **options)
        stamp = fbx_time_stamp(time_stamp)
        if stamp is not None:
            set_fbx_time_stamp(tmp, stamp)
    return _export_result(
        filepath, start, end, t0, fast=used_fast, name=take, limited_vertices=limited, root_motion=bool(root_motion)
    )


def export_gltf(
    armature,
    filepath,
    correctives="keys",
    frame_start=None,
    frame_end=None,
    progress=None,
    fast=True,
    name=None,
    max_influences=None,
    morph_normals=True,
):
    """Write the body to a binary glTF (.glb): skin, morph targets with normals (Pose### left out with
    correctives="none") and one animation named ``name`` (default: :func:`clip_name`) sampled at every frame of the
    range, starting at time 0. The mesh's default morph weights are the rest values (:func:`rest_key_values`).
    max_influences: at most that many joints per vertex (default: every influence, in JOINTS_0, JOINTS_1...).
    morph_normals=False leaves the targets' normals out: ~10x faster for a body with 500 keys (Blender's exporter
    reads each key's normals as a Python tuple), with shading that does not follow the shape.
    fast=False runs Blender's exporter unchanged. Returns ``dict(frames, seconds, path, fast, name,
    limited_vertices)``."""
    body, start, end = _export_setup(armature, frame_start, frame_end, correctives)
    armature, mesh = body.armature, body.mesh
    clip = clip_name(armature, name)
    objects = _exported(armature, mesh)
    t0 = time.perf_counter()
    with _export_run(filepath, objects, start, end) as (stack, tmp):
        limited = _body_variants(stack, mesh, correctives, max_influences)
        rest = rest_key_values(body, mesh)
        used_fast = stack.enter_context(mesh_off_during_sampling(armature, mesh)) if fast else False
        stack.enter_context(frame_progress(progress, start, end))
        call_exporter(bpy.ops.export_scene.gltf, objects, filepath=tmp, **gltf_options(morph_normals))
        glb_rest_and_name(tmp, rest, clip)
    return _export_result(filepath, start, end, t0, fast=used_fast, name=clip, limited_vertices=limited)


def export_abc(armature, filepath, frame_start=None, frame_end=None, progress=None):
    """Write the body's evaluated (deformed) mesh per frame to Alembic. Returns ``dict(frames, seconds, path)``.

    Raises ValueError when this Blender is built without Alembic (Debian's packages)."""
    compat.require_alembic()
    body, start, end = _export_setup(armature, frame_start, frame_end)
    objects = _exported(body.armature, body.mesh)
    t0 = time.perf_counter()
    with _export_run(filepath, objects, start, end) as (stack, tmp):
        stack.enter_context(frame_progress(progress, start, end))
        call_exporter(
            bpy.ops.wm.alembic_export,
            objects,
            filepath=tmp,
            start=start,
            end=end,
            selected=True,
            flatten=False,
            uvs=True,
            normals=True,
            face_sets=False,
            apply_subdiv=False,
            export_hair=False,
            export_particles=False,
            export_custom_properties=False,
            as_background_job=False,
            evaluation_mode="VIEWPORT",
            init_scene_frame_range=False,
        )
    return _export_result(filepath, start, end, t0)
