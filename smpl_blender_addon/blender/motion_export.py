# SPDX-License-Identifier: GPL-3.0-or-later
"""A body's animation back to SMPL parameters: AMASS-style ``.npz`` and Meshcapade ``.smpl`` files.

The animation is read in one batched pass (:func:`animation.read_pose_sequence`: F-curves in any rotation mode, or
evaluated frames when constraints are present), as canonical axis-angle in the model's layout. The armature object's
own transform (e.g. after snap-to-ground) is folded into the parameters, so the file describes the body where Blender
shows it: Blender world = ``C`` (data Y-up world), i.e. Blender world == AMASS (Z-up) world.
"""

import bpy
import numpy as np

from ..core import conversions
from ..core.formats import write_amass_npz, write_smpl_codec
from ..core.motion import Motion
from .animation import read_pose_sequence
from .body import Body
from .fcurves import action_frame_range, shape_key_sequence

FORMATS = ("AMASS", "SMPL")
_C = conversions.Y_UP_TO_Z_UP  # SMPL (Y-up) -> Blender (Z-up)


def animation_frame_range(armature):
    """(start, end) whole frames of the body's action, or the scene range when it has none."""
    scene = bpy.context.scene
    return action_frame_range(armature) or (scene.frame_start, scene.frame_end)


def _expression_sequence(body, frames):
    """(F, n) Exp### values at ``frames`` (animated keys sampled, static values otherwise), or None."""
    return None if body.shape_keys is None else shape_key_sequence(body.shape_keys, "Exp", frames)


def body_motion(armature, frame_start=None, frame_end=None, fps=None):
    """The body's animation as a core :class:`Motion` in the Y-up (SMPL) world, at the scene's frame rate or ``fps``."""
    body = Body.of(armature)
    armature, model = body.armature, body.model
    start, end = animation_frame_range(armature)
    start = start if frame_start is None else int(frame_start)
    end = end if frame_end is None else int(frame_end)
    if end < start:
        raise ValueError(f"{armature.name}: frame range {start}..{end} is empty")
    frames = np.arange(start, end + 1, dtype=np.float64)
    poses, transl = read_pose_sequence(body, frames)
    scene = bpy.context.scene
    scene_fps = scene.render.fps / scene.render.fps_base
    motion = Motion(
        fps=scene_fps,
        poses=poses,
        trans=transl,
        betas=body.betas.astype(np.float64),
        expression=_expression_sequence(body, frames),
        gender=body.gender or None,
        kind=model.kind,
        up_axis="Y",
        source=bpy.data.filepath or None,
    )
    betas = motion.betas[: model.num_betas] if motion.betas.size else None
    # Blender's rest bones sit at J(beta, psi_static); the model's pelvis for frame t is at J_0(beta, psi_t). An animated
    # expression moves J_0, so transl takes the difference and the file's forward pass puts the pelvis where Blender does.
    static_pelvis = model.rest_joints(
        betas, body.expression[: model.num_expressions] if model.num_expressions else None
    )[0]
    pelvis = np.broadcast_to(static_pelvis, (len(frames), 3))
    if motion.expression is not None and model.num_expressions:
        pelvis = model.rest_joints(
            np.broadcast_to(betas, (len(frames), betas.size)) if betas is not None else None,
            motion.expression[:, : model.num_expressions],
        )[:, 0]
        motion.trans = motion.trans + static_pelvis - pelvis
    # the armature object's transform T acts in Blender space: in the data (Y-up) world it is C^-1 T C
    bpy.context.view_layer.update()  # matrix_world is stale until the depsgraph has seen the latest transform edits
    world = np.array(armature.matrix_world)
    if not np.allclose(world, np.eye(4), atol=1e-9):
        R = world[:3, :3] / np.linalg.norm(world[:3, :3], axis=0, keepdims=True)
        go, trans = conversions.reframe(motion.poses[:, :3], motion.trans, _C.T @ R @ _C, pelvis)
        motion.poses[:, :3] = go
        motion.trans = trans + _C.T @ world[:3, 3]
    if fps is not None and abs(fps - scene_fps) > 1e-9:
        motion = motion.resample(fps)
    return motion


def export_motion(armature, filepath, format="AMASS", frame_start=None, frame_end=None, fps=None):
    """Write the body's animation as AMASS ``.npz`` (Z-up) or Meshcapade ``.smpl`` (Y-up). Returns the path.

    The file is written atomically and holds numbers only (loads with ``np.load(allow_pickle=False)``).
    """
    body = Body.of(armature)
    format = format.upper()
    if format not in FORMATS:
        raise ValueError(f"unknown motion format {format!r}; use one of {', '.join(FORMATS)}")
    motion = body_motion(body, frame_start, frame_end, fps)
    model = body.model
    if format == "AMASS":
        return write_amass_npz(filepath, motion, model=model)
    return write_smpl_codec(filepath, motion, model=model)
