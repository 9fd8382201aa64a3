# SPDX-License-Identifier: GPL-3.0-or-later
"""Explicit parameter conversions (never hidden defaults): hand PCA, relaxed-hand reference, pose layouts,
EasyMocap ``Rh``/``Th``, and re-framing a motion into another world frame."""

import numpy as np

from . import layouts
from .rotations import axis_angle_to_matrix, matrix_to_axis_angle, rotation_x

__all__ = [
    "Y_UP_TO_Z_UP",
    "Z_UP_TO_Y_UP",
    "CAMERA_TO_Y_UP",
    "hand_pca_to_axis_angle",
    "relaxed_hand_pose",
    "add_hand_mean",
    "convert_pose_layout",
    "smplh_to_smpl",
    "smplh_to_smplx",
    "easymocap_to_smplx",
    "reframe",
]

Z_UP_TO_Y_UP = rotation_x(-np.pi / 2)  # AMASS world (Z-up) -> SMPL model space (Y-up)
Y_UP_TO_Z_UP = rotation_x(np.pi / 2)  # SMPL (x, y, z) -> Blender (x, -z, y)
CAMERA_TO_Y_UP = rotation_x(np.pi)  # OpenCV camera (y down, z forward) -> Y-up

convert_pose_layout = layouts.convert_pose_layout


def hand_pca_to_axis_angle(coefficients, components):
    """PCA coefficients ``(..., n)`` and components ``(>= n, 45)`` (rows = components) -> axis-angle ``(..., 45)``.

    No mean is added: combine with :func:`add_hand_mean` when the coefficients are relative to the relaxed hand
    (smplx ``flat_hand_mean=False``, SMPLify-X); EasyMocap uses a flat mean.
    """
    c = np.asarray(coefficients, dtype=np.float64)
    comps = np.asarray(components, dtype=np.float64)
    n = c.shape[-1]
    if comps.ndim != 2 or comps.shape[1] != 45 or comps.shape[0] < n:
        raise ValueError(f"{n} hand PCA coefficients need at least {n} components of 45 values, got {comps.shape}")
    return c @ comps[:n]


def relaxed_hand_pose(model):
    """The model's relaxed hands as a full pose ``(3J,)`` (fingers = ``hands_mean``, all else 0).

    Raises ``ValueError`` for models without hands or without a hand mean.
    """
    slices = layouts.hand_slices(model.kind)
    if slices is None or model.hands_mean_left is None or model.hands_mean_right is None:
        raise ValueError(f"{model.name}: this {model.kind} model has no relaxed hand mean (hands_mean)")
    pose = np.zeros(model.pose_size)
    pose[slices[0]] = model.hands_mean_left
    pose[slices[1]] = model.hands_mean_right
    return pose


def add_hand_mean(pose, model, sign=1.0):
    """Relaxed-referenced -> flat-referenced pose (``sign=+1``), or back (``sign=-1``).

    The mean is added to the Rodrigues *vectors* (smplx ``full_pose += pose_mean``), not composed as rotations.
    """
    return np.asarray(pose, dtype=np.float64) + sign * relaxed_hand_pose(model)


def smplh_to_smpl(pose):
    """SMPL-H ``(..., 156)`` -> SMPL ``(..., 72)``: body copied, fingers dropped, SMPL ``left/right_hand`` zero."""
    return layouts.convert_pose_layout(pose, "smplh", "smpl")


def smplh_to_smplx(pose):
    """SMPL-H ``(..., 156)`` -> SMPL-X ``(..., 165)``: jaw and eyes zero (AMASS SMPL+H data have none)."""
    return layouts.convert_pose_layout(pose, "smplh", "smplx")


def easymocap_to_smplx(Rh, Th, pelvis_rest):
    """EasyMocap ``Rh, Th (..., 3)`` (rotation about the model *origin*) -> smplx ``global_orient, transl``.

    ``pelvis_rest``: ``J_0`` of this shape (``model.rest_joints(betas)[0]``). ``transl = Th - J0 + R(Rh) J0``.
    """
    Rh, Th = np.asarray(Rh, np.float64), np.asarray(Th, np.float64)
    J0 = np.asarray(pelvis_rest, np.float64)
    return Rh.copy(), Th - J0 + (axis_angle_to_matrix(Rh) @ J0[..., None])[..., 0]


def reframe(global_orient, transl, rotation, pelvis_rest):
    """Express a motion in a new world frame ``new = Q old`` without changing the body.

    ``global_orient (..., 3)``, ``transl (..., 3)``, ``rotation`` Q ``(3, 3)``, ``pelvis_rest`` ``J_0(beta)``.
    Returns ``log(Q exp(global_orient))`` and ``Q (transl + J0) - J0``; body, hand and face poses are unchanged.
    """
    Q = np.asarray(rotation, np.float64)
    J0 = np.asarray(pelvis_rest, np.float64)
    go = matrix_to_axis_angle(Q @ axis_angle_to_matrix(np.asarray(global_orient, np.float64)))
    t = (np.asarray(transl, np.float64) + J0) @ Q.T - J0
    return go, t
