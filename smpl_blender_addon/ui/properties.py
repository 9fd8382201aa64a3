# SPDX-License-Identifier: GPL-3.0-or-later
"""UI state. Per-body state lives on the body's armature object, never on the window manager.

``Object.smpl_ui`` holds the panel's shape sliders (betas, expression) for that one body, so several bodies in one scene each
keep their own values, the panel shows the ACTIVE body's values, and undo / save / reload restore them with the object.
Moving a slider calls ``blender.shape.set_shape`` on the body that owns the slider (``item.id_data``).

``Scene.smpl_add`` holds the "Add body" choices (which model, which gender): a tool setting, not state of any body.
"""

import bpy
import numpy as np
from bpy.props import BoolProperty, CollectionProperty, EnumProperty, FloatProperty, IntProperty, PointerProperty
from bpy.types import PropertyGroup

from ..blender import auto_correctives as auto_correctives_api
from ..blender import body as body_api
from ..blender import shape as shape_api
from .preferences import found_model_items

BUILTIN_MODELS = (
    ("open-smplx", "Open SMPL-X (CC0)", "Built-in open body in the SMPL-X layout: 55 joints, expressions"),
    ("open-smpl", "Open SMPL (CC0)", "Built-in open body in the SMPL layout: 24 joints"),
)
GENDER_ITEMS = (
    ("DEFAULT", "Default", "The model's own gender (neutral for built-in bodies, as stored for a file)"),
    ("NEUTRAL", "Neutral", ""),
    ("FEMALE", "Female", ""),
    ("MALE", "Male", ""),
)

# True while the sliders are written from the body (sync_shape_sliders): their update callbacks must not call set_shape
# then, or every synced slider would rebuild the body once more (and set_shape could recurse into the sync).
_syncing = False


def gender_argument(gender_enum):
    """EnumProperty identifier ('DEFAULT', 'FEMALE', ...) -> the blender layer's gender argument (None or lower case)."""
    return None if gender_enum == "DEFAULT" else gender_enum.lower()


def _slider_values(collection):
    """Slider collection -> (N,) float32."""
    values = np.zeros(len(collection), dtype=np.float32)
    collection.foreach_get("value", values)
    return values


def _on_shape_slider(item, context):
    """Update callback of one beta / expression slider: apply all sliders of its body through set_shape."""
    global _syncing
    if _syncing:
        return
    arm = item.id_data
    state = arm.smpl_ui
    _syncing = True
    try:
        shape_api.set_shape(arm, betas=_slider_values(state.betas), expression=_slider_values(state.expression))
    except ValueError as err:  # an update callback cannot report: say it where the user can read it
        print(f"SMPL: cannot set shape of {arm.name}: {err}")
    finally:
        _syncing = False


def current_shape(arm):
    """(betas (nβ,), expression (nψ,)) float32 currently applied to a body, as the blender layer stores them."""
    return body_api.body_betas(arm), body_api.body_expression(arm)


def _write_collection(collection, values):
    """Resize a slider collection to len(values) and write them in one foreach_set."""
    while len(collection) > len(values):
        collection.remove(len(collection) - 1)
    while len(collection) < len(values):
        collection.add()
    if len(values):
        collection.foreach_set("value", np.asarray(values, dtype=np.float32))


def sync_shape_sliders(arm):
    """Write a body's current betas / expression into its panel sliders without re-applying them."""
    global _syncing
    betas, expression = current_shape(arm)
    _syncing = True
    try:
        _write_collection(arm.smpl_ui.betas, betas)
        _write_collection(arm.smpl_ui.expression, expression)
    finally:
        _syncing = False


def sliders_in_sync(arm):
    """True when the panel sliders of a body hold as many values as the body has coefficients (cheap: no values read)."""
    betas, expression = current_shape(arm)
    return len(arm.smpl_ui.betas) == betas.size and len(arm.smpl_ui.expression) == expression.size


class SMPL_PG_shape_value(PropertyGroup):
    """One shape or expression coefficient shown as a slider."""

    value: FloatProperty(
        name="Value",
        description="Shape coefficient (standard deviations of the model's shape space)",
        default=0.0,
        soft_min=-5.0,
        soft_max=5.0,
        precision=3,
        update=_on_shape_slider,
    )


def _get_auto_correctives(state):
    return auto_correctives_api.is_auto(state.id_data)


def _set_auto_correctives(state, value):
    # The blender layer reads this flag from the armature's own custom property: keep one source of truth.
    state.id_data[auto_correctives_api.PROP_AUTO] = bool(value)


class SMPL_PG_body_ui(PropertyGroup):
    """Panel state of one body, stored on its armature object."""

    auto_correctives: BoolProperty(
        name="Automatic correctives",
        description="Pose correctives follow the pose while posing, and their keys follow the body's keyframes",
        get=_get_auto_correctives,
        set=_set_auto_correctives,
    )

    betas: CollectionProperty(type=SMPL_PG_shape_value, name="Betas")
    expression: CollectionProperty(type=SMPL_PG_shape_value, name="Expression")
    betas_index: IntProperty(name="Active beta", default=0)
    expression_index: IntProperty(name="Active expression coefficient", default=0)


# Blender does not copy the strings of dynamic enum items: the last list handed out must stay referenced.
_model_items_cache: list = []


def _model_items(self, context):
    """Items of the "Add body" model menu: the built-in bodies, then the official files found in the preferences."""
    _model_items_cache[:] = list(BUILTIN_MODELS) + found_model_items(context or bpy.context)  # context may be None
    return _model_items_cache


class SMPL_PG_add_settings(PropertyGroup):
    """Choices of the "Add body" panel (a tool setting of the scene, not the state of a body)."""

    model: EnumProperty(name="Model", description="Body model to add", items=_model_items)
    gender: EnumProperty(name="Gender", items=GENDER_ITEMS, default="DEFAULT")


CLASSES = (SMPL_PG_shape_value, SMPL_PG_body_ui, SMPL_PG_add_settings)


def register():
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.Object.smpl_ui = PointerProperty(type=SMPL_PG_body_ui, name="SMPL body panel state")
    bpy.types.Scene.smpl_add = PointerProperty(type=SMPL_PG_add_settings, name="SMPL add-body settings")


def unregister():
    del bpy.types.Scene.smpl_add
    del bpy.types.Object.smpl_ui
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
