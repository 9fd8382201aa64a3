# SPDX-License-Identifier: GPL-3.0-or-later
"""Levenberg-Marquardt over all frames at once: per-frame poses and translations, one shape.

The unknowns are a pose vector per frame (``d`` of each free joint, translation) and the betas. Data and prior
residuals of a frame involve that frame only; smoothness residuals (velocity and acceleration of the target points)
couple neighbouring frames; the betas couple all. The normal equations are solved matrix-free by conjugate
gradients preconditioned with each frame's own block (and the betas' block), so a step costs a few batched
products per frame whatever the length of the sequence.
"""

import dataclasses

import numpy as np

from ..rotations import axis_angle_to_matrix

__all__ = ["Terms", "solve"]


@dataclasses.dataclass
class Terms:
    """What the fit minimises (weights are metres of target error per unit of the term).

    ``targets (F, K, 3)`` with ``confidence (F, K)`` (0: missing); ``robust``: Geman-McClure scale in metres (0:
    plain least squares); ``velocity`` / ``acceleration``: weights of the target points' speed and acceleration in
    seconds and seconds squared (``fps`` converts); ``shape``: weight of ``||betas||``; ``priors(R) -> (value, gradient
    (F, P), hessian)``: the per-frame pose priors' Gauss-Newton terms, the hessian dense ``(F, P, P)`` or as 3x3
    blocks on the diagonal ``(F, n, 3, 3)`` for the first ``3n`` values; ``fit_shape``: False keeps the betas.
    """

    targets: np.ndarray
    confidence: np.ndarray
    fps: float = 30.0
    robust: float = 0.05
    velocity: float = 0.0
    acceleration: float = 0.0
    shape: float = 0.01
    priors: object = None
    fit_shape: bool = True


def _difference_weights(terms):
    """The smoothness operators as (offsets, coefficients, weight) stencils along time."""
    stencils = []
    if terms.velocity:
        stencils.append((np.array([1.0, -1.0]), terms.velocity * terms.fps))
    if terms.acceleration:
        stencils.append((np.array([1.0, -2.0, 1.0]), terms.acceleration * terms.fps**2))
    return stencils


def _apply(stencil, weight, z):
    """``weight * D z`` along axis 0 for the difference stencil ``D`` (rows: frames ``t .. t+len-1``)."""
    n = len(stencil)
    out = sum(c * z[i : len(z) - n + 1 + i] for i, c in enumerate(stencil))
    return weight * out


def _apply_transposed(stencil, weight, e, F):
    out = np.zeros((F,) + e.shape[1:])
    n = len(stencil)
    for i, c in enumerate(stencil):
        out[i : F - n + 1 + i] += c * e
    return weight * out


def _smooth_normal(stencils, z):
    """``sum D^T D z`` over the smoothness stencils (``z (F, ...)``)."""
    F = len(z)
    out = np.zeros_like(z)
    for stencil, weight in stencils:
        if F >= len(stencil):
            out += _apply_transposed(stencil, weight, _apply(stencil, weight, z), F)
    return out


def _smooth_diagonal(stencils, F):
    """The diagonal of ``sum D^T D`` per frame ``(F,)``."""
    diag = np.zeros(F)
    for stencil, weight in stencils:
        n = len(stencil)
        if F >= n:
            for i, c in enumerate(stencil):
                diag[i : F - n + 1 + i] += (weight * c) ** 2
    return diag


class _Cost:
    """The fit's cost at a state and the pieces a step needs."""

    def __init__(self, point_model, terms, state, stencils, jacobians=True):
        R, transl, betas = state
        self.eval = point_model.evaluate(R, transl, betas, jacobians)
        e = self.eval.points - terms.targets
        e[terms.confidence <= 0] = 0.0
        s2 = np.einsum("fkc,fkc->fk", e, e)
        if terms.robust:
            r2 = terms.robust**2
            data = terms.confidence * r2 * s2 / (s2 + r2)  # Geman-McClure
            self.weights = terms.confidence * (r2 / (s2 + r2)) ** 2  # its IRLS weights
        else:
            data = terms.confidence * s2
            self.weights = terms.confidence
        self.error = e
        self.smooth = [_apply(st, w, self.eval.points) for st, w in stencils if len(self.eval.points) >= len(st)]
        self.prior = terms.priors(R) if terms.priors else None  # (value, gradient, hessian)
        self.total = 0.5 * (
            data.sum()
            + sum(float(np.sum(s * s)) for s in self.smooth)
            + (self.prior[0] if self.prior is not None else 0.0)
            + (terms.shape**2) * float(betas @ betas)
        )


def _step(cost, terms, stencils, betas, damping, max_cg=60, tolerance=1e-4):
    """The damped Gauss-Newton step ``(dx (F, P), dbetas (nb,))`` by preconditioned conjugate gradients."""
    G, B = cost.eval.pose, cost.eval.shape  # (F, K, 3, P), (F, K, 3, nb)
    F, K, _, P = G.shape
    G = G.reshape(F, 3 * K, P)
    B = B.reshape(F, 3 * K, -1) if terms.fit_shape else np.zeros((F, 3 * K, 0))
    nb = B.shape[2]
    w = np.repeat(cost.weights, 3, axis=1)  # (F, 3K)
    sdiag = _smooth_diagonal(stencils, F)[:, None]

    # right-hand side: -J^T r
    u = w * cost.error.reshape(F, 3 * K)
    if stencils:
        grad_points = np.zeros((F, K, 3))
        for (stencil, weight), e in zip(stencils, cost.smooth, strict=False):
            grad_points += _apply_transposed(stencil, weight, e, F)
        u = u + grad_points.reshape(F, 3 * K)
    g = np.einsum("fip,fi->fp", G, u)
    gb = np.einsum("fin,fi->n", B, u) + (terms.shape**2) * betas[:nb]
    Hp = None
    if cost.prior is not None:
        g += cost.prior[1]
        Hp = cost.prior[2]

    # preconditioner: the frame blocks G^T (W + smoothness diagonal) G + priors + damping, and the betas' block and
    # their coupling to the frames, inverted exactly (Schur complement of the betas); only smoothness is left to CG
    Gw = G * (w + sdiag)[:, :, None]
    blocks = np.matmul(np.swapaxes(G, 1, 2), Gw)
    if Hp is not None and Hp.ndim == 4:  # 3x3 diagonal blocks
        n = np.arange(Hp.shape[1])
        view = blocks.reshape(F, P // 3, 3, P // 3, 3)  # a view: P = 3 (free joints + translation)
        view[:, n, :, n, :] += Hp.transpose(1, 0, 2, 3)
    elif Hp is not None:
        blocks += Hp
    diag_frames = np.einsum("fpp->fp", blocks) + 1e-6
    blocks[:, np.arange(P), np.arange(P)] += damping * diag_frames
    inv_blocks = np.linalg.inv(blocks)
    if nb:
        coupling = np.matmul(np.swapaxes(Gw, 1, 2), B)  # (F, P, nb)
        beta_block = np.einsum("fin,fi,fim->nm", B, w + sdiag, B) + (terms.shape**2) * np.eye(nb)
        beta_damping = damping * (np.diag(beta_block) + 1e-9)
        reduced = np.matmul(inv_blocks, coupling)  # D^-1 C
        schur = beta_block + np.diag(beta_damping) - np.einsum("fpn,fpm->nm", coupling, reduced)
        inv_schur = np.linalg.inv(schur)

    def precondition(r, rb):
        x = np.matmul(inv_blocks, r[:, :, None])[:, :, 0]
        if not nb:
            return x, rb
        xb = inv_schur @ (rb - np.einsum("fpn,fp->n", coupling, x))
        return x - np.matmul(reduced, xb), xb

    def matvec(x, xb):
        z = np.matmul(G, x[:, :, None])[:, :, 0]
        if nb:
            z += B @ xb
        u = w * z
        if stencils:
            u += _smooth_normal(stencils, z.reshape(F, K, 3)).reshape(F, 3 * K)
        out = np.matmul(u[:, None, :], G)[:, 0] + damping * diag_frames * x
        if Hp is not None and Hp.ndim == 4:
            n = Hp.shape[1]
            out[:, : 3 * n] += np.matmul(Hp, x[:, : 3 * n].reshape(F, n, 3, 1)).reshape(F, 3 * n)
        elif Hp is not None:
            out += np.matmul(Hp, x[:, :, None])[:, :, 0]
        if not nb:
            return out, xb
        return out, np.einsum("fin,fi->n", B, u) + (terms.shape**2 + beta_damping) * xb

    # PCG on [x, xb]
    x, xb = np.zeros((F, P)), np.zeros(nb)
    r, rb = -g, -gb
    z, zb = precondition(r, rb)
    d, db = z.copy(), zb.copy()
    rz = float(np.sum(r * z) + rb @ zb)
    start = rz
    for _ in range(max_cg):
        if rz <= tolerance**2 * start or rz == 0:
            break
        q, qb = matvec(d, db)
        alpha = rz / float(np.sum(d * q) + db @ qb)
        x += alpha * d
        xb += alpha * db
        r -= alpha * q
        rb -= alpha * qb
        z, zb = precondition(r, rb)
        rz_new = float(np.sum(r * z) + rb @ zb)
        d = z + (rz_new / rz) * d
        db = zb + (rz_new / rz) * db
        rz = rz_new
    return x, xb


def _moved(point_model, state, dx, dbetas, terms):
    R, transl, betas = state
    R = R.copy()
    free = point_model.free
    F = R.shape[0]
    R[:, free] = np.matmul(R[:, free], axis_angle_to_matrix(dx[:, :-3].reshape(F, free.size, 3)))
    betas = betas.copy()
    if terms.fit_shape:
        betas[: dbetas.size] += dbetas
    return R, transl + dx[:, -3:], betas


def solve(point_model, terms, state, iterations=20, progress=None, tolerance=1e-4):
    """Minimise the fit's cost from ``state = (R (F, J, 3, 3), transl (F, 3), betas (nb,))``.

    Levenberg-Marquardt: a step that does not lower the cost is taken back and the damping raised. Stops after
    ``iterations`` steps, when the cost changes by less than ``tolerance`` (relative) or when the targets are met to
    a micrometre. ``progress(i, cost)`` is
    called after each step. Returns ``(state, costs)``.
    """
    stencils = _difference_weights(terms)
    cost = _Cost(point_model, terms, state, stencils)
    costs = [cost.total]
    damping = 1e-3
    for i in range(iterations):
        dx, dbetas = _step(cost, terms, stencils, state[2], damping)
        trial_state = _moved(point_model, state, dx, dbetas, terms)
        trial = _Cost(point_model, terms, trial_state, stencils)
        if trial.total < cost.total:
            change = (cost.total - trial.total) / max(cost.total, 1e-300)
            state, cost = trial_state, trial
            damping = max(damping / 3.0, 1e-7)
            costs.append(cost.total)
            if progress:
                progress(i, cost.total)
            if change < tolerance or cost.total < 1e-12 * terms.targets[..., 0].size:
                break
        else:
            damping *= 8.0
            if damping > 1e6:
                break
    return state, costs
