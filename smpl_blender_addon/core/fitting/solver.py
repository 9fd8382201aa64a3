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

from ..rotations import axis_angle_to_matrix, matrix_to_axis_angle
from .priors import right_jacobian_inverse

__all__ = ["Terms", "solve"]

SETTLED_BETAS = 1e-4  # a step that changes no beta by more than this ends the shape's part of the fit


@dataclasses.dataclass
class Terms:
    """What the fit minimises (weights are metres of target error per unit of the term).

    ``targets (F, K, 3)`` with ``confidence (F, K)`` (0: missing); ``robust``: Geman-McClure scale in metres (0:
    plain least squares); ``velocity`` / ``acceleration``: weights of the target points' speed and acceleration in
    seconds and seconds squared (``fps`` converts); ``turning``: weights of the free joints' angular speeds, one
    or one per free joint (metres per radian per second: it steadies joints the targets barely see, e.g. a spine
    between hips and neck); ``shape``: weight of ``||betas||``; ``priors(R) -> (value, gradient
    (F, P), hessian)``: the per-frame pose priors' Gauss-Newton terms, the hessian dense ``(F, P, P)`` or as 3x3
    blocks on the diagonal ``(F, n, 3, 3)`` for the first ``3n`` values; ``fit_shape``: False keeps the betas.
    """

    targets: np.ndarray
    confidence: np.ndarray
    fps: float = 30.0
    robust: float = 0.05
    velocity: float = 0.0
    acceleration: float = 0.0
    turning: object = 0.0
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

    def __init__(self, point_model, terms, state, stencils, pose_out=None):
        R, transl, betas = state
        self.eval = point_model.evaluate(R, transl, betas, shape=terms.fit_shape, pose_out=pose_out)
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
        turning = np.broadcast_to(np.asarray(terms.turning, dtype=np.float64), point_model.free.shape)
        self.turning = _Turning(R[:, point_model.free], turning * terms.fps) if turning.any() else None
        self.total = 0.5 * (
            data.sum()
            + sum(float(np.sum(s * s)) for s in self.smooth)
            + (self.prior[0] if self.prior is not None else 0.0)
            + (self.turning.value if self.turning is not None else 0.0)
            + (terms.shape**2) * float(betas @ betas)
        )


class _Turning:
    """The angular speed of each free joint between neighbouring frames: ``r_t = w log(R_t^T R_{t+1})``, with the
    Jacobians ``-Jr^-1(r)^T`` over frame ``t``'s update and ``Jr^-1(r)`` over frame ``t+1``'s (3x3 per joint)."""

    def __init__(self, R, weight):  # weight (Jf,): one per joint
        F, Jf = R.shape[:2]
        weight = weight[:, None, None]
        self.size = 3 * Jf
        if F < 2:
            self.value, self.r = 0.0, np.zeros((0, Jf, 3))
            self.A = self.B = np.zeros((0, Jf, 3, 3))
            return
        relative = matrix_to_axis_angle(np.matmul(np.swapaxes(R[:-1], 2, 3), R[1:]))  # (F-1, Jf, 3)
        inverse = right_jacobian_inverse(relative)
        self.r = weight[..., 0] * relative
        self.A, self.B = -weight * np.swapaxes(inverse, 2, 3), weight * inverse
        self.value = float(np.sum(self.r * self.r))

    def _over_frames(self, e):
        """``J^T e`` for residual-shaped ``e (F-1, Jf, 3)``: ``(F, 3 Jf)``."""
        out = np.zeros((len(e) + 1,) + e.shape[1:])
        out[:-1] += np.matmul(np.swapaxes(self.A, 2, 3), e[..., None])[..., 0]
        out[1:] += np.matmul(np.swapaxes(self.B, 2, 3), e[..., None])[..., 0]
        return out.reshape(len(out), -1)

    def gradient(self):
        return self._over_frames(self.r)

    def product(self, x):
        """``J^T J x`` for the joints' part of the updates ``x (F, 3 Jf)``."""
        x = x.reshape(len(x), -1, 3, 1)
        return self._over_frames((np.matmul(self.A, x[:-1]) + np.matmul(self.B, x[1:]))[..., 0])

    def blocks(self):
        """The 3x3 diagonal blocks of ``J^T J`` per frame and joint: ``(F, Jf, 3, 3)``."""
        out = np.zeros((len(self.r) + 1,) + self.A.shape[1:])
        out[:-1] += np.matmul(np.swapaxes(self.A, 2, 3), self.A)
        out[1:] += np.matmul(np.swapaxes(self.B, 2, 3), self.B)
        return out


class _System:
    """The Gauss-Newton normal equations at a state, matrix-free: ``H x = -g`` over ``[x (F, P), xb (nb,)]``."""

    def __init__(self, cost, terms, stencils, betas):
        G, B = cost.eval.pose, cost.eval.shape  # (F, K, 3, P), (F, K, 3, nb)
        F, K, _, P = G.shape
        self.F, self.K, self.P, self.stencils = F, K, P, stencils
        self.G = G.reshape(F, 3 * K, P)
        self.B = B.reshape(F, 3 * K, -1) if terms.fit_shape else np.zeros((F, 3 * K, 0))  # (B is None then)
        self.nb = self.B.shape[2]
        self.w = np.repeat(cost.weights, 3, axis=1)  # (F, 3K)
        self.wd = self.w + _smooth_diagonal(stencils, F)[:, None]  # with the diagonal of the smoothness terms
        self.shape = terms.shape**2
        u = self.w * cost.error.reshape(F, 3 * K)
        if stencils:
            grad_points = np.zeros((F, K, 3))
            for (stencil, weight), e in zip(stencils, cost.smooth, strict=False):
                grad_points += _apply_transposed(stencil, weight, e, F)
            u = u + grad_points.reshape(F, 3 * K)
        self.g = _left(u, self.G)
        self.gb = np.einsum("fin,fi->n", self.B, u) + self.shape * betas[: self.nb]
        self.Hp = None
        if cost.prior is not None:
            self.g += cost.prior[1]
            self.Hp = cost.prior[2]
        self.turning = cost.turning
        if self.turning is not None:
            n = self.turning.size
            self.g[:, :n] += self.turning.gradient()
            self.turning_blocks = blocks = self.turning.blocks()
            if self.Hp is None:
                self.Hp = blocks
            elif self.Hp.ndim == 4:
                self.Hp = self.Hp + blocks
            else:
                self.Hp = self.Hp.copy()
                view = self.Hp.reshape(F, P // 3, 3, P // 3, 3)
                j = np.arange(blocks.shape[1])
                view[:, j, :, j, :] += blocks.transpose(1, 0, 2, 3)
        # each frame's block of the data and smoothness terms G^T (W + smoothness diagonal) G, and its diagonal for
        # Levenberg-Marquardt's damping
        self.blocks = np.matmul(np.swapaxes(self.G, 1, 2), self.G * self.wd.astype(self.G.dtype)[:, :, None])
        self.diag = np.diagonal(self.blocks, axis1=1, axis2=2).astype(np.float64) + 1e-6
        if self.Hp is not None and self.Hp.ndim == 4:
            self.diag[:, : 3 * self.Hp.shape[1]] += np.einsum("fjcc->fjc", self.Hp).reshape(F, -1)
        elif self.Hp is not None:
            self.diag += np.einsum("fpp->fp", self.Hp)
        self.beta_diag = np.einsum("fin,fi,fin->n", self.B, self.wd, self.B) + self.shape + 1e-9

    def matvec(self, x, xb, damping):
        F, K = self.F, self.K
        z = np.matmul(self.G, x.astype(self.G.dtype)[:, :, None])[:, :, 0].astype(np.float64)
        if self.nb:
            z += self.B @ xb
        u = self.w * z
        if self.stencils:
            u += _smooth_normal(self.stencils, z.reshape(F, K, 3)).reshape(F, 3 * K)
        out = _left(u, self.G) + damping * self.diag * x
        if self.turning is not None:  # its diagonal blocks are in Hp: only the coupling between frames here
            n = self.turning.size
            coupled = self.turning.product(x[:, :n])
            coupled -= np.matmul(self.turning_blocks, x[:, :n].reshape(F, -1, 3, 1)).reshape(F, n)
            out[:, :n] += coupled
        Hp = self.Hp
        if Hp is not None and Hp.ndim == 4:
            n = 3 * Hp.shape[1]
            out[:, :n] += np.matmul(Hp, x[:, :n].reshape(F, -1, 3, 1)).reshape(F, n)
        elif Hp is not None:
            out += np.matmul(Hp, x[:, :, None])[:, :, 0]
        if not self.nb:
            return out, xb
        return out, np.einsum("fin,fi->n", self.B, u) + (self.shape + damping * self.beta_diag) * xb


def _left(u, G):
    """``u G`` per frame for ``u (F, n)`` and ``G (F, n, P)`` in ``G``'s precision: ``(F, P)`` float64."""
    return np.matmul(u.astype(G.dtype)[:, None, :], G)[:, 0].astype(np.float64)


class _Preconditioner:
    """The normal equations without the smoothness coupling, solved exactly: each frame's block ``D = G^T (W +
    smoothness diagonal) G + priors + damping`` by its Cholesky factor ``L``, and the betas by the Schur complement of
    the frames ``E - sum Y^T Y`` with ``Y = L^-1 C`` (``C``: the frame-betas coupling, ``E``: the betas' block)."""

    def __init__(self, system, damping, arrow=None):
        S, F, P = system, system.F, system.P
        blocks = S.blocks.astype(np.float64)
        if S.Hp is not None and S.Hp.ndim == 4:  # 3x3 diagonal blocks
            n = np.arange(S.Hp.shape[1])
            view = blocks.reshape(F, P // 3, 3, P // 3, 3)  # a view: P = 3 (free joints + translation)
            view[:, n, :, n, :] += S.Hp.transpose(1, 0, 2, 3)
        elif S.Hp is not None:
            blocks += S.Hp
            arrow = None  # the user's priors couple every body joint
        blocks[:, np.arange(P), np.arange(P)] += damping * S.diag
        self.factor = _ArrowFactor(blocks, *arrow) if arrow else _DenseFactor(blocks)
        self.nb = nb = S.nb
        if nb:
            Bw = S.B * S.wd[:, :, None]
            coupling = np.matmul(np.swapaxes(S.G, 1, 2), Bw.astype(S.G.dtype)).astype(np.float64)  # C (F, P, nb)
            self.reduced = self.factor.forward(coupling)  # Y = L^-1 C
            Y = self.reduced.reshape(-1, nb)
            schur = Bw.reshape(-1, nb).T @ S.B.reshape(-1, nb) - Y.T @ Y  # BLAS products over all frames
            self.schur_inverse = np.linalg.inv(schur + np.diag(S.shape + damping * S.beta_diag))

    def __call__(self, r, rb):
        w = self.factor.forward(r[:, :, None])  # L^-1 r
        if self.nb:
            rb = self.schur_inverse @ (rb - np.einsum("fpn,fp->n", self.reduced, w[:, :, 0]))
            w = w - np.matmul(self.reduced, rb[:, None])
        return self.factor.backward(w)[:, :, 0], rb


class _DenseFactor:
    """Each frame's block ``(F, P, P)`` by its Cholesky factor (kept frames-last for the substitutions)."""

    def __init__(self, blocks):
        self.L = _frames_last(np.linalg.cholesky(blocks))  # symmetric positive definite: the diagonal is damped

    def forward(self, b):
        return _forward(self.L, b.transpose(1, 2, 0)).transpose(2, 0, 1)

    def backward(self, y):
        return _backward(self.L, y.transpose(1, 2, 0)).transpose(2, 0, 1)


def arrow_structure(point_model):
    """The branches of the pose unknowns that no target couples to each other (a leg, an arm), and the rest (the
    trunk and the translation), as column indices: ``(groups, trunk)`` with ``groups`` a list of ``(n_branches, n)``
    arrays, branches of one size together; ``None`` when there are fewer than two branches.

    Each frame's block then has the shape of an arrow (branch blocks on the diagonal, coupled to the trunk only) and
    factors branch by branch, with no fill: the cost of small blocks instead of one ``P x P`` block."""
    free, parents = point_model.free, point_model.parents
    where = {int(j): i for i, j in enumerate(free)}
    free_children = np.bincount([where[int(parents[j])] for j in free if int(parents[j]) in where], minlength=free.size)
    trunk = np.zeros(free.size, dtype=bool)  # joints with two or more free children, their ancestors, the tops
    for i, j in enumerate(free):
        if free_children[i] >= 2 or int(parents[j]) not in where:
            while j >= 0:
                if int(j) in where:
                    trunk[where[int(j)]] = True
                j = parents[j]
    label = np.arange(free.size)  # branches: the other joints, merged wherever one target moves two of them

    def root(i):
        while label[i] != i:
            i = label[i]
        return i

    for row in point_model.depends:
        moved = [root(i) for i in np.flatnonzero(row & ~trunk)]
        for i in moved[1:]:
            label[i] = moved[0]
    branches = {}
    for i in np.flatnonzero(~trunk):
        branches.setdefault(root(i), []).append(i)
    if len(branches) < 2:
        return None
    by_size = {}
    for joints in branches.values():
        by_size.setdefault(len(joints), []).append((3 * np.array(joints)[:, None] + np.arange(3)).reshape(-1))
    groups = [np.array(columns) for _, columns in sorted(by_size.items())]
    trunk_columns = np.concatenate(
        [(3 * np.flatnonzero(trunk)[:, None] + np.arange(3)).reshape(-1), 3 * free.size + np.arange(3)]
    )
    return groups, trunk_columns


class _ArrowFactor:
    """Each frame's block in the layout of :func:`arrow_structure`, factored exactly as ``[[L_b, 0], [Y_b^T, L_s]]``:
    ``L_b`` the Cholesky factor of each branch's block, ``Y_b = L_b^-1 H_bs`` its coupling to the trunk, ``L_s`` the
    factor of the trunk's block minus ``sum Y_b^T Y_b``. Vectors stay in the original column order. The triangular
    factors are kept with the frames (times the branches of a group) last, where numpy's loops are long; ``Y`` per
    frame ``(F, s, C n)`` for one batched product with the trunk."""

    def __init__(self, blocks, groups, trunk):
        self.groups, self.trunk = groups, trunk
        self.factors = []
        schur = blocks[:, trunk[:, None], trunk]
        for columns in groups:
            L = _frames_last(np.linalg.cholesky(blocks[:, columns[:, :, None], columns[:, None, :]]))  # (n, n, C F)
            Y = _by_frame(_forward(L, _frames_last(blocks[:, columns[:, :, None], trunk])), len(blocks))
            schur = schur - np.matmul(np.swapaxes(Y, 1, 2), Y)
            self.factors.append((L, np.ascontiguousarray(np.swapaxes(Y, 1, 2))))  # (F, s, C n)
        self.trunk_factor = _frames_last(np.linalg.cholesky(schur))

    def forward(self, b):
        """The factor's inverse times ``b (F, P, m)``."""
        b = b.transpose(1, 2, 0)
        out = np.empty(b.shape)
        rest = b[self.trunk]
        for columns, (L, Yt) in zip(self.groups, self.factors, strict=True):
            part = _forward(L, _rows(b, columns))
            out[columns] = _unrows(part, columns)
            rest = rest - np.matmul(Yt, _by_frame(part, len(Yt))).transpose(1, 2, 0)
        out[self.trunk] = _forward(self.trunk_factor, rest)
        return out.transpose(2, 0, 1)

    def backward(self, y):
        """The factor's transposed inverse times ``y (F, P, m)``."""
        y = y.transpose(1, 2, 0)
        out = np.empty(y.shape)
        out[self.trunk] = trunk = _backward(self.trunk_factor, y[self.trunk])
        for columns, (L, Yt) in zip(self.groups, self.factors, strict=True):
            coupled = _from_frames(np.matmul(np.swapaxes(Yt, 1, 2), trunk.transpose(2, 0, 1)), columns.shape)
            out[columns] = _unrows(_backward(L, _rows(y, columns) - coupled), columns)
        return out.transpose(2, 0, 1)


def _rows(b, columns):
    """The rows ``columns (C, n)`` of ``b (P, m, F)`` as one batch ``(n, m, C F)`` (branch-major, frames inner)."""
    return b[columns].transpose(1, 2, 0, 3).reshape(columns.shape[1], b.shape[1], -1)


def _unrows(part, columns):
    """``(n, m, C F)`` back to the rows' shape ``(C, n, m, F)``."""
    count, n = columns.shape
    return part.reshape(n, part.shape[1], count, -1).transpose(2, 0, 1, 3)


def _by_frame(part, F):
    """``(n, m, C F)`` -> ``(F, C n, m)``: each frame's rows of all branches of a group."""
    n, m = part.shape[:2]
    return part.reshape(n, m, -1, F).transpose(3, 2, 0, 1).reshape(F, -1, m)


def _from_frames(rows, shape):
    """``(F, C n, m)`` -> ``(n, m, C F)``, the inverse of :func:`_by_frame`."""
    count, n = shape
    F, _, m = rows.shape
    return rows.reshape(F, count, n, m).transpose(2, 3, 1, 0).reshape(n, m, -1)


def _frames_last(a):
    """``(F, ..., n, k)`` -> ``(n, k, ... F)`` flattened to ``(n, k, B)``: the frames last (and the axes between
    before them), contiguous."""
    a = np.moveaxis(np.moveaxis(a, 0, -1), (-3, -2), (0, 1))
    return np.ascontiguousarray(a).reshape(a.shape[0], a.shape[1], -1)


def _forward(L, b):
    """``L^-1 b`` for lower-triangular ``L (n, n, B)`` and ``b (n, m, B)``, both with the batch last: one row at a
    time for the whole batch (numpy has no batched triangular solve)."""
    y = np.empty(b.shape)
    for i in range(L.shape[0]):
        y[i] = (b[i] - np.einsum("jb,jmb->mb", L[i, :i], y[:i])) / L[i, i]
    return y


def _backward(L, y):
    """``L^-T y``, as :func:`_forward`."""
    x = np.empty(y.shape)
    for i in range(L.shape[0] - 1, -1, -1):
        x[i] = (y[i] - np.einsum("jb,jmb->mb", L[i + 1 :, i], x[i + 1 :])) / L[i, i]
    return x


def _pcg(system, precondition, damping, max_iterations=60, tolerance=3e-2):
    """The damped step ``(dx (F, P), dbetas (nb,))`` by preconditioned conjugate gradients."""
    x, xb = np.zeros((system.F, system.P)), np.zeros(system.nb)
    r, rb = -system.g, -system.gb
    z, zb = precondition(r, rb)
    d, db = z.copy(), zb.copy()
    rz = float(np.sum(r * z) + rb @ zb)
    start = rz
    for _ in range(max_iterations):
        if rz <= tolerance**2 * start or rz == 0:
            break
        q, qb = system.matvec(d, db, damping)
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


def solve(point_model, terms, state, iterations=20, progress=None, tolerance=2e-3):
    """Minimise the fit's cost from ``state = (R (F, J, 3, 3), transl (F, 3), betas (nb,))``.

    Levenberg-Marquardt: a step that does not lower the cost is taken back and the damping raised. Stops after
    ``iterations`` steps, when the cost changes by less than ``tolerance`` (relative) or when the targets are met to
    a micrometre. ``progress(i, cost)`` is
    called after each step. Returns ``(state, costs)``.
    """
    stencils = _difference_weights(terms)
    F, K = terms.targets.shape[:2]
    # the current state's and a trial's pose Jacobians, in single precision (they only shape the steps)
    jacobians = [np.zeros((F, K, 3, point_model.pose_size), dtype=np.float32) for _ in range(2)]
    current = 0
    arrow = arrow_structure(point_model)
    cost = _Cost(point_model, terms, state, stencils, jacobians[current])
    costs = [cost.total]
    damping = 1e-3
    for i in range(iterations):
        system = _System(cost, terms, stencils, state[2])
        dx, dbetas = _pcg(system, _Preconditioner(system, damping, arrow), damping)
        trial_state = _moved(point_model, state, dx, dbetas, terms)
        trial = _Cost(point_model, terms, trial_state, stencils, jacobians[1 - current])
        if trial.total < cost.total:
            change = (cost.total - trial.total) / max(cost.total, 1e-300)
            state, cost, current = trial_state, trial, 1 - current
            damping = max(damping / 3.0, 1e-7)
            costs.append(cost.total)
            if progress:
                progress(i, cost.total)
            if change < tolerance or cost.total < 1e-12 * terms.targets[..., 0].size:
                break
            if terms.fit_shape and np.max(np.abs(dbetas), initial=0.0) < SETTLED_BETAS:  # the shape is done
                terms = dataclasses.replace(terms, fit_shape=False)
        else:
            damping *= 8.0
            if damping > 1e6:
                break
    return state, costs
