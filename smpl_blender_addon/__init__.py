# SPDX-License-Identifier: GPL-3.0-or-later
"""SMPL / SMPL-H / SMPL-X bodies for Blender on a headless NumPy core.

Importing this package never imports bpy: ``smpl_blender_addon.core`` works in plain Python.
Blender calls :func:`register` / :func:`unregister` when the extension is enabled / disabled.
"""

__version__ = "0.1.0"


def register():
    from .blender import auto_correctives
    from .ui import register as _register

    _register()
    auto_correctives.enable()


def unregister():
    from .blender import auto_correctives
    from .ui import unregister as _unregister

    auto_correctives.disable()
    _unregister()
