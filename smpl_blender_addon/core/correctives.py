# SPDX-License-Identifier: GPL-3.0-or-later
"""Pose-corrective weights: the values of the ``Pose###`` shape keys for a pose."""

import numpy as np

from . import layouts
from .rotations import axis_angle_to_matrix

__all__ = ["pose_corrective_weights"]


def pose_corrective_weights(pose, kind_or_model, dtype=np.float32):
    """``(B, 9 (J - 1))`` entries of ``R_j - I`` for joints ``j >= 1``, row-major per joint.

    pose: full axis-angle pose ``(3J,)``, ``(B, 3J)`` or ``(B, J, 3)``; kind_or_model: ``"smpl"``, ``"smplh"``,
    ``"smplx"`` or a model (its joint count is used). Entry ``9 (j - 1) + 3 a + b`` is ``R_j[a, b] - [a == b]``;
    it is the weight of shape key ``Pose{9 (j - 1) + 3 a + b:03d}``. Values lie in ``[-2, 2]``.
    """
    if isinstance(kind_or_model, str):
        num_joints = len(layouts.JOINT_NAMES[kind_or_model])
    else:
        num_joints = kind_or_model.num_joints
    r = np.asarray(pose, dtype=dtype)
    if r.size % (3 * num_joints) != 0 or (r.ndim >= 2 and r.shape[-1] not in (3, 3 * num_joints)):
        raise ValueError(f"a pose for {num_joints} joints has {3 * num_joints} values per frame, got shape {r.shape}")
    r = r.reshape(-1, num_joints, 3)[:, 1:]
    R = axis_angle_to_matrix(r)
    R[..., 0, 0] -= 1
    R[..., 1, 1] -= 1
    R[..., 2, 2] -= 1
    return R.reshape(R.shape[0], -1)
