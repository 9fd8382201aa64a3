# SPDX-License-Identifier: GPL-3.0-or-later
"""Model-file readers: every layout reads back what was written; hostile and malformed files fail cleanly.

The files are synthetic (tests/synthetic_models.py), written at run time. Python-2 chumpy pickles are built opcode-true
without chumpy; where smplx can read a layout, its buffers are the independent reference.
"""

import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import synthetic_models as synth  # tests/ is on sys.path (tests/conftest.py)

from smpl_blender_addon.core import safe_pickle
from smpl_blender_addon.core.errors import ModelFileError
from smpl_blender_addon.core.model_files import read_model_file

V = 300  # vertices of the synthetic bodies


def assert_model_equals(model, arrays, kind, shape_columns, expr_columns=None):
    """The reader's normalised dict equals the dense arrays the writer stored (exactly, float64)."""
    n_joints = len(synth.PARENTS[kind])
    assert model["kind"] == kind
    for key in ("v_template", "shapedirs", "exprdirs", "posedirs", "J_regressor", "weights"):
        assert model[key].dtype == np.float64, key
    assert model["faces"].dtype == np.int64 and model["parents"].dtype == np.int64
    np.testing.assert_array_equal(model["v_template"], arrays["v_template"])
    np.testing.assert_array_equal(model["faces"], arrays["f"].astype(np.int64))
    np.testing.assert_array_equal(model["shapedirs"], arrays["shapedirs"][:, :, shape_columns])
    if expr_columns is None:
        assert model["exprdirs"].shape == (arrays["v_template"].shape[0], 3, 0)
    else:
        np.testing.assert_array_equal(model["exprdirs"], arrays["shapedirs"][:, :, expr_columns])
    np.testing.assert_array_equal(model["posedirs"], arrays["posedirs"])
    np.testing.assert_array_equal(model["J_regressor"], arrays["J_regressor"])
    np.testing.assert_array_equal(model["weights"], arrays["weights"])
    np.testing.assert_array_equal(model["parents"], synth.PARENTS[kind])
    assert model["parents"].shape == (n_joints,) and model["parents"][0] == -1


def assert_refused(path, match=None, **kwargs):
    """read_model_file fails with a ModelFileError (a ValueError) that names the file; returns the message."""
    with pytest.raises(ModelFileError) as info:
        read_model_file(path, **kwargs)
    message = str(info.value)
    assert isinstance(info.value, ValueError)
    assert Path(path).name in message, message
    if match is not None:
        assert match in message, message
    return message


# --------------------------------------------------------------------------------------------------------------------
# SMPL .pkl (py2 chumpy)


@pytest.mark.parametrize("protocol", [0, 1, 2])
@pytest.mark.parametrize("version, n_betas", [("1.0", 10), ("1.1", 300)])
def test_smpl_py2_chumpy_pickle_reads_back_exactly(tmp_path, protocol, version, n_betas):
    path = tmp_path / f"basicmodel_m_lbs_10_207_0_v{version}.0.pkl"
    arrays = synth.write_smpl_pkl_py2(path, version=version, protocol=protocol, n_verts=V)
    model = read_model_file(path)
    assert_model_equals(model, arrays, "smpl", slice(0, n_betas))
    assert model["shapedirs"].shape == (V, 3, n_betas)
    assert model["gender"] == "male"  # from the official file name
    assert model["meta"]["bs_style"] == "lbs" and model["meta"]["bs_type"] == "lrotmin"
    assert model["path"] == str(path.resolve())


def test_smpl_numpy2_and_new_scipy_module_names(tmp_path):
    path = tmp_path / "SMPL_FEMALE.pkl"
    arrays = synth.write_smpl_pkl_py2(path, numpy_core="numpy._core", csc_new_module=True, n_verts=V)
    stream = path.read_bytes()
    assert b"numpy._core.multiarray" in stream and b"scipy.sparse._csc" in stream and b"numpy.core." not in stream
    model = read_model_file(path)
    assert_model_equals(model, arrays, "smpl", slice(0, 10))
    assert model["gender"] == "female"


def test_legacy_key_aliases(tmp_path):
    path = tmp_path / "old.pkl"
    arrays = synth.write_smpl_pkl_py2(path, aliases=True, n_verts=V)
    raw = safe_pickle.load_pickle_dict(path)
    assert {"default_v", "joint_regressor", "blendshapes"} <= raw.keys() and "v_template" not in raw
    assert_model_equals(read_model_file(path), arrays, "smpl", slice(0, 10))


def test_clean_python3_pickles_read_back(tmp_path):
    arrays = synth.synthetic_arrays("smpl", n_verts=V, n_columns=10, seed=3)
    for protocol in (2, 4, 5):
        path = tmp_path / f"clean_{protocol}.pkl"
        synth.write_clean_pkl(path, arrays, protocol=protocol)
        assert_model_equals(read_model_file(path), arrays, "smpl", slice(0, 10))


def test_csc_duplicate_entries_are_summed(tmp_path):
    rng = np.random.default_rng(5)
    dense = np.where(rng.random((7, 11)) < 0.3, rng.normal(size=(7, 11)), 0.0)
    matrix = synth.csc_from_dense(dense, duplicate=True)
    assert len(matrix.data) == 2 * np.count_nonzero(dense)
    # Independent reference: add the stored triplets one by one.
    reference = np.zeros(dense.shape)
    for col in range(dense.shape[1]):
        for k in range(matrix.indptr[col], matrix.indptr[col + 1]):
            reference[matrix.indices[k], col] += matrix.data[k]
    path = tmp_path / "csc.pkl"
    for protocol in (0, 2):
        path.write_bytes(synth.py2_pickle_bytes({"m": matrix}, protocol))
        np.testing.assert_array_equal(safe_pickle.load_pickle_dict(path)["m"], reference)
    np.testing.assert_allclose(reference, dense, rtol=0, atol=1e-15)


def test_chumpy_select_is_evaluated(tmp_path):
    dense = np.random.default_rng(6).normal(size=(5, 3, 4))
    select = synth.select_from_dense(dense)
    assert select.a.x.size > dense.size  # the values sit shuffled in a larger array
    path = tmp_path / "select.pkl"
    for protocol in (0, 1, 2):
        path.write_bytes(synth.py2_pickle_bytes({"s": select, "c": synth.Ch(dense)}, protocol))
        out = safe_pickle.load_pickle_dict(path)
        np.testing.assert_array_equal(out["s"], dense)
        np.testing.assert_array_equal(out["c"], dense)


@pytest.mark.parametrize("protocol", [0, 1, 2])
def test_latin1_py2_strings(tmp_path, protocol):
    path = tmp_path / "strings.pkl"
    path.write_bytes(synth.py2_pickle_bytes({"text": synth.LATIN1_TEXT, "raw": b"\xff\x00\xe9", "n": 3}, protocol))
    out = safe_pickle.load_pickle_dict(path)
    assert out == {"text": synth.LATIN1_TEXT, "raw": "\xff\x00\xe9", "n": 3}
    assert "\xe9" in synth.LATIN1_TEXT  # the fixture really has a non-ASCII latin-1 byte
    nested = synth.write_smpl_pkl_py2(tmp_path / "m.pkl", protocol=protocol, n_verts=30)
    assert nested is not None
    raw = safe_pickle.load_pickle_dict(tmp_path / "m.pkl")
    assert raw["pose_training_info"]["comment"] == synth.LATIN1_TEXT


def test_python3_bytes_use_latin1_codecs_encode_only(tmp_path):
    path = tmp_path / "py3bytes.pkl"
    path.write_bytes(pickle.dumps({"b": b"\xe9abc", "a": np.arange(3)}, protocol=2))
    assert b"_codecs\nencode" in path.read_bytes()
    out = safe_pickle.load_pickle_dict(path)
    assert out["b"] == b"\xe9abc"
    np.testing.assert_array_equal(out["a"], np.arange(3))
    # The same global with another codec is refused (it could decode attacker-chosen formats).
    path.write_bytes(b"c_codecs\nencode\n(Vabc\nVrot13\ntR.")
    with pytest.raises(ModelFileError, match="_codecs"):
        safe_pickle.load_pickle_dict(path)


# --------------------------------------------------------------------------------------------------------------------
# SMPL-H and MANO


@pytest.mark.parametrize("protocol", [0, 2])
def test_smplh_pkl_with_mano_hand_pca_merge(tmp_path, protocol):
    body, left, right, (body_path, left_path, right_path) = synth.write_smplh_pair_with_mano(
        tmp_path, "female", protocol
    )
    model = read_model_file(body_path)
    assert_model_equals(model, body, "smplh", slice(0, 10))
    assert model["gender"] == "female"
    assert not any(key.startswith("hands_") for key in model)
    merged = read_model_file(body_path, hand_pca=(left_path, right_path))
    assert_model_equals(merged, body, "smplh", slice(0, 10))
    np.testing.assert_array_equal(merged["hands_components_left"], left["hands_components"])
    np.testing.assert_array_equal(merged["hands_components_right"], right["hands_components"])
    np.testing.assert_array_equal(merged["hands_mean_left"], left["hands_mean"])
    np.testing.assert_array_equal(merged["hands_mean_right"], right["hands_mean"])
    assert not np.array_equal(left["hands_mean"], right["hands_mean"])
    assert merged["meta"]["hand_pca_left"] == str(left_path.resolve())


def test_mano_pkl_reads_select_shapedirs(tmp_path):
    path = tmp_path / "MANO_RIGHT.pkl"
    arrays = synth.write_mano_pkl(path, "right", protocol=0)
    model = read_model_file(path)
    assert_model_equals(model, arrays, "mano", slice(0, 10))
    np.testing.assert_array_equal(model["hands_components"], arrays["hands_components"])
    np.testing.assert_array_equal(model["hands_mean"], arrays["hands_mean"])


def test_hand_pca_misuse_is_refused(tmp_path):
    _, _, _, (body_path, left_path, right_path) = synth.write_smplh_pair_with_mano(tmp_path)
    smpl_path = tmp_path / "SMPL_NEUTRAL.pkl"
    synth.write_smpl_pkl_py2(smpl_path, n_verts=50)
    assert_refused(smpl_path, "SMPL-H", hand_pca=(left_path, right_path))
    with pytest.raises(ModelFileError, match="SMPL_NEUTRAL.pkl: not a MANO hand model"):
        read_model_file(body_path, hand_pca=(smpl_path, right_path))
    with pytest.raises(ModelFileError, match="MANO_LEFT.pkl"):
        read_model_file(body_path, hand_pca=(tmp_path / "MANO_LEFT.pkl.missing", right_path))


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16])
def test_smplh_extended_npz_16_betas(tmp_path, dtype):
    path = tmp_path / "smplh" / "neutral" / "model.npz"
    path.parent.mkdir(parents=True)
    arrays = synth.write_smplh_npz(path, num_betas=16, dtype=dtype, n_verts=V)
    stored = {
        key: value.astype(dtype).astype(np.float64) if value.dtype.kind == "f" else value
        for key, value in arrays.items()
    }
    # float16 rounding leaves rows of weights summing to 1 only within ~1e-3: still accepted.
    model = read_model_file(path)
    assert_model_equals(model, stored, "smplh", slice(0, 16))
    assert model["shapedirs"].shape == (V, 3, 16)
    assert model["gender"] == "neutral"


@pytest.mark.parametrize("dtype", [np.uint16, np.int32, np.uint32, np.int64, np.uint64])
def test_faces_in_any_integer_dtype(tmp_path, dtype):
    path = tmp_path / "faces.npz"
    arrays = synth.synthetic_arrays("smpl", n_verts=60)
    arrays["f"] = arrays["f"].astype(dtype)
    np.savez(path, **arrays)
    model = read_model_file(path)
    assert model["faces"].dtype == np.int64
    np.testing.assert_array_equal(model["faces"], arrays["f"].astype(np.int64))


# --------------------------------------------------------------------------------------------------------------------
# SMPL-X


@pytest.mark.parametrize("fmt", ["npz", "pkl"])
@pytest.mark.parametrize(
    "version, shape_cols, expr_cols", [("1.0", slice(0, 10), slice(10, 20)), ("1.1", slice(0, 300), slice(300, 400))]
)
def test_smplx_shape_expression_split(tmp_path, fmt, version, shape_cols, expr_cols):
    path = tmp_path / f"SMPLX_NEUTRAL.{fmt}"
    writer = synth.write_smplx_npz if fmt == "npz" else synth.write_smplx_pkl
    arrays = writer(path, version=version, n_verts=V)
    model = read_model_file(path)
    assert_model_equals(model, arrays, "smplx", shape_cols, expr_cols)
    np.testing.assert_array_equal(model["hands_components_left"], arrays["hands_componentsl"])
    np.testing.assert_array_equal(model["hands_components_right"], arrays["hands_componentsr"])
    np.testing.assert_array_equal(model["hands_mean_left"], arrays["hands_meanl"])
    np.testing.assert_array_equal(model["hands_mean_right"], arrays["hands_meanr"])
    np.testing.assert_array_equal(model["vt"], arrays["vt"])
    np.testing.assert_array_equal(model["ft"], arrays["ft"].astype(np.int64))
    assert model["gender"] == "neutral"
    assert "joint2num" not in model["meta"] and "part2num" not in model["meta"]


def test_smplx_npz_object_members_are_skipped_not_unpickled(tmp_path):
    path = tmp_path / "SMPLX_MALE.npz"
    synth.write_smplx_npz(path, version="1.0", n_verts=V, object_members=True)
    with np.load(path, allow_pickle=False) as npz:
        with pytest.raises(ValueError, match="allow_pickle"):
            npz["joint2num"]  # the member really is a pickled object
    assert read_model_file(path)["gender"] == "male"


def test_open_body_layout_zero_padding_joint_names_and_metadata(tmp_path):
    path = tmp_path / "open_smplx_neutral.npz"
    arrays = synth.synthetic_arrays("smplx", n_verts=V, n_columns=400, seed=8, uv=True, hand_pca=True)
    arrays["shapedirs"][:, :, 16:300] = 0.0  # 16 betas padded with zeros up to 300
    arrays["shapedirs"][:, :, 310:] = 0.0  # 10 expressions padded up to 100
    names = np.array([f"joint_{j:02d}" for j in range(55)])
    extra = {
        "joint_names": names,
        "license": np.array("CC0-1.0 \xe9"),
        "model_type": np.array("smplx"),
        "num_betas": np.array(16),
        "gender": np.array(b"neutral"),
    }
    np.savez(path, **arrays, **extra)
    model = read_model_file(path)
    assert_model_equals(model, arrays, "smplx", slice(0, 16), slice(300, 310))
    assert model["joint_names"] == names.tolist()
    assert model["meta"]["license"] == "CC0-1.0 \xe9" and model["meta"]["model_type"] == "smplx"
    assert model["meta"]["num_betas"] == 16 and model["meta"]["gender"] == "neutral"
    assert model["gender"] == "neutral"


def test_all_zero_expression_block_keeps_one_column(tmp_path):
    path = tmp_path / "zero_expr.npz"
    arrays = synth.synthetic_arrays("smplx", n_verts=60, n_columns=400)
    arrays["shapedirs"][:, :, 300:] = 0.0
    np.savez(path, **arrays)
    model = read_model_file(path)
    assert model["exprdirs"].shape == (60, 3, 1) and not model["exprdirs"].any()
    assert model["shapedirs"].shape == (60, 3, 300)


# --------------------------------------------------------------------------------------------------------------------
# Folders of official files


def _write_clean_smpl(path, seed):
    return synth.write_clean_pkl(path, synth.synthetic_arrays("smpl", n_verts=40, seed=seed))


def test_folder_gender_picks_the_file(tmp_path):
    written = {
        gender: _write_clean_smpl(tmp_path / f"SMPL_{gender.upper()}.pkl", seed)
        for seed, gender in enumerate(("female", "male", "neutral"))
    }
    for gender in ("female", "male", "neutral"):
        model = read_model_file(tmp_path, gender=gender)
        assert model["gender"] == gender and Path(model["path"]).name == f"SMPL_{gender.upper()}.pkl"
        np.testing.assert_array_equal(model["v_template"], written[gender]["v_template"])
    assert read_model_file(tmp_path, gender="f")["gender"] == "female"
    assert read_model_file(tmp_path)["gender"] == "neutral"  # no gender: the neutral model, as smplx defaults


def test_folder_official_smpl_names(tmp_path):
    synth.write_smpl_pkl_py2(tmp_path / "basicModel_f_lbs_10_207_0_v1.0.0.pkl", n_verts=40)
    synth.write_smpl_pkl_py2(tmp_path / "basicmodel_m_lbs_10_207_0_v1.0.0.pkl", n_verts=40, seed=1)
    assert read_model_file(tmp_path, gender="male")["gender"] == "male"
    message = assert_refused(tmp_path, "pass gender=")  # two genders, no neutral
    assert "basicModel_f_lbs_10_207_0_v1.0.0.pkl" in message and "basicmodel_m" in message
    assert_refused(tmp_path, "no neutral", gender="neutral")


def test_folder_amass_smplh_layout_and_content_detection(tmp_path):
    for gender in ("female", "male"):
        (tmp_path / "smplh" / gender).mkdir(parents=True)
        synth.write_smplh_npz(tmp_path / "smplh" / gender / "model.npz", n_verts=40)
    model = read_model_file(tmp_path, gender="female")
    assert model["kind"] == "smplh" and model["gender"] == "female"
    # A renamed npz is recognised from its weights header (J = 55 -> SMPL-X) and its gender member.
    other = tmp_path / "other"
    other.mkdir()
    synth.write_smplx_npz(other / "my_body.npz", version="1.0", n_verts=40, extra={"gender": np.array("male")})
    assert read_model_file(other)["kind"] == "smplx"


def test_folder_with_several_kinds_needs_kind(tmp_path):
    _write_clean_smpl(tmp_path / "SMPL_NEUTRAL.pkl", 0)
    synth.write_smplx_npz(tmp_path / "SMPLX_NEUTRAL.npz", version="1.0", n_verts=40)
    synth.write_mano_pkl(tmp_path / "MANO_LEFT.pkl")  # a hand, never a body candidate
    message = assert_refused(tmp_path, "kind=")
    assert "SMPL_NEUTRAL.pkl (smpl, neutral)" in message and "SMPLX_NEUTRAL.npz (smplx, neutral)" in message
    assert read_model_file(tmp_path, kind="smplx")["kind"] == "smplx"
    assert read_model_file(tmp_path, kind="smpl")["kind"] == "smpl"
    assert_refused(tmp_path, "no smplh", kind="smplh")


def test_folder_prefers_npz_and_reports_ambiguity(tmp_path):
    synth.write_smplx_npz(tmp_path / "SMPLX_FEMALE.npz", version="1.0", n_verts=40)
    synth.write_smplx_pkl(tmp_path / "SMPLX_FEMALE.pkl", version="1.0", n_verts=40)
    assert Path(read_model_file(tmp_path).get("path")).suffix == ".npz"
    synth.write_smplx_npz(tmp_path / "SMPLX_FEMALE_2020.npz", version="1.0", n_verts=40)
    assert_refused(tmp_path, "several matching model files")


def test_folder_without_model_and_missing_paths(tmp_path):
    (tmp_path / "notes.txt").write_text("nothing here")
    assert_refused(tmp_path, "no SMPL / SMPL-H / SMPL-X model file")
    assert_refused(tmp_path / "SMPLX_NEUTRAL.npz", "no such file")
    assert_refused(tmp_path, "unknown gender", gender="robot")


def test_walk_files_and_the_model_folder_scan(tmp_path):
    from smpl_blender_addon.core.file_io import walk_files
    from smpl_blender_addon.core.model_files import MODEL_SCAN_DEPTH, model_folder_files

    names = [
        "a.npz",
        "B.PKL",
        "notes.txt",
        ".hidden.npz",
        ".git/x.npz",
        "d1/d2/d3/d4/deep.npz",
        "d1/d2/d3/d4/d5/no.npz",
    ]
    for name in names:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    os.mkfifo(tmp_path / "pipe.npz")
    (tmp_path / "d1" / "link").symlink_to(tmp_path / "d1" / "d2", target_is_directory=True)
    found = [os.path.relpath(p, tmp_path) for p in model_folder_files(tmp_path)]
    assert MODEL_SCAN_DEPTH == 4 and found == ["B.PKL", "a.npz", os.path.join("d1", "d2", "d3", "d4", "deep.npz")]
    assert walk_files(tmp_path, (".npz",), max_depth=0) == [str(tmp_path / "a.npz")]
    assert walk_files(tmp_path, (".txt",)) == [str(tmp_path / "notes.txt")]
    assert walk_files(tmp_path, (".npz",), prune=lambda p: p.endswith("d3")) == [str(tmp_path / "a.npz")]
    assert walk_files(tmp_path, max_files=2) == [str(tmp_path / "B.PKL"), str(tmp_path / "a.npz")]
    assert walk_files(tmp_path / "missing") == []


def test_file_kind_mismatch_is_refused(tmp_path):
    path = tmp_path / "SMPLX_NEUTRAL.npz"  # named like SMPL-X, holds SMPL
    np.savez(path, **synth.synthetic_arrays("smpl", n_verts=40))
    assert read_model_file(path)["kind"] == "smpl"  # kind comes from the arrays, never the name
    assert_refused(path, "holds a smpl model", kind="smplx")


# --------------------------------------------------------------------------------------------------------------------
# smplx reads the same files: its buffers are an independent reference for writer and reader.


def _smplx_buffers(body):
    return {
        "v_template": body.v_template.double().numpy(),
        "shapedirs": body.shapedirs.double().numpy(),
        "posedirs": body.posedirs.double().numpy(),
        "J_regressor": body.J_regressor.double().numpy(),
        "weights": body.lbs_weights.double().numpy(),
        "parents": body.parents.numpy(),
        "faces": np.asarray(body.faces_tensor.numpy(), dtype=np.int64),
    }


def _assert_matches_smplx(model, body, shapedirs):
    reference = _smplx_buffers(body)
    n_verts = model["v_template"].shape[0]
    np.testing.assert_array_equal(model["parents"], reference["parents"])
    np.testing.assert_array_equal(model["faces"], reference["faces"])
    for key in ("v_template", "J_regressor", "weights"):
        np.testing.assert_allclose(model[key], reference[key], rtol=0, atol=1e-7, err_msg=key)
    posedirs = model["posedirs"].reshape(n_verts * 3, -1).T  # file (V,3,P) -> smplx (P,3V)
    np.testing.assert_allclose(posedirs, reference["posedirs"], rtol=0, atol=1e-7)
    np.testing.assert_allclose(shapedirs, reference["shapedirs"], rtol=0, atol=1e-7)


def test_smplx_package_reads_the_same_arrays(tmp_path):
    smplx = pytest.importorskip("smplx")
    smpl_path = tmp_path / "SMPL_NEUTRAL.pkl"
    synth.write_clean_pkl(smpl_path, synth.synthetic_arrays("smpl", n_verts=V, seed=4))
    model = read_model_file(smpl_path)
    _assert_matches_smplx(model, smplx.SMPL(model_path=str(smpl_path), num_betas=10), model["shapedirs"])

    smplh_path = tmp_path / "SMPLH_MALE.npz"
    synth.write_smplh_npz(smplh_path, num_betas=10, hand_pca=True, n_verts=V)
    model = read_model_file(smplh_path)
    body = smplx.SMPLH(model_path=str(smplh_path), num_betas=10, ext="npz")
    _assert_matches_smplx(model, body, model["shapedirs"])
    np.testing.assert_allclose(
        model["hands_components_left"][:6], body.left_hand_components.double().numpy(), rtol=0, atol=1e-7
    )

    smplx_path = tmp_path / "SMPLX_NEUTRAL.npz"
    synth.write_smplx_npz(smplx_path, version="1.1", n_verts=V)
    model = read_model_file(smplx_path)
    body = smplx.SMPLX(model_path=str(smplx_path), num_betas=300, num_expression_coeffs=100)
    _assert_matches_smplx(model, body, model["shapedirs"])
    np.testing.assert_allclose(model["exprdirs"], body.expr_dirs.double().numpy(), rtol=0, atol=1e-7)


# --------------------------------------------------------------------------------------------------------------------
# Hostile pickles: refused before anything runs. Each payload would create a marker file if it were executed.


class _Payload:
    """Pickles as ``func(*args)``: the classic code-execution gadget."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def _touch_command(marker):
    return f"touch {marker}"


def _handmade_payloads(marker):
    """Protocol-0 opcode streams that REDUCE / INST a dangerous global, as an attacker would write them by hand."""
    shell = _touch_command(marker).encode()
    code = f"open({str(marker)!r}, 'w').close()".encode()
    argv = b"(lp0\nV" + b"touch\naV" + str(marker).encode() + b"\na"
    return {
        "os.system": b"cos\nsystem\n(V" + shell + b"\ntR.",
        "posix.system": b"cposix\nsystem\n(V" + shell + b"\ntR.",
        "builtins.eval": b"cbuiltins\neval\n(V" + code + b"\ntR.",
        "__builtin__.eval": b"c__builtin__\neval\n(V" + code + b"\ntR.",
        "subprocess.Popen": b"csubprocess\nPopen\n(" + argv + b"tR.",
        "subprocess.check_output": b"csubprocess\ncheck_output\n(" + argv + b"tR.",
        "INST os.system": b"(V" + shell + b"\nios\nsystem\n.",
        "copy_reg._reconstructor(set)": b"ccopy_reg\n_reconstructor\n(c__builtin__\nset\nc__builtin__\nobject\nNtR.",
        "_reconstruct(non-ndarray)": b"cnumpy.core.multiarray\n_reconstruct\n(cchumpy.ch\nCh\n(I0\ntS'b'\ntR.",
        "persistent id": b"P1\n.",
        "BUILD on an allowed function": b"c_codecs\nencode\n(N(V__defaults__\n(Vrot13\ntdtb.",
    }


@pytest.mark.parametrize("name", sorted(_handmade_payloads(Path("m"))))
def test_handmade_hostile_pickle_never_runs(tmp_path, name):
    marker = tmp_path / "marker"
    path = tmp_path / "evil.pkl"
    path.write_bytes(_handmade_payloads(marker)[name])
    assert_refused(path, "refused")
    assert not marker.exists()


def test_handmade_payload_is_live_under_plain_pickle(tmp_path):
    """Control: the os.system stream really executes with an unrestricted load, so the refusal above is meaningful."""
    marker = tmp_path / "marker"
    pickle.loads(_handmade_payloads(marker)["os.system"])
    assert marker.exists()


@pytest.mark.parametrize("protocol", [0, 1, 2, 3, 4, 5])
@pytest.mark.parametrize("gadget", ["os.system", "subprocess.check_output", "eval"])
def test_python3_generated_payloads_never_run(tmp_path, protocol, gadget):
    marker = tmp_path / "marker"
    payload = {
        "os.system": _Payload(os.system, _touch_command(marker)),
        "subprocess.check_output": _Payload(subprocess.check_output, ["touch", str(marker)]),
        "eval": _Payload(eval, f"open({str(marker)!r}, 'w').close()"),
    }[gadget]
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"v_template": np.zeros((3, 3)), "x": payload}, protocol=protocol))
    message = assert_refused(path, "is not allowed")
    # Python 3 writes py2 names at protocol < 3 (commands.check_output, __builtin__.eval): refused under any name.
    assert gadget.rpartition(".")[2] in message
    assert not marker.exists()


@pytest.mark.parametrize("protocol", [0, 2])
def test_payload_hidden_deep_in_a_valid_model_never_runs(tmp_path, protocol):
    marker = tmp_path / "marker"
    arrays = synth.synthetic_arrays("smpl", n_verts=40)
    content = synth._py2_model_dict(arrays)
    content["pose_training_info"] = {"runs": [{"settings": ({"hook": _Payload(os.system, _touch_command(marker))},)}]}
    path = tmp_path / "SMPL_NEUTRAL.pkl"
    path.write_bytes(synth.py2_pickle_bytes(content, protocol, extra_globals={os.system: ("os", "system")}))
    assert b"cos\nsystem" in path.read_bytes()
    assert_refused(path, "os.system is not allowed")
    assert not marker.exists()


def test_unevaluated_chumpy_expression_is_refused(tmp_path):
    arrays = synth.synthetic_arrays("smpl", n_verts=40)
    content = synth._py2_model_dict(arrays)
    half = arrays["shapedirs"] / 2
    content["shapedirs"] = synth.ChOpsAdd(synth.Ch(half), synth.Ch(half))
    path = tmp_path / "SMPL_MALE.pkl"
    path.write_bytes(synth.py2_pickle_bytes(content, 2))
    assert_refused(path, "chumpy.ch_ops.add is not allowed")


def test_absurd_array_size_is_refused_before_allocation(tmp_path):
    path = tmp_path / "huge.pkl"
    path.write_bytes(b"cnumpy.core.multiarray\n_reconstruct\n(cnumpy\nndarray\n(I1000000000000\ntS'b'\ntR.")
    assert_refused(path, "byte limit")
    path.write_bytes(b"cnumpy\nndarray\n(I1000000000000\ntR.")  # the class itself is not callable from a stream
    assert_refused(path, "not a readable pickle")


def test_oversized_npz_member_is_refused(tmp_path, monkeypatch):
    from smpl_blender_addon.core import file_io

    path = tmp_path / "big.npz"
    np.savez(path, **synth.synthetic_arrays("smpl", n_verts=40))
    monkeypatch.setattr(file_io, "MAX_ARRAY_BYTES", 1000)  # stands in for a multi-GB member
    assert_refused(path, "byte limit")


# --------------------------------------------------------------------------------------------------------------------
# Malformed files: one clear ModelFileError naming the file, never a KeyError / IndexError / partial model.


def _set(key, value_fn):
    def mutate(arrays):
        arrays[key] = value_fn(arrays)

    return mutate


def _nan_at(key, index):
    def mutate(arrays):
        arrays[key] = arrays[key].astype(np.float64)
        arrays[key][index] = np.nan

    return mutate


def _inf_at(key, index):
    def mutate(arrays):
        arrays[key][index] = np.inf

    return mutate


def _parent(joint, parent):
    def mutate(arrays):
        arrays["kintree_table"][0, joint] = parent

    return mutate


def _drop(key):
    def mutate(arrays):
        del arrays[key]

    return mutate


def _chain_of(n_joints):
    def mutate(arrays):
        n_verts = arrays["v_template"].shape[0]
        rng = np.random.default_rng(0)
        arrays["kintree_table"] = np.stack([np.arange(-1, n_joints - 1) % 2**32, np.arange(n_joints)])
        arrays["weights"] = synth._sparse_rows(rng, n_verts, n_joints, 4)
        arrays["J_regressor"] = synth._sparse_rows(rng, n_joints, n_verts, 4)
        arrays["posedirs"] = np.zeros((n_verts, 3, 9 * (n_joints - 1)))

    return mutate


MALFORMED = {
    "v_template (V,2)": (_set("v_template", lambda a: a["v_template"][:, :2]), "v_template has shape"),
    "shapedirs (V,2,S)": (_set("shapedirs", lambda a: a["shapedirs"][:, :2]), "shapedirs has shape"),
    "posedirs wrong P": (_set("posedirs", lambda a: a["posedirs"][:, :, :200]), "posedirs has shape"),
    "weights (V,J+1)": (_set("weights", lambda a: np.pad(a["weights"], ((0, 0), (0, 1)))), "weights has shape"),
    "J_regressor (J,V-1)": (_set("J_regressor", lambda a: a["J_regressor"][:, 1:]), "J_regressor has shape"),
    "faces (F,4)": (_set("f", lambda a: np.pad(a["f"], ((0, 0), (0, 1)))), "f has shape"),
    "NaN in v_template": (_nan_at("v_template", (3, 1)), "v_template contains NaN"),
    "NaN in shapedirs": (_nan_at("shapedirs", (0, 0, 9)), "shapedirs contains NaN"),
    "inf in posedirs": (_inf_at("posedirs", (5, 2, 100)), "posedirs contains NaN or infinite"),
    "parent after child": (_parent(4, 7), "joint 4 has parent 7"),
    "parent is itself": (_parent(5, 5), "joint 5 has parent 5"),
    "parent out of range": (_parent(3, 4000), "parent index out of range"),
    "face index == V": (_set("f", lambda a: np.where(a["f"] == 0, 60, a["f"])), "outside [0, 60)"),
    "negative face index": (_set("f", lambda a: a["f"].astype(np.int32) - 1), "outside [0, 60)"),
    "float faces": (_set("f", lambda a: a["f"].astype(np.float64)), "f has dtype float64, expected integers"),
    "string v_template": (_set("v_template", lambda a: a["v_template"].astype(str)), "v_template has dtype"),
    "missing weights": (_drop("weights"), "missing required key(s) weights"),
    "missing kintree_table": (_drop("kintree_table"), "missing required key(s) kintree_table"),
    "weights rows not 1": (_set("weights", lambda a: a["weights"] * 1.1), "weights rows must sum to 1"),
    "30 joints": (_chain_of(30), "30 joints matches no known model"),
    "kintree row 1 permuted": (_set("kintree_table", lambda a: a["kintree_table"][:, ::-1]), "row 1"),
    "vt without ft": (_set("vt", lambda a: np.zeros((5, 2))), "needs both vt and ft"),
    "joint_names wrong length": (_set("joint_names", lambda a: np.array(["a", "b"])), "joint_names must be 24"),
    "hand mean wrong shape": (_set("hands_meanl", lambda a: np.zeros(44)), "hands_meanl has shape"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_arrays_are_refused(tmp_path, case):
    mutate, expected = MALFORMED[case]
    arrays = synth.synthetic_arrays("smpl", n_verts=60)
    mutate(arrays)
    npz_path = tmp_path / "bad.npz"
    np.savez(npz_path, **arrays)
    assert_refused(npz_path, expected)
    pkl_path = tmp_path / "bad.pkl"  # the same content through the pickle path
    pkl_path.write_bytes(synth.py2_pickle_bytes(arrays, 2))
    assert_refused(pkl_path, expected)


def test_smplx_with_ambiguous_column_count_is_refused(tmp_path):
    path = tmp_path / "SMPLX_NEUTRAL.npz"
    np.savez(path, **synth.synthetic_arrays("smplx", n_verts=40, n_columns=300))
    assert_refused(path, "expected at most 20")


def test_object_array_member_required_by_the_model_is_refused(tmp_path):
    path = tmp_path / "object.npz"
    arrays = synth.synthetic_arrays("smpl", n_verts=40)
    arrays["v_template"] = np.array(list(arrays["v_template"]) + [None], dtype=object)
    np.savez(path, **arrays)
    assert_refused(path, "v_template are pickled object arrays")


@pytest.mark.parametrize("suffix", ["pkl", "npz"])
def test_truncated_empty_and_garbage_files(tmp_path, suffix):
    path = tmp_path / f"SMPL_NEUTRAL.{suffix}"
    if suffix == "pkl":
        synth.write_smpl_pkl_py2(path, n_verts=60)
    else:
        np.savez(path, **synth.synthetic_arrays("smpl", n_verts=60))
    whole = path.read_bytes()
    for cut in (len(whole) // 2, len(whole) - 3, 5):
        path.write_bytes(whole[:cut])
        assert_refused(path)
    path.write_bytes(b"")
    assert_refused(path, "file is empty")
    path.write_bytes(b"this is not a model file at all\n" * 4)
    assert_refused(path)


def test_pickle_that_is_not_a_model_dict(tmp_path):
    path = tmp_path / "list.pkl"
    path.write_bytes(synth.py2_pickle_bytes([1, 2, 3], 2))
    assert_refused(path, "expected a dict")
    path.write_bytes(synth.py2_pickle_bytes({"a": 1}, 2))
    assert_refused(path, "missing required key(s)")


def test_broken_chumpy_and_sparse_states(tmp_path):
    arrays = synth.synthetic_arrays("smpl", n_verts=40)
    bad_select = synth.select_from_dense(arrays["shapedirs"])
    bad_select.idxs = bad_select.idxs + 10**6
    no_x = synth.Ch(arrays["shapedirs"])
    del no_x.x
    bad_csc = synth.csc_from_dense(arrays["J_regressor"])
    bad_csc.indptr = bad_csc.indptr[:-1]
    cases = {"shapedirs": bad_select, "posedirs": no_x, "J_regressor": bad_csc}
    for key, value in cases.items():
        content = synth._py2_model_dict(arrays)
        content[key] = value
        path = tmp_path / f"broken_{key}.pkl"
        path.write_bytes(synth.py2_pickle_bytes(content, 2))
        assert_refused(path, "cannot evaluate the stored values")


def test_npz_header_declaring_a_huge_array_is_refused_before_allocation(tmp_path):
    import io
    import zipfile

    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": (10**10, 3)})
    path = tmp_path / "lying.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("v_template.npy", header.getvalue() + b"\0" * 64)
    assert_refused(path, "declares 240000000000 bytes")


def test_reading_a_chumpy_pickle_imports_neither_chumpy_scipy_nor_bpy(tmp_path):
    path = tmp_path / "SMPL_MALE.pkl"
    synth.write_smpl_pkl_py2(path, n_verts=40)
    script = (
        "import sys\n"
        "from smpl_blender_addon.core.model_files import read_model_file\n"
        f"model = read_model_file({str(path)!r})\n"
        "assert model['kind'] == 'smpl'\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('chumpy', 'scipy', 'bpy', 'torch')))\n"
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", script], cwd=root, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


# --------------------------------------------------------------------------------------------------------------------
# Fuzzing: any corruption of a valid file gives a model or a ModelFileError, never another exception.


def _small_model_files():
    arrays = synth.synthetic_arrays("smpl", n_verts=12)
    content = synth._py2_model_dict(arrays)
    buffer = __import__("io").BytesIO()
    np.savez(buffer, **arrays)
    return {
        "p0.pkl": synth.py2_pickle_bytes(content, 0),
        "p2.pkl": synth.py2_pickle_bytes(content, 2),
        "m.npz": buffer.getvalue(),
    }


_FUZZ_SOURCES = _small_model_files()


@pytest.mark.parametrize("name", sorted(_FUZZ_SOURCES))
def test_corrupted_files_fail_cleanly(tmp_path_factory, name):
    hypothesis = pytest.importorskip("hypothesis")
    st = hypothesis.strategies
    source = _FUZZ_SOURCES[name]
    folder = tmp_path_factory.mktemp("fuzz")

    @hypothesis.settings(max_examples=40, deadline=None, derandomize=True)
    @hypothesis.given(
        edits=st.lists(st.tuples(st.integers(0, len(source) - 1), st.integers(0, 255)), min_size=1, max_size=4),
        cut=st.integers(1, len(source)),
    )
    def check(edits, cut):
        data = bytearray(source)
        for position, value in edits:
            data[position] = value
        path = folder / name
        path.write_bytes(bytes(data[:cut]))
        try:
            model = read_model_file(path)
        except ModelFileError as err:
            assert name in str(err)
        else:
            assert model["kind"] in ("smpl", "smplh", "smplx", "mano") and model["faces"].dtype == np.int64

    check()


@pytest.mark.parametrize(
    "protocol, core_name", [(0, b"numpy.core"), (0, b"numpy._core"), (2, b"numpy.core"), (2, b"numpy._core"), (4, None)]
)
def test_numpy_scalars_under_both_core_module_names(tmp_path, protocol, core_name):
    """numpy 1.x writes numpy.core, numpy 2 numpy._core: both are read. GLOBAL names are text up to protocol 2 and
    are rewritten to each; protocol 4 (length-prefixed, framed) keeps the running numpy's own name."""
    stream = pickle.dumps({"s": np.float32(1.5), "i": np.int64(-7), "a": np.arange(4, dtype=np.int16)}, protocol)
    written = b"numpy._core" if b"numpy._core.multiarray" in stream else b"numpy.core"
    assert written + b".multiarray" in stream
    path = tmp_path / "scalars.pkl"
    if core_name is not None:
        stream = stream.replace(written + b".multiarray", core_name + b".multiarray")
    path.write_bytes(stream)
    out = safe_pickle.load_pickle_dict(path)
    assert out["s"] == np.float32(1.5) and out["s"].dtype == np.float32 and out["i"] == -7
    np.testing.assert_array_equal(out["a"], np.arange(4, dtype=np.int16))
