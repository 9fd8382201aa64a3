# SPDX-License-Identifier: GPL-3.0-or-later
"""Fitting bodies to points: the analytic Jacobians against finite differences, and fits that recover a known motion
and shape from its joints, keypoints or surface markers (targets made and fits checked by smplx.lbs, the reference),
with noise, outliers and missing points."""

import warnings

import numpy as np
import pytest
from references import reference_module
from vposer_reference import random_state

from smpl_blender_addon.core import load_model
from smpl_blender_addon.core.errors import MotionFileError, WeightsFileError
from smpl_blender_addon.core.fitting import FitOptions, MarkerLayout, PointSequence, fit_points, point_definitions
from smpl_blender_addon.core.fitting.kinematics import PointModel
from smpl_blender_addon.core.fitting.landmarks import KEYPOINT_LAYOUTS
from smpl_blender_addon.core.fitting.priors import (
    GaussianMixturePrior,
    right_jacobian_inverse,
    rotation_priors,
    vposer_prior,
)
from smpl_blender_addon.core.fitting.solver import _ArrowFactor, arrow_structure
from smpl_blender_addon.core.formats import read_motion
from smpl_blender_addon.core.rotations import axis_angle_to_matrix, matrix_to_axis_angle
from smpl_blender_addon.core.vposer import VPoser

torch = reference_module("torch")
lbs = reference_module("smplx.lbs").lbs

DEMO = "assets/demo_motion_smplx.npz"


def reference_forward(model, betas, poses, transl):
    """smplx.lbs on the model's arrays, float64: ``(vertices, joints)`` with ``transl`` added."""
    F = len(poses)
    V = model.num_vertices
    b = np.zeros((F, model.num_betas + model.num_expressions))
    b[:, : len(betas)] = betas
    v, j = lbs(
        torch.tensor(b),
        torch.tensor(np.asarray(poses, dtype=np.float64).reshape(F, -1)),
        torch.tensor(model.v_template),
        torch.tensor(np.concatenate([model.shapedirs, model.exprdirs], axis=2).astype(np.float64)),
        torch.tensor(np.asarray(model.posedirs, dtype=np.float64).reshape(3 * V, -1).T.copy()),
        torch.tensor(np.asarray(model.J_regressor, dtype=np.float64)),
        torch.tensor(model.parents),
        torch.tensor(np.asarray(model.weights, dtype=np.float64)),
    )
    return v.numpy() + transl[:, None], j.numpy() + transl[:, None]


@pytest.fixture(scope="module", params=["open-smpl", "open-smplx"])
def truth(request):
    """A known motion and shape on a built-in body: ``(model, poses (F, J, 3), transl, betas, vertices, joints)``."""
    model = load_model(request.param)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # joints the SMPL body lacks are dropped
        motion = read_motion(DEMO, model=model).reframe("Y", model)
    betas = np.random.default_rng(3).normal(0, 1, 10)
    vertices, joints = reference_forward(model, betas, motion.poses, motion.trans)
    return model, motion.poses.reshape(motion.num_frames, -1, 3), motion.trans, betas, vertices, joints, motion.fps


def targets_on(model, names, vertices, joints, markers=None):
    """The named points of a posed body, from the reference's vertices and joints."""
    d = point_definitions(model, names, markers)
    return np.einsum("kj,fjc->fkc", d.joint_coeffs, joints) + np.einsum(
        "ku,fuc->fkc", d.vertex_coeffs, vertices[:, d.vertex_ids]
    )


def fitted(model, result):
    m = result.motion
    return reference_forward(model, m.betas[:10], m.poses, m.trans)


def jitter(points):
    return np.linalg.norm(np.diff(points, 2, axis=0), axis=-1).mean()


# -- derivatives -----------------------------------------------------------------------------------------------------


def test_target_jacobians_match_finite_differences():
    model = load_model("open-smplx")
    names = ["pelvis", "left_wrist", "right_knee", "nose", "left_heel", "vertex:9000", "m"]
    markers = {"m": ((100, 0.25), (5000, 0.75))}
    pm = PointModel(model, point_definitions(model, names, markers), num_betas=8)
    rng = np.random.default_rng(0)
    R = axis_angle_to_matrix(rng.normal(0, 0.4, (2, model.num_joints, 3)))
    transl, betas = rng.normal(0, 0.3, (2, 3)), rng.normal(0, 1, 8)
    ev = pm.evaluate(R, transl, betas)
    eps = 1e-6
    numeric = np.zeros_like(ev.pose)
    for i, j in enumerate(pm.free):
        for a in range(3):
            turned = R.copy()
            turned[:, j] = R[:, j] @ axis_angle_to_matrix(eps * np.eye(3)[a])
            numeric[..., 3 * i + a] = (pm.evaluate(turned, transl, betas, False).points - ev.points) / eps
    for a in range(3):
        numeric[..., pm.pose_size - 3 + a] = (
            pm.evaluate(R, transl + eps * np.eye(3)[a], betas, False).points - ev.points
        ) / eps
    # joints exactly; vertices up to the pose blend shapes' small pose dependence, which the Jacobian leaves out
    joint_rows = [0, 1, 2]
    np.testing.assert_allclose(ev.pose[:, joint_rows], numeric[:, joint_rows], atol=2e-5)
    assert np.abs(ev.pose - numeric).max() < 0.02 * np.abs(numeric).max()
    numeric_shape = np.stack(
        [(pm.evaluate(R, transl, betas + eps * np.eye(8)[n], False).points - ev.points) / eps for n in range(8)], -1
    )
    np.testing.assert_allclose(ev.shape, numeric_shape, atol=2e-5)
    # and the points themselves are the reference's
    vertices, joints = reference_forward(model, betas, matrix_to_axis_angle(R), transl)
    np.testing.assert_allclose(ev.points, targets_on(model, names, vertices, joints, markers), atol=1e-9)


@pytest.mark.parametrize(
    "kind, names",
    [
        ("open-smpl", list(KEYPOINT_LAYOUTS["humanml3d"])),
        ("open-smpl", list(KEYPOINT_LAYOUTS["body25"])),
        ("open-smplx", list(load_model("open-smplx").joint_names[:55])),
        ("open-smpl", ["pelvis", "left_wrist", "right_ankle", "head", "vertex:3500", "vertex:6500", "crotch"]),
    ],
)
def test_arrow_factor_solves_the_frame_blocks_exactly(kind, names):
    """Each frame's block, split into branches no target couples (legs, arms) and the trunk, is solved as the dense
    block is: on blocks made from real Jacobians, where a target moving two branches would break it."""
    model = load_model(kind)
    thighs = [int(np.argmax(model.weights[:, model.joint_names.index(n)])) for n in ("left_knee", "right_knee")]
    markers = {"crotch": ((thighs[0], 0.5), (thighs[1], 0.5))}  # a point between the legs: one branch for both
    pm = PointModel(model, point_definitions(model, names, markers), num_betas=4)
    structure = arrow_structure(pm)
    assert structure is not None
    groups, trunk = structure
    columns = np.concatenate([trunk] + [g.reshape(-1) for g in groups])
    assert np.array_equal(np.sort(columns), np.arange(pm.pose_size))  # every unknown once
    rng = np.random.default_rng(3)
    R = axis_angle_to_matrix(rng.normal(0, 0.4, (3, model.num_joints, 3)))
    G = pm.evaluate(R, rng.normal(0, 0.3, (3, 3)), rng.normal(0, 1, 4)).pose.reshape(3, -1, pm.pose_size)
    blocks = np.matmul(np.swapaxes(G, 1, 2), G * rng.uniform(0.1, 1.0, G.shape[:2])[..., None]) + 1e-3 * np.eye(
        pm.pose_size
    )
    b = rng.normal(size=(3, pm.pose_size, 2))
    factor = _ArrowFactor(blocks, groups, trunk)
    np.testing.assert_allclose(factor.backward(factor.forward(b)), np.linalg.solve(blocks, b), rtol=1e-8, atol=1e-10)
    if "crotch" in names:
        legs = [pm.free.tolist().index(model.joint_names.index(n)) for n in ("left_hip", "right_hip")]
        branch = [{int(c) // 3 for c in branch} for group in groups for branch in group]
        assert any(set(legs) <= joints for joints in branch)


def test_prior_terms_are_gradients_of_their_value():
    model = load_model("open-smpl")
    pm = PointModel(model, point_definitions(model, list(KEYPOINT_LAYOUTS["humanml3d"])), 10)
    rng = np.random.default_rng(1)
    R = axis_angle_to_matrix(rng.normal(0, 0.6, (3, model.num_joints, 3)))
    weights = {"pose": 0.3, "twist": 0.5, "limits": 0.7}
    value, gradient, blocks = rotation_priors(R, pm, model.joint_names, weights)
    eps = 1e-7
    for i, j in enumerate(pm.free[:8]):
        for a in range(3):
            turned = R.copy()
            turned[:, j] = R[:, j] @ axis_angle_to_matrix(eps * np.eye(3)[a])
            numeric = (rotation_priors(turned, pm, model.joint_names, weights)[0] - value) / eps
            assert abs(numeric - 2 * gradient[:, 3 * i + a].sum()) < 1e-4 * max(1.0, abs(numeric))
    assert blocks.shape == (3, pm.free.size, 3, 3)
    np.testing.assert_allclose(blocks, np.swapaxes(blocks, 2, 3))
    # the hinge: a knee bent backwards (+X) costs nothing, forwards it does
    names = model.joint_names
    knee = names.index("left_knee")
    rest = np.broadcast_to(np.eye(3), (1, model.num_joints, 3, 3)).copy()
    for angle, costs in ((0.8, False), (-0.8, True)):
        rest[0, knee] = axis_angle_to_matrix(np.array([angle, 0.0, 0.0]))
        assert (rotation_priors(rest, pm, names, {"limits": 1.0})[0] > 0) == costs


def test_right_jacobian_inverse_matches_the_log_map():
    phi = np.array([[0.3, -1.2, 0.5], [1e-6, 0.0, 2e-6], [0.0, 2.9, 0.1]])
    eps = 1e-7
    numeric = np.stack(
        [
            (matrix_to_axis_angle(axis_angle_to_matrix(phi) @ axis_angle_to_matrix(eps * np.eye(3)[a])) - phi) / eps
            for a in range(3)
        ],
        -1,
    )
    np.testing.assert_allclose(right_jacobian_inverse(phi), numeric, atol=1e-5)


def test_vposer_prior_jacobian():
    vposer = VPoser.from_state_dict(random_state(2), dtype=np.float64)
    rng = np.random.default_rng(4)
    pose = rng.normal(0, 0.4, (3, 63))
    mean, jacobian = vposer.encode_jacobian(pose)
    np.testing.assert_allclose(mean, vposer.encode(pose)[0], atol=1e-12)
    eps = 1e-7
    numeric = np.stack([(vposer.encode(pose + eps * np.eye(63)[i])[0] - mean) / eps for i in range(63)], -1)
    np.testing.assert_allclose(jacobian, numeric, atol=1e-5)
    model = load_model("open-smpl")
    pm = PointModel(model, point_definitions(model, list(KEYPOINT_LAYOUTS["humanml3d"])), 10)
    R = axis_angle_to_matrix(rng.normal(0, 0.3, (2, 24, 3)))
    value, gradient, hessian = vposer_prior(R, pm, vposer, 0.5)
    np.testing.assert_allclose(
        value, 0.25 * np.sum(vposer.encode(matrix_to_axis_angle(R[:, 1:22]).reshape(2, -1))[0] ** 2)
    )
    i = int(np.flatnonzero(pm.free == 4)[0])  # left knee
    turned = R.copy()
    turned[:, 4] = R[:, 4] @ axis_angle_to_matrix(np.array([eps, 0, 0]))
    numeric = (vposer_prior(turned, pm, vposer, 0.5)[0] - value) / eps
    assert abs(numeric - 2 * gradient[:, 3 * i].sum()) < 1e-4
    assert hessian.shape == (2, pm.pose_size, pm.pose_size)


# -- fits ------------------------------------------------------------------------------------------------------------


def test_joints_give_back_the_motion_and_shape(truth):
    model, poses, transl, betas, vertices, joints, fps = truth
    names = list(KEYPOINT_LAYOUTS["humanml3d"])  # the 22 joints of HumanML3D / MDM output
    targets = joints[:, :22]
    result = fit_points(model, PointSequence(targets, names=names, fps=fps))
    _, fit_joints = fitted(model, result)
    error = np.linalg.norm(fit_joints[:, :22] - targets, axis=-1)
    assert error.mean() < 1e-3 and error.max() < 5e-3
    np.testing.assert_allclose(result.errors, error, rtol=0, atol=1e-7)  # the result's own errors are the reference's
    rest = model.rest_joints(np.r_[betas, np.zeros(model.num_betas - 10)])[:22]
    fit_rest = model.rest_joints(result.motion.betas)[:22]
    assert np.abs(fit_rest - rest).max() < 2e-3  # the shape the limbs show
    m = result.motion
    assert (m.kind, m.gender, m.up_axis, m.fps, m.num_frames) == (model.kind, "neutral", "Y", fps, len(targets))


def test_keypoints_with_landmarks_and_confidences(truth):
    model, poses, transl, betas, vertices, joints, fps = truth
    names = list(KEYPOINT_LAYOUTS["body25"])
    targets = targets_on(model, names, vertices, joints)
    confidence = np.random.default_rng(5).uniform(0.3, 1.0, targets.shape[:2])
    result = fit_points(model, PointSequence(targets, confidence, names=names, fps=fps))
    fit_vertices, fit_joints = fitted(model, result)
    error = np.linalg.norm(targets_on(model, names, fit_vertices, fit_joints) - targets, axis=-1)
    assert error.mean() < 1e-3


def test_surface_markers(truth):
    model, poses, transl, betas, vertices, joints, fps = truth
    rng = np.random.default_rng(6)
    on_body = np.flatnonzero(np.all(np.argmax(model.weights, axis=1)[model.faces] < 22, axis=1))  # as mocap: no fingers
    faces = model.faces[rng.choice(on_body, 60, replace=False)]
    bary = rng.dirichlet(np.ones(3), 60)
    markers = {
        f"m{i}": tuple(zip(f.tolist(), b.tolist(), strict=True))
        for i, (f, b) in enumerate(zip(faces, bary, strict=True))
    }
    names = list(markers)
    targets = targets_on(model, names, vertices, joints, markers)
    result = fit_points(model, PointSequence(targets, names=names, fps=fps, markers=markers))
    fit_vertices, fit_joints = fitted(model, result)
    error = np.linalg.norm(targets_on(model, names, fit_vertices, fit_joints, markers) - targets, axis=-1)
    assert error.mean() < 1e-3
    body = np.linalg.norm(fit_joints[:, :22] - joints[:, :22], axis=-1)  # markers pin the skeleton too
    assert body.mean() < 0.01


def posed_normals(model, vertices, ids):
    """Unit normals ``(F, len(ids), 3)`` of posed meshes at vertices ``ids`` (area-weighted face normals)."""
    faces = model.faces[np.any(np.isin(model.faces, ids), axis=1)]
    v = vertices[:, faces]  # (F, n, 3, 3)
    area_normals = np.cross(v[:, :, 1] - v[:, :, 0], v[:, :, 2] - v[:, :, 0])
    normals = np.zeros((len(vertices), len(ids), 3))
    for k, i in enumerate(ids):
        normals[:, k] = area_normals[:, np.any(faces == i, axis=1)].sum(axis=1)
    return normals / np.linalg.norm(normals, axis=-1, keepdims=True)


def test_markers_off_the_skin(truth):
    """Markers on 9.5 mm balls (a SOMA / MoSh layout's distance_from_skin): targets placed along the posed mesh's
    normals by the reference; the fit models the distance and meets them, where taking them as on the skin cannot."""
    model, poses, transl, betas, vertices, joints, fps = truth
    every = slice(None, None, 4)
    vertices, joints = vertices[every], joints[every]
    rng = np.random.default_rng(8)
    on_body = np.flatnonzero(np.argmax(model.weights, axis=1) < 22)
    ids = rng.choice(on_body, 60, replace=False)
    layout = MarkerLayout({f"m{i}": ((int(v), 1.0),) for i, v in enumerate(ids)}, {f"m{i}": 0.0095 for i in range(60)})
    names = list(layout)
    targets = vertices[:, ids] + 0.0095 * posed_normals(model, vertices, ids)
    assert np.linalg.norm(targets - vertices[:, ids], axis=-1).mean() == pytest.approx(0.0095)
    errors = {}
    for label, markers in (("modelled", layout), ("on the skin", dict(layout))):
        result = fit_points(model, PointSequence(targets, names=names, fps=fps / 4, markers=markers))
        errors[label] = result.mean_error
        fit_joints = fitted(model, result)[1]
        errors[label + " joints"] = np.linalg.norm(fit_joints[:, :22] - joints[:, :22], axis=-1).mean()
    assert errors["modelled"] < 1.5e-3 and errors["modelled joints"] < 0.01, errors
    assert errors["modelled"] < 0.3 * errors["on the skin"], errors
    with pytest.raises(ValueError, match="marker offsets must be metres from 0 to 0.1: m3"):
        point_definitions(model, names, MarkerLayout(layout, {"m3": 9.5}))


def test_noise_outliers_and_missing_points(truth):
    model, poses, transl, betas, vertices, joints, fps = truth
    names = list(KEYPOINT_LAYOUTS["humanml3d"])
    clean = joints[:, :22]
    rng = np.random.default_rng(7)
    targets = clean + rng.normal(0, 0.01, clean.shape)
    confidence = np.ones(clean.shape[:2])
    outliers = rng.random(clean.shape[:2]) < 0.03
    targets[outliers] += rng.choice([-1, 1], (outliers.sum(), 3)) * 0.5  # half a metre off
    gaps = rng.random(clean.shape[:2]) < 0.1
    targets[gaps] = np.nan  # missing: NaN ...
    confidence[rng.random(clean.shape[:2]) < 0.05] = 0.0  # ... or zero confidence
    targets[40] = np.nan  # and a frame without any point
    result = fit_points(model, PointSequence(targets, confidence, names=names, fps=fps), FitOptions(acceleration=3e-4))
    _, fit_joints = fitted(model, result)
    error = np.linalg.norm(fit_joints[:, :22] - clean, axis=-1)
    noise = np.linalg.norm(targets - clean, axis=-1)
    assert error.mean() < np.nanmean(noise[~outliers]) and error.mean() < 0.013  # better than the noise
    assert error[40].mean() < 0.03  # the empty frame from its neighbours
    assert jitter(fit_joints[:, :22]) < 0.5 * jitter(np.where(np.isnan(targets), clean, targets))
    assert np.all(np.isnan(result.errors[gaps]))


def test_vposer_prior_joins_the_fit():
    model = load_model("open-smpl")
    vposer = VPoser.from_state_dict(random_state(2))
    rng = np.random.default_rng(8)
    pose = np.zeros((5, 24, 3))
    pose[:, 1:22] = vposer.sample(5, seed=1).reshape(5, 21, 3)
    _, joints = reference_forward(model, np.zeros(10), pose, np.zeros((5, 3)))
    names = list(KEYPOINT_LAYOUTS["humanml3d"])
    targets = joints[:, :22] + rng.normal(0, 0.005, (5, 22, 3))
    plain = fit_points(model, PointSequence(targets, names=names, fps=30), FitOptions(fit_shape=False))
    prior = fit_points(
        model,
        PointSequence(targets, names=names, fps=30),
        FitOptions(fit_shape=False, vposer=vposer, vposer_weight=0.05),
    )
    body = lambda r: r.motion.poses[:, 3:66]  # noqa: E731
    assert vposer.prior(body(prior)).mean() < vposer.prior(body(plain)).mean()  # more plausible to VPoser
    assert prior.mean_error < 0.01


def test_bad_requests_are_named():
    model = load_model("open-smpl")
    names = list(KEYPOINT_LAYOUTS["humanml3d"])
    points = PointSequence(np.zeros((3, 22, 3)), names=names, source="walk.npy")
    with pytest.raises(MotionFileError, match="walk.npy: the points store no frame rate") as err:
        fit_points(model, points)
    assert err.value.needs == "fps"
    empty = PointSequence(np.full((3, 22, 3), np.nan), names=names, fps=20, source="gone.npy")
    with pytest.raises(MotionFileError, match="gone.npy: no target point is present"):
        fit_points(model, empty)
    with pytest.raises(ValueError, match="fixed_joints: left_thumb1"):
        fit_points(model, points, FitOptions(fixed_joints=("left_thumb1",)), fps=20)
    smplx_hands = PointSequence(np.zeros((1, 2, 3)), names=["left_hand", "pelvis"], fps=20, source="hands.npy")
    with pytest.warns(
        UserWarning, match="hands.npy: 1 points are not on the open-smplx model and are not fitted: left_hand"
    ):
        fit_points(load_model("open-smplx"), smplx_hands)


def random_mixture(seed=0, M=4, D=69):
    rng = np.random.default_rng(seed)
    A = rng.normal(0, 0.2, (M, D, D))
    return rng.normal(0, 0.2, (M, D)), A @ np.swapaxes(A, 1, 2) + 0.05 * np.eye(D), rng.uniform(0.5, 2.0, M)


def test_gaussian_mixture_prior_files_and_terms(tmp_path):
    import pickle

    means, covars, weights = random_mixture()
    with open(tmp_path / "gmm_08.pkl", "wb") as f:
        pickle.dump({"means": means, "covars": covars, "weights": weights}, f, protocol=2)
    np.savez(tmp_path / "gmm.npz", means=means, covars=covars, weights=weights)
    from_pickle = GaussianMixturePrior.load(tmp_path / "gmm_08.pkl")
    from_npz = GaussianMixturePrior.load(tmp_path / "gmm.npz")
    rng = np.random.default_rng(9)
    pose = rng.normal(0, 0.3, (5, 63))
    # the value is the most likely component's negative log density (x2, up to a constant), marginal over 63 dims
    expected = []
    for p in pose:
        d = p - means[:, :63]
        inv = np.linalg.inv(covars[:, :63, :63])
        expected.append(
            min(
                d[m] @ inv[m] @ d[m]
                + np.linalg.slogdet(covars[m, :63, :63])[1]
                - 2 * np.log(weights[m] / weights.sum())
                for m in range(len(weights))
            )
        )
    np.testing.assert_allclose(from_pickle.value(pose), expected, rtol=1e-9)
    np.testing.assert_allclose(from_npz.value(pose), expected, rtol=1e-9)

    model = load_model("open-smpl")
    pm = PointModel(model, point_definitions(model, list(KEYPOINT_LAYOUTS["humanml3d"])), 10)
    R = axis_angle_to_matrix(rng.normal(0, 0.3, (2, 24, 3)))
    value, gradient, hessian = from_pickle.terms(R, pm, 0.5)
    eps = 1e-7
    i = int(np.flatnonzero(pm.free == 5)[0])
    turned = R.copy()
    turned[:, 5] = R[:, 5] @ axis_angle_to_matrix(np.array([0, eps, 0]))
    numeric = (from_pickle.terms(turned, pm, 0.5)[0] - value) / eps
    assert abs(numeric - 2 * gradient[:, 3 * i + 1].sum()) < 1e-4 * max(1, abs(numeric))
    assert hessian.shape == (2, pm.pose_size, pm.pose_size)

    # in a fit: the mixture pulls the unobservable twists and noisy poses towards its modes
    _, joints = reference_forward(model, np.zeros(10), rng.normal(0, 0.2, (4, 24, 3)), np.zeros((4, 3)))
    points = PointSequence(
        joints[:, :22] + rng.normal(0, 0.005, (4, 22, 3)), names=KEYPOINT_LAYOUTS["humanml3d"], fps=30
    )
    plain = fit_points(model, points, FitOptions(fit_shape=False))
    pulled = fit_points(model, points, FitOptions(fit_shape=False, gmm=tmp_path / "gmm_08.pkl", gmm_weight=0.05))
    body = lambda r: r.motion.poses[:, 3:66]  # noqa: E731
    assert from_pickle.value(body(pulled)).mean() < from_pickle.value(body(plain)).mean()

    with pytest.raises(WeightsFileError, match="not a pose mixture: no covars"):
        np.savez(tmp_path / "bad.npz", means=means, weights=weights)
        GaussianMixturePrior.load(tmp_path / "bad.npz")
    with pytest.raises(WeightsFileError, match="not positive definite"):
        GaussianMixturePrior(means, -covars, weights, source="neg.pkl")
    with open(tmp_path / "evil.pkl", "wb") as f:
        f.write(b"cos\nsystem\n(S'echo hi'\ntR.")
    with pytest.raises(WeightsFileError, match="evil.pkl: unsafe or unsupported pickle content refused"):
        GaussianMixturePrior.load(tmp_path / "evil.pkl")


def test_long_sequences_are_fitted_in_windows_with_one_shape():
    model = load_model("open-smpl")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        motion = read_motion(DEMO, model=model).reframe("Y", model)
    poses = np.concatenate([motion.poses, motion.poses[::-1], motion.poses])  # 360 frames
    transl = np.concatenate([motion.trans, motion.trans[::-1], motion.trans])
    betas = np.random.default_rng(10).normal(0, 1, 10)
    _, joints = reference_forward(model, betas, poses, transl)
    names = list(KEYPOINT_LAYOUTS["humanml3d"])
    points = PointSequence(joints[:, :22], names=names, fps=motion.fps)
    seen = []
    whole = fit_points(model, points)
    windows = fit_points(model, points, FitOptions(window=100), progress=lambda stage, f: seen.append(f))
    _, fit_joints = fitted(model, windows)
    assert np.linalg.norm(fit_joints[:, :22] - joints[:, :22], axis=-1).mean() < 1e-3
    rest = model.rest_joints(np.r_[betas, np.zeros(6)])[:22]
    for result in (whole, windows):  # the same shape, as far as the joints show it
        assert np.abs(model.rest_joints(result.motion.betas)[:22] - rest).max() < 2e-3
    assert seen == sorted(seen) and seen[-1] == 1.0 and len(seen) > 5  # progress through the windows


def test_turning_terms_are_the_gradient_and_product_of_their_value():
    from smpl_blender_addon.core.fitting.solver import _Turning

    rng = np.random.default_rng(11)
    R = axis_angle_to_matrix(rng.normal(0, 0.5, (5, 4, 3)))
    weights = np.array([0.0, 0.5, 1.0, 2.0])
    turning = _Turning(R, weights)
    eps = 1e-7
    gradient = turning.gradient()
    for f, j, a in [(0, 1, 0), (2, 2, 1), (4, 3, 2), (3, 0, 2)]:
        turned = R.copy()
        turned[f, j] = R[f, j] @ axis_angle_to_matrix(eps * np.eye(3)[a])
        numeric = (_Turning(turned, weights).value - turning.value) / eps
        assert abs(numeric - 2 * gradient[f, 3 * j + a]) < 1e-4 * max(1, abs(numeric))
    x, y = rng.normal(size=(2, 5, 12))
    assert np.isclose(np.sum(x * turning.product(y)), np.sum(y * turning.product(x)))  # J^T J: symmetric
    assert np.sum(x * turning.product(x)) > 0
    blocks = turning.blocks()
    e = np.zeros((5, 12))
    e[2, 7] = 1.0
    assert np.isclose(turning.product(e)[2, 6:9] @ np.eye(3)[1], blocks[2, 2][1, 1])  # the diagonal blocks
