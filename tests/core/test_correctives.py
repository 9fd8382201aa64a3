# SPDX-License-Identifier: GPL-3.0-or-later
import numpy as np
import pytest
from core.random_model import random_arrays
from references import reference_module

from smpl_blender_addon import core

torch = reference_module("torch")
batch_rodrigues = reference_module("smplx.lbs").batch_rodrigues


@pytest.mark.parametrize("kind, joints", [("smpl", 24), ("smplh", 52), ("smplx", 55)])
def test_weights_are_smplx_pose_feature(kind, joints):
    pose = np.random.default_rng(0).normal(0, 1.5, (4, 3 * joints))
    w = core.pose_corrective_weights(pose, kind, dtype=np.float64)
    assert w.shape == (4, 9 * (joints - 1))
    R = batch_rodrigues(torch.tensor(pose.reshape(-1, 3))).numpy().reshape(4, joints, 3, 3)
    np.testing.assert_allclose(w, (R[:, 1:] - np.eye(3)).reshape(4, -1), atol=1e-7)
    assert np.all(np.abs(w) <= 2.0 + 1e-12)


def test_index_layout_and_model_argument():
    model = core.BodyModel.from_arrays(random_arrays("smplx", 100, seed=0))
    pose = np.zeros(165)
    pose[3 * 18 : 3 * 18 + 3] = [0, 0, np.pi / 2]  # left elbow 90 degrees about z
    w = core.pose_corrective_weights(pose, model)[0]
    j = 18
    block = w[9 * (j - 1) : 9 * j].reshape(3, 3)
    np.testing.assert_allclose(block, [[-1, -1, 0], [1, -1, 0], [0, 0, 0]], atol=1e-6)
    assert np.count_nonzero(np.abs(w) > 1e-6) == 4
    with pytest.raises(ValueError, match="165 values"):
        core.pose_corrective_weights(np.zeros(72), model)
