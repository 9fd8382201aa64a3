# SPDX-License-Identifier: GPL-3.0-or-later
"""Import a motion file (AMASS, Meshcapade .smpl, EasyMocap, SMPLify-X fits, pose files) as an animated body.

Everything is read, converted and validated before the scene is touched (the file, the model, the layout, the rate,
the world frame); only then is the body built or animated, so bad input raises and leaves the scene as it was.

World convention: the motion is re-framed to a Y-up world about the pelvis rest joint ``J_0`` of
the rig that plays it; the rig maps SMPL Y-up to Blender Z-up, so Blender world coordinates equal AMASS (Z-up) world
coordinates exactly. The keys: one new action (named after the file) holds the bones' rotation keys, the pelvis
``location`` keys (SMPL ``transl``), the ``Exp###`` keys and the keyed ``Pose###`` correctives, all written in bulk.
"""

import math
import os
import warnings

import bpy
import numpy as np

from .. import core
from ..core import conversions
from ..core.formats import read_motion
from ..core.model import normalise_gender
from .animation import key_pose_sequence
from .body import Body, body_mesh, load_body_model
from .build import DEFAULT_MAX_BETAS, DEFAULT_MAX_EXPRESSIONS, add_body
from .correctives import key_correctives
from .fcurves import write_fcurves
from .scene import scene_fps, scene_timing, set_frame_range, set_scene_fps, set_scene_timing

__all__ = ["import_motion", "key_motion", "prepare_motion"]

# SMPL and SMPL-H share a shape space; the open bodies have their own (a different template and basis).
_SHARED_SHAPE_SPACES = ({"smpl", "smplh"},)


def motion_name(filepath):
    """Name of the action (and default name of the body) for a motion file or EasyMocap folder."""
    path = os.path.normpath(os.fspath(filepath))
    return os.path.splitext(os.path.basename(path))[0] or "motion"


def _shape_spaces_match(model, motion_kind):
    """True when the motion's betas mean the same shape in ``model`` (official models of a shared kind only)."""
    name = str(getattr(model, "name", ""))
    if name in core.BUILTIN_MODELS or os.path.basename(name).startswith("open_"):  # by name or by asset file
        return False
    return model.kind == motion_kind or any({model.kind, motion_kind} <= s for s in _SHARED_SHAPE_SPACES)


def _new_body_model(model, gender, source):
    """Core model of a new body (a built-in name, a file / folder path, or a core model) and the gender argument."""
    if not isinstance(model, (str, os.PathLike)):
        return load_body_model(model)[0], None
    gender = normalise_gender(gender, source)
    return load_body_model(model, gender)[0], gender


def _fit_coefficients(values, count, what, source):
    """``(n,)`` or ``(F, n)`` coefficients cut or zero-padded to ``count`` columns; a cut of non-zero values warns."""
    values = np.asarray(values, dtype=np.float64)
    n = values.shape[-1]
    if n > count and np.any(values[..., count:] != 0):
        warnings.warn(f"{source}: {n} {what}, the body has {count}: the extra {what} are ignored", stacklevel=3)
    out = np.zeros(values.shape[:-1] + (count,))
    out[..., : min(n, count)] = values[..., :count]
    return out


def prepare_motion(filepath, model, fps, reading=None, rig_betas=None, rig_expression=None):
    """Read and convert a motion for a body of ``model``: everything an import needs, before the scene changes.

    Args:
        filepath: motion file or EasyMocap folder.
        model: core model of the body that plays the motion.
        fps: target frame rate (resampled by time); ``None`` keeps the motion's own rate.
        reading: keyword arguments of ``core.read_motion``: ``up_axis`` (overrides the world the file's data is in),
            ``fps`` (the rate of a file that stores none: EasyMocap, some .npz; such a file is an error without it),
            ``vposer`` (decodes SMPLify-X latent body poses).
        rig_betas (nb,) / rig_expression (ne,): the static shape of an existing body's rig; ``None`` for a new body,
            which takes the motion's betas when the shape spaces match (the motion's kind and an official model).
    Returns:
        dict(motion: Motion (Y-up, ``model.kind``, ``fps``), betas: (nb,) of the rig, expression: (F, ne) or None,
        gender: the motion's gender or None, source_fps, source_frames).
    """
    source = os.fspath(filepath)
    raw = _read(source, model, reading or {})
    if raw.num_frames == 0:
        raise core.MotionFileError(source, "the motion has no frames")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*betas")
        converted = raw.to_kind(model.kind)
    nb = min(model.num_betas, DEFAULT_MAX_BETAS)
    if rig_betas is not None:
        betas = np.asarray(rig_betas, dtype=np.float64)
        if np.any(raw.betas != 0):
            warnings.warn(
                f"{source}: the motion's betas are not applied: the existing body keeps its own shape", stacklevel=2
            )
    elif _shape_spaces_match(model, raw.kind):
        betas = _fit_coefficients(converted.betas if converted.betas.size else np.zeros(nb), nb, "betas", source)
    else:
        betas = np.zeros(nb)
        if np.any(raw.betas != 0):
            warnings.warn(
                f"{source}: the motion's {raw.kind} betas do not carry over to the {model.kind} body "
                f"{model.name!r} (different shape spaces): the body keeps its mean shape",
                stacklevel=2,
            )
    ne = len(rig_expression) if rig_expression is not None else min(model.num_expressions or 0, DEFAULT_MAX_EXPRESSIONS)
    motion = converted.resample(fps) if fps else converted
    expression = None
    if motion.expression is not None and ne:
        expression = _fit_coefficients(motion.expression, ne, "expression coefficients", source)
    static_expression = rig_expression if rig_expression is not None else np.zeros(ne)
    motion = _to_rig_world(motion, model, betas, static_expression)
    return dict(
        motion=motion,
        betas=betas,
        expression=expression,
        gender=raw.gender,
        source_fps=raw.fps,
        source_frames=raw.num_frames,
    )


def _read(source, model, reading):
    """The motion as the file has it (its own kind and betas); EasyMocap data and SMPLify-X fits, which can only be
    read with the body model (J_0, hand PCA), are read with ``model``."""
    with warnings.catch_warnings():  # read_motion's beta warning is replaced by one that knows the model
        warnings.filterwarnings("ignore", message=".*betas")
        if not (os.path.isdir(source) or os.path.splitext(source)[1].lower() == ".pkl"):
            try:
                return read_motion(source, **reading)
            except core.MotionFileError as err:
                if err.needs != "model":
                    raise
        return read_motion(source, model=model, **reading)


def _to_rig_world(motion, model, betas, expression):
    """The motion in a Y-up world about the pelvis rest joint of the rig (its static betas and expression).

    The rig's bones sit at the rest joints of its static shape, so re-framing about that ``J_0`` puts every vertex
    exactly where the motion's own world has it: Blender world == the Z-up data world.
    """
    if motion.up_axis == "Y":
        return motion
    ne = model.num_expressions or 0
    pelvis = model.rest_joints(_pad(betas, model.num_betas), _pad(expression, ne) if ne else None, dtype=np.float64)[0]
    poses = motion.poses.copy()
    poses[:, :3], trans = conversions.reframe(motion.poses[:, :3], motion.trans, conversions.Z_UP_TO_Y_UP, pelvis)
    return motion.copy(poses=poses, trans=trans, up_axis="Y")


def _pad(values, count):
    out = np.zeros(count)
    values = np.asarray(values, dtype=np.float64).reshape(-1)[:count]
    out[: values.size] = values
    return out


def _expression_channels(mesh_obj, count):
    """``[(data_path, 0), ...]`` of the first ``count`` ``Exp###`` keys of the body mesh."""
    blocks = mesh_obj.data.shape_keys.key_blocks
    return [(f'key_blocks["Exp{k:03d}"].value', 0) for k in range(count) if f"Exp{k:03d}" in blocks]


def _assign_action(id_block, action):
    """Make ``action`` the active action of ``id_block``; returns the previous (action, slot) to restore on error."""
    ad = id_block.animation_data or id_block.animation_data_create()
    previous = (ad.action, ad.action_slot)
    ad.action = action
    return previous


def _restore_action(id_block, previous):
    if id_block is None or id_block.animation_data is None:
        return
    id_block.animation_data.action = previous[0]
    if previous[0] is not None and previous[1] is not None:
        id_block.animation_data.action_slot = previous[1]


def import_motion(
    filepath,
    body=None,
    model="open-smplx",
    gender=None,
    fps=None,
    correctives=True,
    name=None,
    frame_start=1,
    up_axis=None,
    vposer=None,
    progress=None,
):
    """Import a motion file as an animation of a new body (``body=None``) or of an existing body.

    Args:
        filepath: AMASS / Meshcapade ``.npz``, ``.smpl``, SMPLify-X ``.pkl``, pose ``.json`` or an EasyMocap folder.
        body: an existing body (armature, its mesh or a bone) to animate; the motion is retargeted to its model kind
            by joint name and the body keeps its shape. ``None`` adds a new body of ``model``.
        model: built-in name, model file path or core model, for a new body.
        gender: gender of a new body (default: the motion's; a missing built-in variant falls back to neutral).
        fps: frame rate to resample to (by time); default the scene's; ``"source"`` keeps the file's own rate.
            A new body sets the scene's rate to it. A number given here is also the rate of a file that stores
            none (EasyMocap): its frames then play one per scene frame; without it such a file is an error.
        correctives: key the ``Pose###`` correctives at every frame.
        name: name of a new body (default: the file's name).
        frame_start: scene frame of the motion's first frame.
        up_axis: the world the data is in, overriding the format's default ("Y", "Z", "camera" for fits).
        vposer: VPoser weights (a checkpoint, its experiment folder or a ``core.vposer.VPoser``) that decode the
            32-value latent body poses of SMPLify-X fits; such a fit is an error without them.
        progress: ``progress(fraction)`` callback, fraction in [0, 1].
    Returns:
        the armature object. Bad input raises a ``ValueError`` (``MotionFileError`` / ``ModelFileError`` naming the
        file) before anything in the scene changes.
    """
    report = progress or (lambda fraction: None)
    scene = bpy.context.scene
    source = os.fspath(filepath)
    reading = dict(up_axis=up_axis, fps=fps if fps not in (None, "source") else None, vposer=vposer)
    if fps == "source":
        fps = None
    else:
        fps = float(fps) if fps else scene_fps(scene)
        if not (math.isfinite(fps) and fps > 0):
            raise ValueError(f"fps must be a positive number, got {fps}")
    report(0.0)
    if body is not None:
        body = Body.of(body)
        prepared = prepare_motion(source, body.model, fps, reading, body.betas, body.expression)
        new_body = {}
    else:
        prepared = _prepare_new(source, model, gender, fps, reading)
        spec = prepared["model_spec"]
        new_body = dict(model=prepared["model"] if spec is None else spec, gender=prepared["gender"])
    report(0.2)
    return key_motion(
        prepared["motion"],
        body,
        betas=prepared["betas"],
        expression=prepared["expression"],
        correctives=correctives,
        name=motion_name(source),
        body_name=name,
        frame_start=frame_start,
        progress=lambda fraction: report(0.2 + 0.8 * fraction),
        **new_body,
    )


def key_motion(
    motion,
    body=None,
    model=None,
    gender=None,
    betas=None,
    expression=None,
    correctives=True,
    name="motion",
    body_name=None,
    frame_start=1,
    progress=None,
):
    """Key a motion ready for a rig (Y-up, the body's kind and rate, :func:`prepare_motion`) on ``body``, or on a new
    body of ``model`` (built-in name, path or core model) with ``gender`` and static ``betas``.

    One new action ``name`` holds the keys: bones, pelvis location, ``expression (F, ne)`` on the ``Exp###`` keys
    when given, and the ``Pose###`` correctives when ``correctives``, from scene frame ``frame_start`` on, one frame
    per scene frame. A new body (named ``body_name``, default ``name``) sets the scene's rate and frame range to the
    motion's. On failure everything is undone (new body, action, scene timing). ``progress(fraction)``. Returns the
    armature.
    """
    report = progress or (lambda fraction: None)
    scene = bpy.context.scene
    frames = frame_start + np.arange(motion.num_frames, dtype=np.float64)
    arm = None if body is None else Body.of(body).armature
    created, previous, action = [], {}, None
    timing = scene_timing(scene)
    try:
        if arm is None:
            arm = add_body(model, gender=gender, betas=np.asarray(betas, np.float32), name=body_name or name)
            created = [arm, body_mesh(arm)]
        body = Body(arm)
        mesh, keys = body.mesh, body.shape_keys
        action = bpy.data.actions.new(name)
        previous[arm] = _assign_action(arm, action)
        if keys is not None:
            previous[keys] = _assign_action(keys, action)
        key_pose_sequence(body, frames, motion.poses, motion.trans)
        report(0.4)
        if expression is not None and keys is not None:
            channels = _expression_channels(mesh, expression.shape[1])
            write_fcurves(keys, channels, frames, expression[:, : len(channels)].T, group="Expression")
        if correctives and keys is not None:
            key_correctives(body, frames=frames, progress=lambda f: report(0.5 + 0.5 * f))
        if created:
            set_frame_range(scene, int(frame_start), int(frame_start + motion.num_frames - 1))
            if abs(scene_fps(scene) - motion.fps) > 1e-9:
                set_scene_fps(scene, motion.fps)
        scene.frame_set(scene.frame_current)
    except BaseException:
        _undo_import(created, previous, action)
        set_scene_timing(scene, timing)
        raise
    report(1.0)
    return arm


def _prepare_new(source, model, gender, fps, reading):
    """Prepare a motion for a new body of ``model``: of ``gender``, else of the motion's own gender."""
    spec = model if isinstance(model, (str, os.PathLike)) else None
    if spec is None or gender is not None:
        model_obj, gender = _new_body_model(model, gender, source)
    else:
        model_obj, gender = _model_of_motion_gender(spec, _motion_gender(source, reading), source)
    prepared = prepare_motion(source, model_obj, fps, reading)
    prepared.update(model=model_obj, gender=gender, model_spec=spec)
    return prepared


def _motion_gender(source, reading):
    """The gender a motion file states, or None (none stated, or a format that needs the model to be read; a bad
    file is reported by the full read that follows)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return read_motion(source, **reading).gender
    except ValueError:
        return None


def _model_of_motion_gender(spec, wanted, source):
    """The model of the motion's gender; when ``spec`` has no such variant (a built-in body still building, a folder
    without it), its default model with a warning. Returns (core model, gender argument)."""
    try:
        return _new_body_model(spec, wanted, source)
    except core.ModelFileError:
        if wanted is None:
            raise
    model_obj, gender = _new_body_model(spec, None, source)
    warnings.warn(
        f"{source}: the motion is {wanted} but {os.fspath(spec)!r} has no {wanted} model: using its "
        f"{model_obj.gender or 'default'} model",
        stacklevel=4,
    )
    return model_obj, gender


def _undo_import(created, previous, action):
    """Put the scene back as it was after a failed build: remove what was created, restore the old actions."""
    for id_block, prev in previous.items():
        try:
            _restore_action(id_block, prev)
        except ReferenceError:
            pass
    if action is not None:
        bpy.data.actions.remove(action)
    arm = created[0] if created else None
    if arm is None:
        return
    mesh_obj = created[1]
    data = [arm.data] + ([mesh_obj.data] if mesh_obj is not None else [])
    materials = list(mesh_obj.data.materials) if mesh_obj is not None else []
    for obj in (mesh_obj, arm):
        if obj is not None:
            bpy.data.objects.remove(obj)
    for block in data:
        (bpy.data.armatures if isinstance(block, bpy.types.Armature) else bpy.data.meshes).remove(block)
    for mat in materials:
        if mat is not None and mat.users == 0:
            bpy.data.materials.remove(mat)
