# SPDX-License-Identifier: GPL-3.0-or-later
"""SMPL parameters from any SMPL-named rig: FBX re-imports of our bodies, the official add-ons' and Meshcapade's rigs.

Such armatures carry no custom properties. They are recognised by their bone names: a full SMPL / SMPL-H / SMPL-X
joint-name set, also in the SMPL FBX spelling ``Pelvis, L_Hip, ...`` with ``m_avg_`` / ``f_avg_``
prefixes and FBX namespaces (``name:pelvis``), and Meshcapade's ``left_eye`` / ``right_eye``.

Their animation is read from Blender's evaluated pose, so bone roll and
direction, FBX axis conversion, object transforms and unit scale (cm) do not matter. With ``B_i`` the rest rotation of
bone i (``bone.matrix_local``, armature space), ``A`` the rotation from SMPL space to armature space (found by aligning
the rig's rest joints with the model's, see :func:`rest_alignment`; ``A = C`` for our rig, ``I`` for a Y-up rig),
``P_i`` the world rotation of the posed bone (``matrix_world @ pose_bone.matrix``) and ``C`` SMPL Y-up -> Blender Z-up:

    Rg_i = C^T P_i B_i^T A        (global SMPL rotation of joint i, in the Y-up world with Blender world = C Y-up)
    R_i  = Rg_parent(i)^T Rg_i    (parents of the SMPL tree, whatever bones lie between them in the rig)
    transl = C^T p_0 - J_0(beta)  (p_0: the pelvis head in the world, metres; J_0: the model's rest pelvis)

The rig's rest pose must be the SMPL rest pose (T-pose, flat hands), as in every SMPL rig and FBX export.
Betas are read only from a mesh that carries our ``Shape###`` keys (our own bodies, re-imported); otherwise they are
zero (the model's mean shape). Fitting betas to the rig's rest joints would be a later improvement.
"""

import re
import warnings

import bpy
import numpy as np

from ..core import conversions, layouts
from ..core.motion import Motion
from ..core.rotations import canonical_axis_angle, matrix_to_axis_angle
from .animation import evaluated_pose_matrices, stepping_frames
from .fcurves import action_frame_range, shape_key_sequence

_C = conversions.Y_UP_TO_Z_UP  # SMPL (Y-up) -> Blender (Z-up)
_KIND_ORDER = ("smplx", "smplh", "smpl")  # SMPL-X contains every SMPL-H name: test the larger sets first
_ALIASES = {"left_eye": "left_eye_smplhf", "right_eye": "right_eye_smplhf"}  # Meshcapade
_PREFIX = re.compile(r"^(?:[mf]_avg_)", re.IGNORECASE)  # SMPL FBX rig (male / female average)
_SIDE = re.compile(r"^([lr])_")
REST_MISFIT_WARNING = 0.1  # relative RMS misfit of the rest joints above which the rest pose is not the SMPL one


def smpl_joint_name(bone_name):
    """The SMPL joint name a bone name stands for: ``m_avg_L_Hip`` -> ``left_hip``, ``ns:Pelvis`` -> ``pelvis``."""
    name = _PREFIX.sub("", bone_name.rsplit(":", 1)[-1]).lower()
    name = _SIDE.sub(lambda m: "left_" if m.group(1) == "l" else "right_", name)
    return _ALIASES.get(name, name)


def rig_gender(armature):
    """ "female" / "male" from the SMPL FBX rig prefixes (``f_avg_`` / ``m_avg_``), else None."""
    prefixes = {b.name.rsplit(":", 1)[-1][:6].lower() for b in armature.data.bones}
    if "f_avg_" in prefixes:
        return "female"
    if "m_avg_" in prefixes:
        return "male"
    return None


def rig_joints(armature):
    """``(kind, bone names in the model's joint order)`` of an SMPL-named armature, or None.

    An exact joint name wins over a spelling variant when a rig has both.
    """
    if armature is None or armature.type != "ARMATURE":
        return None
    by_joint = {}
    for bone in armature.data.bones:
        joint = smpl_joint_name(bone.name)
        if joint not in by_joint or bone.name == joint:
            by_joint[joint] = bone.name
    for kind in _KIND_ORDER:
        names = layouts.JOINT_NAMES[kind]
        if all(n in by_joint for n in names):
            return kind, [by_joint[n] for n in names]
    return None


def find_smpl_armatures(scene):
    """Armature objects of ``scene`` whose bones carry a full SMPL / SMPL-H / SMPL-X joint set, sorted by name.

    Our own bodies are included (they have the joint names too); tell them apart with ``body.find_body``.
    """
    return sorted(
        (o for o in scene.objects if o.type == "ARMATURE" and rig_joints(o) is not None), key=lambda o: o.name
    )


# ------------------------------------------------------------------------------------------------------------------
# Rest frames.


def _orthonormal(M):
    """Nearest rotations ``(..., 3, 3)`` of matrices that may carry scale (polar decomposition by SVD)."""
    U, _, Vt = np.linalg.svd(M)
    R = U @ Vt
    flip = np.linalg.det(R) < 0  # a mirrored object: keep a proper rotation (the rig is then not SMPL anyway)
    if np.any(flip):
        U[flip, :, -1] *= -1
        R = U @ Vt
    return R


def _snap_to_axes(R, tolerance=0.1):
    """``R`` rounded to a signed axis permutation when it is within ``tolerance`` of one (the usual Y-up / Z-up /
    cm conventions), so that a rig whose rest joints differ a little from the model's still gets an exact frame."""
    index = np.argmax(np.abs(R), axis=1)
    rows = np.arange(3)
    if sorted(index.tolist()) != [0, 1, 2] or np.any(np.abs(R[rows, index]) < 1.0 - tolerance):
        return R
    S = np.zeros((3, 3))
    S[rows, index] = np.sign(R[rows, index])
    return S if np.linalg.det(S) > 0 else R


def rest_alignment(rig_heads, model_joints):
    """Rotation ``A`` (3, 3) with ``rig_heads ≈ s A model_joints + t`` and the rig's relative RMS misfit.

    rig_heads: (n, 3) rest joint positions in armature space (any unit); model_joints: (n, 3) the model's rest joints
    (SMPL space), same joints in the same order. Similarity Procrustes with a proper rotation (det +1: the left side of
    the body stays on the left), snapped to a signed axis permutation when it is one.
    """
    X = np.asarray(rig_heads, np.float64)
    Y = np.asarray(model_joints, np.float64)
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    U, S, Vt = np.linalg.svd(Xc.T @ Yc)
    D = np.diag([1.0, 1.0, np.sign(np.linalg.det(U @ Vt)) or 1.0])
    A = _snap_to_axes(U @ D @ Vt)
    scale = np.sum(Xc * (Yc @ A.T)) / max(np.sum(Yc**2), 1e-12)
    rms = np.sqrt(np.mean(np.sum((Xc - scale * Yc @ A.T) ** 2, 1)))
    size = abs(scale) * np.sqrt(np.mean(np.sum(Yc**2, 1)))
    misfit = rms / max(size, 1e-12)
    return A, float(misfit)


def _rest_matrices(armature, bone_names):
    """``bone.matrix_local`` of the named bones, (J, 4, 4) float64 (armature space)."""
    bones = armature.data.bones
    flat = np.empty(16 * len(bones), dtype=np.float32)
    bones.foreach_get("matrix_local", flat)
    index = {b.name: i for i, b in enumerate(bones)}
    return flat.reshape(-1, 4, 4).transpose(0, 2, 1).astype(np.float64)[[index[n] for n in bone_names]]


# ------------------------------------------------------------------------------------------------------------------
# Shape from our own mesh (re-imported FBX), if any.


def _skinned_meshes(armature, scene):
    """Mesh objects of ``scene`` deformed by ``armature`` (an Armature modifier on it, or parented to it)."""
    found = []
    for obj in scene.objects:
        if obj.type != "MESH":
            continue
        if obj.parent == armature or any(m.type == "ARMATURE" and m.object == armature for m in obj.modifiers):
            found.append(obj)
    return found


def rig_shape(armature, scene, frames):
    """``(betas (nb,), expression (F, ne) or None)`` from a mesh of the rig that carries our ``Shape###`` keys.

    Returns ``(None, None)`` when no such mesh exists (a foreign rig: the shape is unknown).
    """
    for mesh in _skinned_meshes(armature, scene):
        key = mesh.data.shape_keys
        if key is None:
            continue
        betas = shape_key_sequence(key, "Shape", frames[:1])
        if betas is not None:
            return betas[0], shape_key_sequence(key, "Exp", frames)
    return None, None


# ------------------------------------------------------------------------------------------------------------------
# Animation.


def _evaluated_world_poses(armature, bone_names, frames):
    """World matrices of the named pose bones at ``frames``: (F, J, 4, 4) float64 (``matrix_world @ matrix``).

    The scene is stepped frame by frame (constraints, drivers, NLA and object animation included), meshes switched off
    (:func:`.animation.stepping_frames`).
    """
    order = {pb.name: i for i, pb in enumerate(armature.pose.bones)}
    pick = [order[n] for n in bone_names]
    out = np.empty((len(frames), len(bone_names), 4, 4))
    with stepping_frames([armature]):
        for f, frame in enumerate(frames):
            evaluated, pose = evaluated_pose_matrices(armature, frame)
            out[f] = np.array(evaluated.matrix_world) @ pose[pick]
    return out


def _default_frames(armature):
    """Whole frames of the rig's action, else of the scene."""
    start, end = action_frame_range(armature) or (bpy.context.scene.frame_start, bpy.context.scene.frame_end)
    return np.arange(start, end + 1, dtype=np.float64)


def foreign_body_motion(armature, model, frames=None, up_axis="Y"):
    """The animation of an SMPL-named rig as a core :class:`Motion` (the rule in this module's docstring).

    model: a core model giving the rest pelvis ``J_0`` (for ``transl``) and the rest joints the rig is aligned with;
    its kind may differ from the rig's (e.g. an SMPL model for an SMPL-H rig: they share the body joints), the motion
    keeps the rig's layout. frames: scene frames to read (default: the rig's action range, else the scene range).
    up_axis: "Y" (SMPL space, Blender world = C · data world, like ``motion_export.body_motion``) or "Z" (AMASS:
    data world == Blender world). fps: the scene's. Raises ValueError for an armature without an SMPL joint set.
    """
    if up_axis not in ("Y", "Z"):
        raise ValueError(f"up_axis must be 'Y' or 'Z', got {up_axis!r}")
    found = rig_joints(armature)
    if found is None:
        raise ValueError(
            f"{armature.name}: not an SMPL rig (its bones do not carry an SMPL / SMPL-H / SMPL-X joint-name set)"
        )
    kind, bone_names = found
    scene = bpy.context.scene
    frames = _default_frames(armature) if frames is None else np.asarray(frames, np.float64).reshape(-1)
    if frames.size == 0:
        raise ValueError(f"{armature.name}: no frames to read")
    betas, expression = rig_shape(armature, scene, frames)
    expression = expression if kind == "smplx" else None
    fit_betas = None if betas is None else betas[: model.num_betas]
    fit_expression = None if expression is None or not model.num_expressions else expression[:, : model.num_expressions]
    expression_varies = fit_expression is not None and not np.all(fit_expression == fit_expression[:1])
    rest = model.rest_joints(fit_betas, None if fit_expression is None else fit_expression[0])
    joint_names = layouts.JOINT_NAMES[kind]
    shared = [j for j, name in enumerate(joint_names) if name in model.joint_names]
    model_rest = rest[[model.joint_names.index(joint_names[j]) for j in shared]]

    B = _rest_matrices(armature, bone_names)
    A, misfit = rest_alignment(B[shared, :3, 3], model_rest)
    if misfit > REST_MISFIT_WARNING:
        warnings.warn(
            f"{armature.name}: the rig's rest joints differ from the {model.kind} rest pose by "
            f"{100 * misfit:.0f}% of the body size: is its rest pose the SMPL T-pose?",
            stacklevel=2,
        )
    P = _evaluated_world_poses(armature, bone_names, frames)  # (F, J, 4, 4)
    Rg = _C.T @ _orthonormal(P[:, :, :3, :3]) @ _orthonormal(B[:, :3, :3]).transpose(0, 2, 1) @ A
    parents = layouts.PARENTS[kind]
    local = Rg.copy()
    local[:, 1:] = Rg[:, parents[1:]].transpose(0, 1, 3, 2) @ Rg[:, 1:]
    poses = canonical_axis_angle(matrix_to_axis_angle(local)).reshape(len(frames), -1)

    if expression_varies:
        pelvis = model.rest_joints(
            np.broadcast_to(fit_betas, (len(frames), fit_betas.size)) if fit_betas is not None else None, fit_expression
        )[:, 0]
    else:
        pelvis = rest[0]
    trans = P[:, 0, :3, 3] @ _C - pelvis  # C^T p for row vectors
    gender = rig_gender(armature)
    if gender is None:
        warnings.warn(
            f"{armature.name}: the rig does not say the body's gender (an FBX carries it only in SMPL's "
            "m_avg_ / f_avg_ bone prefixes): the motion is written as neutral",
            stacklevel=2,
        )
    motion = Motion(
        fps=scene.render.fps / scene.render.fps_base,
        poses=poses,
        trans=trans,
        betas=np.zeros(min(model.num_betas, 10)) if betas is None else betas,
        expression=expression,
        gender=gender,
        kind=kind,
        up_axis="Y",
        source=bpy.data.filepath or None,
    )
    if up_axis == "Z":
        poses = motion.poses.copy()
        poses[:, :3], trans = conversions.reframe(motion.poses[:, :3], motion.trans, conversions.Y_UP_TO_Z_UP, pelvis)
        motion = motion.copy(poses=poses, trans=trans, up_axis="Z")
    return motion
