# SPDX-License-Identifier: GPL-3.0-or-later
"""Synthetic SMPL-family models for Blender tests and benchmarks: a closed, UV-mapped ellipsoid body.

Nothing here derives from any SMPL-family file: random joints, smooth random blend shapes, distance-based weights.
The mesh is closed and consistently oriented, so stature and volume (core.shape) are meaningful; shape column 0
stretches the body vertically and column 1 inflates it, so height/weight fits have something to fit.
"""

import numpy as np

from smpl_blender_addon.core import layouts

SIZES = {"smpl": (24, 10, 0), "smplh": (52, 16, 0), "smplx": (55, 10, 10)}


def _ellipsoid(rings, segments, radii):
    """Closed lat-long ellipsoid: vertices (2 + rings*segments, 3), outward triangles (F, 3), per-vertex UVs (V, 2)."""
    theta = np.linspace(0, np.pi, rings + 2)[1:-1]
    phi = np.linspace(0, 2 * np.pi, segments, endpoint=False)
    t, p = np.meshgrid(theta, phi, indexing="ij")
    ring = np.stack([np.sin(t) * np.sin(p), np.cos(t), np.sin(t) * np.cos(p)], -1).reshape(-1, 3)
    verts = np.concatenate([[[0, 1, 0]], ring, [[0, -1, 0]]]) * radii
    idx = 1 + np.arange(rings * segments).reshape(rings, segments)
    nxt = np.roll(idx, -1, axis=1)
    top = np.stack([np.zeros(segments, int), nxt[0], idx[0]], -1)
    bottom = np.stack([np.full(segments, len(verts) - 1), idx[-1], nxt[-1]], -1)
    a, b, c, d = idx[:-1], nxt[:-1], idx[1:], nxt[1:]
    quads = np.concatenate([np.stack([a, b, d], -1).reshape(-1, 3), np.stack([a, d, c], -1).reshape(-1, 3)])
    faces = np.concatenate([top, quads, bottom])
    # orient outward: flip if the signed volume is negative
    v0, v1, v2 = verts[faces[:, 0]], verts[faces[:, 1]], verts[faces[:, 2]]
    if np.einsum("ij,ij->", v0, np.cross(v1, v2)) < 0:
        faces = faces[:, ::-1]
    uv = np.stack([np.arctan2(verts[:, 0], verts[:, 2]) / (2 * np.pi) + 0.5, verts[:, 1] / (2 * radii[1]) + 0.5], -1)
    return verts, faces, uv


def synthetic_arrays(
    kind="smplx", rings=14, segments=20, seed=0, num_betas=None, num_expressions=None, extra_vertices=0
):
    """Model arrays in the dict layout of core.model_files.read_model_file / BodyModel.from_arrays.

    V = 2 + rings * segments (+ extra_vertices unreferenced by faces, to hit an exact vertex count in benchmarks).
    """
    rng = np.random.default_rng(seed)
    J, nb, ne = SIZES[kind]
    nb = nb if num_betas is None else num_betas
    ne = ne if num_expressions is None else num_expressions
    verts, faces, uv = _ellipsoid(rings, segments, np.array([0.25, 0.85, 0.15]))
    verts = verts + np.array([0.0, -0.25, 0.0])  # origin inside the lower torso, as in SMPL
    if extra_vertices:
        verts = np.concatenate([verts, rng.uniform(-0.1, 0.1, (extra_vertices, 3))])
        uv = np.concatenate([uv, np.full((extra_vertices, 2), 0.5)])
    V = len(verts)
    parents = np.asarray(layouts.PARENTS[kind])
    joints = verts[rng.choice(V - extra_vertices, J, replace=False)] * 0.8
    d2 = ((verts[:, None, :] - joints[None]) ** 2).sum(-1)  # (V, J)
    nearest = np.argsort(d2, axis=1)[:, :3]
    weights = np.zeros((V, J))
    w = 1.0 / (np.take_along_axis(d2, nearest, 1) + 1e-3)
    np.put_along_axis(weights, nearest, w, 1)
    weights /= weights.sum(1, keepdims=True)
    regressor = np.zeros((J, V))
    close = np.argsort(d2, axis=0)[:6].T  # (J, 6) nearest vertices of each joint
    np.put_along_axis(regressor, close, rng.uniform(0.5, 1.0, close.shape), 1)
    regressor /= regressor.sum(1, keepdims=True)

    def smooth_dirs(count, scale):
        fields = rng.normal(0, scale, (count, 3, 3))  # linear fields of the position: smooth, no tearing
        return np.einsum("vc,kdc->vdk", verts, fields) + rng.normal(0, scale * 0.1, (V, 3, count))

    shapedirs = smooth_dirs(nb, 0.02)
    if nb >= 2:
        shapedirs[:, :, 0] = verts * np.array([0.0, 0.06, 0.0])  # taller
        shapedirs[:, :, 1] = verts * np.array([0.08, 0.0, 0.08])  # wider
    hands = kind != "smpl"
    rot = lambda: np.linalg.qr(rng.normal(size=(45, 45)))[0]  # noqa: E731
    return {
        "kind": kind,
        "gender": "neutral",
        "v_template": verts,
        "faces": faces,
        "shapedirs": shapedirs,
        "exprdirs": smooth_dirs(ne, 0.005),
        "posedirs": rng.normal(0, 0.01, (V, 3, 9 * (J - 1))),
        "J_regressor": regressor,
        "weights": weights,
        "parents": parents.copy(),
        "joint_names": list(layouts.JOINT_NAMES[kind]),
        "vt": uv,
        "ft": faces.copy(),
        "hands_components_left": rot() if hands else None,
        "hands_components_right": rot() if hands else None,
        "hands_mean_left": rng.normal(0, 0.2, 45) if hands else None,
        "hands_mean_right": rng.normal(0, 0.2, 45) if hands else None,
    }


def official_layout_arrays(arrays):
    """The same model as an official-style .npz dict (f, kintree_table, shapedirs with expression columns appended
    as in SMPL-X v1.0, hands_componentsl/r, hands_meanl/r)."""
    J = len(arrays["parents"])
    kintree = np.stack([arrays["parents"], np.arange(J)]).astype(np.int64)
    kintree[0, 0] = 4294967295  # as in the released files
    shapedirs = arrays["shapedirs"]
    if arrays["kind"] == "smplx":
        shapedirs = np.concatenate([shapedirs, arrays["exprdirs"]], axis=2)
    out = {
        "v_template": arrays["v_template"],
        "f": arrays["faces"].astype(np.uint32),
        "shapedirs": shapedirs,
        "posedirs": arrays["posedirs"],
        "J_regressor": arrays["J_regressor"],
        "weights": arrays["weights"],
        "kintree_table": kintree,
        "vt": arrays["vt"],
        "ft": arrays["ft"],
    }
    if arrays.get("hands_mean_left") is not None:
        out.update(
            hands_componentsl=arrays["hands_components_left"],
            hands_componentsr=arrays["hands_components_right"],
            hands_meanl=arrays["hands_mean_left"],
            hands_meanr=arrays["hands_mean_right"],
        )
    return out
