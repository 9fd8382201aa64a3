# SPDX-License-Identifier: GPL-3.0-or-later
"""Fitting bodies to 3D points: where named points sit on a body (:mod:`.landmarks`)."""

from .landmarks import KEYPOINT_LAYOUTS, LANDMARK_VERTICES, PointDefinitions, point_definitions

__all__ = ["KEYPOINT_LAYOUTS", "LANDMARK_VERTICES", "PointDefinitions", "point_definitions"]
