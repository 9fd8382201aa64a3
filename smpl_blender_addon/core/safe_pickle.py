# SPDX-License-Identifier: GPL-3.0-or-later
"""Allow-list unpickler for SMPL-family ``.pkl`` files (formats.md §1.6, §1.7).

The official SMPL / SMPL-H / MANO pickles were written by Python 2 with ``chumpy`` and ``scipy.sparse`` objects inside.
``pickle.load`` would import those packages and, for a hostile file, run arbitrary code. This module resolves only an
explicit list of globals: numpy's array / dtype / scalar reconstruction, ``set`` / ``object``, a latin-1-only
``_codecs.encode``, a guarded ``copy_reg._reconstructor``, and data-only stand-ins for ``chumpy.ch.Ch``,
``chumpy.reordering.Select`` and ``scipy.sparse.csc_matrix``. Every other global is refused before anything is called.
After loading, the stand-ins are evaluated to dense ``ndarray`` values, so callers see plain numpy data.

No chumpy, no SciPy, no bpy.
"""

import os
import pickle
import warnings

import numpy as np

from .errors import ModelFileError

# numpy >= 2 moved its internals to numpy._core; pickles name either module. numpy 1.26 ships both names.
try:
    from numpy._core import multiarray as _np_multiarray
    from numpy._core import numeric as _np_numeric
except ImportError:  # numpy < 1.26
    from numpy.core import multiarray as _np_multiarray
    from numpy.core import numeric as _np_numeric

# Resource limits: pickle and numpy allocate what the stream says, so refuse absurd sizes up front.
# The largest official file (SMPL-X v1.1 .pkl, 400 shape columns at float64) is a few hundred MB.
MAX_FILE_BYTES = 2 * 1024**3
MAX_ARRAY_BYTES = 1024**3
MAX_NESTING = 64


class UnsafePickleError(pickle.UnpicklingError):
    """The stream names a global that is not on the allow-list, or uses an allowed one in a non-data way."""


# --------------------------------------------------------------------------------------------------------------------
# Stand-ins: they only store the state dict that BUILD hands them; evaluation happens afterwards, in plain numpy.


class _StateOnly:
    """Base for stand-in classes: ``__setstate__`` keeps the state dict, nothing else runs."""

    __slots__ = ("state",)

    def __init__(self):
        self.state = {}

    def __setstate__(self, state):
        if not isinstance(state, dict):
            raise UnsafePickleError(f"{type(self).__name__} state is {type(state).__name__}, expected dict")
        self.state = state

    def __reduce__(self):  # never pickled back out by us
        raise TypeError(f"{type(self).__name__} stand-in is not picklable")


class ChumpyCh(_StateOnly):
    """Stand-in for ``chumpy.ch.Ch``: a leaf array, value ``state['x']``."""

    __slots__ = ()


class ChumpySelect(_StateOnly):
    """Stand-in for ``chumpy.reordering.Select``: value ``eval(a).ravel()[idxs].reshape(preferred_shape)``."""

    __slots__ = ()


class SparseCSC(_StateOnly):
    """Stand-in for ``scipy.sparse.csc_matrix``: ``data``, ``indices``, ``indptr``, ``_shape`` (or ``shape``)."""

    __slots__ = ()


_STAND_INS = (ChumpyCh, ChumpySelect, SparseCSC)


# --------------------------------------------------------------------------------------------------------------------
# Guarded callables: the only functions a REDUCE opcode can reach.


def _guarded_reconstructor(cls, base, state):
    """``copy_reg._reconstructor`` for protocol 0/1 streams: only ``object.__new__`` of a stand-in."""
    if base is not object or cls not in _STAND_INS or state is not None:
        raise UnsafePickleError("copy_reg._reconstructor is allowed only for chumpy/scipy stand-ins on object")
    return cls.__new__(cls)


class _NdarrayToken:
    """What the global ``numpy.ndarray`` resolves to: numpy pickles only pass it to ``_reconstruct``, so the real class
    (whose constructor allocates any size asked for) is never reachable by a REDUCE opcode."""

    __slots__ = ()

    def __reduce__(self):
        raise TypeError("not picklable")


_NDARRAY = _NdarrayToken()


def _guarded_ndarray_reconstruct(subtype, shape, dtype_code):
    """numpy's ``_reconstruct`` limited to a plain ``ndarray`` of sane size (numpy itself always writes ``(0,)``)."""
    if subtype is not _NDARRAY:
        raise UnsafePickleError("numpy _reconstruct is allowed only for numpy.ndarray")
    _check_shape_bytes(shape, 1)
    return _np_multiarray._reconstruct(np.ndarray, shape, dtype_code)


def _guarded_frombuffer(buffer, dtype, shape, order):
    """numpy's protocol-5 ``_frombuffer`` (in-band buffers only), size-checked."""
    if not isinstance(buffer, (bytes, bytearray)):
        raise UnsafePickleError("numpy _frombuffer is allowed only on in-band bytes")
    if not isinstance(dtype, np.dtype) or dtype.hasobject:
        raise UnsafePickleError("numpy _frombuffer needs a plain numeric dtype")
    _check_shape_bytes(shape, dtype.itemsize)
    return _np_numeric._frombuffer(buffer, dtype, shape, order)


def _guarded_scalar(dtype, *args):
    """numpy's ``scalar`` (numpy scalar values) for non-object dtypes only."""
    if not isinstance(dtype, np.dtype) or dtype.hasobject:
        raise UnsafePickleError("numpy scalar is allowed only for plain numeric dtypes")
    return _np_multiarray.scalar(dtype, *args)


def _latin1_encode(text, encoding="utf-8", errors="strict"):
    """``_codecs.encode`` as Python 3 writes ``bytes`` at protocol <= 2: only the latin-1 codec."""
    if not isinstance(text, str) or str(encoding).lower().replace("_", "-") not in ("latin1", "latin-1", "iso-8859-1"):
        raise UnsafePickleError("_codecs.encode is allowed only as str -> latin-1 bytes")
    return text.encode("latin-1", errors="strict")


def _check_shape_bytes(shape, itemsize):
    """Refuse shapes that are not small tuples of non-negative ints or that would exceed MAX_ARRAY_BYTES."""
    if isinstance(shape, (int, np.integer)):
        shape = (shape,)
    if not isinstance(shape, (tuple, list)) or len(shape) > 32:
        raise UnsafePickleError(f"bad array shape {shape!r}")
    total = int(itemsize)
    for dim in shape:
        if not isinstance(dim, (int, np.integer)) or dim < 0:
            raise UnsafePickleError(f"bad array shape {shape!r}")
        total *= int(dim)
    if total > MAX_ARRAY_BYTES:
        raise UnsafePickleError(f"array of shape {tuple(shape)} exceeds the {MAX_ARRAY_BYTES} byte limit")


class _Guarded:
    """Callable wrapper for the guarded functions: a BUILD opcode aimed at it is refused, so a stream cannot set
    attributes (``__defaults__``...) on the module's own functions."""

    __slots__ = ("_function",)

    def __init__(self, function):
        self._function = function

    def __call__(self, *args):
        return self._function(*args)

    def __setstate__(self, state):
        raise UnsafePickleError("BUILD on an allowed function")

    def __reduce__(self):
        raise TypeError("not picklable")


_CORE_NAMES = ("numpy.core", "numpy._core")

# (module, name) exactly as written in the stream. find_class receives py2 spellings (__builtin__, copy_reg) because the
# fix_imports mapping happens only inside the base class's find_class, which we never call.
ALLOWED_GLOBALS = {
    ("numpy", "ndarray"): _NDARRAY,
    ("numpy", "dtype"): np.dtype,
    ("chumpy.ch", "Ch"): ChumpyCh,
    ("chumpy.reordering", "Select"): ChumpySelect,
    ("scipy.sparse.csc", "csc_matrix"): SparseCSC,
    ("scipy.sparse._csc", "csc_matrix"): SparseCSC,
    ("copy_reg", "_reconstructor"): _Guarded(_guarded_reconstructor),
    ("copyreg", "_reconstructor"): _Guarded(_guarded_reconstructor),
    ("__builtin__", "set"): set,
    ("builtins", "set"): set,
    ("__builtin__", "object"): object,
    ("builtins", "object"): object,
    ("_codecs", "encode"): _Guarded(_latin1_encode),
}
for _core in _CORE_NAMES:
    ALLOWED_GLOBALS[(f"{_core}.multiarray", "_reconstruct")] = _Guarded(_guarded_ndarray_reconstruct)
    ALLOWED_GLOBALS[(f"{_core}.multiarray", "scalar")] = _Guarded(_guarded_scalar)
    ALLOWED_GLOBALS[(f"{_core}.numeric", "_frombuffer")] = _Guarded(_guarded_frombuffer)


class RestrictedUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` whose globals come only from :data:`ALLOWED_GLOBALS`; persistent ids are refused."""

    def find_class(self, module, name):
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except (KeyError, TypeError):
            raise UnsafePickleError(f"global {module}.{name} is not allowed") from None

    def persistent_load(self, pid):
        raise UnsafePickleError("persistent ids are not allowed")


# --------------------------------------------------------------------------------------------------------------------
# Evaluation of stand-ins to plain arrays.


def _dense_from_csc(state, depth):
    """CSC state dict -> dense (rows, cols) float array; duplicate (row, col) entries are summed, as CSC defines."""
    shape = state.get("_shape", state.get("shape"))
    data = np.asarray(_evaluate(state["data"], depth + 1))
    indices = np.asarray(_evaluate(state["indices"], depth + 1))
    indptr = np.asarray(_evaluate(state["indptr"], depth + 1))
    if not (isinstance(shape, tuple) and len(shape) == 2 and all(isinstance(s, (int, np.integer)) for s in shape)):
        raise ValueError(f"csc_matrix has bad shape {shape!r}")
    n_rows, n_cols = (int(s) for s in shape)
    _check_shape_bytes((n_rows, n_cols), 8)
    if data.ndim != 1 or indices.ndim != 1 or indptr.ndim != 1 or data.dtype.hasobject:
        raise ValueError("csc_matrix data/indices/indptr must be 1-D numeric arrays")
    if indices.dtype.kind not in "iu" or indptr.dtype.kind not in "iu":
        raise ValueError("csc_matrix indices must be integers")
    if indptr.shape != (n_cols + 1,) or indptr[0] != 0 or np.any(np.diff(indptr) < 0):
        raise ValueError("csc_matrix indptr is inconsistent with its shape")
    nnz = int(indptr[-1])
    if nnz > data.shape[0] or nnz > indices.shape[0]:
        raise ValueError("csc_matrix indptr points past its data")
    rows = indices[:nnz].astype(np.int64)
    if nnz and (rows.min() < 0 or rows.max() >= n_rows):
        raise ValueError("csc_matrix row index out of range")
    cols = np.repeat(np.arange(n_cols, dtype=np.int64), np.diff(indptr).astype(np.int64))
    dense = np.zeros((n_rows, n_cols), dtype=np.result_type(data.dtype, np.float32))
    np.add.at(dense, (rows, cols), data[:nnz])
    return dense


def _evaluate(value, depth=0):
    """Replace stand-ins by dense ndarrays, recursively through dict / list / tuple. Shapes follow the stored state."""
    if depth > MAX_NESTING:
        raise ValueError("object nesting too deep (cyclic chumpy expression?)")
    if isinstance(value, ChumpyCh):
        if "x" not in value.state:
            raise ValueError("chumpy Ch without its 'x' array")
        return np.asarray(_evaluate(value.state["x"], depth + 1))
    if isinstance(value, ChumpySelect):
        state = value.state
        if not {"a", "idxs", "preferred_shape"} <= state.keys():
            raise ValueError("chumpy Select without 'a', 'idxs' or 'preferred_shape'")
        source = np.asarray(_evaluate(state["a"], depth + 1)).ravel()
        idxs = np.asarray(_evaluate(state["idxs"], depth + 1))
        if idxs.dtype.kind not in "iu":
            raise ValueError("chumpy Select indices are not integers")
        if idxs.size and (idxs.min() < -source.size or idxs.max() >= source.size):
            raise ValueError("chumpy Select index out of range")
        return source[idxs.ravel()].reshape(state["preferred_shape"])
    if isinstance(value, SparseCSC):
        return _dense_from_csc(value.state, depth)
    if isinstance(value, dict):
        return {key: _evaluate(item, depth + 1) for key, item in value.items()}
    if isinstance(value, list):
        return [_evaluate(item, depth + 1) for item in value]
    if isinstance(value, tuple):
        return tuple(_evaluate(item, depth + 1) for item in value)
    if isinstance(value, np.ndarray) and value.dtype.hasobject:
        raise ValueError("object-dtype array")
    return value


# --------------------------------------------------------------------------------------------------------------------
# Public entry point.


def file_head(path, count, error=ModelFileError):
    """``(first count bytes, size in bytes)`` of the non-empty file ``path``: model and motion readers tell a zip
    archive from a pickle or JSON by content, not by the file's name.

    Raises ``error(path, problem)`` (:class:`ModelFileError`, or ``MotionFileError`` for motion files) for a missing,
    unreadable or empty file.
    """
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as stream:
            head = stream.read(count)
    except OSError as exc:
        raise error(path, f"cannot read file ({exc.strerror or exc})") from None
    if size == 0:
        raise error(path, "file is empty")
    return head, size


def load_pickle_dict(path, error=ModelFileError):
    """Read a ``.pkl`` file whose top level is a ``dict``, through the allow-list unpickler.

    Args:
        path: file path (str or PathLike).
        error: exception class raised on any failure, constructed as ``error(path, problem)``
            (:class:`ModelFileError` for models, ``MotionFileError`` for motion files).

    Returns:
        dict with str keys (py2 ``str`` decoded as latin-1); chumpy ``Ch`` / ``Select`` and ``csc_matrix`` values are
        replaced by dense ``ndarray`` values, everything else is as stored (ndarrays, str, numbers, nested containers).

    Raises:
        ``error`` for a missing, empty, oversized, truncated, corrupt or unsafe file. Nothing in the file is executed.
    """
    path = os.fspath(path)
    try:
        size = os.path.getsize(path)
    except OSError as exc:
        raise error(path, f"cannot read file ({exc.strerror or exc})") from None
    if size == 0:
        raise error(path, "file is empty")
    if size > MAX_FILE_BYTES:
        raise error(path, f"file is {size} bytes, more than the {MAX_FILE_BYTES} byte limit for a model pickle")
    try:
        with open(path, "rb") as stream, warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # bad escapes in corrupt protocol-0 strings
            raw = RestrictedUnpickler(stream, encoding="latin1").load()
    except UnsafePickleError as exc:
        raise error(path, f"unsafe or unsupported pickle content refused: {exc}") from None
    except EOFError:
        raise error(path, "pickle data is truncated") from None
    except MemoryError:
        raise error(path, "pickle asks for more memory than available (corrupt or hostile file)") from None
    except OSError as exc:
        raise error(path, f"cannot read file ({exc.strerror or exc})") from None
    except Exception as exc:  # any other failure while decoding untrusted bytes means the file is corrupt
        raise error(path, f"not a readable pickle ({type(exc).__name__}: {exc})") from None
    if not isinstance(raw, dict):
        raise error(path, f"pickle holds a {type(raw).__name__}, expected a dict of model arrays")
    try:
        evaluated = _evaluate(raw)
    except RecursionError:
        raise error(path, "object nesting too deep") from None
    except Exception as exc:
        raise error(path, f"cannot evaluate stored chumpy/sparse values ({exc})") from None
    for key in evaluated:
        if not isinstance(key, str):
            raise error(path, f"dict key {key!r} is not a string")
    return evaluated
