# SPDX-License-Identifier: GPL-3.0-or-later
"""Allow-list unpickler for SMPL-family ``.pkl`` files.

The official SMPL / SMPL-H / MANO pickles were written by Python 2 with ``chumpy`` and ``scipy.sparse`` objects inside.
``pickle.load`` would import those packages and, for a hostile file, run arbitrary code. This module resolves only an
explicit list of globals: numpy's array / dtype / scalar reconstruction, ``set`` / ``object``, a latin-1-only
``_codecs.encode``, a guarded ``copy_reg._reconstructor``, and data-only stand-ins for ``chumpy.ch.Ch``,
``chumpy.reordering.Select`` and ``scipy.sparse.csc_matrix``. Every other global is refused before anything is called.
After loading, the stand-ins are evaluated to dense ``ndarray`` values, so callers see plain numpy data.

No chumpy, no SciPy, no bpy.
"""

import io
import mmap
import os
import pickle
import pickletools
import warnings

import numpy as np

from .errors import ModelFileError
from .file_io import MAX_ARCHIVE_BYTES, MAX_FILE_BYTES, dtype_problem, file_head, read_npy_header, size_problem

# numpy >= 2 moved its internals to numpy._core; pickles name either module. numpy 1.26 ships both names.
try:
    from numpy._core import multiarray as _np_multiarray
    from numpy._core import numeric as _np_numeric
except ImportError:  # numpy < 1.26
    from numpy.core import multiarray as _np_multiarray
    from numpy.core import numeric as _np_numeric

# Resource limits: pickle and numpy allocate what the stream says, so the stream is checked before it is run.
# An official model pickle has a few hundred opcodes and objects; its bytes are in a few large array strings.
MAX_NESTING = 64
MAX_PICKLE_OPS = 2_000_000  # opcodes in the stream (checked by a scan, ~0.5 us each, before unpickling)
MAX_NODES = 1_000_000  # objects after shared references are expanded (a 318-byte stream can reference 10^12)


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


class _CheckedArray(np.ndarray):
    """What ``_reconstruct`` makes: its BUILD state (shape, dtype, data) is checked before numpy uses it, so zero-size
    items in a huge shape, object or structured dtypes never become an array. Evaluation turns it into a plain
    ``ndarray`` view."""

    def __setstate__(self, state):
        if not isinstance(state, tuple) or len(state) not in (4, 5):
            raise UnsafePickleError("numpy array state is not a 4- or 5-tuple")
        shape, dtype = state[-4], state[-3]
        if not isinstance(dtype, np.dtype) or not isinstance(shape, (tuple, list)):
            raise UnsafePickleError("numpy array state has no dtype / shape")
        problem = dtype_problem(dtype) or size_problem(tuple(shape), dtype)
        if problem is not None:
            raise UnsafePickleError(problem)
        super().__setstate__(state)


class _SavedDict(_CheckedArray):
    """An array of a pickled ``.npy`` file: a :class:`_CheckedArray`, except that the 0-d object array ``np.save``
    writes for a dict (MDM's ``results.npy``) keeps that dict as ``boxed``. Any other object array is refused."""

    def __setstate__(self, state):
        dtype = state[-3] if isinstance(state, tuple) and len(state) in (4, 5) else None
        if isinstance(dtype, np.dtype) and dtype.hasobject:
            shape, data = state[-4], state[-1]
            if tuple(shape) != () or not isinstance(data, list) or len(data) != 1 or not isinstance(data[0], dict):
                raise UnsafePickleError("an object array is read only as the one dict that np.save wraps")
            self.boxed = data[0]
            return
        super().__setstate__(state)


def _reconstruct_as(cls):
    def reconstruct(subtype, shape, dtype_code):
        """numpy's ``_reconstruct`` limited to a plain ``ndarray`` of sane size (numpy itself writes ``(0,)``)."""
        if subtype is not _NDARRAY:
            raise UnsafePickleError("numpy _reconstruct is allowed only for numpy.ndarray")
        _check_shape_bytes(shape, 1)
        return _np_multiarray._reconstruct(cls, shape, dtype_code)

    return reconstruct


_guarded_ndarray_reconstruct = _reconstruct_as(_CheckedArray)


def _guarded_frombuffer(buffer, dtype, shape, order):
    """numpy's protocol-5 ``_frombuffer`` (in-band buffers only), size-checked."""
    if not isinstance(buffer, (bytes, bytearray)):
        raise UnsafePickleError("numpy _frombuffer is allowed only on in-band bytes")
    if not isinstance(dtype, np.dtype) or dtype_problem(dtype) is not None:
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
    if not isinstance(shape, (tuple, list)):
        raise UnsafePickleError(f"bad array shape {shape!r}")
    problem = size_problem(tuple(shape), np.dtype((np.void, max(int(itemsize), 1))))
    if problem is not None:
        raise UnsafePickleError(problem)


class Guarded:
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
    ("copy_reg", "_reconstructor"): Guarded(_guarded_reconstructor),
    ("copyreg", "_reconstructor"): Guarded(_guarded_reconstructor),
    ("__builtin__", "set"): set,
    ("builtins", "set"): set,
    ("__builtin__", "object"): object,
    ("builtins", "object"): object,
    ("_codecs", "encode"): Guarded(_latin1_encode),
}
for _core in _CORE_NAMES:
    ALLOWED_GLOBALS[(f"{_core}.multiarray", "_reconstruct")] = Guarded(_guarded_ndarray_reconstruct)
    ALLOWED_GLOBALS[(f"{_core}.multiarray", "scalar")] = Guarded(_guarded_scalar)
    ALLOWED_GLOBALS[(f"{_core}.numeric", "_frombuffer")] = Guarded(_guarded_frombuffer)


class RestrictedUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` whose globals come only from :data:`ALLOWED_GLOBALS`; persistent ids are refused."""

    def find_class(self, module, name):
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except (KeyError, TypeError):
            raise UnsafePickleError(f"global {module}.{name} is not allowed") from None

    def persistent_load(self, pid):
        raise UnsafePickleError("persistent ids are not allowed")


_SAVED_DICT_RECONSTRUCT = Guarded(_reconstruct_as(_SavedDict))


class _SavedDictUnpickler(RestrictedUnpickler):
    """:class:`RestrictedUnpickler` for the pickle inside a ``.npy`` of a saved dict: its arrays are
    :class:`_SavedDict`, and the top-level one gives its dict."""

    def find_class(self, module, name):
        if name == "_reconstruct" and module in {f"{core}.multiarray" for core in _CORE_NAMES}:
            return _SAVED_DICT_RECONSTRUCT
        return super().find_class(module, name)

    def load(self):
        value = super().load()
        return getattr(value, "boxed", value)


# --------------------------------------------------------------------------------------------------------------------
# Evaluation of stand-ins to plain arrays.


class _Evaluation:
    """Replaces stand-ins by dense ndarrays, recursively through dict / list / tuple (shapes follow the stored state).

    Each object is evaluated once (memoised by identity), and the size of the result *as callers will walk it*
    (shared references counted every time they occur) is kept under MAX_NODES objects and MAX_ARCHIVE_BYTES of
    array data: a stream of nested lists that reference each other cannot expand beyond that, here or later.
    """

    def __init__(self):
        self.memo = {}
        self.nodes = 0
        self.bytes = 0

    def value(self, value, depth=0):
        if depth > MAX_NESTING:
            raise ValueError("object nesting too deep (cyclic chumpy expression?)")
        known = self.memo.get(id(value))
        if known is not None:
            result, nodes, nbytes = known[1:]
            self._count(nodes, nbytes)
            return result
        nodes, nbytes = self.nodes, self.bytes
        result = self._evaluate(value, depth)
        self._count(1, result.nbytes if isinstance(result, np.ndarray) else 0)
        self.memo[id(value)] = (value, result, self.nodes - nodes, self.bytes - nbytes)  # value: keeps the id alive
        return result

    def _count(self, nodes, nbytes):
        self.nodes += nodes
        self.bytes += nbytes
        if self.nodes > MAX_NODES or self.bytes > MAX_ARCHIVE_BYTES:
            raise ValueError(
                f"shared references expand to more than {MAX_NODES} objects or {MAX_ARCHIVE_BYTES} "
                "bytes (a reference bomb)"
            )

    def _evaluate(self, value, depth):
        if isinstance(value, ChumpyCh):
            if "x" not in value.state:
                raise ValueError("chumpy Ch without its 'x' array")
            return np.asarray(self.value(value.state["x"], depth + 1))
        if isinstance(value, ChumpySelect):
            state = value.state
            if not {"a", "idxs", "preferred_shape"} <= state.keys():
                raise ValueError("chumpy Select without 'a', 'idxs' or 'preferred_shape'")
            source = np.asarray(self.value(state["a"], depth + 1)).ravel()
            idxs = np.asarray(self.value(state["idxs"], depth + 1))
            if idxs.dtype.kind not in "iu":
                raise ValueError("chumpy Select indices are not integers")
            if idxs.size and (idxs.min() < -source.size or idxs.max() >= source.size):
                raise ValueError("chumpy Select index out of range")
            return source[idxs.ravel()].reshape(state["preferred_shape"])
        if isinstance(value, SparseCSC):
            return self._dense_from_csc(value.state, depth)
        if isinstance(value, dict):
            return {key: self.value(item, depth + 1) for key, item in value.items()}
        if isinstance(value, list):
            return [self.value(item, depth + 1) for item in value]
        if isinstance(value, tuple):
            return tuple(self.value(item, depth + 1) for item in value)
        if isinstance(value, np.ndarray):
            if value.dtype.hasobject or hasattr(value, "boxed"):
                raise ValueError("object-dtype array")
            return np.asarray(value)  # a plain ndarray view of the checked array
        return value

    def _dense_from_csc(self, state, depth):
        """CSC state dict -> dense (rows, cols) float array; duplicate (row, col) entries are summed, as CSC
        defines."""
        shape = state.get("_shape", state.get("shape"))
        data, indices, indptr = (np.asarray(self.value(state[key], depth + 1)) for key in ("data", "indices", "indptr"))
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


_LENGTH_BYTES = {
    pickletools.TAKEN_FROM_ARGUMENT1: (1, False),
    pickletools.TAKEN_FROM_ARGUMENT4: (4, True),
    pickletools.TAKEN_FROM_ARGUMENT4U: (4, False),
    pickletools.TAKEN_FROM_ARGUMENT8U: (8, False),
}
_MEMO_OPS = frozenset(("PUT", "GET", "LONG_BINPUT", "LONG_BINGET"))  # BINPUT / BINGET take one byte: always small
_OPCODES = {op.code.encode("latin-1")[0]: op for op in pickletools.opcodes}


def _scan_opcodes(data):
    """Walk the opcodes of ``data`` (bytes or a memory map) without running or decoding them: at most
    MAX_PICKLE_OPS, every length within the file, memo indices no larger than the stream could fill (one index of
    2**32 would make the unpickler allocate a 32 GiB memo table). Raises EOFError for a truncated stream."""
    pos, end = 0, len(data)
    for _ in range(MAX_PICKLE_OPS):
        if pos >= end:
            raise EOFError
        op = _OPCODES.get(data[pos])
        if op is None:
            raise UnsafePickleError(f"unknown pickle opcode {data[pos]:#04x} at byte {pos}")
        pos += 1
        value = b""
        if op.arg is not None:
            n = op.arg.n
            if n >= 0:
                value, pos = data[pos : pos + n], pos + n
            elif n == pickletools.UP_TO_NEWLINE:
                for _ in range(2 if op.name in ("GLOBAL", "INST") else 1):  # module and name: two lines
                    newline = data.find(b"\n", pos)
                    if newline < 0:
                        raise EOFError
                    value, pos = data[pos:newline], newline + 1
            else:
                width, signed = _LENGTH_BYTES[n]
                length = int.from_bytes(data[pos : pos + width], "little", signed=signed)
                if length < 0:
                    raise UnsafePickleError(f"negative length at byte {pos}")
                pos += width + length
            if pos > end:
                raise EOFError
        if op.name in _MEMO_OPS:
            index = int(value) if op.name in ("PUT", "GET") else int.from_bytes(value, "little")
            if not 0 <= index <= MAX_PICKLE_OPS:
                raise UnsafePickleError(f"memo index {index} out of range")
        if op.name == "STOP":
            return
    raise UnsafePickleError(f"more than {MAX_PICKLE_OPS} pickle opcodes")


# --------------------------------------------------------------------------------------------------------------------
# Public entry point.


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
    path = _pickle_file(path, error)
    try:
        with open(path, "rb") as file, mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            evaluated = load_checked(mapped, path, error, RestrictedUnpickler(mapped, encoding="latin1"))
    except OSError as exc:
        raise error(path, f"cannot read file ({exc.strerror or exc})") from None
    return _with_string_keys(evaluated, path, error)


def _pickle_file(path, error):
    """``path`` as a string, once it is a readable file within MAX_FILE_BYTES."""
    path = os.fspath(path)
    _, size = file_head(path, 1, error)
    if size > MAX_FILE_BYTES:
        raise error(path, f"file is {size} bytes, more than the {MAX_FILE_BYTES} byte limit for a pickle")
    return path


def _with_string_keys(evaluated, path, error):
    for key in evaluated:
        if not isinstance(key, str):
            raise error(path, f"dict key {key!r} is not a string")
    return evaluated


def load_npy_dict(path, error):
    """The dict of a ``.npy`` file that ``np.save`` wrote for a dict (a 0-d object array: MDM's ``results.npy``),
    through the allow-list unpickler: plain arrays, strings, numbers and containers only, as :func:`load_pickle_dict`.
    Raises ``error(path, problem)`` for any other ``.npy`` or a bad, unsafe or hostile one."""
    path = _pickle_file(path, error)
    try:
        with open(path, "rb") as stream:
            shape, _, dtype = read_npy_header(stream)
            if not dtype.hasobject or shape != ():
                raise error(path, f"a .npy of shape {shape} and dtype {dtype} is not a saved dict")
            data = stream.read()
    except (OSError, ValueError) as exc:
        if isinstance(exc, error):
            raise
        raise error(path, f"not a readable .npy file: {exc}") from None
    evaluated = load_checked(data, path, error, _SavedDictUnpickler(io.BytesIO(data), encoding="latin1"), "a dict")
    return _with_string_keys(evaluated, path, error)


def load_checked(data, path, error, unpickler, what="a dict of model arrays"):
    """The dict pickled in ``data`` (bytes or a memory map), run through ``unpickler`` (a
    :class:`RestrictedUnpickler`, or a subclass with more globals, reading ``data``) only after the opcode scan,
    then evaluated (stand-ins to arrays, containers to plain ``dict`` / ``list`` / ``tuple``, reference bombs
    refused). Any failure is ``error(path, problem)``; ``what`` names the expected content in the message for a
    non-dict."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # bad escapes in corrupt protocol-0 strings
            _scan_opcodes(data)
            if hasattr(data, "seek"):
                data.seek(0)
            raw = unpickler.load()
    except UnsafePickleError as exc:
        raise error(path, f"unsafe or unsupported pickle content refused: {exc}") from None
    except EOFError:
        raise error(path, "pickle data is truncated") from None
    except MemoryError:
        raise error(path, "pickle asks for more memory than available (corrupt or hostile file)") from None
    except OSError as exc:
        raise error(path, f"cannot read file ({exc.strerror or exc})") from None
    except Exception as exc:  # any other failure while decoding untrusted bytes means the file is corrupt
        if isinstance(exc, error):
            raise
        raise error(path, f"not a readable pickle ({type(exc).__name__}: {exc})") from None
    if not isinstance(raw, dict):
        raise error(path, f"pickle holds a {type(raw).__name__}, expected {what}")
    try:
        return _Evaluation().value(raw)
    except RecursionError:
        raise error(path, "object nesting too deep") from None
    except Exception as exc:
        raise error(path, f"cannot evaluate the stored values ({exc})") from None
