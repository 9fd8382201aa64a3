# SPDX-License-Identifier: GPL-3.0-or-later
"""Exceptions raised by the core. All are ``ValueError`` subclasses whose message names the file."""


class SMPLFileError(ValueError):
    """A file could not be used. ``str(err)`` starts with the file's path and says what is wrong."""

    def __init__(self, path, problem):
        self.path = str(path) if path is not None else None
        self.problem = problem
        super().__init__(f"{self.path}: {problem}" if self.path else problem)


class ModelFileError(SMPLFileError):
    """A body-model file (.pkl / .npz / folder) is missing, unreadable, unsafe or malformed."""


class MotionFileError(SMPLFileError):
    """A motion or pose file is missing, unreadable, unsafe, malformed or does not fit the model."""
