# SPDX-License-Identifier: GPL-3.0-or-later
"""Export a body to FBX, glTF (.glb) or Alembic: api.py is the entry; presets, scene state, temporary copies, the
fast bake and the files' fidelity (rest state, clip names, reproducible bytes) have a module each."""

from .api import export_abc, export_fbx, export_gltf
from .presets import TARGETS, fbx_options, gltf_options

__all__ = ["TARGETS", "export_abc", "export_fbx", "export_gltf", "fbx_options", "gltf_options"]
