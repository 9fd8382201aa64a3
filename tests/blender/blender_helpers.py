# SPDX-License-Identifier: GPL-3.0-or-later
"""Helpers shared by the Blender tests (unique module name: ``conftest`` is ambiguous across test folders)."""

import bpy
import numpy as np
from synthetic_body import synthetic_arrays

from smpl_blender_addon import core

C = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])  # SMPL -> Blender axes


_MODELS = {}


def synthetic_model(kind, **kw):
    """Cached in-memory core model (name ``synthetic-<kind>``) for add_body(model=<object>)."""
    key = (kind, tuple(sorted(kw.items())))
    if key not in _MODELS:
        _MODELS[key] = core.BodyModel.from_arrays(synthetic_arrays(kind, **kw), name=f"synthetic-{kind}-{len(_MODELS)}")
    return _MODELS[key]


def evaluated_world_vertices(mesh_obj):
    """The mesh Blender evaluates, world space, (V, 3) float64."""
    depsgraph = bpy.context.evaluated_depsgraph_get()
    depsgraph.update()
    ev = mesh_obj.evaluated_get(depsgraph)
    mesh = ev.to_mesh()
    co = np.empty(3 * len(mesh.vertices), dtype=np.float32)
    mesh.vertices.foreach_get("co", co)
    ev.to_mesh_clear()
    mw = np.array(ev.matrix_world)
    return co.reshape(-1, 3) @ mw[:3, :3].T + mw[:3, 3]


def random_pose(model, rng, scale=0.4):
    return rng.normal(0, scale, model.pose_size)
