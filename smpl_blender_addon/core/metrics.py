# SPDX-License-Identifier: GPL-3.0-or-later
"""Evaluation helpers from the SMPL FAQ: MPJPE, PA-MPJPE, shape sampling."""

import numpy as np

__all__ = ["mpjpe", "pa_mpjpe", "procrustes_align", "sample_shapes"]


def mpjpe(pred, target, root=0):
    """Mean per-joint position error after root alignment, in the input unit (x1000 for mm from metres).

    pred, target: ``(J, 3)`` or ``(B, J, 3)``. ``root``: the joint index subtracted from both (pelvis = 0), or
    ``None`` for no alignment.
    """
    p, t = np.asarray(pred, np.float64), np.asarray(target, np.float64)
    if p.shape != t.shape:
        raise ValueError(f"pred {p.shape} and target {t.shape} differ in shape")
    if root is not None:
        p = p - p[..., root : root + 1, :]
        t = t - t[..., root : root + 1, :]
    return float(np.mean(np.linalg.norm(p - t, axis=-1)))


def procrustes_align(pred, target):
    """Similarity transform (scale, rotation with ``det = +1``, translation) of ``pred (B, N, 3)`` onto ``target``.

    Returns the aligned prediction. The reflection fix keeps a mirrored prediction mirrored (large error).
    """
    S1, S2 = np.asarray(pred, np.float64), np.asarray(target, np.float64)
    single = S1.ndim == 2
    if single:
        S1, S2 = S1[None], S2[None]
    mu1, mu2 = S1.mean(axis=1, keepdims=True), S2.mean(axis=1, keepdims=True)
    X1, X2 = S1 - mu1, S2 - mu2
    var1 = np.sum(X1 * X1, axis=(1, 2))
    K = np.swapaxes(X1, 1, 2) @ X2  # (B, 3, 3)
    U, _, Vt = np.linalg.svd(K)
    V = np.swapaxes(Vt, 1, 2)
    Z = np.tile(np.eye(3), (len(K), 1, 1))
    Z[:, 2, 2] = np.sign(np.linalg.det(U @ Vt))
    R = V @ Z @ np.swapaxes(U, 1, 2)
    scale = np.trace(R @ K, axis1=1, axis2=2) / var1
    aligned = scale[:, None, None] * (S1 - mu1) @ np.swapaxes(R, 1, 2) + mu2
    return aligned[0] if single else aligned


def pa_mpjpe(pred, target):
    """Procrustes-aligned MPJPE (per frame alignment), averaged over joints and frames."""
    aligned = procrustes_align(pred, target)
    return float(np.mean(np.linalg.norm(aligned - np.asarray(target, np.float64), axis=-1)))


def sample_shapes(num_samples, num_betas, seed=None, dtype=np.float32):
    """``beta ~ N(0, I)`` samples ``(num_samples, num_betas)`` (the SMPL-family shape prior)."""
    return np.random.default_rng(seed).standard_normal((num_samples, num_betas)).astype(dtype)
