# SPDX-License-Identifier: GPL-3.0-or-later
"""VPoser (the variational pose prior of human_body_prior, architecture V02_05) in NumPy, evaluation mode.

The network, as its weights define it (``H`` hidden units, ``L`` latent dimensions, both read from the weights;
the released model has H = 512, L = 32):

* encoder: 63 axis-angle values of the 21 body joints (SMPL joints 1..21, no pelvis) -> BatchNorm -> Linear(63, H)
  -> LeakyReLU(0.01) -> BatchNorm -> (Dropout) -> Linear(H, H) -> Linear(H, H) -> two heads Linear(H, L): the
  mean, and a value whose softplus is the scale of the Normal posterior;
* decoder: Linear(L, H) -> LeakyReLU -> (Dropout) -> Linear(H, H) -> LeakyReLU -> Linear(H, 126), viewed as 21
  3x2 matrices whose two columns are Gram-Schmidt orthonormalised into ``b1``, ``b2``; ``b3 = b1 x b2``; the rotation
  has the columns ``[b1, b2, b3]``.

In evaluation mode dropout is the identity and BatchNorm uses its running statistics, so each BatchNorm is an affine
map folded into the Linear layer after it at load time (in float64), and the two Linear layers without an activation
between them are one; the mean and scale heads are one GEMM. Every method is batched: a few GEMMs for N poses.

Weights come from a checkpoint read by :mod:`.torch_checkpoint` (no torch, nothing executed). Nothing of the weights
is stored in this repository. No bpy, no torch.
"""

import os
import re

import numpy as np

from . import rotations
from .errors import WeightsFileError
from .file_io import walk_files
from .motion import slerp
from .rotations import matrix_to_axis_angle
from .torch_checkpoint import load_checkpoint

NUM_JOINTS = 21
POSE_SIZE = 3 * NUM_JOINTS
BATCHNORM_EPS = 1e-5
LEAKY_SLOPE = 0.01
_PREFIX = "vp_model."
_CHECKPOINT_SUFFIXES = (".ckpt", ".pt", ".pth")


def _natural_key(name):
    """Sort key comparing digit runs as numbers (``epoch=9`` before ``epoch=10``)."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def checkpoint_path(path):
    """The checkpoint file of ``path``: the file itself, or for a folder (a human_body_prior experiment folder such
    as ``V02_05/``) the newest ``snapshots/*.ckpt`` by name (digit runs compared as numbers), else the newest
    ``*.ckpt`` / ``*.pt`` / ``*.pth`` in the folder itself."""
    path = os.fspath(path)
    if not os.path.isdir(path):
        return path
    snapshots = os.path.join(path, "snapshots")
    found = walk_files(snapshots, (".ckpt",), max_depth=0) if os.path.isdir(snapshots) else []
    found = found or walk_files(path, _CHECKPOINT_SUFFIXES, max_depth=0)
    if not found:
        raise WeightsFileError(path, "no VPoser checkpoint in this folder (expected snapshots/*.ckpt)")
    return max(found, key=lambda name: _natural_key(os.path.basename(name)))


def _module_state(raw):
    """The VPoser module's own state dict from a checkpoint: ``raw['state_dict']`` (Lightning) or ``raw`` itself,
    with the ``vp_model.`` prefix removed where the keys have it; other keys (body-model buffers) stay and are
    ignored."""
    state = raw.get("state_dict") if isinstance(raw.get("state_dict"), dict) else raw
    prefixed = {key[len(_PREFIX) :]: value for key, value in state.items() if str(key).startswith(_PREFIX)}
    return prefixed or state


def _leaky_relu(x):
    """LeakyReLU(0.01) in place."""
    return np.maximum(x, LEAKY_SLOPE * x, out=x)


def _rows(values, size, what, dtype):
    """``values`` as a C-contiguous ``(N, size)`` array of ``dtype``: ``(size,)`` is one row."""
    arr = np.asarray(values, dtype=dtype)
    if arr.ndim == 1 and arr.size == size:
        return arr.reshape(1, size)
    if arr.ndim == 2 and arr.shape[1] == size:
        return np.ascontiguousarray(arr)
    raise ValueError(f"{what} must have shape ({size},) or (N, {size}), got {arr.shape}")


class VPoser:
    """A VPoser V02_05 model in NumPy (evaluation mode).

    Attributes:
        latent_dim: ``L``, the size of a latent code (32 for the released model).
        hidden: ``H``, the hidden layer width (512 for the released model).
        num_joints: 21 (the SMPL body joints 1..21; no pelvis, no hands).
        dtype: the float type of all computation and results (``np.float32`` by default).
        source: the checkpoint file the weights came from (``None`` for :meth:`from_state_dict`).

    Load with :meth:`load` (a checkpoint file or an experiment folder) and keep the object: loading reads the file.
    """

    num_joints = NUM_JOINTS

    def __init__(self, state, dtype=np.float32, source=None):
        """Build from a module state dict (keys as ``VPoser.state_dict()`` names them, numpy arrays); prefer
        :meth:`load` / :meth:`from_state_dict`. Raises :class:`WeightsFileError` naming ``source`` for missing keys,
        wrong shapes or non-finite values."""
        self.source = None if source is None else os.fspath(source)
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise ValueError(f"dtype must be float32 or float64, got {self.dtype}")
        w = self._checked(state)
        self.hidden, self.latent_dim = w["encoder_net.2.weight"].shape[0], w["encoder_net.8.mu.weight"].shape[0]

        def batchnorm(i):
            scale = w[f"encoder_net.{i}.weight"] / np.sqrt(w[f"encoder_net.{i}.running_var"] + BATCHNORM_EPS)
            return scale, w[f"encoder_net.{i}.bias"] - w[f"encoder_net.{i}.running_mean"] * scale

        def affine(weight, bias):  # y = x @ matrix + offset, in self.dtype, C-contiguous
            return np.ascontiguousarray(weight.T, dtype=self.dtype), np.asarray(bias, dtype=self.dtype)

        s1, t1 = batchnorm(1)
        w2, b2 = w["encoder_net.2.weight"], w["encoder_net.2.bias"]
        s4, t4 = batchnorm(4)
        w6, b6 = w["encoder_net.6.weight"], w["encoder_net.6.bias"]
        w7, b7 = w["encoder_net.7.weight"], w["encoder_net.7.bias"]
        w6 = w6 * s4  # BatchNorm 4 folded into Linear 6, then Linear 6 and 7 (no activation between) made one
        b6 = w["encoder_net.6.weight"] @ t4 + b6
        self._enc1 = affine(w2 * s1, w2 @ t1 + b2)  # BatchNorm 1 folded into Linear 2
        self._enc2 = affine(w7 @ w6, w7 @ b6 + b7)
        self._heads = affine(
            np.concatenate([w["encoder_net.8.mu.weight"], w["encoder_net.8.logvar.weight"]]),
            np.concatenate([w["encoder_net.8.mu.bias"], w["encoder_net.8.logvar.bias"]]),
        )
        self._dec = [affine(w[f"decoder_net.{i}.weight"], w[f"decoder_net.{i}.bias"]) for i in (0, 3, 5)]

    # ----------------------------------------------------------------------------------------------------------------
    # Construction.

    @classmethod
    def load(cls, path, dtype=np.float32):
        """The VPoser whose weights are in ``path``.

        Args:
            path: a checkpoint written by ``torch.save`` (PyTorch >= 1.6 zip format): a Lightning ``.ckpt`` (weights in
                ``state_dict`` under ``vp_model.``) or a plain state dict of the VPoser module; or an experiment
                folder (``V02_05/`` with ``snapshots/*.ckpt``: the newest by name is used).
            dtype: ``np.float32`` (default) or ``np.float64`` for all computation.

        Raises:
            :class:`WeightsFileError` naming the file, for a missing, unreadable, legacy, hostile checkpoint or one
            that does not hold VPoser V02_05 weights. Nothing in the file is executed.
        """
        path = checkpoint_path(path)
        return cls(_module_state(load_checkpoint(path)), dtype=dtype, source=path)

    @classmethod
    def from_state_dict(cls, state, dtype=np.float32):
        """A VPoser from a state dict of numpy arrays (``vp_model.``-prefixed keys, or a Lightning checkpoint dict with
        ``state_dict``, are accepted too)."""
        return cls(_module_state(dict(state)), dtype=dtype)

    def _checked(self, state):
        """The weights as float64 arrays, every key present with the shape the architecture needs."""
        where = self.source

        def get(key):
            if key not in state:
                older = any("bodyprior" in str(k) for k in state)
                raise WeightsFileError(
                    where,
                    f"not VPoser V02_05 weights: no '{key}'"
                    + (
                        " (this looks like VPoser v1 of human_body_prior 0.8; only V02_05 is supported)"
                        if older
                        else f" (found {len(state)} keys: {', '.join(sorted(map(str, state))[:8])}...)"
                    ),
                )
            value = state[key]
            if not isinstance(value, np.ndarray) or value.dtype.kind not in "fiu":
                raise WeightsFileError(where, f"'{key}' is not a numeric tensor")
            value = value.astype(np.float64)
            if not np.all(np.isfinite(value)):
                raise WeightsFileError(where, f"'{key}' holds NaN or infinite values")
            return value

        weights = {}
        first, head = get("encoder_net.2.weight"), get("encoder_net.8.mu.weight")
        H = first.shape[0] if first.ndim == 2 else 0  # noqa: N806 (the sizes as the docs name them)
        L = head.shape[0] if head.ndim == 2 else 0  # noqa: N806
        shapes = {f"encoder_net.{i}.{p}": (n,) for i, n in ((1, POSE_SIZE), (4, H)) for p in ("weight", "bias")}
        shapes.update(
            {f"encoder_net.{i}.running_{p}": (n,) for i, n in ((1, POSE_SIZE), (4, H)) for p in ("mean", "var")}
        )
        for key, (rows, cols) in {
            "encoder_net.2": (H, POSE_SIZE),
            "encoder_net.6": (H, H),
            "encoder_net.7": (H, H),
            "encoder_net.8.mu": (L, H),
            "encoder_net.8.logvar": (L, H),
            "decoder_net.0": (H, L),
            "decoder_net.3": (H, H),
            "decoder_net.5": (6 * NUM_JOINTS, H),
        }.items():
            shapes[f"{key}.weight"], shapes[f"{key}.bias"] = (rows, cols), (rows,)
        for key, shape in shapes.items():
            value = get(key)
            if value.shape != shape or 0 in shape:
                raise WeightsFileError(
                    where,
                    f"'{key}' has shape {value.shape}, VPoser V02_05 with {H} hidden units and a {L}-D latent "
                    f"needs {shape}",
                )
            weights[key] = value
        for i in (1, 4):
            if np.any(weights[f"encoder_net.{i}.running_var"] < 0):
                raise WeightsFileError(where, f"'encoder_net.{i}.running_var' has negative variances")
        return weights

    # ----------------------------------------------------------------------------------------------------------------
    # The network.

    def encode(self, pose_body):
        """The posterior of body poses.

        Args:
            pose_body: ``(63,)`` or ``(N, 63)`` axis-angle of the 21 body joints (SMPL joints 1..21, ``body_pose``).

        Returns:
            ``(mean, scale)``, each ``(N, L)`` in :attr:`dtype`: the Normal posterior ``N(mean, scale)`` (``scale`` is
            the softplus of the encoder's second head, a standard deviation).
        """
        x = _rows(pose_body, POSE_SIZE, "pose_body", self.dtype)
        h = _leaky_relu(x @ self._enc1[0] + self._enc1[1])
        h = h @ self._enc2[0] + self._enc2[1]
        out = h @ self._heads[0] + self._heads[1]
        mean, raw = out[:, : self.latent_dim], out[:, self.latent_dim :]
        return np.ascontiguousarray(mean), np.logaddexp(raw, self.dtype.type(0))

    def encode_jacobian(self, pose_body):
        """The posterior mean of body poses and its derivative, for fitting.

        Args:
            pose_body: ``(63,)`` or ``(N, 63)`` axis-angle of the 21 body joints.

        Returns:
            ``(mean (N, L), jacobian (N, L, 63))`` in :attr:`dtype`: ``jacobian[n, l, i] = d mean[n, l] / d pose[n, i]``
            (the encoder is piecewise linear: one LeakyReLU between two affine maps).
        """
        x = _rows(pose_body, POSE_SIZE, "pose_body", self.dtype)
        pre = x @ self._enc1[0] + self._enc1[1]
        slope = np.where(pre > 0, self.dtype.type(1), self.dtype.type(LEAKY_SLOPE))
        tail = self._enc2[0] @ self._heads[0][:, : self.latent_dim]  # (H, L): the affine maps after the activation
        mean = _leaky_relu(pre) @ tail + (self._enc2[1] @ self._heads[0][:, : self.latent_dim])
        mean += self._heads[1][: self.latent_dim]
        jacobian = np.einsum("ih,nh,hl->nli", self._enc1[0], slope, tail, optimize=True)
        return mean, jacobian

    def decode_matrices(self, z):
        """Rotation matrices of latent codes.

        Args:
            z: ``(L,)`` or ``(N, L)`` latent codes.

        Returns:
            ``(N, 21, 3, 3)`` rotation matrices of the 21 body joints, in :attr:`dtype`.
        """
        z = _rows(z, self.latent_dim, "z", self.dtype)
        (m0, c0), (m3, c3), (m5, c5) = self._dec
        h = _leaky_relu(z @ m0 + c0)
        h = _leaky_relu(h @ m3 + c3)
        out = (h @ m5 + c5).reshape(len(z), NUM_JOINTS, 3, 2)
        a, b = out[..., 0], out[..., 1]
        tiny = self.dtype.type(1e-12)
        b1 = a / np.maximum(np.sqrt(np.einsum("...i,...i->...", a, a)), tiny)[..., None]
        b2 = b - np.einsum("...i,...i->...", b1, b)[..., None] * b1
        b2 /= np.maximum(np.sqrt(np.einsum("...i,...i->...", b2, b2)), tiny)[..., None]
        matrices = np.empty(out.shape[:-2] + (3, 3), dtype=self.dtype)
        matrices[..., 0], matrices[..., 1], matrices[..., 2] = b1, b2, _cross(b1, b2)  # the columns
        return matrices

    def decode(self, z):
        """Body poses of latent codes.

        Args:
            z: ``(L,)`` or ``(N, L)`` latent codes.

        Returns:
            ``(N, 63)`` axis-angle of the 21 body joints (canonical: ``|r| <= pi``), in :attr:`dtype`.
        """
        matrices = self.decode_matrices(z)
        rotvecs = matrix_to_axis_angle(matrices.astype(np.float64))
        return rotvecs.reshape(len(matrices), POSE_SIZE).astype(self.dtype)

    def sample(self, n, seed=None):
        """``n`` random body poses: ``z ~ N(0, I)`` decoded.

        Args:
            n: how many poses.
            seed: an int or ``None`` for ``np.random.RandomState(seed)`` (as human_body_prior's ``sample_poses``
                seeds numpy: the same seed gives the same ``z``, ``RandomState(seed).standard_normal((n, L))``), or
                a ``np.random.Generator`` / ``RandomState`` to draw from.

        Returns:
            ``(n, 63)`` axis-angle, as :meth:`decode`.
        """
        rng = seed if isinstance(seed, (np.random.Generator, np.random.RandomState)) else np.random.RandomState(seed)
        return self.decode(rng.standard_normal((int(n), self.latent_dim)))

    def prior(self, pose_body):
        """The VPoser pose prior of body poses: ``0.5 * ||mean||^2`` of the encoder mean, ``(N,)``.

        This is the negative log density of the standard Normal latent prior at the encoder mean (up to a constant),
        the quantity SMPLify-X-style fitting penalises (it penalises the squared norm of the latent code it
        optimises). Lower is more plausible.
        """
        mean, _ = self.encode(pose_body)
        return 0.5 * np.einsum("ij,ij->i", mean, mean)

    def interpolate(self, pose_a, pose_b, weights):
        """Body poses between two poses, through the latent space.

        Args:
            pose_a, pose_b: ``(63,)`` (or ``(1, 63)``) axis-angle body poses.
            weights: ``(K,)`` blend weights (0 gives ``pose_a``'s decoding, 1 ``pose_b``'s; others extrapolate).

        Returns:
            ``(K, 63)``: the decodings of ``(1 - w) z_a + w z_b`` with ``z_a``, ``z_b`` the encoder means.
        """
        means, _ = self.encode(
            np.concatenate(
                [_rows(pose_a, POSE_SIZE, "pose_a", self.dtype), _rows(pose_b, POSE_SIZE, "pose_b", self.dtype)]
            )
        )
        if len(means) != 2:
            raise ValueError("pose_a and pose_b must be one pose each")
        w = np.asarray(weights, dtype=self.dtype).reshape(-1, 1)
        return self.decode((1 - w) * means[0] + w * means[1])

    def inbetweens(self, pose_a, pose_b, weights):
        """Body poses between two poses through the latent space that start and end exactly at the two poses.

        VPoser reconstructs a pose only approximately, so :meth:`interpolate` jumps at its ends. Here each joint of
        the decoded line ``D(z_w)`` is corrected by the two ends' reconstruction residuals, blended on the shortest
        arc: ``R(w) = D(z_w) slerp(D(z_a)^T R_a, D(z_b)^T R_b, w)``, so ``R(0) = R_a`` and ``R(1) = R_b``.

        Args:
            pose_a, pose_b: ``(63,)`` axis-angle body poses.
            weights: ``(K,)`` blend weights in [0, 1].

        Returns:
            ``(K, 63)`` float64 canonical axis-angle.
        """
        ends = np.concatenate(
            [_rows(pose_a, POSE_SIZE, "pose_a", np.float64), _rows(pose_b, POSE_SIZE, "pose_b", np.float64)]
        )
        if len(ends) != 2:
            raise ValueError("pose_a and pose_b must be one pose each")
        means, _ = self.encode(ends)
        w = np.asarray(weights, dtype=np.float64).reshape(-1)
        line = self.decode_matrices((1 - w[:, None]) * means[0] + w[:, None] * means[1]).astype(np.float64)
        decoded_ends = self.decode_matrices(means).astype(np.float64)
        residual = np.swapaxes(decoded_ends, -1, -2) @ rotations.axis_angle_to_matrix(ends.reshape(2, -1, 3))
        q = rotations.matrix_to_quaternion(residual)  # (2, 21, 4)
        blended = slerp(q[0][None], q[1][None], np.broadcast_to(w[:, None], (len(w), q.shape[1])))
        out = line @ rotations.quaternion_to_matrix(blended)
        return rotations.canonical_axis_angle(rotations.matrix_to_axis_angle(out)).reshape(len(w), -1)

    def __repr__(self):
        return f"VPoser(latent_dim={self.latent_dim}, hidden={self.hidden}, dtype={self.dtype}, source={self.source!r})"


def _cross(a, b):
    """``a x b`` for ``(..., 3)`` arrays."""
    out = np.empty_like(a)
    out[..., 0] = a[..., 1] * b[..., 2] - a[..., 2] * b[..., 1]
    out[..., 1] = a[..., 2] * b[..., 0] - a[..., 0] * b[..., 2]
    out[..., 2] = a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]
    return out


def load_vposer(vposer, dtype=np.float32):
    """``vposer`` itself when it is a :class:`VPoser`, else :meth:`VPoser.load` of it (a checkpoint path or folder)."""
    return vposer if isinstance(vposer, VPoser) else VPoser.load(vposer, dtype=dtype)
