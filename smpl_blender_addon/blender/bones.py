# SPDX-License-Identifier: GPL-3.0-or-later
"""A body's joints on its pose bones: local rotations read in bulk, written in each bone's own rotation mode.

Every rest bone has the SMPL axes (body.py), so a pose bone's ``matrix_basis`` rotation is the SMPL parent-relative
rotation R_i and the pelvis bone's location is the SMPL ``transl`` (metres, SMPL axes). Rotation modes are never
changed: a bone animated in Euler keeps its mode and its F-curves.
"""

import numpy as np
from mathutils import Quaternion

from ..core import rotations


def basis_rotations(body):
    """Local rotation matrices of the body's joints from ``matrix_basis``, model order. (J, 3, 3) float64.

    One bulk ``foreach_get``; the scale of a bone's basis is divided out.
    """
    bones = body.armature.pose.bones
    flat = np.empty(16 * len(bones), dtype=np.float32)
    bones.foreach_get("matrix_basis", flat)
    mats = flat.reshape(-1, 4, 4).transpose(0, 2, 1)  # RNA matrices are column-major
    mats = mats[body.bone_order, :3, :3].astype(np.float64)
    return mats / np.linalg.norm(mats, axis=1, keepdims=True)


def rotations_to_pose(mats):
    """(..., J, 3, 3) rotations -> (..., 3J) canonical Rodrigues vectors (|r| <= pi), float64."""
    r = rotations.canonical_axis_angle(rotations.matrix_to_axis_angle(np.asarray(mats, dtype=np.float64)))
    return r.reshape(r.shape[:-2] + (-1,))


def current_pose(body):
    """(3J,) float64 canonical Rodrigues vectors of the bones now, pelvis first, model joint order."""
    return rotations_to_pose(basis_rotations(body))


def pelvis_bone(body):
    """The pose bone of the root joint: its location is the SMPL ``transl``."""
    return body.armature.pose.bones[body.joint_names[0]]


def write_rotations(body, joint_indices, rotvecs):
    """Set the local rotations of the given joints from Rodrigues vectors, each bone in its own rotation mode."""
    names = body.joint_names
    bones = body.armature.pose.bones
    quats = rotations.axis_angle_to_quaternion(np.asarray(rotvecs, dtype=np.float64).reshape(-1, 3))
    for j, q in zip(joint_indices, quats.tolist()):
        bone = bones[names[j]]
        mode = bone.rotation_mode
        if mode == "QUATERNION":
            bone.rotation_quaternion = q
        elif mode == "AXIS_ANGLE":
            axis, angle = Quaternion(q).to_axis_angle()
            bone.rotation_axis_angle = (angle, axis[0], axis[1], axis[2])
        else:  # Euler: the closest equivalent to the current value keeps F-curves continuous
            bone.rotation_euler = Quaternion(q).to_euler(mode, bone.rotation_euler)
