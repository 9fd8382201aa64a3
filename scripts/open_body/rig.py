# SPDX-License-Identifier: GPL-3.0-or-later
"""The MPFB2 "default" rig (163 bones) as linear operators on the mesh, its A-pose -> T-pose re-posing, and the mapping
of its bones onto the SMPL (24) and SMPL-X (55) joints (the joint map of the open-body method)."""

import numpy as np

from . import geometry

SMPL_JOINTS = [
    "pelvis",
    "left_hip",
    "right_hip",
    "spine1",
    "left_knee",
    "right_knee",
    "spine2",
    "left_ankle",
    "right_ankle",
    "spine3",
    "left_foot",
    "right_foot",
    "neck",
    "left_collar",
    "right_collar",
    "head",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hand",
    "right_hand",
]
SMPL_PARENTS = [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21]
FINGERS = [("index", 2), ("middle", 3), ("pinky", 5), ("ring", 4), ("thumb", 1)]  # smplx order, MH finger number
SMPLX_JOINTS = (
    SMPL_JOINTS[:22]
    + ["jaw", "left_eye_smplhf", "right_eye_smplhf"]
    + [f"{side}_{name}{k}" for side in ("left", "right") for name, _ in FINGERS for k in (1, 2, 3)]
)
SMPLX_PARENTS = (
    SMPL_PARENTS[:22]
    + [15, 15, 15]
    + [p for wrist, base in ((20, 25), (21, 40)) for f in range(5) for p in (wrist, base + 3 * f, base + 3 * f + 1)]
)

# SMPL joint -> MH bone whose head locates it (joint 22/23 "hand": mean of the four finger-1 heads).
_BODY_LOCATION = {
    "pelvis": "spine05",
    "hip": "upperleg01",
    "spine1": "spine03",
    "knee": "lowerleg01",
    "spine2": "spine02",
    "ankle": "foot",
    "spine3": "spine01",
    "neck": "neck01",
    "collar": "clavicle",
    "head": "head",
    "shoulder": "upperarm01",
    "elbow": "lowerarm01",
    "wrist": "wrist",
    "jaw": "jaw",
    "eye_smplhf": "eye",
}
# MH bone (without side suffix) -> SMPL body joint (without side prefix); descendants of "head" are handled separately.
_BODY_WEIGHTS = {
    "root": "pelvis",
    "pelvis": "pelvis",
    "spine05": "pelvis",
    "spine04": "pelvis",
    "upperleg01": "hip",
    "upperleg02": "hip",
    "spine03": "spine1",
    "lowerleg01": "knee",
    "lowerleg02": "knee",
    "spine02": "spine2",
    "breast": "spine2",
    "foot": "ankle",
    "spine01": "spine3",
    "neck01": "neck",
    "neck02": "neck",
    "neck03": "neck",
    "clavicle": "collar",
    "shoulder01": "collar",
    "upperarm01": "shoulder",
    "upperarm02": "shoulder",
    "lowerarm01": "elbow",
    "lowerarm02": "elbow",
    "wrist": "wrist",
    "metacarpal1": "wrist",
    "metacarpal2": "wrist",
    "metacarpal3": "wrist",
    "metacarpal4": "wrist",
}


class Rig:
    """Bones in topological order, with head / tail as (B, V) linear maps of the full 19,158-vertex mesh."""

    def __init__(self, rig_json, groups, num_verts):
        order, seen = [], set()
        pending = sorted(rig_json)
        while pending:  # parents before children, deterministic
            rest = []
            for name in pending:
                parent = rig_json[name]["parent"]
                if not parent or parent in seen:
                    order.append(name)
                    seen.add(name)
                else:
                    rest.append(name)
            pending = rest
        self.names = order
        self.index = {n: i for i, n in enumerate(order)}
        self.parents = np.array([self.index.get(rig_json[n]["parent"], -1) for n in order])
        self.head_map = np.stack([_point_row(rig_json[n]["head"], groups, num_verts) for n in order])
        self.tail_map = np.stack([_point_row(rig_json[n]["tail"], groups, num_verts) for n in order])

    def descendants(self, name):
        out, frontier = [], [self.index[name]]
        while frontier:
            out += frontier
            frontier = [i for i in range(len(self.names)) if self.parents[i] in frontier]
        return [self.names[i] for i in out]


def _point_row(spec, groups, num_verts):
    row = np.zeros(num_verts)
    if spec["strategy"] == "CUBE":
        ids = groups[spec["cube_name"]]
    elif spec["strategy"] == "VERTEX":
        ids = np.array([spec["vertex_index"]])
    else:
        ids = np.asarray(spec["vertex_indices"])
    row[ids] = 1.0 / len(ids)
    return row


def bone_weight_matrix(weights_json, rig, num_verts):
    """(V, B) dense MH skin weights, rows renormalised to 1."""
    w = np.zeros((num_verts, len(rig.names)))
    for bone, (ids, vals) in weights_json.items():
        w[ids, rig.index[bone]] += vals
    return w / np.maximum(w.sum(axis=1, keepdims=True), 1e-12)


# ---------------------------------------------------------------- A-pose -> T-pose
def tpose_rotations(rig, verts):
    """Global bone rotations (B, 3, 3) that bring the MH A-pose of mesh ``verts`` (V, 3) into an SMPL-like T-pose.

    Computed once on a mean mesh and then applied unchanged to every shape so the re-posing stays linear in the shape.
    Clavicles up 6 deg; upper arm, forearm and hand along +-X; palm down with the index side toward +Z (a twist of the
    distal forearm bone); legs at 2.5 deg abduction with the feet kept flat; finger segments 2-3 of fingers 2-5 in line
    with segment 1.
    """
    heads, tails = rig.head_map @ verts, rig.tail_map @ verts
    rot = np.tile(np.eye(3), (len(rig.names), 1, 1))
    posed_heads = heads.copy()
    ix = rig.index

    def point(bone, which="head"):
        return (heads if which == "head" else tails)[ix[bone]]

    rules = {}
    for side, sx in (("L", 1.0), ("R", -1.0)):
        rules[f"clavicle.{side}"] = ("raise", geometry.axis_angle_to_matrix(np.array([0.0, 0.0, sx * np.radians(6.0)])))
        rules[f"upperarm01.{side}"] = ("align", point(f"upperarm01.{side}"), point(f"lowerarm01.{side}"), [sx, 0, 0])
        rules[f"lowerarm01.{side}"] = ("align", point(f"lowerarm01.{side}"), point(f"wrist.{side}"), [sx, 0, 0])
        rules[f"lowerarm02.{side}"] = ("twist", sx)
        rules[f"wrist.{side}"] = ("align", point(f"wrist.{side}"), point(f"finger3-1.{side}"), [sx, 0, 0])
        a = np.radians(2.5)
        rules[f"upperleg01.{side}"] = (
            "align",
            point(f"upperleg01.{side}"),
            point(f"foot.{side}"),
            [sx * np.sin(a), -np.cos(a), 0.0],
        )
        rules[f"foot.{side}"] = ("world", np.eye(3))
        for finger in (2, 3, 4, 5):
            for seg in (2, 3):
                rules[f"finger{finger}-{seg}.{side}"] = ("follow", f"finger{finger}-1.{side}")
    for b, name in enumerate(rig.names):
        p = rig.parents[b]
        parent_rot = rot[p] if p >= 0 else np.eye(3)
        if p >= 0:
            posed_heads[b] = posed_heads[p] + parent_rot @ (heads[b] - heads[p])
        rule = rules.get(name)
        r = parent_rot
        if rule is None:
            pass
        elif rule[0] == "raise":
            r = rule[1] @ parent_rot
        elif rule[0] == "align":
            r = geometry.rotation_between(parent_rot @ (rule[2] - rule[1]), np.asarray(rule[3], float)) @ parent_rot
        elif rule[0] == "world":
            r = rule[1]
        elif rule[0] == "follow":
            ref = ix[rule[1]]
            r = (
                geometry.rotation_between(parent_rot @ (tails[b] - heads[b]), rot[ref] @ (tails[ref] - heads[ref]))
                @ parent_rot
            )
        elif rule[0] == "twist":
            r = _palm_down_twist(rule[1], parent_rot, heads, ix, name[-1]) @ parent_rot
        rot[b] = r
    return rot


def _palm_down_twist(sx, parent_rot, heads, ix, side):
    """Rotation about X that turns the (already aligned) hand so the index knuckle is toward +Z of the pinky knuckle."""
    across = parent_rot @ (heads[ix[f"finger2-1.{side}"]] - heads[ix[f"finger5-1.{side}"]])
    across[0] = 0.0
    angle = np.arctan2(-across[1], across[2])  # rotating about +X by angle maps (y, z) -> +Z
    return geometry.axis_angle_to_matrix(np.array([angle, 0.0, 0.0]))


def posed_transforms(rig, rot, heads):
    """Bone translations (..., B, 3) and posed heads (..., B, 3) for rest heads (..., B, 3) and global rotations (B, 3, 3)."""
    posed = heads.copy()
    for b in range(len(rig.names)):
        p = rig.parents[b]
        if p >= 0:
            posed[..., b, :] = posed[..., p, :] + (heads[..., b, :] - heads[..., p, :]) @ rot[p].T
    trans = posed - np.einsum("bij,...bj->...bi", rot, heads)
    return trans, posed


# ---------------------------------------------------------------- SMPL / SMPL-X mapping
def joint_location_map(rig, kind):
    """(J, B) matrix: SMPL joint location = this combination of MH bone heads."""
    names = SMPL_JOINTS if kind == "smpl" else SMPLX_JOINTS
    m = np.zeros((len(names), len(rig.names)))
    for j, name in enumerate(names):
        side, base = _split_side(name)
        if base == "foot":
            continue  # foot.tail: filled by joint_tail_map
        if base == "hand":
            for f in (2, 3, 4, 5):
                m[j, rig.index[f"finger{f}-1.{side}"]] = 0.25
        elif base in _BODY_LOCATION:
            m[j, rig.index[_BODY_LOCATION[base] + (f".{side}" if side else "")]] = 1.0
        else:  # finger joint, e.g. index2
            finger = dict(FINGERS)[base[:-1]]
            m[j, rig.index[f"finger{finger}-{base[-1]}.{side}"]] = 1.0
    return m


def joint_tail_map(rig, kind):
    """(J, B) matrix of bone tails used for joint locations (only left/right_foot = foot.tail, the ball of the foot)."""
    names = SMPL_JOINTS if kind == "smpl" else SMPLX_JOINTS
    m = np.zeros((len(names), len(rig.names)))
    for side in ("L", "R"):
        m[names.index(("left" if side == "L" else "right") + "_foot"), rig.index[f"foot.{side}"]] = 1.0
    return m


def _split_side(name):
    if name.startswith("left_"):
        return "L", name[5:]
    if name.startswith("right_"):
        return "R", name[6:]
    return "", name


def bone_to_joint(rig, kind):
    """(B, J) one-hot matrix merging MH bone weights into SMPL / SMPL-X joints."""
    names = SMPL_JOINTS if kind == "smpl" else SMPLX_JOINTS
    jid = {n: i for i, n in enumerate(names)}
    m = np.zeros((len(rig.names), len(names)))
    head_tree = set(rig.descendants("head"))
    jaw_tree = set(rig.descendants("jaw"))
    for b, bone in enumerate(rig.names):
        base, _, side = bone.partition(".")
        prefix = {"L": "left_", "R": "right_", "": ""}[side]
        if bone in head_tree:
            j = "jaw" if (kind == "smplx" and bone in jaw_tree) else "head"
        elif base.startswith("toe"):
            j = prefix + "foot"
        elif base.startswith("finger"):
            if kind == "smpl":
                j = prefix + "hand"
            else:
                finger, seg = int(base[6]), base[-1]
                j = prefix + {v: k for k, v in FINGERS}[finger] + seg
        else:
            if base not in _BODY_WEIGHTS:
                raise KeyError(f"unmapped MH bone {bone}")
            j = _BODY_WEIGHTS[base]
            j = j if j in jid else prefix + j  # pelvis.L / breast.R merge into central joints
        m[b, jid[j]] = 1.0
    return m
