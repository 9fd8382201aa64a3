# SPDX-License-Identifier: GPL-3.0-or-later
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for p in (ROOT, ROOT / "tests"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
