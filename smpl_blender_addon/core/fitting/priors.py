# SPDX-License-Identifier: GPL-3.0-or-later
"""Pose priors of a fit as weighted residuals with Jacobians over the local rotation updates ``d_j``.

Without licensed files: a weak pull towards the rest pose, no twist about a bone's own axis (positions cannot see it),
and hinge limits (knees bend one way about X, elbows one way about Y). With the
user's VPoser weights: ``0.5 ||mu(theta)||^2``, the encoder mean of the body pose (:meth:`VPoser.encode_jacobian`);
with the user's Gaussian mixture (SMPLify's ``gmm_08.pkl``): :class:`GaussianMixturePrior`.
Each prior gives its Gauss-Newton terms over the fit's pose vector (``P`` values per frame).
"""

import os

import numpy as np

from ..errors import WeightsFileError
from ..file_io import read_npz
from ..rotations import matrix_to_axis_angle
from ..safe_pickle import load_pickle_dict

POSE_SIZE = 63  # the 21 body joints, SMPL joints 1..21

__all__ = ["GaussianMixturePrior", "right_jacobian_inverse", "rotation_priors", "vposer_prior"]

# hinge joints: the allowed sign of the bending component (+1: >= 0) and its axis, in the rest pose (T-pose, Y up,
# facing +Z): knees bend backwards about +X, the left elbow forwards about -Y, the right one about +Y
HINGES = {"left_knee": (1, 0), "right_knee": (1, 0), "left_elbow": (-1, 1), "right_elbow": (1, 1)}


def skew(v):
    """Cross-product matrices ``[v]x`` ``(..., 3, 3)`` of vectors ``v (..., 3)``."""
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
    S = skew(phi)
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
    JrT = np.swapaxes(Jr, 2, 3)
    gradient[:, : 3 * Jf] = np.matmul(JrT, r[..., None]).reshape(F, -1)
    return float(np.sum(r * r)), gradient, np.matmul(JrT, Jr)


def vposer_prior(R, point_model, vposer, weight):
    """``weight * mu(theta_body)``, VPoser's encoder mean of the body pose (joints 1..21), as
    :func:`rotation_priors` returns its terms (the hessian dense, ``(F, P, P)``)."""
    F = R.shape[0]
    phi = matrix_to_axis_angle(R[:, 1:22])  # (F, 21, 3)
    mean, jac = vposer.encode_jacobian(phi.reshape(F, -1))  # (F, L), (F, L, 63)
    return _dense_terms(weight * mean, weight * jac.reshape(F, -1, 21, 3), phi, point_model)


class GaussianMixturePrior:
    """A Gaussian mixture over body poses, as SMPLify's ``gmm_08.pkl`` holds one (``means (M, D)``, ``covars (M, D,
    D)``, ``weights (M,)``; ``D = 69``: SMPL joints 1..23, or 63). Its marginal over the 21 body joints (1..21) is used
    for every model kind; each frame takes its most likely component (SMPLify's max-mixture), the value is
    ``(theta - mu)^T Sigma^-1 (theta - mu) - 2 log(w) + log det(Sigma)`` of that component.
    """

    def __init__(self, means, covars, weights, source=None):
        label = source or "pose prior"
        means, covars, weights = (np.asarray(a, dtype=np.float64) for a in (means, covars, weights))
        M = len(weights)
        if not (
            M
            and means.ndim == 2
            and means.shape[0] == M
            and means.shape[1] >= POSE_SIZE
            and covars.shape == (M, means.shape[1], means.shape[1])
        ):
            raise WeightsFileError(
                label,
                f"a pose mixture needs means (M, D), covars (M, D, D) and weights (M,) with D >= {POSE_SIZE}; got "
                f"{means.shape}, {covars.shape}, {weights.shape}",
            )
        if not (np.all(np.isfinite(means)) and np.all(np.isfinite(covars)) and np.all(weights > 0)):
            raise WeightsFileError(label, "the mixture has non-finite values or weights that are not positive")
        covars = covars[:, :POSE_SIZE, :POSE_SIZE]
        try:
            precision = np.linalg.inv(covars)
            self.factors = np.linalg.cholesky(0.5 * (precision + np.swapaxes(precision, 1, 2)))  # (M, 63, 63)
            logdet = 2 * np.log(np.diagonal(np.linalg.cholesky(covars), axis1=1, axis2=2)).sum(axis=1)
        except np.linalg.LinAlgError:
            raise WeightsFileError(label, "a covariance of the mixture is not positive definite") from None
        self.means = means[:, :POSE_SIZE]
        self.offsets = logdet - 2 * np.log(weights / weights.sum())  # (M,)
        self.source = source

    @classmethod
    def load(cls, path):
        """The mixture in ``path``: SMPLify's pickle (read by the restricted unpickler, nothing executed) or an
        ``.npz`` with ``means``, ``covars`` and ``weights``."""
        path = os.fspath(path)
        if path.lower().endswith(".npz"):
            data, _ = read_npz(path, WeightsFileError, names=("means", "covars", "weights"))
        else:
            data = load_pickle_dict(path, error=WeightsFileError)
        missing = [k for k in ("means", "covars", "weights") if not isinstance(data.get(k), np.ndarray)]
        if missing:
            raise WeightsFileError(path, f"not a pose mixture: no {', '.join(missing)} array")
        return cls(data["means"], data["covars"], data["weights"], source=path)

    def value(self, pose_body):
        """The prior of body poses ``(N, 63)`` (joints 1..21): ``(N,)``, lower is more plausible."""
        r, best = self._residuals(np.asarray(pose_body, dtype=np.float64).reshape(-1, POSE_SIZE))
        return np.einsum("nd,nd->n", r, r) + self.offsets[best]

    def _residuals(self, theta):
        r = np.einsum("nmd,mde->nme", theta[:, None, :] - self.means, self.factors)  # L^T (theta - mu)
        best = np.argmin(np.einsum("nmd,nmd->nm", r, r) + self.offsets, axis=1)
        return r[np.arange(len(theta)), best], best

    def terms(self, R, point_model, weight):
        """``weight``-scaled Gauss-Newton terms over the free joints, as :func:`rotation_priors` returns them (the
        hessian dense, ``(F, P, P)``)."""
        F = R.shape[0]
        phi = matrix_to_axis_angle(R[:, 1:22])  # (F, 21, 3)
        r, best = self._residuals(phi.reshape(F, -1))
        jac = np.swapaxes(self.factors[best], 1, 2).reshape(F, POSE_SIZE, 21, 3)  # d r / d theta
        return _dense_terms(weight * r, weight * jac, phi, point_model, extra=weight**2 * self.offsets[best].sum())


def _dense_terms(r, jac, phi, point_model, extra=0.0):
    """Terms of residuals ``r (F, n)`` over the body joints' rotation vectors (``jac (F, n, 21, 3)``, ``phi (F, 21,
    3)``) as functions of the free joints' updates."""
    F, P = r.shape[0], point_model.pose_size
    jac = np.einsum("flja,fjab->fljb", jac, right_jacobian_inverse(phi))
    full = np.zeros((F, r.shape[1], P))
    for i, j in enumerate(point_model.free):
        if 1 <= j <= 21:
            full[:, :, 3 * i : 3 * i + 3] = jac[:, :, j - 1]
    value = float(np.sum(r * r)) + extra
    return value, np.einsum("flp,fl->fp", full, r), np.matmul(np.swapaxes(full, 1, 2), full)
