# SPDX-License-Identifier: GPL-3.0-or-later
"""Pose correctives keyed over an animation: for every keyframe of the body's bones, or every frame of a range.

One batched pose read (F-curves, or evaluated frames when constraints / drivers / NLA are in play), one core call for
all frames, and one bulk F-curve write per ``Pose###`` key. Earlier corrective keys in the keyed span are replaced.
All 9 (J - 1) correctives are keyed (207 / 459 / 486), hands included.
"""

import numpy as np

from .. import core
from .animation import bone_keyframe_frames, read_pose_sequence, write_fcurves
from .body import body_mesh, body_model, find_body
from .correctives import corrective_key_range

SCOPES = ("FRAME", "KEYFRAMES", "RANGE")
CHUNK = 256  # frames per progress step


def corrective_channels(mesh_obj):
    """``[(data_path, 0), ...]`` of the mesh's ``Pose###`` keys, in key order."""
    start, count = corrective_key_range(mesh_obj)
    blocks = mesh_obj.data.shape_keys.key_blocks if count else []
    return [(f'key_blocks["{blocks[start + i].name}"].value', 0) for i in range(count)]


def frames_for_scope(armature, scope, frame_start=None, frame_end=None):
    """The frames a scope keys: KEYFRAMES -> frames holding a bone keyframe (limited to the range when given);
    RANGE -> every whole frame from ``frame_start`` to ``frame_end`` (default: the scene range)."""
    import bpy

    scene = bpy.context.scene
    if scope == "KEYFRAMES":
        frames = bone_keyframe_frames(armature)
        if frame_start is not None:
            frames = frames[frames >= frame_start - 1e-4]
        if frame_end is not None:
            frames = frames[frames <= frame_end + 1e-4]
        return frames
    if scope == "RANGE":
        start = scene.frame_start if frame_start is None else int(frame_start)
        end = scene.frame_end if frame_end is None else int(frame_end)
        if end < start:
            raise ValueError(f"frame range {start}..{end} is empty")
        return np.arange(start, end + 1, dtype=np.float64)
    raise ValueError(f"unknown scope {scope!r}; use one of {', '.join(SCOPES)}")


def key_correctives_iter(
    armature, scope="KEYFRAMES", frame_start=None, frame_end=None, frames=None, delete_frames=(), replace="span"
):
    """Generator doing the work in steps: yields progress in [0, 1], returns the keyed frames.

    Nothing is written until every pose has been read, so a caller that stops iterating (cancel) changes nothing.
    ``frames`` overrides the scope's frames; ``replace`` / ``delete_frames`` are passed to :func:`write_fcurves`.
    """
    armature = find_body(armature) or armature
    mesh = body_mesh(armature)
    channels = corrective_channels(mesh) if mesh is not None else []
    if frames is None:
        frames = frames_for_scope(armature, scope, frame_start, frame_end)
    frames = np.asarray(frames, dtype=np.float64)
    if not channels or (len(frames) == 0 and len(delete_frames) == 0):
        return frames
    model = body_model(armature)
    weights = np.empty((len(frames), len(channels)), dtype=np.float32)
    for s in range(0, len(frames), CHUNK):
        poses, _ = read_pose_sequence(armature, frames[s : s + CHUNK])
        weights[s : s + CHUNK] = core.pose_corrective_weights(poses, model)[:, : len(channels)]
        yield min(1.0, (s + CHUNK) / max(len(frames), 1)) * 0.9
    write_fcurves(
        mesh.data.shape_keys,
        channels,
        frames,
        weights.T,
        group="Correctives",
        replace=replace,
        delete_frames=delete_frames,
    )
    yield 1.0
    return frames


def key_correctives(armature, scope="KEYFRAMES", frame_start=None, frame_end=None, progress=None, **kwargs):
    """Key the body's ``Pose###`` values at the scope's frames. ``progress(fraction)`` is called per step.

    Returns the keyed frames (F,).
    """
    it = key_correctives_iter(armature, scope, frame_start, frame_end, **kwargs)
    while True:
        try:
            fraction = next(it)
        except StopIteration as stop:
            return stop.value
        if progress is not None:
            progress(fraction)
