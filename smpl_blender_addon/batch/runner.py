# SPDX-License-Identifier: GPL-3.0-or-later
"""The batch runner: collect and shard the inputs, skip the finished ones, run the others in this process or in
workers, keep the report, stop cleanly on SIGTERM / SIGINT. No bpy here, not even indirectly: the jobs
(:mod:`.jobs`) are imported by :func:`.commands.process` when an input runs."""

import contextlib
import os
import signal
import sys
import threading

from .commands import COMMANDS, FORMATS, process
from .inputs import check_out_dir, collect_inputs, shard
from .progress import Progress
from .report import Report, report_name
from .workers import run_workers


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
    if threading.current_thread() is not threading.main_thread():
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
        run_workers(
            command, todo, options, min(jobs, len(todo)), report, progress, os.path.join(out_dir, "logs", tag), timeout
        )
