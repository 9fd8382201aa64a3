#!/usr/bin/env bash
# The README's test command: sets up .venv on a fresh machine, then runs every test (core, Blender, end-to-end).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"
exec python -m pytest -q "$@"
