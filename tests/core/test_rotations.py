# SPDX-License-Identifier: GPL-3.0-or-later
"""Rotation conversions: properties (hypothesis) and an independent reference (smplx's batch_rodrigues)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from references import reference_module

from smpl_blender_addon.core import rotations as rot

torch = reference_module("torch")
batch_rodrigues = reference_module("smplx.lbs").batch_rodrigues

finite = st.floats(-10.0, 10.0, allow_nan=False, allow_infinity=False, width=64)
vectors = arrays(np.float64, st.tuples(st.integers(1, 6), st.just(3)), elements=finite)


def same_rotation(r1, r2, atol=1e-9):
    np.testing.assert_allclose(rot.axis_angle_to_matrix(r1), rot.axis_angle_to_matrix(r2), atol=atol)


@settings(max_examples=200, deadline=None)
@given(vectors)
def test_matrix_is_a_rotation_and_matches_smplx(r):
    R = rot.axis_angle_to_matrix(r)
    np.testing.assert_allclose(R @ np.swapaxes(R, -1, -2), np.broadcast_to(np.eye(3), R.shape), atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(R), 1.0, atol=1e-12)
    ref = batch_rodrigues(torch.tensor(r)).numpy()
    np.testing.assert_allclose(R, ref, atol=1e-7)  # smplx biases the angle by ~1e-8


@settings(max_examples=200, deadline=None)
@given(vectors)
def test_round_trips_are_canonical_and_same_rotation(r):
    canon = rot.canonical_axis_angle(r)
    assert np.all(np.linalg.norm(canon, axis=-1) <= np.pi + 1e-12)
    same_rotation(canon, r)
    for back in (
        rot.matrix_to_axis_angle(rot.axis_angle_to_matrix(r)),
        rot.quaternion_to_axis_angle(rot.axis_angle_to_quaternion(r)),
    ):
        assert np.all(np.linalg.norm(back, axis=-1) <= np.pi + 1e-9)
        same_rotation(back, r)
        inside = np.linalg.norm(canon, axis=-1) < np.pi - 1e-6  # at pi, r and -r are both canonical
        np.testing.assert_allclose(back[inside], canon[inside], atol=1e-9)


@settings(max_examples=100, deadline=None)
@given(arrays(np.float64, (4,), elements=finite).filter(lambda q: np.linalg.norm(q) > 1e-3))
def test_quaternion_matrix_agree(q):
    R = rot.quaternion_to_matrix(q)
    q2 = rot.matrix_to_quaternion(R)
    qn = q / np.linalg.norm(q)
    assert np.allclose(q2, qn, atol=1e-9) or np.allclose(q2, -qn, atol=1e-9)
    assert q2[0] >= 0


@pytest.mark.parametrize("angle", [0.0, 1e-12, 1e-8, 1e-5, 1e-4, 1e-3])
def test_exact_near_zero(angle):
    axis = np.array([0.3, -0.5, 0.8]) / np.linalg.norm([0.3, -0.5, 0.8])
    r = axis * angle
    R = rot.axis_angle_to_matrix(r)
    K = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    exact = np.eye(3) + np.sin(angle) * K + (1 - np.cos(angle)) * K @ K  # fine for these angles in float64
    np.testing.assert_allclose(R, exact, atol=1e-16)
    np.testing.assert_allclose(rot.matrix_to_axis_angle(R), r, atol=1e-15, rtol=1e-9)
    np.testing.assert_allclose(rot.quaternion_to_axis_angle(rot.axis_angle_to_quaternion(r)), r, atol=1e-17, rtol=1e-12)


@pytest.mark.parametrize("delta", [0.0, 1e-10, 1e-6, -1e-6])
def test_exact_near_pi(delta):
    axis = np.array([1.0, 2.0, -2.0]) / 3.0
    r = axis * (np.pi + delta)
    back = rot.matrix_to_axis_angle(rot.axis_angle_to_matrix(r))
    assert np.linalg.norm(back) <= np.pi + 1e-12
    same_rotation(back, r, atol=1e-12)
    assert abs(abs(back @ axis) - min(np.pi + delta, np.pi - delta)) < 1e-8


def test_canonical_wraps_quaternion_style_angles():
    # Quaternion.to_axis_angle() returns angles in [0, 2 pi]: 1.5 pi about +z is -0.5 pi about +z
    np.testing.assert_allclose(rot.canonical_axis_angle([0, 0, 1.5 * np.pi]), [0, 0, -0.5 * np.pi], atol=1e-15)
    np.testing.assert_allclose(rot.canonical_axis_angle([0, 0, 2 * np.pi]), [0, 0, 0], atol=1e-15)


def test_float32_is_kept_and_batches_of_any_shape():
    r = np.random.default_rng(0).normal(size=(2, 5, 3)).astype(np.float32)
    assert rot.axis_angle_to_matrix(r).shape == (2, 5, 3, 3)
    assert rot.axis_angle_to_matrix(r).dtype == np.float32
    assert rot.matrix_to_axis_angle(rot.axis_angle_to_matrix(r)).dtype == np.float32
    assert rot.axis_angle_to_quaternion(r).shape == (2, 5, 4)
