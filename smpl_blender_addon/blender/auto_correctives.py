# SPDX-License-Identifier: GPL-3.0-or-later
"""Automatic pose correctives: they follow the pose while posing, and their keys follow the body's animation.

- While posing (a bone of a body changes): the ``Pose###`` values are set for the current pose (live, no keys).
- After the body's action is edited (keyframes inserted, moved, changed or deleted): the corrective keys of the
  affected frames are recomputed: keyframes whose keyed correctives no longer match their pose, keyframes without
  corrective keys, and frames that stopped being keyframes (their corrective keys are removed). The set of frames
  last synchronised is stored on the armature (``smpl_corrective_frames``), so it survives undo, save and reload.

Per body, ``armature["smpl_auto_correctives"]`` turns this on or off (missing means on). Handlers are persistent
(kept across file loads), skip every object that is not a body, and guard against re-entrant updates (writing
shape-key values triggers another depsgraph update).
"""

import atexit

import bpy
import numpy as np
from bpy.app.handlers import persistent

from .. import core
from .animation import bone_keyframe_frames, read_pose_sequence
from .body import PROP_KIND, Body, body_mesh
from .correctives import corrective_channels, update_correctives
from .fcurves import channelbag, write_fcurves

PROP_AUTO = "smpl_auto_correctives"
PROP_FRAMES = "smpl_corrective_frames"
_busy = False


def is_auto(obj):
    return obj is not None and obj.type == "ARMATURE" and PROP_KIND in obj and bool(obj.get(PROP_AUTO, True))


def _keyed_values(mesh_obj, channels):
    """Existing corrective keys: frames (K,) of the first channel and values (K, P) (NaN where a channel lacks a key)."""
    bag = channelbag(mesh_obj.data.shape_keys)
    if bag is None:
        return np.empty(0), np.empty((0, len(channels)))
    per_channel = []
    for path, index in channels:
        fc = bag.fcurves.find(path, index=index)
        co = np.empty(2 * (len(fc.keyframe_points) if fc else 0), dtype=np.float32)
        if fc is not None:
            fc.keyframe_points.foreach_get("co", co)
        per_channel.append(co.reshape(-1, 2).astype(np.float64))
    frames = np.unique(np.concatenate([c[:, 0] for c in per_channel])) if per_channel else np.empty(0)
    values = np.full((len(frames), len(channels)), np.nan)
    for p, c in enumerate(per_channel):
        values[np.searchsorted(frames, c[:, 0]), p] = c[:, 1]
    return frames, values


def sync_keyed_correctives(armature, tolerance=1e-5):
    """Bring the body's corrective keys in line with its bone keyframes; returns (frames written, frames deleted)."""
    body = Body.of(armature)
    armature, mesh = body.armature, body.mesh
    channels = corrective_channels(mesh) if mesh is not None else []
    if not channels:
        return np.empty(0), np.empty(0)
    frames = bone_keyframe_frames(body)
    previous = np.asarray(armature.get(PROP_FRAMES, []), dtype=np.float64)
    removed = np.setdiff1d(previous, frames)
    keyed_frames, keyed = _keyed_values(mesh, channels)
    stale = np.empty(0)
    if len(frames):
        poses, _ = read_pose_sequence(body, frames)
        weights = core.pose_corrective_weights(poses, body.model)[:, : len(channels)]
        current = np.full_like(weights, np.nan, dtype=np.float64)
        if len(keyed_frames):
            pos = np.searchsorted(keyed_frames, frames).clip(0, len(keyed_frames) - 1)
            present = np.abs(keyed_frames[pos] - frames) < 1e-4
            current[present] = keyed[pos[present]]
        differs = ~(np.abs(current - weights) <= tolerance).all(axis=1)  # NaN (missing key) counts as different
        stale = frames[differs]
        weights = weights[differs]
    removed = removed[np.isin(removed, keyed_frames)]
    between = _between_keys_to_update(frames, np.setdiff1d(keyed_frames, removed), np.concatenate([stale, removed]))
    if len(between):  # corrective keys between keyframes (RANGE keying) follow the changed interpolation
        poses, _ = read_pose_sequence(body, between)
        extra = core.pose_corrective_weights(poses, body.model)[:, : len(channels)]
        order = np.argsort(np.concatenate([stale, between]))
        stale = np.concatenate([stale, between])[order]
        weights = np.concatenate([weights, extra])[order]
    if len(stale) or len(removed):
        write_fcurves(
            mesh.data.shape_keys,
            channels,
            stale,
            weights.T,
            group="Correctives",
            replace="frames",
            delete_frames=removed,
        )
    armature[PROP_FRAMES] = frames.tolist()
    return stale, removed


def _between_keys_to_update(frames, keyed_frames, changed):
    """Corrective-key frames that are not bone keyframes and lie where a changed keyframe alters the interpolation:
    up to two keyframes either side (Bezier handles of the neighbours move too); beyond the first / last keyframe
    the extrapolated pose changes as well."""
    between = np.setdiff1d(keyed_frames, frames)
    if not len(between) or not len(changed):
        return np.empty(0)
    if not len(frames):
        return between
    idx = np.searchsorted(frames, changed)
    lo = np.where(idx - 2 < 0, -np.inf, frames[np.clip(idx - 2, 0, len(frames) - 1)])
    hi = np.where(idx + 2 > len(frames) - 1, np.inf, frames[np.clip(idx + 2, 0, len(frames) - 1)])
    hit = ((between[:, None] > lo[None]) & (between[:, None] < hi[None])).any(axis=1)
    return between[hit]


def _bodies_of_action(action):
    return [
        ob
        for ob in bpy.data.objects
        if is_auto(ob) and ob.animation_data is not None and ob.animation_data.action == action
    ]


@persistent
def on_depsgraph_update(scene, depsgraph):
    """Recompute correctives of the bodies whose pose or action changed."""
    global _busy
    if _busy:
        return
    posed, animated = {}, {}
    for update in depsgraph.updates:
        ident = update.id.original if update.id is not None else None
        if isinstance(ident, bpy.types.Action):
            for ob in _bodies_of_action(ident):
                animated[ob.name] = ob
        elif isinstance(ident, bpy.types.Object) and is_auto(ident):
            posed[ident.name] = ident
    if not posed and not animated:
        return
    _busy = True
    try:
        for ob in animated.values():
            sync_keyed_correctives(ob)
        for name, ob in posed.items():
            if name not in animated:
                update_correctives(ob)
    finally:
        _busy = False


@persistent
def on_frame_change(scene, depsgraph=None):
    """During playback, bodies whose correctives are not keyed get them live for the frame's pose."""
    global _busy
    if _busy:
        return
    _busy = True
    try:
        for ob in scene.objects:
            if is_auto(ob) and ob.animation_data is not None and ob.animation_data.action is not None:
                mesh = body_mesh(ob)
                if mesh is not None and channelbag(mesh.data.shape_keys) is None:
                    update_correctives(ob)
    finally:
        _busy = False


def _our_handlers():
    """(handler list, our function) pairs."""
    return (
        (bpy.app.handlers.depsgraph_update_post, on_depsgraph_update),
        (bpy.app.handlers.frame_change_post, on_frame_change),
    )


def enable():
    """Install the persistent handlers (idempotent); they are removed again at interpreter exit."""
    disable()  # a reloaded add-on must not leave its old functions behind
    for handlers, fn in _our_handlers():
        handlers.append(fn)
    if not bpy.app.binary_path:  # the bpy 4.5 *module* never exits while a handler is installed; Blender is fine
        atexit.register(disable)


def disable():
    """Remove the handlers (idempotent), also the functions of an earlier load of this module (matched by name)."""
    atexit.unregister(disable)
    for handlers, fn in _our_handlers():
        for old in [h for h in handlers if getattr(h, "__name__", "") == fn.__name__]:
            handlers.remove(old)
