# SPDX-License-Identifier: GPL-3.0-or-later
"""Temporary copies of a body that an export may change: without correctives, with limited influences, and
rotated / scaled for the Unity and Unreal presets (with Unreal's root motion). Everything is removed on exit."""

import contextlib

import bpy
import numpy as np
from mathutils import Matrix

from ...core.influences import limit_influences
from ..build import read_vertex_groups
from ..fcurves import channelbag, sample_fcurve, write_fcurves
from .presets import CORRECTIVE_PREFIX
from .scene_state import restore_names, swap_names


@contextlib.contextmanager
def mesh_copy(mesh_obj):
    """Give ``mesh_obj`` a temporary copy of its mesh (yielded) that the export may change; the original is put back
    on exit. The copy keeps the original's name (the file's geometry name) and its key animation (the same action
    and slot); F-curves of keys removed from the copy no longer resolve and are skipped by Blender."""
    original = mesh_obj.data
    name = original.name
    copy = original.copy()
    try:
        mesh_obj.data = copy
        original.name = name + ".smpl-export-original"
        copy.name = name
        yield copy
    finally:
        mesh_obj.data = original
        if copy.name == name:
            copy.name = name + ".smpl-export-copy"
        original.name = name
        bpy.data.meshes.remove(copy)  # its shape-key datablock goes with it


@contextlib.contextmanager
def mesh_without_correctives(mesh_obj):
    """The export sees ``mesh_obj`` without its Pose### keys (a temporary copy of the mesh)."""
    keys = mesh_obj.data.shape_keys
    if keys is None or not any(b.name.startswith(CORRECTIVE_PREFIX) for b in keys.key_blocks):
        yield
        return
    with mesh_copy(mesh_obj) as copy:
        blocks = copy.shape_keys.key_blocks
        # remove from the end: each removal is cheap there (no key after it to relink)
        for block in reversed([b for b in blocks if b.name.startswith(CORRECTIVE_PREFIX)]):
            mesh_obj.shape_key_remove(block)
        yield


@contextlib.contextmanager
def limited_influences(mesh_obj, count):
    """The export sees ``mesh_obj`` with at most ``count`` joint weights per vertex (:func:`core.influences.
    limit_influences`: the largest kept, rescaled to the vertex's sum), on a temporary copy of the mesh.
    Yields the number of vertices that were changed."""
    if mesh_obj is None or count is None:
        yield 0
        return
    weights = read_vertex_groups(mesh_obj)
    limited = limit_influences(weights, count).astype(np.float32)
    changed = np.flatnonzero(np.any(limited != weights, axis=1))
    if not changed.size:
        yield 0
        return
    with mesh_copy(mesh_obj):
        groups = mesh_obj.vertex_groups
        for g in range(weights.shape[1]):
            rows = changed[weights[changed, g] != limited[changed, g]]
            dropped = rows[limited[rows, g] == 0]
            if dropped.size:
                groups[g].remove(dropped.tolist())
            for v in rows[limited[rows, g] != 0].tolist():
                groups[g].add([v], float(limited[v, g]), "REPLACE")
        yield int(changed.size)


def object_animated(id_block):
    """True when an object's own transform (not its pose bones) has F-curves."""
    bag = channelbag(id_block)
    return bag is not None and any(not fc.data_path.startswith("pose.bones[") for fc in bag.fcurves)


@contextlib.contextmanager
def transformed_copies(armature, mesh_obj, scale=1.0, rotation=None):
    """Temporary copies of the body whose data (rest bones, mesh, shape keys) is rotated and scaled.

    ``scale``: lengths x scale in the data and the location F-curves (Unreal: centimetres in the bones themselves, so
    no node is scaled). ``rotation`` (4x4, the exporter's axis conversion): the data is rotated by it and the objects
    by its inverse, so the world is unchanged and the exporter's conversion cancels on the root nodes (Unity: root
    rotation 0). Bone-local values (rotations, locations) do not change under a rotation of the rest frames.
    The copies carry the originals' names (the originals are renamed meanwhile); everything is removed and renamed
    back on exit. Yields (armature copy, mesh copy or None).
    """
    collection = bpy.context.scene.collection
    rotation = Matrix.Identity(4) if rotation is None or object_animated(armature) else rotation
    data_matrix = rotation @ Matrix.Scale(scale, 4)
    created = []
    undo = []
    # the originals leave the depsgraph meanwhile: else the original mesh is still evaluated at every baked frame
    hidden = [(o, o.hide_viewport) for o in (armature, mesh_obj) if o is not None]
    try:
        for o, _ in hidden:
            o.hide_viewport = True
        arm_data = armature.data.copy()
        created.append(arm_data)
        arm_copy = armature.copy()
        created.append(arm_copy)
        arm_copy.data = arm_data
        arm_copy.hide_viewport = False  # copied from the hidden original
        arm_copy.animation_data_clear()
        collection.objects.link(arm_copy)
        arm_data.transform(data_matrix)
        arm_copy.matrix_basis = armature.matrix_basis @ rotation.inverted()
        ad = armature.animation_data
        if ad is not None and ad.action is not None:
            action = ad.action.copy()
            created.append(action)
            new_ad = arm_copy.animation_data_create()
            new_ad.action = action
            new_ad.action_slot = action.slots[ad.action_slot.identifier] if ad.action_slot else None
            bag = channelbag(arm_copy)
            for fc in bag.fcurves if bag is not None and scale != 1.0 else ():
                if fc.data_path.startswith("pose.bones[") and fc.data_path.endswith(".location"):
                    co = np.empty(2 * len(fc.keyframe_points), dtype=np.float32)
                    for prop in ("co", "handle_left", "handle_right"):
                        fc.keyframe_points.foreach_get(prop, co)
                        co[1::2] *= scale
                        fc.keyframe_points.foreach_set(prop, co)
                    fc.update()
        pb_copy = arm_copy.pose.bones
        for pb in armature.pose.bones:  # unkeyed static locations scale too
            pb_copy[pb.name].location = pb.location * scale
        undo += swap_names([(armature, arm_copy), (armature.data, arm_data)])
        mesh_copy = None
        if mesh_obj is not None:
            mesh_data = mesh_obj.data.copy()
            created.append(mesh_data)
            mesh_copy = mesh_obj.copy()
            created.append(mesh_copy)
            mesh_copy.data = mesh_data
            mesh_copy.hide_viewport = False
            collection.objects.link(mesh_copy)
            mesh_data.transform(data_matrix, shape_keys=True)
            mesh_copy.parent = arm_copy
            # world' = A R^-1 (R P) (B R^-1) = A P B R^-1: the rotated data lands where it was
            mesh_copy.matrix_parent_inverse = rotation @ mesh_obj.matrix_parent_inverse
            mesh_copy.matrix_basis = mesh_obj.matrix_basis @ rotation.inverted()
            for mod in mesh_copy.modifiers:
                if mod.type == "ARMATURE" and mod.object == armature:
                    mod.object = arm_copy
            undo += swap_names([(mesh_obj, mesh_copy), (mesh_obj.data, mesh_data)])
        yield arm_copy, mesh_copy
    finally:
        restore_names(undo)
        for o, hide in hidden:
            o.hide_viewport = hide
        for id_block in reversed(created):
            with contextlib.suppress(ReferenceError):
                if isinstance(id_block, bpy.types.Object):
                    bpy.data.objects.remove(id_block)
                elif isinstance(id_block, bpy.types.Mesh):
                    bpy.data.meshes.remove(id_block)
                elif isinstance(id_block, bpy.types.Armature):
                    bpy.data.armatures.remove(id_block)
                elif isinstance(id_block, bpy.types.Action):
                    bpy.data.actions.remove(id_block)


def root_motion_on_the_armature(armature, start, end):
    """Unreal: the horizontal part of the root bone's motion moves to the armature object (the FBX node above the
    bones, which Unreal makes the skeleton's root bone), so "Enable Root Motion" extracts the walk while the pelvis
    keeps its height and sway. Every world joint is unchanged. Only on the temporary copy, and only when the armature
    object is not animated itself. Returns True when done.

    Keys at every frame of ``start..end``: armature location = its location + (the pelvis displacement from rest on
    the armature's ground plane, through the object's matrix), pelvis location = the rest of the displacement.
    """
    if object_animated(armature) or armature.parent is not None:
        return False
    roots = [b for b in armature.data.bones if b.parent is None]
    bag = channelbag(armature)
    if len(roots) != 1 or bag is None:
        return False
    root = roots[0]
    path = f'pose.bones["{root.name}"].location'
    frames = np.arange(start, end + 1, dtype=np.float64)
    static = armature.pose.bones[root.name].location
    curves = [bag.fcurves.find(path, index=i) for i in range(3)]
    local = np.stack(
        [
            sample_fcurve(fc, frames) if fc is not None else np.full(len(frames), static[i])
            for i, fc in enumerate(curves)
        ],
        axis=1,
    )  # (F, 3) in the bone's rest axes
    rest = np.array(root.matrix_local.to_3x3(), dtype=np.float64)
    ground = local @ rest.T  # armature space
    ground[:, 2] = 0.0  # the armature's Z is up (Blender's world for the Unreal preset)
    write_fcurves(armature, [(path, i) for i in range(3)], frames, (local - ground @ rest).T, group=root.name)
    basis = np.array(armature.matrix_basis.to_3x3(), dtype=np.float64)
    location = np.array(armature.location, dtype=np.float64) + ground @ basis.T
    write_fcurves(armature, [("location", i) for i in range(3)], frames, location.T, group="Object Transforms")
    return True
