# SPDX-License-Identifier: GPL-3.0-or-later
import numpy as np

from smpl_blender_addon.core import metrics
from smpl_blender_addon.core.rotations import axis_angle_to_matrix


def test_mpjpe_root_aligned():
    target = np.random.default_rng(0).normal(size=(5, 24, 3))
    assert metrics.mpjpe(target + [1.0, 2.0, 3.0], target) < 1e-12  # translation is removed by root alignment
    shifted = target.copy()
    shifted[:, 1:] += [0.0, 0.003, 0.004]
    assert abs(metrics.mpjpe(shifted, target) - 0.005 * 23 / 24) < 1e-12
    assert abs(metrics.mpjpe(target + [0, 0, 0.01], target, root=None) - 0.01) < 1e-12


def test_pa_mpjpe_removes_similarity_but_not_reflection():
    rng = np.random.default_rng(1)
    target = rng.normal(size=(3, 30, 3))
    R = axis_angle_to_matrix(np.array([0.3, -1.2, 2.0]))
    pred = 1.7 * target @ R.T + [0.5, -2.0, 1.0]
    assert metrics.pa_mpjpe(pred, target) < 1e-10
    noisy = target + rng.normal(0, 0.01, target.shape)
    assert metrics.pa_mpjpe(noisy, target) <= metrics.mpjpe(noisy, target)
    mirrored = target * [-1, 1, 1]
    assert metrics.pa_mpjpe(mirrored, target) > 0.1  # det(R) = +1: a mirror image stays wrong
    aligned = metrics.procrustes_align(pred[0], target[0])
    np.testing.assert_allclose(aligned, target[0], atol=1e-10)


def test_sample_shapes_standard_normal():
    betas = metrics.sample_shapes(20000, 10, seed=0)
    assert betas.shape == (20000, 10) and betas.dtype == np.float32
    assert np.all(np.abs(betas.mean(0)) < 0.05) and np.all(np.abs(betas.std(0) - 1) < 0.05)
    np.testing.assert_array_equal(betas, metrics.sample_shapes(20000, 10, seed=0))
