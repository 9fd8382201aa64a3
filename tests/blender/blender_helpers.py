# SPDX-License-Identifier: GPL-3.0-or-later
"""Helpers shared by the Blender tests (unique module name: ``conftest`` is ambiguous across test folders)."""

import numpy as np
from real_blender.scene import evaluated_world as evaluated_world_vertices  # noqa: F401  (tests/ on sys.path)
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


def random_pose(model, rng, scale=0.4):
    return rng.normal(0, scale, model.pose_size)
