# SPDX-License-Identifier: GPL-3.0-or-later
"""Surface-ring joint regressor: each joint is a convex combination of the skin vertices around it.

The MakeHuman joint cubes are interior helpers that do not follow the skin under shape targets, so SMPL's J_regressor is
rebuilt over body vertices: candidates are the vertices in a thin slab perpendicular to the bone through the joint, on
the joint's own limb (by skin weights); the weights are non-negative, sum to 1, reproduce the joint on the mean template
and are pulled slightly toward uniform so the ring, not one vertex, carries the joint.
"""

import numpy as np


def project_to_simplex(x):
    """Euclidean projection of each row of (..., n) onto {w >= 0, sum w = 1}."""
    u = -np.sort(-x, axis=-1)
    css = np.cumsum(u, axis=-1) - 1.0
    k = np.arange(1, x.shape[-1] + 1)
    cond = u - css / k > 0
    rho = x.shape[-1] - 1 - np.argmax(cond[..., ::-1], axis=-1)
    theta = np.take_along_axis(css, rho[..., None], axis=-1) / (rho[..., None] + 1.0)
    return np.maximum(x - theta, 0.0)


def simplex_fit(points, target, smooth=1e-4, iters=4000):
    """w on the simplex minimising |points^T w - target|^2 + smooth * scale^2 * |w - uniform|^2 (FISTA).

    points (n, 3), target (3,). Returns (w (n,), residual distance in metres).
    """
    n = len(points)
    scale2 = np.mean(np.sum((points - points.mean(0)) ** 2, axis=1))
    lam = smooth * scale2
    a = points.T  # (3, n)
    lip = 2.0 * (np.linalg.eigvalsh(a @ a.T).max() + lam)
    uniform = np.full(n, 1.0 / n)
    w = y = uniform.copy()
    t = 1.0
    for _ in range(iters):
        grad = 2.0 * (a.T @ (a @ y - target)) + 2.0 * lam * (y - uniform)
        w_next = project_to_simplex(y - grad / lip)
        t_next = 0.5 * (1.0 + np.sqrt(1.0 + 4.0 * t * t))
        y = w_next + (t - 1.0) / t_next * (w_next - w)
        w, t = w_next, t_next
    return w, float(np.linalg.norm(a @ w - target))


def ring_regressor(verts, weights, joints, parents, joint_names, fixed_rows=None):
    """(J, V) regressor over ``verts`` (V, 3) reproducing ``joints`` (J, 3) on this mesh.

    weights (V, J) merged skin weights pick the limb; fixed_rows {j: (V,) row} overrides joints (e.g. eyeballs, averages).
    """
    num_j = len(joints)
    children = [[c for c in range(num_j) if parents[c] == j] for j in range(num_j)]
    reg = np.zeros((num_j, len(verts)))
    report = {}
    for j in range(num_j):
        if fixed_rows and j in fixed_rows:
            reg[j] = fixed_rows[j]
            continue
        direction = _bone_direction(j, joints, parents, children, joint_names)
        family = [j] + ([parents[j]] if parents[j] >= 0 else []) + children[j]
        on_limb = weights[:, family].sum(axis=1) > 0.5
        side = np.sign(joints[j, 0]) if abs(joints[j, 0]) > 0.03 else 0.0
        if side:
            on_limb &= verts[:, 0] * side > 0
        half = (
            0.003
            if (
                "index" in joint_names[j]
                or "middle" in joint_names[j]
                or "ring" in joint_names[j]
                or "pinky" in joint_names[j]
                or "thumb" in joint_names[j]
            )
            else 0.01
        )
        near = np.linalg.norm(verts - joints[j], axis=1) < 0.25
        for _ in range(8):
            cand = np.flatnonzero(on_limb & near & (np.abs((verts - joints[j]) @ direction) < half))
            if len(cand) >= 6:
                w, err = simplex_fit(verts[cand], joints[j])
                if err < 2e-4:
                    break
            half *= 1.5
        reg[j, cand] = w
        report[joint_names[j]] = (len(cand), np.count_nonzero(w > 1e-6), err)
    return reg, report


def _bone_direction(j, joints, parents, children, names):
    if names[j] == "pelvis":  # a horizontal ring round the hips, not toward the mean of the hips and spine
        d = np.array([0.0, 1.0, 0.0])
    elif children[j]:
        d = joints[children[j]].mean(0) - joints[j]
    else:
        d = joints[j] - joints[parents[j]]
    return d / np.linalg.norm(d)
