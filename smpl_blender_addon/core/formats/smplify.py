# SPDX-License-Identifier: GPL-3.0-or-later
"""SMPLify-X / AGORA-style ``.pkl`` fits: one frame, in the camera frame, read only through the allow-list unpickler."""

import numpy as np

from .. import conversions
from ..errors import MotionFileError
from ..motion import pelvis_rest_joints
from ..safe_pickle import load_pickle_dict
from . import checks, pose_files


def read_smplify(path, model, fps, gender, kind, up_axis, vposer=None, **_):
    """SMPLify-X result (camera frame, y down) or AGORA-style fit, read only through the allow-list unpickler; a VPoser
    latent ``body_pose`` is decoded through ``vposer`` (refused without it, ``needs="vposer"``)."""
    data = load_pickle_dict(path, error=MotionFileError)
    for key, value in data.items():
        if isinstance(value, np.ndarray) and value.ndim >= 2 and value.shape[0] > 1 and key.endswith("_pose"):
            raise MotionFileError(path, f"'{key}' holds {value.shape[0]} fits; only single-frame fits are supported")
    body = data.get("body_pose")
    if body is not None and np.size(body) == checks.VPOSER_LATENT and vposer is None:
        pose_files.decode_latent_body(path, "body_pose", np.asarray(body), None)  # raises, naming vposer=
    checks.require_model(path, model, "SMPLify-X fits need the model for the hand PCA, the relaxed hand mean and J_0")
    record = pose_files.read_pose_file(path, model, vposer)
    motion = pose_files.single_pose_motion(
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
    value = checks.floats(path, key, data[key]).reshape(-1)
    if value.size != size:
        raise MotionFileError(path, f"'{key}' has {value.size} values, expected {size}")
    return value
