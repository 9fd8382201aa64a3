# SPDX-License-Identifier: GPL-3.0-or-later
"""Build the Blender extension zip with Blender's own tool, exactly as Blender does.

Stages the package so that the zip root holds the package ``__init__.py`` and ``blender_manifest.toml``::

    STAGE/__init__.py, core/, blender/, ui/, cli.py, ...   (copied from smpl_blender_addon/, no caches)
    STAGE/blender_manifest.toml                              (from the repository root)
    STAGE/LICENSE                                            (GPL-3.0 text)
    STAGE/assets/*.npz + open-body licence files             (the core looks in <package>/assets first)

then runs ``blender_ext.py build`` and ``blender_ext.py validate`` (shipped inside the ``bpy`` wheel) and prints the zip path.

Usage::

    python scripts/build_extension.py [--output-dir dist] [--stage-dir DIR] [--no-validate] [--tool blender_ext.py]

``--tool`` is for interpreters without the bpy wheel (e.g. Blender's bundled Python): pass
``<bpy.utils.system_resource('SCRIPTS')>/addons_core/bl_pkg/cli/blender_ext.py``.

Exit status 0 on success; on failure the tool's message is printed and the status is non-zero.
"""

import argparse
import glob
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE_DIR = os.path.join(REPO, "smpl_blender_addon")
MANIFEST = os.path.join(REPO, "blender_manifest.toml")
ASSETS_DIR = os.path.join(REPO, "assets")

# Never shipped: byte code, test and tool caches, editor droppings.
EXCLUDED_NAMES = ("__pycache__", "*.pyc", "*.pyo", ".pytest_cache", ".mypy_cache", ".hypothesis", ".*", "*~")
# Files in assets/ that are shipped besides the .npz bodies: the open-body licence and attribution texts.
ASSET_LICENCE_PATTERNS = ("LICENSE*", "LICENCE*", "*.md", "*.txt")


def find_blender_ext_tool():
    """Path of ``blender_ext.py`` inside the installed ``bpy`` wheel, found without importing bpy.

    (Importing bpy rewrites ``bpy.__file__`` to the scripts/modules copy, so the wheel's spec is used instead.)
    """
    spec = importlib.util.find_spec("bpy")
    if spec is None or not spec.origin:
        raise SystemExit("build_extension: the bpy module is not installed (pip install bpy==5.0.1)")
    wheel_dir = os.path.dirname(spec.origin)
    found = sorted(glob.glob(os.path.join(wheel_dir, "*", "scripts", "addons_core", "bl_pkg", "cli", "blender_ext.py")))
    if not found:
        raise SystemExit(f"build_extension: blender_ext.py not found under {wheel_dir}")
    return found[-1]


def read_manifest_version(manifest_path):
    """The ``version`` string of a blender_manifest.toml."""
    import tomllib

    with open(manifest_path, "rb") as fh:
        return tomllib.load(fh)["version"]


def asset_files(assets_dir):
    """Sorted paths of the files from ``assets/`` that go into the extension (bodies and their licence texts)."""
    patterns = ("*.npz",) + ASSET_LICENCE_PATTERNS
    paths = {p for pattern in patterns for p in glob.glob(os.path.join(assets_dir, pattern)) if os.path.isfile(p)}
    return sorted(paths)


def stage_package(stage_dir):
    """Copy the package, manifest, licence and assets into ``stage_dir`` (created or emptied). Returns ``stage_dir``."""
    if os.path.isdir(stage_dir):
        shutil.rmtree(stage_dir)
    shutil.copytree(PACKAGE_DIR, stage_dir, ignore=shutil.ignore_patterns(*EXCLUDED_NAMES))
    shutil.copy2(MANIFEST, os.path.join(stage_dir, "blender_manifest.toml"))
    licence = os.path.join(REPO, "LICENSE")
    if os.path.isfile(licence):
        shutil.copy2(licence, os.path.join(stage_dir, "LICENSE"))
    staged_assets = os.path.join(stage_dir, "assets")
    os.makedirs(staged_assets, exist_ok=True)
    for path in asset_files(ASSETS_DIR):
        shutil.copy2(path, os.path.join(staged_assets, os.path.basename(path)))
    return stage_dir


def run_tool(tool, *args):
    """Run ``blender_ext.py`` with this interpreter; raise SystemExit with its output on failure."""
    result = subprocess.run([sys.executable, tool, *args], capture_output=True, text=True)
    if result.returncode != 0:
        sys.stderr.write(result.stdout + result.stderr)
        raise SystemExit(f"build_extension: blender_ext.py {args[0]} failed (exit {result.returncode})")
    return result.stdout


def build_extension(output_dir=None, stage_dir=None, validate=True, tool=None):
    """Stage, build and (optionally) validate the extension. Returns the absolute path of the zip.

    tool: path of blender_ext.py; default: the one inside the installed bpy wheel.
    """
    output_dir = os.path.abspath(output_dir or os.path.join(REPO, "dist"))
    os.makedirs(output_dir, exist_ok=True)
    tool = tool or find_blender_ext_tool()
    package_version = _package_version()
    manifest_version = read_manifest_version(MANIFEST)
    if package_version != manifest_version:
        raise SystemExit(
            f"build_extension: blender_manifest.toml version {manifest_version} != package __version__ {package_version}"
        )
    zip_path = os.path.join(output_dir, f"smpl_blender_addon-{manifest_version}.zip")
    with tempfile.TemporaryDirectory(prefix="smpl_ext_stage_") as tmp:
        stage = stage_package(os.path.abspath(stage_dir) if stage_dir else os.path.join(tmp, "smpl_blender_addon"))
        run_tool(tool, "validate", stage)
        run_tool(tool, "build", "--source-dir", stage, "--output-filepath", zip_path)
    if validate:
        run_tool(tool, "validate", zip_path)
    return zip_path


def _package_version():
    """``__version__`` from the package's __init__.py, read as text so that nothing is imported."""
    with open(os.path.join(PACKAGE_DIR, "__init__.py"), encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("__version__"):
                return line.split("=", 1)[1].strip().strip("\"'")
    raise SystemExit("build_extension: no __version__ in smpl_blender_addon/__init__.py")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--output-dir", default=os.path.join(REPO, "dist"), help="where the zip is written (default: dist/)"
    )
    parser.add_argument("--stage-dir", default=None, help="keep the staged tree here (default: a temporary directory)")
    parser.add_argument("--no-validate", action="store_true", help="skip validating the built zip")
    parser.add_argument("--tool", default=None, help="path of blender_ext.py (default: found in the bpy wheel)")
    args = parser.parse_args(argv)
    print(build_extension(args.output_dir, args.stage_dir, validate=not args.no_validate, tool=args.tool))
    return 0


if __name__ == "__main__":
    sys.exit(main())
