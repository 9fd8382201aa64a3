#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Run the Blender and end-to-end tests with Blender 4.5 LTS (the bpy 4.5 module), the oldest Blender the extension
# supports (blender_manifest.toml: blender_version_min). The main venv (.venv, scripts/env.sh) stays on bpy 5.0.1.
#
# Creates the venv once (torch CPU first, so smplx does not pull a CUDA build), then reuses it; a stamp file records
# what was installed, so changing BPY45 or the pins below re-installs.
#
# Usage: scripts/test_blender45.sh [VENV] [-- extra pytest arguments]
#        VENV defaults to .venv45 in the repository (git-ignored). BPY45=4.5.x picks another 4.5 release.
# Exit status: pytest's (or 1 when the environment cannot be set up).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv45"
if [ $# -gt 0 ] && [ "$1" != "--" ]; then
    VENV="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
    shift
fi
[ "${1:-}" = "--" ] && shift
PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null 2>&1 || PY=python3
BPY45="${BPY45:-4.5.15}"
PINS=(bpy=="$BPY45" numpy==1.26.4 smplx==0.1.28 pytest hypothesis ufbx==0.0.5 pygltflib smplcodec==2.3.0)
if [ ! -x "$VENV/bin/python" ]; then
    "$PY" -m venv "$VENV"
fi
STAMP="$VENV/.installed-$(echo "torch==2.13.0 ${PINS[*]}" | sha1sum | cut -c1-12)"
if [ ! -f "$STAMP" ]; then
    echo "setting up $VENV (torch CPU, bpy $BPY45, smplx, pytest) ..." >&2
    "$VENV/bin/pip" install -q --disable-pip-version-check torch==2.13.0 2>&1 | grep -v "^WARNING: Location" >&2 || true
    "$VENV/bin/pip" install -q --disable-pip-version-check "${PINS[@]}" 2>&1 | grep -v "^WARNING: Location" >&2 || true
    "$VENV/bin/python" -c "import bpy, numpy, torch, smplx, pytest, ufbx; assert bpy.app.version[:2] == (4, 5), bpy.app.version" \
        || { echo "environment set-up failed" >&2; exit 1; }
    touch "$STAMP"
fi
cd "$ROOT"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}" MKL_NUM_THREADS="${MKL_NUM_THREADS:-1}"
# No cache provider: the .pytest_cache of the 5.0 runs (last-failed, ...) is not this interpreter's. The bpy 4.5
# module can hang in interpreter shutdown after the tests have finished (a Blender 4.5 exit-order issue of the module,
# not of the add-on: test_a_script_that_registers_the_add_on_exits covers scripts): the outcome is pytest's, and the
# process ends with os._exit once its output is flushed.
exec timeout 1500 "$VENV/bin/python" -c '
import os, sys
import pytest
status = int(pytest.main(["-q", "-p", "no:cacheprovider", "tests/blender", "tests/e2e"] + sys.argv[1:]))
sys.stdout.flush(); sys.stderr.flush()
os._exit(status)' "$@"
