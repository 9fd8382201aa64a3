# SPDX-License-Identifier: GPL-3.0-or-later
"""Draw docs/img/architecture.png: the package's modules grouped by layer, an arrow per import, from the code itself.

    .venv/bin/python scripts/draw_architecture.py [--out docs/img/architecture.png]

Needs grimp (installed with import-linter, requirements-dev.txt) and Graphviz's ``dot``.
"""

import argparse
import pathlib
import subprocess

import grimp

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGE = "smpl_blender_addon"
LAYERS = [  # (cluster label, module prefix, colour), top to bottom
    ("entry points", (f"{PACKAGE}.cli", f"{PACKAGE}.__main__", f"{PACKAGE}.demo"), "#f2f2f2"),
    ("ui/", (f"{PACKAGE}.ui",), "#e8f0fe"),
    ("batch/", (f"{PACKAGE}.batch",), "#fdf1e0"),
    ("blender/", (f"{PACKAGE}.blender",), "#e6f4ea"),
    ("core/", (f"{PACKAGE}.core",), "#fce8e6"),
]


def node_of(module, packages):
    """The drawn node of a module: sub-packages of a layer as one node each ("core.formats/"), a layer package's
    own ``__init__`` (its public API) as "<layer>.__init__"."""
    parts = module.split(".")
    if len(parts) >= 3 and ".".join(parts[:3]) in packages:
        return ".".join(parts[:3]) + "/"
    if module in packages:
        return module + ".__init__"
    return module


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "img" / "architecture.png"))
    args = parser.parse_args()
    graph = grimp.build_graph(PACKAGE)
    modules = sorted(m for m in graph.modules if m.startswith(PACKAGE + "."))
    packages = {m for m in modules if graph.find_children(m)}
    edges = set()
    for importer in modules:
        for imported in graph.find_modules_directly_imported_by(importer):
            a, b = node_of(importer, packages), node_of(imported, packages)
            if a != b and imported.startswith(PACKAGE + "."):
                edges.add((a, b))
    nodes = sorted({node_of(m, packages) for m in modules})
    lines = [
        "digraph house {",
        "rankdir=TB; compound=true; nodesep=0.15; ranksep=0.6;",
        'node [shape=box, style="rounded,filled", fillcolor=white, fontname="Helvetica", fontsize=10];',
        'edge [color="#00000055", arrowsize=0.5];',
    ]
    for i, (label, prefixes, colour) in enumerate(LAYERS):
        members = [n for n in nodes if any(n == p or n.startswith(p + ".") for p in prefixes)]
        lines.append(f'subgraph cluster_{i} {{ label="{label}"; style=filled; color="{colour}"; fontname="Helvetica";')
        lines += [f'"{n}" [label="{n.split(".", 2)[-1] if n.count(".") > 1 else n.split(".")[-1]}"];' for n in members]
        # (labels: the module's name inside its layer, e.g. "formats/", "__init__", "body")
        lines.append("}")
    lines += [f'"{a}" -> "{b}";' for a, b in sorted(edges)]
    lines.append("}")
    dot = "\n".join(lines)
    subprocess.run(["dot", "-Tpng", "-Gdpi=110", "-o", args.out], input=dot, text=True, check=True)
    print(f"{args.out}: {len(nodes)} modules, {len(edges)} imports")


if __name__ == "__main__":
    main()
