# SPDX-License-Identifier: GPL-3.0-or-later
"""Motion files of the SMPL family: readers into :class:`~.motion.Motion` and writers.

Read (:func:`read_motion`, dispatched by content, then extension):
* AMASS ``.npz`` (SMPL+H 156 / SMPL-X 165 / SMPL 72 values per frame, or only the MoSh++ split keys), Z-up;
* Meshcapade-style ``.npz`` (``poses``/``trans``/``betas``, may lack gender and frame rate), Y-up;
* Meshcapade ``.smpl`` (smplcodec: an npz of camelCase keys, enums as int32), Y-up;
* EasyMocap output folders (``<out>/smpl/000000.json`` ...), ``Rh``/``Th`` about the model origin;
* SMPLify-X / AGORA-style ``.pkl`` fits, camera frame (only through the allow-list unpickler);
* single poses (JSON / ``.npz`` / ``.npy`` as the add-on's "write pose" writes them) as 1-frame motions.

Write: :func:`write_amass_npz` and :func:`write_smpl_codec`, atomically.

Every bad input raises :class:`MotionFileError` naming the file and the problem; nothing partial is returned.
Files are never unpickled except through :mod:`.safe_pickle`; ``.npz`` members are read with ``allow_pickle=False``
after their headers were checked (object members such as ``markers_latent_vids`` are skipped).
"""

import math
import os
import re
import warnings

import numpy as np

from . import conversions, layouts
from .errors import ModelFileError, MotionFileError
from .file_io import atomic_write, checked_floats, file_head, read_json, read_npy, read_npz
from .model import normalise_gender
from .motion import UP_AXES, Motion, pelvis_rest_joints
from .rotations import axis_angle_to_matrix, matrix_to_axis_angle

__all__ = ["read_motion", "write_amass_npz", "write_smpl_codec", "MAX_FRAMES"]

MAX_FRAMES = 10_000_000  # ~46 h at 60 fps; anything larger is a corrupt or hostile header
MAX_FPS = 100_000.0
MIN_FPS = 0.01  # one frame per 100 s (time lapse); below that a rate is a corrupt value
POSE_SIZES = {3 * len(names): kind for kind, names in layouts.JOINT_NAMES.items() if kind != "mano"}  # 72/156/165
RATE_KEYS = ("mocap_frame_rate", "mocap_framerate", "fps", "frameRate")  # AMASS SMPL-X, AMASS SMPL+H, Meshcapade
AMASS_TELLS = (
    "mocap_framerate",
    "mocap_frame_rate",
    "surface_model_type",
    "mocap_time_length",
    "dmpls",
    "marker_data",
    "markers_latent",
)  # keys that MoSh++ / AMASS write and Meshcapade exports do not
CODEC_KEYS = ("codecVersion", "smplVersion", "bodyPose", "bodyTranslation", "shapeParameters", "frameCount")
CODEC_VERSION = 2
CODEC_KINDS = {0: "smpl", 1: "smplh", 2: "smplx"}
CODEC_OTHER = {3: "SUPR", 4: "SMPLPP", 5: "SKEL", 6: "SMIL", 7: "SMPLXS"}
CODEC_GENDERS = {0: "neutral", 1: "male", 2: "female"}
EASYMOCAP_SIZES = {72: "smpl", 78: "smplh", 87: "smplx"}
SINGLE_POSE_FPS = 30.0  # a single pose has no duration; any rate will do
VPOSER_LATENT = 32


# ------------------------------------------------------------------------------------------------------------------
# Public entry point.


def read_motion(path, model=None, fps=None, gender=None, kind=None, person=None, up_axis=None):
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

    Returns:
        :class:`~.motion.Motion`. Raises :class:`MotionFileError` for any bad input.
    """
    path = os.fspath(path)
    if kind is not None and kind not in POSE_SIZES.values():
        raise ValueError(f"kind must be 'smpl', 'smplh' or 'smplx', got {kind!r}")
    if up_axis is not None and up_axis not in UP_AXES + ("camera",):
        raise ValueError(f"up_axis must be 'Y', 'Z' or 'camera', got {up_axis!r}")
    options = dict(model=model, fps=fps, gender=gender, kind=kind, person=person, up_axis=up_axis)
    if os.path.isdir(path):
        motion = _read_easymocap(path, _easymocap_frame_files(path), **options)
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
        if any(key in data for key in CODEC_KEYS):
            return _read_smpl_codec(path, data, **options)
        if any(key in data for key in ("poses", "root_orient", "pose_body")) and "pose" not in data:
            return _read_amass(path, data, **options)
        return _read_pose(path, data, **options)
    if head.startswith(b"\x93NUMPY"):
        return _read_pose(path, {"pose": read_npy(path, MotionFileError)}, **options)
    if head[:1] == b"\x80" or ext == ".pkl":
        return _read_smplify(path, **options)
    if ext in (".json", "") or head.lstrip()[:1] in (b"{", b"["):
        data = read_json(path, MotionFileError)
        people = _easymocap_people(data)
        if people is not None:
            return _read_easymocap(path, [path], preloaded={path: people}, **options)
        if isinstance(data, list):
            data = {"pose": data}
        if not isinstance(data, dict):
            raise MotionFileError(path, f"expected a JSON object with a pose, found {type(data).__name__}")
        if "pose" not in data and _is_frame_table(data.get("poses", data.get("pose_body"))):
            return _read_amass(path, data, **options)  # an AMASS-like motion written as JSON
        return _read_pose(path, data, **options)
    raise MotionFileError(
        path,
        f"unrecognised motion file ({ext or 'no extension'}): expected an AMASS / Meshcapade "
        ".npz, a .smpl file, an EasyMocap folder or .json, a SMPLify-X .pkl or a pose file",
    )


# ------------------------------------------------------------------------------------------------------------------
# Low-level readers and value checks.


def _is_frame_table(value):
    """Whether a JSON value is a list of per-frame rows (a motion rather than a single pose)."""
    return (
        isinstance(value, list)
        and len(value) > 0
        and all(isinstance(row, list) for row in value)
        and not all(len(row) == 3 for row in value)
    )  # (J, 3) joint rows are one pose


def _floats(path, key, value, shape=None):
    """``value`` as a finite float64 array; ``shape`` (with ``-1`` wildcards) is checked when given."""
    arr = checked_floats(path, key, value, MotionFileError)
    if shape is not None and (arr.ndim != len(shape) or any(s not in (-1, n) for s, n in zip(shape, arr.shape))):
        want = "(" + ", ".join("N" if s == -1 else str(s) for s in shape) + ")"
        raise MotionFileError(path, f"'{key}' has shape {arr.shape}, expected {want}")
    return arr


def _scalar(path, key, value):
    """A number from a 0-d / 1-element array or a Python number."""
    arr = np.asarray(value)
    if arr.size != 1 or arr.dtype.kind not in "iuf":
        raise MotionFileError(path, f"'{key}' should be one number, found {arr.dtype} array of shape {arr.shape}")
    number = arr.reshape(()).item()
    if not math.isfinite(number):
        raise MotionFileError(path, f"'{key}' is {number}")
    return number


def _text(value):
    """str from a str / bytes / 0-d or 1-element str or bytes array (AMASS genders come in all of these)."""
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "US" or value.size != 1:
            return None
        value = value.reshape(()).item()
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    return value.strip() if isinstance(value, str) else None


def _gender(path, value, fallback):
    if value is None:
        return _gender(path, fallback, None) if fallback is not None else None
    text = _text(value)
    if text is None:
        raise MotionFileError(path, f"gender {value!r} is not text")
    if not text:  # written as "" when unknown
        return _gender(path, fallback, None) if fallback is not None else None
    try:
        return normalise_gender(text, path)
    except ModelFileError as err:
        raise MotionFileError(path, err.problem) from None


def _frame_rate(path, value, key):
    rate = float(_scalar(path, key, value))
    if not MIN_FPS <= rate <= MAX_FPS:
        raise MotionFileError(
            path, f"frame rate '{key}' = {rate:g} is not a usable rate ({MIN_FPS:g} to {MAX_FPS:g} frames per second)"
        )
    return rate


def _fps_or_ask(path, num_frames, fps, what):
    """The user's ``fps`` for a file without a rate; 1-frame data needs none."""
    if fps is not None:
        return _frame_rate(path, fps, "fps=")
    if num_frames <= 1:
        return SINGLE_POSE_FPS
    raise MotionFileError(path, f"{what} stores no frame rate", needs="fps")


def _check_frames(path, num_frames, key):
    if num_frames > MAX_FRAMES:
        raise MotionFileError(path, f"'{key}' has {num_frames} frames, more than the {MAX_FRAMES} frame limit")


def _check_kind(path, found, asked, what):
    if asked is not None and asked != found:
        raise MotionFileError(
            path,
            f"{what} is {found} data, but kind={asked!r} was asked "
            f"({3 * len(layouts.JOINT_NAMES[asked])} values per frame)",
        )


def _make_motion(path, **fields):
    """A checked Motion (a ValueError from its own checks becomes a MotionFileError)."""
    if len(fields["poses"]) == 0:
        raise MotionFileError(path, "the file holds no frames")
    try:
        return Motion(source=path, **fields)
    except ValueError as err:
        raise MotionFileError(path, str(err)) from None


def _require_model(path, model, why):
    if model is None:
        raise MotionFileError(path, why, needs="model")


# ------------------------------------------------------------------------------------------------------------------
# AMASS and Meshcapade-style .npz.


def _pose_kind_from_size(path, key, size):
    kind = POSE_SIZES.get(size)
    if kind is None:
        raise MotionFileError(
            path, f"'{key}' has {size} values per frame; expected 72 (SMPL), 156 (SMPL-H) or 165 (SMPL-X)"
        )
    return kind


def _frames_2d(path, key, value, width=None):
    """Per-frame values ``(F, n)`` from ``(F, n)``, ``(F, J, 3)`` or a single ``(n,)`` frame."""
    arr = _floats(path, key, value)
    if arr.ndim == 1:
        arr = arr[None]
    elif arr.ndim == 3 and arr.shape[2] == 3:
        arr = arr.reshape(arr.shape[0], -1)
    if arr.ndim != 2 or (width is not None and arr.shape[1] != width):
        want = f"(N, {width})" if width is not None else "(N, values)"
        raise MotionFileError(path, f"'{key}' has shape {arr.shape}, expected {want}")
    _check_frames(path, arr.shape[0], key)
    return arr


def _split_poses(path, data, kind):
    """Full poses from the MoSh++ split keys (root_orient, pose_body, pose_hand, pose_jaw, pose_eye)."""
    if "pose_body" not in data:
        raise MotionFileError(path, "no 'poses' and no 'pose_body': no motion in this file")
    body = _frames_2d(path, "pose_body", data["pose_body"])
    F = body.shape[0]
    parts = {"pose_body": body}
    for key in ("root_orient", "pose_hand", "pose_jaw", "pose_eye"):
        if key in data and np.size(data[key]):
            parts[key] = _frames_2d(path, key, data[key])
            if parts[key].shape[0] != F:
                raise MotionFileError(path, f"'{key}' has {parts[key].shape[0]} frames, 'pose_body' has {F}")
    hand_width = parts["pose_hand"].shape[1] if "pose_hand" in parts else None
    if kind is None:
        kind = "smplx" if ("pose_jaw" in parts or "pose_eye" in parts) else {90: "smplh", 6: "smpl"}.get(hand_width)
    kind = kind or "smplh"  # body only: every kind has these 22 joints
    widths = {"root_orient": 3, "pose_body": 63, "pose_jaw": 3, "pose_eye": 6, "pose_hand": 6 if kind == "smpl" else 90}
    if kind == "smpl" and body.shape[1] == 69:  # SMPL body incl. its two hand joints
        widths["pose_body"], widths["pose_hand"] = 69, 0
    for key, part in parts.items():
        if part.shape[1] != widths[key]:
            raise MotionFileError(
                path, f"'{key}' has {part.shape[1]} values per frame, a {kind} motion needs {widths[key]}"
            )
    if kind != "smplx" and ("pose_jaw" in parts or "pose_eye" in parts):
        raise MotionFileError(path, f"'pose_jaw' / 'pose_eye' present but the data is {kind}")
    zeros = np.zeros((F, 0))
    order = ["root_orient", "pose_body"] + (["pose_jaw", "pose_eye"] if kind == "smplx" else []) + ["pose_hand"]
    blocks = [parts.get(key, np.zeros((F, widths[key])) if widths[key] else zeros) for key in order]
    return np.concatenate(blocks, axis=1), kind


def _read_amass(path, data, model, fps, gender, kind, up_axis, **_):
    label = _text(data.get("surface_model_type"))
    labelled = None
    if label:
        labelled = next((k for k in ("smplx", "smplh", "smpl") if label.lower().startswith(k)), None)
        if labelled is None:
            raise MotionFileError(path, f"surface_model_type {label!r} is not SMPL, SMPL-H or SMPL-X")
    if "poses" in data:
        poses = _frames_2d(path, "poses", data["poses"])
        found = _pose_kind_from_size(path, "poses", poses.shape[1])
    else:
        poses, found = _split_poses(path, data, kind or labelled)
    if labelled is not None and labelled != found:
        raise MotionFileError(
            path,
            f"'poses' has {poses.shape[1]} values per frame ({found} layout), but the file is "
            f"labelled surface_model_type={label!r}",
        )
    _check_kind(path, found, kind, "the file")
    F = poses.shape[0]
    trans = _frames_2d(path, "trans", data["trans"], 3) if "trans" in data else np.zeros((F, 3))
    if trans.shape[0] != F:
        raise MotionFileError(path, f"'trans' has {trans.shape[0]} frames, 'poses' has {F}")
    betas = _floats(path, "betas", data.get("betas", np.zeros(0)))
    if betas.ndim == 2:  # per-frame betas: one shape is used for the sequence
        if betas.shape[0] > 1 and np.ptp(betas, axis=0).max() > 1e-6:
            warnings.warn(f"{path}: betas vary per frame; the first frame's shape is used", stacklevel=3)
        betas = betas[0]
    if betas.ndim != 1:
        raise MotionFileError(path, f"'betas' has shape {betas.shape}, expected (num_betas,)")
    if "v_template" in data and "betas" not in data:
        warnings.warn(
            f"{path}: the body shape is a subject template (v_template), not betas; it is not imported", stacklevel=3
        )
    if "dmpls" in data and np.size(data["dmpls"]) and np.any(np.asarray(data["dmpls"]) != 0):
        warnings.warn(
            f"{path}: 'dmpls' (soft-tissue dynamics, {np.shape(data['dmpls'])}) are not imported: DMPL "
            "is not supported, the body moves without them",
            stacklevel=3,
        )
    expression = None
    if found == "smplx" and "expression" in data and np.size(data["expression"]):
        expression = _frames_2d(path, "expression", data["expression"])
        if expression.shape[0] != F:
            raise MotionFileError(path, f"'expression' has {expression.shape[0]} frames, 'poses' has {F}")
    rate_key = next((k for k in RATE_KEYS if k in data), None)
    rate = _frame_rate(path, data[rate_key], rate_key) if rate_key else _fps_or_ask(path, F, fps, "this .npz file")
    if up_axis is None:
        meshcapade = "pose_foot" in data or not any(k in data for k in AMASS_TELLS)
        up_axis = "Y" if meshcapade else "Z"
    if up_axis == "camera":
        raise MotionFileError(path, "up_axis='camera' applies to SMPLify-X fits only; use 'Y' or 'Z'")
    return _make_motion(
        path,
        fps=rate,
        poses=poses,
        trans=trans,
        betas=betas,
        expression=expression,
        gender=_gender(path, data.get("gender"), gender),
        kind=found,
        up_axis=up_axis,
    )


# ------------------------------------------------------------------------------------------------------------------
# Meshcapade .smpl (smplcodec).


def _read_smpl_codec(path, data, model, fps, gender, kind, up_axis, **_):
    version = int(_scalar(path, "codecVersion", data["codecVersion"])) if "codecVersion" in data else 1
    if version > CODEC_VERSION:
        raise MotionFileError(path, f"codecVersion {version} is newer than the supported {CODEC_VERSION}")
    smpl_version = int(_scalar(path, "smplVersion", data["smplVersion"])) if "smplVersion" in data else 2
    if smpl_version in CODEC_OTHER:
        raise MotionFileError(
            path,
            f"smplVersion {smpl_version} ({CODEC_OTHER[smpl_version]}) is not supported; only SMPL, SMPL-H and SMPL-X",
        )
    if smpl_version not in CODEC_KINDS:
        raise MotionFileError(path, f"unknown smplVersion {smpl_version}")
    found = CODEC_KINDS[smpl_version]
    _check_kind(path, found, kind, "the file")
    gender_code = int(_scalar(path, "gender", data["gender"])) if "gender" in data else None
    if gender_code is not None and gender_code not in CODEC_GENDERS:
        raise MotionFileError(path, f"unknown gender code {gender_code} (0 neutral, 1 male, 2 female)")
    parts = {"bodyPose": (22 if found != "smpl" else 24, 3)}
    if found != "smpl":
        parts.update(leftHandPose=(15, 3), rightHandPose=(15, 3))
    if found == "smplx":
        parts["headPose"] = (3, 3)
    per_frame = [k for k in list(parts) + ["bodyTranslation", "expressionParameters"] if k in data]
    if "frameCount" in data:
        F = int(_scalar(path, "frameCount", data["frameCount"]))
        if not 0 <= F <= MAX_FRAMES:
            raise MotionFileError(path, f"frameCount {F} is not a usable frame count (limit {MAX_FRAMES})")
    elif per_frame:
        raise MotionFileError(path, f"'{per_frame[0]}' is present but 'frameCount' is missing")
    else:
        F = 0
    count = max(F, 1)  # a shape-only avatar becomes one frame in the rest pose
    if F == 0 and per_frame:
        raise MotionFileError(path, f"frameCount is 0 but '{per_frame[0]}' is present")
    if F > 1 and not per_frame:  # the frames must come from data present, not from a number in a header
        raise MotionFileError(
            path, f"frameCount is {F} but the file holds no per-frame arrays (bodyPose, bodyTranslation, ...)"
        )
    offsets = np.abs(_floats(path, "vertexOffsets", data["vertexOffsets"])) if "vertexOffsets" in data else None
    if offsets is not None and offsets.size and offsets.max() > 0:
        warnings.warn(
            f"{path}: 'vertexOffsets' (per-vertex shape offsets, up to {offsets.max():.3g} m) are not "
            "imported: the body has the shape of its shapeParameters only",
            stacklevel=3,
        )
    arrays = {}
    for key, shape in list(parts.items()) + [("bodyTranslation", (3,))]:
        arrays[key] = _floats(path, key, data[key], (count,) + shape) if key in data else np.zeros((count,) + shape)
    order = (
        ["bodyPose"]
        + (["headPose"] if found == "smplx" else [])
        + (["leftHandPose", "rightHandPose"] if found != "smpl" else [])
    )
    poses = np.concatenate([arrays[key].reshape(count, -1) for key in order], axis=1)
    expression = None
    if "expressionParameters" in data:
        expression = _floats(path, "expressionParameters", data["expressionParameters"], (count, -1))
        expression = expression if found == "smplx" else None
    betas = _floats(path, "shapeParameters", data.get("shapeParameters", np.zeros(0)), (-1,))
    rate = (
        _frame_rate(path, data["frameRate"], "frameRate")
        if "frameRate" in data
        else _fps_or_ask(path, F, fps, "this .smpl file")
    )
    return _make_motion(
        path,
        fps=rate,
        poses=poses,
        trans=arrays["bodyTranslation"],
        betas=betas,
        expression=expression,
        kind=found,
        up_axis=_plain_up_axis(path, up_axis, "Y"),
        gender=CODEC_GENDERS[gender_code] if gender_code is not None else _gender(path, gender, None),
    )


def _plain_up_axis(path, up_axis, default):
    if up_axis == "camera":
        raise MotionFileError(path, "up_axis='camera' applies to SMPLify-X fits only; use 'Y' or 'Z'")
    return up_axis or default


# ------------------------------------------------------------------------------------------------------------------
# EasyMocap.


def _easymocap_frame_files(folder):
    """Sorted ``*.json`` frames of an EasyMocap output folder (``<out>/smpl/`` or the ``smpl`` folder itself)."""
    sub = os.path.join(folder, "smpl")
    base = sub if os.path.isdir(sub) else folder
    try:
        names = [n for n in os.listdir(base) if n.lower().endswith(".json")]
    except OSError as err:
        raise MotionFileError(folder, f"cannot list the folder: {err}") from None
    if not names:
        raise MotionFileError(
            folder,
            "no EasyMocap frames: expected <folder>/smpl/000000.json ... (or the .json files directly in the folder)",
        )
    _check_frames(folder, len(names), "smpl/*.json")

    def order(name):
        digits = re.findall(r"\d+", name)
        return (int(digits[-1]) if digits else -1, name)

    return [os.path.join(base, n) for n in sorted(names, key=order)]


def _easymocap_people(data):
    """The person list of one EasyMocap frame (list, or ``{"annots": [...]}``), or ``None`` if it is not one."""
    if isinstance(data, dict) and isinstance(data.get("annots"), list):
        data = data["annots"]
    if isinstance(data, list) and data and all(isinstance(p, dict) and "Rh" in p and "poses" in p for p in data):
        return data
    if isinstance(data, list) and not data:
        return data
    return None


def _easymocap_person(path, people, person):
    if person is None:
        return min(people, key=lambda p: _person_id(path, p)) if people else None
    return next((p for p in people if _person_id(path, p) == person), None)


def _person_id(path, record):
    try:
        return int(record.get("id", 0))
    except (TypeError, ValueError):
        raise MotionFileError(path, f"person id {record.get('id')!r} is not an integer") from None


def _read_easymocap(source, files, model, fps, gender, kind, person, up_axis, preloaded=None, **_):
    """EasyMocap frames -> Motion; ``V = R(Rh) M(poses, shapes) + Th`` is rewritten exactly into smplx parameters."""
    _require_model(source, model, "EasyMocap Rh/Th need the pelvis rest joint J_0 and its hands the PCA basis")
    records = []
    for file in files:
        people = (preloaded or {}).get(file)
        if people is None:
            people = _easymocap_people(read_json(file, MotionFileError))
            if people is None:
                raise MotionFileError(
                    file,
                    "not an EasyMocap frame: expected a list of people with 'Rh', 'Th', "
                    "'poses' (or {\"annots\": [...]})",
                )
        if person is None and records == [] and people:
            person = _person_id(file, _easymocap_person(file, people, None))
        record = _easymocap_person(file, people, person)
        if record is None:
            raise MotionFileError(
                file, f"person id {person} is not in this frame" if person is not None else "no person in this frame"
            )
        records.append((file, record))
    fields = {}
    for key, width in (("Rh", 3), ("Th", 3), ("poses", None), ("shapes", None), ("expression", None)):
        rows = []
        for file, record in records:
            if key not in record:
                if key in ("expression", "shapes"):
                    continue
                raise MotionFileError(file, f"person {person}: '{key}' is missing")
            value = _floats(file, key, record[key])
            rows.append(value.reshape(-1))
            if (width and rows[-1].size != width) or rows[-1].size != rows[0].size:
                raise MotionFileError(
                    file, f"person {person}: '{key}' has {rows[-1].size} values, expected {width or rows[0].size}"
                )
        if rows and len(rows) != len(records):
            raise MotionFileError(source, f"person {person}: '{key}' is present in some frames only")
        fields[key] = np.stack(rows) if rows else None
    size = fields["poses"].shape[1]
    found = EASYMOCAP_SIZES.get(size)
    if found is None:
        raise MotionFileError(
            records[0][0],
            f"'poses' has {size} values; EasyMocap writes 72 (SMPL), 78 (SMPL-H: "
            "66 + 6 + 6 hand PCA) or 87 (SMPL-X: 66 + 6 + 6 + 9 jaw/eyes)",
        )
    _check_kind(source, found, kind, "the EasyMocap output")
    if model.kind != found:
        raise MotionFileError(
            source,
            f"EasyMocap {found} data need the {found} model they were fitted with "
            f"(given a {model.kind} model): Rh/Th depend on its J_0",
        )
    poses = _easymocap_full_poses(source, fields["poses"], found, model)
    betas = fields["shapes"].mean(axis=0) if fields["shapes"] is not None else np.zeros(0)
    if fields["shapes"] is not None and np.ptp(fields["shapes"], axis=0).max() > 1e-3:
        warnings.warn(f"{source}: shapes vary per frame; their mean is used for the sequence", stacklevel=3)
    expression = fields["expression"] if found == "smplx" else None
    rate = _fps_or_ask(source, len(records), fps, "an EasyMocap folder")
    motion = _make_motion(
        source,
        fps=rate,
        poses=poses,
        trans=np.zeros((len(records), 3)),
        betas=betas,
        expression=expression,
        gender=_gender(source, gender, None),
        kind=found,
        up_axis=_plain_up_axis(source, up_axis, "Z"),
    )
    # EasyMocap rotates about the model origin and keeps poses[:3] (about J_0) apart: V = Rh (R0 (v - J0) + J0) + Th,
    # so global_orient = Rh R0 and transl = Th - J0 + Rh J0 (conversions.easymocap_to_smplx).
    pelvis = pelvis_rest_joints(motion, model)
    _, motion.trans = conversions.easymocap_to_smplx(fields["Rh"], fields["Th"], pelvis)
    root = axis_angle_to_matrix(fields["Rh"]) @ axis_angle_to_matrix(poses[:, :3])
    motion.poses[:, :3] = matrix_to_axis_angle(root)
    return motion


def _easymocap_full_poses(path, raw, kind, model):
    """EasyMocap poses (F, 72 | 78 | 87) -> full axis-angle poses in the model layout (flat hand mean)."""
    if kind == "smpl":
        return raw.copy()
    left, right = _hand_components(path, model)
    hands = [
        conversions.hand_pca_to_axis_angle(raw[:, 66 + 6 * i : 72 + 6 * i], comps)
        for i, comps in enumerate((left, right))
    ]
    head = [raw[:, 78:87]] if kind == "smplx" else []  # EasyMocap puts jaw/eyes last, the standard layout before hands
    return np.concatenate([raw[:, :66]] + head + hands, axis=1)


def _hand_components(path, model):
    left, right = model.hands_components_left, model.hands_components_right
    if left is None or right is None:
        raise MotionFileError(
            path,
            f"the hands are PCA coefficients, and the {model.kind} model {model.name or ''} "
            "has no hand PCA components (hands_components)",
        )
    return np.asarray(left, np.float64), np.asarray(right, np.float64)


# ------------------------------------------------------------------------------------------------------------------
# SMPLify-X / AGORA-style fits and single poses (through core.pose_files).


class _PoseLayout:
    """The joint layout of a kind, all :func:`pose_files.read_pose_file` needs for a full-pose file."""

    hands_components_left = hands_components_right = hands_mean_left = hands_mean_right = None

    def __init__(self, kind):
        self.kind = kind
        self.joint_names = list(layouts.JOINT_NAMES[kind])
        self.num_joints = len(self.joint_names)
        self.name = f"{kind} layout"


def _single_pose_motion(path, record, model, fps, gender, kind, up_axis, file_gender=None):
    """1-frame Motion from a :func:`pose_files.read_pose_file` record (pose (3J,), transl, betas, expression)."""
    pose = record["pose"]
    found = POSE_SIZES[pose.size]
    _check_kind(path, found, kind, "the pose")
    expression = record["expression"]
    if expression is not None:
        expression = expression.reshape(1, -1) if found == "smplx" and expression.size else None
    transl = record["transl"]
    return _make_motion(
        path,
        fps=_fps_or_ask(path, 1, fps, ""),
        poses=pose[None],
        trans=np.zeros((1, 3)) if transl is None else transl.reshape(1, 3),
        betas=np.zeros(0) if record["betas"] is None else record["betas"],
        expression=expression,
        gender=_gender(path, file_gender, gender),
        kind=found,
        up_axis=_plain_up_axis(path, up_axis, "Y"),
    )


def _full_pose_kind(path, data, kind):
    """Kind of a full-pose file from its ``model`` field or the pose size; ``None`` for split-part files."""
    key = next((k for k in ("pose", "poses", "full_pose", "fullpose") if k in data), None)
    if key is None:
        return None
    try:
        arr = np.asarray(data[key], dtype=np.float64)
    except (TypeError, ValueError):
        raise MotionFileError(path, f"'{key}' is not numeric") from None
    if arr.size == 0:
        raise MotionFileError(path, f"'{key}' is empty (shape {arr.shape}): the file holds no frames")
    if arr.size in POSE_SIZES or arr.ndim <= 1:
        frames, per_frame = 1, arr.size  # (3J,), (J, 3) or (1, 3J)
    elif arr.shape[-2:] == (3, 3):  # rotation matrices (J, 3, 3) or (N, J, 3, 3)
        frames, per_frame = (arr.shape[0] if arr.ndim == 4 else 1), 3 * arr.shape[-3] if arr.ndim >= 3 else 3
    else:
        frames, per_frame = arr.shape[0], arr.size // max(arr.shape[0], 1)
    if per_frame == VPOSER_LATENT:
        raise MotionFileError(
            path, f"'{key}' has 32 values: a VPoser latent code, not an axis-angle pose; decode it with VPoser first"
        )
    if frames > 1:
        raise MotionFileError(
            path,
            f"'{key}' holds {frames} frames: a pose file holds one (store a motion as "
            "'poses' (N, 3J) with 'trans' (N, 3) and a frame rate)",
        )
    label = _text(data.get("model"))
    labelled = next((k for k in ("smplx", "smplh", "smpl") if label and label.lower().startswith(k)), None)
    found = _pose_kind_from_size(path, key, per_frame)
    if labelled is not None and labelled != found:
        raise MotionFileError(
            path, f"'{key}' has {per_frame} values ({found} layout) but the file says model {label!r}"
        )
    return found


def _read_pose(path, data, model, fps, gender, kind, up_axis, **_):
    from .pose_files import check_split_pose, read_pose_file

    found = _full_pose_kind(path, data, kind)
    if found is None:
        check_split_pose(path, data)
        _require_model(
            path,
            model,
            "a pose given as separate parts (global_orient, body_pose, hands...) is read in the model's layout",
        )
        layout = model
    else:
        layout = _PoseLayout(found)
    record = read_pose_file(path, layout)
    return _single_pose_motion(path, record, model, fps, gender, kind, up_axis, file_gender=data.get("gender"))


def _read_smplify(path, model, fps, gender, kind, up_axis, **_):
    """SMPLify-X result (camera frame, y down) or AGORA-style fit, read only through the allow-list unpickler."""
    from .pose_files import read_pose_file
    from .safe_pickle import load_pickle_dict

    data = load_pickle_dict(path, error=MotionFileError)
    for key, value in data.items():
        if isinstance(value, np.ndarray) and value.ndim >= 2 and value.shape[0] > 1 and key.endswith("_pose"):
            raise MotionFileError(path, f"'{key}' holds {value.shape[0]} fits; only single-frame fits are supported")
    body = data.get("body_pose")
    if body is not None and np.size(body) == VPOSER_LATENT:
        raise MotionFileError(
            path,
            "'body_pose' has 32 values: this is a VPoser latent code (SMPLify-X default "
            "use_vposer: True), not axis-angle; decode it with VPoser first",
        )
    _require_model(path, model, "SMPLify-X fits need the model for the hand PCA, the relaxed hand mean and J_0")
    record = read_pose_file(path, model)
    motion = _single_pose_motion(
        path,
        record,
        model,
        fps,
        gender,
        kind,
        up_axis="Y",
        file_gender=data.get("gender") if isinstance(data.get("gender"), (str, bytes)) else None,
    )
    if up_axis in ("Y", "Z"):
        motion.up_axis = up_axis
        return motion
    rotation = _camera_value(path, data, "camera_rotation", 9, np.eye(3)).reshape(3, 3)
    offset = _camera_value(path, data, "camera_translation", 3, np.zeros(3))
    if np.abs(rotation @ rotation.T - np.eye(3)).max() > 1e-4 or np.linalg.det(rotation) < 0:
        raise MotionFileError(path, "'camera_rotation' is not a rotation matrix")
    # The fitted body is seen by the camera as v_cam = R_c v + t_c; then OpenCV (y down, z forward) -> Y-up.
    world = conversions.CAMERA_TO_Y_UP @ rotation
    pelvis = pelvis_rest_joints(motion, model)
    motion.poses[:, :3], motion.trans = conversions.reframe(motion.poses[:, :3], motion.trans, world, pelvis)
    motion.trans = motion.trans + conversions.CAMERA_TO_Y_UP @ offset
    return motion


def _camera_value(path, data, key, size, default):
    """A fit's camera parameter as ``size`` floats (stored with a leading batch of 1), or ``default``."""
    if key not in data:
        return default
    value = _floats(path, key, data[key]).reshape(-1)
    if value.size != size:
        raise MotionFileError(path, f"'{key}' has {value.size} values, expected {size}")
    return value


# ------------------------------------------------------------------------------------------------------------------
# Writers.


def _atomic_savez(path, arrays, compressed=False):
    """Write an npz through :func:`.file_io.atomic_write`: never a half-written file."""
    return atomic_write(path, lambda stream: (np.savez_compressed if compressed else np.savez)(stream, **arrays))


def _in_world(path, motion, up_axis, model):
    if motion.up_axis == up_axis:
        return motion
    if model is None:
        raise MotionFileError(
            path,
            f"the motion is {motion.up_axis}-up and this format is {up_axis}-up: pass model= "
            "to re-frame it (the root rotates about J_0, which depends on the shape)",
        )
    return motion.reframe(up_axis, model)


def write_amass_npz(path, motion, model=None):
    """Write ``motion`` as an AMASS / MoSh++-style ``.npz`` (Z-up; a Y-up motion is re-framed with ``model``).

    Keys: ``poses (F, 3J)`` in the motion's layout, ``trans (F, 3)``, ``betas``, ``num_betas``, ``gender``,
    ``surface_model_type``, the frame-rate key of the layout (``mocap_framerate`` SMPL-H, ``mocap_frame_rate``
    SMPL-X, both for SMPL), ``mocap_time_length``, the split ``root_orient``, ``pose_body``, ``pose_hand``
    (+ ``pose_jaw``, ``pose_eye``, ``expression`` for SMPL-X). Numeric and fixed-width unicode only, so the file
    loads with ``allow_pickle=False``. Returns the path.
    """
    motion = _in_world(path, motion, "Z", model)
    poses = motion.poses
    F = motion.num_frames
    arrays = {
        "poses": poses,
        "trans": motion.trans,
        "betas": motion.betas,
        "num_betas": np.array(motion.betas.size, dtype=np.int64),
        "gender": np.array(motion.gender or "neutral"),
        "surface_model_type": np.array(motion.kind),
        "mocap_time_length": np.array(F / motion.fps),
        "root_orient": poses[:, :3],
        "pose_body": poses[:, 3:66],
    }
    if motion.kind in ("smpl", "smplh"):
        arrays["mocap_framerate"] = np.array(motion.fps)
    if motion.kind in ("smpl", "smplx"):
        arrays["mocap_frame_rate"] = np.array(motion.fps)
    if motion.kind == "smplx":
        arrays.update(pose_jaw=poses[:, 66:69], pose_eye=poses[:, 69:75], pose_hand=poses[:, 75:165])
        if motion.expression is not None:
            arrays.update(
                expression=motion.expression, num_expressions=np.array(motion.expression.shape[1], dtype=np.int64)
            )
    else:
        arrays["pose_hand"] = poses[:, 66:]  # SMPL-H: 90 finger values; SMPL: its two hand joints
    return _atomic_savez(path, {k: np.asarray(v, order="C") for k, v in arrays.items()})


def write_smpl_codec(path, motion, model=None):
    """Write ``motion`` as a Meshcapade ``.smpl`` file (smplcodec 2.x layout; Y-up, a Z-up motion is re-framed).

    int32 ``codecVersion`` (2), ``smplVersion`` (0 SMPL, 1 SMPL-H, 2 SMPL-X), ``gender`` (0 neutral, 1 male,
    2 female), ``frameCount``; float32 ``frameRate``, ``shapeParameters``, ``bodyTranslation (F, 3)``,
    ``bodyPose (F, 22|24, 3)`` with the pelvis as joint 0, ``headPose (F, 3, 3)`` (SMPL-X), ``left/rightHandPose
    (F, 15, 3)``, ``expressionParameters (F, n)`` (SMPL-X). ``np.savez_compressed``, atomically. Returns the path.
    """
    motion = _in_world(path, motion, "Y", model)
    F = motion.num_frames
    joints = motion.poses.reshape(F, -1, 3).astype(np.float32)
    f32 = np.float32
    arrays = {
        "codecVersion": np.array(CODEC_VERSION, dtype=np.int32),
        "smplVersion": np.array({v: k for k, v in CODEC_KINDS.items()}[motion.kind], dtype=np.int32),
        "gender": np.array({v: k for k, v in CODEC_GENDERS.items()}[motion.gender or "neutral"], dtype=np.int32),
        "shapeParameters": (motion.betas if motion.betas.size else np.zeros(10)).astype(f32),
        "frameCount": np.array(F, dtype=np.int32),
        "frameRate": np.array(motion.fps, dtype=f32),
        "bodyTranslation": motion.trans.astype(f32),
    }
    if motion.kind == "smpl":
        arrays["bodyPose"] = joints
    else:
        hands = 22 if motion.kind == "smplh" else 25
        arrays["bodyPose"] = joints[:, :22]
        arrays["leftHandPose"] = joints[:, hands : hands + 15]
        arrays["rightHandPose"] = joints[:, hands + 15 : hands + 30]
    if motion.kind == "smplx":
        arrays["headPose"] = joints[:, 22:25]
        if motion.expression is not None:
            arrays["expressionParameters"] = motion.expression.astype(f32)
    return _atomic_savez(path, {k: np.asarray(v, order="C") for k, v in arrays.items()}, compressed=True)
