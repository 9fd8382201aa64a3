# SPDX-License-Identifier: GPL-3.0-or-later
"""Motion operators: ``smpl.import_motion`` (File › Import) and ``smpl.export_fbx`` (File › Export).

Thin: read the input, call ``blender.motion`` / ``blender.export``, report. Both have undo, a poll, keyword arguments
for scripts (``bpy.ops.smpl.import_motion(filepath="walk.npz", fps_mode="SOURCE")``), progress through the window
manager, and on bad input an error report with the scene left as it was (the blender layer reads and validates
everything before it changes the scene, and the exporter restores what it touches).

Wiring (ui/__init__.py): this module is in ``MODULES`` after ``operators``; its ``register()`` registers ``CLASSES``
and appends ``menu_import`` / ``menu_export`` to File › Import / Export.
"""

import os
import warnings

import bpy
from bpy.props import BoolProperty, EnumProperty, FloatProperty, IntProperty, StringProperty
from bpy.types import Operator

from ..blender import export as export_api
from ..blender import motion as motion_api
from . import properties
from .common import BodyOperator, ObjectModeOperator, make_active, progress, registration, run_reported

MOTION_GLOB = "*.npz;*.smpl;*.pkl;*.json"
UP_AXES = {"DEFAULT": None, "Y": "Y", "Z": "Z", "CAMERA": "camera"}  # import_motion's up_axis argument


def _report_warnings(operator, caught):
    """Blender reports for the warnings the blender layer raised (betas not carried over, gender fallback...)."""
    for warning in caught:
        operator.report({"WARNING"}, str(warning.message))


class SMPL_OT_import_motion(ObjectModeOperator, Operator):
    """Import a motion (AMASS / Meshcapade .npz, .smpl, SMPLify-X .pkl, pose or EasyMocap .json) as an animated
    SMPL body, or onto the selected body"""

    bl_idname = "smpl.import_motion"
    bl_label = "Import SMPL Motion"
    bl_options = {"REGISTER", "UNDO"}
    poll_message = "Switch to Object Mode to import a motion"

    filepath: StringProperty(name="File", subtype="FILE_PATH")
    filter_glob: StringProperty(default=MOTION_GLOB, options={"HIDDEN"})
    body: EnumProperty(
        name="Body",
        items=(
            ("NEW", "New body", "Add a new body for the motion"),
            (
                "SELECTED",
                "Selected body",
                "Animate the selected SMPL body (retargeted by joint name; its shape is kept)",
            ),
        ),
        default="NEW",
    )
    model: StringProperty(
        name="Model",
        default="open-smplx",
        description='New body: built-in body ("open-smplx", "open-smpl") or an official model file',
    )
    gender: EnumProperty(
        name="Gender",
        items=properties.GENDER_ITEMS,
        default="DEFAULT",
        description="New body: gender (Default: the motion's own)",
    )
    fps_mode: EnumProperty(
        name="Frame rate",
        items=(
            ("SCENE", "Scene", "Resample to the scene's frame rate"),
            ("SOURCE", "File", "Keep the file's own frame rate (a new body sets the scene to it)"),
            ("CUSTOM", "Custom", "Resample to the rate below"),
        ),
        default="SCENE",
    )
    fps: FloatProperty(name="FPS", default=30.0, min=0.01, max=10000.0, description="Custom frame rate")
    correctives: BoolProperty(
        name="Key correctives", default=True, description="Key the pose-corrective shape keys at every frame"
    )
    frame_start: IntProperty(name="Start frame", default=1, description="Scene frame of the motion's first frame")
    name: StringProperty(name="Name", description="Name of a new body (default: the file's name)")
    up_axis: EnumProperty(
        name="Data world",
        items=(
            (
                "DEFAULT",
                "Format default",
                "The world of the file format (AMASS, EasyMocap: Z-up; .smpl, pose "
                "files: Y-up; SMPLify-X fits: their camera)",
            ),
            ("Y", "Y up", "The data is in a Y-up world (SMPL model space)"),
            ("Z", "Z up", "The data is in a Z-up world (AMASS)"),
            ("CAMERA", "Camera", "SMPLify-X fits: OpenCV camera frame (x right, y down, z forward)"),
        ),
        default="DEFAULT",
    )

    def draw(self, context):
        layout = self.layout
        layout.use_property_split = True
        layout.prop(self, "body")
        new = self.body == "NEW"
        for name in ("model", "gender", "name"):
            row = layout.row()
            row.enabled = new
            row.prop(self, name)
        layout.prop(self, "fps_mode")
        if self.fps_mode == "CUSTOM":
            layout.prop(self, "fps")
        else:
            rate = context.scene.render.fps / context.scene.render.fps_base
            layout.label(text=f"Scene rate: {rate:.4g} fps" if self.fps_mode == "SCENE" else "The file's own rate")
        for name in ("frame_start", "up_axis", "correctives"):
            layout.prop(self, name)

    def invoke(self, context, event):
        if properties.active_body(context) is not None:
            self.body = "SELECTED"
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    def execute(self, context):
        return run_reported(self, self.apply, context)

    def apply(self, context):
        target = None
        if self.body == "SELECTED":
            target = properties.active_body(context)
            if target is None:
                raise ValueError("Select an SMPL body to animate, or import onto a new body")
        fps = {"SCENE": None, "SOURCE": "source", "CUSTOM": self.fps}[self.fps_mode]
        # MotionFileError / ModelFileError name the file, and nothing was changed (run_reported reports them)
        with warnings.catch_warnings(record=True) as caught, progress(context) as update:
            warnings.simplefilter("always")
            arm = motion_api.import_motion(
                bpy.path.abspath(self.filepath),
                body=target,
                model=self.model,
                gender=properties.gender_argument(self.gender),
                fps=fps,
                correctives=self.correctives,
                name=self.name or None,
                frame_start=self.frame_start,
                progress=update,
                up_axis=UP_AXES[self.up_axis],
            )
        _report_warnings(self, caught)
        make_active(context, arm)
        properties.sync_shape_sliders(arm)  # a new body may carry the motion's betas
        frames = arm.animation_data.action.frame_range
        self.report(
            {"INFO"},
            f"Imported {os.path.basename(self.filepath)} onto {arm.name}: frames {int(frames[0])}-{int(frames[1])}",
        )


class SMPL_OT_export_fbx(BodyOperator, Operator):
    """Export the selected SMPL body with its animation (and keyed correctives) to FBX"""

    bl_idname = "smpl.export_fbx"
    bl_label = "Export SMPL FBX"
    bl_options = {"REGISTER", "UNDO"}

    filepath: StringProperty(name="File", subtype="FILE_PATH")
    filename_ext = ".fbx"
    check_existing: BoolProperty(default=True, options={"HIDDEN"})
    filter_glob: StringProperty(default="*.fbx", options={"HIDDEN"})
    target: EnumProperty(
        name="Target",
        items=(
            ("BLENDER", "Blender", "Y-up FBX in metres, no leaf bones (re-imports into Blender unchanged)"),
            ("UNITY", "Unity", "Y-up, scale applied to the data so Unity imports at scale 1"),
            ("UNREAL", "Unreal", "Z-up, centimetres in the data"),
        ),
        default="BLENDER",
    )
    correctives: EnumProperty(
        name="Correctives",
        items=(
            ("KEYS", "Keyed", "Export the pose-corrective shape keys and their animation"),
            ("NONE", "None", "Leave the pose-corrective shape keys out"),
        ),
        default="KEYS",
    )
    max_influences: IntProperty(
        name="Max influences",
        default=0,
        min=0,
        max=16,
        description="At most this many joints per vertex, the largest kept and renormalised "
        "(4 for engines that blend 4, e.g. Unity's default); 0: every influence "
        "(exact)",
    )
    use_action_range: BoolProperty(
        name="Animation range", default=True, description="Export the body's animation range (else the frames below)"
    )
    frame_start: IntProperty(name="Start", default=1)
    frame_end: IntProperty(name="End", default=250)

    def invoke(self, context, event):
        if not self.filepath:
            arm = properties.active_body(context)
            action = arm.animation_data.action if arm.animation_data else None
            self.filepath = bpy.path.ensure_ext(bpy.path.clean_name(action.name if action else arm.name), ".fbx")
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    def apply(self, context, arm):
        if not self.filepath:
            raise ValueError("export FBX: a file path is needed")
        filepath = bpy.path.ensure_ext(bpy.path.abspath(self.filepath), ".fbx")
        start, end = (None, None) if self.use_action_range else (self.frame_start, self.frame_end)
        with progress(context) as update:
            result = export_api.export_fbx(
                arm,
                filepath,
                target=self.target.lower(),
                correctives=self.correctives.lower(),
                frame_start=start,
                frame_end=end,
                progress=update,
                max_influences=self.max_influences or None,
            )
        limited = (
            f", {result['limited_vertices']} vertices limited to {self.max_influences} joints"
            if result["limited_vertices"]
            else ""
        )
        self.report(
            {"INFO"},
            f"Exported {arm.name}: take {result['name']!r}, {result['frames']} frames to {filepath} "
            f"in {result['seconds']:.1f} s{limited}",
        )


def menu_import(self, context):
    self.layout.operator(SMPL_OT_import_motion.bl_idname, text="SMPL motion (.npz/.smpl/.pkl/.json)")


def menu_export(self, context):
    self.layout.operator(SMPL_OT_export_fbx.bl_idname, text="SMPL body animation (.fbx)")


CLASSES = (SMPL_OT_import_motion, SMPL_OT_export_fbx)
MENUS = ((bpy.types.TOPBAR_MT_file_import, menu_import), (bpy.types.TOPBAR_MT_file_export, menu_export))
register, unregister = registration(CLASSES, MENUS)
