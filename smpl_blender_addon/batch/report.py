# SPDX-License-Identifier: GPL-3.0-or-later
"""The batch's ``report.json``: every input with its status, rewritten atomically as inputs finish."""

import json
import os
import time

from ..core.file_io import atomic_write

REPORT_VERSION = 1


def report_name(shard_spec):
    return "report.json" if shard_spec is None else f"report.shard-{shard_spec[0]}-of-{shard_spec[1]}.json"


def write_json_atomic(path, data):
    """Write JSON through :func:`..core.file_io.atomic_write`: synced, renamed, never half a file."""
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
