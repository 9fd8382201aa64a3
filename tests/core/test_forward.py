# SPDX-License-Identifier: GPL-3.0-or-later
"""The core forward pass against smplx.lbs (PyTorch CPU), the reference implementation."""

import numpy as np
import pytest
from core.random_model import random_arrays
from references import reference_module

from smpl_blender_addon import core

torch = reference_module("torch")
lbs = reference_module("smplx.lbs").lbs


def reference(arrays, betas, pose, expression, transl):
    """smplx.lbs in float64 on the same arrays (posedirs transposed to smplx's (P, 3V) buffer)."""
    V = arrays["v_template"].shape[0]
    dirs = np.concatenate([arrays["shapedirs"], arrays["exprdirs"]], axis=2)
    v, j = lbs(
        torch.tensor(np.concatenate([betas, expression], axis=1)),
        torch.tensor(pose),
        torch.tensor(arrays["v_template"]),
        torch.tensor(dirs),
        torch.tensor(arrays["posedirs"].reshape(3 * V, -1).T.copy()),
        torch.tensor(arrays["J_regressor"]),
        torch.tensor(arrays["parents"]),
        torch.tensor(arrays["weights"]),
    )
    return v.numpy() + transl[:, None], j.numpy() + transl[:, None]


def random_inputs(model, B, seed, scale=1.0):
    rng = np.random.default_rng(seed)
    return (
        rng.normal(size=(B, model.num_betas)),
        rng.normal(0, scale, (B, model.pose_size)),
        rng.normal(size=(B, model.num_expressions)),
        rng.normal(size=(B, 3)),
    )


@pytest.mark.parametrize("kind", ["smpl", "smplh", "smplx"])
@pytest.mark.parametrize("B", [1, 3, 130])  # 130 crosses the 64-frame chunks
def test_forward_matches_smplx_lbs(kind, B):
    arrays = random_arrays(kind, 300, seed=B)
    model = core.BodyModel.from_arrays(arrays)
    betas, pose, expression, transl = random_inputs(model, B, seed=7)
    v_ref, j_ref = reference(arrays, betas, pose, expression, transl)
    out64 = model.forward(betas, pose, expression, transl, dtype=np.float64)
    assert out64.vertices.dtype == np.float64 and out64.vertices.shape == (B, 300, 3)
    assert out64.joints.shape == (B, model.num_joints, 3)
    np.testing.assert_allclose(out64.vertices, v_ref, atol=1e-7)  # smplx biases Rodrigues angles by ~1e-8
    np.testing.assert_allclose(out64.joints, j_ref, atol=1e-7)
    out32 = model.forward(betas, pose, expression, transl)
    assert out32.vertices.dtype == np.float32
    np.testing.assert_allclose(out32.vertices, v_ref, atol=2e-5)


def test_shared_betas_broadcast_over_frames():
    arrays = random_arrays("smplx", 200, seed=3)
    model = core.BodyModel.from_arrays(arrays)
    betas, pose, expression, transl = random_inputs(model, 70, seed=1)
    shared = model.forward(betas[0], pose, expression[0], transl, dtype=np.float64)
    v_ref, _ = reference(arrays, np.repeat(betas[:1], 70, 0), pose, np.repeat(expression[:1], 70, 0), transl)
    np.testing.assert_allclose(shared.vertices, v_ref, atol=1e-7)


def test_defaults_fewer_betas_and_rest_pose():
    arrays = random_arrays("smpl", 200, seed=4)
    model = core.BodyModel.from_arrays(arrays)
    rest = model.forward()
    np.testing.assert_allclose(rest.vertices[0], arrays["v_template"], atol=1e-6)
    np.testing.assert_allclose(rest.joints[0], arrays["J_regressor"] @ arrays["v_template"], atol=1e-6)
    two = model.forward(betas=[1.0, -0.5], dtype=np.float64)
    full = model.forward(betas=[1.0, -0.5] + [0.0] * 8, dtype=np.float64)
    np.testing.assert_array_equal(two.vertices, full.vertices)
    np.testing.assert_allclose(model.rest_joints([1.0, -0.5]), full.joints[0], atol=1e-12)
    np.testing.assert_allclose(model.shaped_vertices([1.0, -0.5]), full.vertices[0], atol=1e-12)


def test_expression_moves_joints_like_smplx():
    # smplx regresses joints from the mesh shaped by betas AND expression
    arrays = random_arrays("smplx", 200, seed=5)
    model = core.BodyModel.from_arrays(arrays)
    e = np.zeros(model.num_expressions)
    e[0] = 3.0
    expected = arrays["J_regressor"] @ (arrays["v_template"] + arrays["exprdirs"][:, :, 0] * 3.0)
    np.testing.assert_allclose(model.rest_joints(expression=e), expected, atol=1e-12)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"pose": np.zeros(69)}, "72 values"),
        ({"pose": np.full(72, np.nan)}, "NaN"),
        ({"betas": np.zeros(11)}, "11 values"),
        ({"transl": [0, np.inf, 0]}, "NaN or infinite"),
        ({"pose": np.zeros((2, 72)), "transl": np.zeros((3, 3))}, "batch sizes disagree"),
    ],
)
def test_bad_inputs_raise_value_errors(kwargs, message):
    model = core.BodyModel.from_arrays(random_arrays("smpl", 100, seed=0))
    with pytest.raises(ValueError, match=message):
        model.forward(**kwargs)
