# SPDX-License-Identifier: GPL-3.0-or-later
"""SMPL-family motions in memory: the :class:`Motion` record and its time / layout / world-frame operations.

A :class:`Motion` is what every motion reader returns (:func:`read_motion`) and what every writer
takes (:func:`write_amass_npz`, :func:`write_smpl_codec`): full axis-angle poses in the layout of one model kind,
flat-hand reference, smplx ``transl`` semantics, one shape for the whole sequence, in a Y-up or Z-up world.
The file formats live in :mod:`.formats`, which builds on this module; this one is format-free.
"""

import dataclasses
import math
import warnings

import numpy as np

from . import conversions, layouts
from .rotations import axis_angle_to_quaternion, quaternion_to_axis_angle

__all__ = ["Motion", "UP_AXES", "slerp"]

UP_AXES = ("Y", "Z")
GENDERS = ("female", "male", "neutral")
# SMPL and SMPL-H share a shape space (the first 10 SMPL+H betas drive SMPL, AMASS notebook 03); SMPL-X does not.
_SHARED_SHAPE_SPACE = {frozenset(("smpl", "smplh")): 10}
_FRAME_EPS = 1e-9  # tolerance when counting output frames: 4.0 s * 30 fps must give 120, not 119.99999


@dataclasses.dataclass
class Motion:
    """One body's motion.

    Attributes:
        fps: frames per second (> 0).
        poses: ``(F, 3J)`` float64 axis-angle in the layout of ``kind``, flat-hand reference.
        trans: ``(F, 3)`` float64 metres, smplx ``transl``: added after skinning, so the posed pelvis is at
            ``J_0(beta) + trans`` (not at ``trans``).
        betas: ``(nb,)`` float64, shared by all frames (may be empty).
        expression: ``(F, ne)`` float64 (SMPL-X) or ``None``.
        gender: ``"female"``, ``"male"``, ``"neutral"`` or ``None`` (unknown).
        kind: ``"smpl"``, ``"smplh"`` or ``"smplx"``.
        up_axis: ``"Y"`` (SMPL model space, Meshcapade) or ``"Z"`` (AMASS): the world the data is in.
        source: the file it was read from, or ``None``.
    """

    fps: float
    poses: np.ndarray
    trans: np.ndarray
    betas: np.ndarray
    expression: np.ndarray = None
    gender: str = None
    kind: str = "smplx"
    up_axis: str = "Y"
    source: str = None

    def __post_init__(self):
        if self.kind not in ("smpl", "smplh", "smplx"):
            raise ValueError(f"unknown motion kind {self.kind!r} (expected smpl, smplh or smplx)")
        if self.up_axis not in UP_AXES:
            raise ValueError(f"up_axis must be 'Y' or 'Z', got {self.up_axis!r}")
        if self.gender is not None and self.gender not in GENDERS:
            raise ValueError(f"gender must be one of {GENDERS} or None, got {self.gender!r}")
        self.fps = float(self.fps)
        if not (math.isfinite(self.fps) and self.fps > 0):
            raise ValueError(f"fps must be a positive number, got {self.fps}")
        size = 3 * len(layouts.JOINT_NAMES[self.kind])
        self.poses = np.asarray(self.poses, dtype=np.float64).reshape(-1, size)
        F = self.poses.shape[0]
        self.trans = np.asarray(self.trans, dtype=np.float64).reshape(F, 3)
        self.betas = np.asarray(self.betas if self.betas is not None else (), dtype=np.float64).reshape(-1)
        if self.expression is not None:
            self.expression = np.asarray(self.expression, dtype=np.float64).reshape(F, -1)
        for name in ("poses", "trans", "betas", "expression"):
            value = getattr(self, name)
            if value is not None and not np.all(np.isfinite(value)):
                raise ValueError(f"motion {name} contain NaN or infinite values")

    # -- sizes -------------------------------------------------------------------------------------------------
    @property
    def num_frames(self):
        return self.poses.shape[0]

    @property
    def duration(self):
        """Seconds from the first to the last frame: ``(F - 1) / fps`` (0 for a single pose)."""
        return max(self.num_frames - 1, 0) / self.fps

    @property
    def num_joints(self):
        return self.poses.shape[1] // 3

    def copy(self, **changes):
        """A deep copy with some fields replaced."""
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        fields = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in fields.items()}
        fields.update(changes)
        return Motion(**fields)

    # -- time ----------------------------------------------------------------------------------------------------
    def slice(self, start=None, stop=None):
        """Frames ``start:stop`` (Python slice rules, step 1) as a new motion."""
        frames = slice(start, stop)
        return self.copy(
            poses=self.poses[frames].copy(),
            trans=self.trans[frames].copy(),
            expression=None if self.expression is None else self.expression[frames].copy(),
        )

    def resample(self, fps):
        """The motion sampled at ``fps`` by time.

        Output frame ``k`` is at ``t = k / fps`` for ``k = 0 .. floor(duration * fps)``, so the duration is kept
        to within one output frame whatever the ratio (59.94 -> 30 and 50 -> 30 are exact in time; no integer
        decimation). Rotations are slerped per joint on the shortest arc; translation and expression are
        interpolated linearly. Output rotation vectors are canonical (angle in ``[0, pi]``).
        """
        fps = float(fps)
        if not (math.isfinite(fps) and fps > 0):
            raise ValueError(f"fps must be a positive number, got {fps}")
        if self.num_frames < 2 or fps == self.fps:
            return self.copy(fps=fps) if self.num_frames < 2 else self.copy()
        count = int(math.floor(self.duration * fps + _FRAME_EPS)) + 1
        position = np.arange(count) * (self.fps / fps)  # fractional input frame of every output frame
        lower = np.minimum(np.floor(position + _FRAME_EPS).astype(np.int64), self.num_frames - 2)
        weight = np.clip(position - lower, 0.0, 1.0)
        upper = lower + 1
        rotvecs = self.poses.reshape(self.num_frames, -1, 3)
        # only the frames that bracket an output time are converted (half of them when going 120 -> 30 fps)
        q = slerp(axis_angle_to_quaternion(rotvecs[lower]), axis_angle_to_quaternion(rotvecs[upper]), weight[:, None])
        poses = quaternion_to_axis_angle(q).reshape(count, -1)

        def lerp(values):
            return values[lower] + weight[:, None] * (values[upper] - values[lower])

        expression = None if self.expression is None else lerp(self.expression)
        return self.copy(fps=fps, poses=poses, trans=lerp(self.trans), expression=expression)

    # -- layout --------------------------------------------------------------------------------------------------
    def to_kind(self, kind):
        """The same motion in the joint layout of ``kind`` (joints mapped by name).

        Betas carry over only between models sharing a shape space (SMPL <-> SMPL-H keep ``betas[:10]``); between
        other kinds they are dropped with a warning, as is the expression when leaving SMPL-X. Missing joints are
        zero (flat fingers, identity jaw / eyes / SMPL hands).
        """
        if kind == self.kind:
            return self.copy()
        poses = layouts.convert_pose_layout(self.poses, self.kind, kind)
        target = set(layouts.JOINT_NAMES[kind])
        moving = np.any(self.poses.reshape(self.num_frames, -1, 3) != 0, axis=(0, 2))
        dropped = [name for name, moves in zip(layouts.JOINT_NAMES[self.kind], moving) if moves and name not in target]
        if dropped:
            listed = ", ".join(dropped[:6]) + (f" and {len(dropped) - 6} more" if len(dropped) > 6 else "")
            warnings.warn(
                f"{self.source or 'motion'}: {len(dropped)} joints of the {self.kind} motion do not exist on "
                f"a {kind} body and are dropped ({listed}); a {self.kind} model keeps them",
                stacklevel=2,
            )
        shared = _SHARED_SHAPE_SPACE.get(frozenset((self.kind, kind)))
        betas = self.betas[:shared].copy() if shared else np.zeros(0)
        if betas.size < self.betas.size and np.any(self.betas[betas.size :] != 0):
            what = (
                f"only the first {shared} betas carry over from {self.kind} to {kind}"
                if shared
                else f"betas do not carry across different models ({self.kind} -> {kind}): dropped"
            )
            warnings.warn(f"{self.source or 'motion'}: {what}", stacklevel=2)
        expression = self.expression if kind == "smplx" else None
        if self.expression is not None and expression is None and np.any(self.expression != 0):
            warnings.warn(f"{self.source or 'motion'}: a {kind} body has no expression: dropped", stacklevel=2)
        return self.copy(kind=kind, poses=poses, betas=betas, expression=expression)

    # -- world frame ---------------------------------------------------------------------------------------------
    def reframe(self, up_axis, model):
        """The same motion expressed in a Y-up or Z-up world.

        The root orientation is pre-multiplied by the world rotation and ``trans`` becomes
        ``Q (trans + J_0) - J_0``, with ``J_0`` the pelvis rest joint of this shape (and expression) in ``model``,
        which must be of the motion's kind. Body, hand and face poses are unchanged.
        """
        if up_axis not in UP_AXES:
            raise ValueError(f"up_axis must be 'Y' or 'Z', got {up_axis!r}")
        if up_axis == self.up_axis:
            return self.copy()
        pelvis = pelvis_rest_joints(self, model)
        rotation = conversions.Z_UP_TO_Y_UP if up_axis == "Y" else conversions.Y_UP_TO_Z_UP
        poses = self.poses.copy()
        poses[:, :3], trans = conversions.reframe(self.poses[:, :3], self.trans, rotation, pelvis)
        return self.copy(poses=poses, trans=trans, up_axis=up_axis)


def model_betas(betas, model, source=None):
    """``betas`` fitted to ``model.num_betas``: zero-padded, or cut with a warning when the cut values are not 0."""
    betas = np.asarray(betas, dtype=np.float64).reshape(-1)
    if betas.size > model.num_betas:
        if np.any(betas[model.num_betas :] != 0):
            warnings.warn(
                f"{source or 'motion'}: {betas.size} betas, the model has {model.num_betas}: "
                "the extra betas are ignored",
                stacklevel=3,
            )
        betas = betas[: model.num_betas]
    return betas


def pelvis_rest_joints(motion, model):
    """``J_0`` of the motion's shape in ``model``: ``(3,)``, or ``(F, 3)`` when an expression varies per frame."""
    if model is None:
        raise ValueError(
            f"{motion.source or 'motion'}: changing the world frame needs the body model (J_0 depends "
            "on the shape): pass model="
        )
    if model.kind != motion.kind:
        raise ValueError(f"{motion.source or 'motion'}: the motion is {motion.kind} but the model is {model.kind}")
    betas = model_betas(motion.betas, model, motion.source)
    expression = None
    if motion.expression is not None and model.num_expressions:
        expression = motion.expression[:, : model.num_expressions]
        if motion.num_frames == 0 or np.all(expression == expression[:1]):
            expression = expression[0] if motion.num_frames else None
    joints = model.rest_joints(betas, expression)
    return joints[..., 0, :]


def slerp(q0, q1, weight):
    """Shortest-arc spherical interpolation of unit quaternions ``(..., 4)`` with ``weight (...)`` in ``[0, 1]``.

    ``q1`` is flipped into ``q0``'s hemisphere first (``q`` and ``-q`` are the same rotation). Nearly equal
    quaternions fall back to normalised linear interpolation, where slerp's ``sin`` ratio loses precision.
    """
    q0 = np.asarray(q0, dtype=np.float64)
    q1 = np.asarray(q1, dtype=np.float64)
    w = np.asarray(weight, dtype=np.float64)[..., None]
    dot = np.sum(q0 * q1, axis=-1, keepdims=True)
    q1 = np.where(dot < 0, -q1, q1)
    dot = np.clip(np.abs(dot), 0.0, 1.0)
    angle = np.arccos(dot)
    sin_angle = np.sin(angle)
    near = sin_angle < 1e-6
    safe = np.where(near, 1.0, sin_angle)
    a = np.where(near, 1.0 - w, np.sin((1.0 - w) * angle) / safe)
    b = np.where(near, w, np.sin(w * angle) / safe)
    q = a * q0 + b * q1
    return q / np.linalg.norm(q, axis=-1, keepdims=True)
