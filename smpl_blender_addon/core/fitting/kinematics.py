# SPDX-License-Identifier: GPL-3.0-or-later
"""The fitted body's target points and their analytic Jacobians, batched over frames.

A target point is a fixed linear combination of posed joints and posed mesh vertices (:class:`.landmarks.
PointDefinitions`): a joint, a keypoint on the mesh, a marker. The pose is updated by local rotations
``R_j <- R_j exp([d_j]x)``; a change ``d_j`` turns everything below joint ``j`` about the posed joint ``p_j`` by the
world rotation ``Rg_j d_j``, so a point ``x`` moved by it changes by ``(Rg_j d_j) x (x - p_j) = -[x - p_j]x Rg_j d_j``.
Joints follow ``smplx.lbs`` (regressed from the shaped mesh, no pose blend shapes); vertices are skinned with pose
blend shapes in their positions, whose small pose dependence the Jacobian leaves out (the fixed point is unchanged).
"""

import numpy as np

__all__ = ["PointModel", "Evaluation"]


def _ancestry(parents):
    """``A[j, k]`` is True when joint ``j`` is ``k`` or one of its ancestors."""
    J = len(parents)
    A = np.eye(J, dtype=bool)
    for k in range(J):
        j = parents[k]
        while j >= 0:
            A[j, k] = True
            j = parents[j]
    return A


def tree_levels(parents):
    """Joint indices grouped by depth below the root (the root excluded)."""
    depth = np.zeros(len(parents), dtype=np.int64)
    for j in range(1, len(parents)):
        depth[j] = depth[parents[j]] + 1
    return [np.flatnonzero(depth == d) for d in range(1, int(depth.max(initial=0)) + 1)]


def rest_normals(model, ids):
    """Unit normals ``(len(ids), 3)`` of the template mesh at the sorted vertex ids ``ids``: the area-weighted normals
    of the faces around each (zero where a vertex has no face)."""
    v = np.asarray(model.v_template, dtype=np.float64)
    faces = model.faces[np.any(np.isin(model.faces, ids), axis=1)]
    area_normals = np.cross(v[faces[:, 1]] - v[faces[:, 0]], v[faces[:, 2]] - v[faces[:, 0]])
    normals = np.zeros((len(ids), 3))
    for corner in range(3):
        keep = np.isin(faces[:, corner], ids)
        np.add.at(normals, np.searchsorted(ids, faces[keep, corner]), area_normals[keep])
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    return np.divide(normals, length, out=np.zeros_like(normals), where=length > 0)


def _skew_times(v, M):
    """``-[v]x M`` for ``v (..., 3)`` and ``M (..., 3, 3)``: the columns of ``M`` crossed with ``v``."""
    x, y, z = v[..., 0, None], v[..., 1, None], v[..., 2, None]
    out = np.empty(np.broadcast_shapes(v.shape[:-1], M.shape[:-2]) + (3, 3), dtype=np.result_type(v, M))
    out[..., 0, :] = z * M[..., 1, :] - y * M[..., 2, :]
    out[..., 1, :] = x * M[..., 2, :] - z * M[..., 0, :]
    out[..., 2, :] = y * M[..., 0, :] - x * M[..., 1, :]
    return out


class Evaluation:
    """Posed targets of a set of frames. ``points (F, K, 3)``; ``Rg (F, J, 3, 3)`` global rotations; ``joints (F, J, 3)``;
    with Jacobians: ``pose (F, K, 3, P)`` over ``[d of each free joint, translation]`` and ``shape (F, K, 3, nb)``
    (``None`` when not asked for)."""

    __slots__ = ("points", "Rg", "joints", "pose", "shape")

    def __init__(self, points, Rg, joints, pose=None, shape=None):
        self.points, self.Rg, self.joints, self.pose, self.shape = points, Rg, joints, pose, shape


class PointModel:
    """A body model reduced to what a fit needs: the joints, the few vertices the targets use, ``nb`` betas.

    Args:
        model: a :class:`~..model.BodyModel`.
        definitions: :class:`.landmarks.PointDefinitions` of the ``K`` targets.
        num_betas: how many betas are fitted (the model's first ones).
        fixed: joint indices that keep their rotation (e.g. fingers when only the body is targeted).
    """

    def __init__(self, model, definitions, num_betas, fixed=()):
        J = model.num_joints
        self.parents = np.asarray(model.parents, dtype=np.int64)
        self.levels = tree_levels(self.parents)
        self.num_joints, self.num_betas = J, int(num_betas)
        nb = self.num_betas
        regressor = np.asarray(model.J_regressor, dtype=np.float64)
        self.j_template = regressor @ model.v_template
        shapedirs = np.asarray(model.shapedirs[:, :, :nb], dtype=np.float64)
        self.joint_dirs = (regressor @ shapedirs.reshape(len(shapedirs), -1)).reshape(-1, 3, nb)  # (J, 3, nb)

        self.joint_coeffs = np.asarray(definitions.joint_coeffs, dtype=np.float64)
        self.vertex_coeffs = np.asarray(definitions.vertex_coeffs, dtype=np.float64)
        ids = np.asarray(definitions.vertex_ids, dtype=np.int64)
        self.num_targets = self.joint_coeffs.shape[0]
        self.used = np.flatnonzero(np.any(self.joint_coeffs != 0, axis=0))  # joints the targets use
        self.joint_part = self.joint_coeffs[:, self.used]
        self.selects = (  # every target is exactly one joint: index instead of a product
            ids.size == 0 and np.all(np.sum(self.joint_part != 0, axis=1) == 1) and np.all(self.joint_part.max(1) == 1)
        )
        self.selected = self.used[np.argmax(self.joint_part, axis=1)] if self.selects else None

        ancestry = _ancestry(self.parents)
        # the vertex part of each target as "slots": (vertex, bone) pairs with the target's weight times the skinning
        # weight, padded with zero weights to the same count per target
        weights = np.asarray(model.weights, dtype=np.float64)[ids]  # (U, J)
        combined = np.einsum("ku,uj->kuj", self.vertex_coeffs, weights).reshape(self.num_targets, -1)
        nonzero = combined != 0
        width = int(nonzero.sum(axis=1).max(initial=0))
        order = np.argsort(~nonzero, axis=1, kind="stable")[:, :width]  # the non-zero (u, j) of each target first
        self.slot_vertex, self.slot_bone = np.divmod(order, J)  # (K, S)
        self.slot_weight = np.take_along_axis(combined, order, axis=1)
        self.vertex_template = np.asarray(model.v_template, dtype=np.float64)[ids]
        offsets = definitions.offsets
        self.slot_offset = None  # markers off the skin: (K, S, 3) rest offsets along the vertices' normals
        if offsets is not None and np.any(offsets):
            normals = rest_normals(model, ids)
            self.slot_offset = np.asarray(offsets, dtype=np.float64)[:, None, None] * normals[self.slot_vertex]
        self.vertex_dirs = shapedirs[ids]  # (U, 3, nb)
        posedirs = np.asarray(model.posedirs).reshape(model.num_vertices, 3, -1)[ids]  # only the targets' vertices
        self.vertex_posedirs = np.ascontiguousarray(
            posedirs.reshape(3 * ids.size, posedirs.shape[2]).T, dtype=np.float64
        )

        moved = np.zeros(J, dtype=bool)  # joints whose rotation moves some target
        for m in self.used:
            moved |= ancestry[:, m] & (np.arange(J) != m)
        moved |= np.any(ancestry[:, self.slot_bone[self.slot_weight != 0]], axis=1)
        moved[list(fixed)] = False
        self.free = np.flatnonzero(moved)
        self.pose_size = 3 * self.free.size + 3
        # (target k, joint m it uses, free joint j strictly above m): the non-zero joint Jacobian blocks
        below = ancestry[self.free] & (self.free[:, None] != np.arange(J))  # (Jf, J): j strictly above m
        k, m = np.nonzero(self.joint_coeffs)
        pairs = [(kk, mm, jj) for kk, mm in zip(k, m, strict=True) for jj in np.flatnonzero(below[:, mm])]
        self.pair_target, self.pair_joint, self.pair_free = np.array(pairs, dtype=np.int64).reshape(-1, 3).T
        self.pair_coeff = self.joint_coeffs[self.pair_target, self.pair_joint]
        self.pairs_unique = len({(a, b) for a, b in zip(self.pair_target, self.pair_free, strict=True)}) == len(pairs)
        self.pair_place = self._place(self.pair_target, self.pair_free)
        # slot weights of the bones at or below each free joint: (K, Jf, S); the (target, free joint) pairs they fill
        slot_lever = ancestry[self.free][:, self.slot_bone].transpose(1, 0, 2) * self.slot_weight[:, None, :]
        self.depends = np.any(slot_lever != 0, axis=2)  # (K, Jf): the free joints that move each target
        self.vertex_target, self.vertex_free = np.nonzero(self.depends)
        self.vertex_lever = slot_lever[self.vertex_target, self.vertex_free]  # (vertex pairs, S)
        self.vertex_place = self._place(self.vertex_target, self.vertex_free)
        self.depends[self.pair_target, self.pair_free] = True

    def _place(self, targets, joints):
        """Where the 3x3 blocks of (target, free joint) pairs go in a frame's flattened ``(K, 3, Jf + 1, 3)`` pose
        Jacobian: ``(pairs * 9,)``, block by block, row by row."""
        rows, cols = np.divmod(np.arange(9), 3)
        return (((targets[:, None] * 3 + rows) * (self.free.size + 1) + joints[:, None]) * 3 + cols).reshape(-1)

    # ------------------------------------------------------------------------------------------------------------
    def rest_joints(self, betas):
        """``(J, 3)`` rest joints of ``betas`` and their derivative ``(J, 3, nb)``."""
        return self.j_template + self.joint_dirs @ betas, self.joint_dirs

    def chain(self, R, transl, rest):
        """Global rotations ``(F, J, 3, 3)`` and posed joints ``(F, J, 3)`` of local rotations ``R (F, J, 3, 3)``."""
        Rg = np.empty_like(R)
        p = np.empty(R.shape[:2] + (3,))
        Rg[:, 0] = R[:, 0]
        p[:, 0] = rest[0] + transl
        for idx in self.levels:
            par = self.parents[idx]
            Rg[:, idx] = np.matmul(Rg[:, par], R[:, idx])
            p[:, idx] = np.matmul(Rg[:, par], (rest[idx] - rest[par])[..., None])[..., 0] + p[:, par]
        return Rg, p

    def evaluate(self, R, transl, betas, jacobians=True, shape=True, pose_out=None):
        """The targets of local rotations ``R (F, J, 3, 3)``, translations ``(F, 3)`` and ``betas (nb,)``.

        ``pose_out``: a contiguous ``(F, K, 3, P)`` array the pose Jacobian is written into, for a caller that
        evaluates many times (a fresh array of tens of megabytes costs its page faults on every evaluation).
        """
        F = R.shape[0]
        rest, drest = self.rest_joints(betas)
        Rg, p = self.chain(R, transl, rest)
        if self.selects:
            points = p[:, self.selected]
        else:
            points = np.matmul(self.joint_part, p[:, self.used])
        U = self.vertex_template.shape[0]
        if U:
            feature = (R[:, 1:] - np.eye(3)).reshape(F, -1)
            X = self.vertex_template + self.vertex_dirs @ betas + (feature @ self.vertex_posedirs).reshape(F, U, 3)
            bones = self.slot_bone
            # y[f, k, s] = Rg_b (X_v - rest_b) + p_b for the vertex v and bone b of slot s of target k
            local = X[:, self.slot_vertex] - rest[bones]
            if self.slot_offset is not None:
                local += self.slot_offset
            y = np.matmul(Rg[:, bones], local[..., None])[..., 0] + p[:, bones]
            points = points + np.sum(self.slot_weight[..., None] * y, axis=2)
        result = Evaluation(points, Rg, p)
        if not jacobians:
            return result

        Jf, nb, K = self.free.size, self.num_betas, self.num_targets
        if pose_out is None:
            pose = np.zeros((F, K, 3, Jf + 1, 3))  # over [d of each free joint, translation]
        else:
            pose = pose_out.reshape(F, K, 3, Jf + 1, 3)
            if U or not self.pairs_unique:
                pose.fill(0.0)  # the vertex part and mixed targets are added up below
        if pose[0, 0, 0, Jf, 0] != 1.0:  # else a reused array holds it, and the same pattern of non-zero blocks
            pose[:, :, :, Jf, :] = np.eye(3)
        # joints: d p_m / d d_j = -[p_m - p_j]x Rg_j for j strictly above m
        real = pose.dtype  # the caller's precision
        lever = (p[:, self.pair_joint] - p[:, self.free[self.pair_free]]) * self.pair_coeff[:, None]  # (F, pairs, 3)
        blocks = _skew_times(lever.astype(real), Rg[:, self.free].astype(real)[:, self.pair_free])  # (F, pairs, 3, 3)
        if self.pairs_unique:
            pose.reshape(F, -1)[:, self.pair_place] = blocks.reshape(F, -1)
        else:  # a target that mixes joints
            np.add.at(pose, (slice(None), self.pair_target, slice(None), self.pair_free), blocks)
        result.pose = pose.reshape(F, K, 3, 3 * Jf + 3)
        if not shape:
            if U:
                self._vertex_pose(pose, y, p, Rg)
            return result
        # shape: D_k = d p_k / d betas along the chain
        D = np.empty((F, self.num_joints, 3, nb))
        D[:, 0] = drest[0]
        for idx in self.levels:
            par = self.parents[idx]
            D[:, idx] = np.matmul(Rg[:, par], drest[idx] - drest[par]) + D[:, par]
        if self.selects:
            shape = D[:, self.selected]
        else:
            flat = D[:, self.used].reshape(F, self.used.size, 3 * nb)
            shape = np.matmul(self.joint_part, flat).reshape(F, K, 3, nb)
        if U:
            self._vertex_pose(pose, y, p, Rg)
            dX = self.vertex_dirs[self.slot_vertex] - drest[bones]  # (K, S, 3, nb)
            slot_shape = np.matmul(Rg[:, bones], dX) + D[:, bones]  # (F, K, S, 3, nb)
            shape = shape + np.einsum("ks,fkscn->fkcn", self.slot_weight, slot_shape)
        result.shape = shape
        return result

    def _vertex_pose(self, pose, y, p, Rg):
        """Add the vertex part of the pose Jacobian to ``pose (F, K, 3, Jf + 1, 3)``: ``d y / d d_j = -[c_kj]x
        Rg_j`` with ``c_kj`` the sum over the slots below joint ``j`` of weight times ``(y - p_j)``, for the (target,
        joint) pairs where that sum has terms."""
        F = y.shape[0]
        joints = self.free[self.vertex_free]
        c = np.sum(self.vertex_lever[..., None] * y[:, self.vertex_target], axis=2)  # (F, pairs, 3)
        c -= self.vertex_lever.sum(axis=1)[:, None] * p[:, joints]
        blocks = _skew_times(c.astype(pose.dtype), Rg[:, self.free].astype(pose.dtype)[:, self.vertex_free])
        pose.reshape(F, -1)[:, self.vertex_place] += blocks.reshape(F, -1)
