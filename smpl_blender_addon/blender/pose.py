# SPDX-License-Identifier: GPL-3.0-or-later
"""Read and write SMPL poses (Rodrigues vectors) on a body's pose bones, in whatever rotation mode each bone uses.

Because every rest bone has the SMPL axes (see body.py), a pose bone's ``matrix_basis`` rotation is the SMPL
parent-relative rotation R_i and the pelvis bone's location is the SMPL ``transl`` (metres, SMPL axes). Rotation modes
are never changed: a bone animated in Euler keeps its mode and its F-curves.
"""

import json
import os
import sys

import numpy as np
from mathutils import Quaternion

from ..core import layouts, rotations
from ..core.file_io import atomic_write
from ..core.formats import pose_files
from .body import PROP_GENDER, PROP_KIND, body_betas, body_expression, body_model, find_body

HAND_PRESETS = ("FLAT", "RELAXED")
POSE_TARGETS = ("CONSOLE", "JSON", "NPZ")


def _joint_names(armature):
    return list(armature.get("smpl_joint_names") or body_model(armature).joint_names)


def _pose_bone_order(armature, joint_names):
    """Index into ``armature.pose.bones`` (hierarchy order) for each joint (model order). (J,) int64."""
    position = {pb.name: i for i, pb in enumerate(armature.pose.bones)}
    missing = [n for n in joint_names if n not in position]
    if missing:
        raise ValueError(f"{armature.name}: missing bones {', '.join(missing[:5])}")
    return np.array([position[n] for n in joint_names], dtype=np.int64)


def basis_rotations(armature):
    """Local rotation matrices of the body's joints from ``matrix_basis``, model order. (J, 3, 3) float64.

    One bulk ``foreach_get``; the scale of a bone's basis is divided out. Batchable: a sequence reader can stack frames.
    """
    bones = armature.pose.bones
    flat = np.empty(16 * len(bones), dtype=np.float32)
    bones.foreach_get("matrix_basis", flat)
    mats = flat.reshape(-1, 4, 4).transpose(0, 2, 1)  # RNA matrices are column-major
    mats = mats[_pose_bone_order(armature, _joint_names(armature)), :3, :3].astype(np.float64)
    return mats / np.linalg.norm(mats, axis=1, keepdims=True)


def rotations_to_pose(mats):
    """(..., J, 3, 3) rotations -> (..., 3J) canonical Rodrigues vectors (|r| <= pi), float64."""
    r = rotations.canonical_axis_angle(rotations.matrix_to_axis_angle(np.asarray(mats, dtype=np.float64)))
    return r.reshape(r.shape[:-2] + (-1,))


def get_pose(armature):
    """Current pose: (3J,) float64 canonical Rodrigues vectors, pelvis first, model joint order."""
    armature = find_body(armature) or armature
    return rotations_to_pose(basis_rotations(armature))


def get_translation(armature):
    """SMPL-space ``transl`` of the body (the pelvis bone's location), (3,) float64.

    The armature object's own transform (e.g. from snap_to_ground) is the body's world placement on top of it.
    """
    armature = find_body(armature) or armature
    pelvis = armature.pose.bones[_joint_names(armature)[0]]
    return np.array(pelvis.location, dtype=np.float64)


def _write_rotations(armature, joint_indices, rotvecs):
    """Set the local rotations of the given joints from Rodrigues vectors, each bone in its own rotation mode."""
    names = _joint_names(armature)
    quats = rotations.axis_angle_to_quaternion(np.asarray(rotvecs, dtype=np.float64).reshape(-1, 3))
    for j, q in zip(joint_indices, quats.tolist()):
        bone = armature.pose.bones[names[j]]
        mode = bone.rotation_mode
        if mode == "QUATERNION":
            bone.rotation_quaternion = q
        elif mode == "AXIS_ANGLE":
            axis, angle = Quaternion(q).to_axis_angle()
            bone.rotation_axis_angle = (angle, axis[0], axis[1], axis[2])
        else:  # Euler: the closest equivalent to the current value keeps F-curves continuous
            bone.rotation_euler = Quaternion(q).to_euler(mode, bone.rotation_euler)


def set_pose(armature, pose, transl=None):
    """Set the body's pose from (3J,) Rodrigues vectors in the model layout; ``transl`` (3,) SMPL space if given.

    Quaternion bones get the quaternion directly; Euler / axis-angle bones the same rotation in their own mode.
    Correctives are not touched: call correctives.update_correctives afterwards.
    """
    armature = find_body(armature) or armature
    names = _joint_names(armature)
    pose = np.asarray(pose, dtype=np.float64).reshape(-1)
    if pose.size != 3 * len(names):
        raise ValueError(
            f"{armature.name}: a pose needs {3 * len(names)} values (3 x {len(names)} joints), got {pose.size}"
        )
    if not np.all(np.isfinite(pose)):
        raise ValueError(f"{armature.name}: the pose contains NaN or infinite values")
    _write_rotations(armature, range(len(names)), pose)
    if transl is not None:
        transl = np.asarray(transl, dtype=np.float64).reshape(-1)
        if transl.size != 3:
            raise ValueError(f"{armature.name}: transl needs 3 values, got {transl.size}")
        armature.pose.bones[names[0]].location = transl.tolist()


def reset_pose(armature):
    """Rest pose: identity rotations (in each bone's mode), zero locations, unit scales, zero correctives."""
    armature = find_body(armature) or armature
    for bone in armature.pose.bones:
        bone.location = (0.0, 0.0, 0.0)
        bone.scale = (1.0, 1.0, 1.0)
        bone.rotation_quaternion = (1.0, 0.0, 0.0, 0.0)
        bone.rotation_axis_angle = (0.0, 0.0, 1.0, 0.0)
        bone.rotation_euler = (0.0, 0.0, 0.0)
    from .correctives import update_correctives

    update_correctives(armature)


def finger_joint_indices(kind):
    """Indices of the 30 finger joints (left 15 then right 15), or None for models without fingers."""
    slices = layouts.hand_slices(kind)
    if slices is None:
        return None
    left, right = (s.start // 3 for s in slices)
    return np.concatenate([np.arange(left, left + 15), np.arange(right, right + 15)])


def set_hand_pose(armature, preset="FLAT"):
    """FLAT: zero finger rotations (the rest mesh's flat hands). RELAXED: the model's hand mean, added in axis-angle
    space to the flat reference (formats.md §2.4, §4.6). Other joints are unchanged. Correctives are updated."""
    armature = find_body(armature) or armature
    preset = preset.upper()
    if preset not in HAND_PRESETS:
        raise ValueError(f"unknown hand preset {preset!r}; use one of {', '.join(HAND_PRESETS)}")
    model = body_model(armature)
    fingers = finger_joint_indices(model.kind)
    if fingers is None:
        raise ValueError(f"{armature.name}: a {model.kind} body has no finger joints")
    values = np.zeros((30, 3))
    if preset == "RELAXED":
        if model.hands_mean_left is None or model.hands_mean_right is None:
            raise ValueError(f"{armature.name}: the model file has no relaxed hand mean (hands_mean)")
        values = np.concatenate([np.asarray(model.hands_mean_left), np.asarray(model.hands_mean_right)]).reshape(30, 3)
    _write_rotations(armature, fingers.tolist(), values)
    from .correctives import update_correctives

    update_correctives(armature)


def format_pose_console(pose, joint_names):
    """Pastable text: a ``pose = [...]`` line of 3J floats, then one commented line per joint."""
    pose = np.asarray(pose, dtype=np.float64).reshape(-1)
    flat = ", ".join(repr(float(v)) for v in pose)
    lines = [f"pose = [{flat}]"]
    for j, name in enumerate(joint_names):
        x, y, z = (float(v) for v in pose[3 * j : 3 * j + 3])
        lines.append(f"# {j:2d} {name}: [{x!r}, {y!r}, {z!r}]")
    return "\n".join(lines) + "\n"


def pose_record(armature):
    """Everything write_pose stores: pose (3J,), trans (3,), betas, expression, kind, gender, joint names."""
    armature = find_body(armature) or armature
    return {
        "pose": get_pose(armature),
        "trans": get_translation(armature),
        "betas": body_betas(armature).astype(np.float64),
        "expression": body_expression(armature).astype(np.float64),
        "model": armature.get(PROP_KIND, ""),
        "gender": armature.get(PROP_GENDER, ""),
        "joint_names": _joint_names(armature),
    }


def write_pose(armature, target="CONSOLE", filepath=None):
    """Write the current pose. CONSOLE: print the text to stdout and return it. JSON / NPZ: write ``filepath``
    atomically and return its path. JSON: {"pose", "trans", "betas", "expression", "model", "gender", "joint_names"};
    NPZ: numeric arrays only (pose, trans, betas, expression), readable with np.load(allow_pickle=False)."""
    armature = find_body(armature) or armature
    target = target.upper()
    if target not in POSE_TARGETS:
        raise ValueError(f"unknown pose target {target!r}; use one of {', '.join(POSE_TARGETS)}")
    record = pose_record(armature)
    if target == "CONSOLE":
        text = format_pose_console(record["pose"], record["joint_names"])
        sys.stdout.write(text)
        return text
    if not filepath:
        raise ValueError(f"write_pose to {target} needs a filepath")
    filepath = os.path.abspath(os.fspath(filepath))
    if target == "JSON":
        data = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in record.items()}
        atomic_write(filepath, lambda stream: json.dump(data, stream), mode="w")
    else:
        arrays = {
            k: np.asarray(v, dtype=np.float64)
            for k, v in record.items()
            if k in ("pose", "trans", "betas", "expression")
        }
        atomic_write(filepath, lambda stream: np.savez(stream, **arrays))
    return filepath


def load_pose(armature, filepath):
    """Set the body from a pose file (JSON / .npz / .npy / .pkl, see core.formats): pose, transl if present, and
    betas / expression if present (fitted to the body's keys). Correctives are updated. Returns the parsed dict.
    Raises core.MotionFileError (naming the file) before changing anything if the file does not fit."""
    armature = find_body(armature) or armature
    data = pose_files.read_pose_file(filepath, body_model(armature))
    from .correctives import update_correctives
    from .shape import set_shape

    if data["betas"] is not None or data["expression"] is not None:
        nb, ne = body_betas(armature).size, body_expression(armature).size
        betas = None if data["betas"] is None else data["betas"][:nb]
        expression = None if data["expression"] is None or ne == 0 else data["expression"][:ne]
        set_shape(armature, betas=betas, expression=expression)
    set_pose(armature, data["pose"], transl=data["transl"])
    update_correctives(armature)
    return data
