#!/usr/bin/env bash
# The house's rules (CI): ruff format and ruff check (config in pyproject.toml), and the import contracts
# (layers, NumPy-only core, no import circles: [tool.importlinter] in pyproject.toml).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"
ruff format --check --diff .
ruff check .
lint-imports --no-cache
