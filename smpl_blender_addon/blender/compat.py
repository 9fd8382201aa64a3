# SPDX-License-Identifier: GPL-3.0-or-later
"""Everything that depends on one Blender build: private interfaces and optional features, each checked here.

No other module touches ``_bpy`` or an exporter's internals. Each private use is taken only on the Blender versions it
was verified on (the tables below) and only when it still looks as it did then; anywhere else the public way runs,
which gives the same result, slower. Verified on: the bpy 4.5.x and 5.0.1 modules (PyPI) and Debian's Blender 5.2.2
binary (scripts/real_blender.sh).
"""

import contextlib
import importlib
import inspect

import bpy

# ``_bpy.ops.call``: the C call behind ``bpy.ops.*`` without the Python wrapper's two view-layer evaluations per call.
# Blender 5.2 has no ``_bpy.ops.call`` (its wrapper calls a C function per operator).
PRIVATE_OPERATOR_CALL = ((4, 5), (5, 0))

# The exporters' private functions that the fast exports wrap (blender/export/fast_bake.py, fidelity.py), with their parameters on the
# verified versions. Another version, or another signature, and the exporter runs unchanged.
FBX_BAKE_HOOK = ("io_scene_fbx.export_fbx_bin", "fbx_animations", ("scene_data",))
GLTF_SAMPLING_HOOK = (
    "io_scene_gltf2.blender.exp.animation.sampled.sampling_cache",
    "object_caching",
    (
        "data",
        "obj_uuids",
        "current_instance",
        "action_name",
        "slot_identifier",
        "frame",
        "depsgraph",
        "export_settings",
    ),
)
# Blender's FBX exporter derives object ids from Python's string hash, which differs from process to process: wrapped,
# the ids come from a stable digest of the same keys (blender/export/fidelity.py), so the same body gives the same file.
FBX_UUID_HOOK = ("io_scene_fbx.fbx_utils", "_key_to_uuid", ("uuids", "key"))
EXPORTER_HOOKS = ((4, 5), (5, 0), (5, 2))


def version():
    """The running Blender's (major, minor)."""
    return tuple(bpy.app.version[:2])


def _private_operator_call():
    if version() not in PRIVATE_OPERATOR_CALL:
        return None
    try:
        from _bpy import ops  # type: ignore[import-not-found]  # Blender's private C module, no stubs
    except ImportError:
        return None
    call = getattr(ops, "call", None)
    return call if callable(call) else None


def mode_set(mode):
    """``object.mode_set(mode=mode)`` for the active object; raises RuntimeError when Blender refuses.

    On the verified versions without the wrapper's depsgraph evaluations: with a 500-key body mesh that is ~40 ms per
    evaluation, and a shape change switches modes four times. The operator itself only tags the depsgraph.
    """
    call = _private_operator_call()
    if call is None:
        result = bpy.ops.object.mode_set(mode=mode)
    else:
        result = call("object.mode_set", {"mode": mode})
    if "FINISHED" not in result:
        raise RuntimeError(f"cannot switch to {mode} mode")


def exporter_hook(hook):
    """The exporter module holding the hook's function when it may be wrapped here, else None."""
    module_name, name, parameters = hook
    if version() not in EXPORTER_HOOKS:
        return None
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return None
    function = getattr(module, name, None)
    if not callable(function):
        return None
    try:
        found = tuple(inspect.signature(function).parameters)
    except (TypeError, ValueError):
        return None
    return module if found == parameters else None


@contextlib.contextmanager
def wrapped(module, hook, make_wrapper):
    """The hook's function in ``module`` (from exporter_hook) replaced by ``make_wrapper(original)`` in the block."""
    name = hook[1]
    original = getattr(module, name)
    setattr(module, name, make_wrapper(original))
    try:
        yield
    finally:
        setattr(module, name, original)


def has_alembic():
    """Whether this Blender was built with Alembic (Debian's is not: its operator exists but cannot run)."""
    return bool(getattr(bpy.app.build_options, "alembic", False))


def require_alembic():
    """Raise ValueError with what to do instead when this Blender has no Alembic."""
    if not has_alembic():
        raise ValueError(
            f"Alembic export: this Blender ({bpy.app.version_string}) is built without Alembic support; "
            "export FBX or glTF instead, or use a Blender build with Alembic (blender.org's)"
        )
