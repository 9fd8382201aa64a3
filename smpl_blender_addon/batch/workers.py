# SPDX-License-Identifier: GPL-3.0-or-later
"""The worker processes of ``--jobs`` and ``--timeout``: started from this same entry (cli.py ``batch-worker``),
each runs a slice of the inputs and sends one result line per input back on a pipe of its own."""

import contextlib
import ctypes
import json
import os
import selectors
import signal
import subprocess
import sys
import time

from .commands import job, process
from .report import write_json_atomic

STOP_GRACE_SECONDS = 10  # a stopped worker's time to remove its temporary files before it is killed


def worker_command(task_file):
    """This same entry as a subprocess: the Blender binary in background mode when we run inside Blender, or this
    Python (with the bpy module) otherwise."""
    script = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "cli.py")
    bpy = sys.modules.get("bpy")  # (None also when an import of bpy was blocked)
    binary = (bpy.app.binary_path or "") if bpy is not None else ""
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
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def run_workers(command, todo, options, jobs, report, progress, log_dir, timeout=None):
    """Run ``todo`` in ``jobs`` workers on round-robin slices; collect their result lines as they arrive.

    Results come back on a pipe of their own (not stdout, where Blender prints): a start line and a result line
    per input. With ``timeout``, a worker whose input runs longer is killed, the input fails, and a new worker takes
    the rest of its slice. On SIGTERM / SIGINT (:class:`.runner.Stopped`) every worker is stopped and waited for.
    """
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
    _load_job(task["command"])
    with os.fdopen(task["result_fd"], "w") as results:
        for source, output in task["items"]:
            results.write(json.dumps({"input": source, "start": True}) + "\n")
            results.flush()
            result = process(task["command"], source, output, task["options"])
            results.write(json.dumps(dict(result, input=source)) + "\n")
            results.flush()
    return 0


def _load_job(command):
    """Load the command's job (Blender, for the exports) before the first input starts: ``--timeout`` times the
    inputs, not the worker's start-up (seconds for bpy). A failure here is left to :func:`.commands.process`, which
    reports it per input."""
    with contextlib.suppress(Exception):
        job(command)


def _exit_on_sigterm(signum, _frame):
    raise SystemExit(128 + signum)
