# SPDX-License-Identifier: GPL-3.0-or-later
"""The core's file toolkit: checked readers for untrusted ``.npz`` / ``.npy`` / JSON files and one atomic writer.

Every reader checks what a file *declares* before anything is allocated, so a file that lies (a header asking for
terabytes, zero-size items in a huge shape, a zip bomb, a central directory of millions of entries, nesting that
exhausts the stack) is refused in bounded time and memory with ``error(path, problem)``: ``ModelFileError`` for
models, ``MotionFileError`` for motions and poses. Nothing is unpickled here (``allow_pickle=False`` everywhere;
pickles go through :mod:`.safe_pickle`). docs/hostile-files.md lists what is refused and why.

:func:`walk_files` lists the regular files under a folder, bounded in depth and count.

:func:`atomic_write` writes through a temporary file in the target folder, flushed to disk (``fsync``) and renamed
into place, with the permissions a plain ``open()`` would give (the umask), so a file that exists is complete.
"""

import contextlib
import json
import os
import stat
import struct
import tempfile
import zipfile
import zlib

try:
    from lzma import LZMAError
except ImportError:  # a Python built without lzma cannot read such members anyway (zipfile raises RuntimeError)
    LZMAError = RuntimeError

import numpy as np

MAX_FILE_BYTES = 2 * 1024**3  # the largest official file (SMPL-X v1.1, 400 shape columns) is a few hundred MB
MAX_ARRAY_BYTES = 1024**3  # one array
MAX_ARCHIVE_BYTES = 2 * 1024**3  # all members of an archive together, uncompressed (zip bombs)
MAX_MEMBERS = 10_000
MAX_DIRECTORY_BYTES = 16 * 1024**2  # a zip's central directory
MAX_TEXT_BYTES = 1024**2  # a string array (genders, model labels)
MAX_JSON_BYTES = 64 * 1024**2
MAX_JSON_DEPTH = 64
MAX_ABS_VALUE = 1e6  # no pose angle (rad), translation (m, even mm), shape or expression coefficient comes near
NUMERIC_KINDS = "biufc"  # bool, int, uint, float, complex: arrays of plain numbers
TEXT_KINDS = "US"
_READ_CHUNK = 1 << 18
_COMPRESSIONS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA)
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")


def file_head(path, count, error):
    """``(first count bytes, size in bytes)`` of the non-empty file ``path`` (readers tell formats by content).

    Raises ``error(path, problem)`` for a missing, unreadable or empty file.
    """
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):  # a FIFO or device would block or never end
            raise error(path, "not a regular file (a folder, pipe or device)")
        size = info.st_size
        with open(path, "rb") as stream:
            head = stream.read(count)
    except OSError as exc:
        raise error(path, f"cannot read file ({exc.strerror or exc})") from None
    if size == 0:
        raise error(path, "file is empty")
    return head, size


def is_zip(head):
    return head[:4] in _ZIP_MAGICS


def dtype_problem(dtype, name="array"):
    """Why arrays of ``dtype`` are not read at all (an npz skips such members), or ``None``: only plain numbers and
    text."""
    if dtype.hasobject:
        return f"{name} holds Python objects (dtype {dtype}), which only pickle can read"
    if dtype.kind not in NUMERIC_KINDS + TEXT_KINDS or dtype.fields is not None or dtype.subdtype is not None:
        return f"{name} has dtype {dtype}; only numbers and text are read"
    return None


def size_problem(shape, dtype, name="array"):
    """Why an array of ``shape`` / ``dtype`` is refused as corrupt or hostile, or ``None``: zero-size items (which
    pass any byte count, then blow up in the first conversion), a bad shape, more than MAX_ARRAY_BYTES (text:
    MAX_TEXT_BYTES)."""
    if dtype.itemsize == 0:
        return f"{name} has dtype {dtype.str} with zero-size items (shape {shape}): corrupt or hostile file"
    if (
        not isinstance(shape, tuple)
        or len(shape) > 32
        or not all(isinstance(n, (int, np.integer)) and n >= 0 for n in shape)
    ):
        return f"{name} has an invalid shape {shape!r}"
    nbytes = dtype.itemsize
    for n in shape:
        nbytes *= int(n)
    limit = MAX_TEXT_BYTES if dtype.kind in TEXT_KINDS else MAX_ARRAY_BYTES
    if nbytes > limit:
        return f"{name} declares {nbytes} bytes (shape {tuple(shape)} of {dtype.str}), over the {limit} byte limit"
    return None


def checked_floats(path, key, value, error, limit=MAX_ABS_VALUE):
    """``value`` (an array or nested lists from a file) as a float64 array of plain, finite, sane numbers.

    Raises ``error(path, problem)`` for text, bool, complex or object values (a bool pose is a corrupt file, and
    casting a complex one would drop its imaginary part), NaN / infinity, or magnitudes over ``limit``.
    """
    try:
        raw = value if isinstance(value, np.ndarray) else np.asarray(value)
    except (TypeError, ValueError) as exc:  # ragged lists
        raise error(path, f"'{key}' is not a numeric array ({exc})") from None
    if raw.dtype.kind not in "iuf":
        what = {"b": "true/false", "c": "complex", "U": "text", "S": "text", "O": "mixed or non-numeric"}
        raise error(
            path, f"'{key}' holds {what.get(raw.dtype.kind, raw.dtype.str)} values ({raw.dtype}), not real numbers"
        )
    arr = raw.astype(np.float64, copy=False)
    if not np.all(np.isfinite(arr)):
        raise error(path, f"'{key}' contains NaN or infinite values")
    if arr.size and np.abs(arr).max() > limit:
        raise error(
            path,
            f"'{key}' has a value of {np.abs(arr).max():.3g}, beyond the plausible range (±{limit:g}): corrupt file?",
        )
    return arr


def read_npy_header(stream):
    """(shape, fortran_order, dtype) of an open ``.npy`` stream, without reading its data."""
    version = np.lib.format.read_magic(stream)
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(stream)
    return np.lib.format.read_array_header_2_0(stream)  # 3.0 differs only in allowing utf-8 header text


def _check_zip_directory(path, error, size):
    """Refuse an archive whose end record declares too many members or too large a central directory, before
    ``zipfile`` builds one object per member."""
    with open(path, "rb") as stream:
        stream.seek(max(0, size - 65557))
        tail = stream.read()
        end = tail.rfind(b"PK\x05\x06")
        if end < 0 or len(tail) - end < 22:
            raise error(path, "not a zip archive (no end-of-archive record: truncated?)")
        entries, directory_bytes = struct.unpack("<2xHL", tail[end + 8 : end + 16])
        if (entries == 0xFFFF or directory_bytes == 0xFFFFFFFF) and end >= 20:  # zip64: the real numbers elsewhere
            locator = tail[end - 20 : end]
            if locator[:4] == b"PK\x06\x07":
                stream.seek(struct.unpack("<4xLQL", locator)[1])
                record = stream.read(56)
                if len(record) == 56 and record[:4] == b"PK\x06\x06":
                    entries, directory_bytes = struct.unpack("<32xQQ8x", record)
    if entries > MAX_MEMBERS or directory_bytes > MAX_DIRECTORY_BYTES:
        raise error(
            path,
            f"archive declares {entries} members in a {directory_bytes} byte directory, over the "
            f"limits ({MAX_MEMBERS} members, {MAX_DIRECTORY_BYTES} bytes): corrupt or hostile file",
        )


def open_zip_checked(path, error, what="zip archive"):
    """A ``zipfile.ZipFile`` on ``path`` after the checks that need no member read: a non-empty regular file of at
    most MAX_FILE_BYTES that starts like a zip, whose end record declares at most MAX_MEMBERS members in a central
    directory of at most MAX_DIRECTORY_BYTES. ``what`` names the expected format ("an .npz (zip) archive"). The
    caller closes it (``with``) and turns :data:`ZIP_ERRORS` (raised here too, for a corrupt directory) into
    ``error``."""
    head, size = file_head(path, 4, error)
    if not is_zip(head):
        raise error(path, f"not {what}")
    if size > MAX_FILE_BYTES:
        raise error(path, f"file is {size} bytes, more than the {MAX_FILE_BYTES} byte limit")
    _check_zip_directory(path, error, size)
    return zipfile.ZipFile(path)


def check_zip_members(path, members, error):
    """Refuse encrypted members, compression methods other than stored / deflate / bzip2 / lzma, and members whose
    declared sizes add up to more than MAX_ARCHIVE_BYTES (zip bombs): ``members`` are the ``ZipInfo`` objects the
    caller will read."""
    for info in members:
        if info.flag_bits & 0x1:
            raise error(path, f"member {info.filename!r} is encrypted")
        if info.compress_type not in _COMPRESSIONS:
            raise error(
                path,
                f"member {info.filename!r} uses zip compression method {info.compress_type}, "
                "which is not supported (stored, deflate, bzip2, lzma are)",
            )
    total = sum(info.file_size for info in members)
    if total > MAX_ARCHIVE_BYTES:
        raise error(path, f"archive expands to {total} bytes, more than the {MAX_ARCHIVE_BYTES} byte limit")


# What zipfile, zlib, lzma and numpy's header parser raise for a corrupt archive.
ZIP_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zlib.error,
    LZMAError,
    OSError,
    EOFError,
    ValueError,
    KeyError,
    struct.error,
    NotImplementedError,
    RuntimeError,
)


def read_npz(path, error, names=None):
    """The arrays of an ``.npz`` archive (also Meshcapade ``.smpl``), checked before anything is allocated.

    Returns ``(arrays, skipped)``: ``{name: ndarray}`` of numeric and short-text members (only those in ``names``
    when given), and the names of members that are not read (pickled objects such as ``joint2num``, other dtypes):
    callers that need one of them say so.
    Raises ``error(path, problem)`` for an unreadable, encrypted, truncated or lying archive, a member of zero-size
    items, or more than MAX_ARRAY_BYTES in a member or MAX_ARCHIVE_BYTES in all of them.
    """
    path = os.fspath(path)
    arrays, skipped = {}, []
    try:
        with open_zip_checked(path, error, "an .npz (zip) archive") as archive:
            members = [
                info
                for info in archive.infolist()
                if info.filename.endswith(".npy") and (names is None or info.filename[:-4] in names)
            ]
            check_zip_members(path, members, error)
            for info in members:
                name = info.filename[:-4]
                with archive.open(info) as member:
                    shape, fortran, dtype = read_npy_header(member)
                    if dtype_problem(dtype) is not None:
                        skipped.append(name)
                        continue
                    problem = size_problem(shape, dtype, f"member {name!r}")
                    if problem is not None:
                        raise error(path, problem)
                    nbytes = dtype.itemsize * int(np.prod(shape, dtype=np.int64))
                    if nbytes > info.file_size:
                        raise error(
                            path,
                            f"member {name!r} declares {nbytes} bytes of data but holds "
                            f"{info.file_size}: truncated or corrupt",
                        )
                    arrays[name] = read_into_array(member, shape, dtype, nbytes, fortran)
    except ZIP_ERRORS as exc:  # zipfile / zlib / numpy header: corrupt
        if isinstance(exc, error):
            raise
        raise error(path, f"not a readable .npz archive (truncated or corrupt?): {type(exc).__name__}: {exc}") from None
    except MemoryError:
        raise error(path, "an archive member needs more memory than available") from None
    return arrays, skipped


def read_into_array(stream, shape, dtype, nbytes, fortran=False):
    """``nbytes`` (checked by the caller) of ``stream`` read straight into a new array of ``shape`` / ``dtype``, in
    pieces; EOFError when the stream ends early. ``fortran``: the bytes are in column-major order (``.npy``)."""
    array = np.empty(shape[::-1] if fortran else shape, dtype=dtype)
    view = memoryview(array.reshape(-1).view(np.uint8)) if nbytes else memoryview(b"")
    filled = 0
    while filled < nbytes:  # in pieces: one huge read makes zipfile join its decompressed pieces, copy after copy
        count = stream.readinto(view[filled : filled + _READ_CHUNK])
        if not count:
            raise EOFError(f"array data truncated ({filled} of {nbytes} bytes)")
        filled += count
    return array.transpose() if fortran else array


def read_npy(path, error):
    """The array of a ``.npy`` file, checked like an npz member."""
    path = os.fspath(path)
    _, size = file_head(path, 1, error)
    try:
        with open(path, "rb") as stream:
            shape, fortran, dtype = read_npy_header(stream)
            problem = dtype_problem(dtype) or size_problem(shape, dtype)
            if problem is not None:
                raise error(path, problem)
            nbytes = dtype.itemsize * int(np.prod(shape, dtype=np.int64))
            if nbytes > size:
                raise error(path, f"header declares {nbytes} bytes of data in a {size} byte file: truncated or corrupt")
            return read_into_array(stream, shape, dtype, nbytes, fortran)
    except (OSError, EOFError, ValueError) as exc:
        if isinstance(exc, error):
            raise
        raise error(path, f"not a readable .npy array: {exc}") from None


def read_json(path, error):
    """A JSON document of at most MAX_JSON_BYTES and MAX_JSON_DEPTH levels of nesting."""
    path = os.fspath(path)
    _, size = file_head(path, 1, error)
    if size > MAX_JSON_BYTES:
        raise error(path, f"JSON file of {size} bytes is larger than the {MAX_JSON_BYTES} byte limit")
    try:
        with open(path, "rb") as stream:
            text = stream.read().decode("utf-8-sig")
    except OSError as exc:
        raise error(path, f"cannot read file ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise error(path, f"not UTF-8 text: {exc}") from None
    depth = _json_depth(text)
    if depth > MAX_JSON_DEPTH:
        raise error(path, f"JSON nested {depth} levels deep, more than the {MAX_JSON_DEPTH} level limit")
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:  # ValueError also for integers of more than 4300 digits
        raise error(path, f"not readable JSON: {exc}") from None


def _json_depth(text):
    """Deepest bracket nesting of a JSON text (brackets inside strings excluded), in one vectorised pass."""
    codes = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    if not np.isin(codes, (0x5B, 0x7B)).any():
        return 0
    quote = codes == 0x22
    if quote.any():  # a quote preceded by an odd run of backslashes is escaped
        backslash = np.concatenate(([0], (codes == 0x5C).astype(np.int64)))
        run_start = np.maximum.accumulate(np.where(backslash == 0, np.arange(backslash.size), 0))
        run = np.arange(backslash.size) - run_start  # backslashes right before each position
        quote &= run[:-1] % 2 == 0
    inside = np.cumsum(quote) % 2 == 1
    step = np.where(np.isin(codes, (0x5B, 0x7B)), 1, 0) - np.where(np.isin(codes, (0x5D, 0x7D)), 1, 0)
    step[inside & ~quote] = 0
    return int(np.cumsum(step).max())


def walk_files(folder, suffixes=(), max_depth=None, max_files=None, prune=None):
    """Regular files under ``folder``: a sorted list of paths (``str``).

    Args:
        folder: the folder to walk (an unreadable folder, here or below, is passed over).
        suffixes: lowercase name endings to keep, matched case-insensitively (``()``: every file).
        max_depth: how many folder levels below ``folder`` are entered (``0``: only its own files; ``None``: all).
        max_files: stop once that many files were found, in walk order (folders and names sorted, depth first).
        prune: ``prune(path) -> bool``, true for a folder not to enter.

    Names starting with ``.`` (hidden files and folders) are skipped, symbolic links to folders are not followed,
    and anything that is not a regular file (pipe, device, socket: opening one can block) is left out.
    """
    found = []
    pending = [(os.fspath(folder), 0)]
    while pending and (max_files is None or len(found) < max_files):
        path, depth = pending.pop()
        try:
            with os.scandir(path) as listing:
                entries = sorted(listing, key=lambda entry: entry.name)
        except OSError:
            continue
        folders = []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            try:
                if entry.is_dir(follow_symlinks=False):
                    if (max_depth is None or depth < max_depth) and not (prune is not None and prune(entry.path)):
                        folders.append(entry.path)
                elif entry.is_file() and (not suffixes or entry.name.lower().endswith(tuple(suffixes))):
                    found.append(entry.path)
            except OSError:
                continue
        pending.extend((sub, depth + 1) for sub in reversed(folders))
    return sorted(found[:max_files])


def _umask():
    """The process umask (read without changing it where /proc says it, else set and restored at once)."""
    with contextlib.suppress(OSError, ValueError, StopIteration):
        with open("/proc/self/status") as status:
            return int(next(line for line in status if line.startswith("Umask:")).split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write(path, write, mode="wb"):
    """Write ``path`` through ``write(stream)`` on a temporary file in its folder (``mode`` "wb", or "w" for UTF-8
    text), ``fsync`` it and rename it into place: readers never see half a file, and after a crash the file is either
    the old one or the new one, whole. The file gets ``0o666 & ~umask`` like one made by ``open()``. Returns the
    path."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=os.path.splitext(path)[1])
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as stream:
            write(stream)
        publish(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise
    return path


def publish(tmp, path):
    """Move the finished file ``tmp`` to ``path`` (same file system) durably: its data synced, the permissions of a
    file made by ``open()`` (``0o666 & ~umask``), renamed, the folder synced."""
    with open(tmp, "rb+") as stream:
        os.fsync(stream.fileno())
    os.chmod(tmp, 0o666 & ~_umask())
    os.replace(tmp, path)
    with contextlib.suppress(OSError):  # the rename itself is durable once the folder is synced
        dir_fd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def atomic_savez(path, arrays, compressed=False):
    """Write ``{name: array}`` as an ``.npz`` (``np.savez`` / ``np.savez_compressed``) through :func:`atomic_write`."""
    return atomic_write(path, lambda stream: (np.savez_compressed if compressed else np.savez)(stream, **arrays))
