# SPDX-License-Identifier: GPL-3.0-or-later
"""What the real-Blender scripts (operators.py, gui.py) read off the scene, independent of the extension's code."""

import numpy as np


def evaluated_world(obj):
    """World-space vertices of the object's evaluated mesh (shape keys, armature), (V, 3) float64."""
    import bpy

    depsgraph = bpy.context.evaluated_depsgraph_get()
    ev = obj.evaluated_get(depsgraph)
    mesh = ev.to_mesh()
    co = np.empty(3 * len(mesh.vertices), dtype=np.float32)
    mesh.vertices.foreach_get("co", co)
    ev.to_mesh_clear()
    mw = np.array(ev.matrix_world)
    return co.reshape(-1, 3) @ mw[:3, :3].T + mw[:3, 3]


def body_mesh(arm):
    """The mesh child of a body's armature."""
    return next(o for o in arm.children if o.type == "MESH")
