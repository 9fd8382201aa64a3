#!/usr/bin/env bash
# The README's main command: sets up .venv on a fresh machine, then runs the demo on the built-in open SMPL-X body.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"
exec python -m smpl_blender_addon demo "$@"
