# SPDX-License-Identifier: GPL-3.0-or-later
"""Blender layer: builds bodies and reads / writes their shape and pose (bpy + core). Used by ui/, the CLI and scripts.

    from smpl_blender_addon.blender import add_body, set_pose, write_pose, update_correctives
"""

from .body import add_body, body_betas, body_expression, body_mesh, body_model, find_body
from .correctives import update_correctives
from .pose import (format_pose_console, get_pose, get_translation, load_pose, reset_pose, set_hand_pose, set_pose,
                   write_pose)
from .shape import random_shape, reset_shape, set_height_weight, set_shape, snap_to_ground

__all__ = [
    "add_body", "body_betas", "body_expression", "body_mesh", "body_model", "find_body",
    "update_correctives",
    "format_pose_console", "get_pose", "get_translation", "load_pose", "reset_pose", "set_hand_pose", "set_pose",
    "write_pose",
    "random_shape", "reset_shape", "set_height_weight", "set_shape", "snap_to_ground",
]
