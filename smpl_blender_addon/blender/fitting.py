# SPDX-License-Identifier: GPL-3.0-or-later
"""Fit a body to 3D points (core.fitting) and key the fitted motion on it: points from a file (joints, keypoints,
markers) or from the scene (empties, or the bones of any armature).

World convention, as for imports: the fit runs in the model's Y-up world and the rig maps it to Blender's Z-up world
(``(x, y, z) -> (x, -z, y)``), so points taken from the scene's world (Blender Z-up, metres) are turned into Y-up
(:func:`.body.to_smpl`) and the fitted body sits on them in the scene.
"""

import dataclasses
import re

import bpy
import numpy as np

from ..core.fitting import POINT_LAYOUTS, FitOptions, PointSequence, default_model, fit_points, read_points
from .animation import stepping_frames
from .body import Body, load_body_model, to_smpl
from .build import DEFAULT_MAX_BETAS
from .foreign_rig import smpl_joint_name
from .motion import key_motion, motion_name
from .scene import scene_fps
from .vposer import cached_vposer

__all__ = ["fit_to_points", "points_from_objects"]

_DUPLICATE = re.compile(r"\.\d{3}$")  # Blender's suffix of a copied object's name
_KNOWN_NAMES = frozenset(name for names in POINT_LAYOUTS.values() for name in names)  # joints and keypoints


def fit_to_points(
    points,
    body=None,
    model=None,
    gender=None,
    options=None,
    vposer=None,
    fps=None,
    correctives=True,
    name=None,
    frame_start=1,
    progress=None,
    **reading,
):
    """Fit a body to ``points`` and key the fitted motion on it.

    Args:
        points: a core :class:`~..core.fitting.PointSequence` (Y-up, metres), or a points file / EasyMocap folder
            read by ``core.fitting.read_points`` with ``reading`` (``layout``, ``units``, ``up_axis``, ``person``,
            ``markers``).
        body: an existing body: its model and shape are kept (only the poses are fitted) and the motion is resampled
            to the scene's rate. ``None``: a new body of ``model`` (built-in name, file or core model; default
            :func:`~..core.fitting.default_model`) and ``gender`` with the fitted shape; the scene takes the points'
            rate and frame range.
        options: a core :class:`~..core.fitting.FitOptions` (default: its defaults).
        vposer: VPoser weights (a checkpoint, its experiment folder or a ``core.vposer.VPoser``) whose pose prior
            joins the fit (``options.vposer_weight``).
        fps: the points' rate when they store none.
        correctives: key the ``Pose###`` correctives at every frame.
        name: name of the new action (and body); default the file's name, else "fit".
        frame_start: scene frame of the first point frame.
        progress: ``progress(fraction)``; the fit takes 80 %, keying the rest.
    Returns:
        ``(armature, core FitResult)``. Bad input raises a ``ValueError`` naming the file before the scene changes;
        a failure while keying leaves the scene as it was.
    """
    report = progress or (lambda fraction: None)
    if not isinstance(points, PointSequence):
        points = read_points(points, fps=fps, **reading)
    options = options or FitOptions()
    if vposer is not None:
        options = dataclasses.replace(options, vposer=cached_vposer(vposer))
    new_body = {}
    if body is not None:
        body = Body.of(body)
        fit_model = body.model
        betas = np.asarray(body.betas, np.float64)
        options = dataclasses.replace(options, num_betas=betas.size, betas=betas, fit_shape=False)
    else:
        spec = model or default_model(points)
        fit_model = load_body_model(spec, gender)[0]
        new_body = dict(model=spec, gender=gender)
    result = fit_points(fit_model, points, options, fps=fps, progress=lambda stage, f: report(0.8 * f))
    motion = result.motion
    if body is not None and abs(motion.fps - scene_fps(bpy.context.scene)) > 1e-9:
        motion = motion.resample(scene_fps(bpy.context.scene))
    nb = len(body.betas) if body is not None else min(fit_model.num_betas, DEFAULT_MAX_BETAS)
    action = name or (motion_name(points.source) if points.source else "fit")
    arm = key_motion(
        motion,
        body,
        betas=motion.betas[:nb],
        correctives=correctives,
        name=action,
        frame_start=frame_start,
        progress=lambda f: report(0.8 + 0.2 * f),
        **new_body,
    )
    return arm, result


def points_from_objects(objects, frames=None):
    """Target points from scene objects at ``frames`` (default: the scene's frame range), in the model's Y-up world.

    Empties give one point each, named after the empty; armatures give the head of every bone, named after the bone.
    Names are read as joint names where they spell one (``L_Hip``, ``m_avg_Pelvis``, ``ns:pelvis`` ->
    ``left_hip``, ``pelvis``, ``pelvis``: :func:`.foreign_rig.smpl_joint_name`); keypoint names (``nose``) stay.
    Positions are the evaluated world positions (constraints, parents, drivers included). Bodies of this add-on
    count as armatures. Returns a :class:`~..core.fitting.PointSequence` at the scene's rate; ValueError when no
    object gives points or two give the same name.
    """
    scene = bpy.context.scene
    if frames is None:
        frames = np.arange(scene.frame_start, scene.frame_end + 1, dtype=np.float64)
    frames = np.asarray(frames, dtype=np.float64).reshape(-1)
    empties = [o for o in objects if o.type == "EMPTY"]
    armatures = [o for o in objects if o.type == "ARMATURE"]
    named = [(o.name, o.name) for o in empties]
    named += [(f"{a.name}: {b.name}", b.name) for a in armatures for b in a.pose.bones]
    if not named:
        raise ValueError("no points to fit to: select empties or an armature")
    if not len(frames):
        raise ValueError("no frames to fit: the frame range is empty")
    names = [_point_name(text) for _, text in named]
    seen = {}
    for (label, _), point in zip(named, names):
        if point in seen:
            raise ValueError(f"{seen[point]} and {label} both stand for the point {point!r}: select one of them")
        seen[point] = label
    world = np.empty((len(frames), len(names), 3))
    depsgraph = bpy.context.evaluated_depsgraph_get()
    with stepping_frames(empties + armatures):
        for f, frame in enumerate(frames):
            scene.frame_set(int(np.floor(frame)), subframe=float(frame - np.floor(frame)))
            world[f] = _world_points(empties, armatures, depsgraph)
    return PointSequence(to_smpl(world), names=names, fps=scene_fps(scene), source=None)


def _world_points(empties, armatures, depsgraph):
    """World positions ``(K, 3)`` of the empties, then of every armature's bone heads (pose-bone order)."""
    rows = [np.array(o.evaluated_get(depsgraph).matrix_world.translation) for o in empties]
    for armature in armatures:
        evaluated = armature.evaluated_get(depsgraph)
        heads = np.empty(3 * len(evaluated.pose.bones), dtype=np.float32)
        evaluated.pose.bones.foreach_get("head", heads)
        M = np.array(evaluated.matrix_world)
        rows.extend(heads.reshape(-1, 3) @ M[:3, :3].T + M[:3, 3])
    return np.array(rows, dtype=np.float64).reshape(-1, 3)


def _point_name(name):
    """The joint or keypoint a scene name stands for (exact, lower case, or a joint-name spelling), else the name
    without Blender's ``.001`` suffix (a marker, or a name the fit reports as unknown)."""
    name = _DUPLICATE.sub("", name)
    for candidate in (name, name.rsplit(":", 1)[-1].lower(), smpl_joint_name(name)):
        if candidate in _KNOWN_NAMES:
            return candidate
    return name
