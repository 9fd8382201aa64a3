# SPDX-License-Identifier: GPL-3.0-or-later
"""Hostile and odd files against every core reader (models, motions, poses, SMPLify-X fits): each one is refused
with one ``ValueError`` naming the file and the problem, in bounded time and memory, or read with a warning that
names what is not carried. docs/hostile-files.md lists the cases. No bpy.
"""

import contextlib
import os
import pickle
import signal
import stat
import struct
import warnings

import numpy as np
import pytest
from core.random_model import random_arrays
from hostile_files import ZeroItemArray, npy_bytes, npy_header, patched_zip, reference_bomb, savez, zip_of

from smpl_blender_addon import core
from smpl_blender_addon.core import file_io
from smpl_blender_addon.core.errors import ModelFileError, MotionFileError
from smpl_blender_addon.core.formats import read_motion, write_amass_npz, write_smpl_codec
from smpl_blender_addon.core.formats.pose_files import read_pose_file
from smpl_blender_addon.core.model_files import read_model_file


@pytest.fixture(scope="module")
def model():
    return core.BodyModel.from_arrays(random_arrays("smplx", 200, seed=3), name="random-smplx")


@contextlib.contextmanager
def seconds(limit):
    """Fail (instead of hanging the suite) when the block runs longer than ``limit`` seconds: a guard, not a
    benchmark; the readers take milliseconds."""

    def expire(*_):
        raise TimeoutError(f"took more than {limit} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(limit)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def refused(read, path, *needles, error=MotionFileError):
    """``read(path)`` raises ``error`` naming the file and every needle, within 20 s."""
    with seconds(20), pytest.raises(error) as info:
        read(path)
    message = str(info.value)
    assert os.path.basename(path) in message, message
    for needle in needles:
        assert needle in message, message
    return info.value


# -- 1: shared-reference pickle bombs --------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["v_template", "body_pose", "pose"])
def test_shared_reference_pickle_bomb_is_refused(tmp_path, model, key):
    path = tmp_path / f"bomb-{key}.pkl"
    path.write_bytes(pickle.dumps({key: reference_bomb(), "global_orient": [0.0] * 3}, protocol=2))
    assert path.stat().st_size < 1000
    refused(read_model_file, path, "reference bomb", error=ModelFileError)
    refused(lambda p: read_motion(p, model=model), path, "reference bomb")  # SMPLify-X fit
    refused(lambda p: read_pose_file(p, model), path, "reference bomb")  # pose file


def test_shared_references_within_the_limit_still_read(tmp_path, model):
    """Memoising must not change what a legitimate pickle with shared arrays gives."""
    pose = np.linspace(-0.5, 0.5, 165)
    path = tmp_path / "shared.pkl"
    path.write_bytes(pickle.dumps({"pose": pose, "copy": [pose, pose], "transl": np.zeros(3)}, protocol=2))
    np.testing.assert_array_equal(read_pose_file(path, model)["pose"], pose)


def test_pickle_with_a_huge_memo_index_or_too_many_opcodes_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "memo.pkl"
    path.write_bytes(b"\x80\x02}r\xff\xff\xff\xff.")  # EMPTY_DICT, LONG_BINPUT 2**32 - 1: a 32 GiB memo table
    refused(read_model_file, path, "memo index", error=ModelFileError)
    monkeypatch.setattr(core.safe_pickle, "MAX_PICKLE_OPS", 1000)
    path = tmp_path / "long.pkl"
    path.write_bytes(pickle.dumps({"v": list(range(2000))}, protocol=2))
    refused(read_model_file, path, "more than 1000 pickle opcodes", error=ModelFileError)


# -- 2: zero-size items and lying headers ----------------------------------------------------------------------------


@pytest.mark.parametrize("descr", ["|S0", "<U0"])
def test_zero_itemsize_members_are_refused(tmp_path, model, descr):
    header = npy_header((10**12, 165), descr)
    refused(
        read_model_file, zip_of(tmp_path / "model.npz", {"v_template": header}), "zero-size items", error=ModelFileError
    )
    refused(
        read_motion,
        zip_of(tmp_path / "motion.npz", {"poses": header, "mocap_framerate": npy_bytes(30.0)}),
        "zero-size items",
    )
    refused(lambda p: read_pose_file(p, model), zip_of(tmp_path / "pose.npz", {"pose": header}), "zero-size items")
    (tmp_path / "pose.npy").write_bytes(header)
    refused(read_motion, tmp_path / "pose.npy", "zero-size items")
    refused(lambda p: read_pose_file(p, model), tmp_path / "pose.npy", "zero-size items")


def test_zero_itemsize_pickled_array_is_refused(tmp_path, model):
    path = tmp_path / "zero.pkl"
    path.write_bytes(pickle.dumps({"v_template": ZeroItemArray(), "body_pose": ZeroItemArray()}, protocol=2))
    refused(read_model_file, path, "zero-size items", error=ModelFileError)
    refused(lambda p: read_pose_file(p, model), path, "zero-size items")


def test_pose_npz_member_size_is_checked(tmp_path, model):
    path = zip_of(tmp_path / "huge.npz", {"pose": npy_header((2**40,), "<f8")})  # 8 TiB
    refused(lambda p: read_pose_file(p, model), path, "byte limit")


def test_a_header_larger_than_its_member_is_refused(tmp_path):
    data = npy_bytes(np.zeros((100, 156)))
    path = zip_of(tmp_path / "short.npz", {"poses": data[: len(data) // 2], "mocap_framerate": npy_bytes(30.0)})
    refused(read_motion, path, "truncated")


def test_total_size_of_all_members_is_capped(tmp_path, monkeypatch):
    """A zip bomb spreads its bytes over many members that each pass the per-array limit."""
    members = {f"m{i}": npy_bytes(np.zeros(1000)) for i in range(5)}
    members["poses"] = npy_bytes(np.zeros((2, 156)))
    path = zip_of(tmp_path / "bomb.npz", members)
    monkeypatch.setattr(file_io, "MAX_ARCHIVE_BYTES", 20_000)  # stands in for 2 GiB; every member is under it
    refused(read_motion, path, "archive expands to")


def test_an_archive_declaring_millions_of_members_is_refused(tmp_path):
    path = zip_of(tmp_path / "many.npz", {"poses": npy_bytes(np.zeros((2, 156)))})
    data = bytearray(path.read_bytes())
    end = data.rfind(b"PK\x05\x06")
    data[end + 8 : end + 12] = struct.pack("<HH", 0xFFFE, 0xFFFE)  # this disk's and all entries
    data[end + 12 : end + 16] = struct.pack("<L", 0xFFFFFFF0)  # central directory size
    path.write_bytes(bytes(data))
    refused(read_motion, path, "members")


# -- 3: archives and JSON that zipfile / json cannot read ------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".npz", ".smpl"])
def test_encrypted_and_unknown_compression_members_are_refused(tmp_path, model, suffix):
    encrypted = patched_zip(tmp_path / f"encrypted{suffix}", flag=1)
    refused(read_motion, encrypted, "encrypted")
    unknown = patched_zip(tmp_path / f"aes{suffix}", method=99)
    refused(read_motion, unknown, "compression method 99")
    if suffix == ".npz":
        refused(lambda p: read_pose_file(p, model), encrypted, "encrypted")
        refused(lambda p: read_pose_file(p, model), unknown, "compression method 99")
        refused(read_model_file, encrypted, "encrypted", error=ModelFileError)


def test_deeply_nested_json_is_refused(tmp_path, model):
    path = tmp_path / "deep.json"
    path.write_text('{"pose": ' + "[" * 100_000 + "]" * 100_000 + "}")
    refused(read_motion, path, "nested")
    refused(lambda p: read_pose_file(p, model), path, "nested")
    path = tmp_path / "quoted.json"  # brackets inside strings (escaped quotes too) do not count
    path.write_text('{"note": "[[[[\\"[[[[", "pose": ' + str([0.0] * 165) + "}")
    assert read_motion(path).num_frames == 1


def test_zero_frame_pose_files_name_the_file(tmp_path, model):
    np.savez(tmp_path / "empty.npz", pose=np.zeros((0, 165)))
    refused(lambda p: read_pose_file(p, model), tmp_path / "empty.npz", "'pose' is empty")
    refused(read_motion, tmp_path / "empty.npz")
    np.savez(tmp_path / "parts.npz", global_orient=np.zeros((0, 3)), body_pose=np.zeros((0, 63)))
    refused(lambda p: read_pose_file(p, model), tmp_path / "parts.npz", "is empty")
    (tmp_path / "empty.json").write_text('{"pose": []}')
    refused(lambda p: read_pose_file(p, model), tmp_path / "empty.json", "empty")


# -- 4: frame counts bounded by the data present ---------------------------------------------------------------------


def test_smpl_frame_count_without_frames_is_refused(tmp_path):
    path = tmp_path / "count.smpl"
    savez(
        path,
        codecVersion=np.int32(2),
        smplVersion=np.int32(2),
        frameCount=np.int32(10_000_000),
        frameRate=np.float32(30),
        shapeParameters=np.zeros(10, np.float32),
    )
    refused(read_motion, path, "frameCount is 10000000", "no per-frame arrays")
    savez(
        path,
        codecVersion=np.int32(2),
        smplVersion=np.int32(2),
        frameCount=np.int32(1),
        shapeParameters=np.ones(10, np.float32),
    )  # a shape-only avatar is still one rest-pose frame
    assert read_motion(path).num_frames == 1


# -- 9: content that is not carried is said --------------------------------------------------------------------------


def test_dropped_content_is_named_in_a_warning(tmp_path):
    path = tmp_path / "dmpl.npz"
    np.savez(
        path,
        poses=np.zeros((4, 156)),
        trans=np.zeros((4, 3)),
        mocap_framerate=60.0,
        betas=np.zeros(16),
        gender="female",
        dmpls=np.full((4, 8), 0.1),
    )
    with pytest.warns(UserWarning, match="'dmpls'.*not imported"):
        read_motion(path)
    path = tmp_path / "offsets.smpl"
    with pytest.warns(UserWarning, match="'dmpls'"):
        motion = read_motion(tmp_path / "dmpl.npz", up_axis="Y")
    write_smpl_codec(path, motion)
    with np.load(path) as npz:
        arrays = dict(npz)
    arrays["vertexOffsets"] = np.zeros((6890, 3), np.float32)
    arrays["vertexOffsets"][5] = (0, 0.1, 0)
    savez(path, **arrays)
    with pytest.warns(UserWarning, match="'vertexOffsets'.*up to 0.1 m.*not imported"):
        read_motion(path)
    arrays["vertexOffsets"][:] = 0  # all-zero offsets lose nothing: no warning
    savez(path, **arrays)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read_motion(path)


# -- 10: messages name what the caller can give ----------------------------------------------------------------------


def test_missing_inputs_are_structured_for_each_front_end(tmp_path, model):
    np.savez(tmp_path / "norate.npz", poses=np.zeros((5, 156)), trans=np.zeros((5, 3)))
    err = refused(read_motion, tmp_path / "norate.npz", "stores no frame rate", "pass fps=")
    assert err.needs == "fps"
    assert err.describe({"fps": "give --fps N"}).endswith("stores no frame rate: give --fps N")
    np.savez(tmp_path / "parts.npz", global_orient=np.zeros(3), body_pose=np.zeros(63))
    assert refused(read_motion, tmp_path / "parts.npz", "pass model=").needs == "model"
    (tmp_path / "nopose.json").write_text('{"camera": [1, 2, 3], "score": 0.5}')
    err = refused(read_motion, tmp_path / "nopose.json", "no pose found", "camera, score")
    assert err.needs is None and "model=" not in str(err)


# -- 11: values that are not plain, sane numbers ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "case, needle",
    [
        ("complex", "complex"),
        ("bool", "true/false"),
        ("text", "text"),
        ("trans", "beyond the plausible range"),
        ("rate", "not a usable rate"),
        ("int_overflow", "beyond the plausible range"),
    ],
)
def test_absurd_values_are_refused(tmp_path, model, case, needle):
    arrays = dict(poses=np.zeros((3, 156)), trans=np.zeros((3, 3)), mocap_framerate=30.0)
    if case == "complex":
        arrays["poses"] = arrays["poses"] + 1j
    elif case == "bool":
        arrays["poses"] = np.zeros((3, 156), bool)
    elif case == "text":
        arrays["trans"] = np.full((3, 3), "1.0")
    elif case == "trans":
        arrays["trans"] = np.full((3, 3), 1e308)
    elif case == "rate":
        arrays["mocap_framerate"] = 1e-300
    else:
        arrays["trans"] = np.full((3, 3), np.iinfo(np.int64).max)
    path = tmp_path / f"{case}.npz"
    np.savez(path, **arrays)
    refused(read_motion, path, needle)
    np.savez(tmp_path / "pose.npz", pose=arrays["poses"][0, :165] if case != "text" else arrays["trans"])
    if case not in ("rate", "trans"):
        refused(lambda p: read_pose_file(p, model), tmp_path / "pose.npz")


def test_a_json_pose_of_booleans_is_refused(tmp_path, model):
    (tmp_path / "bool.json").write_text('{"pose": [' + ", ".join(["true"] * 165) + "]}")
    refused(read_motion, tmp_path / "bool.json", "true/false")
    refused(lambda p: read_pose_file(p, model), tmp_path / "bool.json", "true/false")


# -- 8 / 12: outputs are complete files with the umask's permissions ---------------------------------------------


def test_written_files_honour_the_umask(tmp_path, model):
    motion = read_motion(_plain_motion(tmp_path / "in.npz"))
    old = os.umask(0o027)
    try:
        write_amass_npz(tmp_path / "a.npz", motion)
        write_smpl_codec(tmp_path / "b.smpl", motion.reframe("Y", model))
        file_io.atomic_write(tmp_path / "c.json", lambda f: f.write("{}"), mode="w")
    finally:
        os.umask(old)
    for name in ("a.npz", "b.smpl", "c.json"):
        assert stat.S_IMODE(os.stat(tmp_path / name).st_mode) == 0o640, name
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npz", "b.smpl", "c.json", "in.npz"]


def _plain_motion(path):
    np.savez(path, poses=np.zeros((3, 165)), trans=np.zeros((3, 3)), mocap_frame_rate=30.0, betas=np.zeros(10))
    return path


def test_a_pipe_is_refused_without_blocking(tmp_path, model):
    for name in ("pipe.npz", "pipe.json", "pipe.pkl"):
        os.mkfifo(tmp_path / name)  # opening a FIFO for reading blocks until someone writes
        refused(read_motion, tmp_path / name, "not a regular file")
        refused(lambda p: read_pose_file(p, model), tmp_path / name, "not a regular file")
    refused(read_model_file, tmp_path / "pipe.npz", "not a regular file", error=ModelFileError)


def test_a_model_folder_scan_passes_over_pipes_and_hostile_archives(tmp_path):
    from smpl_blender_addon.core.model_files import find_model_file

    folder = tmp_path / "models"
    folder.mkdir()
    savez(folder / "body.npz", **random_arrays("smpl", 50, seed=1))  # no known name: recognised by its weights
    os.mkfifo(folder / "pipe.npz")
    zip_of(folder / "zero.npz", {"weights": npy_header((10**12, 24), "|S0")})
    patched_zip(folder / "encrypted.npz", flag=1)
    with seconds(20):
        assert find_model_file(folder).name == "body.npz"
