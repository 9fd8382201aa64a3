# SPDX-License-Identifier: GPL-3.0-or-later
"""A body in the scene: one armature object with the skinned, shape-keyed mesh as its child (built by build.py).

:class:`Body` resolves a body once (armature, mesh, core model, joint order); every function of this package takes a
``Body`` or anything :func:`find_body` accepts and resolves it once at its entry.

Rig: one bone per model joint, named ``model.joint_names``, parented per ``model.parents``; every bone's
head is at C·J_i, its tail 0.1 m above along Blender +Z, roll 0. Every bone's rest axes are therefore the SMPL axes and a
pose bone's local rotation is the SMPL parent-relative rotation R_i. There is no extra root bone: the armature object itself
is the body's world placement (snap-to-ground, user moves) and the pelvis bone's location carries the SMPL ``transl``.

Shape keys (relative to "Basis" = the template): ``Shape000..`` (betas), ``Exp000..`` (SMPL-X expressions), ``Pose000..``
(all 9(J-1) pose correctives). Each key holds template + one blend-shape column, so Blender's relative shape keys reproduce
the linear blend shapes exactly. Body state lives in custom properties on the armature (and a back-reference on the
mesh), so several bodies, undo and save/reload work.
"""

import os

import bpy
import numpy as np

from .. import core
from ..core.model import normalise_gender

# Custom-property names on the armature object.
PROP_MODEL = "smpl_model"  # built-in name ("open-smplx") or absolute file path
PROP_KIND = "smpl_kind"
PROP_GENDER = "smpl_gender"
PROP_BETAS = "smpl_betas"
PROP_EXPRESSION = "smpl_expression"
PROP_MESH = "smpl_body_mesh"  # on the mesh: marks it as the body's skin
PROP_MODEL_GENDER = "smpl_model_gender"  # the gender argument the model was loaded with ("" = file's own)

PROP_JOINT_NAMES = "smpl_joint_names"

_MODEL_CACHE: dict[tuple[str, str], core.BodyModel] = {}  # (model spec, gender) -> model; never re-read a file per call


def to_blender(points):
    """SMPL-space points (..., 3) -> Blender-space points (..., 3), same dtype."""
    points = np.asarray(points)
    out = np.empty(points.shape, dtype=points.dtype)
    out[..., 0] = points[..., 0]
    out[..., 1] = -points[..., 2]
    out[..., 2] = points[..., 1]
    return out


def to_smpl(points):
    """Blender-space points (..., 3) -> SMPL-space points (..., 3)."""
    points = np.asarray(points)
    out = np.empty(points.shape, dtype=points.dtype)
    out[..., 0] = points[..., 0]
    out[..., 1] = points[..., 2]
    out[..., 2] = -points[..., 1]
    return out


def _model_key(model, gender):
    """Cache key and the string stored on the body: built-in names as given, file paths made absolute."""
    spec = os.fspath(model)
    if spec not in core.BUILTIN_MODELS:
        spec = os.path.abspath(os.path.expanduser(spec))
    return spec, (normalise_gender(gender, spec) or "")


def load_body_model(model="open-smplx", gender=None):
    """Core model for a built-in name or file path (or a core model object, registered under its name); cached."""
    if not isinstance(model, (str, os.PathLike)):
        key = (f"memory:{model.name}", model.gender or "")
        _MODEL_CACHE[key] = model
        return model, key
    key = _model_key(model, gender)
    if key not in _MODEL_CACHE:
        _MODEL_CACHE[key] = core.load_model(key[0], gender=key[1] or None)
    return _MODEL_CACHE[key], key


def find_body(obj):
    """The body's armature for the armature, its mesh, or a bone / pose bone of it; None if ``obj`` is not a body."""
    if obj is None:
        return None
    if not isinstance(obj, bpy.types.Object):
        obj = getattr(obj, "id_data", None)
        if isinstance(obj, bpy.types.Armature):
            obj = next((o for o in bpy.data.objects if o.data == obj and PROP_KIND in o), None)
        if not isinstance(obj, bpy.types.Object):
            return None
    if obj.type == "ARMATURE" and PROP_KIND in obj:
        return obj
    if obj.type == "MESH" and obj.get(PROP_MESH) and obj.parent is not None:
        return find_body(obj.parent)
    return None


def body_mesh(armature):
    """The skinned mesh object of a body (child of the armature), or None."""
    return next((c for c in armature.children if c.type == "MESH" and c.get(PROP_MESH)), None)


def body_model(armature):
    """Core model of a body, from the cache (loaded once per model spec and gender)."""
    spec, gender = armature[PROP_MODEL], armature.get(PROP_MODEL_GENDER, "")
    if spec.startswith("memory:"):
        key = (spec, gender)
        if key not in _MODEL_CACHE:
            raise core.ModelFileError(spec, "this body was built from an in-memory model that is no longer loaded")
        return _MODEL_CACHE[key]
    key = (spec, gender)
    if key not in _MODEL_CACHE:
        _MODEL_CACHE[key] = core.load_model(spec, gender=gender or None)
    return _MODEL_CACHE[key]


def body_betas(armature):
    """Current betas of a body, (n,) float32 (n = its Shape### keys)."""
    return np.asarray(armature.get(PROP_BETAS, []), dtype=np.float32).reshape(-1)


def body_expression(armature):
    """Current expression of a body, (n,) float32 (n = its Exp### keys; 0 for models without expressions)."""
    return np.asarray(armature.get(PROP_EXPRESSION, []), dtype=np.float32).reshape(-1)


def coefficients(values, count, what):
    """User coefficients -> (count,) float32, zero-padded; more than ``count`` is an error (no key to hold them)."""
    out = np.zeros(count, dtype=np.float32)
    if values is not None:
        values = np.asarray(values, dtype=np.float32).reshape(-1)
        if values.size > count:
            raise ValueError(f"{values.size} {what} given, the body has {count} {what} keys")
        out[: values.size] = values
    return out


class Body:
    """One body, resolved once: ``armature``, skin ``mesh`` (or None), core ``model`` and joint order.

    Build it with :meth:`of` at a function's entry and pass it down; it is a view of the scene at that moment (not
    stored anywhere), so a function that adds or removes the mesh makes a new one.
    """

    __slots__ = ("armature", "mesh", "_model", "_bone_order")

    def __init__(self, armature):
        self.armature = armature
        self.mesh = body_mesh(armature)
        self._model = None
        self._bone_order = None

    @classmethod
    def of(cls, obj):
        """The Body of ``obj`` (a Body, the armature, its mesh, a bone or pose bone); ValueError if it is none."""
        if isinstance(obj, Body):
            return obj
        armature = find_body(obj)
        if armature is None:
            raise ValueError(f"{getattr(obj, 'name', obj)!r} is not an SMPL body (select its armature or mesh)")
        return cls(armature)

    @property
    def name(self):
        return self.armature.name

    @property
    def model(self):
        """The core model (loaded once per model spec and gender, see :func:`body_model`)."""
        if self._model is None:
            self._model = body_model(self.armature)
        return self._model

    @property
    def joint_names(self):
        """Model joint names, pelvis first; the bones carry these names."""
        return list(self.armature.get(PROP_JOINT_NAMES) or self.model.joint_names)

    @property
    def bone_order(self):
        """Index into ``armature.pose.bones`` (hierarchy order) of each joint (model order), (J,) int64."""
        if self._bone_order is None:
            position = {pb.name: i for i, pb in enumerate(self.armature.pose.bones)}
            names = self.joint_names
            missing = [n for n in names if n not in position]
            if missing:
                raise ValueError(f"{self.name}: missing bones {', '.join(missing[:5])}")
            self._bone_order = np.array([position[n] for n in names], dtype=np.int64)
        return self._bone_order

    @property
    def betas(self):
        """Current betas, (n,) float32 (n = its Shape### keys)."""
        return body_betas(self.armature)

    @property
    def expression(self):
        """Current expression, (n,) float32 (n = its Exp### keys; empty for models without expressions)."""
        return body_expression(self.armature)

    @property
    def kind(self):
        return self.armature.get(PROP_KIND, "")

    @property
    def gender(self):
        return self.armature.get(PROP_GENDER, "")

    @property
    def shape_keys(self):
        """The mesh's shape-key datablock, or None."""
        return self.mesh.data.shape_keys if self.mesh is not None else None
