# SPDX-License-Identifier: GPL-3.0-or-later
"""File import and export of the active body's animation: ``smpl.import_motion`` (File › Import) and
``smpl.export_motion`` (AMASS / .smpl), ``smpl.export_body`` (glTF / Alembic), ``smpl.export_fbx`` (File › Export).

Thin: read the input, call ``blender.motion`` / ``blender.motion_export`` / ``blender.export``, report. Each has undo, a
poll, keyword arguments for scripts (``bpy.ops.smpl.import_motion(filepath="walk.npz", fps_mode="SOURCE")``), the file
browser from Blender's ImportHelper / ExportHelper when run from the UI, progress through the window manager, and on
bad input an error report with the scene left as it was (the blender layer reads and validates everything before it
changes the scene, and the exporters restore what they touch).
"""

import os
import warnings

import bpy
from bpy.props import BoolProperty, EnumProperty, FloatProperty, IntProperty, StringProperty
from bpy.types import Operator
from bpy_extras.io_utils import ExportHelper, ImportHelper

from ..blender import compat
from ..blender import export as export_api
from ..blender import motion as motion_api
from ..blender import motion_export as motion_export_api
from . import properties
from .common import (
    BodyOperator,
    ObjectModeOperator,
    active_body,
    make_active,
    progress,
    registration,
    report_warnings,
    run_reported,
)
from .preferences import vposer_weights

MOTION_GLOB = "*.npz;*.smpl;*.pkl;*.json"
UP_AXES = {"DEFAULT": None, "Y": "Y", "Z": "Z", "CAMERA": "camera"}  # import_motion's up_axis argument
MOTION_EXTENSIONS = {"AMASS": ".npz", "SMPL": ".smpl"}  # export_motion's formats
BODY_EXTENSIONS = {"GLB": ".glb", "ABC": ".abc"}  # export_body's formats


class SMPL_OT_import_motion(ObjectModeOperator, ImportHelper, Operator):  # type: ignore[misc]  # (stubs: helper vs Operator signatures)
    """Import a motion (AMASS / Meshcapade .npz, .smpl, SMPLify-X .pkl, pose or EasyMocap .json) as an animated
    SMPL body, or onto the selected body"""

    bl_idname = "smpl.import_motion"
    bl_label = "Import SMPL Motion"
    bl_options = {"REGISTER", "UNDO"}
    poll_message = "Switch to Object Mode to import a motion"

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
        if active_body(context) is not None:
            self.body = "SELECTED"
        return ImportHelper.invoke(self, context, event)

    def execute(self, context):
        return run_reported(self, self.apply, context)

    def apply(self, context):
        target = None
        if self.body == "SELECTED":
            target = active_body(context)
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
                vposer=vposer_weights(context) or None,  # SMPLify-X latent body poses
            )
        report_warnings(self, caught)
        make_active(context, arm)
        properties.sync_shape_sliders(arm)  # a new body may carry the motion's betas
        frames = arm.animation_data.action.frame_range
        self.report(
            {"INFO"},
            f"Imported {os.path.basename(self.filepath)} onto {arm.name}: frames {int(frames[0])}-{int(frames[1])}",
        )


class _BodyExport(BodyOperator, ExportHelper):
    """Mix-in of the body exports: the frame range, a file name from the body, the checked output path."""

    use_action_range: BoolProperty(
        name="Action range", description="Export the frames of the body's action (else the range below)", default=True
    )
    frame_start: IntProperty(name="Start", default=1)
    frame_end: IntProperty(name="End", default=250)

    def default_name(self, arm):
        return arm.name

    def invoke(self, context, event):
        if not self.filepath:
            self.filepath = bpy.path.ensure_ext(self.default_name(active_body(context)), self.filename_ext)
        return ExportHelper.invoke(self, context, event)

    def frame_span(self):
        """(frame_start, frame_end) for the blender/ export: (None, None) is the body's action range."""
        return (None, None) if self.use_action_range else (self.frame_start, self.frame_end)

    def output_path(self):
        if not self.filepath:
            raise ValueError(f"{self.bl_label}: a file path is needed")
        return bpy.path.ensure_ext(bpy.path.abspath(self.filepath), self.filename_ext)


class SMPL_OT_export_motion(_BodyExport, Operator):  # type: ignore[misc]  # (stubs: helper vs Operator signatures)
    """Write the active body's animation as SMPL parameters: AMASS .npz (Z-up) or Meshcapade .smpl (Y-up)"""

    bl_idname = "smpl.export_motion"
    bl_label = "Export SMPL Motion"
    bl_options = {"REGISTER", "UNDO"}

    filter_glob: StringProperty(default="*.npz;*.smpl", options={"HIDDEN"})
    format: EnumProperty(
        name="Format",
        items=(
            ("AMASS", "AMASS .npz", "poses / trans / betas / mocap_frame_rate, Z-up world, SMPL-H or SMPL-X layout"),
            ("SMPL", "Meshcapade .smpl", "smplcodec archive, Y-up world"),
        ),
        default="AMASS",
    )
    fps: FloatProperty(
        name="Frame rate", description="Resample to this rate; 0 keeps the scene's", default=0.0, min=0.0
    )

    @property
    def filename_ext(self):
        return MOTION_EXTENSIONS[self.format]

    def apply(self, context, arm):
        start, end = self.frame_span()
        path = motion_export_api.export_motion(
            arm,
            self.output_path(),
            format=self.format,
            frame_start=start,
            frame_end=end,
            fps=self.fps or None,
        )
        self.report({"INFO"}, f"Wrote {path}")


class SMPL_OT_export_body(_BodyExport, Operator):  # type: ignore[misc]  # (stubs: helper vs Operator signatures)
    """Export the active body to glTF (.glb: skin, morph targets, sampled animation) or Alembic (deformed mesh per
    frame). FBX is smpl.export_fbx"""

    bl_idname = "smpl.export_body"
    bl_label = "Export SMPL Body (glTF / Alembic)"
    bl_options = {"REGISTER", "UNDO"}

    filter_glob: StringProperty(default="*.glb;*.abc", options={"HIDDEN"})
    format: EnumProperty(
        name="Format",
        items=(
            ("GLB", "glTF (.glb)", "Skin, morph targets and the animation sampled at every frame"),
            ("ABC", "Alembic", "The deformed mesh of every frame"),
        ),
        default="GLB",
    )
    correctives: EnumProperty(
        name="Correctives",
        items=(
            ("keys", "Shape keys", "Export the Pose### keys and their animation"),
            ("none", "None", "Leave them out"),
        ),
        default="keys",
    )
    max_influences: IntProperty(
        name="Max influences",
        default=0,
        min=0,
        max=16,
        description="At most this many joints per vertex, the largest kept and renormalised "
        "(4 for three.js and most web viewers); 0: every influence (exact)",
    )

    def draw(self, context):
        layout = self.layout
        layout.use_property_split = True
        layout.prop(self, "format")
        if self.format == "ABC" and not compat.has_alembic():
            layout.label(text="This Blender is built without Alembic", icon="ERROR")
        if self.format == "GLB":
            layout.prop(self, "correctives")
            layout.prop(self, "max_influences")
        layout.prop(self, "use_action_range")
        column = layout.column(align=True)
        column.enabled = not self.use_action_range
        column.prop(self, "frame_start")
        column.prop(self, "frame_end")

    @property
    def filename_ext(self):
        return BODY_EXTENSIONS[self.format]

    def apply(self, context, arm):
        path = self.output_path()
        start, end = self.frame_span()
        with progress(context) as update:
            common = dict(frame_start=start, frame_end=end, progress=update)
            if self.format == "GLB":
                done = export_api.export_gltf(
                    arm, path, correctives=self.correctives, max_influences=self.max_influences or None, **common
                )
            else:
                done = export_api.export_abc(arm, path, **common)
        self.report({"INFO"}, f"Wrote {done['path']}: {done['frames']} frames in {done['seconds']:.1f} s")


class SMPL_OT_export_fbx(_BodyExport, Operator):  # type: ignore[misc]  # (stubs: helper vs Operator signatures)
    """Export the selected SMPL body with its animation (and keyed correctives) to FBX"""

    bl_idname = "smpl.export_fbx"
    bl_label = "Export SMPL FBX"
    bl_options = {"REGISTER", "UNDO"}

    filename_ext = ".fbx"
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

    def default_name(self, arm):  # the take's name: the motion's
        action = arm.animation_data.action if arm.animation_data else None
        return bpy.path.clean_name(action.name if action else arm.name)

    def apply(self, context, arm):
        filepath = self.output_path()
        start, end = self.frame_span()
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


def menu_import_motion(self, context):
    self.layout.operator(SMPL_OT_import_motion.bl_idname, text="SMPL motion (.npz/.smpl/.pkl/.json)")


def menu_export_body(self, context):
    self.layout.operator(
        SMPL_OT_export_body.bl_idname, text="SMPL body (.glb/.abc)" if compat.has_alembic() else "SMPL body (.glb)"
    )


def menu_export_motion(self, context):
    self.layout.operator(SMPL_OT_export_motion.bl_idname, text="SMPL motion (.npz/.smpl)")


def menu_export_fbx(self, context):
    self.layout.operator(SMPL_OT_export_fbx.bl_idname, text="SMPL body animation (.fbx)")


CLASSES = (SMPL_OT_import_motion, SMPL_OT_export_motion, SMPL_OT_export_body, SMPL_OT_export_fbx)
# File › Import / Export entries, in the order the menus show them
MENUS = (
    (bpy.types.TOPBAR_MT_file_import, menu_import_motion),
    (bpy.types.TOPBAR_MT_file_export, menu_export_body),
    (bpy.types.TOPBAR_MT_file_export, menu_export_motion),
    (bpy.types.TOPBAR_MT_file_export, menu_export_fbx),
)

register, unregister = registration(CLASSES, MENUS)
