# SPDX-License-Identifier: GPL-3.0-or-later
"""Read a motion file or folder: tell its format by content, then by extension, and hand it to that reader."""

import os

from ..errors import MotionFileError
from ..file_io import file_head, read_json, read_npy, read_npz
from ..motion import UP_AXES
from . import amass, checks, easymocap, pose_files, smpl_codec, smplify

__all__ = ["read_motion"]


def read_motion(path, model=None, fps=None, gender=None, kind=None, person=None, up_axis=None, vposer=None):
    """Read a motion (or a single pose as a 1-frame motion) from ``path``.

    Args:
        path: a motion file or an EasyMocap output folder.
        model: a :class:`~.model.BodyModel`. Required for EasyMocap (``J_0`` and hand PCA), SMPLify-X fits (hand PCA,
            camera re-framing) and split-part pose files. When given, the result is converted to ``model.kind``
            (:meth:`Motion.to_kind`; betas are dropped with a warning across shape spaces).
        fps: frame rate to use when the file stores none (a multi-frame file without a rate and without ``fps``
            is an error, never a guess); a rate stored in the file wins.
        gender: gender to use when the file stores none.
        kind: the layout the data in the file is in, when its content does not say (e.g. split keys without hands).
            A file whose content contradicts ``kind`` is refused.
        person: EasyMocap person id (default: the lowest id in the first frame).
        up_axis: the world the data is in, overriding the format's default: AMASS ``"Z"``, Meshcapade ``"Y"``,
            EasyMocap ``"Z"`` (the calibration's world: often Z-up, not guaranteed), pose files ``"Y"``. For
            SMPLify-X fits the default ``"camera"`` applies the fit's camera and ``CAMERA_TO_Y_UP`` (result Y-up);
            ``"Y"``/``"Z"`` take the parameters as they are.
        vposer: a :class:`~..vposer.VPoser` (or the path of its checkpoint / experiment folder, loaded when needed)
            to decode a VPoser latent body pose (SMPLify-X fits with ``use_vposer: True`` store the 32-D latent code
            as ``body_pose``). Use the VPoser the fit was made with. Without it such a file is refused
            (``needs="vposer"``).

    Returns:
        :class:`~.motion.Motion`. Raises :class:`MotionFileError` for any bad input.
    """
    path = os.fspath(path)
    if kind is not None and kind not in checks.POSE_SIZES.values():
        raise ValueError(f"kind must be 'smpl', 'smplh' or 'smplx', got {kind!r}")
    if up_axis is not None and up_axis not in UP_AXES + ("camera",):
        raise ValueError(f"up_axis must be 'Y', 'Z' or 'camera', got {up_axis!r}")
    options = dict(model=model, fps=fps, gender=gender, kind=kind, person=person, up_axis=up_axis, vposer=vposer)
    if os.path.isdir(path):
        motion = easymocap.read_easymocap(path, easymocap.frame_files(path), **options)
    else:
        motion = _read_file(path, **options)
    if model is not None and motion.kind != model.kind:
        motion = motion.to_kind(model.kind)
    return motion


def _read_file(path, **options):
    """Dispatch a single file by content (zip / JSON / pickle), then by extension."""
    if not os.path.exists(path):
        raise MotionFileError(path, "file not found")
    head, size = file_head(path, 8, MotionFileError)
    ext = os.path.splitext(path)[1].lower()
    if head.startswith(b"PK"):  # npz / .smpl are zip archives
        data, skipped = read_npz(path, MotionFileError)
        if not data:
            raise MotionFileError(path, "the archive holds no numeric arrays")
        if any(key in data for key in smpl_codec.CODEC_KEYS):
            return smpl_codec.read_smpl_codec(path, data, **options)
        if any(key in data for key in ("poses", "root_orient", "pose_body")) and "pose" not in data:
            return amass.read_amass(path, data, **options)
        return pose_files.read_pose_motion(path, data, **options)
    if head.startswith(b"\x93NUMPY"):
        return pose_files.read_pose_motion(path, {"pose": read_npy(path, MotionFileError)}, **options)
    if head[:1] == b"\x80" or ext == ".pkl":
        return smplify.read_smplify(path, **options)
    if ext in (".json", "") or head.lstrip()[:1] in (b"{", b"["):
        data = read_json(path, MotionFileError)
        people = easymocap.people_of_frame(data)
        if people is not None:
            return easymocap.read_easymocap(path, [path], preloaded={path: people}, **options)
        if isinstance(data, list):
            data = {"pose": data}
        if not isinstance(data, dict):
            raise MotionFileError(path, f"expected a JSON object with a pose, found {type(data).__name__}")
        if "pose" not in data and _is_frame_table(data.get("poses", data.get("pose_body"))):
            return amass.read_amass(path, data, **options)  # an AMASS-like motion written as JSON
        return pose_files.read_pose_motion(path, data, **options)
    raise MotionFileError(
        path,
        f"unrecognised motion file ({ext or 'no extension'}): expected an AMASS / Meshcapade "
        ".npz, a .smpl file, an EasyMocap folder or .json, a SMPLify-X .pkl or a pose file",
    )


def _is_frame_table(value):
    """Whether a JSON value is a list of per-frame rows (a motion rather than a single pose)."""
    return (
        isinstance(value, list)
        and len(value) > 0
        and all(isinstance(row, list) for row in value)
        and not all(len(row) == 3 for row in value)
    )  # (J, 3) joint rows are one pose
