# SPDX-License-Identifier: GPL-3.0-or-later
"""Single poses from JSON / .npz / .npy / .pkl files: in a model's own layout, or as a 1-frame motion.

Accepted content:
* a full pose: ``pose`` / ``poses`` (frame 0) / ``full_pose``, axis-angle ``(3J,)``, ``(J, 3)`` or rotation matrices
  ``(J, 3, 3)``, flat-hand reference (AMASS, our own JSON / .npz, the add-ons' "write pose");
* or split parts: ``global_orient`` + ``body_pose`` (+ ``left_hand_pose``/``right_hand_pose``: 45 axis-angle values or
  n < 45 PCA coefficients, **relative to the relaxed hand mean** as in SMPLify-X / smplx ``flat_hand_mean=False``)
  + ``jaw_pose``/``leye_pose``/``reye_pose``; or the MoSh++ split ``root_orient``/``pose_body``/``pose_jaw``/``pose_eye``/
  ``pose_hand`` (flat-hand reference, as AMASS);
* optional ``transl``/``trans``, ``betas``, ``expression``.

Pickles are read only through :mod:`smpl_blender_addon.core.safe_pickle` (allow-list unpickler); ``.npz`` without pickle.
Every failure is a :class:`MotionFileError` naming the file and the problem.
"""

import os

import numpy as np

from .. import layouts
from ..errors import MotionFileError
from ..file_io import checked_floats, read_json, read_npy, read_npz
from ..rotations import matrix_to_axis_angle
from ..safe_pickle import load_pickle_dict
from ..vposer import load_vposer
from . import checks

_FULL_POSE_KEYS = ("pose", "poses", "full_pose", "fullpose")
_TRANSL_KEYS = ("transl", "trans", "translation")


def _read_mapping(path):
    """Raw key -> value mapping of a pose file, by extension, through the checked readers of :mod:`.file_io`."""
    ext = os.path.splitext(path)[1].lower()
    if not os.path.exists(path):
        raise MotionFileError(path, "file not found")
    if ext == ".json":
        data = read_json(path, MotionFileError)
        if isinstance(data, list):
            data = {"pose": data}
    elif ext == ".npz":
        data, _ = read_npz(path, MotionFileError)  # object members (e.g. markers_latent_vids) need pickle: skipped
    elif ext == ".npy":
        data = {"pose": read_npy(path, MotionFileError)}
    elif ext == ".pkl":
        data = load_pickle_dict(path, error=MotionFileError)
    else:
        raise MotionFileError(path, f"unsupported pose file type {ext!r} (use .json, .npz, .npy or .pkl)")
    if not isinstance(data, dict):
        raise MotionFileError(path, f"expected a dictionary of arrays, found {type(data).__name__}")
    return data


def _array(path, key, value):
    """A float64 array of plain, finite, sane numbers from a file value."""
    return checked_floats(path, key, value, MotionFileError)


def _first_frame_rotvecs(path, key, value, expected=None):
    """Frame 0 of a pose value as flat axis-angle (n,).

    Accepts flat vectors, (N, n) frames, (n/3, 3) joint rows (when the size fits ``expected``), (N, n/3, 3), and
    rotation matrices (n/3, 3, 3) or (N, n/3, 3, 3) (HMR-style outputs, orthonormalised first).
    """
    arr = _array(path, key, value)
    if arr.ndim == 0:
        raise MotionFileError(path, f"'{key}' is a scalar, not a pose")
    if arr.size == 0:
        raise MotionFileError(path, f"'{key}' is empty (shape {arr.shape}): the file holds no frames")
    if arr.ndim >= 2 and arr.shape[-2:] == (3, 3) and not (expected is not None and arr.size == expected):
        mats = arr[0] if arr.ndim == 4 else arr.reshape((-1, 3, 3))
        u, _, vt = np.linalg.svd(mats)  # network outputs are not exactly orthonormal
        u[..., :, -1] *= np.sign(np.linalg.det(u @ vt))[..., None]
        return matrix_to_axis_angle(u @ vt).reshape(-1)
    if arr.ndim == 1 or (expected is not None and arr.size == expected):
        return arr.reshape(-1)
    return arr.reshape(arr.shape[0], -1)[0]


def _layout_text(model):
    kind = model.kind
    if kind == "smplx":
        return (
            "SMPL-X: 165 values = global_orient 3 + body_pose 63 + jaw 3 + leye 3 + reye 3 + left hand 45 "
            "+ right hand 45"
        )
    if kind == "smplh":
        return "SMPL-H: 156 values = global_orient 3 + body_pose 63 + left hand 45 + right hand 45"
    if kind == "smpl":
        return "SMPL: 72 values = global_orient 3 + body_pose 69"
    return f"{kind}: {3 * model.num_joints} values"


def _check_length(path, key, vec, size, model, what):
    if vec.size != size:
        raise MotionFileError(
            path,
            f"'{key}' has {vec.size} values, a {model.kind} {what} needs {size} (expected layout {_layout_text(model)})",
        )


def _hand_block(path, key, value, model, side):
    """Left/right finger axis-angle (45,) from 45 values or PCA coefficients (relative to the relaxed mean)."""
    vec = _first_frame_rotvecs(path, key, value, expected=45)
    comps = getattr(model, f"hands_components_{side}", None)
    mean = getattr(model, f"hands_mean_{side}", None)
    if vec.size != 45:
        if comps is None:
            raise MotionFileError(
                path,
                f"'{key}' has {vec.size} values: PCA hand coefficients need a model with hand "
                "PCA components, and this model has none (give 45 axis-angle values)",
            )
        if not 0 < vec.size <= 45:
            raise MotionFileError(
                path, f"'{key}' has {vec.size} values; expected 45 axis-angle values or up to 45 PCA coefficients"
            )
        vec = vec @ np.asarray(comps, dtype=np.float64)[: vec.size]
    if mean is not None:
        vec = vec + np.asarray(mean, dtype=np.float64)
    return vec


def check_split_pose(path, data):
    """Raise a MotionFileError naming what the file is when ``data`` has neither a full pose nor a split body pose
    (no model would help)."""
    if (
        any(key in data for key in _FULL_POSE_KEYS)
        or ("pose_body" if "root_orient" in data or "pose_body" in data else "body_pose") in data
    ):
        return
    if {"v_template", "shapedirs"} <= set(map(str, data)):
        raise MotionFileError(
            path,
            "this is a body model file (v_template, shapedirs), not a motion or pose: "
            "load it as a model (load_model, --model, Add Body) instead",
        )
    found = ", ".join(sorted(map(str, data))[:20]) or "none"
    raise MotionFileError(
        path,
        f"no pose found: expected one of {', '.join(_FULL_POSE_KEYS)}, or "
        f"global_orient + body_pose (found keys: {found})",
    )


def _assemble_split_pose(path, data, model, vposer=None):
    """Full (3J,) pose from global_orient/body_pose/hands/jaw/eyes or MoSh split keys (a VPoser latent body pose is
    decoded through ``vposer``)."""
    kind, num_joints = model.kind, model.num_joints
    names = list(model.joint_names)
    pose = np.zeros(3 * num_joints)

    def put(joint_name, vec):
        j = names.index(joint_name)
        pose[3 * j : 3 * j + vec.size] = vec

    mosh = "root_orient" in data or "pose_body" in data
    orient_key = "root_orient" if mosh else "global_orient"
    body_key = "pose_body" if mosh else "body_pose"
    check_split_pose(path, data)
    if orient_key in data:
        orient = _first_frame_rotvecs(path, orient_key, data[orient_key], expected=3)
        _check_length(path, orient_key, orient, 3, model, "global orientation")
        put(names[0], orient)
    body_size = 3 * (num_joints - 1) if kind == "smpl" else 63
    body = _first_frame_rotvecs(path, body_key, data[body_key], expected=body_size)
    if body.size == checks.VPOSER_LATENT:
        body = decode_latent_body(path, body_key, body, vposer)
    if kind == "smpl" and body.size == 63:
        body = np.concatenate([body, np.zeros(6)])  # SMPL-H/X body: SMPL hands stay at identity
    _check_length(path, body_key, body, body_size, model, "body pose")
    pose[3 : 3 + body_size] = body

    if kind in ("smplh", "smplx"):
        if mosh and "pose_hand" in data:
            hands = _first_frame_rotvecs(path, "pose_hand", data["pose_hand"], expected=90)
            _check_length(path, "pose_hand", hands, 90, model, "hand pose")
            put("left_index1", hands[:45])
            put("right_index1", hands[45:])
        for side, key in (("left", "left_hand_pose"), ("right", "right_hand_pose")):
            if key in data:
                put(f"{side}_index1", _hand_block(path, key, data[key], model, side))
    if kind == "smplx":
        parts = (
            (("pose_jaw", "jaw", 3), ("pose_eye", "left_eye_smplhf", 6))
            if mosh
            else (("jaw_pose", "jaw", 3), ("leye_pose", "left_eye_smplhf", 3), ("reye_pose", "right_eye_smplhf", 3))
        )
        for key, joint, size in parts:
            if key in data:
                vec = _first_frame_rotvecs(path, key, data[key], expected=size)
                _check_length(path, key, vec, size, model, key.replace("_", " "))
                put(joint, vec)
    return pose


def decode_latent_body(path, key, latent, vposer):
    """The ``(63,)`` axis-angle body pose of a VPoser latent code ``latent`` (a file's ``key``) through ``vposer`` (a
    :class:`~..vposer.VPoser` or its checkpoint path); without one, a MotionFileError with ``needs="vposer"``."""
    if vposer is None:
        raise MotionFileError(
            path,
            f"'{key}' has {latent.size} values: this is a VPoser latent code (SMPLify-X default use_vposer: True), "
            "not axis-angle; it is decoded with the VPoser it was fitted with",
            needs="vposer",
        )
    vposer = load_vposer(vposer)
    if latent.size != vposer.latent_dim:
        raise MotionFileError(
            path, f"'{key}' has {latent.size} values but the VPoser's latent codes have {vposer.latent_dim}"
        )
    return vposer.decode(latent[None])[0].astype(np.float64)


def _optional_vector(path, data, keys, size=None):
    for key in keys:
        if key in data and data[key] is not None:
            arr = _array(path, key, data[key])
            if arr.ndim > 1 and arr.shape[0] == 0:
                raise MotionFileError(path, f"'{key}' is empty (shape {arr.shape})")
            vec = arr.reshape(-1) if arr.ndim <= 1 else arr.reshape(arr.shape[0], -1)[0]
            if size is not None and vec.size != size:
                raise MotionFileError(path, f"'{key}' has {vec.size} values, expected {size}")
            return vec
    return None


def read_pose_file(path, model, vposer=None):
    """One pose from ``path`` for ``model``; a VPoser latent ``body_pose`` / ``pose_body`` (32 values, as SMPLify-X
    writes with ``use_vposer: True``) is decoded through ``vposer`` (a :class:`~..vposer.VPoser` or its checkpoint
    path), and refused without it (``needs="vposer"``).

    Returns dict(pose=(3J,) float64 axis-angle in the model layout (flat-hand reference), transl=(3,) or None,
    betas=(n,) or None, expression=(n,) or None). Multi-frame files give frame 0.
    """
    path = os.fspath(path)
    data = _read_mapping(path)
    size = 3 * model.num_joints
    full_key = next((k for k in _FULL_POSE_KEYS if k in data), None)
    if full_key is not None:
        pose = _first_frame_rotvecs(path, full_key, data[full_key], expected=size)
        if pose.size == checks.VPOSER_LATENT:
            raise MotionFileError(
                path, f"'{full_key}' has 32 values: this looks like a VPoser latent code, not an axis-angle pose"
            )
        _check_length(path, full_key, pose, size, model, "full pose")
    else:
        pose = _assemble_split_pose(path, data, model, vposer)
    return {
        "pose": pose.astype(np.float64),
        "transl": _optional_vector(path, data, _TRANSL_KEYS, size=3),
        "betas": _optional_vector(path, data, ("betas",)),
        "expression": _optional_vector(path, data, ("expression",)),
    }


class _PoseLayout:
    """The joint layout of a kind, all :func:`read_pose_file` needs for a full-pose file."""

    hands_components_left = hands_components_right = hands_mean_left = hands_mean_right = None

    def __init__(self, kind):
        self.kind = kind
        self.joint_names = list(layouts.JOINT_NAMES[kind])
        self.num_joints = len(self.joint_names)
        self.name = f"{kind} layout"


def single_pose_motion(path, record, model, fps, gender, kind, up_axis, file_gender=None):
    """1-frame Motion from a :func:`read_pose_file` record (pose (3J,), transl, betas, expression)."""
    pose = record["pose"]
    found = checks.POSE_SIZES[pose.size]
    checks.check_kind(path, found, kind, "the pose")
    expression = record["expression"]
    if expression is not None:
        expression = expression.reshape(1, -1) if found == "smplx" and expression.size else None
    transl = record["transl"]
    return checks.make_motion(
        path,
        fps=checks.fps_or_ask(path, 1, fps, ""),
        poses=pose[None],
        trans=np.zeros((1, 3)) if transl is None else transl.reshape(1, 3),
        betas=np.zeros(0) if record["betas"] is None else record["betas"],
        expression=expression,
        gender=checks.gender(path, file_gender, gender),
        kind=found,
        up_axis=checks.plain_up_axis(path, up_axis, "Y"),
    )


def _full_pose_kind(path, data, kind):
    """Kind of a full-pose file from its ``model`` field or the pose size; ``None`` for split-part files."""
    key = next((k for k in _FULL_POSE_KEYS if k in data), None)
    if key is None:
        return None
    try:
        arr = np.asarray(data[key], dtype=np.float64)
    except (TypeError, ValueError):
        raise MotionFileError(path, f"'{key}' is not numeric") from None
    if arr.size == 0:
        raise MotionFileError(path, f"'{key}' is empty (shape {arr.shape}): the file holds no frames")
    if arr.size in checks.POSE_SIZES or arr.ndim <= 1:
        frames, per_frame = 1, arr.size  # (3J,), (J, 3) or (1, 3J)
    elif arr.shape[-2:] == (3, 3):  # rotation matrices (J, 3, 3) or (N, J, 3, 3)
        frames, per_frame = (arr.shape[0] if arr.ndim == 4 else 1), 3 * arr.shape[-3] if arr.ndim >= 3 else 3
    else:
        frames, per_frame = arr.shape[0], arr.size // max(arr.shape[0], 1)
    if per_frame == checks.VPOSER_LATENT:
        raise MotionFileError(
            path, f"'{key}' has 32 values: a VPoser latent code, not an axis-angle pose; decode it with VPoser first"
        )
    if frames > 1:
        raise MotionFileError(
            path,
            f"'{key}' holds {frames} frames: a pose file holds one (store a motion as "
            "'poses' (N, 3J) with 'trans' (N, 3) and a frame rate)",
        )
    label = checks.as_text(data.get("model"))
    labelled = next((k for k in ("smplx", "smplh", "smpl") if label and label.lower().startswith(k)), None)
    found = checks.pose_kind_from_size(path, key, per_frame)
    if labelled is not None and labelled != found:
        raise MotionFileError(
            path, f"'{key}' has {per_frame} values ({found} layout) but the file says model {label!r}"
        )
    return found


def read_pose_motion(path, data, model, fps, gender, kind, up_axis, vposer=None, **_):
    """A pose file's ``data`` (already read by the dispatcher) as a 1-frame Motion."""
    found = _full_pose_kind(path, data, kind)
    if found is None:
        check_split_pose(path, data)
        checks.require_model(
            path,
            model,
            "a pose given as separate parts (global_orient, body_pose, hands...) is read in the model's layout",
        )
        layout = model
    else:
        layout = _PoseLayout(found)
    record = read_pose_file(path, layout, vposer)
    return single_pose_motion(path, record, model, fps, gender, kind, up_axis, file_gender=data.get("gender"))
