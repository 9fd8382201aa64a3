# SPDX-License-Identifier: GPL-3.0-or-later
"""The "SMPL" tab of the 3D view sidebar: Body, Shape and Pose panels. They only draw; the operators do the work.

Shape and pose panels show the ACTIVE body (the armature or mesh that is active), read from that body's own objects.
"""

import bpy
from bpy.types import Panel, UIList

from ..blender import body as body_api
from ..blender import compat
from . import body, fit, import_export, pose, properties, shape
from .common import active_body, registration
from .preferences import vposer_weights


def body_description(arm):
    """(label, value) rows describing a body for the panel: kind, gender, model (from the body's own properties)."""
    model = str(arm.get(body_api.PROP_MODEL, ""))
    return (
        ("Kind", str(arm.get(body_api.PROP_KIND, "")).upper()),
        ("Gender", str(arm.get(body_api.PROP_GENDER, "")) or "default"),
        ("Model", bpy.path.basename(model) or model),
        ("Betas / expr.", f"{body_api.body_betas(arm).size} / {body_api.body_expression(arm).size}"),
    )


class SMPL_UL_shape_values(UIList):
    """A scrollable list of coefficient sliders (SMPL-X bodies can have hundreds of betas)."""

    bl_idname = "SMPL_UL_shape_values"

    def draw_item(self, context, layout, data, item, icon, active_data, active_propname, index=0, flt_flag=0):
        prefix = "β" if active_propname == "betas_index" else "ψ"  # numbered from 1, as in the README (β1: stature)
        layout.prop(item, "value", text=f"{prefix}{index + 1}", slider=False, emboss=True)


class _SidebarPanel(Panel):
    """Base of the SMPL sidebar panels (not registered itself)."""

    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "SMPL"


class SMPL_PT_body(_SidebarPanel):
    bl_idname = "SMPL_PT_body"
    bl_label = "Body"

    def draw(self, context):
        layout = self.layout
        settings = context.scene.smpl_add
        column = layout.column(align=True)
        column.prop(settings, "model", text="")
        column.prop(settings, "gender", text="")
        add = column.operator(body.SMPL_OT_add_body.bl_idname, icon="OUTLINER_OB_ARMATURE")
        if settings.model:
            add.model = settings.model
        add.gender = settings.gender
        row = layout.row(align=True)
        row.operator(body.SMPL_OT_import_body.bl_idname, text="Body File...", icon="FILEBROWSER")
        row.operator(import_export.SMPL_OT_import_motion.bl_idname, text="Motion...", icon="ANIM")
        row = layout.row(align=True)
        row.operator(fit.SMPL_OT_fit_to_points.bl_idname, text="Fit to Points...", icon="POINTCLOUD_DATA")
        row.operator(fit.SMPL_OT_fit_to_selected.bl_idname, text="Fit to Selected", icon="EMPTY_AXIS")
        arm = active_body(context)
        if arm is not None:
            box = layout.box()
            box.label(text=arm.name, icon="ARMATURE_DATA")
            for label, value in body_description(arm):
                row = box.row()
                row.label(text=label)
                row.label(text=value)


class _BodySubPanel(_SidebarPanel):
    """Base of the panels under "Body" that show the active body (not registered itself)."""

    bl_parent_id = "SMPL_PT_body"

    @classmethod
    def poll(cls, context):
        return active_body(context) is not None


class SMPL_PT_shape(_BodySubPanel):
    bl_idname = "SMPL_PT_shape"
    bl_label = "Shape"

    def draw(self, context):
        layout = self.layout
        arm = active_body(context)
        state = arm.smpl_ui
        if not properties.sliders_in_sync(arm):
            # A body built by a script or the CLI has no sliders yet, and draw() may not write data: offer the button.
            layout.operator(shape.SMPL_OT_show_shape_sliders.bl_idname, icon="PROPERTIES")
        else:
            layout.label(text="Body shape (betas)")
            layout.template_list(SMPL_UL_shape_values.bl_idname, "betas", state, "betas", state, "betas_index", rows=5)
            if len(state.expression):
                layout.label(text="Expression")
                layout.template_list(
                    SMPL_UL_shape_values.bl_idname, "expression", state, "expression", state, "expression_index", rows=3
                )
        parts = ("BODY", "EXPRESSION") if body_api.body_expression(arm).size else ("BODY",)
        for part in parts:
            row = layout.row(align=True)
            row.label(text=part.title())
            row.operator(shape.SMPL_OT_random_shape.bl_idname, text="Random", icon="MOD_NOISE").part = part
            row.operator(shape.SMPL_OT_reset_shape.bl_idname, text="Reset", icon="LOOP_BACK").part = part
        column = layout.column(align=True)
        column.operator(shape.SMPL_OT_set_shape.bl_idname, text="Set Shape from Numbers...")
        column.operator(shape.SMPL_OT_height_weight.bl_idname, text="Height and Weight...")
        column.operator(shape.SMPL_OT_snap_to_ground.bl_idname, icon="TRIA_DOWN_BAR")


class SMPL_PT_pose(_BodySubPanel):
    bl_idname = "SMPL_PT_pose"
    bl_label = "Pose"

    def draw(self, context):
        layout = self.layout
        row = layout.row(align=True)
        row.label(text="Hands")
        row.operator(pose.SMPL_OT_hand_pose.bl_idname, text="Flat").preset = "FLAT"
        row.operator(pose.SMPL_OT_hand_pose.bl_idname, text="Relaxed").preset = "RELAXED"
        column = layout.column(align=True)
        column.operator(pose.SMPL_OT_reset_pose.bl_idname, icon="ARMATURE_DATA")
        column.operator(pose.SMPL_OT_set_pose.bl_idname, text="Set Pose from Numbers...")
        column.operator(pose.SMPL_OT_load_pose.bl_idname, text="Load Pose...", icon="FILEBROWSER")
        row = layout.row(align=True)
        if vposer_weights(context):
            row.operator(pose.SMPL_OT_random_pose_vposer.bl_idname, text="Random (VPoser)", icon="OUTLINER_OB_ARMATURE")
            row.operator(pose.SMPL_OT_vposer_inbetweens.bl_idname, text="In-betweens", icon="IPO_EASE_IN_OUT")
        else:
            row.label(text="VPoser: set its weights in Preferences", icon="INFO")
        layout.label(text="Write pose")
        row = layout.row(align=True)
        for target, label in (("CONSOLE", "Console"), ("JSON", "JSON..."), ("NPZ", "NPZ...")):
            row.operator(pose.SMPL_OT_write_pose.bl_idname, text=label).target = target
        layout.label(text="Pose correctives")
        layout.prop(active_body(context).smpl_ui, "auto_correctives")
        column = layout.column(align=True)
        for scope, label in (
            ("FRAME", "Current Pose"),
            ("KEYFRAMES", "Key Every Keyframe"),
            ("RANGE", "Key Frame Range"),
        ):
            column.operator(pose.SMPL_OT_update_correctives.bl_idname, text=label, icon="SHAPEKEY_DATA").scope = scope
        layout.label(text="Export")
        row = layout.row(align=True)
        row.operator(import_export.SMPL_OT_export_fbx.bl_idname, text="FBX...", icon="EXPORT")
        row.operator(
            import_export.SMPL_OT_export_body.bl_idname, text="glTF / ABC..." if compat.has_alembic() else "glTF..."
        )
        row.operator(import_export.SMPL_OT_export_motion.bl_idname, text="Motion...")


CLASSES = (SMPL_UL_shape_values, SMPL_PT_body, SMPL_PT_shape, SMPL_PT_pose)


register, unregister = registration(CLASSES)
