# SPDX-License-Identifier: GPL-3.0-or-later
"""Exporter options per target: FBX presets (Blender / Unity / Unreal axes and units), glTF options.

FBX (docs/fbx-presets.md): no leaf bones, bone axes Y/X kept (FBX joint rotations are SMPL rotations), root motion on
the pelvis bone; "blender" (Y-up, centimetres: Blender round trip), "unity" (Y-up, metres, root nodes with rotation 0
and scale 1), "unreal" (Z-up, centimetres baked into the data, node scale 1). Unity and Unreal files are written from
temporary transformed copies of the body (copies.py).
"""

import bpy_extras.io_utils

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
    # the body is exported from a temporary copy scaled x100 (see transformed_copies); FBX_SCALE_ALL with 0.01 then
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


def axis_conversion(options):
    """The exporter's axis conversion (Blender -> file axes) for a preset, 4x4."""
    return bpy_extras.io_utils.axis_conversion(to_forward=options["axis_forward"], to_up=options["axis_up"]).to_4x4()
