# SPDX-License-Identifier: GPL-3.0-or-later
"""Meshcapade ``.smpl`` files (smplcodec): an npz of camelCase keys, enums as int32, Y-up. Reader and writer."""

import warnings

import numpy as np

from ..errors import MotionFileError
from ..file_io import atomic_savez
from . import checks

CODEC_KEYS = ("codecVersion", "smplVersion", "bodyPose", "bodyTranslation", "shapeParameters", "frameCount")
CODEC_VERSION = 2
CODEC_KINDS = {0: "smpl", 1: "smplh", 2: "smplx"}
CODEC_OTHER = {3: "SUPR", 4: "SMPLPP", 5: "SKEL", 6: "SMIL", 7: "SMPLXS"}
CODEC_GENDERS = {0: "neutral", 1: "male", 2: "female"}


def read_smpl_codec(path, data, model, fps, gender, kind, up_axis, **_):
    """Motion from the npz members of a ``.smpl`` file; a shape-only avatar is one frame in the rest pose."""
    version = int(checks.scalar(path, "codecVersion", data["codecVersion"])) if "codecVersion" in data else 1
    if version > CODEC_VERSION:
        raise MotionFileError(path, f"codecVersion {version} is newer than the supported {CODEC_VERSION}")
    smpl_version = int(checks.scalar(path, "smplVersion", data["smplVersion"])) if "smplVersion" in data else 2
    if smpl_version in CODEC_OTHER:
        raise MotionFileError(
            path,
            f"smplVersion {smpl_version} ({CODEC_OTHER[smpl_version]}) is not supported; only SMPL, SMPL-H and SMPL-X",
        )
    if smpl_version not in CODEC_KINDS:
        raise MotionFileError(path, f"unknown smplVersion {smpl_version}")
    found = CODEC_KINDS[smpl_version]
    checks.check_kind(path, found, kind, "the file")
    gender_code = int(checks.scalar(path, "gender", data["gender"])) if "gender" in data else None
    if gender_code is not None and gender_code not in CODEC_GENDERS:
        raise MotionFileError(path, f"unknown gender code {gender_code} (0 neutral, 1 male, 2 female)")
    parts = {"bodyPose": (22 if found != "smpl" else 24, 3)}
    if found != "smpl":
        parts.update(leftHandPose=(15, 3), rightHandPose=(15, 3))
    if found == "smplx":
        parts["headPose"] = (3, 3)
    per_frame = [k for k in list(parts) + ["bodyTranslation", "expressionParameters"] if k in data]
    if "frameCount" in data:
        F = int(checks.scalar(path, "frameCount", data["frameCount"]))
        if not 0 <= F <= checks.MAX_FRAMES:
            raise MotionFileError(path, f"frameCount {F} is not a usable frame count (limit {checks.MAX_FRAMES})")
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
    offsets = np.abs(checks.floats(path, "vertexOffsets", data["vertexOffsets"])) if "vertexOffsets" in data else None
    if offsets is not None and offsets.size and offsets.max() > 0:
        warnings.warn(
            f"{path}: 'vertexOffsets' (per-vertex shape offsets, up to {offsets.max():.3g} m) are not "
            "imported: the body has the shape of its shapeParameters only",
            stacklevel=3,
        )
    arrays = {}
    for key, shape in list(parts.items()) + [("bodyTranslation", (3,))]:
        arrays[key] = (
            checks.floats(path, key, data[key], (count,) + shape) if key in data else np.zeros((count,) + shape)
        )
    order = (
        ["bodyPose"]
        + (["headPose"] if found == "smplx" else [])
        + (["leftHandPose", "rightHandPose"] if found != "smpl" else [])
    )
    poses = np.concatenate([arrays[key].reshape(count, -1) for key in order], axis=1)
    expression = None
    if "expressionParameters" in data:
        expression = checks.floats(path, "expressionParameters", data["expressionParameters"], (count, -1))
        expression = expression if found == "smplx" else None
    betas = checks.floats(path, "shapeParameters", data.get("shapeParameters", np.zeros(0)), (-1,))
    rate = (
        checks.frame_rate(path, data["frameRate"], "frameRate")
        if "frameRate" in data
        else checks.fps_or_ask(path, F, fps, "this .smpl file")
    )
    return checks.make_motion(
        path,
        fps=rate,
        poses=poses,
        trans=arrays["bodyTranslation"],
        betas=betas,
        expression=expression,
        kind=found,
        up_axis=checks.plain_up_axis(path, up_axis, "Y"),
        gender=CODEC_GENDERS[gender_code] if gender_code is not None else checks.gender(path, gender, None),
    )


def write_smpl_codec(path, motion, model=None):
    """Write ``motion`` as a Meshcapade ``.smpl`` file (smplcodec 2.x layout; Y-up, a Z-up motion is re-framed).

    int32 ``codecVersion`` (2), ``smplVersion`` (0 SMPL, 1 SMPL-H, 2 SMPL-X), ``gender`` (0 neutral, 1 male,
    2 female), ``frameCount``; float32 ``frameRate``, ``shapeParameters``, ``bodyTranslation (F, 3)``,
    ``bodyPose (F, 22|24, 3)`` with the pelvis as joint 0, ``headPose (F, 3, 3)`` (SMPL-X), ``left/rightHandPose
    (F, 15, 3)``, ``expressionParameters (F, n)`` (SMPL-X). ``np.savez_compressed``, atomically. Returns the path.
    """
    motion = checks.in_world(path, motion, "Y", model)
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
    return atomic_savez(path, {k: np.asarray(v, order="C") for k, v in arrays.items()}, compressed=True)
