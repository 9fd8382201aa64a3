# SPDX-License-Identifier: GPL-3.0-or-later
"""The layers stay clean: the package and its core import without Blender, SciPy or PyTorch; the import contracts
of pyproject.toml (layers, NumPy-only core, no import circles) hold."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "smpl_blender_addon"


def test_core_imports_numpy_only():
    code = (
        "import sys, smpl_blender_addon, smpl_blender_addon.core as c; c.load_model('open-smpl');"
        "print(sorted(m for m in ('bpy', 'scipy', 'torch', 'chumpy', 'mathutils', 'smplx') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=PACKAGE.parent
    ).stdout
    assert out.strip() == "[]"


def test_no_forbidden_imports_in_core_sources():
    pattern = re.compile(r"^\s*(import|from)\s+(bpy|mathutils|bmesh|scipy|torch)\b", re.M)
    offenders = [p.name for p in (PACKAGE / "core").rglob("*.py") if pattern.search(p.read_text())]
    assert offenders == []


def test_no_unsafe_loads_anywhere():
    pattern = re.compile(r"pickle\.loads?\(|allow_pickle\s*=\s*True")
    offenders = [str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py") if pattern.search(p.read_text())]
    assert offenders == []


def test_import_contracts_hold():
    lint_imports = shutil.which("lint-imports") or shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if lint_imports is None:
        pytest.skip("import-linter is not installed here (requirements-dev.txt has it)")
    run = subprocess.run([lint_imports, "--no-cache"], capture_output=True, text=True, cwd=PACKAGE.parent)
    assert run.returncode == 0, run.stdout[-3000:]
    assert "0 broken" in run.stdout and "3 kept" in run.stdout
