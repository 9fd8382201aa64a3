#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Type-check the Blender layers (smpl_blender_addon/ui and smpl_blender_addon/blender) against fake-bpy-module stubs.
#
# The stubs (fake-bpy-module-5-0) and mypy are installed once into .cache/typecheck, never into .venv: the stubs are for
# type checks and editor completion only, and must never shadow the real bpy module that the tests run.
# Not a pytest test: it needs a one-time download and ~10 s, and the stubs lag Blender releases.
#
# Usage: scripts/typecheck.sh [extra mypy arguments]      exit status: mypy's
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
STUBS="$ROOT/.cache/typecheck"
if [ ! -d "$STUBS/bpy-stubs" ] || [ ! -d "$STUBS/mypy" ]; then
    echo "installing fake-bpy-module-5-0 and mypy into $STUBS ..." >&2
    "$PY" -m pip install -q --disable-pip-version-check --target "$STUBS" fake-bpy-module-5-0 mypy 2>&1 \
        | grep -v "^WARNING: Location" >&2 || true
fi
cd "$ROOT"
# valid-type: Blender declares operator properties as annotations holding calls (`name: StringProperty(...)`), which
# bpy reads at registration; mypy cannot treat a call as a type. Every other check stays on.
# --follow-imports=silent: core/ is checked on its own terms (plain NumPy), not reported here.
PYTHONPATH="$STUBS" exec "$PY" -m mypy --cache-dir "$STUBS/.mypy_cache" --follow-imports=silent \
    --disable-error-code valid-type "$@" smpl_blender_addon/ui smpl_blender_addon/blender
