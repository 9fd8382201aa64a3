# SPDX-License-Identifier: GPL-3.0-or-later
"""Fitting bodies to 3D points: ``smpl.fit_to_points`` (*Fit to Points…*, File › Import: joints, keypoints or markers
from a file) and ``smpl.fit_to_selected`` (*Fit to Selected*: the selected empties or an armature's bones over the
scene's frame range).

Thin: read the input, call ``blender.fitting``, report the mean distance to the targets. Progress goes through the
window manager; on bad input an error report, with the scene left as it was.
"""

import warnings

import bpy
from bpy.props import BoolProperty, EnumProperty, FloatProperty, IntProperty, StringProperty
from bpy.types import Operator
from bpy_extras.io_utils import ImportHelper

from ..blender import fitting as fitting_api
from ..core.fitting import POINT_LAYOUTS, FitOptions
from . import properties
from .common import ObjectModeOperator, active_body, make_active, progress, registration, report_warnings, run_reported
from .preferences import vposer_weights

POINTS_GLOB = "*.npy;*.npz;*.json"
LAYOUT_ITEMS = (("AUTO", "From the file", "The file's point names, else by the point count"),) + tuple(
    (name.upper(), name, f"{len(names)} points: {', '.join(names[:4])}, ...") for name, names in POINT_LAYOUTS.items()
)


class _FitSettings:
    """Mix-in: the properties both fit operators share, and the fit they run."""

    body: EnumProperty(
        name="Body",
        items=(
            ("NEW", "New body", "Add a new body with the fitted shape"),
            ("SELECTED", "Active body", "Fit the poses of the active SMPL body (its model and shape are kept)"),
        ),
        default="NEW",
    )
    model: StringProperty(
        name="Model",
        default="",
        description='New body: built-in body ("open-smpl", "open-smplx") or an official model file; empty: '
        "open-smpl, or open-smplx for points with finger joints",
    )
    gender: EnumProperty(name="Gender", items=properties.GENDER_ITEMS, default="DEFAULT", description="New body")
    smoothing: FloatProperty(
        name="Smoothing",
        default=FitOptions.acceleration,
        min=0.0,
        max=1.0,
        precision=5,
        description="Weight of the fitted points' acceleration (smoothness over time; 0: off)",
    )
    use_vposer: BoolProperty(
        name="VPoser prior",
        default=True,
        description="Use VPoser's pose prior when its weights are set in the add-on's preferences",
    )
    correctives: BoolProperty(
        name="Key correctives", default=True, description="Key the pose-corrective shape keys at every frame"
    )

    def draw_settings(self, context):
        layout = self.layout
        layout.use_property_split = True
        layout.prop(self, "body")
        for name in ("model", "gender"):
            row = layout.row()
            row.enabled = self.body == "NEW"
            row.prop(self, name)
        layout.prop(self, "smoothing")
        row = layout.row()
        row.enabled = bool(vposer_weights(context))
        row.prop(self, "use_vposer")
        layout.prop(self, "correctives")

    def fit(self, context, points, **kwargs):
        """Fit ``points`` (a PointSequence or a file) on a new or the active body, with progress and a report."""
        target = None
        if self.body == "SELECTED":
            target = active_body(context)
            if target is None:
                raise ValueError("Select an SMPL body to fit, or fit a new body")
        weights = vposer_weights(context) if self.use_vposer else ""
        with warnings.catch_warnings(record=True) as caught, progress(context) as update:
            warnings.simplefilter("always")
            arm, result = fitting_api.fit_to_points(
                points,
                body=target,
                model=self.model or None,
                gender=properties.gender_argument(self.gender),
                options=FitOptions(acceleration=self.smoothing),
                vposer=weights or None,
                correctives=self.correctives,
                progress=update,
                **kwargs,
            )
        report_warnings(self, caught)
        make_active(context, arm)
        properties.sync_shape_sliders(arm)
        self.report(
            {"INFO"},
            f"Fitted {arm.name}: {result.motion.num_frames} frames, mean error {1000 * result.mean_error:.1f} mm "
            f"in {result.seconds:.1f} s",
        )


class SMPL_OT_fit_to_points(ObjectModeOperator, _FitSettings, ImportHelper, Operator):  # type: ignore[misc]  # (stubs: helper vs Operator signatures)
    """Fit an SMPL body to 3D points from a file (HumanML3D / MDM joints .npy or MDM results.npy, .npz joints /
    keypoints / markers, EasyMocap keypoints3d .json) and key the fitted motion"""

    bl_idname = "smpl.fit_to_points"
    bl_label = "Fit to Points"
    bl_options = {"REGISTER", "UNDO"}
    poll_message = "Switch to Object Mode to fit a body"

    filter_glob: StringProperty(default=POINTS_GLOB, options={"HIDDEN"})
    layout_name: EnumProperty(name="Point names", items=LAYOUT_ITEMS, default="AUTO")
    markers: StringProperty(
        name="Markers",
        subtype="FILE_PATH",
        description="Marker layout (SOMA / MoSh JSON): where the file's markers sit on the body",
    )
    units: EnumProperty(
        name="Units",
        items=(("m", "Metres", ""), ("cm", "Centimetres", ""), ("mm", "Millimetres", "")),
        default="m",
    )
    up_axis: EnumProperty(
        name="Data world",
        items=(
            ("DEFAULT", "Format default", "Joint arrays: Y up; AMASS markers and EasyMocap: Z up"),
            ("Y", "Y up", "The points are in a Y-up world (HumanML3D, SMPL model space)"),
            ("Z", "Z up", "The points are in a Z-up world (AMASS, most capture volumes)"),
        ),
        default="DEFAULT",
    )
    fps: FloatProperty(
        name="FPS",
        default=20.0,
        min=0.01,
        max=10000.0,
        description="Frame rate of files that store none (HumanML3D / MDM: 20)",
    )
    person: IntProperty(
        name="Person / sample",
        default=-1,
        min=-1,
        description="EasyMocap person id, or the sample of MDM's results.npy (-1: the first)",
    )
    frame_start: IntProperty(name="Start frame", default=1, description="Scene frame of the first point frame")

    def draw(self, context):
        self.draw_settings(context)
        for name in ("layout_name", "markers", "units", "up_axis", "fps", "person", "frame_start"):
            self.layout.prop(self, name)

    def execute(self, context):
        return run_reported(self, self.apply, context)

    def apply(self, context):
        self.fit(
            context,
            bpy.path.abspath(self.filepath),
            layout=None if self.layout_name == "AUTO" else self.layout_name.lower(),
            markers=bpy.path.abspath(self.markers) if self.markers else None,
            units=self.units,
            up_axis=None if self.up_axis == "DEFAULT" else self.up_axis,
            fps=self.fps,
            person=None if self.person < 0 else self.person,
            frame_start=self.frame_start,
        )


class SMPL_OT_fit_to_selected(ObjectModeOperator, _FitSettings, Operator):
    """Fit an SMPL body to the selected empties (named after joints or keypoints) or to the bones of the selected
    armature, over the scene's frame range"""

    bl_idname = "smpl.fit_to_selected"
    bl_label = "Fit to Selected"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        if not super().poll(context):
            return False
        if not _sources(context):
            cls.poll_message_set("Select empties or an armature to fit a body to")
            return False
        return True

    def draw(self, context):
        self.draw_settings(context)

    def execute(self, context):
        return run_reported(self, self.apply, context)

    def apply(self, context):
        sources = _sources(context, besides=active_body(context) if self.body == "SELECTED" else None)
        if not sources:
            raise ValueError("Select the empties or the armature to fit to, besides the active body")
        points = fitting_api.points_from_objects(sources)
        self.fit(context, points, name="fit", frame_start=context.scene.frame_start)


def _sources(context, besides=None):
    """The selected objects that can give points (empties, armatures), except ``besides`` (the body fitted)."""
    return [o for o in context.view_layer.objects.selected if o.type in ("EMPTY", "ARMATURE") and o != besides]


def menu_fit_to_points(self, context):
    self.layout.operator(SMPL_OT_fit_to_points.bl_idname, text="SMPL body fitted to points (.npy/.npz/.json)")


CLASSES = (SMPL_OT_fit_to_points, SMPL_OT_fit_to_selected)
MENUS = ((bpy.types.TOPBAR_MT_file_import, menu_fit_to_points),)

register, unregister = registration(CLASSES, MENUS)
