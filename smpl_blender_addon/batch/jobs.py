# SPDX-License-Identifier: GPL-3.0-or-later
"""The Blender side of the batch: what each command does to one input (bpy). :data:`JOBS` maps a command to its job
``job(source, output, options) -> {"frames": int, ...report fields}``, which may raise (the runner reports it)."""

import contextlib
import inspect
import os
import re
import warnings

import bpy
import numpy as np

from ..blender import export_abc, export_fbx, export_gltf, export_motion, import_motion
from ..blender.body import body_model, find_body, load_body_model
from ..blender.foreign_rig import find_smpl_armatures, foreign_body_motion, rig_joints
from ..blender.motion_export import animation_frame_range
from ..core.errors import ModelFileError, MotionFileError
from ..core.formats import read_motion, write_amass_npz, write_smpl_codec
from .inputs import SCENE_EXTENSIONS, input_mtime

EXPORTERS = {"fbx": export_fbx, "gltf": export_gltf, "abc": export_abc}
DEFAULT_RIG_MODELS = {"smplx": "open-smplx", "smplh": "open-smpl", "smpl": "open-smpl"}  # SMPL-H: shares SMPL's body


# -- export-fbx / -gltf / -abc ---------------------------------------------------------------------------------------


def _accepted(function, **kwargs):
    """The keyword arguments ``function`` accepts (the glTF / Alembic exporters have no FBX target preset)."""
    params = inspect.signature(function).parameters
    if any(p.kind == p.VAR_KEYWORD for p in params.values()):
        return kwargs
    return {k: v for k, v in kwargs.items() if k in params}


def export_scene(source, output, options):
    """export-fbx / -gltf / -abc: import the motion ``source`` into an empty scene and export the body to ``output``.

    Returns ``{"frames": int}``.
    """
    bpy.ops.wm.read_factory_settings(use_empty=True)
    os.makedirs(os.path.dirname(output), exist_ok=True)
    keys = options["correctives"] == "keys"
    arm = import_motion(
        source,
        model=options["model"],
        gender=options["gender"],
        fps=options["fps"] or "source",
        correctives=keys,
        vposer=options.get("vposer"),
    )
    export = EXPORTERS[options["format"]]
    scene = bpy.context.scene
    result = export(
        arm,
        output,
        **_accepted(
            export,
            target=options["target"],
            correctives=options["correctives"],
            frame_start=scene.frame_start,
            frame_end=scene.frame_end,
            max_influences=options.get("max_influences"),
            morph_normals=options.get("morph_normals", True),
            time_stamp=int(input_mtime(source)),
        ),
    )  # (reproducible)
    return {"frames": int((result or {}).get("frames", scene.frame_end - scene.frame_start + 1))}


# -- export-motion ---------------------------------------------------------------------------------------------------


def export_scene_motions(source, output, options):
    """export-motion: open ``source`` (.blend / .fbx) and write one motion file per SMPL body in its scene.

    The files of an input are all written or, on error, all removed (each one atomically). Returns
    ``{"frames": most frames of a body, "outputs": [record per body], "output": first path}``.
    """
    open_scene_file(source)
    armatures = find_smpl_armatures(bpy.context.scene)
    if not armatures:
        found = [o.name for o in bpy.context.scene.objects if o.type == "ARMATURE"]
        raise MotionFileError(
            source,
            "no SMPL body in its scene (no armature whose bones carry an SMPL / SMPL-H / "
            f"SMPL-X joint-name set; armatures: {', '.join(found) or 'none'})",
        )
    records = []
    try:
        for armature, path in zip(armatures, body_file_names(output, [a.name for a in armatures])):
            os.makedirs(os.path.dirname(path), exist_ok=True)
            try:
                records.append(write_body_motion(armature, path, options))
            except ValueError as err:
                text = str(err) if armature.name in str(err) else f"body {armature.name!r}: {err}"
                raise MotionFileError(source, text) from None
    except BaseException:
        for record in records:
            with contextlib.suppress(OSError):
                os.remove(record["path"])
        raise
    return {"frames": max(r["frames"] for r in records), "outputs": records, "output": records[0]["path"]}


def open_scene_file(source):
    """Make ``source`` Blender's current file: a ``.blend`` opened (no UI, no scripts: the file is not trusted), or an
    ``.fbx`` imported into an empty scene with its keys at the frames it stores (``anim_offset=0``).

    Raises MotionFileError naming the file when Blender cannot read it.
    """
    ext = os.path.splitext(source)[1].lower()
    if not os.path.isfile(source):  # Blender would block on a pipe
        raise MotionFileError(source, "not a regular file (a folder, pipe or device)")
    if ext not in SCENE_EXTENSIONS:
        kinds = " and ".join(SCENE_EXTENSIONS)
        raise MotionFileError(source, f"export-motion reads {kinds} files, not {ext or 'files without an extension'}")
    try:
        if ext == ".blend":
            bpy.ops.wm.open_mainfile(filepath=source, load_ui=False, use_scripts=False)
        else:
            bpy.ops.wm.read_factory_settings(use_empty=True)
            if "FINISHED" not in bpy.ops.import_scene.fbx(filepath=source, anim_offset=0.0):
                raise RuntimeError("the importer cancelled")
    except Exception as err:  # Blender reports unreadable files as RuntimeError; its FBX importer may raise anything
        detail = " ".join(str(err).split()) or type(err).__name__
        raise MotionFileError(source, f"Blender cannot read this {ext} file ({detail})") from None


def body_file_names(output, body_names):
    """Output path per body: ``output`` itself for one body; for several, ``<body name><ext>`` in the folder
    ``<output stem>.bodies`` (``scene.blend.npz`` -> ``scene.blend.bodies/Alice.npz``).

    No two outputs of a batch can share a path: a body's file name has no dot before its extension (names are made
    file-safe, dots replaced, unique without regard to case), while every input's output name keeps the input's own
    extension (``x.blend.npz``, ``x.fbx.npz``)."""
    if len(body_names) == 1:
        return [output]
    base, ext = os.path.splitext(output)
    paths, used = [], set()
    for name in body_names:
        safe = re.sub(r"[^\w-]+", "_", name).strip("_") or "body"
        candidate, k = safe, 2
        while candidate.lower() in used:
            candidate, k = f"{safe}-{k}", k + 1
        used.add(candidate.lower())
        paths.append(os.path.join(f"{base}.bodies", candidate + ext))
    return paths


def _frame_range(default, frame_start, frame_end):
    start = default[0] if frame_start is None else int(frame_start)
    end = default[1] if frame_end is None else int(frame_end)
    if end < start:
        raise ValueError(f"frame range {start}..{end} is empty")
    return start, end


def write_body_motion(armature, path, options):
    """Write one body's animation to ``path``: a body of this add-on through blender.motion_export, any other
    SMPL-named rig through blender.foreign_rig. A body of this add-on whose model cannot be loaded here (a model file
    of another machine) is read as a rig when ``--model`` is given (with a warning). Returns the output record
    ``{"body", "path", "frames", "kind", "rig"}``."""
    if find_body(armature) is armature:
        try:
            body_model(armature)
        except ModelFileError as err:
            if options["model"] is None:
                raise ModelFileError(err.path, f"{err.problem} (pass --model to read the body as a rig)") from None
            warnings.warn(
                f"body {armature.name!r}: its model cannot be loaded ({err}): read as a rig with "
                f"--model {options['model']}",
                stacklevel=2,
            )
        else:
            export_motion(
                armature,
                path,
                format=options["format"].upper(),
                frame_start=options["frame_start"],
                frame_end=options["frame_end"],
                fps=options["fps"],
            )
            motion = read_motion(path)  # the frame count and kind as written
            return {
                "body": armature.name,
                "path": path,
                "frames": motion.num_frames,
                "kind": motion.kind,
                "rig": "body",
            }
    motion = rig_motion(armature, options)
    motion_writer(options["format"])(path, motion)
    return {"body": armature.name, "path": path, "frames": motion.num_frames, "kind": motion.kind, "rig": "rig"}


def rig_motion(armature, options):
    """The motion of an SMPL-named rig (blender.foreign_rig) in the world of the output format, resampled to --fps."""
    kind = rig_joints(armature)[0]
    model, _ = load_body_model(options["model"] or DEFAULT_RIG_MODELS[kind])
    start, end = _frame_range(animation_frame_range(armature), options["frame_start"], options["frame_end"])
    frames = np.arange(start, end + 1, dtype=np.float64)
    motion = foreign_body_motion(armature, model, frames, up_axis="Z" if options["format"] == "amass" else "Y")
    if options["fps"] is not None and abs(options["fps"] - motion.fps) > 1e-9:
        motion = motion.resample(options["fps"])
    return motion


def motion_writer(fmt):
    """The core writer of an export-motion --format: amass -> AMASS .npz (Z-up), smpl -> .smpl (Y-up)."""
    return write_amass_npz if fmt == "amass" else write_smpl_codec


JOBS = {"export-fbx": export_scene, "export-gltf": export_scene, "export-abc": export_scene}
JOBS["export-motion"] = export_scene_motions
