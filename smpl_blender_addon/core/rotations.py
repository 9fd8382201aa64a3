# SPDX-License-Identifier: GPL-3.0-or-later
"""Batched rotation conversions: Rodrigues (axis-angle) <-> matrix <-> quaternion.

Every function works on any leading batch shape ``(...)`` and keeps the input's floating dtype.
Quaternions are ``(w, x, y, z)`` like Blender's ``mathutils``. All conversions are exact near 0 (series
expansions, no division by a vanishing angle) and near pi (matrix -> quaternion by Shepperd's method).
Returned Rodrigues vectors are canonical: angle ``|r|`` in ``[0, pi]``.
"""

import numpy as np

__all__ = [
    "axis_angle_to_matrix",
    "axis_angle_to_quaternion",
    "canonical_axis_angle",
    "matrix_to_axis_angle",
    "matrix_to_quaternion",
    "quaternion_to_axis_angle",
    "quaternion_to_matrix",
    "rotation_x",
]

_SMALL = 1e-4  # below this angle the 4-term series are exact to float64 precision


def _float(a):
    a = np.asarray(a)
    return a if a.dtype.kind == "f" else a.astype(np.float64)


def axis_angle_to_matrix(r):
    """Rodrigues vectors ``(..., 3)`` -> rotation matrices ``(..., 3, 3)``.

    ``R = I + a [r]x + b [r]x^2`` with ``a = sin(t)/t`` and ``b = (1 - cos(t))/t^2``, ``t = |r|``.
    """
    r = _float(r)
    x, y, z = r[..., 0], r[..., 1], r[..., 2]
    t2 = x * x + y * y + z * z
    t = np.sqrt(t2)
    small = t < _SMALL
    ts = np.where(small, 1.0, t).astype(r.dtype, copy=False)
    a = np.where(small, 1.0 - t2 / 6.0, np.sin(ts) / ts)
    b = np.where(small, 0.5 - t2 / 24.0, (1.0 - np.cos(ts)) / (ts * ts))
    R = np.empty(r.shape[:-1] + (3, 3), dtype=r.dtype)
    bxy, bxz, byz = b * x * y, b * x * z, b * y * z
    R[..., 0, 0] = 1.0 - b * (y * y + z * z)
    R[..., 1, 1] = 1.0 - b * (x * x + z * z)
    R[..., 2, 2] = 1.0 - b * (x * x + y * y)
    R[..., 0, 1] = bxy - a * z
    R[..., 1, 0] = bxy + a * z
    R[..., 0, 2] = bxz + a * y
    R[..., 2, 0] = bxz - a * y
    R[..., 1, 2] = byz - a * x
    R[..., 2, 1] = byz + a * x
    return R


def axis_angle_to_quaternion(r):
    """Rodrigues vectors ``(..., 3)`` -> unit quaternions ``(..., 4)`` as ``(w, x, y, z)`` with ``w >= 0`` for ``|r| <= pi``."""
    r = _float(r)
    t2 = np.sum(r * r, axis=-1)
    t = np.sqrt(t2)
    small = t < _SMALL
    ts = np.where(small, 1.0, t).astype(r.dtype, copy=False)
    s = np.where(small, 0.5 - t2 / 48.0, np.sin(0.5 * ts) / ts)  # sin(t/2)/t
    q = np.empty(r.shape[:-1] + (4,), dtype=r.dtype)
    q[..., 0] = np.cos(0.5 * t)
    q[..., 1:] = r * s[..., None]
    return q


def quaternion_to_axis_angle(q):
    """Quaternions ``(..., 4)`` ``(w, x, y, z)``, any norm > 0 -> canonical Rodrigues vectors ``(..., 3)``, ``|r| <= pi``."""
    q = _float(q)
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    q = np.where(q[..., :1] < 0, -q, q)  # same rotation, angle in [0, pi]
    w, v = q[..., 0], q[..., 1:]
    s2 = np.sum(v * v, axis=-1)
    s = np.sqrt(s2)
    small = s < _SMALL
    ss = np.where(small, 1.0, s).astype(q.dtype, copy=False)
    ws = np.where(small, w, 1.0).astype(q.dtype, copy=False)
    # angle / sin(angle/2) = 2 atan2(s, w) / s; for small s: (2 / w) (1 - s^2 / (3 w^2))
    f = np.where(small, (2.0 / ws) * (1.0 - s2 / (3.0 * ws * ws)), 2.0 * np.arctan2(ss, w) / ss)
    return v * f[..., None]


def quaternion_to_matrix(q):
    """Quaternions ``(..., 4)`` ``(w, x, y, z)``, any norm > 0 -> rotation matrices ``(..., 3, 3)``."""
    q = _float(q)
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    R = np.empty(q.shape[:-1] + (3, 3), dtype=q.dtype)
    R[..., 0, 0] = 1 - 2 * (y * y + z * z)
    R[..., 1, 1] = 1 - 2 * (x * x + z * z)
    R[..., 2, 2] = 1 - 2 * (x * x + y * y)
    R[..., 0, 1] = 2 * (x * y - w * z)
    R[..., 1, 0] = 2 * (x * y + w * z)
    R[..., 0, 2] = 2 * (x * z + w * y)
    R[..., 2, 0] = 2 * (x * z - w * y)
    R[..., 1, 2] = 2 * (y * z - w * x)
    R[..., 2, 1] = 2 * (y * z + w * x)
    return R


def matrix_to_quaternion(R):
    """Rotation matrices ``(..., 3, 3)`` -> unit quaternions ``(..., 4)`` ``(w, x, y, z)`` with ``w >= 0``.

    Shepperd's method: the largest of ``w, x, y, z`` is computed from the diagonal, the rest from the
    off-diagonal terms, so the result is accurate for every angle including pi. Matrices that are only
    approximately orthonormal (network outputs) give the quaternion of their nearest rotation to first order.
    """
    R = _float(R)
    m00, m11, m22 = R[..., 0, 0], R[..., 1, 1], R[..., 2, 2]
    trace = m00 + m11 + m22
    cand = np.stack([trace, m00, m11, m22], axis=-1)
    pick = np.argmax(cand, axis=-1)
    q = np.empty(R.shape[:-2] + (4,), dtype=R.dtype)
    d21, d02, d10 = R[..., 2, 1] - R[..., 1, 2], R[..., 0, 2] - R[..., 2, 0], R[..., 1, 0] - R[..., 0, 1]
    s01, s02, s12 = R[..., 0, 1] + R[..., 1, 0], R[..., 0, 2] + R[..., 2, 0], R[..., 1, 2] + R[..., 2, 1]
    for k, (big, comps) in enumerate(
        [
            (1 + trace, (None, d21, d02, d10)),
            (1 + m00 - m11 - m22, (d21, None, s01, s02)),
            (1 - m00 + m11 - m22, (d02, s01, None, s12)),
            (1 - m00 - m11 + m22, (d10, s02, s12, None)),
        ]
    ):
        sel = pick == k
        if not np.any(sel):
            continue
        root = np.sqrt(np.maximum(big[sel], 1e-30))
        for c in range(4):
            q[..., c][sel] = 0.5 * root if comps[c] is None else comps[c][sel] / (2.0 * root)
    q /= np.linalg.norm(q, axis=-1, keepdims=True)
    return np.where(q[..., :1] < 0, -q, q)


def matrix_to_axis_angle(R):
    """Rotation matrices ``(..., 3, 3)`` -> canonical Rodrigues vectors ``(..., 3)``."""
    return quaternion_to_axis_angle(matrix_to_quaternion(R))


def canonical_axis_angle(r):
    """Same rotations with the angle wrapped into ``[0, pi]`` (``r <- r (1 - 2 pi / |r|)`` when ``|r| > pi``)."""
    r = _float(r)
    t = np.linalg.norm(r, axis=-1, keepdims=True)
    wrapped = t - 2.0 * np.pi * np.round(t / (2.0 * np.pi))  # in [-pi, pi]
    scale = np.where(t > np.pi, wrapped / np.where(t > 0, t, 1.0), 1.0)
    return r * scale


def rotation_x(angle_rad, dtype=np.float64):
    """The ``(3, 3)`` rotation by ``angle_rad`` about +X (``rotation_x(-pi/2)`` takes AMASS Z-up to SMPL Y-up)."""
    c, s = np.cos(angle_rad), np.sin(angle_rad)
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]], dtype=dtype)
