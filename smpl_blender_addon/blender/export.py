# SPDX-License-Identifier: GPL-3.0-or-later
"""Export an animated body (its armature and skinned mesh, nothing else) to FBX, glTF (.glb) or Alembic.

Every export leaves the scene as it was (selection, active object, frame, frame range, hidden states, temporary
changes), also on error, and writes its file atomically: into a temporary folder beside the target, then
``os.replace``. The frame range defaults to the body's action range (the scene range when it has no action).

What engines read (docs/fbx-presets.md, "What engines read"): static shape-key values at rest (glTF ``mesh.weights``
rewritten in the .glb, FBX ``DeformPercent`` set after the bake), glTF morph normals and clips from time 0, clips named
after the motion, ``max_influences`` on a temporary mesh copy, FBX object ids and time stamp made reproducible.

FBX presets (docs/fbx-presets.md): no leaf bones, bone axes Y/X kept (FBX joint rotations are SMPL rotations),
root motion on the pelvis bone; "blender" (Y-up, centimetres: Blender round trip), "unity" (Y-up, metres, root
nodes with rotation 0 and scale 1), "unreal" (Z-up, centimetres baked into the data, node scale 1). Unity and Unreal
files are written from temporary transformed copies of the body.

Speed: Blender's FBX bake (and the glTF sampler) calls ``scene.frame_set`` per frame and reads only the bones' pose
and the shape-key *values*, but each ``frame_set`` also evaluates the body mesh with its ~500 shape keys (16-90 ms,
nearly all of the export time). During the bake the mesh object is taken out of the depsgraph, and the values its key
animation would have written are written to the key blocks from the same F-curves (read in bulk at whole frames,
``FCurve.evaluate`` elsewhere, clamped like the animation system) in a ``frame_change_post`` handler. The exporter
then reads exactly the values of a plain export: the FBX files are the same for ufbx, the .glb files byte for byte
(tests, scripts/bench_export.py). Key animation that is not a plain action (drivers, NLA, partial influence, other
channels) keeps the plain path.
"""

import contextlib
import hashlib
import os
import re
import shutil
import struct
import tempfile
import time

import bpy
import numpy as np

from ..core.file_io import publish
from ..core.glb import read_glb, write_glb
from ..core.influences import limit_influences
from . import compat
from .animation import channelbag, sample_fcurve, write_fcurves
from .body import PROP_MESH, body_betas, body_expression, body_mesh, find_body, read_vertex_groups

TARGETS = ("blender", "unity", "unreal")
CORRECTIVES = ("keys", "none")
CORRECTIVE_PREFIX = "Pose"

# Options every FBX export shares: only the body, baked, unsimplified, one take, SMPL bone axes.
_FBX_COMMON = dict(
    use_selection=True,
    object_types={"ARMATURE", "MESH"},
    use_mesh_modifiers=True,
    add_leaf_bones=False,
    primary_bone_axis="Y",
    secondary_bone_axis="X",
    armature_nodetype="NULL",
    use_armature_deform_only=False,
    bake_anim=True,
    bake_anim_use_all_bones=True,
    bake_anim_use_nla_strips=False,
    bake_anim_use_all_actions=False,
    bake_anim_force_startend_keying=True,
    bake_anim_step=1.0,
    bake_anim_simplify_factor=0.0,
    mesh_smooth_type="OFF",
    use_custom_props=False,
    path_mode="AUTO",
)

# Per-target axes and units (why: docs/fbx-presets.md).
FBX_PRESETS = {
    "blender": dict(
        axis_forward="-Z",
        axis_up="Y",
        apply_unit_scale=True,
        apply_scale_options="FBX_SCALE_NONE",
        global_scale=1.0,
        bake_space_transform=False,
    ),
    "unity": dict(
        axis_forward="-Z",
        axis_up="Y",
        apply_unit_scale=True,
        apply_scale_options="FBX_SCALE_ALL",
        global_scale=1.0,
        bake_space_transform=False,
    ),
    # the body is exported from a temporary copy scaled x100 (see _transformed_copies); FBX_SCALE_ALL with 0.01 then
    # writes UnitScaleFactor 1 (cm) and leaves the data and every node scale as they are
    "unreal": dict(
        axis_forward="Y",
        axis_up="Z",
        apply_unit_scale=True,
        apply_scale_options="FBX_SCALE_ALL",
        global_scale=0.01,
        bake_space_transform=False,
    ),
}
# Targets exported from temporary copies: (length scale baked into the data, axis conversion baked into the data)
COPY_TRANSFORMS = {"unity": (1.0, True), "unreal": (100.0, False)}


def fbx_options(target="blender"):
    """Keyword arguments of ``bpy.ops.export_scene.fbx`` for a target (without ``filepath``)."""
    if target not in FBX_PRESETS:
        raise ValueError(f"unknown FBX target {target!r}; use one of {', '.join(TARGETS)}")
    return {**_FBX_COMMON, **FBX_PRESETS[target]}


# ---------------------------------------------------------------------------------------------------------- helpers


def _body_objects(obj):
    """(armature, mesh or None) of the body ``obj`` belongs to; ValueError if it is not a body."""
    armature = find_body(obj)
    if armature is None:
        name = getattr(obj, "name", obj)
        raise ValueError(f"{name!r} is not an SMPL body (select its armature or mesh)")
    return armature, body_mesh(armature)


def body_frame_range(armature):
    """(start, end) whole frames: the body's action range (bones, else shape keys), else the scene's range."""
    mesh = body_mesh(armature)
    for id_block in (armature, mesh.data.shape_keys if mesh is not None and mesh.data.shape_keys else None):
        ad = getattr(id_block, "animation_data", None)
        if ad is not None and ad.action is not None:
            start, end = ad.action.frame_range
            return int(np.floor(start + 1e-6)), int(np.ceil(end - 1e-6))
    scene = bpy.context.scene
    return scene.frame_start, scene.frame_end


def _export_setup(obj, frame_start, frame_end, correctives="keys"):
    """``(armature, mesh or None, start, end)`` of a body export, checked before anything changes."""
    if correctives not in CORRECTIVES:
        raise ValueError(f"unknown correctives mode {correctives!r}; use one of {', '.join(CORRECTIVES)}")
    armature, mesh = _body_objects(obj)
    return (armature, mesh) + _resolve_range(armature, frame_start, frame_end)


def _exported(armature, mesh):
    """The objects an export selects: the armature and its mesh (when it has one)."""
    return [armature] + ([mesh] if mesh is not None else [])


@contextlib.contextmanager
def _export_run(filepath, objects, start, end):
    """What every export does around the exporter: yields ``(ExitStack, temporary output path)``; on leaving, the
    output is moved into place (only on success) and the scene's frame range, selection and frame are restored."""
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(_atomic_output(filepath))
        stack.enter_context(_scene_kept(objects, start, end))
        yield stack, tmp


def _export_result(filepath, start, end, t0, **extra):
    """The dict every export returns: ``frames``, ``seconds`` since ``t0``, absolute ``path`` (and ``extra``)."""
    return dict(
        frames=end - start + 1, seconds=time.perf_counter() - t0, path=os.path.abspath(os.fspath(filepath)), **extra
    )


def _resolve_range(armature, frame_start, frame_end):
    start, end = body_frame_range(armature)
    start = start if frame_start is None else int(frame_start)
    end = end if frame_end is None else int(frame_end)
    if end < start:
        raise ValueError(f"frame range {start}..{end} is empty")
    return start, end


@contextlib.contextmanager
def _atomic_output(filepath):
    """Yield a temporary path with the target's file name in a hidden folder beside it; move it into place on success.

    The temporary file keeps the final name, so nothing an exporter derives from the name (glTF's .bin uri for
    separate files, texture folders) changes. On any error the temporary folder is removed and no partial file is left
    at ``filepath``.
    """
    filepath = os.path.abspath(os.fspath(filepath))
    folder = os.path.dirname(filepath)
    os.makedirs(folder, exist_ok=True)
    tmpdir = tempfile.mkdtemp(prefix=".smpl-export-", dir=folder)
    try:
        tmp = os.path.join(tmpdir, os.path.basename(filepath))
        yield tmp
        if not os.path.isfile(tmp):
            raise RuntimeError(f"{filepath}: the exporter wrote no file")
        publish(tmp, filepath)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


def _set_frame_range(scene, start, end):
    """Set the scene range in the order that keeps start <= end at every step (Blender clamps the other end)."""
    if end >= scene.frame_start:
        scene.frame_end, scene.frame_start = end, start
    else:
        scene.frame_start, scene.frame_end = start, end


@contextlib.contextmanager
def _scene_kept(objects, frame_start, frame_end):
    """Restore selection, active object, frame, frame range and the objects' hide flags on exit.

    The exported objects are made visible in the viewport meanwhile (the depsgraph skips ``hide_viewport`` objects,
    so their animation would not be evaluated).
    """
    scene = bpy.context.scene
    view_layer = bpy.context.view_layer
    saved_frame = (scene.frame_current, scene.frame_subframe)
    saved_range = (scene.frame_start, scene.frame_end)
    saved_active = view_layer.objects.active
    saved_selected = [o for o in view_layer.objects if o.select_get()]
    saved_hidden = [(o, o.hide_viewport, o.hide_get()) for o in objects]
    saved_mode = saved_active.mode if saved_active is not None else "OBJECT"
    try:
        if saved_mode not in ("OBJECT", "POSE"):  # edit / paint modes: flush their data to the mesh before copying it
            bpy.ops.object.mode_set(mode="OBJECT")
        for o in objects:
            o.hide_viewport = False
            if o.hide_get():
                o.hide_set(False)
        for o in objects:
            if not o.visible_get(view_layer=view_layer):
                raise ValueError(
                    f"{o.name}: not visible in the view layer (excluded or hidden collection?); "
                    "Blender does not evaluate its animation there"
                )
        if frame_start is not None:
            _set_frame_range(scene, frame_start, frame_end)
        yield
    finally:
        _set_frame_range(scene, *saved_range)
        for o, hide_viewport, hidden in saved_hidden:
            o.hide_viewport = hide_viewport
            o.hide_set(hidden)
        for o in view_layer.objects:
            o.select_set(False)
        for o in saved_selected:
            if o.name in view_layer.objects:
                o.select_set(True)
        view_layer.objects.active = saved_active
        if saved_active is not None and saved_active.mode != saved_mode:
            with contextlib.suppress(RuntimeError):
                bpy.ops.object.mode_set(mode=saved_mode)
        scene.frame_set(saved_frame[0], subframe=saved_frame[1])


def _call_exporter(operator, objects, **kwargs):
    """Run an export operator with ``objects`` as the selection and the first as the active object."""
    view_layer = bpy.context.view_layer
    for o in view_layer.objects:
        if o.select_get():
            o.select_set(False)
    for o in objects:
        o.select_set(True)
    view_layer.objects.active = objects[0]
    with bpy.context.temp_override(selected_objects=list(objects), active_object=objects[0], object=objects[0]):
        result = operator(**kwargs)
    if "FINISHED" not in result:
        raise RuntimeError(f"{kwargs.get('filepath')}: the exporter returned {result}")


@contextlib.contextmanager
def _frame_progress(progress, start, end):
    """Call ``progress(fraction)`` once per frame the scene steps to (the exporters bake frame by frame)."""
    if progress is None:
        yield
        return
    count = [0]
    total = max(end - start + 1, 1)

    def on_frame(scene, depsgraph=None):
        count[0] += 1
        progress(min(count[0] / total, 1.0))

    bpy.app.handlers.frame_change_post.append(on_frame)
    try:
        yield
    finally:
        bpy.app.handlers.frame_change_post.remove(on_frame)


# ------------------------------------------------------------------------------------ correctives="none": a copy


@contextlib.contextmanager
def _mesh_copy(mesh_obj):
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
def _mesh_without_correctives(mesh_obj):
    """The export sees ``mesh_obj`` without its Pose### keys (a temporary copy of the mesh)."""
    keys = mesh_obj.data.shape_keys
    if keys is None or not any(b.name.startswith(CORRECTIVE_PREFIX) for b in keys.key_blocks):
        yield
        return
    with _mesh_copy(mesh_obj) as copy:
        blocks = copy.shape_keys.key_blocks
        # remove from the end: each removal is cheap there (no key after it to relink)
        for block in reversed([b for b in blocks if b.name.startswith(CORRECTIVE_PREFIX)]):
            mesh_obj.shape_key_remove(block)
        yield


@contextlib.contextmanager
def _limited_influences(mesh_obj, count):
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
    with _mesh_copy(mesh_obj):
        groups = mesh_obj.vertex_groups
        for g in range(weights.shape[1]):
            rows = changed[weights[changed, g] != limited[changed, g]]
            dropped = rows[limited[rows, g] == 0]
            if dropped.size:
                groups[g].remove(dropped.tolist())
            for v in rows[limited[rows, g] != 0].tolist():
                groups[g].add([v], float(limited[v, g]), "REPLACE")
        yield int(changed.size)


# --------------------------------------------------------------------------- what a file calls rest, and its clip


def clip_name(armature, name=None):
    """The animation's name in an exported file (glTF animation, FBX take): ``name``, else the body's action (named
    after the motion file it was imported from), else the body; without Blender's ``.001`` suffix."""
    if name:
        return str(name)
    ad = armature.animation_data
    base = ad.action.name if ad is not None and ad.action is not None else armature.name
    return re.sub(r"\.\d{3}$", "", base) or base


def rest_key_values(armature, mesh_obj):
    """``{key name: value}`` of the body at rest, for the exporters' static shape-key values: Pose### 0 (the rest
    pose needs no correction), Shape### and Exp### the body's own betas and expression (not the first frame's)."""
    keys = mesh_obj.data.shape_keys if mesh_obj is not None else None
    if keys is None:
        return {}
    coefficients = {"Shape": body_betas(armature), "Exp": body_expression(armature)}
    rest = {}
    for block in keys.key_blocks[1:]:
        found = re.fullmatch(r"(Shape|Exp|Pose)(\d{3})", block.name)
        if found is not None:
            values, index = coefficients.get(found.group(1)), int(found.group(2))
            rest[block.name] = float(values[index]) if values is not None and index < values.size else 0.0
    return rest


@contextlib.contextmanager
def _scene_named(name):
    """The scene carries ``name`` meanwhile: Blender's FBX exporter names the take after the scene."""
    scene = bpy.context.scene
    saved = scene.name
    scene.name = name
    try:
        yield
    finally:
        scene.name = saved


@contextlib.contextmanager
def _fbx_static_values_at_rest(mesh_obj, rest):
    """FBX: each blend-shape channel's static ``DeformPercent`` (written after the bake, from the keys' values at the
    current frame) is the rest value, not the first frame's. Yields True when done (verified exporter versions)."""
    module = compat.exporter_hook(compat.FBX_BAKE_HOOK)
    if module is None or mesh_obj is None or not rest:
        yield False
        return
    blocks = mesh_obj.data.shape_keys.key_blocks
    index = np.array([blocks.find(name) for name in rest], dtype=np.int64)
    values = np.array(list(rest.values()), dtype=np.float32)
    saved = []

    def wrap(original):
        def then_rest(scene_data):
            result = original(scene_data)  # the bake: every frame, then back to the current one
            current = np.empty(len(blocks), dtype=np.float32)
            blocks.foreach_get("value", current)
            saved.append(current.copy())
            current[index] = values
            blocks.foreach_set("value", current)
            return result

        return then_rest

    try:
        with compat.wrapped(module, compat.FBX_BAKE_HOOK, wrap):
            yield True
    finally:
        if saved:
            blocks.foreach_set("value", saved[0])


_FBX_STAMP_FIELDS = ("Year", "Month", "Day", "Hour", "Minute", "Second", "Millisecond")


def fbx_time_stamp(time_stamp=None):
    """The creation time an FBX export writes: ``time_stamp`` (seconds since 1970, UTC), else the
    ``SOURCE_DATE_EPOCH`` environment variable (reproducible builds), else None (the export time, Blender's)."""
    if time_stamp is None and os.environ.get("SOURCE_DATE_EPOCH", "").strip().isdigit():
        time_stamp = int(os.environ["SOURCE_DATE_EPOCH"])
    return None if time_stamp is None else int(time_stamp)


def _set_fbx_time_stamp(path, time_stamp):
    """Write ``time_stamp`` into the FBX header's ``CreationTimeStamp`` (the only bytes that differ between two
    exports of the same body), in place. Returns False if the header is not as Blender writes it."""
    when = time.gmtime(time_stamp)
    values = (when.tm_year, when.tm_mon, when.tm_mday, when.tm_hour, when.tm_min, when.tm_sec, 0)
    with open(path, "r+b") as stream:
        head = bytearray(stream.read(4096))
        start = head.find(b"\x11CreationTimeStamp")
        places = []
        for field in _FBX_STAMP_FIELDS:
            tag = bytes([len(field)]) + field.encode() + b"I"  # a node of one int32 property
            at = head.find(tag, start) if start >= 0 else -1
            if at < 0:
                return False
            places.append(at + len(tag))
        for at, value in zip(places, values):
            struct.pack_into("<i", head, at, value)
        stream.seek(0)
        stream.write(head)
    return True


@contextlib.contextmanager
def _stable_fbx_ids():
    """FBX object ids from a digest of the exporter's own keys (names), not from Python's per-process string hash:
    two processes exporting the same body write the same file. Yields True when active (verified versions)."""
    module = compat.exporter_hook(compat.FBX_UUID_HOOK)
    if module is None:
        yield False
        return

    def wrap(original):
        def key_to_uuid(uuids, key):
            if isinstance(key, int) and 0 <= key < 2**63:
                return original(uuids, key)  # used as the id itself
            digest = hashlib.blake2b(repr(key).encode("utf-8", "backslashreplace"), digest_size=8).digest()
            return original(uuids, int.from_bytes(digest, "little") >> 1)  # collisions: the exporter's own loop

        return key_to_uuid

    with compat.wrapped(module, compat.FBX_UUID_HOOK, wrap):
        yield True


def _glb_rest_and_name(path, rest, name):
    """glTF: the mesh's default morph weights (``mesh.weights``, the rest state engines show before and between
    clips) are the rest values, not the first frame's; the one animation is named ``name``. Rewrites the .glb."""
    with open(path, "rb") as stream:
        document, binary = read_glb(stream.read())
    for mesh in document.get("meshes", []):
        names = (mesh.get("extras") or {}).get("targetNames")
        if names and "weights" in mesh:
            mesh["weights"] = [rest.get(n, w) for n, w in zip(names, mesh["weights"])]
    if len(document.get("animations", [])) == 1:
        document["animations"][0]["name"] = name
    with open(path, "wb") as stream:
        stream.write(write_glb(document, binary))


# ------------------------------------------------------------------------------ target="unreal": centimetre copies


def _swap_names(pairs):
    """Give each ``new`` ID the name of its ``old`` partner (the old one gets a temporary name). Returns the undo."""
    undo = []
    for old, new in pairs:
        name = old.name
        old.name = name + ".smpl-export-original"
        new.name = name
        undo.append((old, new, name))
    return undo


def _restore_names(undo):
    for old, new, name in reversed(undo):
        with contextlib.suppress(ReferenceError):
            new.name = name + ".smpl-export-copy"
        old.name = name


def _object_animated(id_block):
    """True when an object's own transform (not its pose bones) has F-curves."""
    bag = channelbag(id_block)
    return bag is not None and any(not fc.data_path.startswith("pose.bones[") for fc in bag.fcurves)


@contextlib.contextmanager
def _transformed_copies(armature, mesh_obj, scale=1.0, rotation=None):
    """Temporary copies of the body whose data (rest bones, mesh, shape keys) is rotated and scaled.

    ``scale``: lengths x scale in the data and the location F-curves (Unreal: centimetres in the bones themselves, so
    no node is scaled). ``rotation`` (4x4, the exporter's axis conversion): the data is rotated by it and the objects
    by its inverse, so the world is unchanged and the exporter's conversion cancels on the root nodes (Unity: root
    rotation 0). Bone-local values (rotations, locations) do not change under a rotation of the rest frames.
    The copies carry the originals' names (the originals are renamed meanwhile); everything is removed and renamed
    back on exit. Yields (armature copy, mesh copy or None).
    """
    from mathutils import Matrix

    collection = bpy.context.scene.collection
    rotation = Matrix.Identity(4) if rotation is None or _object_animated(armature) else rotation
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
        undo += _swap_names([(armature, arm_copy), (armature.data, arm_data)])
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
            undo += _swap_names([(mesh_obj, mesh_copy), (mesh_obj.data, mesh_data)])
        yield arm_copy, mesh_copy
    finally:
        _restore_names(undo)
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


def _root_motion_on_the_armature(armature, start, end):
    """Unreal: the horizontal part of the root bone's motion moves to the armature object (the FBX node above the
    bones, which Unreal makes the skeleton's root bone), so "Enable Root Motion" extracts the walk while the pelvis
    keeps its height and sway. Every world joint is unchanged. Only on the temporary copy, and only when the armature
    object is not animated itself. Returns True when done.

    Keys at every frame of ``start..end``: armature location = its location + (the pelvis displacement from rest on
    the armature's ground plane, through the object's matrix), pelvis location = the rest of the displacement.
    """
    if _object_animated(armature) or armature.parent is not None:
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


def _axis_conversion(options):
    """The exporter's axis conversion (Blender -> file axes) for a preset, 4x4."""
    from bpy_extras.io_utils import axis_conversion

    return axis_conversion(to_forward=options["axis_forward"], to_up=options["axis_up"]).to_4x4()


# ------------------------------------------------------------------------------------ fast bake of shape-key values


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
def _mesh_off_during_bake(mesh_obj):
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
def _mesh_off_during_sampling(armature, mesh_obj):
    """glTF: the mesh sits out the exporter's animation sampling, from its first sampled frame to the end of the export.

    The sampler (``sampling_cache.object_caching``, called once per frame after ``frame_set``) runs after the scene's
    meshes, skins and morph targets are gathered. It reads the mesh object's ``matrix_world``, which stays as it was
    while the mesh is out of the depsgraph: only used when the armature object itself is not animated.
    Yields True when the fast path is active.
    """
    module = compat.exporter_hook(compat.GLTF_SAMPLING_HOOK)
    usable = module is not None and not _object_animated(armature)
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


# --------------------------------------------------------------------------------------------------------- exports


def _body_variants(stack, mesh, correctives, max_influences):
    """What both skinned exports may change on a temporary mesh copy: correctives="none", ``max_influences``.
    Returns the number of vertices whose weights were limited."""
    if max_influences is not None and not (isinstance(max_influences, int) and max_influences >= 1):
        raise ValueError(f"max_influences must be a whole number of at least 1, got {max_influences!r}")
    if mesh is not None and correctives == "none":
        stack.enter_context(_mesh_without_correctives(mesh))
    return stack.enter_context(_limited_influences(mesh, max_influences))


def export_fbx(
    armature,
    filepath,
    target="blender",
    correctives="keys",
    frame_start=None,
    frame_end=None,
    progress=None,
    fast=True,
    name=None,
    max_influences=None,
    time_stamp=None,
    root_motion=True,
):
    """Write the body (armature + skinned mesh, baked animation) to an FBX file.

    target: "blender" | "unity" | "unreal" (docs/fbx-presets.md); correctives: "keys" exports the Pose### keys and
    their animation, "none" leaves them out (skeleton + shape only). Frames default to the body's action range.
    name: the take's name (default: :func:`clip_name`, the motion's). max_influences: at most that many joints per
    vertex (engines that blend 4; :mod:`core.influences`). Static shape-key values are the rest values
    (:func:`rest_key_values`). root_motion (Unreal): the horizontal pelvis motion on the armature node, Unreal's
    root bone (:func:`_root_motion_on_the_armature`). time_stamp: the file's creation time (:func:`fbx_time_stamp`;
    fixed, two exports of the same body give the same bytes). progress(fraction) is called per baked frame.
    fast=False runs Blender's exporter unchanged (reference path). Returns ``dict(frames=int, seconds=float,
    path=str, fast=bool, name=str, limited_vertices=int, root_motion=bool)``.
    """
    options = fbx_options(target)
    armature, mesh, start, end = _export_setup(armature, frame_start, frame_end, correctives)
    take = clip_name(armature, name)
    body = armature
    t0 = time.perf_counter()
    with _export_run(filepath, _exported(armature, mesh), start, end) as (stack, tmp):
        if target in COPY_TRANSFORMS:
            scale, rotate = COPY_TRANSFORMS[target]
            rotation = _axis_conversion(options) if rotate else None
            armature, mesh = stack.enter_context(_transformed_copies(armature, mesh, scale, rotation))
        root_motion = target == "unreal" and root_motion and _root_motion_on_the_armature(armature, start, end)
        limited = _body_variants(stack, mesh, correctives, max_influences)
        used_fast = stack.enter_context(_mesh_off_during_bake(mesh)) if fast else False
        stack.enter_context(_fbx_static_values_at_rest(mesh, rest_key_values(body, mesh)))
        stack.enter_context(_frame_progress(progress, start, end))
        stack.enter_context(_scene_named(take))
        stack.enter_context(_stable_fbx_ids())
        _call_exporter(bpy.ops.export_scene.fbx, _exported(armature, mesh), filepath=tmp, **options)
        stamp = fbx_time_stamp(time_stamp)
        if stamp is not None:
            _set_fbx_time_stamp(tmp, stamp)
    return _export_result(
        filepath, start, end, t0, fast=used_fast, name=take, limited_vertices=limited, root_motion=bool(root_motion)
    )


def export_gltf(
    armature,
    filepath,
    correctives="keys",
    frame_start=None,
    frame_end=None,
    progress=None,
    fast=True,
    name=None,
    max_influences=None,
    morph_normals=True,
):
    """Write the body to a binary glTF (.glb): skin, morph targets with normals (Pose### left out with
    correctives="none") and one animation named ``name`` (default: :func:`clip_name`) sampled at every frame of the
    range, starting at time 0. The mesh's default morph weights are the rest values (:func:`rest_key_values`).
    max_influences: at most that many joints per vertex (default: every influence, in JOINTS_0, JOINTS_1...).
    morph_normals=False leaves the targets' normals out: ~10x faster for a body with 500 keys (Blender's exporter
    reads each key's normals as a Python tuple), with shading that does not follow the shape.
    fast=False runs Blender's exporter unchanged. Returns ``dict(frames, seconds, path, fast, name,
    limited_vertices)``."""
    armature, mesh, start, end = _export_setup(armature, frame_start, frame_end, correctives)
    clip = clip_name(armature, name)
    objects = _exported(armature, mesh)
    t0 = time.perf_counter()
    with _export_run(filepath, objects, start, end) as (stack, tmp):
        limited = _body_variants(stack, mesh, correctives, max_influences)
        rest = rest_key_values(armature, mesh)
        used_fast = stack.enter_context(_mesh_off_during_sampling(armature, mesh)) if fast else False
        stack.enter_context(_frame_progress(progress, start, end))
        _call_exporter(bpy.ops.export_scene.gltf, objects, filepath=tmp, **gltf_options(morph_normals))
        _glb_rest_and_name(tmp, rest, clip)
    return _export_result(filepath, start, end, t0, fast=used_fast, name=clip, limited_vertices=limited)


def gltf_options(morph_normals=True):
    """Keyword arguments of ``bpy.ops.export_scene.gltf`` (without ``filepath``): .glb, selection, baked scene range."""
    return dict(
        export_format="GLB",
        use_selection=True,
        use_active_scene=True,  # else every scene of the file is written
        export_apply=False,
        export_animations=True,
        export_animation_mode="ACTIVE_ACTIONS",  # the active actions of armature and shape keys merged into one
        export_frame_range=True,
        export_force_sampling=True,
        export_frame_step=1,
        export_anim_slide_to_zero=True,  # the first exported frame at time 0, as FBX converters play the take
        export_optimize_animation_size=False,
        export_def_bones=False,
        export_leaf_bone=False,
        export_skins=True,
        export_all_influences=True,  # SMPL skins have up to 4+ joints per vertex: keep every weight (JOINTS_1...)
        export_morph=True,
        export_morph_animation=True,
        export_morph_normal=bool(morph_normals),  # shading follows the shape keys (without: 35° off on a shaped body)
        export_morph_tangent=False,
        export_yup=True,
        export_materials="EXPORT",
    )


def export_abc(armature, filepath, frame_start=None, frame_end=None, progress=None):
    """Write the body's evaluated (deformed) mesh per frame to Alembic. Returns ``dict(frames, seconds, path)``.

    Raises ValueError when this Blender is built without Alembic (Debian's packages)."""
    compat.require_alembic()
    armature, mesh, start, end = _export_setup(armature, frame_start, frame_end)
    objects = _exported(armature, mesh)
    t0 = time.perf_counter()
    with _export_run(filepath, objects, start, end) as (stack, tmp):
        stack.enter_context(_frame_progress(progress, start, end))
        _call_exporter(
            bpy.ops.wm.alembic_export,
            objects,
            filepath=tmp,
            start=start,
            end=end,
            selected=True,
            flatten=False,
            uvs=True,
            normals=True,
            face_sets=False,
            apply_subdiv=False,
            export_hair=False,
            export_particles=False,
            export_custom_properties=False,
            as_background_job=False,
            evaluation_mode="VIEWPORT",
            init_scene_frame_range=False,
        )
    return _export_result(filepath, start, end, t0)
