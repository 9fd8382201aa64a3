# Source me: creates (once) and activates the project's virtual environment in .venv with
# Python 3.11, the bpy 5.0.1 module, and the test tools. Idempotent and quiet when already set up.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null 2>&1 || PY=python3
if [ ! -x "$VENV/bin/python" ]; then
    "$PY" -m venv "$VENV"
fi
STAMP="$VENV/.installed-$(sha1sum "$ROOT/requirements-dev.txt" | cut -c1-12)"
if [ ! -f "$STAMP" ]; then
    echo "setting up $VENV: torch (CPU), bpy 5.0.1, smplx, pytest... (first run: about 1 GB of downloads, a few minutes)" >&2
    "$VENV/bin/pip" install -q --disable-pip-version-check torch==2.13.0 2>&1 | grep -v "^WARNING: Location" >&2 || true
    "$VENV/bin/pip" install -q --disable-pip-version-check -r "$ROOT/requirements-dev.txt" 2>&1 | grep -v "^WARNING: Location" >&2 || true
    "$VENV/bin/python" -c "import bpy, numpy, torch, smplx, pytest" || { echo "environment set-up failed" >&2; exit 1; }
    touch "$STAMP"
fi
export PATH="$VENV/bin:$PATH"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}" MKL_NUM_THREADS="${MKL_NUM_THREADS:-1}"
