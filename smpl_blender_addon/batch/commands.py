# SPDX-License-Identifier: GPL-3.0-or-later
"""The batch commands: which inputs each takes, what each input becomes, when that is done; and one input run
(:func:`process`), in the runner's process or in a worker."""

import dataclasses
import time
import warnings

from .errors import describe_error
from .inputs import MOTION_EXTENSIONS, POINT_EXTENSIONS, SCENE_EXTENSIONS, output_complete, outputs_complete

FORMATS = {"export-fbx": ("fbx", ".fbx"), "export-gltf": ("gltf", ".glb"), "export-abc": ("abc", ".abc")}
MOTION_FORMATS = {"amass": ".npz", "smpl": ".smpl"}  # export-motion / fit --format -> output extension


@dataclasses.dataclass(frozen=True)
class Command:
    """What a batch command does with its inputs: which inputs it takes, what each becomes, when that is done.
    What it does to one input is its job (:func:`job`)."""

    name: str
    output_extension: object  # options -> extension of the output
    complete: object  # (source, output, previous report entry or None) -> True when done (resume)
    extensions: tuple = MOTION_EXTENSIONS  # input files searched for in folders
    easymocap: str = "smpl"  # EasyMocap output folders with this subfolder are inputs too (None: not)
    what: str = "motion files"  # the inputs, in the "nothing found" usage error
    entry_fields: dict = None  # extra report fields of every input
    blender: bool = True  # the job needs Blender (.jobs); False: NumPy only (.fit_job)


def _one_output_complete(source, output, previous):
    return output_complete(source, output)


def _listed_outputs_complete(source, output, previous):
    return outputs_complete(source, previous)


COMMANDS = {
    **{
        name: Command(name, output_extension=lambda options, ext=ext: ext, complete=_one_output_complete)
        for name, (_, ext) in FORMATS.items()
    },
    "export-motion": Command(
        "export-motion",
        output_extension=lambda options: MOTION_FORMATS[options["format"]],
        complete=_listed_outputs_complete,
        extensions=SCENE_EXTENSIONS,
        easymocap=None,
        what=".blend or .fbx files",
        entry_fields={"outputs": []},
    ),
    "fit": Command(
        "fit",
        output_extension=lambda options: MOTION_FORMATS[options["format"]],
        complete=_one_output_complete,
        extensions=POINT_EXTENSIONS,
        easymocap="keypoints3d",
        what="point files",
        blender=False,
    ),
}


def job(command):
    """The function that runs one input of ``command``: ``job(source, output, options) -> report fields``.

    Imported here, not at the top: the Blender jobs import bpy, and the runner (also the parent of the --jobs workers,
    which runs no job) must not load Blender; the fit job needs NumPy only, so a fit loads no Blender anywhere.
    """
    if COMMANDS[command].blender:
        from .jobs import JOBS
    else:
        from .fit_job import JOBS
    return JOBS[command]


def process(command, source, output, options):
    """Run one input of ``command``, never raising: the report entry fields.

    Warnings (e.g. betas that do not carry over) go to the entry's ``warnings``, not to the progress output.
    """
    t0 = time.perf_counter()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = job(command)(source, output, options)  # (inside the try: an input fails if Blender cannot load)
    except Exception as err:  # isolate every failure; ValueErrors already name the file and the problem
        message = describe_error(err) if isinstance(err, ValueError) else f"{type(err).__name__}: {err}"
        if source not in message:
            message = f"{source}: {message}"
        return {"status": "failed", "error": message, "frames": None, "seconds": None}
    notes = list(dict.fromkeys(str(w.message) for w in caught))
    return dict(result, status="ok", error=None, seconds=round(time.perf_counter() - t0, 3), warnings=notes)
