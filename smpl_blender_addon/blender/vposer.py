# SPDX-License-Identifier: GPL-3.0-or-later
"""VPoser on a body: a random plausible body pose, and in-betweens of two keyed poses through VPoser's latent space.

VPoser poses the 21 body joints (SMPL joints 1..21, the same in SMPL, SMPL-H and SMPL-X); the pelvis, jaw, eyes and
fingers are left as they are (random pose) or interpolated on the shortest arc (in-betweens), the translation
linearly. The weights are the user's own file (``core.vposer.VPoser.load``), loaded once per path and modification
time.
"""

import os

import bpy
import numpy as np

from ..core.motion import slerp
from ..core.rotations import axis_angle_to_quaternion, canonical_axis_angle, quaternion_to_axis_angle
from ..core.vposer import VPoser
from .animation import bone_keyframe_frames, key_pose_sequence, read_pose_sequence
from .body import Body
from .bones import write_rotations
from .correctives import key_correctives, update_correctives

BODY_JOINTS = np.arange(1, 22)  # VPoser's 21 joints in every SMPL-family layout
_CACHE: dict[tuple[str, float], VPoser] = {}


def cached_vposer(vposer):
    """A VPoser object for a VPoser, a checkpoint file or an experiment folder (cached per path and mtime)."""
    if isinstance(vposer, VPoser):
        return vposer
    path = os.path.abspath(os.path.expanduser(os.fspath(vposer)))
    key = (path, os.path.getmtime(path) if os.path.exists(path) else -1.0)
    if key not in _CACHE:
        _CACHE.clear()  # one set of weights at a time: a checkpoint holds ~4 MB of arrays
        _CACHE[key] = VPoser.load(path)
    return _CACHE[key]


def random_vposer_pose(armature, vposer, seed=None):
    """Give the body a pose drawn from VPoser (body joints 1..21); other joints keep theirs. Correctives are updated.

    Returns the body pose (63,) float64 that was set.
    """
    body = Body.of(armature)
    body_pose = np.asarray(cached_vposer(vposer).sample(1, seed=seed), dtype=np.float64).reshape(63)
    write_rotations(body, BODY_JOINTS.tolist(), body_pose)
    update_correctives(body)
    return body_pose


def vposer_inbetweens(armature, vposer, frame_start=None, frame_end=None, correctives=True):
    """Key every whole frame strictly between two keyed frames of the body with poses through VPoser's latent space
    (body joints: :meth:`core.vposer.VPoser.inbetweens`, exact at both keys); other joints slerped, translation
    linear.

    ``frame_start`` / ``frame_end`` default to the bone keyframes around the current frame. Existing keys in between
    are replaced. Returns the keyed frames (F,) float64 (empty when the two keys are adjacent).
    """
    body = Body.of(armature)
    start, end = _key_span(body, frame_start, frame_end, bpy.context.scene.frame_current)
    frames = np.arange(np.floor(start) + 1.0, np.ceil(end), dtype=np.float64)
    frames = frames[(frames > start + 1e-4) & (frames < end - 1e-4)]
    if not len(frames):
        return frames
    ends, transl = read_pose_sequence(body, np.array([start, end]))
    weights = (frames - start) / (end - start)
    poses = _slerp_poses(ends[0], ends[1], weights)  # every joint on the shortest arc, then the body joints from VPoser
    inbetweens = cached_vposer(vposer).inbetweens(ends[0, 3:66], ends[1, 3:66], weights)
    poses.reshape(len(frames), -1, 3)[:, BODY_JOINTS] = inbetweens.reshape(len(frames), 21, 3)
    between = transl[0] + weights[:, None] * (transl[1] - transl[0])
    key_pose_sequence(body, frames, poses, between)
    if correctives:
        key_correctives(body, frames=frames)
    return frames


def _key_span(body, frame_start, frame_end, current):
    """(start, end) of the interpolation: the given frames, else the bone keyframes around ``current``."""
    if frame_start is not None and frame_end is not None:
        start, end = float(frame_start), float(frame_end)
    else:
        keys = bone_keyframe_frames(body)
        before, after = keys[keys <= current + 1e-4], keys[keys > current + 1e-4]
        if not len(before) or not len(after):
            raise ValueError(f"{body.name}: the current frame needs a bone keyframe before (or at) it and one after it")
        start, end = float(before[-1]), float(after[0])  # on a key: the span that key starts
    if not end > start:
        raise ValueError(f"{body.name}: frame range {start:g}..{end:g} is empty")
    return start, end


def _slerp_poses(pose_a, pose_b, weights):
    """(F, 3J) poses on the shortest arc from ``pose_a`` to ``pose_b`` (3J,) at ``weights`` (F,), canonical."""
    qa = axis_angle_to_quaternion(np.asarray(pose_a, dtype=np.float64).reshape(-1, 3))
    qb = axis_angle_to_quaternion(np.asarray(pose_b, dtype=np.float64).reshape(-1, 3))
    q = slerp(qa[None], qb[None], np.broadcast_to(weights[:, None], (len(weights), len(qa))))
    return canonical_axis_angle(quaternion_to_axis_angle(q)).reshape(len(weights), -1)
