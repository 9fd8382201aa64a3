# SPDX-License-Identifier: GPL-3.0-or-later
"""Shape a body: betas / expression shape keys together with the rest joints J(beta, psi), height/weight, grounding.

Parts: "BODY" = the betas (Shape### keys). "EXPRESSION" = the SMPL-X expression coefficients (Exp### keys). "FACE" is
the same as "EXPRESSION": SMPL-X has no separate face-identity space (the face's identity is part of the body betas),
and the official add-ons' "face shape" buttons act on the expression keys too. Bodies without expressions raise
ValueError for FACE / EXPRESSION. "ALL" (reset only) = BODY and EXPRESSION.
"""

import bpy
import numpy as np

from ..core import shape as core_shape
from .body import PROP_BETAS, PROP_EXPRESSION, Body, coefficients, to_blender
from .build import set_rest_bones

PARTS = ("BODY", "FACE", "EXPRESSION")


def _key_start(blocks, prefix):
    """Index of ``<prefix>000`` in key_blocks, or -1."""
    return blocks.find(f"{prefix}000")


def set_shape(armature, betas=None, expression=None):
    """Set betas and/or expression (None keeps the current values; shorter vectors are zero-padded).

    Writes the Shape### / Exp### values with one foreach_set and moves the rest bones to J(beta, psi) (the joint
    regressor applied to the shaped mesh including the expression) in one edit-mode pass. The pose (bone rotations and
    locations) is unchanged, so the posed body follows the new shape.
    """
    body = Body.of(armature)
    armature = body.armature
    old_betas, old_expr = body.betas, body.expression
    new_betas = old_betas if betas is None else coefficients(betas, old_betas.size, "betas")
    new_expr = old_expr if expression is None else coefficients(expression, old_expr.size, "expression")

    joints = body.model.rest_joints(new_betas, new_expr)  # the core zero-pads to all of the model's coefficients
    # first: if the joints cannot move (excluded collection), nothing changes
    set_rest_bones(armature, to_blender(np.asarray(joints, dtype=np.float64)))
    if body.shape_keys is not None:
        blocks = body.shape_keys.key_blocks
        values = np.empty(len(blocks), dtype=np.float32)
        blocks.foreach_get("value", values)
        for prefix, coeffs in (("Shape", new_betas), ("Exp", new_expr)):
            start = _key_start(blocks, prefix)
            if start >= 0 and coeffs.size:
                values[start : start + coeffs.size] = coeffs
        blocks.foreach_set("value", values)

    armature[PROP_BETAS] = new_betas.tolist()
    armature[PROP_EXPRESSION] = new_expr.tolist()


def _check_part(body, part, allowed):
    part = part.upper()
    if part not in allowed:
        raise ValueError(f"unknown shape part {part!r}; use one of {', '.join(allowed)}")
    if part in ("FACE", "EXPRESSION") and body.expression.size == 0:
        raise ValueError(f"{body.name}: this body has no expression keys (FACE / EXPRESSION need SMPL-X)")
    return part


def random_shape(armature, part="BODY", scale=1.0, seed=None):
    """Draw the part's coefficients from N(0, scale^2 I) (the models' shape prior) and apply them. Returns them."""
    body = Body.of(armature)
    part = _check_part(body, part, PARTS)
    if part == "BODY":
        values = core_shape.random_betas(body.betas.size, scale, seed)
        set_shape(body, betas=values)
    else:
        values = core_shape.random_betas(body.expression.size, scale, seed)
        set_shape(body, expression=values)
    return values


def reset_shape(armature, part="BODY"):
    """Zero the part's coefficients ("BODY", "FACE"/"EXPRESSION", or "ALL")."""
    body = Body.of(armature)
    part = part.upper()
    if part == "ALL":
        set_shape(body, betas=np.zeros(0), expression=np.zeros(0))
        return
    part = _check_part(body, part, PARTS)
    if part == "BODY":
        set_shape(body, betas=np.zeros(0))
    else:
        set_shape(body, expression=np.zeros(0))


def set_height_weight(armature, height_m, weight_kg):
    """Fit the body's betas (all its Shape### keys) to a stature (m) and mass (kg) and apply them. Returns the betas.

    Stature = vertical extent of the rest mesh (current expression included); mass = its volume x 1000 kg/m^3
    (core.shape)."""
    body = Body.of(armature)
    betas = core_shape.betas_for_height_weight(
        body.model, height_m, weight_kg, num_betas=body.betas.size, expression=body.expression
    )
    set_shape(body, betas=betas)
    return betas


def evaluated_vertices_world(mesh_obj, depsgraph=None):
    """World-space vertices of the evaluated (posed, shape-keyed) mesh, (V, 3) float64."""
    depsgraph = depsgraph or bpy.context.evaluated_depsgraph_get()
    evaluated = mesh_obj.evaluated_get(depsgraph)
    mesh = evaluated.to_mesh()
    try:
        co = np.empty(3 * len(mesh.vertices), dtype=np.float32)
        mesh.vertices.foreach_get("co", co)
    finally:
        evaluated.to_mesh_clear()
    mw = np.array(evaluated.matrix_world, dtype=np.float64)
    return co.reshape(-1, 3).astype(np.float64) @ mw[:3, :3].T + mw[:3, 3]


def snap_to_ground(armature, ground=0.0):
    """Move the armature object so the lowest point of the evaluated posed mesh is at z = ``ground``. Returns the z
    shift."""
    body = Body.of(armature)
    armature, mesh = body.armature, body.mesh
    if mesh is None:
        raise ValueError(f"{armature.name}: the body has no mesh")
    bpy.context.view_layer.update()
    dz = float(ground) - float(evaluated_vertices_world(mesh)[:, 2].min())
    world = armature.matrix_world.copy()
    world.translation.z += dz
    armature.matrix_world = world
    return dz
