# SPDX-License-Identifier: GPL-3.0-or-later
"""End to end against smplx's own model classes: files of every layout, read by our loader and by smplx.

smplx indexes hard-coded vertex ids (up to ~10^4) for its extra joints, so these models have realistic vertex counts.
"""

import numpy as np
import pytest
import synthetic_models as synth
from references import reference_module

from smpl_blender_addon import core
from smpl_blender_addon.core import conversions

torch = reference_module("torch")
smplx = reference_module("smplx")

N_SMPL, N_SMPLX = 6890, 10475


def smplx_output(layer, **params):
    with torch.no_grad():
        out = layer(**{k: torch.tensor(np.asarray(v, np.float32)[None]) for k, v in params.items()})
    return out.vertices[0].numpy(), out.joints[0].numpy()


def check(model, layer, num_joints, ours_kwargs, **theirs):
    v_ref, j_ref = smplx_output(layer, **theirs)
    out = model.forward(**ours_kwargs)
    np.testing.assert_allclose(out.vertices[0], v_ref, atol=2e-5)
    np.testing.assert_allclose(out.joints[0], j_ref[:num_joints], atol=2e-5)


@pytest.fixture(scope="module")
def rng():
    return np.random.default_rng(0)


def test_smpl_chumpy_pickle_v11_matches_smplx(tmp_path, rng):
    arrays = synth.write_smpl_pkl_py2(tmp_path / "basicmodel_m_lbs_10_207_0_v1.1.0.pkl", "1.1", n_verts=N_SMPL)
    synth.write_clean_pkl(tmp_path / "SMPL_MALE.pkl", arrays)  # what smplx needs: chumpy removed
    model = core.load_model(tmp_path / "basicmodel_m_lbs_10_207_0_v1.1.0.pkl")
    assert (model.kind, model.num_betas) == ("smpl", 300)
    layer = smplx.SMPL(str(tmp_path / "SMPL_MALE.pkl"), num_betas=300)
    betas, pose, transl = rng.normal(size=300), rng.normal(0, 0.5, 72), rng.normal(size=3)
    check(
        model,
        layer,
        24,
        dict(betas=betas, pose=pose, transl=transl),
        betas=betas,
        global_orient=pose[:3],
        body_pose=pose[3:],
        transl=transl,
    )


@pytest.mark.parametrize("version, nb, ne", [("1.0", 10, 10), ("1.1", 300, 100)])
def test_smplx_npz_matches_smplx_with_pca_hands_and_relaxed_mean(tmp_path, rng, version, nb, ne):
    path = tmp_path / "SMPLX_NEUTRAL.npz"
    synth.write_smplx_npz(path, version, n_verts=N_SMPLX, seed=3)
    model = core.load_model(path)
    assert (model.kind, model.num_betas, model.num_expressions) == ("smplx", nb, ne)
    layer = smplx.SMPLX(
        str(path), num_betas=nb, num_expression_coeffs=ne, use_pca=True, num_pca_comps=12, flat_hand_mean=False
    )
    betas, expr = rng.normal(size=nb), rng.normal(size=ne)
    body, head = rng.normal(0, 0.4, 66), rng.normal(0, 0.2, 9)
    lpca, rpca, transl = rng.normal(size=12), rng.normal(size=12), rng.normal(size=3)
    # our pose is explicit: PCA -> axis-angle, then the relaxed mean added in axis-angle space
    pose = np.concatenate(
        [
            body,
            head,
            conversions.hand_pca_to_axis_angle(lpca, model.hands_components_left),
            conversions.hand_pca_to_axis_angle(rpca, model.hands_components_right),
        ]
    )
    pose = conversions.add_hand_mean(pose, model)
    check(
        model,
        layer,
        55,
        dict(betas=betas, pose=pose, expression=expr, transl=transl),
        betas=betas,
        expression=expr,
        global_orient=body[:3],
        body_pose=body[3:],
        jaw_pose=head[:3],
        leye_pose=head[3:6],
        reye_pose=head[6:],
        left_hand_pose=lpca,
        right_hand_pose=rpca,
        transl=transl,
    )


def test_smplx_pkl_matches_smplx_flat_hands(tmp_path, rng):
    path = tmp_path / "SMPLX_FEMALE.pkl"
    synth.write_smplx_pkl(path, "1.1", n_verts=N_SMPLX, seed=4)
    model = core.load_model(tmp_path, gender="female")  # a folder plus a gender
    layer = smplx.SMPLX(
        str(path), ext="pkl", num_betas=10, num_expression_coeffs=10, use_pca=False, flat_hand_mean=True
    )
    betas, expr, pose = rng.normal(size=10), rng.normal(size=10), rng.normal(0, 0.4, 165)
    check(
        model,
        layer,
        55,
        dict(betas=betas, pose=pose, expression=expr),
        betas=betas,
        expression=expr,
        global_orient=pose[:3],
        body_pose=pose[3:66],
        jaw_pose=pose[66:69],
        leye_pose=pose[69:72],
        reye_pose=pose[72:75],
        left_hand_pose=pose[75:120],
        right_hand_pose=pose[120:],
    )


def test_smplh_pickle_with_mano_merge_matches_smplx(tmp_path, rng):
    body, left, right, paths = synth.write_smplh_pair_with_mano(tmp_path, "male", n_verts=N_SMPL)
    merged = dict(body)
    for side, mano in (("l", left), ("r", right)):
        merged[f"hands_components{side}"] = mano["hands_components"]
        merged[f"hands_mean{side}"] = mano["hands_mean"]
    (tmp_path / "clean").mkdir()
    synth.write_clean_pkl(tmp_path / "clean" / "SMPLH_MALE.pkl", merged)  # what smplx's merge_smplh_mano.py writes
    model = core.load_model(paths[0], hand_pca=paths[1:])
    assert model.kind == "smplh" and model.hands_mean_left is not None
    layer = smplx.SMPLH(
        str(tmp_path / "clean" / "SMPLH_MALE.pkl"),
        ext="pkl",
        num_betas=10,
        use_pca=True,
        num_pca_comps=6,
        flat_hand_mean=False,
    )
    betas, body_pose, lpca, rpca = rng.normal(size=10), rng.normal(0, 0.4, 66), rng.normal(size=6), rng.normal(size=6)
    pose = np.concatenate([body_pose, lpca @ left["hands_components"][:6], rpca @ right["hands_components"][:6]])
    pose = conversions.add_hand_mean(pose, model)
    check(
        model,
        layer,
        52,
        dict(betas=betas, pose=pose),
        betas=betas,
        global_orient=body_pose[:3],
        body_pose=body_pose[3:],
        left_hand_pose=lpca,
        right_hand_pose=rpca,
    )


def test_smplh_extended_npz_16_betas(tmp_path, rng):
    # smplx 0.1.28 truncates this model to 10 betas; we keep all 16 and agree on the first 10
    path = tmp_path / "model.npz"
    synth.write_smplh_npz(path, 16, n_verts=N_SMPL, hand_pca=True, dtype=np.float32)
    model = core.load_model(path)
    assert (model.kind, model.num_betas) == ("smplh", 16)
    layer = smplx.SMPLH(str(path), ext="npz", num_betas=10, use_pca=False, flat_hand_mean=True)
    betas, pose = rng.normal(size=10), rng.normal(0, 0.4, 156)
    check(
        model,
        layer,
        52,
        dict(betas=betas, pose=pose),
        betas=betas,
        global_orient=pose[:3],
        body_pose=pose[3:66],
        left_hand_pose=pose[66:111],
        right_hand_pose=pose[111:],
    )
