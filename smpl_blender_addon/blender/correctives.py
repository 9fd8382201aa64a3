# SPDX-License-Identifier: GPL-3.0-or-later
"""Pose-corrective shape keys (Pose###): set for the current pose, or keyed over an animation.

Pose### values = the pose feature of the pose read from the bones (R_j - I for j >= 1, row-major: 9 (J - 1) values,
207 / 459 / 486, hands included). A keyed scope does one batched pose read (F-curves, or evaluated frames when
constraints / drivers / NLA are in play), one core call for all frames, and one bulk F-curve write per ``Pose###`` key;
earlier corrective keys in the keyed span are replaced.
"""

import bpy
import numpy as np

from .. import core
from .animation import bone_keyframe_frames, read_pose_sequence
from .body import Body
from .bones import current_pose
from .fcurves import write_fcurves

SCOPES = ("FRAME", "KEYFRAMES", "RANGE")
CHUNK = 256  # frames per progress step


def corrective_key_range(mesh_obj):
    """(start, count) of the contiguous Pose### keys in the mesh's key_blocks, or (-1, 0) if there are none."""
    keys = mesh_obj.data.shape_keys
    if keys is None:
        return -1, 0
    blocks = keys.key_blocks
    start = blocks.find("Pose000")
    if start < 0:
        return -1, 0
    count = 0
    for block in blocks[start:]:  # 9(J-1) names, no per-vertex work
        if not block.name.startswith("Pose"):
            break
        count += 1
    return start, count


def corrective_channels(mesh_obj):
    """``[(data_path, 0), ...]`` of the mesh's ``Pose###`` keys, in key order."""
    start, count = corrective_key_range(mesh_obj)
    blocks = mesh_obj.data.shape_keys.key_blocks if count else []
    return [(f'key_blocks["{blocks[start + i].name}"].value', 0) for i in range(count)]


def corrective_weights(model, poses):
    """(B, 3J) or (3J,) Rodrigues poses -> (B, 9(J-1)) float32 corrective key values."""
    return np.asarray(core.pose_corrective_weights(np.asarray(poses, dtype=np.float64), model), dtype=np.float32)


def update_correctives(armature, scope="FRAME", frame_start=None, frame_end=None, progress=None):
    """Pose### correctives of a body.

    FRAME: set the values for the current pose with one key_blocks.foreach_set; returns the values.
    KEYFRAMES / RANGE: key them at every bone keyframe / every frame of the range (:func:`key_correctives`);
    returns the keyed frames.
    """
    body = Body.of(armature)
    if scope != "FRAME":
        return key_correctives(body, scope, frame_start, frame_end, progress=progress)
    if body.mesh is None:
        return None
    start, count = corrective_key_range(body.mesh)
    if count == 0:
        return None
    weights = corrective_weights(body.model, current_pose(body))[0]
    blocks = body.shape_keys.key_blocks
    values = np.empty(len(blocks), dtype=np.float32)
    blocks.foreach_get("value", values)
    values[start : start + count] = weights[:count]
    blocks.foreach_set("value", values)
    body.mesh.data.update()
    return weights


def frames_for_scope(armature, scope, frame_start=None, frame_end=None):
    """The frames a scope keys: KEYFRAMES -> frames holding a bone keyframe (limited to the range when given);
    RANGE -> every whole frame from ``frame_start`` to ``frame_end`` (default: the scene range)."""
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
    body = Body.of(armature)
    channels = corrective_channels(body.mesh) if body.mesh is not None else []
    if frames is None:
        frames = frames_for_scope(body, scope, frame_start, frame_end)
    frames = np.asarray(frames, dtype=np.float64)
    if not channels or (len(frames) == 0 and len(delete_frames) == 0):
        return frames
    weights = np.empty((len(frames), len(channels)), dtype=np.float32)
    for s in range(0, len(frames), CHUNK):
        poses, _ = read_pose_sequence(body, frames[s : s + CHUNK])
        weights[s : s + CHUNK] = core.pose_corrective_weights(poses, body.model)[:, : len(channels)]
        yield min(1.0, (s + CHUNK) / max(len(frames), 1)) * 0.9
    write_fcurves(
        body.shape_keys,
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
