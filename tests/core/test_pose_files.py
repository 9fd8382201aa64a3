# SPDX-License-Identifier: GPL-3.0-or-later
"""core.formats.pose_files.read_pose_file: every accepted layout, checked against smplx where it defines the meaning (no bpy)."""

import json
import os
import pickle
import sys

import numpy as np
import pytest

from smpl_blender_addon import core
from smpl_blender_addon.core import rotations
from smpl_blender_addon.core.errors import MotionFileError
from smpl_blender_addon.core.formats.pose_files import read_pose_file

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "blender"))
from synthetic_body import official_layout_arrays, synthetic_arrays  # noqa: E402  (NumPy only, no bpy)

SMPLX_VERTICES = 10475  # smplx picks extra joints by fixed vertex ids: pad the synthetic mesh to the real size


@pytest.fixture(scope="module")
def smplx_arrays():
    arrays = synthetic_arrays("smplx", rings=10, segments=12, seed=2, extra_vertices=SMPLX_VERTICES - 122)
    assert len(arrays["v_template"]) == SMPLX_VERTICES
    return arrays


@pytest.fixture(scope="module")
def model(smplx_arrays):
    return core.BodyModel.from_arrays(smplx_arrays, name="synthetic-smplx")


def _write_pickle(path, data):
    with open(path, "wb") as f:
        pickle.dump(data, f, protocol=2)  # as SMPLify-X writes its results
    return path


def test_smplify_x_pca_hands_match_smplx(tmp_path, smplx_arrays, model):
    """SMPLify-X result: 12 PCA hand coefficients relative to the relaxed mean (smplx flat_hand_mean=False)."""
    torch = pytest.importorskip("torch")
    smplx = pytest.importorskip("smplx")
    npz = official_layout_arrays(smplx_arrays)
    npz.update(lmk_faces_idx=np.zeros(51, np.int64), lmk_bary_coords=np.full((51, 3), 1 / 3))
    model_path = tmp_path / "SMPLX_NEUTRAL.npz"
    np.savez(model_path, **npz)
    reference = smplx.SMPLX(
        str(model_path), num_betas=10, num_expression_coeffs=10, use_pca=True, num_pca_comps=12, flat_hand_mean=False
    )
    rng = np.random.default_rng(0)
    params = {
        "betas": rng.normal(0, 1, (1, 10)),
        "expression": rng.normal(0, 1, (1, 10)),
        "global_orient": rng.normal(0, 0.5, (1, 3)),
        "body_pose": rng.normal(0, 0.3, (1, 63)),
        "left_hand_pose": rng.normal(0, 0.5, (1, 12)),
        "right_hand_pose": rng.normal(0, 0.5, (1, 12)),
        "jaw_pose": rng.normal(0, 0.2, (1, 3)),
        "leye_pose": rng.normal(0, 0.2, (1, 3)),
        "reye_pose": rng.normal(0, 0.2, (1, 3)),
    }
    params = {k: v.astype(np.float32) for k, v in params.items()}
    fit = _write_pickle(tmp_path / "000.pkl", dict(params, camera_rotation=np.eye(3, dtype=np.float32)[None]))
    data = read_pose_file(fit, model)
    assert data["transl"] is None
    with torch.no_grad():
        want = reference(**{k: torch.tensor(v) for k, v in params.items()}).vertices[0].numpy()
    got = model.forward(betas=data["betas"], pose=data["pose"], expression=data["expression"], dtype=np.float64)
    assert np.abs(got.vertices[0] - want).max() < 2e-5


def test_vposer_body_is_refused(tmp_path, model):
    path = _write_pickle(tmp_path / "fit.pkl", {"global_orient": np.zeros((1, 3)), "body_pose": np.zeros((1, 32))})
    with pytest.raises(MotionFileError, match="VPoser") as err:
        read_pose_file(path, model)
    assert "fit.pkl" in str(err.value)


def test_full_pose_json_and_wrong_length(tmp_path, model):
    pose = np.random.default_rng(1).normal(0, 0.3, 165)
    path = tmp_path / "pose.json"
    path.write_text(json.dumps({"pose": pose.tolist(), "trans": [1, 2, 3], "betas": [0.5] * 10}))
    data = read_pose_file(path, model)
    np.testing.assert_array_equal(data["pose"], pose)
    np.testing.assert_array_equal(data["transl"], [1, 2, 3])
    assert data["expression"] is None and data["betas"].shape == (10,)
    path.write_text(json.dumps({"pose": [0.0] * 156}))
    with pytest.raises(MotionFileError, match="156 values.*165") as err:
        read_pose_file(path, model)
    assert "pose.json" in str(err.value)


def test_amass_npz_frame_zero_and_mosh_split(tmp_path, model):
    rng = np.random.default_rng(2)
    poses = rng.normal(0, 0.3, (5, 165))
    trans = rng.normal(0, 1, (5, 3))
    path = tmp_path / "motion.npz"
    np.savez(
        path,
        poses=poses,
        trans=trans,
        betas=rng.normal(0, 1, 16),
        gender=np.array("male"),
        mocap_frame_rate=np.array(120.0),
        markers_latent_vids=np.array({"a": 1}, dtype=object),
    )
    data = read_pose_file(path, model)
    np.testing.assert_array_equal(data["pose"], poses[0])
    np.testing.assert_array_equal(data["transl"], trans[0])
    assert data["betas"].shape == (16,)
    split = tmp_path / "split.npz"
    np.savez(
        split,
        root_orient=poses[:, :3],
        pose_body=poses[:, 3:66],
        pose_jaw=poses[:, 66:69],
        pose_eye=poses[:, 69:75],
        pose_hand=poses[:, 75:],
        trans=trans,
    )
    np.testing.assert_array_equal(read_pose_file(split, model)["pose"], poses[0])


def test_axis_angle_hands_are_relative_to_the_relaxed_mean(tmp_path, model):
    rng = np.random.default_rng(3)
    left, right = rng.normal(0, 0.3, 45), rng.normal(0, 0.3, 45)
    path = _write_pickle(
        tmp_path / "agora.pkl",
        {"global_orient": np.zeros(3), "body_pose": np.zeros(63), "left_hand_pose": left, "right_hand_pose": right},
    )
    pose = read_pose_file(path, model)["pose"]
    np.testing.assert_allclose(pose[75:120], left + model.hands_mean_left)
    np.testing.assert_allclose(pose[120:], right + model.hands_mean_right)


def test_rotation_matrices_and_smpl_body(tmp_path):
    smpl = core.BodyModel.from_arrays(synthetic_arrays("smpl", rings=6, segments=8), name="synthetic-smpl")
    rng = np.random.default_rng(4)
    rotvecs = rng.normal(0, 0.5, (24, 3))
    mats = rotations.axis_angle_to_matrix(rotvecs) * 1.001  # slightly off, as network outputs are
    path = tmp_path / "hmr.npz"
    np.savez(path, global_orient=mats[None, :1], body_pose=mats[None, 1:], betas=np.zeros((1, 10)))
    np.testing.assert_allclose(read_pose_file(path, smpl)["pose"], rotvecs.reshape(-1), atol=1e-9)
    # an SMPL-H / SMPL-X body pose (21 joints) drives SMPL with identity hands
    path = tmp_path / "body63.json"
    path.write_text(json.dumps({"global_orient": rotvecs[0].tolist(), "body_pose": rotvecs[1:22].reshape(-1).tolist()}))
    pose = read_pose_file(path, smpl)["pose"]
    np.testing.assert_allclose(pose[:66], rotvecs[:22].reshape(-1))
    assert not pose[66:].any()


def test_unreadable_files(tmp_path, model):
    cases = {
        "missing.json": None,
        "bad.npz": b"not a zip",
        "bad.json": b"{not json",
        "pose.txt": b"0 0 0",
        "nopose.json": json.dumps({"betas": [0.0]}).encode(),
        "nan.json": json.dumps({"pose": [float("nan")] * 165}).encode(),
        "evil.pkl": pickle.dumps({"pose": os.system}, protocol=2),
    }
    for name, content in cases.items():
        path = tmp_path / name
        if content is not None:
            path.write_bytes(content)
        with pytest.raises(MotionFileError) as err:
            read_pose_file(path, model)
        assert name in str(err.value), name


def test_a_body_model_file_is_named_as_such():
    model = core.load_model("open-smpl")
    with pytest.raises(MotionFileError, match="body model file"):
        read_pose_file(core.builtin_model_path("open-smpl"), model)
    with pytest.raises(MotionFileError, match="body model file"):
        core.read_motion(core.builtin_model_path("open-smpl"), model=model)
