# SPDX-License-Identifier: GPL-3.0-or-later
"""The batch command line's errors: usage errors (exit code 2) and messages that name the CLI's options."""

from ..core.errors import SMPLFileError

# How the command line gives what a file lacks (core SMPLFileError.needs).
CLI_CONTROLS = {
    "fps": "pass --fps N (the capture's frames per second)",
    "model": "pass --model NAME|PATH (the body model the data was fitted with)",
    "vposer": "pass --vposer PATH (the VPoser checkpoint the fit was made with)",
    "layout": "pass --layout NAME (the point names: humanml3d, body25, coco17, smpl, smplh, smplx)",
    "markers": "pass --markers LAYOUT.json (where each marker sits on the body)",
}


class UsageError(ValueError):
    """Bad command-line input (exit code 2)."""


def describe_error(err):
    """An error's message for the command line: core file errors name the CLI's options, not the API's."""
    return err.describe(CLI_CONTROLS) if isinstance(err, SMPLFileError) else str(err)
