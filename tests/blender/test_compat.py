# SPDX-License-Identifier: GPL-3.0-or-later
"""blender/compat.py: each private interface has a public fallback that gives the same result, taken on any Blender
version the private use was not verified on (as Blender 5.2, which has no ``_bpy.ops.call``)."""

import bpy
import numpy as np
import pytest
from blender_helpers import evaluated_world_vertices, synthetic_model

from smpl_blender_addon import blender as sb
from smpl_blender_addon.blender import compat


def _rest_heads(arm):
    return np.array([bone.head_local for bone in arm.data.bones])


def _shaped_body(name):
    model = synthetic_model("smplx")
    arm = sb.add_body(model, betas=[0.7, -0.4], name=name)
    bpy.context.view_layer.objects.active = arm
    bpy.ops.object.mode_set(mode="POSE")  # set_shape restores the user's mode after its edit-mode pass
    sb.set_shape(arm, betas=[1.2, 0.3, -0.5])
    return arm


def test_shape_change_is_the_same_through_the_public_mode_switch(monkeypatch):
    private = _shaped_body("private")
    assert private.mode == "POSE"
    monkeypatch.setattr(compat, "PRIVATE_OPERATOR_CALL", ())  # a version not verified: bpy.ops.object.mode_set
    assert compat._private_operator_call() is None
    bpy.ops.object.mode_set(mode="OBJECT")
    public = _shaped_body("public")
    assert public.mode == "POSE"
    np.testing.assert_array_equal(_rest_heads(public), _rest_heads(private))
    np.testing.assert_array_equal(
        evaluated_world_vertices(sb.body_mesh(public)), evaluated_world_vertices(sb.body_mesh(private))
    )


def test_private_call_is_taken_only_where_verified_and_present(monkeypatch):
    expected = compat.version() in compat.PRIVATE_OPERATOR_CALL
    try:
        from _bpy import ops  # type: ignore[import-not-found]

        expected = expected and callable(getattr(ops, "call", None))
    except ImportError:
        expected = False
    assert (compat._private_operator_call() is not None) == expected
    monkeypatch.setattr(compat, "version", lambda: (9, 9))
    assert compat._private_operator_call() is None


def test_a_refused_mode_switch_raises():
    bpy.context.view_layer.objects.active = None
    with pytest.raises(RuntimeError):
        compat.mode_set("EDIT")


def test_exporter_hooks_only_on_verified_versions(monkeypatch):
    for hook in (compat.FBX_BAKE_HOOK, compat.GLTF_SAMPLING_HOOK):
        module = compat.exporter_hook(hook)
        assert module is not None and callable(getattr(module, hook[1]))  # this Blender is a verified one
    monkeypatch.setattr(compat, "EXPORTER_HOOKS", ())
    assert compat.exporter_hook(compat.FBX_BAKE_HOOK) is None
    assert compat.exporter_hook(compat.GLTF_SAMPLING_HOOK) is None


def test_has_alembic_is_the_build_option():
    assert compat.has_alembic() == bool(bpy.app.build_options.alembic)
