# SPDX-License-Identifier: GPL-3.0-or-later
"""Headless batch runs: one runner for every batch command, a JSON report, resume, workers and shards.

Commands (:data:`COMMANDS`, see cli.py and docs/batch.md):
* ``export-fbx`` / ``export-gltf`` / ``export-abc``: motion files in, one animated body file out per input;
* ``export-motion``: ``.blend`` / ``.fbx`` scenes in, one AMASS ``.npz`` or Meshcapade ``.smpl`` file out per body
  found in each input (issue #8; bodies of this add-on and foreign SMPL-named rigs, see blender/foreign_rig.py).

The runner:
* collects the inputs (files, or folders searched recursively for the command's file types; EasyMocap output
  folders for the motion exports), sorted by their path relative to a common root; the output of each input is that
  relative path plus the output's extension (``walk.npz`` -> ``walk.npz.fbx``), so two inputs can never share an
  output (export-motion: ``scene.blend`` -> ``scene.blend.npz``, or ``scene.blend.bodies/<body>.npz`` per body
  when the scene holds several: :func:`body_file_names`);
* ``--shard I/N`` keeps every N-th input from the I-th (round robin on the sorted list): the N shards of a dataset
  cover each input exactly once, whatever machine or scheduler runs them;
* ``--jobs N`` starts N worker processes of this same entry, each with a round-robin slice of the inputs; they print
  one result line per input and the parent alone writes the report;
* skips inputs whose output is complete (written atomically by the exporter, newer than the input; for
  export-motion: every file the last report lists for the input) unless ``--force``;
* writes ``report.json`` (``report.shard-I-of-N.json`` for a shard) atomically after every input, so an interrupted
  batch leaves a valid report and a re-run resumes;
* isolates failures: a failing input is reported and the next one runs; the exit code is 0 only if all succeeded;
* ``--timeout`` runs each input in a worker and stops the worker of an input that takes longer;
* SIGTERM / SIGINT stop the run: workers are stopped and waited for, the report is written, exit code 128 + N.

Each input runs in a fresh empty Blender scene (``read_factory_settings(use_empty=True)``) or in the file it opens;
the core model is loaded once per process (blender.body's cache) and reused.
"""

import contextlib
import dataclasses
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

from .core.file_io import atomic_write

FORMATS = {"export-fbx": ("fbx", ".fbx"), "export-gltf": ("gltf", ".glb"), "export-abc": ("abc", ".abc")}
MOTION_EXTENSIONS = (".npz", ".smpl", ".pkl", ".json")
SCENE_EXTENSIONS = (".blend", ".fbx")
MOTION_FORMATS = {"amass": ".npz", "smpl": ".smpl"}  # export-motion --format -> output extension
REPORT_PATTERN = re.compile(r"report(\.shard-\d+-of-\d+)?\.json")  # our own reports are never inputs
REPORT_VERSION = 1


# How the command line gives what a file lacks (core SMPLFileError.needs).
CLI_CONTROLS = {
    "fps": "pass --fps N (the capture's frames per second)",
    "model": "pass --model NAME|PATH (the body model the data was fitted with)",
}


class UsageError(ValueError):
    """Bad command-line input (exit code 2)."""


def describe_error(err):
    """An error's message for the command line: core file errors name the CLI's options, not the API's."""
    from .core.errors import SMPLFileError

    return err.describe(CLI_CONTROLS) if isinstance(err, SMPLFileError) else str(err)


class Stopped(BaseException):
    """SIGTERM (Slurm's time limit, scancel, kill) or SIGINT (Ctrl-C) stopped the batch: finished inputs stay in the
    report, the rest stay pending, the workers are stopped before the parent exits (code 128 + signal)."""

    def __init__(self, signum):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextlib.contextmanager
def stop_on_signals():
    """SIGTERM and SIGINT raise :class:`Stopped` in the main thread (once: a second signal while stopping is
    ignored, so the clean-up finishes). Elsewhere (not the main thread) a no-op."""
    if not _main_thread():
        yield
        return

    def stop(signum, _frame):
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, signal.SIG_IGN)
        raise Stopped(signum)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():  # None: a handler set outside Python (Blender's), not restorable
            signal.signal(sig, signal.SIG_DFL if handler is None else handler)


def _main_thread():
    import threading

    return threading.current_thread() is threading.main_thread()


def check_out_dir(out_dir):
    """``--out``: a folder that exists or can be made, and can be written; UsageError otherwise (exit 2)."""
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise UsageError(f"--out {out_dir}: is a file, not a folder")
    try:
        os.makedirs(out_dir, exist_ok=True)
        with tempfile.TemporaryFile(dir=out_dir):
            pass
    except OSError as exc:
        raise UsageError(f"--out {out_dir}: cannot write there ({exc.strerror or exc})") from None


# ------------------------------------------------------------------------------------------------------------------
# Inputs, outputs, shards.


def is_easymocap_folder(folder):
    """True for an EasyMocap output folder (``<out>/smpl/*.json``) or its ``smpl`` folder of per-frame JSON files."""
    smpl = os.path.join(folder, "smpl")
    if os.path.isdir(smpl) and any(n.endswith(".json") for n in os.listdir(smpl)):
        return True
    return os.path.basename(os.path.normpath(folder)) == "smpl" and any(n.endswith(".json") for n in os.listdir(folder))


def _walk_inputs(folder, exclude=None, extensions=MOTION_EXTENSIONS, easymocap=True):
    """Inputs under ``folder``: files with one of ``extensions``, and EasyMocap folders (whose frames are not inputs
    themselves) when ``easymocap``. ``exclude``: a folder not to enter (the output folder, when it lies inside an
    input folder)."""
    if easymocap and is_easymocap_folder(folder):
        return [folder]
    found = []
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for d in list(dirs):
            path = os.path.join(root, d)
            if d.startswith(".") or path == exclude:
                dirs.remove(d)
            elif easymocap and is_easymocap_folder(path):
                found.append(path)
                dirs.remove(d)
        found.extend(
            os.path.join(root, f)
            for f in sorted(files)
            if f.lower().endswith(extensions)
            and not f.startswith(".")
            and not REPORT_PATTERN.fullmatch(f)
            and os.path.isfile(os.path.join(root, f))
        )  # (no pipes or devices)
    return found


def collect_inputs(paths, extension, exclude=None, extensions=MOTION_EXTENSIONS, easymocap=True, what="motion files"):
    """``[(input path, output relative path), ...]`` sorted by the relative path; duplicates removed.

    The relative path is taken from the common root of the arguments (a folder argument counts as its own root, a file
    as its folder), so distinct inputs always get distinct outputs. Folders are searched for ``extensions`` (and
    EasyMocap folders when ``easymocap``). Raises UsageError for a missing path or no input.
    """
    paths = [os.path.abspath(p) for p in paths]
    missing = [p for p in paths if not os.path.exists(p)]
    if missing:
        raise UsageError(f"input not found: {missing[0]}")
    roots = [p if os.path.isdir(p) else os.path.dirname(p) for p in paths]
    root = os.path.commonpath(roots)
    found = {}
    for p in paths:
        for item in _walk_inputs(p, exclude, extensions, easymocap) if os.path.isdir(p) else [p]:
            rel = os.path.relpath(item, root) if item != root else os.path.basename(item)
            found[os.path.normpath(item)] = rel + extension
    if not found:
        folders = " or EasyMocap folders" if easymocap else ""
        raise UsageError(f"no {what} ({', '.join('*' + e for e in extensions)}){folders} found in {', '.join(paths)}")
    return sorted(found.items(), key=lambda item: (item[1], item[0]))


def parse_shard(text):
    """``"I/N"`` -> (I, N) with 0 <= I < N; UsageError otherwise."""
    try:
        index, count = (int(v) for v in str(text).split("/"))
    except ValueError:
        raise UsageError(f"--shard must be I/N (e.g. 3/10), got {text!r}") from None
    if not (count >= 1 and 0 <= index < count):
        raise UsageError(f"--shard {text}: need 0 <= I < N")
    return index, count


def shard(items, index, count):
    """Round robin on the sorted list: items ``index, index + count, ...``. The shards partition ``items``."""
    return items[index::count]


def _input_mtime(path):
    if not os.path.isdir(path):
        return os.path.getmtime(path)
    return max([os.path.getmtime(os.path.join(r, f)) for r, _, fs in os.walk(path) for f in fs] or [0.0])


def output_complete(input_path, output_path):
    """An output counts as done when it exists, is not empty and is newer than its input (exports are atomic)."""
    try:
        return os.path.getsize(output_path) > 0 and os.path.getmtime(output_path) >= _input_mtime(input_path)
    except OSError:
        return False


def outputs_complete(input_path, previous):
    """export-motion: an input is done when the last report lists it as done and every file it lists is complete
    (the number of outputs depends on the bodies in the input, so only the report knows them)."""
    listed = (previous or {}).get("outputs") or []
    if (previous or {}).get("status") not in ("ok", "skipped") or not listed:
        return False
    return all(isinstance(o, dict) and output_complete(input_path, str(o.get("path"))) for o in listed)


# ------------------------------------------------------------------------------------------------------------------
# Report.


def report_name(shard_spec):
    return "report.json" if shard_spec is None else f"report.shard-{shard_spec[0]}-of-{shard_spec[1]}.json"


def write_json_atomic(path, data):
    """Write JSON through :func:`.core.file_io.atomic_write`: synced, renamed, never half a file."""
    atomic_write(path, lambda stream: json.dump(data, stream, indent=1), mode="w")


class Report:
    """The batch's report: every input with its status, updated and written atomically as inputs finish."""

    def __init__(self, path, command, out_dir, entries, options, entry_fields=None):
        self.path = path
        self.started = time.time()
        self.data = {
            "version": REPORT_VERSION,
            "command": command,
            "out": out_dir,
            "options": options,
            "started": _iso(self.started),
            "finished": None,
            "summary": {},
            "inputs": [
                {
                    "input": src,
                    "output": os.path.join(out_dir, rel),
                    "status": "pending",
                    "frames": None,
                    "seconds": None,
                    "error": None,
                    "warnings": [],
                    **(entry_fields or {}),
                }
                for src, rel in entries
            ],
        }
        self.index = {entry["input"]: entry for entry in self.data["inputs"]}
        self.previous = self._read_previous()

    def _read_previous(self):
        """Entries of an earlier run's report (to keep the frame counts of skipped inputs)."""
        try:
            with open(self.path) as f:
                return {e["input"]: e for e in json.load(f).get("inputs", []) if isinstance(e, dict) and "input" in e}
        except (OSError, ValueError, AttributeError):
            return {}

    def update(self, source, write=True, **fields):
        """Set an input's fields and rewrite the report (``write=False``: the caller writes once for many)."""
        entry = self.index[source]
        if fields.get("status") == "skipped":
            old = self.previous.get(source, {})
            fields.setdefault("frames", old.get("frames"))
            fields.setdefault("warnings", old.get("warnings") or [])  # the output still lacks what they say
            if "outputs" in old:
                fields.setdefault("outputs", old["outputs"])
                fields.setdefault("output", old.get("output", entry["output"]))
        entry.update(fields)
        if write:
            self.write()
        return entry

    def counts(self):
        counts = {"ok": 0, "failed": 0, "skipped": 0, "pending": 0}
        for entry in self.data["inputs"]:
            counts[entry["status"]] = counts.get(entry["status"], 0) + 1
        return counts

    def write(self, finished=False):
        self.data["summary"] = dict(
            self.counts(), total=len(self.data["inputs"]), seconds=round(time.time() - self.started, 3)
        )
        if finished:
            self.data["finished"] = _iso(time.time())
        write_json_atomic(self.path, self.data)


def _iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


# ------------------------------------------------------------------------------------------------------------------
# Progress on stderr: a bar on a terminal, one line per input otherwise.


class Progress:
    def __init__(self, total, stream=None):
        self.total = total
        self.done = 0
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.started = time.time()
        self.counts = {"ok": 0, "failed": 0, "skipped": 0}

    def finished(self, entry):
        self.done += 1
        self.counts[entry["status"]] = self.counts.get(entry["status"], 0) + 1
        if self.tty:
            self._bar(entry)
        else:
            files = len(entry.get("outputs") or ())
            detail = (
                entry["error"]
                if entry["status"] == "failed"
                else f"{entry['frames']} frames, {entry['seconds']} s"
                if entry["status"] == "ok"
                else "output exists"
            )
            if entry["status"] == "ok" and files > 1:
                detail += f", {files} files"
            print(
                f"[{self.done}/{self.total}] {entry['status']:7s} {entry['input']} -> {entry['output']} ({detail})",
                file=self.stream,
                flush=True,
            )

    def _bar(self, entry):
        width = 30
        filled = int(width * self.done / max(self.total, 1))
        elapsed = time.time() - self.started
        eta = elapsed / self.done * (self.total - self.done) if self.done else 0.0
        line = (
            f"\r[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} ok {self.counts['ok']} "
            f"failed {self.counts['failed']} skipped {self.counts['skipped']} eta {eta:5.0f} s"
        )
        if entry["status"] == "failed":  # keep failures visible above the bar
            self.stream.write("\r\033[K" + f"failed: {entry['error']}\n")
        self.stream.write(line)
        if self.done == self.total:
            self.stream.write("\n")
        self.stream.flush()


# ------------------------------------------------------------------------------------------------------------------
# Work: one input.


def export_function(fmt):
    """The blender.export function of a format (imported lazily: the exporter module needs bpy)."""
    from .blender import export

    return {"fbx": export.export_fbx, "gltf": export.export_gltf, "abc": export.export_abc}[fmt]


def _accepted(function, **kwargs):
    """The keyword arguments ``function`` accepts (the glTF / Alembic exporters have no FBX target preset)."""
    import inspect

    params = inspect.signature(function).parameters
    if any(p.kind == p.VAR_KEYWORD for p in params.values()):
        return kwargs
    return {k: v for k, v in kwargs.items() if k in params}


def export_scene(source, output, options):
    """export-fbx / -gltf / -abc: import the motion ``source`` into an empty scene and export the body to ``output``.

    Returns ``{"frames": int}``.
    """
    import bpy

    from .blender.motion import import_motion

    bpy.ops.wm.read_factory_settings(use_empty=True)
    os.makedirs(os.path.dirname(output), exist_ok=True)
    keys = options["correctives"] == "keys"
    arm = import_motion(
        source, model=options["model"], gender=options["gender"], fps=options["fps"] or "source", correctives=keys
    )
    export = export_function(options["format"])
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
            time_stamp=int(_input_mtime(source)),
        ),
    )  # (reproducible)
    return {"frames": int((result or {}).get("frames", scene.frame_end - scene.frame_start + 1))}


# -- export-motion ---------------------------------------------------------------------------------------------------

DEFAULT_RIG_MODELS = {"smplx": "open-smplx", "smplh": "open-smpl", "smpl": "open-smpl"}  # SMPL-H: shares SMPL's body


def open_scene_file(source):
    """Make ``source`` Blender's current file: a ``.blend`` opened (no UI, no scripts: the file is not trusted), or an
    ``.fbx`` imported into an empty scene with its keys at the frames it stores (``anim_offset=0``).

    Raises MotionFileError naming the file when Blender cannot read it.
    """
    import bpy

    from .core.errors import MotionFileError

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
    import warnings

    from .blender.body import body_model, find_body
    from .core.errors import ModelFileError
    from .core.formats import read_motion

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
            from .blender.motion_export import export_motion

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
    import numpy as np

    from .blender.body import load_body_model
    from .blender.foreign_rig import foreign_body_motion, rig_joints
    from .blender.motion_export import animation_frame_range

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
    from .core.formats import write_amass_npz, write_smpl_codec

    return write_amass_npz if fmt == "amass" else write_smpl_codec


def export_scene_motions(source, output, options):
    """export-motion: open ``source`` (.blend / .fbx) and write one motion file per SMPL body in its scene.

    The files of an input are all written or, on error, all removed (each one atomically). Returns
    ``{"frames": most frames of a body, "outputs": [record per body], "output": first path}``.
    """
    import bpy

    from .blender.foreign_rig import find_smpl_armatures
    from .core.errors import MotionFileError

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


# -- commands ----------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Command:
    """What a batch command does with its inputs: which inputs it takes, what each becomes, when that is done."""

    name: str
    run: object  # run(source, output, options) -> {"frames": int, ...report fields}; may raise
    output_extension: object  # options -> extension of the output
    complete: object  # (source, output, previous report entry or None) -> True when done (resume)
    extensions: tuple = MOTION_EXTENSIONS  # input files searched for in folders
    easymocap: bool = True  # EasyMocap output folders are inputs too
    what: str = "motion files"  # the inputs, in the "nothing found" usage error
    entry_fields: dict = None  # extra report fields of every input


def _one_output_complete(source, output, previous):
    return output_complete(source, output)


def _listed_outputs_complete(source, output, previous):
    return outputs_complete(source, previous)


COMMANDS = {
    **{
        name: Command(name, export_scene, output_extension=lambda options, ext=ext: ext, complete=_one_output_complete)
        for name, (_, ext) in FORMATS.items()
    },
    "export-motion": Command(
        "export-motion",
        export_scene_motions,
        output_extension=lambda options: MOTION_FORMATS[options["format"]],
        complete=_listed_outputs_complete,
        extensions=SCENE_EXTENSIONS,
        easymocap=False,
        what=".blend or .fbx files",
        entry_fields={"outputs": []},
    ),
}


def process(command, source, output, options):
    """Run one input of ``command``, never raising: the report entry fields.

    Warnings (e.g. betas that do not carry over) go to the entry's ``warnings``, not to the progress output.
    """
    import warnings

    t0 = time.perf_counter()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = COMMANDS[command].run(source, output, options)
    except Exception as err:  # isolate every failure; ValueErrors already name the file and the problem
        message = describe_error(err) if isinstance(err, ValueError) else f"{type(err).__name__}: {err}"
        if source not in message:
            message = f"{source}: {message}"
        return {"status": "failed", "error": message, "frames": None, "seconds": None}
    notes = list(dict.fromkeys(str(w.message) for w in caught))
    return dict(result, status="ok", error=None, seconds=round(time.perf_counter() - t0, 3), warnings=notes)


# ------------------------------------------------------------------------------------------------------------------
# Drivers.


def run_batch(command, inputs, out_dir, options, shard_spec=None, jobs=1, force=False, stream=None, timeout=None):
    """The whole batch: collect, shard, skip finished outputs, run (in this process or ``jobs`` workers), report.

    ``timeout``: seconds an input may take; each input then runs in a worker process, which is killed when its input
    takes longer (the input fails, the worker's other inputs go on in a new one).
    Returns the exit code: 0 if every input of this shard succeeded (or was already done), 1 otherwise, 128 +
    signal number when SIGTERM / SIGINT stopped it (the report is valid and says so).
    """
    spec = COMMANDS[command]
    if command in FORMATS:
        options = dict(options, format=FORMATS[command][0])
    out_dir = os.path.abspath(out_dir)
    entries = collect_inputs(
        inputs,
        spec.output_extension(options),
        exclude=out_dir,
        extensions=spec.extensions,
        easymocap=spec.easymocap,
        what=spec.what,
    )
    if shard_spec is not None:
        entries = shard(entries, *shard_spec)
    check_out_dir(out_dir)
    report = Report(
        os.path.join(out_dir, report_name(shard_spec)),
        command,
        out_dir,
        entries,
        dict(
            options,
            shard=None if shard_spec is None else "{}/{}".format(*shard_spec),
            jobs=jobs,
            force=force,
            timeout=timeout,
        ),
        entry_fields=spec.entry_fields,
    )
    with stop_on_signals():
        try:
            _run_entries(command, spec, entries, out_dir, options, report, stream, jobs, force, timeout)
        except Stopped as stop:
            report.data["stopped"] = f"{stop} (the batch was stopped; a re-run resumes)"
            report.write()
            print(f"stopped by {stop}: {report.path} lists what finished", file=sys.stderr)
            return 128 + stop.signum
    report.write(finished=True)
    counts = report.counts()
    return 0 if counts["failed"] == 0 and counts["pending"] == 0 else 1


def _run_entries(command, spec, entries, out_dir, options, report, stream, jobs, force, timeout):
    """Skip the finished inputs, run the others in this process or in workers; the report follows each one."""
    progress = Progress(len(entries), stream)
    todo = []
    for source, rel in entries:
        output = os.path.join(out_dir, rel)
        if not force and spec.complete(source, output, report.previous.get(source)):
            progress.finished(report.update(source, write=False, status="skipped"))
        else:
            todo.append((source, output))
    report.write()
    if timeout is None and (jobs <= 1 or len(todo) <= 1):
        for source, output in todo:
            progress.finished(report.update(source, **process(command, source, output, options)))
    elif todo:
        tag = os.path.splitext(os.path.basename(report.path))[0]  # concurrent shards in one DIR: distinct logs
        _run_workers(
            command, todo, options, min(jobs, len(todo)), report, progress, os.path.join(out_dir, "logs", tag), timeout
        )


def worker_command(task_file):
    """This same entry as a subprocess: the Blender binary in background mode when we run inside Blender, or this
    Python (with the bpy module) otherwise."""
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cli.py")
    binary = ""
    if "bpy" in sys.modules:
        binary = sys.modules["bpy"].app.binary_path or ""
    if binary and os.path.basename(sys.executable) != os.path.basename(binary):
        return [
            binary,
            "-b",
            "--factory-startup",
            "--python-exit-code",
            "1",
            "--python",
            script,
            "--",
            "batch-worker",
            task_file,
        ]
    return [sys.executable, script, "batch-worker", task_file]


STOP_GRACE_SECONDS = 10  # a stopped worker's time to remove its temporary files before it is killed


class _Worker:
    """One worker process of ``--jobs`` and the inputs it still owes (in order), read from its result pipe."""

    def __init__(self, command, items, options, log_dir, k, generation=0):
        read_fd, write_fd = os.pipe()
        task_file = os.path.join(log_dir, f".worker-{k}.task")
        write_json_atomic(task_file, {"command": command, "items": items, "options": options, "result_fd": write_fd})
        self.log = open(os.path.join(log_dir, f"worker-{k}.log"), "a" if generation else "w")
        try:
            self.proc = subprocess.Popen(
                worker_command(task_file),
                stdout=self.log,
                stderr=subprocess.STDOUT,
                pass_fds=(write_fd,),
                preexec_fn=_die_with_parent,
            )
        finally:
            os.close(write_fd)
        self.results, self.buffer = read_fd, b""
        self.items, self.k, self.generation = list(items), k, generation
        self.current = None  # (input, time it started) while the worker runs one

    def stop(self, how):
        """Wait for the process to end: ``how`` "wait" (it closed its pipe: it is exiting) or "terminate" (SIGTERM:
        it unwinds, removing its temporary files); SIGKILL after the grace period. It writes nothing after this
        returns. Returns its exit code."""
        if self.proc.poll() is None and how == "terminate":
            self.proc.terminate()
        try:
            self.proc.wait(STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        code = self.proc.wait()
        self.log.close()
        os.close(self.results)
        return code

    def done(self, source):
        self.items = [item for item in self.items if item[0] != source]

    def lines(self):
        """The complete result lines that have arrived (read unbuffered: the selector sees every one), or None at
        the end of the pipe."""
        data = os.read(self.results, 1 << 16)
        if not data:
            return None
        self.buffer += data
        *lines, self.buffer = self.buffer.split(b"\n")
        return [json.loads(line) for line in lines]


def _die_with_parent():
    """In the worker, before exec: Linux sends it SIGTERM when the parent dies, even by SIGKILL (no orphans)."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _run_workers(command, todo, options, jobs, report, progress, log_dir, timeout=None):
    """Run ``todo`` in ``jobs`` workers on round-robin slices; collect their result lines as they arrive.

    Results come back on a pipe of their own (not stdout, where Blender prints): a start line and a result line
    per input. With ``timeout``, a worker whose input runs longer is killed, the input fails, and a new worker takes
    the rest of its slice. On SIGTERM / SIGINT (:class:`Stopped`) every worker is stopped and waited for.
    """
    import selectors

    os.makedirs(log_dir, exist_ok=True)
    selector = selectors.DefaultSelector()
    workers = []

    def start(items, k, generation=0):  # generation > 0: a restart after a timeout, appending to the same log
        worker = _Worker(command, items, options, log_dir, k, generation)
        workers.append(worker)
        selector.register(worker.results, selectors.EVENT_READ, worker)

    def drop(worker, how):
        selector.unregister(worker.results)
        workers.remove(worker)
        return worker.stop(how)

    def fail(source, message):
        progress.finished(
            report.update(source, status="failed", error=f"{source}: {message}", frames=None, seconds=None)
        )

    try:
        for k in range(jobs):
            start(todo[k::jobs], k)
        while workers:
            now = time.monotonic()
            waits = [w.current[1] + timeout - now for w in workers if timeout and w.current]
            for key, _ in selector.select(max(0.0, min(waits)) if waits else None):
                worker = key.data
                results = worker.lines()
                if results is None:
                    code = drop(worker, "wait")
                    for source, _ in worker.items:  # a crashed worker: its remaining inputs fail, the others go on
                        fail(source, f"the worker process stopped (exit code {code}) before this input finished")
                    continue
                for result in results:
                    source = result.pop("input")
                    if result.pop("start", False):
                        worker.current = (source, time.monotonic())
                        continue
                    worker.current = None
                    worker.done(source)
                    progress.finished(report.update(source, **result))
            late = [w for w in workers if timeout and w.current and time.monotonic() - w.current[1] > timeout]
            for worker in late:  # hung input: kill its worker, fail the input, a new worker takes the rest
                drop(worker, "terminate")
                source = worker.current[0]
                worker.done(source)
                fail(source, f"took more than {timeout:g} s (--timeout): stopped")
                if worker.items:
                    start(worker.items, worker.k, worker.generation + 1)
    finally:  # stopped (SIGTERM / Ctrl-C) or failed: no worker outlives this call
        for worker in list(workers):
            drop(worker, "terminate")


def run_worker(task_file):
    """Worker side of ``--jobs``: run the listed inputs, write one JSON result line each to the parent's pipe."""
    with open(task_file) as f:
        task = json.load(f)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)  # unwind: temporary files are removed, nothing half written
    with os.fdopen(task["result_fd"], "w") as results:
        for source, output in task["items"]:
            results.write(json.dumps({"input": source, "start": True}) + "\n")
            results.flush()
            result = process(task["command"], source, output, task["options"])
            results.write(json.dumps(dict(result, input=source)) + "\n")
            results.flush()
    return 0


def _exit_on_sigterm(signum, _frame):
    raise SystemExit(128 + signum)
