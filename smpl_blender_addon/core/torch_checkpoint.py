# SPDX-License-Identifier: GPL-3.0-or-later
"""Read a PyTorch checkpoint (``torch.save`` of torch >= 1.6: a zip archive) without PyTorch and without running it.

The archive holds ``<name>/data.pkl`` (a pickle of the saved object, tensors replaced by persistent ids) and one
member ``<name>/data/<key>`` per storage (raw bytes in the order ``<name>/byteorder`` names, little-endian when the
member is absent). This reader

* checks the archive first with :mod:`.file_io`'s zip checks (size, member count, central directory, encryption,
  compression methods, declared sizes: zip bombs);
* runs ``data.pkl`` through :mod:`.safe_pickle`'s machinery (opcode scan with memo bounds, then the allow-list
  unpickler, then the reference-bomb-checked evaluation), extended by the globals a checkpoint needs:
  ``torch._utils._rebuild_tensor`` / ``_v2`` / ``_v3`` and ``_rebuild_parameter`` (``_with_state``), the storage
  classes (``torch.FloatStorage`` ..., ``torch.UntypedStorage``), torch dtypes, ``torch.Size``, ``torch.device``,
  ``collections.OrderedDict`` (a ``dict``; the ``_metadata`` that BUILD gives it is dropped) and the shallow
  ``builtins`` containers;
* resolves each persistent id ``('storage', storage_type, key, location, numel)`` to the bytes of ``data/<key>`` as a
  1-D numpy array of the storage's dtype, after checking ``numel`` against the member's size and the array limits;
* copies each tensor out of its storage with its offset / size / stride, checked against the storage's length.

Objects of the ``pytorch_lightning`` / ``lightning`` / ``lightning_fabric`` / ``omegaconf`` / ``torch.optim`` /
``typing`` / ``pathlib`` namespaces (hyper-parameters, callbacks, optimizer and scheduler classes of a Lightning
``.ckpt``) become :class:`InertObject` placeholders: nothing of theirs is imported, called or kept. Every other
global (``os.system``, ``builtins.eval``, any other torch function...) is refused before anything is called.

Tensors come back as plain numpy arrays: bfloat16 as float32 (exact), half as float16, the rest as the
same dtype. Pre-1.6 (legacy, non-zip) checkpoints are refused with how to re-save them. No torch, no bpy.
"""

import io
import os
import re

import numpy as np

from .errors import WeightsFileError
from .file_io import (
    MAX_ARRAY_BYTES,
    ZIP_ERRORS,
    check_zip_members,
    file_head,
    is_zip,
    open_zip_checked,
    read_into_array,
    size_problem,
)
from .safe_pickle import Guarded, RestrictedUnpickler, UnsafePickleError, load_checked

MAX_PICKLE_BYTES = 256 * 1024**2  # data.pkl: tensors are stored outside it, so real ones are kilobytes
MAX_PLACEHOLDERS = 1000  # distinct inert globals in one checkpoint (Lightning ones name a few dozen)
_KEY = re.compile(r"[A-Za-z0-9_.\-]{1,128}")
_LEGACY_MAGIC = b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19."  # protocol 2, LONG1 0x1950a86a20f9469cfc6c, STOP
_INERT_NAMESPACES = ("pytorch_lightning", "lightning", "lightning_fabric", "omegaconf", "torch.optim", "typing")
_INERT_GLOBALS = {
    ("pathlib", name) for name in ("Path", "PosixPath", "WindowsPath", "PurePosixPath", "PureWindowsPath")
}


# --------------------------------------------------------------------------------------------------------------------
# Tokens and placeholders.


class InertObject:
    """What an object of an inert namespace (a Lightning callback, an omegaconf config, an optimizer class...)
    becomes: construction, BUILD state, items and appends are accepted and dropped. ``global_name`` is what the file
    named (``"pytorch_lightning.callbacks.model_checkpoint.ModelCheckpoint"``)."""

    __slots__ = ()
    global_name = "?"

    def __new__(cls, *args, **kwargs):
        return object.__new__(cls)

    def __init__(self, *args, **kwargs):
        pass

    def __setstate__(self, state):
        pass

    def __setitem__(self, key, value):
        pass

    def append(self, value):
        pass

    def extend(self, values):
        pass

    def __reduce__(self):
        raise TypeError("inert placeholder is not picklable")

    def __repr__(self):
        return f"<inert {self.global_name}>"


class _TorchToken:
    """A torch name the stream may use as data: its name and numpy dtype, nothing callable. The subclasses keep a
    storage type and a tensor dtype apart (one is never accepted where the other is expected)."""

    __slots__ = ("name", "dtype")

    def __init__(self, name, dtype):
        self.name, self.dtype = name, dtype

    def __reduce__(self):
        raise TypeError("not picklable")

    def __repr__(self):
        return f"torch.{self.name}"


class _StorageType(_TorchToken):
    """What ``torch.FloatStorage`` & co. resolve to: the numpy dtype of the storage's elements."""

    __slots__ = ()


class TorchDtype(_TorchToken):
    """What ``torch.float32`` & co. resolve to: the name, and the numpy dtype (``None`` where numpy has none)."""

    __slots__ = ()


class _StorageArray(np.ndarray):
    """A storage's elements (1-D), made only by ``persistent_load``: the rebuild functions accept nothing else."""


_BFLOAT16 = "bfloat16"  # read as uint16, widened to float32 (exact)
_STORAGE_DTYPES = {
    "FloatStorage": "<f4",
    "DoubleStorage": "<f8",
    "HalfStorage": "<f2",
    "BFloat16Storage": _BFLOAT16,
    "LongStorage": "<i8",
    "IntStorage": "<i4",
    "ShortStorage": "<i2",
    "CharStorage": "i1",
    "ByteStorage": "u1",
    "BoolStorage": "?",
    "ComplexFloatStorage": "<c8",
    "ComplexDoubleStorage": "<c16",
    "UntypedStorage": "u1",
}
_TORCH_DTYPES = {
    "float32": "<f4",
    "float": "<f4",
    "float64": "<f8",
    "double": "<f8",
    "float16": "<f2",
    "half": "<f2",
    "bfloat16": _BFLOAT16,
    "int64": "<i8",
    "long": "<i8",
    "int32": "<i4",
    "int": "<i4",
    "int16": "<i2",
    "short": "<i2",
    "int8": "i1",
    "uint8": "u1",
    "uint16": "<u2",
    "uint32": "<u4",
    "uint64": "<u8",
    "bool": "?",
    "complex64": "<c8",
    "complex128": "<c16",
}
_NO_NUMPY_DTYPES = ("float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz", "complex32", "chalf")


def _numpy_dtype(code, big_endian):
    """The dtype a storage's bytes are read as (bfloat16: uint16) in the file's byte order."""
    dtype = np.dtype("<u2" if code == _BFLOAT16 else code)
    return dtype.newbyteorder(">") if big_endian and dtype.itemsize > 1 else dtype


# --------------------------------------------------------------------------------------------------------------------
# Guarded rebuild functions.


def _int(value, what):
    if type(value) is not int or value < 0:
        raise UnsafePickleError(f"tensor {what} {value!r} is not a non-negative integer")
    return value


def _ints(value, what):
    if not isinstance(value, tuple) or len(value) > 32:
        raise UnsafePickleError(f"tensor {what} {value!r} is not a tuple of at most 32 integers")
    return tuple(_int(n, what) for n in value)


def _tensor_from_storage(storage, offset, size, stride, dtype=None):
    """A copy of the strided view ``storage[offset + sum(i_k * stride_k)]`` of ``size``, bounds-checked."""
    if type(storage) is not _StorageArray:
        raise UnsafePickleError("a tensor's storage is not a storage of the checkpoint")
    offset, size, stride = _int(offset, "offset"), _ints(size, "size"), _ints(stride, "stride")
    if len(stride) != len(size):
        raise UnsafePickleError(f"tensor size {size} and stride {stride} differ in length")
    elements = storage.view(np.ndarray)
    if dtype is not None:  # _rebuild_tensor_v3: an untyped (byte) storage read as dtype
        if not isinstance(dtype, TorchDtype) or dtype.dtype is None:
            raise UnsafePickleError(f"tensor dtype {dtype!r} is not supported")
        if elements.dtype != np.uint8:
            raise UnsafePickleError("a tensor with its own dtype needs an untyped storage")
        item = _numpy_dtype(dtype.dtype, False)
        elements = elements[: elements.size - elements.size % item.itemsize].view(item)
        if dtype.dtype == _BFLOAT16:
            elements = _widen_bfloat16(elements)
    problem = size_problem(size, elements.dtype, "tensor")
    if problem is not None:
        raise UnsafePickleError(problem)
    if 0 in size:
        return np.zeros(size, dtype=elements.dtype)
    extent = offset + 1 + sum((n - 1) * s for n, s in zip(size, stride))
    if extent > elements.size:
        raise UnsafePickleError(
            f"tensor of size {size}, stride {stride} at offset {offset} needs {extent} storage elements, "
            f"the storage holds {elements.size}"
        )
    view = np.lib.stride_tricks.as_strided(
        elements[offset:], shape=size, strides=tuple(s * elements.itemsize for s in stride), writeable=False
    )
    return np.array(view, order="C")


def _rebuild_tensor(storage, offset, size, stride, *rest):
    """``torch._utils._rebuild_tensor`` (4 arguments) and ``_rebuild_tensor_v2`` (+ requires_grad, backward hooks,
    optional metadata): hooks and metadata are dropped."""
    if len(rest) > 3:
        raise UnsafePickleError("_rebuild_tensor_v2 with more than 7 arguments")
    return _tensor_from_storage(storage, offset, size, stride)


def _rebuild_tensor_v3(storage, offset, size, stride, requires_grad, hooks, dtype, metadata=None):
    """``torch._utils._rebuild_tensor_v3``: torch's newer dtypes (uint16...) on an untyped storage."""
    return _tensor_from_storage(storage, offset, size, stride, dtype)


def _rebuild_parameter(data, requires_grad, hooks, state=None):
    """``torch._utils._rebuild_parameter`` (``_with_state``): the tensor itself."""
    if not isinstance(data, np.ndarray):
        raise UnsafePickleError("a parameter's data is not a tensor")
    return data


def _torch_size(values=()):
    return _ints(tuple(values), "size")


def _torch_device(*args):
    if not 1 <= len(args) <= 2 or not isinstance(args[0], str) or len(args[0]) > 64:
        raise UnsafePickleError("torch.device takes a device name")
    return args[0] if len(args) == 1 else f"{args[0]}:{args[1]}"


class _OrderedDict(dict):
    """``collections.OrderedDict`` as a checkpoint uses it: a dict (Python dicts keep order); the BUILD state that
    ``state_dict()`` adds (``_metadata``: per-module versions) is dropped."""

    def __setstate__(self, state):
        pass

    def __reduce__(self):
        raise TypeError("not picklable")


TORCH_GLOBALS = {
    ("torch._utils", "_rebuild_tensor"): Guarded(_rebuild_tensor),
    ("torch._utils", "_rebuild_tensor_v2"): Guarded(_rebuild_tensor),
    ("torch._utils", "_rebuild_tensor_v3"): Guarded(_rebuild_tensor_v3),
    ("torch._utils", "_rebuild_parameter"): Guarded(_rebuild_parameter),
    ("torch._utils", "_rebuild_parameter_with_state"): Guarded(_rebuild_parameter),
    ("torch", "Size"): Guarded(_torch_size),
    ("torch", "device"): Guarded(_torch_device),
    ("collections", "OrderedDict"): _OrderedDict,
    ("builtins", "dict"): dict,
    ("builtins", "list"): list,
    ("builtins", "tuple"): tuple,
    ("builtins", "frozenset"): frozenset,
}
for _name, _code in _STORAGE_DTYPES.items():
    TORCH_GLOBALS[("torch", _name)] = _StorageType(_name, _code)
TORCH_GLOBALS[("torch.storage", "UntypedStorage")] = TORCH_GLOBALS[("torch", "UntypedStorage")]
for _name, _code in _TORCH_DTYPES.items():
    TORCH_GLOBALS[("torch", _name)] = TorchDtype(_name, _code)
for _name in _NO_NUMPY_DTYPES:
    TORCH_GLOBALS[("torch", _name)] = TorchDtype(_name, None)


def _widen_bfloat16(raw):
    """bfloat16 bits (uint16) -> the same values as float32 (exact: bfloat16 is float32's upper half)."""
    return (raw.astype(np.uint32) << 16).view(np.float32)


# --------------------------------------------------------------------------------------------------------------------
# The unpickler.


class _CheckpointUnpickler(RestrictedUnpickler):
    """The allow-list unpickler plus :data:`TORCH_GLOBALS`, inert placeholders and storage persistent ids."""

    def __init__(self, stream, read_storage):
        super().__init__(stream, encoding="latin1")
        self._read_storage = read_storage
        self._placeholders = {}

    def find_class(self, module, name):
        found = TORCH_GLOBALS.get((module, name)) if isinstance(module, str) and isinstance(name, str) else None
        if found is not None:
            return found
        if isinstance(module, str) and isinstance(name, str):
            inert = (module, name) in _INERT_GLOBALS or any(
                module == space or module.startswith(space + ".") for space in _INERT_NAMESPACES
            )
            if inert:
                return self._placeholder(module, name)
        return super().find_class(module, name)

    def _placeholder(self, module, name):
        key = f"{module}.{name}"
        found = self._placeholders.get(key)
        if found is None:
            if len(self._placeholders) >= MAX_PLACEHOLDERS:
                raise UnsafePickleError(f"more than {MAX_PLACEHOLDERS} distinct inert globals")
            found = type(name.isidentifier() and name or "Inert", (InertObject,), {"__slots__": (), "global_name": key})
            self._placeholders[key] = found
        return found

    def persistent_load(self, pid):
        if not isinstance(pid, tuple) or len(pid) != 5 or pid[0] != "storage":
            raise UnsafePickleError(f"persistent id {pid!r:.80} is not a ('storage', type, key, location, numel)")
        _, storage_type, key, location, numel = pid
        if not isinstance(storage_type, _StorageType):
            raise UnsafePickleError(f"persistent id names {storage_type!r:.80}, not a storage type")
        if not isinstance(key, str) or not _KEY.fullmatch(key) or not isinstance(location, str):
            raise UnsafePickleError(f"bad storage key {key!r:.80}")
        return self._read_storage(key, storage_type, _int(numel, "storage numel"))


class _Storages:
    """Reads ``<prefix>data/<key>`` members on demand, once each, checked against the declared element count."""

    def __init__(self, path, error, archive, prefix, big_endian):
        self.path, self.error, self.archive, self.prefix, self.big_endian = path, error, archive, prefix, big_endian
        self.members = {info.filename: info for info in archive.infolist()}
        self.read = {}

    def __call__(self, key, storage_type, numel):
        known = self.read.get(key)
        if known is not None:
            if known[0] != storage_type.name or known[1].size != numel:
                raise UnsafePickleError(f"storage {key!r} is used as two different types or sizes")
            return known[1]
        dtype = _numpy_dtype(storage_type.dtype, self.big_endian)
        problem = size_problem((numel,), dtype, f"storage {key!r}")
        if problem is not None:
            raise UnsafePickleError(problem)
        info = self.members.get(f"{self.prefix}data/{key}")
        if info is None:
            raise self.error(self.path, f"storage {key!r} is referenced but the archive has no {self.prefix}data/{key}")
        nbytes = numel * dtype.itemsize
        if info.file_size < nbytes:
            raise self.error(
                self.path,
                f"storage {key!r} declares {numel} elements ({nbytes} bytes) but its member holds "
                f"{info.file_size} bytes: truncated or corrupt",
            )
        with self.archive.open(info) as stream:
            values = read_into_array(stream, (numel,), dtype, nbytes)
        if storage_type.dtype == _BFLOAT16:
            values = _widen_bfloat16(values)
        elif dtype.byteorder == ">":
            values = values.astype(dtype.newbyteorder("="))
        storage = values.view(_StorageArray)
        self.read[key] = (storage_type.name, storage)
        return storage


# --------------------------------------------------------------------------------------------------------------------
# Public entry point.


def load_checkpoint(path, error=WeightsFileError):
    """The object ``torch.save`` wrote to ``path`` (a dict), read without torch and without running anything.

    Args:
        path: a checkpoint file (``.ckpt`` / ``.pt`` / ``.pth``, torch >= 1.6 zip format).
        error: exception class raised on any failure, as ``error(path, problem)``.

    Returns:
        a plain ``dict``: tensors and parameters are numpy arrays (C-contiguous copies), ``OrderedDict`` values are
        plain dicts, torch dtypes are :class:`TorchDtype` tokens, Lightning / omegaconf / torch.optim objects are
        :class:`InertObject` placeholders; numbers, strings and containers as stored.

    Raises:
        ``error`` for a missing, empty, truncated, corrupt, legacy (pre-1.6), oversized or hostile file: nothing in
        the file is imported or executed, and sizes are checked against the archive before anything is allocated.
    """
    path = os.fspath(path)
    head, _ = file_head(path, len(_LEGACY_MAGIC), error)
    if not is_zip(head):
        if head.startswith(_LEGACY_MAGIC[:4]):
            raise error(
                path,
                "a legacy (before PyTorch 1.6, non-zip) checkpoint, which is read only by unpickling it: re-save it "
                "with PyTorch >= 1.6, where you trust it: torch.save(torch.load(old, weights_only=False), new)",
            )
        raise error(path, "not a PyTorch checkpoint (torch.save of PyTorch >= 1.6 writes a zip archive)")
    try:
        with open_zip_checked(path, error, "a PyTorch checkpoint (zip archive)") as archive:
            infos = archive.infolist()
            check_zip_members(path, infos, error)
            pickles = [info for info in infos if re.fullmatch(r"[^/]+/data\.pkl", info.filename)]
            if len(pickles) != 1:
                raise error(
                    path,
                    "not a PyTorch checkpoint: "
                    + ("no <name>/data.pkl in the archive" if not pickles else "more than one <name>/data.pkl"),
                )
            info = pickles[0]
            prefix = info.filename[: -len("data.pkl")]
            if info.file_size > MAX_PICKLE_BYTES:
                raise error(path, f"data.pkl is {info.file_size} bytes, over the {MAX_PICKLE_BYTES} byte limit")
            data = archive.read(info)
            order = prefix + "byteorder"
            big_endian = order in archive.NameToInfo and archive.read(order).strip() == b"big"
            storages = _Storages(path, error, archive, prefix, big_endian)
            return load_checked(
                data, path, error, _CheckpointUnpickler(io.BytesIO(data), storages), what="a dict (a checkpoint)"
            )
    except ZIP_ERRORS as exc:
        if isinstance(exc, error):
            raise
        raise error(
            path, f"not a readable PyTorch checkpoint (truncated or corrupt?): {type(exc).__name__}: {exc}"
        ) from None
    except MemoryError:
        raise error(
            path, f"the checkpoint needs more memory than available (limit {MAX_ARRAY_BYTES} per array)"
        ) from None
