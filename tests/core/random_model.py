# SPDX-License-Identifier: GPL-3.0-or-later
"""In-memory random SMPL-family models (structurally valid, smooth-ish blend shapes) for forward-pass tests."""

import numpy as np

from smpl_blender_addon.core import layouts

SIZES = {"smpl": (24, 10, 0), "smplh": (52, 16, 0), "smplx": (55, 10, 10)}


def random_arrays(kind, num_vertices=300, seed=0, num_betas=None, num_expressions=None):
    """Arrays in the dict layout of ``model_files.read_model_file`` (posedirs in file layout ``(V, 3, P)``)."""
    rng = np.random.default_rng(seed)
    J, nb, ne = SIZES[kind]
    nb = nb if num_betas is None else num_betas
    ne = ne if num_expressions is None else num_expressions
    V = num_vertices
    parents = layouts.PARENTS[kind]
    joints = np.zeros((J, 3))
    for j in range(1, J):
        joints[j] = joints[parents[j]] + rng.normal(0, 0.1, 3)
    owner = rng.integers(0, J, V)
    v_template = joints[owner] + rng.normal(0, 0.03, (V, 3))
    weights = np.zeros((V, J))
    weights[np.arange(V), owner] = 1.0
    weights[np.arange(V), parents[owner].clip(0)] += rng.uniform(0, 1, V)
    weights += 0.05 * rng.uniform(0, 1, (V, J)) * (rng.uniform(0, 1, (V, J)) < 0.1)
    weights /= weights.sum(1, keepdims=True)
    reg = rng.uniform(0, 1, (J, V)) * (owner[None] == np.arange(J)[:, None])
    reg[reg.sum(1) == 0, 0] = 1.0
    reg /= reg.sum(1, keepdims=True)
    return {
        "kind": kind,
        "v_template": v_template,
        "faces": rng.integers(0, V, (2 * V, 3)),
        "shapedirs": rng.normal(0, 0.01, (V, 3, nb)),
        "exprdirs": rng.normal(0, 0.005, (V, 3, ne)),
        "posedirs": rng.normal(0, 0.01, (V, 3, 9 * (J - 1))),
        "J_regressor": reg,
        "weights": weights,
        "parents": parents.copy(),
        "hands_components_left": np.linalg.qr(rng.normal(size=(45, 45)))[0] if kind != "smpl" else None,
        "hands_components_right": np.linalg.qr(rng.normal(size=(45, 45)))[0] if kind != "smpl" else None,
        "hands_mean_left": rng.normal(0, 0.2, 45) if kind != "smpl" else None,
        "hands_mean_right": rng.normal(0, 0.2, 45) if kind != "smpl" else None,
    }
