# SPDX-License-Identifier: GPL-3.0-or-later
"""AMASS / MoSh++ and Meshcapade-style ``.npz`` motions: reader and writer.

AMASS files hold ``poses (F, 72 | 156 | 165)`` (SMPL / SMPL+H / SMPL-X) or only the MoSh++ split keys, Z-up;
Meshcapade-style exports hold ``poses`` / ``trans`` / ``betas``, may lack gender and frame rate, and are Y-up.
"""

import warnings

import numpy as np

from ..errors import MotionFileError
from ..file_io import atomic_savez
from . import checks

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


def _frames_2d(path, key, value, width=None):
    """Per-frame values ``(F, n)`` from ``(F, n)``, ``(F, J, 3)`` or a single ``(n,)`` frame."""
    arr = checks.floats(path, key, value)
    if arr.ndim == 1:
        arr = arr[None]
    elif arr.ndim == 3 and arr.shape[2] == 3:
        arr = arr.reshape(arr.shape[0], -1)
    if arr.ndim != 2 or (width is not None and arr.shape[1] != width):
        want = f"(N, {width})" if width is not None else "(N, values)"
        raise MotionFileError(path, f"'{key}' has shape {arr.shape}, expected {want}")
    checks.check_frames(path, arr.shape[0], key)
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


def read_amass(path, data, model, fps, gender, kind, up_axis, **_):
    """Motion from the arrays of an AMASS / Meshcapade-style file (``data``: npz members or a JSON object)."""
    label = checks.as_text(data.get("surface_model_type"))
    labelled = None
    if label:
        labelled = next((k for k in ("smplx", "smplh", "smpl") if label.lower().startswith(k)), None)
        if labelled is None:
            raise MotionFileError(path, f"surface_model_type {label!r} is not SMPL, SMPL-H or SMPL-X")
    if "poses" in data:
        poses = _frames_2d(path, "poses", data["poses"])
        found = checks.pose_kind_from_size(path, "poses", poses.shape[1])
    else:
        poses, found = _split_poses(path, data, kind or labelled)
    if labelled is not None and labelled != found:
        raise MotionFileError(
            path,
            f"'poses' has {poses.shape[1]} values per frame ({found} layout), but the file is "
            f"labelled surface_model_type={label!r}",
        )
    checks.check_kind(path, found, kind, "the file")
    F = poses.shape[0]
    trans = _frames_2d(path, "trans", data["trans"], 3) if "trans" in data else np.zeros((F, 3))
    if trans.shape[0] != F:
        raise MotionFileError(path, f"'trans' has {trans.shape[0]} frames, 'poses' has {F}")
    betas = checks.floats(path, "betas", data.get("betas", np.zeros(0)))
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
    rate = (
        checks.frame_rate(path, data[rate_key], rate_key)
        if rate_key
        else checks.fps_or_ask(path, F, fps, "this .npz file")
    )
    if up_axis is None:
        meshcapade = "pose_foot" in data or not any(k in data for k in AMASS_TELLS)
        up_axis = "Y" if meshcapade else "Z"
    if up_axis == "camera":
        raise MotionFileError(path, "up_axis='camera' applies to SMPLify-X fits only; use 'Y' or 'Z'")
    return checks.make_motion(
        path,
        fps=rate,
        poses=poses,
        trans=trans,
        betas=betas,
        expression=expression,
        gender=checks.gender(path, data.get("gender"), gender),
        kind=found,
        up_axis=up_axis,
    )


def write_amass_npz(path, motion, model=None):
    """Write ``motion`` as an AMASS / MoSh++-style ``.npz`` (Z-up; a Y-up motion is re-framed with ``model``).

    Keys: ``poses (F, 3J)`` in the motion's layout, ``trans (F, 3)``, ``betas``, ``num_betas``, ``gender``,
    ``surface_model_type``, the frame-rate key of the layout (``mocap_framerate`` SMPL-H, ``mocap_frame_rate``
    SMPL-X, both for SMPL), ``mocap_time_length``, the split ``root_orient``, ``pose_body``, ``pose_hand``
    (+ ``pose_jaw``, ``pose_eye``, ``expression`` for SMPL-X). Numeric and fixed-width unicode only, so the file
    loads with ``allow_pickle=False``. Returns the path.
    """
    motion = checks.in_world(path, motion, "Z", model)
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
    return atomic_savez(path, {k: np.asarray(v, order="C") for k, v in arrays.items()})
