# SPDX-License-Identifier: GPL-3.0-or-later
"""Byte-reproducible .npz writing: np.savez_compressed stamps each member with the current time, so write the zip here
with a fixed date, fixed order and fixed compression level. The result loads with np.load(allow_pickle=False)."""

import io
import os
import zipfile

import numpy as np

FIXED_DATE = (1980, 1, 1, 0, 0, 0)


def save_npz_deterministic(path, arrays):
    """Write {name: ndarray} (no object arrays) to ``path`` atomically, members sorted by name."""
    tmp = f"{path}.tmp"
    with zipfile.ZipFile(tmp, "w") as zf:
        for name in sorted(arrays):
            arr = np.asarray(arrays[name])
            if arr.dtype.hasobject:
                raise TypeError(f"{name}: object arrays would need pickle")
            buf = io.BytesIO()
            np.lib.format.write_array(buf, arr if arr.flags.c_contiguous else arr.copy(), allow_pickle=False)
            info = zipfile.ZipInfo(name + ".npy", date_time=FIXED_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, buf.getvalue(), compresslevel=9)
    os.replace(tmp, path)
