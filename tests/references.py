# SPDX-License-Identifier: GPL-3.0-or-later
"""The reference implementation (``smplx`` on PyTorch) for the tests that compare against it."""

import importlib
import os

import pytest


def reference_module(name):
    """Import ``name`` (``torch``, ``smplx``, ``smplx.lbs``...). Where the machine has no PyTorch by design (the
    Debian root of scripts/real_blender.sh, SMPL_REAL_BLENDER=1) the calling test module is skipped; anywhere else a
    missing reference is an error, so the README's test run always compares."""
    if os.environ.get("SMPL_REAL_BLENDER"):
        return pytest.importorskip(name, reason=f"{name} (the reference) is not installed in this Blender's Python")
    return importlib.import_module(name)
