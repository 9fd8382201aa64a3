# SPDX-License-Identifier: GPL-3.0-or-later
"""Headless batch runs: one runner for every batch command, a JSON report, resume, workers and shards.

Commands (:data:`.commands.COMMANDS`, see cli.py and docs/batch.md):
* ``export-fbx`` / ``export-gltf`` / ``export-abc``: motion files in, one animated body file out per input;
* ``export-motion``: ``.blend`` / ``.fbx`` scenes in, one AMASS ``.npz`` or Meshcapade ``.smpl`` file out per body
  found in each input (bodies of this add-on and foreign SMPL-named rigs, see blender/foreign_rig.py);
* ``fit``: 3D point files (joints, keypoints, markers) and EasyMocap keypoints3d folders in, one fitted AMASS ``.npz``
  or ``.smpl`` file out per input; NumPy only, no Blender anywhere (:mod:`.fit_job`).

The runner:
* collects the inputs (files, or folders searched recursively for the command's file types; EasyMocap output
  folders: with smpl/ for the motion exports, keypoints3d/ for the fit), sorted by their path relative to a common
  root; the output of each input is that relative path plus the output's extension (``walk.npz`` -> ``walk.npz.fbx``),
  so two inputs can never share an output (export-motion: ``scene.blend`` -> ``scene.blend.npz``, or
  ``scene.blend.bodies/<body>.npz`` per body when the scene holds several: :func:`.jobs.body_file_names`);
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

Modules: :mod:`.runner` (the whole run: skip, run here or in workers, signals), :mod:`.inputs` (inputs, outputs,
shards, what is done), :mod:`.commands` (what each command takes and makes; one input run, never raising),
:mod:`.report` (report.json), :mod:`.progress` (stderr), :mod:`.workers` (worker processes), :mod:`.errors`
(usage errors and messages), :mod:`.jobs` (the Blender side: what an export does to one input), :mod:`.fit_job`
(the fit's job, NumPy only). Only :mod:`.jobs` imports bpy: the rest runs in a parent process that never loads
Blender, and a fit's workers do not load it either.
"""
