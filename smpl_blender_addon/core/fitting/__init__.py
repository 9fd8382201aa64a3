# SPDX-License-Identifier: GPL-3.0-or-later
"""Fitting bodies to 3D points: the targets (:mod:`.targets`: :class:`PointSequence` and its readers), where named
points sit on a body (:mod:`.landmarks`), and the fit (:mod:`.fit`: stages, :mod:`.solver`: Levenberg-Marquardt over
all frames, :mod:`.kinematics`: target points and Jacobians, :mod:`.priors`: pose priors)."""

from .fit import FitOptions, FitResult, fit_points
from .landmarks import KEYPOINT_LAYOUTS, LANDMARK_VERTICES, MarkerLayout, PointDefinitions, point_definitions
from .targets import POINT_LAYOUTS, PointSequence, default_model, read_marker_layout, read_points

__all__ = [
    "KEYPOINT_LAYOUTS",
    "LANDMARK_VERTICES",
    "POINT_LAYOUTS",
    "FitOptions",
    "FitResult",
    "MarkerLayout",
    "PointDefinitions",
    "PointSequence",
    "default_model",
    "fit_points",
    "point_definitions",
    "read_marker_layout",
    "read_points",
]
