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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ holds the synthetic model writers

import synthetic_models as synth  # noqa: E402

from smpl_blender_addon.core import safe_pickle  # noqa: E402
from smpl_blender_addon.core.errors import ModelFileError  # noqa: E402
from smpl_blender_addon.core.model_files import read_model_file  # noqa: E402

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
