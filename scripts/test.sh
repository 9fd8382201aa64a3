#!/usr/bin/env bash
# The README's test command: sets up .venv on a fresh machine, then runs every test (core, Blender, end-to-end).
# SMPL_COVERAGE=1 (CI) measures line coverage of the package across every Python subprocess the tests start and
# prints the report (data in out/coverage/).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"
if [ "${SMPL_COVERAGE:-0}" != 1 ]; then
    exec python -m pytest -q "$@"
fi
rm -rf out/coverage && mkdir -p out/coverage
export COVERAGE_FILE="$ROOT/out/coverage/.coverage" COVERAGE_RCFILE="$ROOT/pyproject.toml"
status=0
python -m coverage run -m pytest -q "$@" || status=$?
python -m coverage combine -q
python -m coverage report --sort=cover | tail -n 45
exit $status
