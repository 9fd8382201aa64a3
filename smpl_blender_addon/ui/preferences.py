# SPDX-License-Identifier: GPL-3.0-or-later
"""Add-on preferences: folders where the user keeps official SMPL / SMPL-H / SMPL-X model files, and the user's
VPoser weights (Random Pose (VPoser), VPoser in-betweens).

"Scan" walks those folders and lists every model file it can read, identified by its CONTENT (kind and gender as the
core loader reads them, not guessed from the file name). The found files then appear in the "Add body" model menu.
"""

import os

import bpy
from bpy.props import CollectionProperty, IntProperty, StringProperty
from bpy.types import AddonPreferences, Operator, PropertyGroup

from ..core import model_files
from .common import registration, run_reported

# The add-on's module name: "smpl_blender_addon" when registered from a checkout, "bl_ext.<repo>.smpl_blender_addon"
# when installed as an extension. AddonPreferences.bl_idname must be exactly that.
ADDON_MODULE = __package__.rpartition(".")[0]
BODY_KINDS = ("smpl", "smplh", "smplx")


def addon_preferences(context):
    """This add-on's preferences, or None when the package was registered directly (not enabled as an add-on)."""
    addon = context.preferences.addons.get(ADDON_MODULE)
    return addon.preferences if addon is not None else None


def identify_model_file(path):
    """(kind, gender) of a model file from its validated arrays (core.model_files), not its name.

    Raises ModelFileError (a ValueError) naming the file if it is not a usable body model.
    """
    arrays = model_files.read_model_file(path)
    return arrays["kind"], (arrays.get("gender") or "unknown gender")


def vposer_weights(context):
    """The VPoser weights path set in the preferences ('' when none, or when the add-on is not enabled)."""
    prefs = addon_preferences(context)
    return bpy.path.abspath(prefs.vposer_path) if prefs is not None and prefs.vposer_path else ""


def found_model_items(context):
    """EnumProperty items (path, label, description) for the model files found by the last scan."""
    prefs = addon_preferences(context)
    if prefs is None:
        return []
    return [(m.path, f"{m.kind.upper()} {m.gender} ({os.path.basename(m.path)})", m.path) for m in prefs.found_models]


class SMPL_PG_model_folder(PropertyGroup):
    path: StringProperty(name="Folder", subtype="DIR_PATH", description="Folder holding official model files")


class SMPL_PG_found_model(PropertyGroup):
    path: StringProperty(name="File", subtype="FILE_PATH")
    kind: StringProperty(name="Kind", description="smpl, smplh or smplx, read from the file's arrays")
    gender: StringProperty(name="Gender")


class SMPL_AP_preferences(AddonPreferences):
    bl_idname = ADDON_MODULE

    model_folders: CollectionProperty(type=SMPL_PG_model_folder, name="Model folders")
    found_models: CollectionProperty(type=SMPL_PG_found_model, name="Found models")
    scan_problems: StringProperty(name="Files not read", description="Files skipped by the last scan, one per line")
    vposer_path: StringProperty(
        name="VPoser weights",
        subtype="FILE_PATH",
        description="Your VPoser v2 checkpoint (.ckpt, e.g. V02_05/snapshots/*.ckpt) or its experiment folder: "
        "enables Random Pose (VPoser) and VPoser in-betweens",
    )

    def draw(self, context):
        layout = self.layout
        layout.prop(self, "vposer_path")
        layout.label(text="Folders with official SMPL / SMPL-H / SMPL-X model files (.npz / .pkl):")
        for index, folder in enumerate(self.model_folders):
            row = layout.row(align=True)
            row.prop(folder, "path", text="")
            row.operator(SMPL_OT_remove_model_folder.bl_idname, text="", icon="X").index = index
        row = layout.row()
        row.operator(SMPL_OT_add_model_folder.bl_idname, icon="ADD")
        row.operator(SMPL_OT_scan_model_folders.bl_idname, icon="VIEWZOOM")
        box = layout.box()
        if not self.found_models:
            box.label(text="No model files found yet: add a folder and scan")
        for model in self.found_models:
            box.label(text=f"{model.kind.upper()}  {model.gender}  {model.path}", icon="OUTLINER_OB_ARMATURE")
        for line in self.scan_problems.splitlines()[:10]:
            box.label(text=line, icon="ERROR")


class _NeedsPreferences:
    @classmethod
    def poll(cls, context):
        if addon_preferences(context) is None:
            cls.poll_message_set("Enable the add-on in Preferences to keep model folders")
            return False
        return True


class SMPL_OT_add_model_folder(_NeedsPreferences, Operator):
    """Add a folder that holds official model files"""

    bl_idname = "smpl.add_model_folder"
    bl_label = "Add Folder"
    bl_options = {"REGISTER", "INTERNAL"}

    directory: StringProperty(subtype="DIR_PATH")

    def invoke(self, context, event):
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    def execute(self, context):
        prefs = addon_preferences(context)
        if not os.path.isdir(bpy.path.abspath(self.directory)):
            self.report({"ERROR"}, f"{self.directory}: not a folder")
            return {"CANCELLED"}
        prefs.model_folders.add().path = self.directory
        context.preferences.is_dirty = True
        return {"FINISHED"}


class SMPL_OT_remove_model_folder(_NeedsPreferences, Operator):
    """Forget this model folder (the files stay on disk)"""

    bl_idname = "smpl.remove_model_folder"
    bl_label = "Remove Folder"
    bl_options = {"REGISTER", "INTERNAL"}

    index: IntProperty(default=-1)

    def execute(self, context):
        prefs = addon_preferences(context)
        if not 0 <= self.index < len(prefs.model_folders):
            return {"CANCELLED"}
        prefs.model_folders.remove(self.index)
        context.preferences.is_dirty = True
        return {"FINISHED"}


class SMPL_OT_scan_model_folders(_NeedsPreferences, Operator):
    """Read every .npz / .pkl file in the model folders and list the body models found (kind and gender from content)"""

    bl_idname = "smpl.scan_model_folders"
    bl_label = "Scan Folders"
    bl_options = {"REGISTER"}

    def execute(self, context):
        return run_reported(self, self.scan, context)

    def scan(self, context):
        prefs = addon_preferences(context)
        folders = [folder.path for folder in prefs.model_folders if folder.path]
        paths = [
            p for folder in folders for p in model_files.model_folder_files(os.path.abspath(bpy.path.abspath(folder)))
        ]
        prefs.found_models.clear()
        problems = []
        if not folders:
            problems.append("No model folders to scan: press Add Folder first")
        elif not paths:
            problems.append(f"No .npz / .pkl files in {', '.join(folders)}")
        wm = context.window_manager
        wm.progress_begin(0, max(len(paths), 1))
        try:
            for step, path in enumerate(paths):
                wm.progress_update(step)
                try:
                    kind, gender = identify_model_file(path)
                except ValueError as err:  # not a body model (e.g. a motion .npz) or unreadable: list why, go on
                    problems.append(str(err))
                    continue
                if kind not in BODY_KINDS:  # MANO hand files are read into SMPL-H, not added as bodies
                    problems.append(f"{path}: a {kind.upper()} model, not a body")
                    continue
                found = prefs.found_models.add()
                found.path, found.kind, found.gender = path, kind, gender
        finally:
            wm.progress_end()
        prefs.scan_problems = "\n".join(problems)
        context.preferences.is_dirty = True
        if paths:
            self.report({"INFO"}, f"{len(prefs.found_models)} model files found, {len(problems)} skipped")
        else:
            self.report({"WARNING"}, problems[0])


CLASSES = (
    SMPL_PG_model_folder,
    SMPL_PG_found_model,
    SMPL_OT_add_model_folder,
    SMPL_OT_remove_model_folder,
    SMPL_OT_scan_model_folders,
    SMPL_AP_preferences,
)


register, unregister = registration(CLASSES)
