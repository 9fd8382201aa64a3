# SPDX-License-Identifier: GPL-3.0-or-later
"""Pose operators on the active body: set a pose from numbers or a pose file (File › Import), reset it, preset hands,
write it out (console, JSON, .npz), update the pose correctives (for the current pose or keyed over frames), and
VPoser: a random plausible pose, in-betweens of two keyed poses through its latent space (weights in preferences).

Poses come in as text, e.g. ``bpy.ops.smpl.set_pose(pose="pose = [0.0, 0.1, ...]")``: what Write Pose prints can be
pasted back (``parsing.parse_numbers``).
"""

import bpy
from bpy.props import BoolProperty, EnumProperty, IntProperty, StringProperty
from bpy.types import Operator
from bpy_extras.io_utils import ExportHelper, ImportHelper

from ..blender import correctives as correctives_api
from ..blender import pose as pose_api
from ..blender import vposer as vposer_api
from .common import BodyOperator, active_body, progress, registration
from .parsing import parse_numbers
from .preferences import vposer_weights

POSE_SIZES = (72, 156, 165)  # SMPL, SMPL-H, SMPL-X full axis-angle poses
WRITE_POSE_EXTENSIONS = {"CONSOLE": "", "JSON": ".json", "NPZ": ".npz"}


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


class SMPL_OT_load_pose(BodyOperator, ImportHelper, Operator):  # type: ignore[misc]  # (stubs: helper vs Operator signatures)
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


class _VPoserOperator(BodyOperator):
    weights: StringProperty(
        name="VPoser weights",
        subtype="FILE_PATH",
        description="A VPoser v2 checkpoint or experiment folder; empty: the one set in the add-on's preferences",
    )

    def vposer(self, context):
        path = bpy.path.abspath(self.weights) if self.weights else vposer_weights(context)
        if not path:
            raise ValueError("no VPoser weights: set them in the add-on's preferences (or pass weights=)")
        return vposer_api.cached_vposer(path)


class SMPL_OT_random_pose_vposer(_VPoserOperator, Operator):
    """Give the active body a random plausible body pose drawn from VPoser (pelvis, hands and face keep theirs)"""

    bl_idname = "smpl.random_pose_vposer"
    bl_label = "Random Pose (VPoser)"
    bl_options = {"REGISTER", "UNDO"}

    seed: IntProperty(name="Seed", default=-1, min=-1, description="The same seed gives the same pose; -1: a new one")

    def apply(self, context, arm):
        vposer_api.random_vposer_pose(arm, self.vposer(context), seed=None if self.seed < 0 else self.seed)


class SMPL_OT_vposer_inbetweens(_VPoserOperator, Operator):
    """Key the frames between two keyed poses of the active body with poses from VPoser's latent space (a straight
    line between the two poses' codes), other joints on the shortest arc; the correctives are keyed too"""

    bl_idname = "smpl.vposer_inbetweens"
    bl_label = "VPoser In-betweens"
    bl_options = {"REGISTER", "UNDO"}

    use_range: BoolProperty(
        name="Frames below",
        default=False,
        description="Between these two frames (else the keys around the current one)",
    )
    frame_start: IntProperty(name="From", default=1)
    frame_end: IntProperty(name="To", default=250)
    correctives: BoolProperty(name="Key correctives", default=True)

    def apply(self, context, arm):
        span = (self.frame_start, self.frame_end) if self.use_range else (None, None)
        frames = vposer_api.vposer_inbetweens(arm, self.vposer(context), *span, correctives=self.correctives)
        self.report({"INFO"}, f"Keyed {len(frames)} in-between frames from VPoser")


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


class SMPL_OT_write_pose(BodyOperator, ExportHelper, Operator):  # type: ignore[misc]  # (stubs: helper vs Operator signatures)
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
    copy_to_clipboard: BoolProperty(name="Copy to clipboard", description="Also copy the written text", default=False)
    filter_glob: StringProperty(default="*.json;*.npz", options={"HIDDEN"})

    @property
    def filename_ext(self):
        return WRITE_POSE_EXTENSIONS[self.target]

    def invoke(self, context, event):
        if self.target == "CONSOLE" or self.filepath:
            return self.execute(context)
        self.filepath = bpy.path.ensure_ext(active_body(context).name, self.filename_ext)
        return ExportHelper.invoke(self, context, event)

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


def menu_import_pose(self, context):
    self.layout.operator(SMPL_OT_load_pose.bl_idname, text="SMPL pose (.json/.npz/.pkl)")


CLASSES = (
    SMPL_OT_set_pose,
    SMPL_OT_load_pose,
    SMPL_OT_reset_pose,
    SMPL_OT_hand_pose,
    SMPL_OT_write_pose,
    SMPL_OT_update_correctives,
    SMPL_OT_random_pose_vposer,
    SMPL_OT_vposer_inbetweens,
)
MENUS = ((bpy.types.TOPBAR_MT_file_import, menu_import_pose),)

register, unregister = registration(CLASSES, MENUS)
