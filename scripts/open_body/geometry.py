# SPDX-License-Identifier: GPL-3.0-or-later
"""Small batched rotation / quaternion helpers (float64, quaternions as (w, x, y, z)) for the builder."""

import numpy as np


def axis_angle_to_matrix(aa):
    """(..., 3) axis-angle -> (..., 3, 3) rotation matrices (Rodrigues)."""
    aa = np.asarray(aa, float)
    angle = np.linalg.norm(aa, axis=-1, keepdims=True)
    axis = aa / np.maximum(angle, 1e-12)
    x, y, z = axis[..., 0], axis[..., 1], axis[..., 2]
    zero = np.zeros_like(x)
    k = np.stack([zero, -z, y, z, zero, -x, -y, x, zero], axis=-1).reshape(aa.shape[:-1] + (3, 3))
    s, c = np.sin(angle)[..., None], np.cos(angle)[..., None]
    return np.eye(3) + s * k + (1.0 - c) * (k @ k)


def rotation_between(a, b):
    """(3, 3) minimal rotation taking direction a to direction b."""
    a = a / np.linalg.norm(a)
    b = b / np.linalg.norm(b)
    axis = np.cross(a, b)
    s, c = np.linalg.norm(axis), float(np.dot(a, b))
    if s < 1e-12:
        return np.eye(3)
    return axis_angle_to_matrix(axis / s * np.arctan2(s, c))


def matrix_to_quaternion(m):
    """(..., 3, 3) rotations -> (..., 4) unit quaternions (w, x, y, z), w >= 0 where possible."""
    m = np.asarray(m, float)
    tr = m[..., 0, 0] + m[..., 1, 1] + m[..., 2, 2]
    cands = np.stack(
        [
            np.stack(
                [1 + tr, m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] - m[..., 0, 1]], -1
            ),
            np.stack(
                [
                    m[..., 2, 1] - m[..., 1, 2],
                    1 + m[..., 0, 0] - m[..., 1, 1] - m[..., 2, 2],
                    m[..., 0, 1] + m[..., 1, 0],
                    m[..., 0, 2] + m[..., 2, 0],
                ],
                -1,
            ),
            np.stack(
                [
                    m[..., 0, 2] - m[..., 2, 0],
                    m[..., 0, 1] + m[..., 1, 0],
                    1 - m[..., 0, 0] + m[..., 1, 1] - m[..., 2, 2],
                    m[..., 1, 2] + m[..., 2, 1],
                ],
                -1,
            ),
            np.stack(
                [
                    m[..., 1, 0] - m[..., 0, 1],
                    m[..., 0, 2] + m[..., 2, 0],
                    m[..., 1, 2] + m[..., 2, 1],
                    1 - m[..., 0, 0] - m[..., 1, 1] + m[..., 2, 2],
                ],
                -1,
            ),
        ],
        axis=-2,
    )  # (..., 4, 4): candidate k has component k = 1 + ... (largest is the stable one)
    diag = np.stack(
        [
            1 + tr,
            1 + m[..., 0, 0] - m[..., 1, 1] - m[..., 2, 2],
            1 - m[..., 0, 0] + m[..., 1, 1] - m[..., 2, 2],
            1 - m[..., 0, 0] - m[..., 1, 1] + m[..., 2, 2],
        ],
        -1,
    )
    best = np.argmax(diag, axis=-1)
    q = np.take_along_axis(cands, best[..., None, None], axis=-2)[..., 0, :]
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    return np.where(q[..., :1] < 0, -q, q)


def quaternion_multiply(a, b):
    """Hamilton product of (..., 4) quaternions."""
    aw, ax, ay, az = np.moveaxis(a, -1, 0)
    bw, bx, by, bz = np.moveaxis(b, -1, 0)
    return np.stack(
        [
            aw * bw - ax * bx - ay * by - az * bz,
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
        ],
        axis=-1,
    )


def quaternion_to_matrix(q):
    """(..., 4) quaternions (any norm) -> (..., 3, 3) rotations."""
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    w, x, y, z = np.moveaxis(q, -1, 0)
    return np.stack(
        [
            1 - 2 * (y * y + z * z),
            2 * (x * y - w * z),
            2 * (x * z + w * y),
            2 * (x * y + w * z),
            1 - 2 * (x * x + z * z),
            2 * (y * z - w * x),
            2 * (x * z - w * y),
            2 * (y * z + w * x),
            1 - 2 * (x * x + y * y),
        ],
        axis=-1,
    ).reshape(q.shape[:-1] + (3, 3))


def blend_dual_quaternion_skin(points, idx, w, rot, trans):
    """Dual-quaternion skinning.

    points (..., V, 3); idx, w (V, K) sparse influences (bone ids, weights summing to 1);
    rot (..., B, 3, 3) bone rotations; trans (..., B, 3) bone translations (x -> R x + t). Leading dims broadcast.
    Returns (..., V, 3). Each vertex's quaternions are flipped into the hemisphere of its strongest influence.
    """
    qr = matrix_to_quaternion(rot)  # (..., B, 4)
    tq = np.concatenate([np.zeros(trans.shape[:-1] + (1,)), trans], axis=-1)
    qd = 0.5 * quaternion_multiply(tq, qr)  # (..., B, 4)
    qr_v, qd_v = qr[..., idx, :], qd[..., idx, :]  # (..., V, K, 4)
    sign = np.sign(np.sum(qr_v * qr_v[..., :1, :], axis=-1))  # column 0 = strongest influence
    sign[sign == 0] = 1.0
    ws = (w * sign)[..., None]
    br, bd = np.sum(ws * qr_v, axis=-2), np.sum(ws * qd_v, axis=-2)  # (..., V, 4)
    norm = np.linalg.norm(br, axis=-1, keepdims=True)
    br, bd = br / norm, bd / norm
    conj = br * np.array([1.0, -1.0, -1.0, -1.0])
    t = 2.0 * quaternion_multiply(bd, conj)[..., 1:]
    return np.einsum("...vij,...vj->...vi", quaternion_to_matrix(br), points) + t


def sparse_influences(weights, k=8):
    """(V, J) dense weights -> (idx (V, k) int64 sorted by weight descending, w (V, k) renormalised)."""
    idx = np.argsort(-weights, axis=1, kind="stable")[:, :k]
    w = np.take_along_axis(weights, idx, axis=1)
    return idx, w / w.sum(axis=1, keepdims=True)
