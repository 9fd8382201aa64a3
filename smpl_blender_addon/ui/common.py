# SPDX-License-Identifier: GPL-3.0-or-later
"""What the ``smpl.*`` operators and panels share: the active body, error reports, progress, selection, the operator
mix-ins and registration. Imports no other ui module."""

import contextlib
import traceback

import bpy

from ..blender import body as body_api
from ..core.errors import SMPLFileError

# How the operators' dialogs give what a file lacks (core SMPLFileError.needs).
UI_CONTROLS = {
    "fps": "set Frame rate to Custom and enter the capture's FPS",
    "model": "choose the Model the data was fitted with",
    "vposer": "set the VPoser weights (the fit's VPoser checkpoint) in the add-on's preferences",
}


def active_body(context):
    """The armature of the body the active object belongs to (the armature or its mesh), or None."""
    obj = getattr(context, "active_object", None)
    if obj is None:
        return None
    try:
        return body_api.find_body(obj)
    except (ReferenceError, ValueError):
        return None


def run_reported(operator, action, *args, **kwargs):
    """Call ``action(*args, **kwargs)`` and return the operator result; nothing it raises leaves the operator.

    A ValueError (ModelFileError, MotionFileError, unreadable text) or OSError (an unwritable output) becomes an error
    report and {'CANCELLED'}; the blender layer raises those before it changes the scene, so nothing is left half done.
    Anything else is a bug (or a Blender that behaves differently): one error report naming the operator and the
    error, the traceback on the system console.
    """
    try:
        action(*args, **kwargs)
    except (ValueError, OSError) as err:
        operator.report({"ERROR"}, err.describe(UI_CONTROLS) if isinstance(err, SMPLFileError) else str(err))
        return {"CANCELLED"}
    except Exception as err:  # noqa: BLE001 - reported, with the traceback on the console
        traceback.print_exc()
        operator.report(
            {"ERROR"},
            f"{operator.bl_label} failed: {type(err).__name__}: {err} (the traceback is in the system console)",
        )
        return {"CANCELLED"}
    return {"FINISHED"}


def report_warnings(operator, caught):
    """Blender reports for the warnings the blender layer raised (betas not carried over, gender fallback, points
    the body has no place for...)."""
    for warning in caught:
        operator.report({"WARNING"}, str(warning.message))


@contextlib.contextmanager
def progress(context):
    """Blender's progress indicator (cursor / status bar) while the block runs; yields ``update(fraction in [0, 1])``."""
    window_manager = context.window_manager
    window_manager.progress_begin(0.0, 1.0)
    try:
        yield window_manager.progress_update
    finally:
        window_manager.progress_end()


def make_active(context, obj):
    """Select only ``obj`` and make it the active object of the view layer."""
    for other in context.view_layer.objects.selected:
        other.select_set(False)
    obj.select_set(True)
    context.view_layer.objects.active = obj


class ObjectModeOperator:
    """Mix-in: available in Object Mode only (operators that add bodies)."""

    poll_message = "Switch to Object Mode"

    @classmethod
    def poll(cls, context):
        if context.mode != "OBJECT":
            cls.poll_message_set(cls.poll_message)
            return False
        return True


class BodyOperator:
    """Mix-in: an undoable operator on the active SMPL body, available when one is active.

    Subclasses define ``apply(context, arm)``; what it raises is reported by :func:`run_reported`.
    """

    @classmethod
    def poll(cls, context):
        if active_body(context) is None:
            cls.poll_message_set("Select an SMPL body (its armature or mesh)")
            return False
        return True

    def execute(self, context):
        return run_reported(self, self.apply, context, active_body(context))

    def apply(self, context, arm):
        raise NotImplementedError


def registration(classes, menus=()):
    """``(register, unregister)`` of a ui module: its classes in order, then its ``(menu, draw)`` entries; undone in
    reverse."""
    register_classes, unregister_classes = bpy.utils.register_classes_factory(classes)

    def register():
        register_classes()
        for menu, draw in menus:
            menu.append(draw)

    def unregister():
        for menu, draw in reversed(menus):
            menu.remove(draw)
        unregister_classes()

    return register, unregister
