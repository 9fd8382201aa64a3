# SPDX-License-Identifier: GPL-3.0-or-later
"""Turn text typed or pasted into an operator field into numbers.

Operator properties cannot hold a 72/156/165-value vector (a FloatVectorProperty holds at most 32 values), so poses, betas
and expressions come in as text. Accepted forms, so that what ``smpl.write_pose`` prints can be pasted back:

    0.1 0.2 -0.3            whitespace / comma / semicolon separated
    [0.1, 0.2, -0.3]        a (nested) JSON-like list
    pose = [0.1, ...]       a Python assignment as printed to the console (``# ...`` comment lines are ignored)
    {"pose": [0.1, ...]}    a JSON object with one list value (the first list found is used)
    [np.float64(0.1), ...]  what numpy 2 prints for a list of its scalars, and ``array([...], dtype=float32)``

This module has no bpy import: it is plain input parsing, testable anywhere.
"""

import json
import re

import numpy as np

# A float literal as Python / JSON / C print it: 1, -2.5, .5, 1e-3, 3.4E+38, nan, inf.
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?|nan|inf)", re.IGNORECASE)
_ASSIGNMENT = re.compile(r"^\s*[A-Za-z_][A-Za-z_0-9]*\s*=\s*")
# numpy's repr around numbers: np.float64(0.1) (numpy 2 scalars), array([...], dtype=float32)
_NUMPY_REPR = re.compile(r"\b(?:np|numpy)\.(?:float|int|uint)(?:16|32|64)?\(|\barray\(|,\s*dtype=[\w.]+")
_COMMENT = re.compile(r"#[^\n]*")  # smpl.write_pose adds one "# 3 spine1: [...]" line per joint after "pose = [...]"


def parse_numbers(text, what="values", sizes=None):
    """Numbers in ``text`` as a (N,) float32 array; empty text gives None.

    what: name used in error messages ("pose", "betas", ...).
    sizes: allowed lengths (e.g. (72, 156, 165)) or None for any.
    Raises ValueError naming ``what`` and the problem for unreadable text, non-finite values or a wrong length.
    """
    text = _COMMENT.sub("", text or "").strip()
    if not text:
        return None
    values = _numbers_from_json(text)
    if values is None:
        values = _numbers_from_plain_text(text, what)
    array = np.asarray(values, dtype=np.float64).reshape(-1)
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{what}: contains values that are not finite numbers")
    if sizes is not None and array.size not in sizes:
        allowed = " or ".join(str(s) for s in sizes)
        raise ValueError(f"{what}: {array.size} numbers given, expected {allowed}")
    return array.astype(np.float32)


def _numbers_from_json(text):
    """Flat list of numbers if ``text`` (minus a leading ``name =``) is JSON, else None."""
    try:
        data = json.loads(_ASSIGNMENT.sub("", text, count=1))
    except ValueError:
        return None
    if isinstance(data, dict):
        lists = [v for v in data.values() if isinstance(v, (list, int, float))]
        if not lists:
            return None
        data = lists[0]
    flat = _flatten(data)
    return flat if flat is not None and flat else None


def _flatten(data):
    """Nested lists of numbers -> flat list, or None if anything else is inside."""
    if isinstance(data, bool):
        return None
    if isinstance(data, (int, float)):
        return [float(data)]
    if isinstance(data, list):
        out = []
        for item in data:
            sub = _flatten(item)
            if sub is None:
                return None
            out.extend(sub)
        return out
    return None


def _numbers_from_plain_text(text, what):
    """Numbers separated by whitespace, commas, semicolons and brackets; anything else is an error."""
    body = _NUMPY_REPR.sub(" ", _ASSIGNMENT.sub("", text, count=1))
    leftover = _NUMBER.sub(" ", body)
    stray = re.sub(r"[\s,;\[\]()]+", "", leftover)
    if stray:
        raise ValueError(f"{what}: cannot read {stray[:20]!r} as a number")
    numbers = [float(token) for token in _NUMBER.findall(body)]
    if not numbers:
        raise ValueError(f"{what}: no numbers found")
    return numbers
