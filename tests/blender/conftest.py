# SPDX-License-Identifier: GPL-3.0-or-later
"""Real-bpy fixtures: one bpy import per session, an empty factory scene per test, small synthetic models."""

import os
import sys

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

sys.path.insert(0, os.path.dirname(__file__))
from blender_helpers import synthetic_model  # noqa: E402
from synthetic_body import official_layout_arrays, synthetic_arrays  # noqa: E402


@pytest.fixture(autouse=True)
def empty_scene():
    bpy.ops.wm.read_factory_settings(use_empty=True)
    yield


@pytest.fixture(params=["smpl", "smplh", "smplx"])
def any_model(request):
    return synthetic_model(request.param)


@pytest.fixture
def smplx_model():
    return synthetic_model("smplx")


@pytest.fixture(scope="session")
def official_npz(tmp_path_factory):
    """A synthetic SMPL-X model written as an official-layout .npz file (v1.0 layout: 10 betas + 10 expressions)."""
    path = tmp_path_factory.mktemp("models") / "SMPLX_NEUTRAL.npz"
    np.savez(path, **official_layout_arrays(synthetic_arrays("smplx", seed=3)))
    return path


@pytest.fixture
def registered_add_on():
    """The add-on registered (operators, panels, properties) for the test; unregistered after unless it already was.
    Yields ``ui.import_export``."""
    import bpy

    import smpl_blender_addon
    from smpl_blender_addon.ui import import_export

    registered = hasattr(bpy.types, "SMPL_OT_import_motion")
    if not registered:
        smpl_blender_addon.register()
    yield import_export
    if not registered:
        smpl_blender_addon.unregister()
