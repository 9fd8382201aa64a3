# SPDX-License-Identifier: GPL-3.0-or-later
"""Fast bake: the body mesh sits out the exporters' frame loops, its shape-key values fed from its F-curves.

Blender's FBX bake (and the glTF sampler) calls ``scene.frame_set`` per frame and reads only the bones' pose and the
shape-key *values*, but each ``frame_set`` also evaluates the body mesh with its ~500 shape keys (16-90 ms, nearly all
of the export time). During the bake the mesh object is taken out of the depsgraph, and the values its key animation
would have written are written to the key blocks from the same F-curves (read in bulk at whole frames,
``FCurve.evaluate`` elsewhere, clamped like the animation system) in a ``frame_change_post`` handler. The exporter
then reads exactly the values of a plain export: the FBX files are the same for ufbx, the .glb files byte for byte
(tests, scripts/bench_export.py). Key animation that is not a plain action (drivers, NLA, partial influence, other
channels) keeps the plain path. The exporter internals are reached through compat.py (verified versions only).
"""

import contextlib

import bpy
import numpy as np

from .. import compat
from ..body import PROP_MESH
from ..fcurves import channelbag, sample_fcurve
from .copies import object_animated


def _value_curves(key):
    """``[(key block index, FCurve), ...]`` animating ``key_blocks[...].value`` as a plain action, or None.

    None when Blender's evaluation of the key's animation is not the action's F-curves alone (drivers, active NLA
    tracks, influence < 1, combine modes, F-curves on other properties): those keep the plain (slow) bake.
    """
    ad = key.animation_data
    if ad is None:
        return []
    if len(ad.drivers) or any(not t.mute and len(t.strips) for t in ad.nla_tracks):
        return None  # drivers (e.g. keys driven by bones) need Blender's evaluation of the key
    if ad.action is None:
        return []
    if ad.action_influence != 1.0 or ad.action_blend_type != "REPLACE" or ad.action_extrapolation != "HOLD":
        return None
    action = ad.action
    if len(action.layers) > 1 or any(len(layer.strips) > 1 for layer in action.layers):
        return None
    bag = channelbag(key)
    if bag is None:
        return []
    blocks = key.key_blocks
    out = []
    for fc in bag.fcurves:
        path = fc.data_path
        if not (path.startswith('key_blocks["') and path.endswith('"].value')):
            return None
        if fc.mute or (fc.group is not None and fc.group.mute):
            continue
        index = blocks.find(path[len('key_blocks["') : -len('"].value')].replace('\\"', '"'))
        if index < 0:
            continue  # a key this mesh does not have (e.g. the correctives="none" copy): Blender skips it too
        out.append((index, fc))
    return out


class _KeyValueFeed:
    """Shape-key values of a key's animated ``key_blocks`` at any frame, from their F-curves.

    Whole frames of the baked range are read in bulk up front (keys exactly at a frame are read from the keyframe
    points, other frames evaluated by Blender); any other frame is evaluated curve by curve. Values are clamped to
    each key's slider range, as Blender's animation system does when it writes them.
    """

    def __init__(self, blocks, curves, frame_start, frame_end):
        self.blocks = blocks
        self.curves = [fc for _, fc in curves]
        self.index = np.array([i for i, _ in curves], dtype=np.int64)
        lo = np.empty(len(blocks), dtype=np.float32)
        hi = np.empty(len(blocks), dtype=np.float32)
        blocks.foreach_get("slider_min", lo)
        blocks.foreach_get("slider_max", hi)
        self.lo, self.hi = lo[self.index], hi[self.index]
        self.first = int(frame_start)
        frames = np.arange(frame_start, frame_end + 1, dtype=np.float64)
        table = np.empty((len(frames), len(self.curves)), dtype=np.float64)
        for c, fc in enumerate(self.curves):
            table[:, c] = sample_fcurve(fc, frames)
        self.table = np.clip(table, self.lo, self.hi)

    def animated(self, frame):
        """(C,) values of the animated keys at ``frame``."""
        row = frame - self.first
        if float(frame).is_integer() and 0 <= row < len(self.table):
            return self.table[int(row)]
        values = np.fromiter((fc.evaluate(frame) for fc in self.curves), dtype=np.float64, count=len(self.curves))
        return np.clip(values, self.lo, self.hi)

    def values(self, frame):
        """(K,) float32: every key's current value with the animated ones at ``frame``."""
        values = np.empty(len(self.blocks), dtype=np.float32)
        self.blocks.foreach_get("value", values)
        if len(self.index):
            values[self.index] = self.animated(frame)
        return values


class _MeshSitsOut:
    """Take the body mesh (and other bodies' skins) out of the depsgraph and feed its key values from its F-curves.

    ``start()`` / ``stop()`` bracket an exporter's sampling loop, which reads the bones' pose and the key *values*
    after each ``scene.frame_set`` but not the deformed mesh. ``prepare`` returns None when the key animation is not a
    plain action that :class:`_KeyValueFeed` reproduces, or when the values Blender's animation gives at the current
    frame differ from the F-curves' (then the exporter runs unchanged).
    """

    def __init__(self, mesh_obj, key, feed_values):
        self.mesh_obj, self.blocks, self.feed_values = mesh_obj, key.key_blocks, feed_values
        self.hidden = None

    @classmethod
    def prepare(cls, mesh_obj):
        key = mesh_obj.data.shape_keys if mesh_obj is not None else None
        curves = _value_curves(key) if key is not None else None
        if curves is None:
            return None
        scene = bpy.context.scene
        blocks = key.key_blocks
        feed_values = _KeyValueFeed(blocks, curves, scene.frame_start, scene.frame_end)
        scene.frame_set(scene.frame_current, subframe=scene.frame_subframe)  # flush the animation to the key blocks
        current = np.empty(len(blocks), dtype=np.float32)
        blocks.foreach_get("value", current)
        now = feed_values.values(scene.frame_current + scene.frame_subframe)
        if not np.allclose(now, current, rtol=0.0, atol=1e-6):
            return None
        return cls(mesh_obj, key, feed_values)

    def feed(self, scene, depsgraph=None):
        self.blocks.foreach_set("value", self.feed_values.values(scene.frame_current + scene.frame_subframe))

    def start(self):
        if self.hidden is not None:
            return
        # this mesh, and the skins of other bodies in the scene (not exported, as costly to evaluate), sit out
        scene = bpy.context.scene
        skins = [o for o in scene.objects if o.type == "MESH" and o.get(PROP_MESH) and not o.hide_viewport]
        skins = [self.mesh_obj] + [o for o in skins if o != self.mesh_obj]
        self.hidden = [(o, o.hide_viewport) for o in skins]
        self.saved = np.empty(len(self.blocks), dtype=np.float32)
        self.blocks.foreach_get("value", self.saved)
        for o in skins:
            o.hide_viewport = True
        bpy.app.handlers.frame_change_post.insert(0, self.feed)

    def stop(self):
        if self.hidden is None:
            return
        bpy.app.handlers.frame_change_post.remove(self.feed)
        for o, hide in self.hidden:
            o.hide_viewport = hide
        self.blocks.foreach_set("value", self.saved)
        self.hidden = None


@contextlib.contextmanager
def mesh_off_during_bake(mesh_obj):
    """FBX: the mesh sits out the exporter's bake step (``fbx_animations``); yields True when the fast path is active.

    Geometry, skin and shape-key targets are gathered before the bake runs and do not see the change.
    """
    module = compat.exporter_hook(compat.FBX_BAKE_HOOK)
    sits_out = _MeshSitsOut.prepare(mesh_obj) if module is not None else None
    if sits_out is None:
        yield False
        return

    def wrap(original):
        def fast_animations(scene_data):
            sits_out.start()
            try:
                return original(scene_data)
            finally:
                sits_out.stop()

        return fast_animations

    with compat.wrapped(module, compat.FBX_BAKE_HOOK, wrap):
        yield True


@contextlib.contextmanager
def mesh_off_during_sampling(armature, mesh_obj):
    """glTF: the mesh sits out the exporter's animation sampling, from its first sampled frame to the end of the export.

    The sampler (``sampling_cache.object_caching``, called once per frame after ``frame_set``) runs after the scene's
    meshes, skins and morph targets are gathered. It reads the mesh object's ``matrix_world``, which stays as it was
    while the mesh is out of the depsgraph: only used when the armature object itself is not animated.
    Yields True when the fast path is active.
    """
    module = compat.exporter_hook(compat.GLTF_SAMPLING_HOOK)
    usable = module is not None and not object_animated(armature)
    sits_out = _MeshSitsOut.prepare(mesh_obj) if usable else None
    if sits_out is None:
        yield False
        return

    def wrap(original):
        def object_caching(*args, **kwargs):
            result = original(*args, **kwargs)
            sits_out.start()  # after the first frame: the sampler's loop goes on with the mesh out
            return result

        return object_caching

    try:
        with compat.wrapped(module, compat.GLTF_SAMPLING_HOOK, wrap):
            yield True
    finally:
        sits_out.stop()
