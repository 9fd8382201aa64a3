# SPDX-License-Identifier: GPL-3.0-or-later
"""A body's pose: get / set / reset it, hand presets, pose files and the console text (Rodrigues vectors).

The bones are read and written by bones.py; what changes the pose here also updates the Pose### correctives.
"""

import json
import os
import sys

import numpy as np

from ..core import layouts
from ..core.file_io import atomic_write
from ..core.formats import pose_files
from .body import Body
from .bones import current_pose, pelvis_bone, write_rotations
from .correctives import update_correctives
from .shape import set_shape

HAND_PRESETS = ("FLAT", "RELAXED")
POSE_TARGETS = ("CONSOLE", "JSON", "NPZ")


def get_pose(armature):
    """Current pose: (3J,) float64 canonical Rodrigues vectors, pelvis first, model joint order."""
    return current_pose(Body.of(armature))


def get_translation(armature):
    """SMPL-space ``transl`` of the body (the pelvis bone's location), (3,) float64.

    The armature object's own transform (e.g. from snap_to_ground) is the body's world placement on top of it.
    """
    return np.array(pelvis_bone(Body.of(armature)).location, dtype=np.float64)


def set_pose(armature, pose, transl=None):
    """Set the body's pose from (3J,) Rodrigues vectors in the model layout; ``transl`` (3,) SMPL space if given.

    Quaternion bones get the quaternion directly; Euler / axis-angle bones the same rotation in their own mode.
    Correctives are not touched: call correctives.update_correctives afterwards.
    """
    body = Body.of(armature)
    count = len(body.joint_names)
    pose = np.asarray(pose, dtype=np.float64).reshape(-1)
    if pose.size != 3 * count:
        raise ValueError(f"{body.name}: a pose needs {3 * count} values (3 x {count} joints), got {pose.size}")
    if not np.all(np.isfinite(pose)):
        raise ValueError(f"{body.name}: the pose contains NaN or infinite values")
    write_rotations(body, range(count), pose)
    if transl is not None:
        transl = np.asarray(transl, dtype=np.float64).reshape(-1)
        if transl.size != 3:
            raise ValueError(f"{body.name}: transl needs 3 values, got {transl.size}")
        pelvis_bone(body).location = transl.tolist()


def reset_pose(armature):
    """Rest pose: identity rotations (in each bone's mode), zero locations, unit scales, zero correctives."""
    body = Body.of(armature)
    for bone in body.armature.pose.bones:
        bone.location = (0.0, 0.0, 0.0)
        bone.scale = (1.0, 1.0, 1.0)
        bone.rotation_quaternion = (1.0, 0.0, 0.0, 0.0)
        bone.rotation_axis_angle = (0.0, 0.0, 1.0, 0.0)
        bone.rotation_euler = (0.0, 0.0, 0.0)
    update_correctives(body)


def finger_joint_indices(kind):
    """Indices of the 30 finger joints (left 15 then right 15), or None for models without fingers."""
    slices = layouts.hand_slices(kind)
    if slices is None:
        return None
    left, right = (s.start // 3 for s in slices)
    return np.concatenate([np.arange(left, left + 15), np.arange(right, right + 15)])


def set_hand_pose(armature, preset="FLAT"):
    """FLAT: zero finger rotations (the rest mesh's flat hands). RELAXED: the model's hand mean, added in axis-angle
    space to the flat reference (as smplx's ``flat_hand_mean=False``). Other joints are unchanged. Correctives are
    updated."""
    body = Body.of(armature)
    preset = preset.upper()
    if preset not in HAND_PRESETS:
        raise ValueError(f"unknown hand preset {preset!r}; use one of {', '.join(HAND_PRESETS)}")
    model = body.model
    fingers = finger_joint_indices(model.kind)
    if fingers is None:
        raise ValueError(f"{body.name}: a {model.kind} body has no finger joints")
    values = np.zeros((30, 3))
    if preset == "RELAXED":
        if model.hands_mean_left is None or model.hands_mean_right is None:
            raise ValueError(f"{body.name}: the model file has no relaxed hand mean (hands_mean)")
        values = np.concatenate([np.asarray(model.hands_mean_left), np.asarray(model.hands_mean_right)]).reshape(30, 3)
    write_rotations(body, fingers.tolist(), values)
    update_correctives(body)


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
    body = Body.of(armature)
    return {
        "pose": current_pose(body),
        "trans": np.array(pelvis_bone(body).location, dtype=np.float64),
        "betas": body.betas.astype(np.float64),
        "expression": body.expression.astype(np.float64),
        "model": body.kind,
        "gender": body.gender,
        "joint_names": body.joint_names,
    }


def write_pose(armature, target="CONSOLE", filepath=None):
    """Write the current pose. CONSOLE: print the text to stdout and return it. JSON / NPZ: write ``filepath``
    atomically and return its path. JSON: {"pose", "trans", "betas", "expression", "model", "gender", "joint_names"};
    NPZ: numeric arrays only (pose, trans, betas, expression), readable with np.load(allow_pickle=False)."""
    body = Body.of(armature)
    target = target.upper()
    if target not in POSE_TARGETS:
        raise ValueError(f"unknown pose target {target!r}; use one of {', '.join(POSE_TARGETS)}")
    record = pose_record(body)
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
    body = Body.of(armature)
    data = pose_files.read_pose_file(filepath, body.model)
    if data["betas"] is not None or data["expression"] is not None:
        nb, ne = body.betas.size, body.expression.size
        betas = None if data["betas"] is None else data["betas"][:nb]
        expression = None if data["expression"] is None or ne == 0 else data["expression"][:ne]
        set_shape(body, betas=betas, expression=expression)
    set_pose(body, data["pose"], transl=data["transl"])
    update_correctives(body)
    return data
