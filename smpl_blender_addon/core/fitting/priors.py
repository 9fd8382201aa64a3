# SPDX-License-Identifier: GPL-3.0-or-later
"""Pose priors of a fit as weighted residuals with Jacobians over the local rotation updates ``d_j``.

Without licensed files: a weak pull towards the rest pose, no twist about a bone's own axis (positions cannot see it),
and hinge limits (knees bend one way about X, elbows one way about Y, neither turns about the other axes). With the
user's VPoser weights: ``0.5 ||mu(theta)||^2``, the encoder mean of the body pose (:meth:`VPoser.encode_jacobian`).
Each prior gives its Gauss-Newton terms over the fit's pose vector (``P`` values per frame).
"""

import numpy as np

from ..rotations import matrix_to_axis_angle

__all__ = ["right_jacobian_inverse", "rotation_priors", "vposer_prior"]

# hinge joints: the allowed sign of the bending component (+1: >= 0) and its axis, in the rest pose (T-pose, Y up,
# facing +Z): knees bend backwards about +X, the left elbow forwards about -Y, the right one about +Y
HINGES = {"left_knee": (1, 0), "right_knee": (1, 0), "left_elbow": (-1, 1), "right_elbow": (1, 1)}


def _skew(v):
    S = np.zeros(v.shape + (3,))
    S[..., 0, 1], S[..., 0, 2], S[..., 1, 2] = -v[..., 2], v[..., 1], -v[..., 0]
    S[..., 1, 0], S[..., 2, 0], S[..., 2, 1] = v[..., 2], -v[..., 1], v[..., 0]
    return S


def right_jacobian_inverse(phi):
    """``d log(exp(phi) exp(d)) / d d`` at ``d = 0`` for rotation vectors ``phi (..., 3)``: ``(..., 3, 3)``."""
    theta = np.linalg.norm(phi, axis=-1)
    small = theta < 1e-4
    t = np.where(small, 1.0, np.minimum(theta, np.pi - 1e-6))
    coeff = np.where(small, 1.0 / 12.0 + theta**2 / 720.0, 1.0 / t**2 - (1.0 + np.cos(t)) / (2.0 * t * np.sin(t)))
    S = _skew(phi)
    return np.eye(3) + 0.5 * S + coeff[..., None, None] * (S @ S)


def twist_axes(point_model, joint_names):
    """Unit rest bone axes ``(Jf, 3)`` of the free joints that have one child (zero rows for the others)."""
    parents = point_model.parents
    rest = point_model.j_template
    axes = np.zeros((point_model.free.size, 3))
    for i, j in enumerate(point_model.free):
        children = np.flatnonzero(parents == j)
        if j > 0 and children.size == 1:
            bone = rest[children[0]] - rest[j]
            axes[i] = bone / max(np.linalg.norm(bone), 1e-9)
    return axes


def rotation_priors(R, point_model, joint_names, weights):
    """Rest-pose pull, twist and hinge limits of the free joints' local rotations ``R (F, J, 3, 3)``.

    ``weights``: ``{"pose": w, "twist": w, "limits": w}`` (metres of target error per radian). Every residual
    belongs to one joint, so ``Jr^T Jr`` is block diagonal. Returns ``(value, gradient (F, P), hessian (F, Jf, 3,
    3))``: the sum of squared residuals, ``Jr^T r`` and the 3x3 blocks of ``Jr^T Jr``, one per free joint.
    """
    free = point_model.free
    F, Jf, P = R.shape[0], free.size, point_model.pose_size
    phi = matrix_to_axis_angle(R[:, free])  # (F, Jf, 3)
    Jinv = right_jacobian_inverse(phi)  # (F, Jf, 3, 3)
    rows, jac = [], []  # residuals (F, Jf) and their derivatives (F, Jf, 3), each over its own joint
    if weights.get("pose"):
        scale = weights["pose"] * (free != 0)[:, None]  # the root's orientation is free
        for axis in range(3):
            rows.append(scale[:, 0] * phi[..., axis])
            jac.append(scale * Jinv[..., axis, :])
    if weights.get("twist"):
        axes = weights["twist"] * twist_axes(point_model, joint_names)  # (Jf, 3), zero rows: no twist term
        rows.append(np.einsum("fjc,jc->fj", phi, axes))
        jac.append(np.einsum("jc,fjcd->fjd", axes, Jinv))
    if weights.get("limits"):
        sign, axis = np.zeros(Jf), np.zeros(Jf, dtype=np.int64)
        for i, j in enumerate(free):
            sign[i], axis[i] = HINGES.get(joint_names[j], (0, 0))
        bend = np.take_along_axis(phi, axis[None, :, None], axis=2)[..., 0]  # (F, Jf)
        active = weights["limits"] * (sign * bend < 0)  # bent the wrong way: pulled back to straight
        rows.append(active * bend)
        jac.append(active[..., None] * np.take_along_axis(Jinv, axis[None, :, None, None], axis=2)[:, :, 0])
    if not rows:
        return 0.0, np.zeros((F, P)), np.zeros((F, Jf, 3, 3))
    r, Jr = np.stack(rows, axis=2), np.stack(jac, axis=2)  # (F, Jf, n), (F, Jf, n, 3)
    gradient = np.zeros((F, P))
    gradient[:, : 3 * Jf] = np.einsum("fjnc,fjn->fjc", Jr, r).reshape(F, -1)
    return float(np.sum(r * r)), gradient, np.einsum("fjnc,fjnd->fjcd", Jr, Jr)


def vposer_prior(R, point_model, vposer, weight):
    """``weight * mu(theta_body)``, VPoser's encoder mean of the body pose (joints 1..21), as
    :func:`rotation_priors` returns its terms (the hessian dense, ``(F, P, P)``)."""
    F, P = R.shape[0], point_model.pose_size
    phi = matrix_to_axis_angle(R[:, 1:22])  # (F, 21, 3)
    mean, jac = vposer.encode_jacobian(phi.reshape(F, -1))  # (F, L), (F, L, 63)
    jac = np.einsum("flja,fjab->fljb", jac.reshape(F, -1, 21, 3), right_jacobian_inverse(phi))
    full = np.zeros((F, mean.shape[1], P))
    for i, j in enumerate(point_model.free):
        if 1 <= j <= 21:
            full[:, :, 3 * i : 3 * i + 3] = jac[:, :, j - 1]
    r, Jr = weight * mean, weight * full
    return float(np.sum(r * r)), np.einsum("flp,fl->fp", Jr, r), np.matmul(np.swapaxes(Jr, 1, 2), Jr)
