# SPDX-License-Identifier: GPL-3.0-or-later
"""F-curves of any ID on Blender 4.4+/5.x layered actions: find the channelbag, read values in bulk, write keys in bulk.

Writing is ``keyframe_points.add`` + ``foreach_set`` per F-curve (never ``keyframe_insert`` per key, which is
quadratic), replacing earlier keys inside the written span and keeping the rest. Nothing here knows about bodies.
"""

import re

import bpy
import numpy as np


def _suitable_slot(action, id_type):
    """First slot of ``action`` that can animate an ID of ``id_type`` (or an unspecified one), or None."""
    return next((slot for slot in action.slots if slot.target_id_type in ("UNSPECIFIED", id_type)), None)


def _slot_channelbag(action, slot, create):
    """The channelbag of ``slot`` in the first keyframe strip holding one (made on the first layer / strip if
    ``create``), or None.

    Written on the layered-action RNA API (Blender 4.4+) itself: bpy_extras.anim_utils gained its slot and
    ensure-channelbag helpers only in 5.0.
    """
    for layer in action.layers:
        for strip in layer.strips:
            bag = strip.channelbag(slot)
            if bag is not None:
                return bag
    if not create:
        return None
    layer = action.layers[0] if len(action.layers) else action.layers.new("Layer")
    strip = layer.strips[0] if len(layer.strips) else layer.strips.new(type="KEYFRAME")
    return strip.channelbag(slot, ensure=True)


def channelbag(id_block, create=False):
    """The channelbag (F-curves of the assigned action slot) of ``id_block``, or None; ``create`` makes an action."""
    ad = id_block.animation_data
    if ad is None or ad.action is None:
        if not create:
            return None
        ad = ad or id_block.animation_data_create()
        ad.action = bpy.data.actions.new(f"{id_block.name}Action")
    if ad.action_slot is None:
        if not create:
            return None
        slot = _suitable_slot(ad.action, id_block.id_type)
        ad.action_slot = slot or ad.action.slots.new(id_block.id_type, id_block.name)
    return _slot_channelbag(ad.action, ad.action_slot, create)


def action_frame_range(id_block):
    """(start, end) whole frames of the action assigned to ``id_block`` (rounded outwards), or None without one."""
    ad = getattr(id_block, "animation_data", None)
    if ad is None or ad.action is None:
        return None
    start, end = ad.action.frame_range
    return int(np.floor(start + 1e-6)), int(np.ceil(end - 1e-6))


def curves_by_channel(id_block):
    """``{(data_path, array_index): FCurve}`` of the ID's assigned action slot (empty without one)."""
    bag = channelbag(id_block)
    return {} if bag is None else {(fc.data_path, fc.array_index): fc for fc in bag.fcurves}


def keyframe_frames(fcurves):
    """Sorted unique frames (float64) holding a keyframe on any of ``fcurves``."""
    frames = [np.empty(0)]
    for fc in fcurves:
        co = np.empty(2 * len(fc.keyframe_points), dtype=np.float32)
        fc.keyframe_points.foreach_get("co", co)
        frames.append(co[0::2])
    return np.unique(np.concatenate(frames).astype(np.float64))


def sample_fcurve(fc, frames):
    """Values of one F-curve at ``frames`` (F,): exact keys are read in bulk, other frames evaluated."""
    co = np.empty(2 * len(fc.keyframe_points), dtype=np.float32)
    fc.keyframe_points.foreach_get("co", co)
    key_frames, key_values = co[0::2].astype(np.float64), co[1::2].astype(np.float64)
    out = np.empty(len(frames), dtype=np.float64)
    hit = np.zeros(len(frames), dtype=bool)
    if len(key_frames) and not fc.modifiers:  # modifiers change values even at keys
        pos = np.searchsorted(key_frames, frames).clip(0, len(key_frames) - 1)
        hit = np.abs(key_frames[pos] - frames) < 1e-4
    if hit.any():
        out[hit] = key_values[pos[hit]]
    for i in np.flatnonzero(~hit):
        out[i] = fc.evaluate(frames[i])
    return out


def shape_key_sequence(key, prefix, frames):
    """``(F, n)`` values of the ``<prefix>###`` shape keys of ``key`` at ``frames`` (animated keys sampled, the static
    value otherwise), or None when there is no such key."""
    blocks = [b for b in key.key_blocks if re.fullmatch(prefix + r"\d{3}", b.name)]
    if not blocks:
        return None
    bag = channelbag(key)
    out = np.empty((len(frames), len(blocks)))
    for i, block in enumerate(blocks):
        fc = bag.fcurves.find(f'key_blocks["{block.name}"].value') if bag is not None else None
        out[:, i] = sample_fcurve(fc, frames) if fc is not None else block.value
    return out


def _new_fcurve(bag, data_path, index, group=None):
    """A new F-curve in channelbag ``bag``, in the channel group named ``group`` (made if missing) when given."""
    if bpy.app.version >= (5, 0):
        return bag.fcurves.new(data_path, index=index, group_name=group or "")
    fc = bag.fcurves.new(data_path, index=index)  # Blender 4.4 / 4.5: no group_name argument yet
    if group:
        fc.group = bag.groups.get(group) or bag.groups.new(group)
    return fc


def write_fcurves(
    id_block, channels, frames, values, group=None, interpolation="LINEAR", replace="span", delete_frames=()
):
    """Key ``values (C, F)`` at ``frames (F,)`` on the channels ``[(data_path, index), ...]`` of ``id_block``.

    ``replace="span"``: existing keys of these channels inside ``[min(frames), max(frames)]`` are replaced and keys
    outside are kept; ``replace="frames"``: only keys at exactly ``frames`` (and at ``delete_frames``) are replaced.
    One ``keyframe_points.add`` + ``foreach_set`` per channel, never ``keyframe_insert``.
    """
    frames = np.asarray(frames, dtype=np.float64).reshape(-1)
    values = np.asarray(values, dtype=np.float64).reshape(len(channels), len(frames))
    drop = np.concatenate([frames, np.asarray(delete_frames, dtype=np.float64).reshape(-1)])
    if len(drop) == 0:
        return
    bag = channelbag(id_block, create=True)
    interp_enum = bpy.types.Keyframe.bl_rna.properties["interpolation"].enum_items[interpolation].value
    for (path, index), row in zip(channels, values):
        fc = bag.fcurves.find(path, index=index)
        if fc is None:
            if len(frames) == 0:
                continue
            fc = _new_fcurve(bag, path, index, group)
        points = fc.keyframe_points
        co = np.stack([frames, row], 1)
        interp = np.full(len(frames), interp_enum, np.int32)
        if len(points):
            old = np.empty(2 * len(points), dtype=np.float32)
            points.foreach_get("co", old)
            old_interp = np.empty(len(points), dtype=np.int32)
            points.foreach_get("interpolation", old_interp)
            old_frames = old[0::2].astype(np.float64)
            if replace == "span":
                keep = (old_frames < drop.min() - 1e-4) | (old_frames > drop.max() + 1e-4)
            else:
                keep = np.min(np.abs(old_frames[:, None] - drop[None, :]), axis=1) > 1e-4
            co = np.concatenate([old.reshape(-1, 2)[keep], co])
            interp = np.concatenate([old_interp[keep], interp])
            order = np.argsort(co[:, 0], kind="stable")
            co, interp = co[order], interp[order]
            points.clear()
        points.add(len(co))
        points.foreach_set("co", co.astype(np.float32).reshape(-1))
        points.foreach_set("interpolation", interp)
        fc.update()
