# SPDX-License-Identifier: GPL-3.0-or-later
"""Blender layer: builds bodies and reads / writes their shape, pose and animation (bpy + core).

Used by ui/, the command line and scripts (also from Blender's Python console):

    from smpl_blender_addon.blender import add_body, set_pose, write_pose, update_correctives, import_motion, export_fbx
    from smpl_blender_addon.blender import fit_to_points, points_from_objects
"""

import bpy  # noqa: F401  (first: the bpy module provides bmesh and mathutils)

from .body import Body, body_mesh, body_model, find_body
from .build import add_body
from .correctives import update_correctives
from .export import export_abc, export_fbx, export_gltf
from .fitting import fit_to_points, points_from_objects
from .motion import import_motion
from .motion_export import export_motion
from .pose import (
    format_pose_console,
    get_pose,
    get_translation,
    load_pose,
    reset_pose,
    set_hand_pose,
    set_pose,
    write_pose,
)
from .shape import random_shape, reset_shape, set_height_weight, set_shape, snap_to_ground

__all__ = [
    "Body",
    "add_body",
    "body_mesh",
    "body_model",
    "find_body",
    "update_correctives",
    "export_abc",
    "export_fbx",
    "export_gltf",
    "export_motion",
    "fit_to_points",
    "points_from_objects",
    "import_motion",
    "format_pose_console",
    "get_pose",
    "get_translation",
    "load_pose",
    "reset_pose",
    "set_hand_pose",
    "set_pose",
    "write_pose",
    "random_shape",
    "reset_shape",
    "set_height_weight",
    "set_shape",
    "snap_to_ground",
]
