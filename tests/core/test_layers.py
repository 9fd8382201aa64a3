# SPDX-License-Identifier: GPL-3.0-or-later
"""The layers stay clean: the package and its core import without Blender, SciPy or PyTorch."""

import ast
import re
import subprocess
import sys
from pathlib import Path

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


def _core_imports():
    """``({core module: core modules it imports}, [core imports made inside functions])``, read from the sources.

    Modules are named from core: ``"model"``, ``"formats.amass"``, ``"formats.__init__"``, ``"__init__"``.
    """
    core = PACKAGE / "core"
    modules = {p.relative_to(core).with_suffix("").parts: p for p in core.rglob("*.py")}

    def module(parts):  # a package stands for its __init__
        return next((m for m in (parts, parts + ("__init__",)) if m in modules), None)

    graph, hidden = {}, []
    for name, path in modules.items():
        package, tree = name[:-1], ast.parse(path.read_text())
        imported = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and 0 < node.level <= len(package) + 1:  # relative, within core
                base = package[: len(package) + 1 - node.level] + tuple(node.module.split(".") if node.module else ())
                imported |= {module(base + (alias.name,)) or module(base) for alias in node.names} - {None}
        graph[".".join(name)] = {".".join(m) for m in imported}
        hidden += [
            f"{'.'.join(name)}, line {node.lineno}"
            for function in ast.walk(tree)
            if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef))
            for node in ast.walk(function)
            if isinstance(node, ast.ImportFrom) and node.level
        ]
    return graph, hidden


def test_core_import_graph_is_acyclic_and_imports_are_at_module_level():
    graph, hidden = _core_imports()
    assert "formats.dispatch" in graph and "motion" in graph["formats.checks"]
    assert hidden == []
    done, active = set(), []

    def visit(module):
        assert module not in active, f"import cycle: {' -> '.join(active[active.index(module) :] + [module])}"
        if module in done:
            return
        active.append(module)
        for target in sorted(graph[module]):
            visit(target)
        active.pop()
        done.add(module)

    for module in sorted(graph):
        visit(module)
