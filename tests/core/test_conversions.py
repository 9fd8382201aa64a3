# SPDX-License-Identifier: GPL-3.0-or-later
"""Explicit conversions checked against the forward pass itself and against smplx's hand PCA."""

import numpy as np
import pytest
from core.random_model import random_arrays

from smpl_blender_addon import core
from smpl_blender_addon.core import conversions as conv
from smpl_blender_addon.core.rotations import axis_angle_to_matrix


def test_layout_conversion_by_joint_name():
    smplh = np.arange(156, dtype=np.float64)
    smplx = conv.smplh_to_smplx(smplh)
    assert smplx.shape == (165,)
    np.testing.assert_array_equal(smplx[:66], smplh[:66])
    np.testing.assert_array_equal(smplx[66:75], 0)  # jaw and eyes
    np.testing.assert_array_equal(smplx[75:], smplh[66:])  # fingers follow by name
    smpl = conv.smplh_to_smpl(np.stack([smplh, smplh]))
    assert smpl.shape == (2, 72)
    np.testing.assert_array_equal(smpl[:, :66], np.stack([smplh[:66]] * 2))
    np.testing.assert_array_equal(smpl[:, 66:], 0)  # SMPL left/right_hand have no SMPL-H counterpart
    back = conv.convert_pose_layout(smplx, "smplx", "smplh")
    np.testing.assert_array_equal(back, smplh)
    with pytest.raises(ValueError, match="156 values"):
        conv.smplh_to_smpl(np.zeros(165))


def test_hand_pca_and_relaxed_mean_match_smplx_semantics():
    arrays = random_arrays("smplh", 200, seed=1)
    model = core.BodyModel.from_arrays(arrays)
    coeffs = np.random.default_rng(0).normal(size=(3, 6))
    left = conv.hand_pca_to_axis_angle(coeffs, model.hands_components_left)
    np.testing.assert_allclose(left, coeffs @ arrays["hands_components_left"][:6])
    pose = np.zeros((3, 156))
    pose[:, 66:111] = left
    flat = conv.add_hand_mean(pose, model)  # smplx: full_pose += [0.., hands_meanl, hands_meanr]
    np.testing.assert_allclose(flat[:, 66:111], left + arrays["hands_mean_left"])
    np.testing.assert_allclose(flat[:, 111:], np.broadcast_to(arrays["hands_mean_right"], (3, 45)))
    np.testing.assert_allclose(conv.add_hand_mean(flat, model, sign=-1), pose, atol=1e-15)
    with pytest.raises(ValueError, match="no relaxed hand mean"):
        conv.relaxed_hand_pose(core.BodyModel.from_arrays(random_arrays("smpl", 50)))


def test_easymocap_rh_th_gives_the_same_body():
    arrays = random_arrays("smpl", 200, seed=2)
    model = core.BodyModel.from_arrays(arrays)
    rng = np.random.default_rng(3)
    betas, Rh, Th = rng.normal(size=10), rng.normal(size=3), rng.normal(size=3)
    body = np.concatenate([[0, 0, 0], rng.normal(0, 0.4, 69)])
    # EasyMocap: V = R(Rh) M(pose with root 0) + Th, rotating about the model origin
    easy = model.forward(betas, body, dtype=np.float64).vertices[0] @ axis_angle_to_matrix(Rh).T + Th
    go, transl = conv.easymocap_to_smplx(Rh, Th, model.rest_joints(betas)[0])
    pose = body.copy()
    pose[:3] = go
    np.testing.assert_allclose(
        model.forward(betas, pose, transl=transl, dtype=np.float64).vertices[0], easy, atol=1e-12
    )


@pytest.mark.parametrize("Q", [conv.Z_UP_TO_Y_UP, conv.Y_UP_TO_Z_UP, conv.CAMERA_TO_Y_UP])
def test_reframe_rotates_the_whole_body(Q):
    arrays = random_arrays("smplx", 200, seed=4)
    model = core.BodyModel.from_arrays(arrays)
    rng = np.random.default_rng(5)
    betas, expr, pose, transl = (
        rng.normal(size=10),
        rng.normal(size=10),
        rng.normal(0, 0.5, (4, 165)),
        rng.normal(size=(4, 3)),
    )
    before = model.forward(betas, pose, expr, transl, dtype=np.float64).vertices
    go, t = conv.reframe(pose[:, :3], transl, Q, model.rest_joints(betas, expr)[0])
    moved = pose.copy()
    moved[:, :3] = go
    after = model.forward(betas, moved, expr, t, dtype=np.float64).vertices
    np.testing.assert_allclose(after, before @ Q.T, atol=1e-12)


def test_axes_constants():
    np.testing.assert_allclose(conv.Y_UP_TO_Z_UP @ [1, 2, 3], [1, -3, 2], atol=1e-15)  # (x, y, z) -> (x, -z, y)
    np.testing.assert_allclose(conv.Z_UP_TO_Y_UP @ conv.Y_UP_TO_Z_UP, np.eye(3), atol=1e-15)
