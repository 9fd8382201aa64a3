# SPDX-License-Identifier: GPL-3.0-or-later
"""Headless NumPy core: model loading, forward pass, rotations, correctives, conversions, motions, metrics, VPoser.

Never imports bpy.
"""

from . import conversions, layouts, metrics, motion, rotations
from .correctives import pose_corrective_weights
from .errors import ModelFileError, MotionFileError, SMPLFileError, WeightsFileError
from .formats import read_motion, write_amass_npz, write_smpl_codec
from .model import BUILTIN_MODELS, BodyModel, ForwardOutput, builtin_model_path, load_model
from .motion import Motion
from .vposer import VPoser

__all__ = [
    "BUILTIN_MODELS",
    "BodyModel",
    "ForwardOutput",
    "ModelFileError",
    "MotionFileError",
    "SMPLFileError",
    "builtin_model_path",
    "conversions",
    "layouts",
    "load_model",
    "metrics",
    "motion",
    "Motion",
    "read_motion",
    "write_amass_npz",
    "write_smpl_codec",
    "pose_corrective_weights",
    "rotations",
    "VPoser",
    "WeightsFileError",
]
