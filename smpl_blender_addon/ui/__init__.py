# SPDX-License-Identifier: GPL-3.0-or-later
"""Blender user interface: properties, preferences, operators (``bpy.ops.smpl.*``), sidebar panels, File › Import entries.

Imported only by :func:`smpl_blender_addon.register`, so importing the package itself never needs bpy.
"""

import atexit

import bpy

from . import body, fit, import_export, panels, pose, preferences, properties, shape

# Registration order matters: property groups before the operators and panels that use them; the operator modules in
# the order their File › Import / Export entries appear.
MODULES = (preferences, properties, body, shape, pose, import_export, fit, panels)


def register():
    for module in MODULES:
        module.register()
    if not bpy.app.binary_path:  # the bpy 4.5 *module* never exits while a class is registered; Blender itself is fine
        atexit.register(unregister)


def unregister():
    atexit.unregister(unregister)
    for module in reversed(MODULES):
        module.unregister()
