# SPDX-License-Identifier: GPL-3.0-or-later
"""Hostile and odd files for the reader tests (core, Blender operators, the batch command line): each builder
writes real bytes that a real file could hold. :func:`hostile_motion_files` writes one of each kind with the words
its refusal must contain."""

import io
import json
import pickle
import struct
import zipfile

import numpy as np


def npy_header(shape, descr):
    stream = io.BytesIO()
    np.lib.format.write_array_header_1_0(stream, {"descr": descr, "fortran_order": False, "shape": shape})
    return stream.getvalue()


def zip_of(path, members):
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name + ".npy", data)
    return path


def savez(path, **arrays):
    """np.savez to exactly ``path`` (np.savez appends .npz to other names)."""
    with open(path, "wb") as stream:
        np.savez(stream, **arrays)
    return path


def npy_bytes(array):
    stream = io.BytesIO()
    np.save(stream, array)
    return stream.getvalue()


def reference_bomb(levels=12, width=10):
    """318-ish bytes that reference 10^12 lists: each level is a list of ``width`` references to the one below."""
    value = [0.0]
    for _ in range(levels):
        value = [value] * width
    return value


class ZeroItemArray:
    """Pickles as numpy's own array reconstruction with a zero-size dtype and a 10^12 shape."""

    def __reduce__(self):
        return np.ndarray.__reduce__(np.zeros(0, dtype="S1"))[:2] + ((1, (10**12,), np.dtype("S0"), False, b"\0"),)


def patched_zip(path, flag=None, method=None):
    """A valid motion npz whose local and central headers claim encryption (flag bit 0) or another method."""
    savez(path, poses=np.zeros((2, 156)), trans=np.zeros((2, 3)), mocap_framerate=30.0)
    data = bytearray(path.read_bytes())
    for magic, flag_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = data.find(magic)
        while at >= 0:
            if flag is not None:
                data[at + flag_at : at + flag_at + 2] = struct.pack("<H", flag)
            if method is not None:
                data[at + flag_at + 2 : at + flag_at + 4] = struct.pack("<H", method)
            at = data.find(magic, at + 4)
    path.write_bytes(bytes(data))
    return path


def hostile_motion_files(folder):
    """Write one hostile motion / pose file per case into ``folder``: ``{file name: words of its refusal}``."""
    cases = {}
    (folder / "bomb.pkl").write_bytes(
        pickle.dumps({"body_pose": reference_bomb(), "global_orient": [0.0] * 3}, protocol=2)
    )
    cases["bomb.pkl"] = "reference bomb"
    zip_of(folder / "zero_items.npz", {"poses": npy_header((10**12, 165), "|S0"), "mocap_framerate": npy_bytes(30.0)})
    cases["zero_items.npz"] = "zero-size items"
    zip_of(folder / "huge_header.npz", {"pose": npy_header((2**40,), "<f8")})
    cases["huge_header.npz"] = "byte limit"
    patched_zip(folder / "encrypted.npz", flag=1)
    cases["encrypted.npz"] = "encrypted"
    patched_zip(folder / "aes.npz", method=99)
    cases["aes.npz"] = "compression method 99"
    (folder / "deep.json").write_text('{"pose": ' + "[" * 100_000 + "]" * 100_000 + "}")
    cases["deep.json"] = "nested"
    savez(folder / "no_frames.npz", pose=np.zeros((0, 165)))
    cases["no_frames.npz"] = "holds no frames"
    savez(
        folder / "count.smpl",
        codecVersion=np.int32(2),
        smplVersion=np.int32(2),
        frameCount=np.int32(10_000_000),
        frameRate=np.float32(30),
    )
    cases["count.smpl"] = "no per-frame arrays"
    savez(folder / "complex.npz", poses=np.zeros((3, 156)) + 1j, trans=np.zeros((3, 3)), mocap_framerate=30.0)
    cases["complex.npz"] = "complex"
    savez(folder / "far.npz", poses=np.zeros((3, 156)), trans=np.full((3, 3), 1e308), mocap_framerate=30.0)
    cases["far.npz"] = "beyond the plausible range"
    savez(folder / "slow_rate.npz", poses=np.zeros((3, 156)), trans=np.zeros((3, 3)), mocap_framerate=1e-300)
    cases["slow_rate.npz"] = "not a usable rate"
    (folder / "nopose.json").write_text(json.dumps({"camera": [1, 2, 3]}))
    cases["nopose.json"] = "no pose found"
    return cases
