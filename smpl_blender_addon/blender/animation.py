# SPDX-License-Identifier: GPL-3.0-or-later
"""A body's animation as SMPL poses: read in one batched pass, keyed in bulk (F-curves through fcurves.py).

Reading: when the bones are driven by F-curves only, every channel is read straight from its keyframes (or evaluated at
the frames it has no key at) and converted to SMPL rotations in NumPy, whatever each bone's rotation mode
(quaternion, any Euler order, axis-angle). When constraints, drivers or NLA strips are in play, frames are evaluated
by Blender instead (with the body's mesh switched off meanwhile, since its shape keys dominate evaluation cost).
"""

import contextlib

import bpy
import numpy as np
from mathutils import Matrix

from ..core import rotations
from .body import Body
from .fcurves import curves_by_channel, keyframe_frames, sample_fcurve, write_fcurves


def _bone_path(name, prop):
    return f'pose.bones["{bpy.utils.escape_identifier(name)}"].{prop}'


def body_bone_curves(armature):
    """F-curves of the body's pose bones (rotation in each bone's mode and location), by (data_path, index)."""
    body = Body.of(armature)
    names = set(body.joint_names)
    return {
        k: fc
        for k, fc in curves_by_channel(body.armature).items()
        if k[0].startswith("pose.bones[") and k[0].split('"')[1] in names
    }


def bone_keyframe_frames(armature):
    """Frames holding a keyframe of any of the body's bone channels (the frames KEYFRAMES mode keys)."""
    return keyframe_frames(body_bone_curves(armature).values())


def needs_evaluation(armature):
    """True when the bones' local rotations are not given by their F-curves alone (constraints, drivers, NLA)."""
    if any(pb.constraints for pb in armature.pose.bones):
        return True
    ad = armature.animation_data
    if ad is None:
        return False
    return bool(len(ad.drivers)) or any(not track.mute and len(track.strips) for track in ad.nla_tracks)


def _channel_values(curves, frames, prop, size, static):
    """(F, size) values of a bone property: F-curve where there is one, the current static value elsewhere."""
    out = np.broadcast_to(np.asarray(static, dtype=np.float64), (len(frames), size)).copy()
    for i in range(size):
        fc = curves.get((prop, i))
        if fc is not None:
            out[:, i] = sample_fcurve(fc, frames)
    return out


def euler_to_matrix(angles, order):
    """Blender Euler angles ``(..., 3)`` (X, Y, Z values) in rotation ``order`` (e.g. "XYZ": X applied first) -> matrices."""
    R = np.broadcast_to(np.eye(3), angles.shape[:-1] + (3, 3)).copy()
    for axis in order:  # left-multiply: the first axis in the order acts first
        a = angles[..., "XYZ".index(axis)]
        c, s = np.cos(a), np.sin(a)
        M = np.zeros(angles.shape[:-1] + (3, 3))
        i, j = [(1, 2), (2, 0), (0, 1)]["XYZ".index(axis)]
        M[..., "XYZ".index(axis), "XYZ".index(axis)] = 1.0
        M[..., i, i], M[..., j, j], M[..., i, j], M[..., j, i] = c, c, -s, s
        R = M @ R
    return R


def read_pose_sequence(armature, frames, evaluate=None):
    """The body's pose at ``frames``: ``poses (F, 3J)`` canonical Rodrigues (model joint order) and ``transl (F, 3)``.

    ``evaluate``: None chooses (F-curves when bones are driven by F-curves only, see :func:`needs_evaluation`),
    True forces Blender's evaluation frame by frame, False forces F-curves.
    """
    body = Body.of(armature)
    armature = body.armature
    frames = np.asarray(frames, dtype=np.float64).reshape(-1)
    if evaluate is None:
        evaluate = needs_evaluation(armature)
    if evaluate:
        return _read_evaluated(body, frames)
    names = body.joint_names
    curves = {}
    for (path, index), fc in body_bone_curves(body).items():
        curves.setdefault(path.split('"')[1], {})[(path.rsplit(".", 1)[1], index)] = fc
    mats = np.empty((len(frames), len(names), 3, 3))
    for j, name in enumerate(names):
        pb = armature.pose.bones[name]
        c = curves.get(name, {})
        mode = pb.rotation_mode
        if mode == "QUATERNION":
            q = _channel_values(c, frames, "rotation_quaternion", 4, pb.rotation_quaternion)
            mats[:, j] = rotations.quaternion_to_matrix(
                np.where(np.linalg.norm(q, axis=1, keepdims=True) > 0, q, [1, 0, 0, 0])
            )
        elif mode == "AXIS_ANGLE":
            aa = _channel_values(c, frames, "rotation_axis_angle", 4, pb.rotation_axis_angle)
            axis = aa[:, 1:] / np.maximum(np.linalg.norm(aa[:, 1:], axis=1, keepdims=True), 1e-12)
            mats[:, j] = rotations.axis_angle_to_matrix(axis * aa[:, :1])
        else:
            e = _channel_values(c, frames, "rotation_euler", 3, pb.rotation_euler)
            mats[:, j] = euler_to_matrix(e, mode)
    pelvis = armature.pose.bones[names[0]]
    transl = _channel_values(curves.get(names[0], {}), frames, "location", 3, pelvis.location)
    poses = rotations.canonical_axis_angle(rotations.matrix_to_axis_angle(mats)).reshape(len(frames), -1)
    return poses, transl


@contextlib.contextmanager
def stepping_frames(sources):
    """For a block that steps the scene through frames to read ``sources`` (objects): every other mesh is switched
    off meanwhile (shape keys dominate the evaluation cost) and the sources and their parents are switched on
    (Blender does not evaluate hidden objects); the frame and the visibility are restored after."""
    scene = bpy.context.scene
    needed = set()
    for obj in sources:
        while obj is not None and obj not in needed:
            needed.add(obj)
            obj = obj.parent
    switched = [(o, o.hide_viewport, False) for o in needed]
    switched += [(o, o.hide_viewport, True) for o in scene.objects if o.type == "MESH" and o not in needed]
    saved = (scene.frame_current, scene.frame_subframe)
    try:
        for obj, _, hide in switched:
            obj.hide_viewport = hide
        yield
    finally:
        for obj, hidden, _ in switched:
            obj.hide_viewport = hidden
        scene.frame_set(saved[0], subframe=saved[1])


def evaluated_pose_matrices(armature, frame):
    """Step the scene to ``frame`` (its fraction as the subframe) and read the evaluated armature.

    Returns ``(evaluated armature object, armature-space matrices of its pose bones (B, 4, 4) float64)``, in
    ``pose.bones`` order.
    """
    bpy.context.scene.frame_set(int(np.floor(frame)), subframe=float(frame - np.floor(frame)))
    evaluated = armature.evaluated_get(bpy.context.evaluated_depsgraph_get())
    flat = np.empty(16 * len(evaluated.pose.bones), dtype=np.float32)
    evaluated.pose.bones.foreach_get("matrix", flat)
    return evaluated, flat.reshape(-1, 4, 4).transpose(0, 2, 1).astype(np.float64)


def _read_evaluated(body, frames):
    """Step the scene through ``frames`` (meshes switched off: :func:`stepping_frames`) and read the evaluated bone
    matrices.

    The local rotation is recovered from the armature-space pose matrices ``P`` and rest matrices ``M``:
    ``L_i = (M_p^-1 M_i)^-1 P_p^-1 P_i`` (``L_0 = M_0^-1 P_0``), so constraints, IK and drivers are included.
    """
    armature = body.armature
    order = body.bone_order
    n = len(armature.pose.bones)
    rest = np.empty(16 * n, dtype=np.float32)
    bone_index = {b.name: i for i, b in enumerate(armature.data.bones)}
    armature.data.bones.foreach_get("matrix_local", rest)
    rest = rest.reshape(-1, 4, 4).transpose(0, 2, 1).astype(np.float64)
    rest = rest[[bone_index[pb.name] for pb in armature.pose.bones]]  # pose-bone order
    pose_index = {pb.name: i for i, pb in enumerate(armature.pose.bones)}
    parent = np.array([pose_index[pb.parent.name] if pb.parent else -1 for pb in armature.pose.bones])
    has_parent = parent >= 0
    rel = rest.copy()  # M_p^-1 M_i, the rest transform of each bone relative to its parent
    rel[has_parent] = np.linalg.inv(rest[parent[has_parent]]) @ rest[has_parent]
    rel_inv = np.linalg.inv(rel)
    mats = np.empty((len(frames), len(order), 3, 3))
    transl = np.empty((len(frames), 3))
    with stepping_frames([armature]):
        for f, frame in enumerate(frames):
            _, P = evaluated_pose_matrices(armature, frame)
            parent_pose = np.where(has_parent[:, None, None], P[parent.clip(0)], np.eye(4))
            local = rel_inv @ np.linalg.inv(parent_pose) @ P
            local = local[order]
            mats[f] = local[:, :3, :3] / np.linalg.norm(local[:, :3, :3], axis=1, keepdims=True)
            transl[f] = local[0, :3, 3]
    poses = rotations.canonical_axis_angle(rotations.matrix_to_axis_angle(mats)).reshape(len(frames), -1)
    return poses, transl


def key_pose_sequence(armature, frames, poses, transl=None, group_by_bone=True):
    """Key the body's bones with ``poses (F, 3J)`` Rodrigues (and the pelvis location with ``transl (F, 3)``).

    Each bone keeps its rotation mode: quaternion bones get quaternion keys (sign-continuous), Euler bones Euler keys
    (unwrapped to stay continuous), axis-angle bones axis-angle keys.
    """
    body = Body.of(armature)
    armature = body.armature
    names = body.joint_names
    F = len(frames)
    poses = np.asarray(poses, dtype=np.float64).reshape(F, len(names), 3)
    quats = rotations.axis_angle_to_quaternion(poses)  # (F, J, 4)
    # shortest-arc continuity: flip a quaternion when it points away from the previous frame's
    for f in range(1, F):
        flip = np.sum(quats[f] * quats[f - 1], axis=-1) < 0
        quats[f, flip] *= -1
    for j, name in enumerate(names):
        pb = armature.pose.bones[name]
        mode = pb.rotation_mode
        if mode == "QUATERNION":
            prop, vals = "rotation_quaternion", quats[:, j].T
        elif mode == "AXIS_ANGLE":
            r = poses[:, j]
            angle = np.linalg.norm(r, axis=1)
            axis = np.where(angle[:, None] > 1e-12, r / np.maximum(angle, 1e-12)[:, None], [0.0, 0.0, 1.0])
            prop, vals = "rotation_axis_angle", np.concatenate([angle[:, None], axis], 1).T
        else:
            prop, vals = (
                "rotation_euler",
                np.unwrap(matrix_to_euler(rotations.axis_angle_to_matrix(poses[:, j]), mode), axis=0).T,
            )
        channels = [(_bone_path(name, prop), i) for i in range(vals.shape[0])]
        write_fcurves(armature, channels, frames, vals, group=name if group_by_bone else None)
    if transl is not None:
        write_fcurves(
            armature,
            [(_bone_path(names[0], "location"), i) for i in range(3)],
            frames,
            np.asarray(transl, dtype=np.float64).reshape(F, 3).T,
            group=names[0],
        )


def matrix_to_euler(R, order):
    """Rotation matrices ``(..., 3, 3)`` -> Blender Euler angles ``(..., 3)`` (X, Y, Z values) for rotation ``order``."""
    flat = np.asarray(R, dtype=np.float64).reshape(-1, 3, 3)
    out = np.array([Matrix(m.tolist()).to_euler(order) for m in flat])
    return out.reshape(np.shape(R)[:-2] + (3,))
