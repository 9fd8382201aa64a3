# SPDX-License-Identifier: GPL-3.0-or-later
"""The body model: arrays of one SMPL / SMPL-H / SMPL-X file and its forward pass (exactly ``smplx.lbs``).

Forward steps: shape blend (betas and, for SMPL-X, expression) -> joints regressed from the
shaped mesh -> Rodrigues -> pose feature ``R_j - I`` (j >= 1) -> pose blend -> kinematic chain -> linear blend
skinning -> ``+ transl``. What does not depend on the pose (the joint regressor applied to the template and to
every shape direction) is precomputed once per model, so a frame costs one pose-blend GEMM, one weights GEMM
and a few elementwise passes. Long batches are processed in chunks to bound memory.
"""

from collections import namedtuple
from pathlib import Path

import numpy as np

from . import layouts
from .errors import ModelFileError
from .model_files import read_model_file
from .rotations import axis_angle_to_matrix

__all__ = ["BodyModel", "ForwardOutput", "load_model", "builtin_model_path", "BUILTIN_MODELS"]

ForwardOutput = namedtuple("ForwardOutput", ["vertices", "joints"])

BUILTIN_MODELS = {"open-smpl": "open_smpl", "open-smplx": "open_smplx"}
_GENDERS = {"neutral": "neutral", "n": "neutral", "female": "female", "f": "female", "male": "male", "m": "male"}
_CHUNK = 64  # frames per chunk: keeps the SMPL-X working set near 100 MiB whatever the batch size


def _asset_dirs():
    package = Path(__file__).resolve().parent.parent
    return [package / "assets", package.parent / "assets"]


def normalise_gender(gender, path=None):
    """``"f"/"female"/b"female"`` -> ``"female"``, likewise male/neutral; ``None`` stays ``None``."""
    if gender is None:
        return None
    if isinstance(gender, bytes):
        gender = gender.decode("latin-1")
    key = str(gender).strip().lower()
    if key not in _GENDERS:
        raise ModelFileError(path, f"unknown gender {gender!r} (expected female, male or neutral)")
    return _GENDERS[key]


def builtin_model_path(name, gender=None):
    """Path of a built-in open body (``"open-smpl"`` / ``"open-smplx"``) of ``gender`` (default neutral)."""
    stem = BUILTIN_MODELS[name]
    filename = f"{stem}_{normalise_gender(gender) or 'neutral'}.npz"
    for folder in _asset_dirs():
        if (folder / filename).is_file():
            return folder / filename
    raise ModelFileError(
        filename, f"built-in body {name!r} is not installed (looked in {', '.join(map(str, _asset_dirs()))})"
    )


def load_model(path_or_name, gender=None, kind=None, hand_pca=None):
    """Load a body model.

    ``path_or_name``: a built-in name (``"open-smpl"``, ``"open-smplx"``), an official ``.pkl`` / ``.npz`` file,
    or a folder of official files (``gender`` and, when the folder holds several kinds, ``kind`` choose).
    ``hand_pca``: ``(MANO_LEFT.pkl, MANO_RIGHT.pkl)`` merged into an SMPL-H model in memory.
    Raises :class:`ModelFileError` (a ``ValueError``) naming the file and the problem.
    """
    name = str(path_or_name)
    if name in BUILTIN_MODELS:
        arrays = read_model_file(builtin_model_path(name, gender))
        return BodyModel.from_arrays(arrays, name=name)
    arrays = read_model_file(path_or_name, gender=normalise_gender(gender, path_or_name), kind=kind, hand_pca=hand_pca)
    return BodyModel.from_arrays(arrays, name=str(arrays.get("path", path_or_name)))


def _floats(a):
    """float32 / float64 arrays as they are (no copy); anything else (float16, integers) as float32 or float64."""
    a = np.asarray(a)
    if a.dtype in (np.float32, np.float64):
        return a
    return a.astype(np.float32 if a.dtype == np.float16 else np.float64)


def _batch(value, width, what, dtype):
    """``None`` / ``(w,)`` / ``(B, w)`` -> ``(B, width)`` zero-padded; ``B = 1`` for a single row."""
    if value is None:
        return np.zeros((1, width), dtype=dtype)
    a = np.asarray(value, dtype=dtype)
    if a.ndim == 1:
        a = a[None]
    if a.ndim != 2:
        raise ValueError(f"{what} must be (n,) or (B, n), got shape {a.shape}")
    if a.shape[1] > width:
        raise ValueError(f"{what} has {a.shape[1]} values but the model has {width}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{what} contains NaN or infinite values")
    if a.shape[1] < width:
        a = np.concatenate([a, np.zeros((a.shape[0], width - a.shape[1]), dtype=dtype)], axis=1)
    return a


class BodyModel:
    """One SMPL-family body model with a batched NumPy forward pass.

    Attributes (``V`` vertices, ``J`` joints, ``P = 9 (J - 1)``): ``kind``, ``gender``, ``name``, ``joint_names``,
    ``parents (J,)``, ``faces (F, 3)``, ``v_template (V, 3)``, ``shapedirs (V, 3, nb)``, ``exprdirs (V, 3, ne)``,
    ``posedirs (V, 3, P)`` (file layout), ``J_regressor (J, V)``, ``weights (V, J)``, ``vt``/``ft`` (UVs or
    ``None``), ``hands_components_left/right (45, 45)`` and ``hands_mean_left/right (45,)`` (or ``None``).
    Large arrays keep the precision they were stored with (float32 or float64, no float64 copies of float32 data);
    the forward pass uses cached float32 (or float64) arrays in its own layout.
    """

    def __init__(
        self,
        *,
        kind,
        v_template,
        faces,
        shapedirs,
        posedirs,
        J_regressor,
        weights,
        parents,
        exprdirs=None,
        gender=None,
        name=None,
        joint_names=None,
        vt=None,
        ft=None,
        hands_components_left=None,
        hands_components_right=None,
        hands_mean_left=None,
        hands_mean_right=None,
        meta=None,
    ):
        self.kind = kind
        self.gender = gender
        self.name = name
        self.meta = dict(meta or {})
        self.v_template = np.asarray(v_template, dtype=np.float64)
        self.faces = np.asarray(faces, dtype=np.int64)
        V = self.v_template.shape[0]
        self.shapedirs = _floats(shapedirs).reshape(V, 3, -1)
        self.exprdirs = (np.zeros((V, 3, 0)) if exprdirs is None else _floats(exprdirs)).reshape(V, 3, -1)
        self.posedirs = _floats(posedirs)
        self.J_regressor = _floats(J_regressor)
        self.weights = _floats(weights)
        self.parents = np.asarray(parents, dtype=np.int64)
        default_names = layouts.JOINT_NAMES.get(kind)
        self.joint_names = list(joint_names) if joint_names is not None else list(default_names)
        self.vt = None if vt is None else np.asarray(vt, dtype=np.float64)
        self.ft = None if ft is None else np.asarray(ft, dtype=np.int64)
        self.hands_components_left = hands_components_left
        self.hands_components_right = hands_components_right
        self.hands_mean_left = hands_mean_left
        self.hands_mean_right = hands_mean_right
        self._cache = {}
        self._levels = _tree_levels(self.parents)

    @classmethod
    def from_arrays(cls, arrays, name=None):
        """Build from the dict :func:`model_files.read_model_file` returns (extra keys are ignored)."""
        keys = (
            "kind",
            "v_template",
            "faces",
            "shapedirs",
            "posedirs",
            "J_regressor",
            "weights",
            "parents",
            "exprdirs",
            "gender",
            "joint_names",
            "vt",
            "ft",
            "hands_components_left",
            "hands_components_right",
            "hands_mean_left",
            "hands_mean_right",
            "meta",
        )
        kwargs = {k: arrays[k] for k in keys if arrays.get(k) is not None}
        return cls(name=name if name is not None else arrays.get("path"), **kwargs)

    # -- sizes -------------------------------------------------------------------------------------------------
    num_vertices = property(lambda self: self.v_template.shape[0])
    num_joints = property(lambda self: self.parents.shape[0])
    num_betas = property(lambda self: self.shapedirs.shape[2])
    num_expressions = property(lambda self: self.exprdirs.shape[2])
    pose_size = property(lambda self: 3 * self.parents.shape[0])

    def __repr__(self):
        return (
            f"BodyModel({self.kind}, {self.gender}, V={self.num_vertices}, J={self.num_joints}, "
            f"betas={self.num_betas}, expressions={self.num_expressions}, name={self.name!r})"
        )

    # -- precomputed, per dtype --------------------------------------------------------------------------------
    def _arrays(self, dtype):
        dtype = np.dtype(dtype)
        if dtype not in self._cache:
            self._cache[dtype] = _Precomputed(self, dtype)
        return self._cache[dtype]

    # -- shape -------------------------------------------------------------------------------------------------
    def _coefficients(self, betas, expression, dtype):
        b = _batch(betas, self.num_betas, "betas", dtype)
        e = _batch(expression, self.num_expressions, "expression", dtype)
        if b.shape[0] != e.shape[0] and 1 not in (b.shape[0], e.shape[0]):
            raise ValueError(f"betas ({b.shape[0]} rows) and expression ({e.shape[0]} rows) disagree in batch size")
        n = max(b.shape[0], e.shape[0])
        return np.concatenate([np.broadcast_to(b, (n, b.shape[1])), np.broadcast_to(e, (n, e.shape[1]))], axis=1)

    def shaped_vertices(self, betas=None, expression=None, dtype=np.float64):
        """Unposed mesh ``(V, 3)`` (or ``(B, V, 3)`` for batched betas) with shape and expression blend shapes."""
        a = self._arrays(dtype)
        c = self._coefficients(betas, expression, dtype)
        v = (a["v_template"] + c @ a["dirs"]).reshape(-1, 3, self.num_vertices).transpose(0, 2, 1)
        return v[0] if c.shape[0] == 1 else v

    def rest_joints(self, betas=None, expression=None, dtype=np.float64):
        """Rest joints ``(J, 3)`` (or ``(B, J, 3)``) regressed from the shaped mesh, expression included."""
        a = self._arrays(dtype)
        c = self._coefficients(betas, expression, dtype)
        j = (a["j_template"] + c @ a["joint_dirs"]).reshape(-1, self.num_joints, 3)
        return j[0] if c.shape[0] == 1 else j

    # -- forward -----------------------------------------------------------------------------------------------
    def forward(self, betas=None, pose=None, expression=None, transl=None, dtype=np.float32):
        """Posed vertices and joints, exactly as ``smplx.lbs`` computes them.

        betas ``(nb,)`` or ``(B, nb)``; expression ``(ne,)`` or ``(B, ne)`` (SMPL-X); pose: full axis-angle pose in
        the model's layout, ``(3J,)``, ``(B, 3J)`` or ``(B, J, 3)``, flat-hand reference (as in AMASS); transl
        ``(3,)`` or ``(B, 3)``, added after skinning. Fewer betas/expressions than the model has are zero-padded.
        Returns :class:`ForwardOutput` ``(vertices (B, V, 3), joints (B, J, 3))`` in metres, model (Y-up) space.
        """
        dtype = np.dtype(dtype)
        V, J = self.num_vertices, self.num_joints
        coeffs = self._coefficients(betas, expression, dtype)
        if pose is None:
            rots = np.zeros((1, J, 3), dtype=dtype)
        else:
            rots = np.asarray(pose, dtype=dtype)
            if rots.shape[-1] != 3 or rots.ndim == 1:
                rots = rots.reshape(rots.shape[:-1] + (-1, 3)) if rots.ndim > 1 else rots.reshape(1, -1, 3)
            if rots.ndim == 2:
                rots = rots[None]
            if rots.ndim != 3 or rots.shape[1] != J:
                raise ValueError(
                    f"a {self.kind} pose has {3 * J} values (J={J} joints x 3), got shape {np.shape(pose)}"
                )
            if not np.all(np.isfinite(rots)):
                raise ValueError("pose contains NaN or infinite values")
        t = np.zeros((1, 3), dtype=dtype) if transl is None else np.asarray(transl, dtype=dtype).reshape(-1, 3)
        if not np.all(np.isfinite(t)):
            raise ValueError("transl contains NaN or infinite values")
        sizes = {coeffs.shape[0], rots.shape[0], t.shape[0]} - {1}
        if len(sizes) > 1:
            raise ValueError(
                f"batch sizes disagree: betas/expression {coeffs.shape[0]}, pose {rots.shape[0]}, transl {t.shape[0]}"
            )
        B = sizes.pop() if sizes else 1

        a = self._arrays(dtype)
        shared_shape = coeffs.shape[0] == 1 or not np.any(coeffs != coeffs[:1])
        if shared_shape:  # the common case (one body, many frames / calls): shape the mesh once, keep the last one
            key = coeffs[:1].tobytes()
            if a.get("last_shape_key") != key:
                a["last_shape"] = (
                    a["v_template"] + coeffs[:1] @ a["dirs"],
                    a["j_template"] + coeffs[:1] @ a["joint_dirs"],
                )
                a["last_shape_key"] = key
            v_shaped, j_rest = a["last_shape"]
        vertices = np.empty((B, V, 3), dtype=dtype)
        joints = np.empty((B, J, 3), dtype=dtype)
        for s in range(0, B, _CHUNK):
            e = min(B, s + _CHUNK)
            n = e - s
            if not shared_shape:
                c = coeffs[s:e]
                v_shaped = a["v_template"] + c @ a["dirs"]
                j_rest = a["j_template"] + c @ a["joint_dirs"]
            R = axis_angle_to_matrix(np.broadcast_to(rots[s:e] if rots.shape[0] > 1 else rots, (n, J, 3)))
            feature = (R[:, 1:] - np.eye(3, dtype=dtype)).reshape(n, -1)
            v_posed = np.matmul(feature, a["posedirs"])
            v_posed += v_shaped
            v_posed = v_posed.reshape(n, 3, 1, V)
            A, posed_joints = _skinning_transforms(R, j_rest.reshape(-1, J, 3), self.parents, self._levels)
            # T[b, k, i, v] = sum_j w[v, j] A[b, j, k, i]: one GEMM for the chunk, rows of V contiguous values
            if n <= 2:  # a (12n x J) @ (J x V) GEMM is slow in OpenBLAS for tiny 12n: use the tall (V x J) one
                T = np.ascontiguousarray((a["weights"] @ A.transpose(1, 0, 2, 3).reshape(J, n * 12)).T)
            else:
                T = A.transpose(0, 2, 3, 1).reshape(n * 12, J) @ a["weights_t"]
            T = T.reshape(n, 4, 3, V)
            out = T[:, 3] + T[:, 0] * v_posed[:, 0]
            out += T[:, 1] * v_posed[:, 1]
            out += T[:, 2] * v_posed[:, 2]
            tt = t[s:e] if t.shape[0] > 1 else t
            flat = vertices[s:e].reshape(n, 3 * V)
            for c in range(3):  # one strided write per coordinate: far faster than a transposed copy of (n, 3, V)
                np.add(out[:, c], tt[:, c : c + 1], out=flat[:, c::3])
            joints[s:e] = posed_joints + tt[:, None, :]
        return ForwardOutput(vertices, joints)

    __call__ = forward


class _Precomputed(dict):
    """The model's arrays in the forward pass's layout and dtype, each built on first use (so rest joints never pay
    for the pose-blend layout). Vertex arrays are channel-major (x of all vertices, then y, then z) so the skinning
    pass works on contiguous rows of V values; blend-shape bases are ``(columns, 3V)`` for one GEMM per chunk."""

    def __init__(self, model, dtype):
        super().__init__()
        self.model, self.dtype = model, dtype

    def __missing__(self, key):
        self[key] = value = getattr(self, f"_build_{key}")()
        return value

    def _channel_major(self, dirs):  # (V, 3, S) -> (S, 3V)
        V = dirs.shape[0]
        return np.ascontiguousarray(dirs.transpose(1, 0, 2).reshape(3 * V, -1).T, dtype=self.dtype)

    def _build_v_template(self):
        return self.model.v_template.T.reshape(1, -1).astype(self.dtype)

    def _build_dirs(self):
        m = self.model
        return self._channel_major(np.concatenate([m.shapedirs, m.exprdirs], axis=2))

    def _build_j_template(self):
        m = self.model
        return (m.J_regressor.astype(np.float64) @ m.v_template).reshape(1, -1).astype(self.dtype)

    def _build_joint_dirs(self):
        # the regressor is linear: regress every shape direction once instead of the shaped mesh per frame
        m = self.model
        dirs = np.concatenate([m.shapedirs, m.exprdirs], axis=2).astype(self.dtype, copy=False)
        joint_dirs = m.J_regressor.astype(self.dtype, copy=False) @ dirs.reshape(m.num_vertices, -1)  # (J, 3S)
        return np.ascontiguousarray(joint_dirs.reshape(3 * m.num_joints, -1).T)  # (S, 3J)

    def _build_posedirs(self):
        return self._channel_major(self.model.posedirs)

    def _build_weights(self):
        return np.ascontiguousarray(self.model.weights, dtype=self.dtype)  # (V, J)

    def _build_weights_t(self):
        return np.ascontiguousarray(self.model.weights.T, dtype=self.dtype)  # (J, V)


def _tree_levels(parents):
    """Joint indices grouped by depth, so the chain is composed one level at a time (all joints of a level at once)."""
    depth = np.zeros(len(parents), dtype=np.int64)
    for j in range(1, len(parents)):
        depth[j] = depth[parents[j]] + 1
    return [np.flatnonzero(depth == d) for d in range(1, int(depth.max(initial=0)) + 1)]


def _skinning_transforms(R, j_rest, parents, levels):
    """Kinematic chain. ``R (B, J, 3, 3)`` local rotations, ``j_rest (1 or B, J, 3)``.

    Returns ``A (B, J, 4, 3)``, the skinning transforms stored column-major (``A[b, j, k]`` is column ``k`` of
    ``[Rg_j | t_j - Rg_j J_j]``), and the posed joints ``(B, J, 3)``.
    """
    B, J = R.shape[:2]
    j_rest = np.broadcast_to(j_rest, (B, J, 3))
    offsets = j_rest.copy()
    offsets[:, 1:] -= j_rest[:, parents[1:]]
    Rg = np.empty_like(R)
    tg = np.empty_like(offsets)
    Rg[:, 0] = R[:, 0]
    tg[:, 0] = j_rest[:, 0]
    for idx in levels:
        p = parents[idx]
        Rp = Rg[:, p]
        Rg[:, idx] = np.matmul(Rp, R[:, idx])
        tg[:, idx] = np.matmul(Rp, offsets[:, idx, :, None])[..., 0] + tg[:, p]
    A = np.empty((B, J, 4, 3), dtype=R.dtype)
    A[:, :, :3, :] = np.swapaxes(Rg, 2, 3)
    A[:, :, 3, :] = tg - np.matmul(Rg, j_rest[..., None])[..., 0]
    return A, tg
