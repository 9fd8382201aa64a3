# SPDX-License-Identifier: GPL-3.0-or-later
"""The batch's progress on stderr: a bar on a terminal, one line per input otherwise."""

import sys
import time


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
