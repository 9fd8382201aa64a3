# SPDX-License-Identifier: GPL-3.0-or-later
"""Skin weights for engines that blend a fixed number of joints per vertex (three.js, FBX2glTF, Unity's default: 4).

SMPL skins use up to 7 joints per vertex (the open SMPL-X body; the official ones too). :func:`limit_influences`
keeps each vertex's ``count`` largest weights and rescales them to the row's original sum, so the vertex still follows
its joints in the same proportions among those kept; scripts/measure_influences.py measures what that costs against
exact skinning (docs/fbx-presets.md).
"""

import numpy as np


def limit_influences(weights, count):
    """``weights`` (V, J) with at most ``count`` non-zero entries per row: the largest kept (equal weights: the lower
    joint index), rescaled to the row's original sum. Rows with ``count`` or fewer influences are unchanged."""
    weights = np.asarray(weights, dtype=np.float64)
    if count < 1:
        raise ValueError(f"max influences must be at least 1, got {count}")
    if weights.ndim != 2 or count >= weights.shape[1]:
        return weights.copy()
    order = np.argsort(-weights, axis=1, kind="stable")  # stable: equal weights keep the lower joint first
    dropped = order[:, count:]
    limited = weights.copy()
    np.put_along_axis(limited, dropped, 0.0, axis=1)
    kept = limited.sum(axis=1, keepdims=True)
    total = weights.sum(axis=1, keepdims=True)
    scale = np.divide(total, kept, out=np.ones_like(kept), where=kept > 0)
    return limited * scale


def influence_counts(weights, threshold=0.0):
    """(V,) number of joints with a weight above ``threshold`` per vertex."""
    return (np.asarray(weights) > threshold).sum(axis=1)
