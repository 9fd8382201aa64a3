# SPDX-License-Identifier: GPL-3.0-or-later
"""Operators under ``bpy.ops.smpl``: read the input, call ``blender/``, report. No logic that a script would need.

Every operator has undo, a poll (a body must be selected where one is needed) and keyword arguments for the Python console,
e.g. ``bpy.ops.smpl.add_body(model="open-smplx", gender="FEMALE", betas="1 -0.5")`` or
``bpy.ops.smpl.set_pose(pose="pose = [0.0, 0.1, ...]")``. Bad input (a broken model or pose file, unreadable numbers) is
reported as an error and the operator is cancelled, which ``bpy.ops`` turns into a ``RuntimeError`` carrying the message.
"""

import bpy
from bpy.props import BoolProperty, EnumProperty, FloatProperty, FloatVectorProperty, IntProperty, StringProperty
from bpy.types import Operator

from ..blender import build as build_api
from ..blender import compat
from ..blender import correctives as correctives_api
from ..blender import export as export_api
from ..blender import motion_export as motion_export_api
from ..blender import pose as pose_api
from ..blender import shape as shape_api
from . import properties
from .common import BodyOperator, ObjectModeOperator, make_active, progress, registration, run_reported
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
POSE_SIZES = (72, 156, 165)  # SMPL, SMPL-H, SMPL-X full axis-angle poses


def _add_body(operator, context, model):
    """Shared by smpl.add_body and the File › Import entry: build the body, select it, fill its panel sliders."""
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


def _change_shape(arm, change, *args, **kwargs):
    """Apply a blender.shape function to a body, then show its new coefficients on the panel sliders."""
    change(arm, *args, **kwargs)
    properties.sync_shape_sliders(arm)


class _OpenFile:
    """Mix-in: ``filepath`` chosen in the file browser when run from the UI, given as a keyword from a script."""

    filepath: StringProperty(name="File", subtype="FILE_PATH")

    def invoke(self, context, event):
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}


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


class SMPL_OT_import_body(ObjectModeOperator, _AddBodyOptions, _OpenFile, Operator):
    """Add a body from an official SMPL / SMPL-H / SMPL-X model file (.npz / .pkl)"""

    bl_idname = "smpl.import_body"
    bl_label = "Import SMPL Body"
    bl_options = {"REGISTER", "UNDO", "PRESET"}

    filter_glob: StringProperty(default="*.npz;*.pkl", options={"HIDDEN"})

    def execute(self, context):
        return run_reported(self, _add_body, self, context, bpy.path.abspath(self.filepath))


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
        self.height, self.weight = properties.current_height_weight(properties.active_body(context))
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


class SMPL_OT_set_pose(BodyOperator, Operator):
    """Set the active body's pose from axis-angle (Rodrigues) numbers, pelvis first, as written by Write Pose"""

    bl_idname = "smpl.set_pose"
    bl_label = "Set Pose"
    bl_options = {"REGISTER", "UNDO"}

    pose: StringProperty(
        name="Pose",
        description="72 (SMPL), 156 (SMPL-H) or 165 (SMPL-X) numbers: text, a list, 'pose = [...]' or JSON",
    )
    transl: StringProperty(
        name="Translation", description="Optional 3 numbers: root translation in metres (model axes)"
    )
    update_correctives: BoolProperty(
        name="Update correctives", description="Recompute the pose-corrective shape keys for the new pose", default=True
    )

    def invoke(self, context, event):
        return context.window_manager.invoke_props_dialog(self, width=600)

    def apply(self, context, arm):
        pose = parse_numbers(self.pose, "pose", sizes=POSE_SIZES)
        if pose is None:
            raise ValueError("pose: no numbers given")
        pose_api.set_pose(arm, pose, transl=parse_numbers(self.transl, "translation", sizes=(3,)))
        if self.update_correctives:
            correctives_api.update_correctives(arm)


class SMPL_OT_load_pose(BodyOperator, _OpenFile, Operator):
    """Set the active body's pose from a pose file (.json, .npz, .pkl)"""

    bl_idname = "smpl.load_pose"
    bl_label = "Load SMPL Pose"
    bl_options = {"REGISTER", "UNDO"}

    filter_glob: StringProperty(default="*.json;*.npz;*.pkl", options={"HIDDEN"})

    def apply(self, context, arm):
        pose_api.load_pose(arm, bpy.path.abspath(self.filepath))


class SMPL_OT_reset_pose(BodyOperator, Operator):
    """Put the active body back in its rest pose"""

    bl_idname = "smpl.reset_pose"
    bl_label = "Reset Pose"
    bl_options = {"REGISTER", "UNDO"}

    def apply(self, context, arm):
        pose_api.reset_pose(arm)


class SMPL_OT_hand_pose(BodyOperator, Operator):
    """Set both hands of the active body to a preset pose"""

    bl_idname = "smpl.hand_pose"
    bl_label = "Hand Pose"
    bl_options = {"REGISTER", "UNDO"}

    preset: EnumProperty(
        name="Preset",
        items=(
            ("FLAT", "Flat", "Flat hands (the rest pose)"),
            ("RELAXED", "Relaxed", "The model's mean (relaxed) hand pose"),
        ),
        default="FLAT",
    )

    def apply(self, context, arm):
        pose_api.set_hand_pose(arm, preset=self.preset)


def print_to_python_consoles(context, text):
    """Append ``text`` to the scrollback of every open Python console editor (Blender's console is not stdout)."""
    window_manager = context.window_manager
    for window in window_manager.windows if window_manager else ():
        for area in window.screen.areas:
            if area.type != "CONSOLE":
                continue
            region = next((r for r in area.regions if r.type == "WINDOW"), None)
            with context.temp_override(window=window, area=area, region=region):
                for line in text.splitlines():
                    bpy.ops.console.scrollback_append(text=line, type="OUTPUT")


class SMPL_OT_write_pose(BodyOperator, Operator):
    """Write the active body's pose as axis-angle (Rodrigues) vectors, pelvis first: to the console, JSON or .npz"""

    bl_idname = "smpl.write_pose"
    bl_label = "Write Pose"
    bl_options = {"REGISTER", "UNDO"}

    target: EnumProperty(
        name="Target",
        items=(
            ("CONSOLE", "Console", "Print 'pose = [...]' to the Python console and to standard output"),
            ("JSON", "JSON", 'Write {"pose": [...]} to a .json file'),
            ("NPZ", "NPZ", "Write a .npz file with a pose array"),
        ),
        default="CONSOLE",
    )
    filepath: StringProperty(name="File", subtype="FILE_PATH", description="Output file for JSON / NPZ")
    copy_to_clipboard: BoolProperty(name="Copy to clipboard", description="Also copy the written text", default=False)
    filter_glob: StringProperty(default="*.json;*.npz", options={"HIDDEN"})

    def invoke(self, context, event):
        if self.target != "CONSOLE" and not self.filepath:
            extension = ".json" if self.target == "JSON" else ".npz"
            self.filepath = bpy.path.ensure_ext(properties.active_body(context).name, extension)
            context.window_manager.fileselect_add(self)
            return {"RUNNING_MODAL"}
        return self.execute(context)

    def apply(self, context, arm):
        filepath = None
        if self.target != "CONSOLE":
            if not self.filepath:
                raise ValueError(f"write pose: a file path is needed for {self.target}")
            filepath = bpy.path.abspath(self.filepath)
        text = pose_api.write_pose(arm, target=self.target, filepath=filepath)
        if self.target == "CONSOLE":  # the blender layer has printed it to stdout; Blender's console is not stdout
            print_to_python_consoles(context, text)
        if self.copy_to_clipboard:
            context.window_manager.clipboard = text
        self.report({"INFO"}, "Pose written" + (f" to {filepath}" if filepath else ""))


class SMPL_OT_update_correctives(BodyOperator, Operator):
    """Recompute the pose-corrective shape keys of the active body: for the current pose, or keyed for every keyframe
    of its animation or every frame of a range"""

    bl_idname = "smpl.update_correctives"
    bl_label = "Update Pose Correctives"
    bl_options = {"REGISTER", "UNDO"}

    scope: EnumProperty(
        name="Scope",
        items=(
            ("FRAME", "Current Pose", "Set the corrective values for the current pose (not keyed)"),
            ("KEYFRAMES", "Every Keyframe", "Key the correctives at every frame that holds a bone keyframe"),
            ("RANGE", "Frame Range", "Key the correctives at every frame of a range"),
        ),
        default="FRAME",
    )
    use_scene_range: BoolProperty(
        name="Scene range",
        description="Use the scene's frame range (RANGE), or all keyframes (KEYFRAMES)",
        default=True,
    )
    frame_start: IntProperty(name="Start", description="First frame when not using the scene range", default=1)
    frame_end: IntProperty(name="End", description="Last frame when not using the scene range", default=250)

    def apply(self, context, arm):
        if self.scope == "FRAME":
            correctives_api.update_correctives(arm)
            return
        start, end = (None, None) if self.use_scene_range else (self.frame_start, self.frame_end)
        with progress(context) as update:
            frames = correctives_api.update_correctives(
                arm, scope=self.scope, frame_start=start, frame_end=end, progress=update
            )
        self.report({"INFO"}, f"Keyed pose correctives of {arm.name} at {len(frames)} frames")


class SMPL_OT_export_motion(BodyOperator, Operator):
    """Write the active body's animation as SMPL parameters: AMASS .npz (Z-up) or Meshcapade .smpl (Y-up)"""

    bl_idname = "smpl.export_motion"
    bl_label = "Export SMPL Motion"
    bl_options = {"REGISTER", "UNDO"}

    filepath: StringProperty(name="File", subtype="FILE_PATH")
    filter_glob: StringProperty(default="*.npz;*.smpl", options={"HIDDEN"})
    format: EnumProperty(
        name="Format",
        items=(
            ("AMASS", "AMASS .npz", "poses / trans / betas / mocap_frame_rate, Z-up world, SMPL-H or SMPL-X layout"),
            ("SMPL", "Meshcapade .smpl", "smplcodec archive, Y-up world"),
        ),
        default="AMASS",
    )
    use_action_range: BoolProperty(
        name="Action range", description="Export the frames of the body's action (else the range below)", default=True
    )
    frame_start: IntProperty(name="Start", default=1)
    frame_end: IntProperty(name="End", default=250)
    fps: FloatProperty(
        name="Frame rate", description="Resample to this rate; 0 keeps the scene's", default=0.0, min=0.0
    )

    def invoke(self, context, event):
        if not self.filepath:
            extension = ".npz" if self.format == "AMASS" else ".smpl"
            self.filepath = bpy.path.ensure_ext(properties.active_body(context).name, extension)
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    def apply(self, context, arm):
        if not self.filepath:
            raise ValueError("export motion: a file path is needed")
        start, end = (None, None) if self.use_action_range else (self.frame_start, self.frame_end)
        path = motion_export_api.export_motion(
            arm,
            bpy.path.abspath(self.filepath),
            format=self.format,
            frame_start=start,
            frame_end=end,
            fps=self.fps or None,
        )
        self.report({"INFO"}, f"Wrote {path}")


EXPORT_FORMATS = {"GLB": ".glb", "ABC": ".abc"}


class SMPL_OT_export_body(BodyOperator, Operator):
    """Export the active body to glTF (.glb: skin, morph targets, sampled animation) or Alembic (deformed mesh per
    frame). FBX is smpl.export_fbx"""

    bl_idname = "smpl.export_body"
    bl_label = "Export SMPL Body (glTF / Alembic)"
    bl_options = {"REGISTER", "UNDO"}

    filepath: StringProperty(name="File", subtype="FILE_PATH")
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
    use_action_range: BoolProperty(name="Action range", description="Export the body's action range", default=True)
    frame_start: IntProperty(name="Start", default=1)
    frame_end: IntProperty(name="End", default=250)

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

    def invoke(self, context, event):
        if not self.filepath:
            self.filepath = bpy.path.ensure_ext(properties.active_body(context).name, EXPORT_FORMATS[self.format])
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    def apply(self, context, arm):
        if not self.filepath:
            raise ValueError(f"export {self.format}: a file path is needed")
        path = bpy.path.ensure_ext(bpy.path.abspath(self.filepath), EXPORT_FORMATS[self.format])
        start, end = (None, None) if self.use_action_range else (self.frame_start, self.frame_end)
        with progress(context) as update:
            common = dict(frame_start=start, frame_end=end, progress=update)
            if self.format == "GLB":
                done = export_api.export_gltf(
                    arm, path, correctives=self.correctives, max_influences=self.max_influences or None, **common
                )
            else:
                done = export_api.export_abc(arm, path, **common)
        self.report({"INFO"}, f"Wrote {done['path']}: {done['frames']} frames in {done['seconds']:.1f} s")


def menu_export_body(self, context):
    self.layout.operator(
        SMPL_OT_export_body.bl_idname, text="SMPL body (.glb/.abc)" if compat.has_alembic() else "SMPL body (.glb)"
    )


def menu_export_motion(self, context):
    self.layout.operator(SMPL_OT_export_motion.bl_idname, text="SMPL motion (.npz/.smpl)")


def menu_import_body(self, context):
    self.layout.operator(SMPL_OT_import_body.bl_idname, text="SMPL body (.npz/.pkl)")


def menu_import_pose(self, context):
    self.layout.operator(SMPL_OT_load_pose.bl_idname, text="SMPL pose (.json/.npz/.pkl)")


CLASSES = (
    SMPL_OT_add_body,
    SMPL_OT_import_body,
    SMPL_OT_show_shape_sliders,
    SMPL_OT_set_shape,
    SMPL_OT_random_shape,
    SMPL_OT_reset_shape,
    SMPL_OT_height_weight,
    SMPL_OT_snap_to_ground,
    SMPL_OT_set_pose,
    SMPL_OT_load_pose,
    SMPL_OT_reset_pose,
    SMPL_OT_hand_pose,
    SMPL_OT_write_pose,
    SMPL_OT_update_correctives,
    SMPL_OT_export_motion,
    SMPL_OT_export_body,
)
MENUS = (
    (bpy.types.TOPBAR_MT_file_import, menu_import_body),
    (bpy.types.TOPBAR_MT_file_import, menu_import_pose),
    (bpy.types.TOPBAR_MT_file_export, menu_export_body),
    (bpy.types.TOPBAR_MT_file_export, menu_export_motion),
)

register, unregister = registration(CLASSES, MENUS)
