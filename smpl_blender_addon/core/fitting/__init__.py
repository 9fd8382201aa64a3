# SPDX-License-Identifier: GPL-3.0-or-later
"""Fitting bodies to 3D points: the targets (:mod:`.targets`: :class:`PointSequence` and its readers) and where
named points sit on a body (:mod:`.landmarks`)."""

from .landmarks import KEYPOINT_LAYOUTS, LANDMARK_VERTICES, PointDefinitions, point_definitions
from .targets import POINT_LAYOUTS, PointSequence, read_marker_layout, read_points

__all__ = [
    "KEYPOINT_LAYOUTS",
    "LANDMARK_VERTICES",
    "POINT_LAYOUTS",
    "PointDefinitions",
    "PointSequence",
    "point_definitions",
    "read_marker_layout",
    "read_points",
]
