# SPDX-License-Identifier: GPL-3.0-or-later
"""Exceptions raised by the core. All are ``ValueError`` subclasses whose message names the file."""

# What a caller can give when a file lacks something (``SMPLFileError.needs``), as the Python API says it; the CLI
# and the operators name their own controls through :meth:`SMPLFileError.describe`.
API_CONTROLS = {
    "fps": "pass fps= (the capture's frames per second)",
    "model": "pass model= (the body model the data was fitted with)",
    "vposer": "pass vposer= (the VPoser the fit was made with: a VPoser object or its checkpoint path)",
    "layout": "pass layout= (the point names: a layout such as 'body25', or one name per point)",
    "markers": "pass markers= (the marker layout: its file or {name: ((vertex, weight), ...)})",
}


class SMPLFileError(ValueError):
    """A file could not be used. ``str(err)`` starts with the file's path and says what is wrong.

    ``needs`` is a key of :data:`API_CONTROLS` (``"fps"``, ``"model"``, ...) when the file is fine but incomplete without that input from
    the caller.
    """

    def __init__(self, path, problem, needs=None):
        self.path = str(path) if path is not None else None
        self.problem = problem
        self.needs = needs
        super().__init__(self.describe(API_CONTROLS))

    def describe(self, controls):
        """The message, ending with ``controls[self.needs]`` (how this front end gives the missing input; the API's
        words when the front end has none for it)."""
        text = f"{self.path}: {self.problem}" if self.path else self.problem
        if self.needs is not None:
            text += f": {controls.get(self.needs, API_CONTROLS[self.needs])}"
        return text


class ModelFileError(SMPLFileError):
    """A body-model file (.pkl / .npz / folder) is missing, unreadable, unsafe or malformed."""


class MotionFileError(SMPLFileError):
    """A motion or pose file is missing, unreadable, unsafe, malformed or does not fit the model."""


class WeightsFileError(SMPLFileError):
    """A network weights file (a PyTorch checkpoint such as VPoser's) is missing, unreadable, unsafe or malformed."""
