# SPDX-License-Identifier: GPL-3.0-or-later
"""Pose correctives regressed from the difference between linear-blend and dual-quaternion skinning.

For random poses the rest-space offset that makes LBS reproduce DQS, p_v = A_v^-1 (x_DQS - x_LBS) with A_v = sum_j w_vj R_j,
is ridge-regressed onto SMPL's pose feature (R_j - I, j >= 1). Each vertex only uses the joints on the kinematic path
between its influencing joints (their relative rotation is all that separates LBS from DQS), so posedirs is sparse.
This is a geometric proxy (volume preservation at elbows / knees), not learned anatomy.
"""

import numpy as np

from . import geometry


def forward_kinematics(pose_aa, joints, parents):
    """pose_aa (N, J, 3) local axis-angle, joints (J, 3) rest -> global rotations (N, J, 3, 3), translations (N, J, 3)."""
    local = geometry.axis_angle_to_matrix(pose_aa)
    n, num_j = pose_aa.shape[:2]
    rot = np.empty((n, num_j, 3, 3))
    posed = np.empty((n, num_j, 3))
    for j in range(num_j):
        p = parents[j]
        if p < 0:
            rot[:, j], posed[:, j] = local[:, j], joints[j]
        else:
            rot[:, j] = rot[:, p] @ local[:, j]
            posed[:, j] = posed[:, p] + np.einsum("nij,j->ni", rot[:, p], joints[j] - joints[p])
    trans = posed - np.einsum("njik,jk->nji", rot, joints)
    return rot, trans


def pose_feature(pose_aa):
    """(N, J, 3) -> (N, 9 (J-1)) entries of R_j - I for j >= 1, row-major (smplx's pose_feature)."""
    r = geometry.axis_angle_to_matrix(pose_aa[:, 1:]) - np.eye(3)
    return r.reshape(len(pose_aa), -1)


def sample_poses(rng, n, joint_names, flex_axes):
    """(n, J, 3) random poses: N(0, .3) per joint, shoulders / hips N(0, .6), one-sided knee / elbow flexion up to
    2.3 rad (fingers up to 1.4 rad) about ``flex_axes`` {joint index: unit axis}, eyes N(0, .2), jaw opening 0-.4 rad."""
    num_j = len(joint_names)
    sd = np.full(num_j, 0.3)
    for j, name in enumerate(joint_names):
        if name.endswith(("shoulder", "hip")):
            sd[j] = 0.6
        elif name.endswith(("knee", "elbow")) or name in ("jaw",) or name[-1] in "123":
            sd[j] = 0.12
        elif "eye" in name:
            sd[j] = 0.2
    pose = rng.standard_normal((n, num_j, 3)) * sd[None, :, None]
    pose[:, 0] = 0.0  # the root's rotation never changes the skin's shape
    for j, axis in flex_axes.items():
        name = joint_names[j]
        top = 2.3 if name.endswith(("knee", "elbow")) else (0.4 if name == "jaw" else 1.4)
        pose[:, j] += rng.uniform(0.0, top, n)[:, None] * axis
    return pose


def skin_difference(verts, joints, parents, idx, w, pose_aa, clip=0.05):
    """Rest-space offsets (N, V, 3) that make LBS reproduce DQS for poses (N, J, 3); idx, w (V, K) sparse weights."""
    rot, trans = forward_kinematics(pose_aa, joints, parents)
    dqs = geometry.blend_dual_quaternion_skin(verts, idx, w, rot, trans)
    a = np.einsum("vk,nvkij->nvij", w, rot[:, idx])  # (N, V, 3, 3)
    b = np.einsum("vk,nvki->nvi", w, trans[:, idx])
    lbs = np.einsum("nvij,vj->nvi", a, verts) + b
    off = solve3(a, dqs - lbs)
    norm = np.linalg.norm(off, axis=-1, keepdims=True)
    return off * np.minimum(1.0, clip / np.maximum(norm, 1e-12))


def solve3(a, b):
    """Solve a x = b for stacks of 3x3 systems (..., 3, 3), (..., 3) by Cramer's rule (much faster than
    np.linalg.solve on millions of tiny systems; A = sum w R is well conditioned except near-degenerate blends,
    whose offsets are clipped anyway)."""
    c0 = np.cross(a[..., 1, :], a[..., 2, :])
    c1 = np.cross(a[..., 2, :], a[..., 0, :])
    c2 = np.cross(a[..., 0, :], a[..., 1, :])
    det = np.sum(a[..., 0, :] * c0, axis=-1)
    det = np.where(np.abs(det) < 1e-9, 1e-9, det)
    return (c0 * b[..., :1] + c1 * b[..., 1:2] + c2 * b[..., 2:]) / det[..., None]


def feature_joints(influences, parents):
    """Joints (>= 1) on the tree paths between the influencing joints (below their lowest common ancestor)."""
    chains = []
    for j in influences:
        chain = [j]
        while parents[chain[-1]] >= 0:
            chain.append(parents[chain[-1]])
        chains.append(chain)
    common = set(chains[0]).intersection(*chains[1:])
    out = set()
    for chain in chains:
        for j in chain:
            if j in common:
                break
            out.add(j)
    return tuple(sorted(j for j in out if j > 0))


def fit_posedirs(offsets, pose_aa, weights, parents, ridge=1e-3, holdout=0.2, min_weight=1e-3):
    """Sparse posedirs (V, 3, 9(J-1)) float64 and held-out R^2 from offsets (N, V, 3) and poses (N, J, 3)."""
    n, num_v, _ = offsets.shape
    feats = pose_feature(pose_aa)
    n_train = int(round(n * (1.0 - holdout)))
    posedirs = np.zeros((num_v, 3, feats.shape[1]))
    groups = {}
    for v in range(num_v):
        infl = np.flatnonzero(weights[v] > min_weight)
        groups.setdefault(feature_joints(list(infl), parents), []).append(v)
    ss_res = ss_tot = 0.0
    for fj, verts in sorted(groups.items()):
        verts = np.asarray(verts)
        y = offsets[:, verts].reshape(n, -1)
        if fj:
            cols = np.concatenate([np.arange(9 * (j - 1), 9 * j) for j in fj])
            x = feats[:, cols]
            xt = x[:n_train]
            coef = np.linalg.solve(xt.T @ xt + ridge * n_train * np.eye(len(cols)), xt.T @ y[:n_train])
            posedirs[np.ix_(verts, np.arange(3), cols)] = coef.reshape(len(cols), len(verts), 3).transpose(1, 2, 0)
            pred = x[n_train:] @ coef
        else:
            pred = np.zeros_like(y[n_train:])
        ss_res += float(np.sum((y[n_train:] - pred) ** 2))
        ss_tot += float(np.sum(y[n_train:] ** 2))
    return posedirs, 1.0 - ss_res / max(ss_tot, 1e-30)


def corrective_effect(verts, joints, parents, idx, w, posedirs, pose):
    """For one pose (J, 3): (max |DQS - LBS| before, after adding the correctives, max corrective size), metres."""
    rot, trans = forward_kinematics(pose[None], joints, parents)
    dqs = geometry.blend_dual_quaternion_skin(verts, idx, w, rot, trans)[0]
    corr = posedirs @ pose_feature(pose[None])[0]
    a = np.einsum("vk,vkij->vij", w, rot[0][idx])
    b = np.einsum("vk,vki->vi", w, trans[0][idx])

    def lbs(v):
        return np.einsum("vij,vj->vi", a, v) + b

    gap = np.linalg.norm(dqs - lbs(verts), axis=1).max()
    gap_after = np.linalg.norm(dqs - lbs(verts + corr), axis=1).max()
    return float(gap), float(gap_after), float(np.linalg.norm(corr, axis=1).max())
