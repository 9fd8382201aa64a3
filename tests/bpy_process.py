# SPDX-License-Identifier: GPL-3.0-or-later
"""Commands that run bpy code in a fresh process, wherever the tests run.

With the bpy module (the README's test run), ``sys.executable`` imports bpy. Inside a Blender binary
(scripts/real_blender.sh), ``sys.executable`` is a plain Python without bpy: the binary itself runs the code in
background mode, its arguments after ``--``. Plain-Python helpers (tests/ufbx_reader.py) keep using ``sys.executable``.
"""

import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLI_SCRIPT = os.path.join(REPO, "smpl_blender_addon", "cli.py")


def blender_binary():
    """The running Blender binary's path, or "" for the bpy module (or no bpy)."""
    bpy = sys.modules.get("bpy")
    return (bpy.app.binary_path or "") if bpy is not None else ""


def _background(*python_args, args=()):
    # --python-use-system-env: the binary reads PYTHONPATH (the tests pass the repository that way), as python does
    return [
        blender_binary(),
        "-b",
        "--factory-startup",
        "--python-use-system-env",
        "--python-exit-code",
        "1",
        *python_args,
        "--",
        *map(str, args),
    ]


def script_command(script_path, *args):
    """Run a bpy script file with ``args``: ``sys.argv[1:]`` under the bpy module, the arguments after ``--`` in
    Blender."""
    if blender_binary():
        return _background("--python", str(script_path), args=args)
    return [sys.executable, str(script_path), *map(str, args)]


# Inside Blender, code given with --python-expr sees Blender's own argv: make it the ``python -c`` one.
_ARGV = "import sys; sys.argv = ['-c'] + sys.argv[sys.argv.index('--') + 1:]\n"


def code_command(code, *args):
    """Run bpy code as ``python -c code args...`` does (``sys.argv[1:]`` are ``args`` in both cases)."""
    if blender_binary():
        return _background("--python-expr", _ARGV + code, args=args)
    return [sys.executable, "-c", code, *map(str, args)]


def cli_command(*args, script=False):
    """The command line: ``python -m smpl_blender_addon ARGS`` (``python cli.py ARGS`` with ``script``), or
    ``blender -b --python smpl_blender_addon/cli.py -- ARGS`` inside Blender."""
    if blender_binary():  # a leading "--" (the script form's) is Blender's own here
        return _background("--python", CLI_SCRIPT, args=args[1:] if args[:1] == ("--",) else args)
    head = [sys.executable, CLI_SCRIPT] if script else [sys.executable, "-m", "smpl_blender_addon"]
    return head + [str(a) for a in args]
