# SPDX-License-Identifier: GPL-3.0-or-later
"""Adding bodies: ``smpl.add_body`` (a built-in body or a model file by name) and ``smpl.import_body`` (File › Import).

Like every ``smpl.*`` operator they have undo, a poll and keyword arguments for scripts, e.g.
``bpy.ops.smpl.add_body(model="open-smplx", gender="FEMALE", betas="1 -0.5")``. Bad input (a broken model file,
unreadable numbers) is reported as an error and the operator is cancelled, which ``bpy.ops`` turns into a
``RuntimeError`` carrying the message.
"""

import bpy
from bpy.props import BoolProperty, EnumProperty, FloatVectorProperty, IntProperty, StringProperty
from bpy.types import Operator
from bpy_extras.io_utils import ImportHelper

from ..blender import build as build_api
from ..blender import shape as shape_api
from . import properties
from .common import ObjectModeOperator, make_active, registration, run_reported
from .parsing import parse_numbers


def _add_body(operator, context, model):
    """Shared by smpl.add_body and smpl.import_body: build the body, select it, fill its panel sliders."""
    arm = build_api.add_body(
        model=model,
        gender=properties.gender_argument(operator.gender),
        betas=parse_numbers(operator.betas, "betas"),
        expression=parse_numbers(operator.expression, "expression"),
        name=operator.name or None,
        collection=context.collection,
        num_betas=operator.num_betas or None,
        num_expressions=operator.num_expressions or None,
        correctives=operator.correctives,
    )
    # like Blender's own Add menu: at the 3D cursor (or ``location``), standing on the cursor's height
    location = operator.location if operator.properties.is_property_set("location") else context.scene.cursor.location
    arm.location = location
    shape_api.snap_to_ground(arm, ground=location[2])
    make_active(context, arm)
    properties.sync_shape_sliders(arm)
    operator.report({"INFO"}, f"Added {arm.name}")


class _AddBodyOptions:
    gender: EnumProperty(name="Gender", items=properties.GENDER_ITEMS, default="DEFAULT")
    betas: StringProperty(
        name="Betas", description="Shape coefficients: numbers separated by spaces or commas, or a list"
    )
    expression: StringProperty(name="Expression", description="Expression coefficients (SMPL-X), as text")
    name: StringProperty(name="Name", description="Name of the new body (default: from the model)")
    num_betas: IntProperty(name="Betas", description="Shape coefficients to use, 0 = the model's default", min=0)
    num_expressions: IntProperty(name="Expressions", description="Expression coefficients to use, 0 = default", min=0)
    correctives: BoolProperty(name="Pose correctives", description="Add the pose-corrective shape keys", default=True)
    location: FloatVectorProperty(
        name="Location",
        subtype="TRANSLATION",
        size=3,
        description="Where the body stands (its lowest point at this height); default: the 3D cursor",
    )


class SMPL_OT_add_body(ObjectModeOperator, _AddBodyOptions, Operator):
    """Add an SMPL-family body: mesh with UVs, armature with SMPL joint names, shape and corrective keys"""

    bl_idname = "smpl.add_body"
    bl_label = "Add SMPL Body"
    bl_options = {"REGISTER", "UNDO"}

    model: StringProperty(
        name="Model",
        description='Built-in body ("open-smplx", "open-smpl") or the path of an official .npz / .pkl model file',
        default="open-smplx",
    )

    def execute(self, context):
        # "//models/x.npz" is relative to the .blend file; built-in names and other paths go to the blender layer as typed.
        model = bpy.path.abspath(self.model) if self.model.startswith("//") else self.model
        return run_reported(self, _add_body, self, context, model)


class SMPL_OT_import_body(ObjectModeOperator, _AddBodyOptions, ImportHelper, Operator):  # type: ignore[misc]  # (stubs: helper vs Operator signatures)
    """Add a body from an official SMPL / SMPL-H / SMPL-X model file (.npz / .pkl)"""

    bl_idname = "smpl.import_body"
    bl_label = "Import SMPL Body"
    bl_options = {"REGISTER", "UNDO", "PRESET"}

    filter_glob: StringProperty(default="*.npz;*.pkl", options={"HIDDEN"})

    def execute(self, context):
        return run_reported(self, _add_body, self, context, bpy.path.abspath(self.filepath))


def menu_import_body(self, context):
    self.layout.operator(SMPL_OT_import_body.bl_idname, text="SMPL body (.npz/.pkl)")


CLASSES = (SMPL_OT_add_body, SMPL_OT_import_body)
MENUS = ((bpy.types.TOPBAR_MT_file_import, menu_import_body),)

register, unregister = registration(CLASSES, MENUS)
