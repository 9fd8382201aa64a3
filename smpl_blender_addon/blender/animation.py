# SPDX-License-Identifier: GPL-3.0-or-later
"""Bulk animation I/O of bodies: read a body's animation as SMPL poses in one batched pass, write F-curves in bulk.

Reading: when the bones are driven by F-curves only, every channel is read straight from its keyframes (or evaluated at
the frames it has no key at) and converted to SMPL rotations in NumPy, whatever each bone's rotation mode
(quaternion, any Euler order, axis-angle). When constraints, drivers or NLA strips are in play, frames are evaluated
by Blender instead (with the body's mesh switched off meanwhile, since its shape keys dominate evaluation cost).

Writing: ``keyframe_points.add`` + ``foreach_set`` per F-curve on Blender 4.4+/5.x layered actions (never
``keyframe_insert`` per key, which is quadratic), replacing earlier keys inside the written span and keeping the rest.
"""

import re

import bpy
import numpy as np

from ..core import rotations
from .pose import _joint_names, _pose_bone_order

ROTATION_CHANNELS = {"QUATERNION": ("rotation_quaternion", 4), "AXIS_ANGLE": ("rotation_axis_angle", 4)}
_EULER = ("XYZ", "XZY", "YXZ", "YZX", "ZXY", "ZYX")


def _bone_path(name, prop):
    return f'pose.bones["{bpy.utils.escape_identifier(name)}"].{prop}'


def _suitable_slot(action, id_type):
    """First slot of ``action`` that can animate an ID of ``id_type`` (or an unspecified one), or None."""
    return next((slot for slot in action.slots if slot.target_id_type in ("UNSPECIFIED", id_type)), None)


def _slot_channelbag(action, slot, create):
    """The channelbag of ``slot`` in the first keyframe strip holding one (made on the first layer / strip if
    ``create``), or None.

    Written on the layered-action RNA API (Blender 4.4+) itself: bpy_extras.anim_utils gained its slot and
    ensure-channelbag helpers only in 5.0.
    """
    for layer in action.layers:
        for strip in layer.strips:
            bag = strip.channelbag(slot)
            if bag is not None:
                return bag
    if not create:
        return None
    layer = action.layers[0] if len(action.layers) else action.layers.new("Layer")
    strip = layer.strips[0] if len(layer.strips) else layer.strips.new(type="KEYFRAME")
    return strip.channelbag(slot, ensure=True)


def channelbag(id_block, create=False):
    """The channelbag (F-curves of the assigned action slot) of ``id_block``, or None; ``create`` makes an action."""
    ad = id_block.animation_data
    if ad is None or ad.action is None:
        if not create:
            return None
        ad = ad or id_block.animation_data_create()
        ad.action = bpy.data.actions.new(f"{id_block.name}Action")
    if ad.action_slot is None:
        if not create:
            return None
        slot = _suitable_slot(ad.action, id_block.id_type)
        ad.action_slot = slot or ad.action.slots.new(id_block.id_type, id_block.name)
    return _slot_channelbag(ad.action, ad.action_slot, create)


def _curves(id_block):
    bag = channelbag(id_block)
    return {} if bag is None else {(fc.data_path, fc.array_index): fc for fc in bag.fcurves}


def keyframe_frames(fcurves):
    """Sorted unique frames (float64) holding a keyframe on any of ``fcurves``."""
    frames = [np.empty(0)]
    for fc in fcurves:
        co = np.empty(2 * len(fc.keyframe_points), dtype=np.float32)
        fc.keyframe_points.foreach_get("co", co)
        frames.append(co[0::2])
    return np.unique(np.concatenate(frames).astype(np.float64))


def sample_fcurve(fc, frames):
    """Values of one F-curve at ``frames`` (F,): exact keys are read in bulk, other frames evaluated."""
    co = np.empty(2 * len(fc.keyframe_points), dtype=np.float32)
    fc.keyframe_points.foreach_get("co", co)
    key_frames, key_values = co[0::2].astype(np.float64), co[1::2].astype(np.float64)
    out = np.empty(len(frames), dtype=np.float64)
    hit = np.zeros(len(frames), dtype=bool)
    if len(key_frames) and not fc.modifiers:  # modifiers change values even at keys
        pos = np.searchsorted(key_frames, frames).clip(0, len(key_frames) - 1)
        hit = np.abs(key_frames[pos] - frames) < 1e-4
    if hit.any():
        out[hit] = key_values[pos[hit]]
    for i in np.flatnonzero(~hit):
        out[i] = fc.evaluate(frames[i])
    return out


def shape_key_sequence(key, prefix, frames):
    """``(F, n)`` values of the ``<prefix>###`` shape keys of ``key`` at ``frames`` (animated keys sampled, the static
    value otherwise), or None when there is no such key."""
    blocks = [b for b in key.key_blocks if re.fullmatch(prefix + r"\d{3}", b.name)]
    if not blocks:
        return None
    bag = channelbag(key)
    out = np.empty((len(frames), len(blocks)))
    for i, block in enumerate(blocks):
        fc = bag.fcurves.find(f'key_blocks["{block.name}"].value') if bag is not None else None
        out[:, i] = sample_fcurve(fc, frames) if fc is not None else block.value
    return out


def body_bone_curves(armature):
    """F-curves of the body's pose bones (rotation in each bone's mode and location), by (data_path, index)."""
    names = set(_joint_names(armature))
    return {
        k: fc for k, fc in _curves(armature).items() if k[0].startswith("pose.bones[") and k[0].split('"')[1] in names
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
    frames = np.asarray(frames, dtype=np.float64).reshape(-1)
    if evaluate is None:
        evaluate = needs_evaluation(armature)
    if evaluate:
        return _read_evaluated(armature, frames)
    names = _joint_names(armature)
    curves = {}
    for (path, index), fc in body_bone_curves(armature).items():
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


def _read_evaluated(armature, frames):
    """Step the scene through ``frames`` with the body's mesh disabled and read the evaluated bone matrices.

    The local rotation is recovered from the armature-space pose matrices ``P`` and rest matrices ``M``:
    ``L_i = (M_p^-1 M_i)^-1 P_p^-1 P_i`` (``L_0 = M_0^-1 P_0``), so constraints, IK and drivers are included.
    """
    from .body import body_mesh

    scene = bpy.context.scene
    names = _joint_names(armature)
    order = _pose_bone_order(armature, names)
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
    mesh = body_mesh(armature)
    saved = (scene.frame_current, scene.frame_subframe)
    hidden = None if mesh is None else mesh.hide_viewport
    mats = np.empty((len(frames), len(names), 3, 3))
    transl = np.empty((len(frames), 3))
    try:
        if mesh is not None:
            mesh.hide_viewport = True
        for f, frame in enumerate(frames):
            _, P = evaluated_pose_matrices(armature, frame)
            parent_pose = np.where(has_parent[:, None, None], P[parent.clip(0)], np.eye(4))
            local = rel_inv @ np.linalg.inv(parent_pose) @ P
            local = local[order]
            mats[f] = local[:, :3, :3] / np.linalg.norm(local[:, :3, :3], axis=1, keepdims=True)
            transl[f] = local[0, :3, 3]
    finally:
        if mesh is not None:
            mesh.hide_viewport = hidden
        scene.frame_set(saved[0], subframe=saved[1])
    poses = rotations.canonical_axis_angle(rotations.matrix_to_axis_angle(mats)).reshape(len(frames), -1)
    return poses, transl


def _new_fcurve(bag, data_path, index, group=None):
    """A new F-curve in channelbag ``bag``, in the channel group named ``group`` (made if missing) when given."""
    if bpy.app.version >= (5, 0):
        return bag.fcurves.new(data_path, index=index, group_name=group or "")
    fc = bag.fcurves.new(data_path, index=index)  # Blender 4.4 / 4.5: no group_name argument yet
    if group:
        fc.group = bag.groups.get(group) or bag.groups.new(group)
    return fc


def write_fcurves(
    id_block, channels, frames, values, group=None, interpolation="LINEAR", replace="span", delete_frames=()
):
    """Key ``values (C, F)`` at ``frames (F,)`` on the channels ``[(data_path, index), ...]`` of ``id_block``.

    ``replace="span"``: existing keys of these channels inside ``[min(frames), max(frames)]`` are replaced and keys
    outside are kept; ``replace="frames"``: only keys at exactly ``frames`` (and at ``delete_frames``) are replaced.
    One ``keyframe_points.add`` + ``foreach_set`` per channel, never ``keyframe_insert``.
    """
    frames = np.asarray(frames, dtype=np.float64).reshape(-1)
    values = np.asarray(values, dtype=np.float64).reshape(len(channels), len(frames))
    drop = np.concatenate([frames, np.asarray(delete_frames, dtype=np.float64).reshape(-1)])
    if len(drop) == 0:
        return
    bag = channelbag(id_block, create=True)
    interp_enum = bpy.types.Keyframe.bl_rna.properties["interpolation"].enum_items[interpolation].value
    for (path, index), row in zip(channels, values):
        fc = bag.fcurves.find(path, index=index)
        if fc is None:
            if len(frames) == 0:
                continue
            fc = _new_fcurve(bag, path, index, group)
        points = fc.keyframe_points
        co = np.stack([frames, row], 1)
        interp = np.full(len(frames), interp_enum, np.int32)
        if len(points):
            old = np.empty(2 * len(points), dtype=np.float32)
            points.foreach_get("co", old)
            old_interp = np.empty(len(points), dtype=np.int32)
            points.foreach_get("interpolation", old_interp)
            old_frames = old[0::2].astype(np.float64)
            if replace == "span":
                keep = (old_frames < drop.min() - 1e-4) | (old_frames > drop.max() + 1e-4)
            else:
                keep = np.min(np.abs(old_frames[:, None] - drop[None, :]), axis=1) > 1e-4
            co = np.concatenate([old.reshape(-1, 2)[keep], co])
            interp = np.concatenate([old_interp[keep], interp])
            order = np.argsort(co[:, 0], kind="stable")
            co, interp = co[order], interp[order]
            points.clear()
        points.add(len(co))
        points.foreach_set("co", co.astype(np.float32).reshape(-1))
        points.foreach_set("interpolation", interp)
        fc.update()


def key_pose_sequence(armature, frames, poses, transl=None, group_by_bone=True):
    """Key the body's bones with ``poses (F, 3J)`` Rodrigues (and the pelvis location with ``transl (F, 3)``).

    Each bone keeps its rotation mode: quaternion bones get quaternion keys (sign-continuous), Euler bones Euler keys
    (unwrapped to stay continuous), axis-angle bones axis-angle keys.
    """
    names = _joint_names(armature)
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
    from mathutils import Matrix

    flat = np.asarray(R, dtype=np.float64).reshape(-1, 3, 3)
    out = np.array([Matrix(m.tolist()).to_euler(order) for m in flat])
    return out.reshape(np.shape(R)[:-2] + (3,))
