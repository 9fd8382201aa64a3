# SPDX-License-Identifier: GPL-3.0-or-later
"""Pose-corrective shape keys (Pose###) for the current pose.

Pose### values = the pose feature (R_j - I, j >= 1, row-major; formats.md §2.2) of the pose read from the bones.
The path is batchable: ``corrective_weights`` takes (B, 3J) poses, so sequence modes can compute every frame at once.
"""

import numpy as np

from .. import core
from .body import body_mesh, body_model, find_body
from .pose import get_pose


def corrective_key_range(mesh_obj):
    """(start, count) of the contiguous Pose### keys in the mesh's key_blocks, or (-1, 0) if there are none."""
    keys = mesh_obj.data.shape_keys
    if keys is None:
        return -1, 0
    blocks = keys.key_blocks
    start = blocks.find("Pose000")
    if start < 0:
        return -1, 0
    count = 0
    for block in blocks[start:]:  # 9(J-1) names, no per-vertex work
        if not block.name.startswith("Pose"):
            break
        count += 1
    return start, count


def corrective_weights(model, poses):
    """(B, 3J) or (3J,) Rodrigues poses -> (B, 9(J-1)) float32 corrective key values."""
    return np.asarray(core.pose_corrective_weights(np.asarray(poses, dtype=np.float64), model), dtype=np.float32)


def update_correctives(armature, scope="FRAME", frame_start=None, frame_end=None, progress=None):
    """Pose### correctives of a body.

    FRAME: set the values for the current pose with one key_blocks.foreach_set; returns the values.
    KEYFRAMES / RANGE: key them at every bone keyframe / every frame of the range (keyed_correctives.key_correctives);
    returns the keyed frames.
    """
    armature = find_body(armature) or armature
    if scope != "FRAME":
        from .keyed_correctives import key_correctives

        return key_correctives(armature, scope, frame_start, frame_end, progress=progress)
    mesh = body_mesh(armature)
    if mesh is None:
        return None
    start, count = corrective_key_range(mesh)
    if count == 0:
        return None
    weights = corrective_weights(body_model(armature), get_pose(armature))[0]
    blocks = mesh.data.shape_keys.key_blocks
    values = np.empty(len(blocks), dtype=np.float32)
    blocks.foreach_get("value", values)
    values[start : start + count] = weights[:count]
    blocks.foreach_set("value", values)
    mesh.data.update()
    return weights
