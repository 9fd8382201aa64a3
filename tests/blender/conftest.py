# SPDX-License-Identifier: GPL-3.0-or-later
"""Real-bpy fixtures: one bpy import per session, an empty factory scene per test, small synthetic models."""

import os
import sys

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

sys.path.insert(0, os.path.dirname(__file__))
from synthetic_body import official_layout_arrays, synthetic_arrays  # noqa: E402

from smpl_blender_addon import core  # noqa: E402

C = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])  # SMPL -> Blender axes


@pytest.fixture(autouse=True)
def empty_scene():
    bpy.ops.wm.read_factory_settings(use_empty=True)
    yield


_MODELS = {}


def synthetic_model(kind, **kw):
    """Cached in-memory core model (name ``synthetic-<kind>``) for add_body(model=<object>)."""
    key = (kind, tuple(sorted(kw.items())))
    if key not in _MODELS:
        _MODELS[key] = core.BodyModel.from_arrays(synthetic_arrays(kind, **kw), name=f"synthetic-{kind}-{len(_MODELS)}")
    return _MODELS[key]


@pytest.fixture(params=["smpl", "smplh", "smplx"])
def any_model(request):
    return synthetic_model(request.param)


@pytest.fixture
def smplx_model():
    return synthetic_model("smplx")


@pytest.fixture(scope="session")
def official_npz(tmp_path_factory):
    """A synthetic SMPL-X model written as an official-layout .npz file (v1.0 layout: 10 betas + 10 expressions)."""
    path = tmp_path_factory.mktemp("models") / "SMPLX_NEUTRAL.npz"
    np.savez(path, **official_layout_arrays(synthetic_arrays("smplx", seed=3)))
    return path


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
