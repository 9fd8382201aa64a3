# SPDX-License-Identifier: GPL-3.0-or-later
"""Headless batch export: motion files in, one FBX / glTF / Alembic file out per input, and a JSON report.

The runner (``python -m smpl_blender_addon export-fbx ...``, see cli.py and docs/batch.md):
* collects the inputs (files, or folders searched recursively for ``*.npz *.smpl *.pkl *.json`` and EasyMocap output
  folders), sorted by their path relative to a common root; the output of each input is that relative path plus the
  format's extension (``walk.npz`` -> ``walk.npz.fbx``), so two inputs can never share an output;
* ``--shard I/N`` keeps every N-th input from the I-th (round robin on the sorted list): the N shards of a dataset
  cover each input exactly once, whatever machine or scheduler runs them;
* ``--jobs N`` starts N worker processes of this same entry, each with a round-robin slice of the inputs; they print
  one result line per input and the parent alone writes the report;
* skips inputs whose output is complete (written atomically by the exporter, newer than the input) unless ``--force``;
* writes ``report.json`` (``report.shard-I-of-N.json`` for a shard) atomically after every input, so an interrupted
  batch leaves a valid report and a re-run resumes;
* isolates failures: a failing input is reported and the next one runs; the exit code is 0 only if all succeeded.

Each input runs in a fresh empty Blender scene (``read_factory_settings(use_empty=True)``); the core model is loaded
once per process (blender.body's cache) and reused.
"""

import json
import os
import re
import subprocess
import sys
import tempfile
import time

FORMATS = {"export-fbx": ("fbx", ".fbx"), "export-gltf": ("gltf", ".glb"), "export-abc": ("abc", ".abc")}
MOTION_EXTENSIONS = (".npz", ".smpl", ".pkl", ".json")
REPORT_PATTERN = re.compile(r"report(\.shard-\d+-of-\d+)?\.json")  # our own reports are never inputs
REPORT_VERSION = 1


class UsageError(ValueError):
    """Bad command-line input (exit code 2)."""


# ------------------------------------------------------------------------------------------------------------------
# Inputs, outputs, shards.


def is_easymocap_folder(folder):
    """True for an EasyMocap output folder (``<out>/smpl/*.json``) or its ``smpl`` folder of per-frame JSON files."""
    smpl = os.path.join(folder, "smpl")
    if os.path.isdir(smpl) and any(n.endswith(".json") for n in os.listdir(smpl)):
        return True
    return os.path.basename(os.path.normpath(folder)) == "smpl" and any(n.endswith(".json") for n in os.listdir(folder))


def _walk_motions(folder, exclude=None):
    """Motion inputs under ``folder``: motion files and EasyMocap folders (whose frames are not inputs themselves).
    ``exclude``: a folder not to enter (the output folder, when it lies inside an input folder)."""
    if is_easymocap_folder(folder):
        return [folder]
    found = []
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for d in list(dirs):
            path = os.path.join(root, d)
            if d.startswith(".") or path == exclude:
                dirs.remove(d)
            elif is_easymocap_folder(path):
                found.append(path)
                dirs.remove(d)
        found.extend(os.path.join(root, f) for f in sorted(files) if f.lower().endswith(MOTION_EXTENSIONS)
                     and not f.startswith(".") and not REPORT_PATTERN.fullmatch(f))  # fmt: skip
    return found


def collect_inputs(paths, extension, exclude=None):
    """``[(input path, output relative path), ...]`` sorted by the relative path; duplicates removed.

    The relative path is taken from the common root of the arguments (a folder argument counts as its own root, a file
    as its folder), so distinct inputs always get distinct outputs. Raises UsageError for a missing path or no input.
    """
    paths = [os.path.abspath(p) for p in paths]
    missing = [p for p in paths if not os.path.exists(p)]
    if missing:
        raise UsageError(f"input not found: {missing[0]}")
    roots = [p if os.path.isdir(p) else os.path.dirname(p) for p in paths]
    root = os.path.commonpath(roots)
    found = {}
    for p in paths:
        for item in (_walk_motions(p, exclude) if os.path.isdir(p) else [p]):
            rel = os.path.relpath(item, root) if item != root else os.path.basename(item)
            found[os.path.normpath(item)] = rel + extension
    if not found:
        raise UsageError(f"no motion files ({', '.join('*' + e for e in MOTION_EXTENSIONS)}) or EasyMocap folders "
                         f"found in {', '.join(paths)}")
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


# ------------------------------------------------------------------------------------------------------------------
# Report.


def report_name(shard_spec):
    return "report.json" if shard_spec is None else f"report.shard-{shard_spec[0]}-of-{shard_spec[1]}.json"


def write_json_atomic(path, data):
    """Write JSON through a temporary file in the same folder, then rename: readers never see half a file."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".report-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=1)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


class Report:
    """The batch's report: every input with its status, updated and written atomically as inputs finish."""

    def __init__(self, path, command, out_dir, entries, options):
        self.path = path
        self.started = time.time()
        self.data = {
            "version": REPORT_VERSION, "command": command, "out": out_dir, "options": options,
            "started": _iso(self.started), "finished": None, "summary": {},
            "inputs": [{"input": src, "output": os.path.join(out_dir, rel), "status": "pending", "frames": None,
                        "seconds": None, "error": None, "warnings": []} for src, rel in entries],
        }  # fmt: skip
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
        self.data["summary"] = dict(self.counts(), total=len(self.data["inputs"]),
                                    seconds=round(time.time() - self.started, 3))  # fmt: skip
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
            detail = entry["error"] if entry["status"] == "failed" else \
                f"{entry['frames']} frames, {entry['seconds']} s" if entry["status"] == "ok" else "output exists"
            print(f"[{self.done}/{self.total}] {entry['status']:7s} {entry['input']} -> {entry['output']} ({detail})",
                  file=self.stream, flush=True)  # fmt: skip

    def _bar(self, entry):
        width = 30
        filled = int(width * self.done / max(self.total, 1))
        elapsed = time.time() - self.started
        eta = elapsed / self.done * (self.total - self.done) if self.done else 0.0
        line = (f"\r[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} ok {self.counts['ok']} "
                f"failed {self.counts['failed']} skipped {self.counts['skipped']} eta {eta:5.0f} s")  # fmt: skip
        if entry["status"] == "failed":  # keep failures visible above the bar
            self.stream.write("\r\033[K" + f"failed: {entry['error']}\n")
        self.stream.write(line)
        if self.done == self.total:
            self.stream.write("\n")
        self.stream.flush()


# ------------------------------------------------------------------------------------------------------------------
# Work: one input in a fresh scene.


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


def run_one(source, output, options):
    """Import ``source`` into an empty scene and export it to ``output``.

    Returns (frames, seconds for the input, warnings: the import's notes, e.g. betas that do not carry over).
    """
    import warnings

    import bpy

    from .blender.motion import import_motion

    t0 = time.perf_counter()
    bpy.ops.wm.read_factory_settings(use_empty=True)
    os.makedirs(os.path.dirname(output), exist_ok=True)
    keys = options["correctives"] == "keys"
    with warnings.catch_warnings(record=True) as caught:  # notes go to the report, not to the progress output
        warnings.simplefilter("always")
        arm = import_motion(source, model=options["model"], gender=options["gender"],
                            fps=options["fps"] or "source", correctives=keys)  # fmt: skip
    export = export_function(options["format"])
    scene = bpy.context.scene
    result = export(arm, output, **_accepted(export, target=options["target"], correctives=options["correctives"],
                                             frame_start=scene.frame_start, frame_end=scene.frame_end))  # fmt: skip
    frames = (result or {}).get("frames", scene.frame_end - scene.frame_start + 1)
    notes = list(dict.fromkeys(str(w.message) for w in caught))
    return int(frames), time.perf_counter() - t0, notes


def process(source, output, options):
    """Run one input, never raising: the report entry fields."""
    try:
        frames, seconds, notes = run_one(source, output, options)
    except Exception as err:  # isolate every failure; ValueErrors already name the file and the problem
        message = str(err) if isinstance(err, ValueError) else f"{type(err).__name__}: {err}"
        if source not in message:
            message = f"{source}: {message}"
        return {"status": "failed", "error": message, "frames": None, "seconds": None}
    return {"status": "ok", "error": None, "frames": frames, "seconds": round(seconds, 3), "warnings": notes}


# ------------------------------------------------------------------------------------------------------------------
# Drivers.


def run_batch(command, inputs, out_dir, options, shard_spec=None, jobs=1, force=False, stream=None):
    """The whole batch: collect, shard, skip finished outputs, run (in this process or ``jobs`` workers), report.

    Returns the exit code: 0 if every input of this shard succeeded (or was already done), 1 otherwise.
    """
    fmt, extension = FORMATS[command]
    options = dict(options, format=fmt)
    out_dir = os.path.abspath(out_dir)
    entries = collect_inputs(inputs, extension, exclude=out_dir)
    if shard_spec is not None:
        entries = shard(entries, *shard_spec)
    os.makedirs(out_dir, exist_ok=True)
    report = Report(os.path.join(out_dir, report_name(shard_spec)), command, out_dir, entries,
                    dict(options, shard=None if shard_spec is None else "%d/%d" % shard_spec, jobs=jobs, force=force))
    progress = Progress(len(entries), stream)
    todo = []
    for source, rel in entries:
        output = os.path.join(out_dir, rel)
        if not force and output_complete(source, output):
            progress.finished(report.update(source, write=False, status="skipped"))
        else:
            todo.append((source, output))
    report.write()
    if jobs <= 1 or len(todo) <= 1:
        for source, output in todo:
            progress.finished(report.update(source, **process(source, output, options)))
    else:
        tag = os.path.splitext(os.path.basename(report.path))[0]  # concurrent shards in one DIR: distinct logs
        _run_workers(todo, options, min(jobs, len(todo)), report, progress, os.path.join(out_dir, "logs", tag))
    report.write(finished=True)
    counts = report.counts()
    return 0 if counts["failed"] == 0 and counts["pending"] == 0 else 1


def worker_command(task_file):
    """This same entry as a subprocess: the Blender binary in background mode when we run inside Blender, or this
    Python (with the bpy module) otherwise."""
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cli.py")
    binary = ""
    if "bpy" in sys.modules:
        binary = sys.modules["bpy"].app.binary_path or ""
    if binary and os.path.basename(sys.executable) != os.path.basename(binary):
        return [binary, "-b", "--factory-startup", "--python-exit-code", "1", "--python", script, "--",
                "batch-worker", task_file]  # fmt: skip
    return [sys.executable, script, "batch-worker", task_file]


def _run_workers(todo, options, jobs, report, progress, log_dir):
    """Start ``jobs`` workers on round-robin slices of ``todo``; collect their result lines as they arrive.

    Results come back on a pipe of their own (not stdout, where Blender prints), one JSON line per input.
    """
    import selectors

    os.makedirs(log_dir, exist_ok=True)
    selector = selectors.DefaultSelector()
    workers = []
    for k in range(jobs):
        items = todo[k::jobs]
        read_fd, write_fd = os.pipe()
        task_file = os.path.join(log_dir, f".worker-{k}.task")
        write_json_atomic(task_file, {"items": items, "options": options, "result_fd": write_fd})
        log = open(os.path.join(log_dir, f"worker-{k}.log"), "w")
        proc = subprocess.Popen(worker_command(task_file), stdout=log, stderr=subprocess.STDOUT, pass_fds=(write_fd,))
        os.close(write_fd)
        results = os.fdopen(read_fd, "r")
        pending = {source for source, _ in items}
        workers.append((proc, log, results, pending))
        selector.register(results, selectors.EVENT_READ, pending)
    open_streams = len(workers)
    try:
        while open_streams:
            for key, _ in selector.select():
                line = key.fileobj.readline()
                if not line:
                    selector.unregister(key.fileobj)
                    open_streams -= 1
                    continue
                result = json.loads(line)
                source = result.pop("input")
                key.data.discard(source)
                progress.finished(report.update(source, **result))
    except BaseException:  # interrupted (Ctrl-C): stop the workers too; the report keeps what finished
        for proc, *_ in workers:
            proc.terminate()
        raise
    for proc, log, results, pending in workers:
        code = proc.wait()
        log.close()
        results.close()
        for source in sorted(pending):  # a crashed worker: its remaining inputs fail, the others are unaffected
            message = f"{source}: the worker process stopped (exit code {code}) before this input finished"
            progress.finished(report.update(source, status="failed", error=message, frames=None, seconds=None))


def run_worker(task_file):
    """Worker side of ``--jobs``: run the listed inputs, write one JSON result line each to the parent's pipe."""
    with open(task_file) as f:
        task = json.load(f)
    with os.fdopen(task["result_fd"], "w") as results:
        for source, output in task["items"]:
            result = process(source, output, task["options"])
            results.write(json.dumps(dict(result, input=source)) + "\n")
            results.flush()
    return 0
