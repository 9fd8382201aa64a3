# SPDX-License-Identifier: GPL-3.0-or-later
"""Small synthetic SMPL-family model files for tests, in every layout the loader accepts.

Nothing here is derived from a licensed model: arrays are random but structurally valid (real SMPL / SMPL-H / SMPL-X /
MANO parents as in the MANO files, faces in range, non-negative row-normalised weights and regressor, smooth random
blend shapes that move vertices by centimetres). Every ``write_*`` function writes one file and returns the dense
arrays it stored (file layout: ``shapedirs`` with all file columns, dense ``J_regressor``, ``kintree_table``...), so a
test can compare what a reader returns with what was written.

Python-2 chumpy pickles are produced without chumpy, scipy or Python 2: :class:`Py2Pickler` writes the same opcode
stream Python 2 would (``GLOBAL chumpy.ch Ch``, ``copy_reg _reconstructor``, ``__builtin__ set``, py2 ``str`` for the
array bytes and the dict keys) from data-only stand-in classes.

smplx can read the npz files and the non-chumpy pickles directly (``write_clean_pkl`` gives a chumpy-free twin of any
arrays). smplx's forward pass indexes hard-coded vertex ids (up to ~10^4 for SMPL-X), so use ``n_verts`` above those
ids, or smplx's ``lbs`` function, when comparing forward passes.
"""

import codecs
import copyreg
import io
import pickle
import struct
from pathlib import Path
from types import FunctionType

import numpy as np

SMPL_PARENTS = [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21]
SMPLH_PARENTS = SMPL_PARENTS[:22] + [
    20,
    22,
    23,
    20,
    25,
    26,
    20,
    28,
    29,
    20,
    31,
    32,
    20,
    34,
    35,
    21,
    37,
    38,
    21,
    40,
    41,
    21,
    43,
    44,
    21,
    46,
    47,
    21,
    49,
    50,
]
SMPLX_PARENTS = (
    SMPL_PARENTS[:22]
    + [15, 15, 15]
    + [
        20,
        25,
        26,
        20,
        28,
        29,
        20,
        31,
        32,
        20,
        34,
        35,
        20,
        37,
        38,
        21,
        40,
        41,
        21,
        43,
        44,
        21,
        46,
        47,
        21,
        49,
        50,
        21,
        52,
        53,
    ]
)
MANO_PARENTS = [-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 0, 10, 11, 0, 13, 14]
PARENTS = {"smpl": SMPL_PARENTS, "smplh": SMPLH_PARENTS, "smplx": SMPLX_PARENTS, "mano": MANO_PARENTS}
ROOT_PARENT_IN_FILE = 2**32 - 1  # official kintree_table[0][0]
LATIN1_TEXT = "Max-Planck-Gesellschaft, Tübingen \xa9 \xe9\xe0\xf8"  # py2 str bytes >= 0x80: latin-1 only


# --------------------------------------------------------------------------------------------------------------------
# Random but structurally valid arrays


def synthetic_arrays(kind, *, n_verts=300, n_columns=10, seed=0, uv=False, hand_pca=False, landmarks=False):
    """Arrays of one synthetic model in file layout.

    Args:
        kind: "smpl" | "smplh" | "smplx" | "mano" (sets J and the parents).
        n_verts: V.
        n_columns: S, the number of shapedirs columns in the file (SMPL-X: shape + expression columns together).
        seed: RNG seed; same arguments -> same arrays.
        uv: add "vt" (T,2) and "ft" (F,3).
        hand_pca: add smplx-style "hands_componentsl/r" (45,45) and "hands_meanl/r" (45,) (MANO: "hands_components",
            "hands_mean", "hands_coeffs").
        landmarks: add SMPL-X landmark tables ("lmk_faces_idx" (51,), "lmk_bary_coords" (51,3), dynamic (79,17[,3])).

    Returns:
        dict: "v_template" (V,3) f64, "f" (F,3) u32, "shapedirs" (V,3,S) f64, "posedirs" (V,3,9(J-1)) f64,
        "J_regressor" (J,V) f64, "weights" (V,J) f64, "kintree_table" (2,J) i64 with root 2**32-1, plus the options.
    """
    rng = np.random.default_rng(seed)
    parents = np.asarray(PARENTS[kind])
    n_joints = parents.shape[0]
    v_template = _body_like_points(rng, n_verts)
    arrays = {
        "v_template": v_template,
        "f": _random_faces(rng, n_verts, 2 * n_verts).astype(np.uint32),
        "shapedirs": _smooth_field(rng, v_template, n_columns, max_metres=0.02),
        "posedirs": _smooth_field(rng, v_template, 9 * (n_joints - 1), max_metres=0.01),
        "J_regressor": _sparse_rows(rng, n_joints, n_verts, per_row=6),
        "weights": _sparse_rows(rng, n_verts, n_joints, per_row=min(4, n_joints)),
        "kintree_table": np.stack([np.where(parents < 0, ROOT_PARENT_IN_FILE, parents), np.arange(n_joints)]).astype(
            np.int64
        ),
    }
    if uv:
        n_uv = n_verts + 17
        arrays["vt"] = rng.random((n_uv, 2))
        arrays["ft"] = _random_faces(rng, n_uv, arrays["f"].shape[0]).astype(np.int32)
    if hand_pca and kind == "mano":
        arrays["hands_components"] = _orthonormal(rng, 45)
        arrays["hands_mean"] = rng.normal(0.0, 0.2, 45)
        arrays["hands_coeffs"] = rng.normal(0.0, 1.0, (20, 45))
    elif hand_pca:
        for side in "lr":
            arrays[f"hands_components{side}"] = _orthonormal(rng, 45)
            arrays[f"hands_mean{side}"] = rng.normal(0.0, 0.2, 45)
            arrays[f"hands_coeffs{side}"] = rng.normal(0.0, 1.0, (20, 45))
    if landmarks:
        n_faces = arrays["f"].shape[0]
        arrays["lmk_faces_idx"] = rng.integers(0, n_faces, 51).astype(np.int64)
        arrays["lmk_bary_coords"] = rng.dirichlet(np.ones(3), 51)
        arrays["dynamic_lmk_faces_idx"] = rng.integers(0, n_faces, (79, 17)).astype(np.int64)
        arrays["dynamic_lmk_bary_coords"] = rng.dirichlet(np.ones(3), (79, 17))
    return arrays


def _body_like_points(rng, n_verts):
    """(V,3) points in a 1.7 m tall ellipsoid shell, origin in the lower torso, Y-up like SMPL."""
    direction = rng.normal(size=(n_verts, 3))
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    return direction * np.array([0.25, 0.85, 0.15]) + np.array([0.0, -0.25, 0.0])


def _smooth_field(rng, points, n_columns, max_metres):
    """(V,3,n) smooth random displacement fields (a few sinusoids of position), each column peaking at max_metres."""
    n_waves = 8
    frequencies = rng.normal(0.0, 3.0, (3, n_waves))
    phases = rng.uniform(0.0, 2 * np.pi, n_waves)
    waves = np.sin(points @ frequencies + phases)  # (V, n_waves)
    field = (waves @ rng.normal(size=(n_waves, 3 * n_columns))).reshape(points.shape[0], 3, n_columns)
    peak = np.abs(field).max(axis=(0, 1), keepdims=True)
    return field / np.where(peak > 0, peak, 1.0) * max_metres


def _random_faces(rng, n_verts, n_faces):
    """(F,3) triangles of three distinct vertex indices in [0, n_verts)."""
    first = rng.integers(0, n_verts, n_faces)
    step1 = rng.integers(1, n_verts - 1, n_faces)
    step2 = rng.integers(1, n_verts - step1, n_faces)  # step1 + step2 < n_verts keeps all three distinct
    return np.stack([first, (first + step1) % n_verts, (first + step1 + step2) % n_verts], axis=1)


def _sparse_rows(rng, n_rows, n_cols, per_row):
    """(n_rows, n_cols) non-negative matrix with ``per_row`` non-zeros per row, rows summing to 1."""
    columns = np.argsort(rng.random((n_rows, n_cols)), axis=1)[:, :per_row]
    matrix = np.zeros((n_rows, n_cols))
    np.put_along_axis(matrix, columns, rng.dirichlet(np.ones(per_row), n_rows), axis=1)
    return matrix


def _orthonormal(rng, size):
    """(size, size) random orthonormal matrix (rows = PCA components)."""
    q, _ = np.linalg.qr(rng.normal(size=(size, size)))
    return q


# --------------------------------------------------------------------------------------------------------------------
# Python-2 style pickles with chumpy / scipy stand-ins


class Ch:
    """Writes as ``chumpy.ch.Ch`` with chumpy's ``__getstate__`` layout (value in 'x' plus bookkeeping)."""

    def __init__(self, x):
        self.x = np.asarray(x)
        self._dirty_vars = set()
        self._itr = None
        self._make_dense = False
        self._make_sparse = False
        self._depends_on_deps = {}


class Select:
    """Writes as ``chumpy.reordering.Select``: value = a.ravel()[idxs].reshape(preferred_shape)."""

    def __init__(self, a, idxs, preferred_shape):
        self.a = a
        self.idxs = np.asarray(idxs)
        self.preferred_shape = tuple(preferred_shape)
        self._dirty_vars = set()


class CscMatrix:
    """Writes as ``scipy.sparse.csc.csc_matrix`` (old) or ``scipy.sparse._csc.csc_matrix`` (SciPy >= 1.8)."""

    def __init__(self, data, indices, indptr, shape):
        self.data, self.indices, self.indptr = data, indices, indptr
        self._shape = tuple(shape)
        self.maxprint = 50


class _CscMatrixNew(CscMatrix):
    """Same state, written under the new ``scipy.sparse._csc`` module name."""


class ChOpsAdd:
    """Writes as ``chumpy.ch_ops.add``: an unevaluated chumpy expression the loader must refuse."""

    def __init__(self, a, b):
        self.a, self.b = a, b


def _numpy_globals(core):
    """numpy callables -> the (module, name) written for them; ``core`` is "numpy.core" (py2, numpy 1) or
    "numpy._core" (numpy 2)."""
    try:
        from numpy._core import multiarray, numeric
    except ImportError:
        from numpy.core import multiarray, numeric

    return {
        multiarray._reconstruct: (f"{core}.multiarray", "_reconstruct"),
        multiarray.scalar: (f"{core}.multiarray", "scalar"),
        numeric._frombuffer: (f"{core}.numeric", "_frombuffer"),
        np.ndarray: ("numpy", "ndarray"),
        np.dtype: ("numpy", "dtype"),
    }


_PY2_GLOBALS = {
    Ch: ("chumpy.ch", "Ch"),
    Select: ("chumpy.reordering", "Select"),
    CscMatrix: ("scipy.sparse.csc", "csc_matrix"),
    _CscMatrixNew: ("scipy.sparse._csc", "csc_matrix"),
    ChOpsAdd: ("chumpy.ch_ops", "add"),
    copyreg._reconstructor: ("copy_reg", "_reconstructor"),
    object: ("__builtin__", "object"),
    set: ("__builtin__", "set"),
}


class Py2Pickler(pickle._Pickler):
    """Pure-Python pickler that writes what CPython 2.7 wrote for the same objects at protocols 0-2.

    * ``str`` and ``bytes`` -> py2 ``str`` opcodes (STRING / SHORT_BINSTRING / BINSTRING) with latin-1 bytes;
      non-latin-1 text -> unicode, as py2 ``unicode`` would.
    * globals are written from an explicit table, under their py2 module names (``numpy.core.multiarray`` or, with
      ``numpy_core="numpy._core"``, the numpy 2 name), never looked up in ``sys.modules``.
    """

    dispatch = pickle._Pickler.dispatch.copy()

    def __init__(self, stream, protocol, numpy_core="numpy.core", extra_globals=None):
        super().__init__(stream, protocol=protocol, fix_imports=True)
        self.globals_table = {**_PY2_GLOBALS, **_numpy_globals(numpy_core), **(extra_globals or {})}

    def save_global(self, obj, name=None):
        try:
            module, qualname = self.globals_table[obj]
        except (KeyError, TypeError):
            raise pickle.PicklingError(f"{obj!r} is not in the py2 globals table") from None
        self.write(pickle.GLOBAL + module.encode("ascii") + b"\n" + qualname.encode("ascii") + b"\n")
        self.memoize(obj)

    def save_py2_str(self, obj):
        data = obj if isinstance(obj, bytes) else obj.encode("latin-1")
        if self.proto == 0:
            self.write(pickle.STRING + _py2_repr(data) + b"\n")
        elif len(data) < 256:
            self.write(pickle.SHORT_BINSTRING + struct.pack("<B", len(data)) + data)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(data)) + data)
        self.memoize(obj)

    def save_text(self, obj):
        try:
            obj.encode("latin-1")
        except UnicodeEncodeError:
            pickle._Pickler.save_str(self, obj)
            return
        self.save_py2_str(obj)

    dispatch[bytes] = save_py2_str
    dispatch[str] = save_text
    dispatch[type] = save_global
    dispatch[FunctionType] = save_global


def _py2_repr(data):
    """py2 ``repr(str)`` for the protocol-0 STRING opcode: quoted, with \\xNN / \\n / \\' escapes."""
    return b"'" + codecs.escape_encode(data)[0] + b"'"


def py2_pickle_bytes(obj, protocol=2, numpy_core="numpy.core", extra_globals=None):
    """Pickle ``obj`` the way Python 2 did (see :class:`Py2Pickler`). Returns the bytes."""
    buffer = io.BytesIO()
    Py2Pickler(buffer, protocol, numpy_core=numpy_core, extra_globals=extra_globals).dump(obj)
    return buffer.getvalue()


def csc_from_dense(dense, duplicate=True, new_module=False, rng=None):
    """CSC stand-in for a dense (rows, cols) matrix; with ``duplicate`` every stored value is split into two entries
    (same row and column, summing to the value), which CSC allows and a reader must add up."""
    rows, cols = np.nonzero(dense.T)[::-1]  # column-major order
    values = dense[rows, cols]
    if duplicate:
        rng = rng or np.random.default_rng(1)
        part = values * rng.uniform(0.5, 0.9, values.shape)  # part >= value/2: value - part is exact (Sterbenz)
        rows, cols, values = np.repeat(rows, 2), np.repeat(cols, 2), np.stack([part, values - part], 1).ravel()
    indptr = np.concatenate([[0], np.cumsum(np.bincount(cols, minlength=dense.shape[1]))]).astype(np.int32)
    cls = _CscMatrixNew if new_module else CscMatrix
    return cls(values.astype(np.float64), rows.astype(np.int32), indptr, dense.shape)


def select_from_dense(dense, rng=None, extra=37):
    """Select stand-in whose value is ``dense``: the values sit shuffled inside a larger Ch array."""
    rng = rng or np.random.default_rng(2)
    flat = dense.ravel()
    pool = np.concatenate([flat, rng.normal(size=extra)])
    order = rng.permutation(pool.size)
    source = pool[order]  # source[inverse[i]] == pool[i]
    inverse = np.argsort(order)
    return Select(Ch(source.reshape(-1, 1)), inverse[: flat.size].astype(np.int64), dense.shape)


def _py2_model_dict(arrays, shapedirs_as="ch", posedirs_as="array", csc_new_module=False):
    """The dict a py2 SMPL-family pickle holds: chumpy shapedirs, CSC J_regressor, py2 metadata strings."""
    out = {}
    for key, value in arrays.items():
        out[key] = value
    out["shapedirs"] = select_from_dense(arrays["shapedirs"]) if shapedirs_as == "select" else Ch(arrays["shapedirs"])
    if posedirs_as == "ch":
        out["posedirs"] = Ch(arrays["posedirs"])
    out["J_regressor"] = csc_from_dense(arrays["J_regressor"], new_module=csc_new_module)
    out["J_regressor_prior"] = csc_from_dense(arrays["J_regressor"][:, ::-1].copy(), duplicate=False)
    out["weights_prior"] = arrays["weights"][:, ::-1].copy()
    out["J"] = arrays["J_regressor"] @ arrays["v_template"]
    out["bs_style"] = "lbs"
    out["bs_type"] = "lrotmin"
    out["pose_training_info"] = {"comment": LATIN1_TEXT, "iterations": 12, "nested": [1, 2.5, "x"]}
    return out


# --------------------------------------------------------------------------------------------------------------------
# Writers


def write_smpl_pkl_py2(
    path,
    version="1.0",
    protocol=2,
    *,
    n_verts=300,
    seed=0,
    numpy_core="numpy.core",
    csc_new_module=False,
    aliases=False,
):
    """SMPL v1.0 (10 shape columns) or v1.1 (300) as a genuine py2 chumpy pickle.

    ``shapedirs`` is a ``chumpy.ch.Ch``, ``J_regressor`` a CSC matrix with duplicate entries, metadata py2 ``str``
    including a latin-1 comment. With ``aliases``, the legacy names ``default_v`` / ``joint_regressor`` /
    ``blendshapes`` are used instead of ``v_template`` / ``J_regressor`` / ``posedirs``.

    Returns the dense arrays written (file layout, canonical key names) plus "bs_style" / "bs_type".
    """
    n_columns = {"1.0": 10, "1.1": 300}[version]
    arrays = synthetic_arrays("smpl", n_verts=n_verts, n_columns=n_columns, seed=seed)
    content = _py2_model_dict(arrays, csc_new_module=csc_new_module)
    content["vert_sym_idxs"] = np.arange(n_verts)[::-1].copy()
    if aliases:
        content["default_v"] = content.pop("v_template")
        content["joint_regressor"] = content.pop("J_regressor")
        content["blendshapes"] = content.pop("posedirs")
    Path(path).write_bytes(py2_pickle_bytes(content, protocol, numpy_core=numpy_core))
    return arrays


def write_smplh_pkl(path, protocol=2, *, n_verts=300, seed=0):
    """SMPL-H as in the MANO download (``SMPLH_{female,male}.pkl``): py2 chumpy pickle, 10 shape columns, posedirs as
    a Ch, no hand PCA. Returns the dense arrays written."""
    arrays = synthetic_arrays("smplh", n_verts=n_verts, n_columns=10, seed=seed)
    content = _py2_model_dict(arrays, posedirs_as="ch")
    Path(path).write_bytes(py2_pickle_bytes(content, protocol))
    return arrays


def write_mano_pkl(path, side="left", protocol=2, *, n_verts=120, seed=None):
    """``MANO_{LEFT,RIGHT}.pkl``: py2 chumpy pickle, shapedirs as a Select over a Ch, hand PCA (45,45) + mean (45,).
    Returns the dense arrays written."""
    seed = {"left": 11, "right": 12}[side] if seed is None else seed
    arrays = synthetic_arrays("mano", n_verts=n_verts, n_columns=10, seed=seed, hand_pca=True)
    content = _py2_model_dict(arrays, shapedirs_as="select")
    Path(path).write_bytes(py2_pickle_bytes(content, protocol))
    return arrays


def write_smplh_pair_with_mano(folder, gender="male", protocol=2, *, n_verts=300, seed=0):
    """``SMPLH_{gender}.pkl`` + ``MANO_LEFT.pkl`` + ``MANO_RIGHT.pkl`` in ``folder``.

    Returns (body arrays, left arrays, right arrays, (body path, left path, right path)).
    """
    folder = Path(folder)
    paths = (folder / f"SMPLH_{gender}.pkl", folder / "MANO_LEFT.pkl", folder / "MANO_RIGHT.pkl")
    body = write_smplh_pkl(paths[0], protocol, n_verts=n_verts, seed=seed)
    left = write_mano_pkl(paths[1], "left", protocol)
    right = write_mano_pkl(paths[2], "right", protocol)
    return body, left, right, paths


def write_smplh_npz(path, num_betas=16, *, n_verts=300, seed=0, hand_pca=False, dtype=np.float64, extra=None):
    """Extended SMPL+H (AMASS ``smplh/{gender}/model.npz``): plain npz, dense regressor, ``num_betas`` columns, no hand
    PCA unless ``hand_pca`` (smplx needs it to build an SMPLH model). Float arrays stored as ``dtype``.
    ``extra``: more members to store (e.g. metadata strings). Returns the arrays written (before the dtype cast)."""
    arrays = synthetic_arrays("smplh", n_verts=n_verts, n_columns=num_betas, seed=seed, hand_pca=hand_pca)
    _save_npz(path, arrays, dtype, extra)
    return arrays


def write_smplx_npz(
    path, version="1.1", *, n_verts=300, seed=0, dtype=np.float64, uv=True, object_members=True, extra=None
):
    """SMPL-X npz: v1.0 (20 columns = 10 shape + 10 expression) or v1.1 (400 = 300 + 100), hand PCA, landmarks, UVs,
    and (``object_members``) the pickled ``joint2num`` / ``part2num`` members the reader must skip.
    Returns the arrays written (before the dtype cast)."""
    arrays = _smplx_arrays(version, n_verts, seed, uv)
    members = {}
    if object_members:
        members["joint2num"] = np.array({"Pelvis": 0, "L_Hip": 1}, dtype=object)
        members["part2num"] = np.array({"global": 0, "head": 1}, dtype=object)
    members.update(extra or {})
    _save_npz(path, arrays, dtype, members)
    return arrays


def write_smplx_pkl(path, version="1.1", protocol=2, *, n_verts=300, seed=0, uv=True):
    """SMPL-X ``.pkl``: a py2 pickle of plain arrays (no chumpy), which smplx itself can also read.
    Returns the arrays written."""
    arrays = _smplx_arrays(version, n_verts, seed, uv)
    Path(path).write_bytes(py2_pickle_bytes(dict(arrays), protocol))
    return arrays


def write_clean_pkl(path, arrays, protocol=pickle.DEFAULT_PROTOCOL):
    """Chumpy-free Python-3 pickle of dense arrays (the ``clean_ch.py`` / ``merge_smplh_mano.py`` output), for smplx.
    The arrays are stored as given (dense J_regressor)."""
    with open(path, "wb") as stream:
        pickle.dump({key: np.asarray(value) for key, value in arrays.items()}, stream, protocol=protocol)
    return arrays


def _smplx_arrays(version, n_verts, seed, uv):
    n_columns = {"1.0": 20, "1.1": 400}[version]
    return synthetic_arrays(
        "smplx", n_verts=n_verts, n_columns=n_columns, seed=seed, uv=uv, hand_pca=True, landmarks=True
    )


def _save_npz(path, arrays, dtype, extra):
    """np.savez with float arrays cast to ``dtype`` and integer arrays kept; ``extra`` members added as they are."""
    stored = {key: value.astype(dtype) if value.dtype.kind == "f" else value for key, value in arrays.items()}
    stored.update(extra or {})
    with open(path, "wb") as stream:
        np.savez(stream, **stored)
