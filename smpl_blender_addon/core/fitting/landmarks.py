# SPDX-License-Identifier: GPL-3.0-or-later
"""Where named target points sit on a body: model joints, keypoint landmarks (mesh vertices), surface markers.

Names share one snake_case namespace with the model's joints (:data:`..layouts.JOINT_NAMES`). A keypoint that is a
joint is that joint, as smplify-x maps OpenPose to SMPL (``mid_hip`` is ``pelvis``); nose, eyes, ears, toes and heels
are vertices: smplx's ``vertex_ids.py`` ids on the official meshes, ids picked by ``scripts/find_open_landmarks.py``
on the open bodies. :func:`point_definitions` turns names into linear maps from a forward pass's joints and vertices.
"""

import collections
import re

import numpy as np

from .. import layouts

__all__ = [
    "KEYPOINT_LAYOUTS",
    "LANDMARK_VERTICES",
    "MarkerLayout",
    "PointDefinitions",
    "marker_problem",
    "point_definitions",
]

KEYPOINT_LAYOUTS = {
    "body25": (  # OpenPose BODY_25
        "nose",
        "neck",
        "right_shoulder",
        "right_elbow",
        "right_wrist",
        "left_shoulder",
        "left_elbow",
        "left_wrist",
        "mid_hip",
        "right_hip",
        "right_knee",
        "right_ankle",
        "left_hip",
        "left_knee",
        "left_ankle",
        "right_eye",
        "left_eye",
        "right_ear",
        "left_ear",
        "left_big_toe",
        "left_small_toe",
        "left_heel",
        "right_big_toe",
        "right_small_toe",
        "right_heel",
    ),
    "coco17": (  # COCO keypoints
        "nose",
        "left_eye",
        "right_eye",
        "left_ear",
        "right_ear",
        "left_shoulder",
        "right_shoulder",
        "left_elbow",
        "right_elbow",
        "left_wrist",
        "right_wrist",
        "left_hip",
        "right_hip",
        "left_knee",
        "right_knee",
        "left_ankle",
        "right_ankle",
    ),
    "humanml3d": tuple(layouts.JOINT_NAMES["smpl"][:22]),  # HumanML3D / MDM / MoMask joints: SMPL's body joints
}
KEYPOINT_JOINTS = {"mid_hip": "pelvis"}  # keypoints at a model joint of another name

_OPEN_BODY = {  # scripts/find_open_landmarks.py; open-smplx's first 13380 vertices are open-smpl's
    "nose": 5054,
    "left_eye": 13352,
    "right_eye": 6756,
    "left_ear": 12240,
    "right_ear": 5643,
    "left_big_toe": 11551,
    "left_small_toe": 13280,
    "left_heel": 12815,
    "right_big_toe": 4933,
    "right_small_toe": 6684,
    "right_heel": 6218,
}
LANDMARK_VERTICES = {  # vertex count -> {landmark: vertex}
    6890: {  # SMPL / SMPL-H: smplx vertex_ids["smplh"]
        "nose": 332,
        "right_eye": 6260,
        "left_eye": 2800,
        "right_ear": 4071,
        "left_ear": 583,
        "left_big_toe": 3216,
        "left_small_toe": 3226,
        "left_heel": 3387,
        "right_big_toe": 6617,
        "right_small_toe": 6624,
        "right_heel": 6787,
    },
    10475: {  # SMPL-X: smplx vertex_ids["smplx"]
        "nose": 9120,
        "right_eye": 9929,
        "left_eye": 9448,
        "right_ear": 616,
        "left_ear": 6,
        "left_big_toe": 5770,
        "left_small_toe": 5780,
        "left_heel": 8846,
        "right_big_toe": 8463,
        "right_small_toe": 8474,
        "right_heel": 8635,
    },
    13380: _OPEN_BODY,  # open-smpl
    13524: _OPEN_BODY,  # open-smplx
}
LANDMARKS = tuple(_OPEN_BODY)
MARKER_WEIGHT_TOLERANCE = 1e-6
_VERTEX_NAME = re.compile(r"vertex:(\d+)")

MAX_MARKER_OFFSET = 0.1  # metres off the skin: more is a units mistake

PointDefinitions = collections.namedtuple(
    "PointDefinitions", "joint_coeffs vertex_ids vertex_coeffs offsets", defaults=(None,)
)
PointDefinitions.__doc__ = """Target ``k`` is ``joint_coeffs[k] @ joints + vertex_coeffs[k] @ vertices[vertex_ids]``:
``joint_coeffs (K, J)``, ``vertex_ids (U,)`` unique int64, ``vertex_coeffs (K, U)``, float64; ``offsets (K,)``:
metres off the skin along the surface normal (markers on balls or pads; each of the target's vertices is moved
that far along its rest normal before skinning), or ``None``."""


class MarkerLayout(dict):
    """Surface markers ``{name: ((vertex, weight), ...)}`` with how far each sits off the skin along the surface
    normal, ``offsets {name: metres}`` (a marker not in it is on the skin). A plain dict of markers works wherever a
    layout does."""

    def __init__(self, markers=(), offsets=None):
        super().__init__(markers)
        self.offsets = dict(offsets or {})


def marker_problem(name, pairs, num_vertices=None):
    """Why ``pairs`` (``((vertex, weight), ...)``) is not a usable marker ``name``, or ``None``: at least one pair,
    integer vertices ``>= 0`` (``< num_vertices`` when given), finite weights summing to 1 (within 1e-6)."""
    try:
        vertices = np.array([v for v, _ in pairs])
        weights = np.array([w for _, w in pairs])
    except (TypeError, ValueError):
        return f"marker {name!r} is not a sequence of (vertex, weight) pairs: {pairs!r}"
    if vertices.size == 0:
        return f"marker {name!r} has no vertices"
    if vertices.dtype.kind not in "iu" or weights.dtype.kind not in "iuf" or vertices.ndim != 1 or weights.ndim != 1:
        return f"marker {name!r} needs integer vertex ids and numeric weights, got {pairs!r}"
    if vertices.min() < 0 or (num_vertices is not None and vertices.max() >= num_vertices):
        limit = f"0 to {num_vertices - 1}" if num_vertices is not None else "0 or more"
        return f"marker {name!r} uses vertex {vertices.min() if vertices.min() < 0 else vertices.max()}, not {limit}"
    if not np.all(np.isfinite(weights)) or abs(weights.sum() - 1.0) > MARKER_WEIGHT_TOLERANCE:
        return f"marker {name!r} has weights summing to {weights.sum():.9g}, not 1"
    return None


def known_point(model, name, markers=None):
    """Whether :func:`point_definitions` can place the point ``name`` on ``model``."""
    return (
        (markers is not None and name in markers)
        or name in model.joint_names
        or (KEYPOINT_JOINTS.get(name) in model.joint_names)
        or bool(_VERTEX_NAME.fullmatch(str(name)))
        or (name in LANDMARKS and model.num_vertices in LANDMARK_VERTICES)
    )


def point_definitions(model, names, markers=None):
    """The linear maps that give the target points ``names`` from ``model.forward``'s joints and vertices.

    Args:
        model: a :class:`~..model.BodyModel`.
        names: point names, each one of: a joint of the model (``"pelvis"``); a keypoint of
            :data:`KEYPOINT_LAYOUTS` (``"mid_hip"``, ``"nose"``: landmark vertices are known for the SMPL / SMPL-H,
            SMPL-X and open-body meshes, :data:`LANDMARK_VERTICES`); ``"vertex:<id>"``; a marker of ``markers``.
        markers: ``{name: ((vertex, weight), ...)}`` on the model's mesh (:func:`.targets.read_marker_layout`);
            a marker name wins over a joint or landmark of the same name. A :class:`MarkerLayout`'s offsets are
            carried to the definitions.

    Returns:
        :class:`PointDefinitions`. Raises ``ValueError`` naming unknown names or bad markers.
    """
    joint_index = {name: j for j, name in enumerate(model.joint_names)}
    joint_index |= {alias: joint_index[joint] for alias, joint in KEYPOINT_JOINTS.items() if joint in joint_index}
    landmarks = LANDMARK_VERTICES.get(model.num_vertices)
    label = f"the {model.name or model.kind} model ({model.kind}, {model.num_vertices} vertices)"
    rows, unknown = [], []  # (joint index or None, ((vertex, weight), ...)) per name
    for name in names:
        vertex = _VERTEX_NAME.fullmatch(str(name))
        if markers is not None and name in markers:
            rows.append((None, markers[name]))
        elif name in joint_index:
            rows.append((joint_index[name], ()))
        elif vertex:
            rows.append((None, ((int(vertex[1]), 1.0),)))
        elif name in LANDMARKS and landmarks is not None:
            rows.append((None, ((landmarks[name], 1.0),)))
        elif name in LANDMARKS:
            raise ValueError(
                f"the landmark {name!r} is a mesh vertex, and {label} is none of the meshes whose landmark "
                f"vertices are known ({', '.join(map(str, LANDMARK_VERTICES))} vertices): give it as "
                f"'vertex:<id>' or as a marker (markers={{{name!r}: ((vertex, 1.0),)}})"
            )
        else:
            unknown.append(name)
    if unknown:
        raise ValueError(
            f"unknown point names for {label}: {', '.join(map(repr, unknown))}. Accepted: its joint names "
            f"({', '.join(model.joint_names[:3])}, ...), the keypoints {', '.join(LANDMARKS + tuple(KEYPOINT_JOINTS))}, "
            "'vertex:<id>', and the names of markers="
        )
    for name, (joint, pairs) in zip(names, rows):
        problem = joint is None and marker_problem(name, pairs, model.num_vertices)
        if problem:
            raise ValueError(f"{label}: {problem}")
    vertex_ids = np.unique(np.array([v for _, pairs in rows for v, _ in pairs], dtype=np.int64))
    joint_coeffs = np.zeros((len(rows), model.num_joints))
    vertex_coeffs = np.zeros((len(rows), vertex_ids.size))
    for k, (joint, pairs) in enumerate(rows):
        if joint is not None:
            joint_coeffs[k, joint] = 1.0
        for vertex, weight in pairs:
            vertex_coeffs[k, np.searchsorted(vertex_ids, vertex)] += weight
    given = getattr(markers, "offsets", None) or {}
    offsets = np.array([float(given.get(name, 0.0)) if markers and name in markers else 0.0 for name in names])
    wrong = [name for name, d in zip(names, offsets, strict=True) if not 0.0 <= d <= MAX_MARKER_OFFSET]
    if wrong:
        raise ValueError(f"marker offsets must be metres from 0 to {MAX_MARKER_OFFSET:g}: {', '.join(wrong[:6])}")
    return PointDefinitions(joint_coeffs, vertex_ids, vertex_coeffs, offsets)
