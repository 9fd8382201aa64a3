# SPDX-License-Identifier: GPL-3.0-or-later
"""Joint names, kinematic trees and pose layouts of the SMPL family.

Index 22 is ``left_hand`` in SMPL, ``left_index1`` in SMPL-H and ``jaw`` in SMPL-X: poses are converted
between layouts by joint *name* (:func:`convert_pose_layout`), never reinterpreted by length.
"""

import numpy as np

__all__ = [
    "JOINT_NAMES",
    "PARENTS",
    "KINDS",
    "convert_pose_layout",
    "hand_slices",
]

_SMPL_BODY = [
    "pelvis",
    "left_hip",
    "right_hip",
    "spine1",
    "left_knee",
    "right_knee",
    "spine2",
    "left_ankle",
    "right_ankle",
    "spine3",
    "left_foot",
    "right_foot",
    "neck",
    "left_collar",
    "right_collar",
    "head",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
]
_FINGERS = [f"{finger}{i}" for finger in ("index", "middle", "pinky", "ring", "thumb") for i in (1, 2, 3)]
_HANDS = [f"left_{f}" for f in _FINGERS] + [f"right_{f}" for f in _FINGERS]
_BODY_PARENTS = [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19]


def _hand_parents(first, left_wrist=20, right_wrist=21):
    """Parents of 2 x 15 finger joints starting at index ``first`` (five 3-joint chains per hand)."""
    parents = []
    for side, wrist in enumerate((left_wrist, right_wrist)):
        for chain in range(5):
            base = first + 15 * side + 3 * chain
            parents += [wrist, base, base + 1]
    return parents


JOINT_NAMES = {
    "smpl": _SMPL_BODY + ["left_hand", "right_hand"],
    "smplh": _SMPL_BODY + _HANDS,
    "smplx": _SMPL_BODY + ["jaw", "left_eye_smplhf", "right_eye_smplhf"] + _HANDS,
    "mano": ["wrist"] + [f"{f}" for f in _FINGERS],
}
PARENTS = {
    "smpl": np.array(_BODY_PARENTS + [20, 21], dtype=np.int64),
    "smplh": np.array(_BODY_PARENTS + _hand_parents(22), dtype=np.int64),
    "smplx": np.array(_BODY_PARENTS + [15, 15, 15] + _hand_parents(25), dtype=np.int64),
    "mano": np.array([-1] + [p for c in range(5) for p in (0, 1 + 3 * c, 2 + 3 * c)], dtype=np.int64),
}
KINDS = tuple(JOINT_NAMES)


def hand_slices(kind):
    """Slices of the left and right 45-value finger blocks in a flat pose of ``kind`` (``None`` for SMPL)."""
    names = JOINT_NAMES[kind]
    if "left_index1" not in names:
        return None
    left = names.index("left_index1")
    right = names.index("right_index1")
    return slice(3 * left, 3 * left + 45), slice(3 * right, 3 * right + 45)


def convert_pose_layout(pose, from_kind, to_kind):
    """Map axis-angle poses ``(..., 3 J_from)`` to ``(..., 3 J_to)`` by joint name.

    Joints the target has and the source lacks are zero (SMPL-H -> SMPL-X: zero jaw and eyes; SMPL-H -> SMPL:
    zero ``left_hand``/``right_hand``, fingers dropped; SMPL -> SMPL-H/X: flat fingers). Shapes are not
    converted: betas of one model do not carry over to another.
    """
    src, dst = JOINT_NAMES[from_kind], JOINT_NAMES[to_kind]
    pose = np.asarray(pose)
    if pose.shape[-1] != 3 * len(src):
        raise ValueError(f"a {from_kind} pose has {3 * len(src)} values, got {pose.shape[-1]}")
    joints = pose.reshape(pose.shape[:-1] + (len(src), 3))
    out = np.zeros(pose.shape[:-1] + (len(dst), 3), dtype=pose.dtype if pose.dtype.kind == "f" else np.float64)
    index = {name: i for i, name in enumerate(src)}
    for j, name in enumerate(dst):
        if name in index:
            out[..., j, :] = joints[..., index[name], :]
    return out.reshape(pose.shape[:-1] + (3 * len(dst),))
