# SPDX-License-Identifier: GPL-3.0-or-later
"""Limits and value checks shared by the motion readers and writers.

Every check raises :class:`MotionFileError` naming the file and the problem.
"""

import math

import numpy as np

from .. import layouts
from ..errors import ModelFileError, MotionFileError
from ..file_io import checked_floats
from ..model import normalise_gender
from ..motion import Motion

MAX_FRAMES = 10_000_000  # ~46 h at 60 fps; anything larger is a corrupt or hostile header
MAX_FPS = 100_000.0
MIN_FPS = 0.01  # one frame per 100 s (time lapse); below that a rate is a corrupt value
POSE_SIZES = {3 * len(names): kind for kind, names in layouts.JOINT_NAMES.items() if kind != "mano"}  # 72/156/165
SINGLE_POSE_FPS = 30.0  # a single pose has no duration; any rate will do
VPOSER_LATENT = 32  # values in a VPoser latent code, which is not an axis-angle pose


def floats(path, key, value, shape=None):
    """``value`` as a finite float64 array; ``shape`` (with ``-1`` wildcards) is checked when given."""
    arr = checked_floats(path, key, value, MotionFileError)
    if shape is not None and (arr.ndim != len(shape) or any(s not in (-1, n) for s, n in zip(shape, arr.shape))):
        want = "(" + ", ".join("N" if s == -1 else str(s) for s in shape) + ")"
        raise MotionFileError(path, f"'{key}' has shape {arr.shape}, expected {want}")
    return arr


def scalar(path, key, value):
    """A number from a 0-d / 1-element array or a Python number."""
    arr = np.asarray(value)
    if arr.size != 1 or arr.dtype.kind not in "iuf":
        raise MotionFileError(path, f"'{key}' should be one number, found {arr.dtype} array of shape {arr.shape}")
    number = arr.reshape(()).item()
    if not math.isfinite(number):
        raise MotionFileError(path, f"'{key}' is {number}")
    return number


def as_text(value):
    """str from a str / bytes / 0-d or 1-element str or bytes array (AMASS genders come in all of these)."""
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "US" or value.size != 1:
            return None
        value = value.reshape(()).item()
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    return value.strip() if isinstance(value, str) else None


def gender(path, value, fallback):
    """The gender stored in a file (``value``: text, bytes or a text array; ``""`` for unknown), else ``fallback``."""
    if value is None:
        return gender(path, fallback, None) if fallback is not None else None
    text = as_text(value)
    if text is None:
        raise MotionFileError(path, f"gender {value!r} is not text")
    if not text:  # written as "" when unknown
        return gender(path, fallback, None) if fallback is not None else None
    try:
        return normalise_gender(text, path)
    except ModelFileError as err:
        raise MotionFileError(path, err.problem) from None


def frame_rate(path, value, key):
    """A frame rate (stored as ``key``) within MIN_FPS .. MAX_FPS."""
    rate = float(scalar(path, key, value))
    if not MIN_FPS <= rate <= MAX_FPS:
        raise MotionFileError(
            path, f"frame rate '{key}' = {rate:g} is not a usable rate ({MIN_FPS:g} to {MAX_FPS:g} frames per second)"
        )
    return rate


def fps_or_ask(path, num_frames, fps, what):
    """The user's ``fps`` for a file without a rate; 1-frame data needs none."""
    if fps is not None:
        return frame_rate(path, fps, "fps=")
    if num_frames <= 1:
        return SINGLE_POSE_FPS
    raise MotionFileError(path, f"{what} stores no frame rate", needs="fps")


def check_frames(path, num_frames, key):
    """At most MAX_FRAMES frames in ``key``."""
    if num_frames > MAX_FRAMES:
        raise MotionFileError(path, f"'{key}' has {num_frames} frames, more than the {MAX_FRAMES} frame limit")


def check_kind(path, found, asked, what):
    """The data of kind ``found`` may be read as the ``kind=`` the caller asked for (``None``: any)."""
    if asked is not None and asked != found:
        raise MotionFileError(
            path,
            f"{what} is {found} data, but kind={asked!r} was asked "
            f"({3 * len(layouts.JOINT_NAMES[asked])} values per frame)",
        )


def pose_kind_from_size(path, key, size):
    """``72 -> "smpl"``, ``156 -> "smplh"``, ``165 -> "smplx"`` values per frame; any other size is an error."""
    kind = POSE_SIZES.get(size)
    if kind is None:
        raise MotionFileError(
            path, f"'{key}' has {size} values per frame; expected 72 (SMPL), 156 (SMPL-H) or 165 (SMPL-X)"
        )
    return kind


def plain_up_axis(path, up_axis, default):
    """The world of a format that has no camera: ``up_axis`` or the format's ``default``."""
    if up_axis == "camera":
        raise MotionFileError(path, "up_axis='camera' applies to SMPLify-X fits only; use 'Y' or 'Z'")
    return up_axis or default


def make_motion(path, **fields):
    """A checked Motion (a ValueError from its own checks becomes a MotionFileError)."""
    if len(fields["poses"]) == 0:
        raise MotionFileError(path, "the file holds no frames")
    try:
        return Motion(source=path, **fields)
    except ValueError as err:
        raise MotionFileError(path, str(err)) from None


def require_model(path, model, why):
    """Ask for ``model=`` (``needs="model"``) when a format cannot be read without it."""
    if model is None:
        raise MotionFileError(path, why, needs="model")


def in_world(path, motion, up_axis, model):
    """``motion`` in a writer's ``up_axis`` world, re-framed with ``model`` when it is in the other one."""
    if motion.up_axis == up_axis:
        return motion
    if model is None:
        raise MotionFileError(
            path,
            f"the motion is {motion.up_axis}-up and this format is {up_axis}-up: pass model= "
            "to re-frame it (the root rotates about J_0, which depends on the shape)",
        )
    return motion.reframe(up_axis, model)
