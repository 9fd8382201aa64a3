# SPDX-License-Identifier: GPL-3.0-or-later
"""core.shape: measurements against closed-form references, and the height/weight fit (no bpy)."""

import os
import sys

import numpy as np
import pytest

from smpl_blender_addon import core
from smpl_blender_addon.core import shape

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "blender"))
from synthetic_body import _ellipsoid, synthetic_arrays  # noqa: E402  (NumPy only, no bpy)


def _cube():
    verts = np.array([[x, y, z] for x in (0, 1) for y in (0, 1) for z in (0, 1)], dtype=float)
    faces = np.array(
        [
            [0, 1, 3],
            [0, 3, 2],
            [4, 6, 7],
            [4, 7, 5],
            [0, 4, 5],
            [0, 5, 1],
            [2, 3, 7],
            [2, 7, 6],
            [0, 2, 6],
            [0, 6, 4],
            [1, 5, 7],
            [1, 7, 3],
        ]
    )
    return verts, faces


def test_mesh_volume_closed_forms():
    verts, faces = _cube()
    assert abs(shape.mesh_volume(verts * 2.0 + 5.0, faces)) == pytest.approx(8.0)  # translation-invariant
    v, f, _ = _ellipsoid(60, 90, np.array([0.3, 0.9, 0.2]))
    assert shape.mesh_volume(v, f) == pytest.approx(4 / 3 * np.pi * 0.3 * 0.9 * 0.2, rel=2e-3)


@pytest.fixture(scope="module")
def model():
    return core.BodyModel.from_arrays(synthetic_arrays("smplx", seed=1), name="synthetic")


def test_measurements(model):
    verts = model.shaped_vertices()
    assert shape.stature(model) == pytest.approx(verts[:, 1].max() - verts[:, 1].min())
    assert shape.body_mass(model, density=985.0) == pytest.approx(abs(shape.mesh_volume(verts, model.faces)) * 985.0)
    taller = np.zeros(10)
    taller[0] = 1.0
    assert shape.stature(model, taller) > shape.stature(model)


@pytest.mark.parametrize("height, weight", [(1.5, 45.0), (1.7, 70.0), (1.95, 110.0), (1.8, 60.0)])
def test_betas_for_height_weight_hits_targets(model, height, weight):
    betas = shape.betas_for_height_weight(model, height, weight)
    assert betas.shape == (10,) and betas.dtype == np.float32
    assert shape.stature(model, betas) == pytest.approx(height, abs=5e-4)
    assert shape.body_mass(model, betas) == pytest.approx(weight, abs=0.05)
    fewer = shape.betas_for_height_weight(model, height, weight, num_betas=4)
    assert fewer.shape == (4,) and shape.body_mass(model, fewer) == pytest.approx(weight, abs=0.05)


def test_fit_is_minimum_norm_at_the_mean(model):
    h, w = shape.stature(model), shape.body_mass(model)
    assert np.abs(shape.betas_for_height_weight(model, h, w)).max() < 1e-4


def test_bad_arguments(model):
    with pytest.raises(ValueError):
        shape.betas_for_height_weight(model, -1.0, 70.0)
    with pytest.raises(ValueError):
        shape.betas_for_height_weight(model, 1.7, 70.0, num_betas=11)


def test_random_betas():
    a = shape.random_betas(5000, scale=2.0, seed=3)
    assert a.dtype == np.float32 and a.shape == (5000,)
    assert np.std(a) == pytest.approx(2.0, rel=0.05) and abs(np.mean(a)) < 0.1
    np.testing.assert_array_equal(a, shape.random_betas(5000, scale=2.0, seed=3))
