# SPDX-License-Identifier: GPL-3.0-or-later
"""Shape operators on the active body: show its shape sliders, set / randomise / reset the betas and expression, fit a
height and weight, snap it to the ground. Each change ends with the new coefficients on the panel sliders."""

from bpy.props import EnumProperty, FloatProperty, IntProperty, StringProperty
from bpy.types import Operator

from ..blender import body as body_api
from ..blender import shape as shape_api
from ..core import shape as core_shape
from . import properties
from .common import BodyOperator, active_body, registration
from .parsing import parse_numbers

SHAPE_PART_ITEMS = (
    ("BODY", "Body", "Body shape (betas)"),
    (
        "FACE",
        "Face",
        "Same as Expression: the blender layer's face part is the expression (face shape is in the betas)",
    ),
    ("EXPRESSION", "Expression", "Facial expression (SMPL-X)"),
)


def current_height_weight(arm):
    """(stature m, mass kg) of a body's shaped rest mesh, as blender.shape.set_height_weight measures them (core.shape)."""
    model = body_api.body_model(arm)
    betas, expression = body_api.body_betas(arm), body_api.body_expression(arm)
    expression = expression if expression.size else None
    return (core_shape.stature(model, betas, expression), core_shape.body_mass(model, betas, expression))


def _change_shape(arm, change, *args, **kwargs):
    """Apply a blender.shape function to a body, then show its new coefficients on the panel sliders."""
    change(arm, *args, **kwargs)
    properties.sync_shape_sliders(arm)


class SMPL_OT_show_shape_sliders(BodyOperator, Operator):
    """Show the active body's current shape and expression coefficients as panel sliders (for bodies built by scripts)"""

    bl_idname = "smpl.show_shape_sliders"
    bl_label = "Show Shape Sliders"
    bl_options = {"REGISTER", "UNDO"}

    def apply(self, context, arm):
        properties.sync_shape_sliders(arm)


class SMPL_OT_set_shape(BodyOperator, Operator):
    """Set the active body's shape (betas) and expression from numbers"""

    bl_idname = "smpl.set_shape"
    bl_label = "Set Shape"
    bl_options = {"REGISTER", "UNDO"}

    betas: StringProperty(name="Betas", description="Shape coefficients as text; empty keeps the current ones")
    expression: StringProperty(name="Expression", description="Expression coefficients as text; empty keeps them")

    def invoke(self, context, event):
        return context.window_manager.invoke_props_dialog(self, width=500)

    def apply(self, context, arm):
        betas = parse_numbers(self.betas, "betas")
        expression = parse_numbers(self.expression, "expression")
        _change_shape(arm, shape_api.set_shape, betas=betas, expression=expression)


class SMPL_OT_random_shape(BodyOperator, Operator):
    """Draw a random body shape, face shape or expression for the active body"""

    bl_idname = "smpl.random_shape"
    bl_label = "Random Shape"
    bl_options = {"REGISTER", "UNDO"}

    part: EnumProperty(name="Part", items=SHAPE_PART_ITEMS, default="BODY")
    scale: FloatProperty(
        name="Scale", description="Standard deviation of the coefficients", default=1.0, min=0.0, soft_max=3.0
    )
    seed: IntProperty(name="Seed", description="Random seed; -1 draws a new shape every time", default=-1, min=-1)

    def apply(self, context, arm):
        seed = None if self.seed < 0 else self.seed
        _change_shape(arm, shape_api.random_shape, part=self.part, scale=self.scale, seed=seed)


class SMPL_OT_reset_shape(BodyOperator, Operator):
    """Reset the body shape, face shape or expression of the active body to the mean"""

    bl_idname = "smpl.reset_shape"
    bl_label = "Reset Shape"
    bl_options = {"REGISTER", "UNDO"}

    part: EnumProperty(name="Part", items=SHAPE_PART_ITEMS, default="BODY")

    def apply(self, context, arm):
        _change_shape(arm, shape_api.reset_shape, part=self.part)


class SMPL_OT_height_weight(BodyOperator, Operator):
    """Fit the active body's shape to a height and a weight"""

    bl_idname = "smpl.height_weight"
    bl_label = "Set Height and Weight"
    bl_options = {"REGISTER", "UNDO"}

    height: FloatProperty(name="Height", unit="LENGTH", default=1.70, min=0.5, max=2.5, description="Stature in metres")
    weight: FloatProperty(
        name="Weight", unit="MASS", default=70.0, min=20.0, max=250.0, description="Body mass in kilograms"
    )

    def invoke(self, context, event):
        # start the dialog from the body's current measurements, so a user changes one and keeps the other
        self.height, self.weight = current_height_weight(active_body(context))
        return context.window_manager.invoke_props_dialog(self)

    def apply(self, context, arm):
        _change_shape(arm, shape_api.set_height_weight, self.height, self.weight)


class SMPL_OT_snap_to_ground(BodyOperator, Operator):
    """Move the active body up or down so that its lowest point touches the ground (z = 0)"""

    bl_idname = "smpl.snap_to_ground"
    bl_label = "Snap to Ground"
    bl_options = {"REGISTER", "UNDO"}

    def apply(self, context, arm):
        shape_api.snap_to_ground(arm)


CLASSES = (
    SMPL_OT_show_shape_sliders,
    SMPL_OT_set_shape,
    SMPL_OT_random_shape,
    SMPL_OT_reset_shape,
    SMPL_OT_height_weight,
    SMPL_OT_snap_to_ground,
)

register, unregister = registration(CLASSES)
