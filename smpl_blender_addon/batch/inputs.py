# SPDX-License-Identifier: GPL-3.0-or-later
"""A batch's inputs and outputs: folders searched for inputs, each input's output path, shards, the output folder,
and whether an input is done already (resume)."""

import os
import re
import tempfile

from ..core.file_io import walk_files
from .errors import UsageError

MOTION_EXTENSIONS = (".npz", ".smpl", ".pkl", ".json")
SCENE_EXTENSIONS = (".blend", ".fbx")
POINT_EXTENSIONS = (".npy", ".npz", ".json")
REPORT_PATTERN = re.compile(r"report(\.shard-\d+-of-\d+)?\.json")  # our own reports are never inputs


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


def is_easymocap_folder(folder, sub="smpl"):
    """True for an EasyMocap output folder (``<out>/<sub>/*.json``) or its ``sub`` folder of per-frame JSON files
    (``sub``: ``"smpl"`` for fitted parameters, ``"keypoints3d"`` for triangulated points)."""
    frames = os.path.join(folder, sub)
    if os.path.isdir(frames) and any(n.endswith(".json") for n in os.listdir(frames)):
        return True
    return os.path.basename(os.path.normpath(folder)) == sub and any(n.endswith(".json") for n in os.listdir(folder))


def _walk_inputs(folder, exclude=None, extensions=MOTION_EXTENSIONS, easymocap="smpl"):
    """Inputs under ``folder``: files with one of ``extensions``, and EasyMocap folders with an ``easymocap`` subfolder
    (whose frames are not inputs themselves) unless ``easymocap`` is None. ``exclude``: a folder not to enter (the
    output folder, when it lies inside an input folder)."""
    if easymocap and is_easymocap_folder(folder, easymocap):
        return [folder]
    easymocap_folders = []

    def prune(path):
        if path == exclude:
            return True
        if easymocap and is_easymocap_folder(path, easymocap):
            easymocap_folders.append(path)
            return True
        return False

    files = walk_files(folder, extensions, prune=prune)
    return easymocap_folders + [f for f in files if not REPORT_PATTERN.fullmatch(os.path.basename(f))]


def collect_inputs(paths, extension, exclude=None, extensions=MOTION_EXTENSIONS, easymocap="smpl", what="motion files"):
    """``[(input path, output relative path), ...]`` sorted by the relative path; duplicates removed.

    The relative path is taken from the common root of the arguments (a folder argument counts as its own root, a file
    as its folder), so distinct inputs always get distinct outputs. Folders are searched for ``extensions`` (and
    EasyMocap folders with an ``easymocap`` subfolder, unless it is None). Raises UsageError for a missing path or no
    input.
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


def input_mtime(path):
    """Modification time of an input: a file's, or the newest file's in an (EasyMocap) folder."""
    if not os.path.isdir(path):
        return os.path.getmtime(path)
    return max([os.path.getmtime(os.path.join(r, f)) for r, _, fs in os.walk(path) for f in fs] or [0.0])


def output_complete(input_path, output_path):
    """An output counts as done when it exists, is not empty and is newer than its input (exports are atomic)."""
    try:
        return os.path.getsize(output_path) > 0 and os.path.getmtime(output_path) >= input_mtime(input_path)
    except OSError:
        return False


def outputs_complete(input_path, previous):
    """export-motion: an input is done when the last report lists it as done and every file it lists is complete
    (the number of outputs depends on the bodies in the input, so only the report knows them)."""
    listed = (previous or {}).get("outputs") or []
    if (previous or {}).get("status") not in ("ok", "skipped") or not listed:
        return False
    return all(isinstance(o, dict) and output_complete(input_path, str(o.get("path"))) for o in listed)
