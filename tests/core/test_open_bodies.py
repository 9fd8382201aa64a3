# SPDX-License-Identifier: GPL-3.0-or-later
"""Checks of the shipped open bodies (assets/open_{smpl,smplx}_{neutral,female,male}.npz).

Set OPEN_BODY_DIR to check a freshly built folder instead of assets/ (e.g. a --quick build).
"""

import os
import pathlib

import numpy as np
import pytest

ASSETS = pathlib.Path(os.environ.get("OPEN_BODY_DIR") or pathlib.Path(__file__).resolve().parents[2] / "assets")
FILES = [f"open_{kind}_{gender}.npz" for kind in ("smpl", "smplx") for gender in ("neutral", "female", "male")]

# formats.md section 2.5 (written out here as an independent reference)
SMPL_NAMES = (
    "pelvis left_hip right_hip spine1 left_knee right_knee spine2 left_ankle right_ankle spine3 left_foot "
    "right_foot neck left_collar right_collar head left_shoulder right_shoulder left_elbow right_elbow "
    "left_wrist right_wrist left_hand right_hand"
).split()
SMPL_PARENTS = [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21]
HAND = [f"{f}{k}" for f in ("index", "middle", "pinky", "ring", "thumb") for k in (1, 2, 3)]
SMPLX_NAMES = (
    SMPL_NAMES[:22]
    + ["jaw", "left_eye_smplhf", "right_eye_smplhf"]
    + [f"left_{h}" for h in HAND]
    + [f"right_{h}" for h in HAND]
)
SMPLX_PARENTS = (
    SMPL_PARENTS[:22]
    + [15, 15, 15]
    + [
        20,
        25,
        26,
        20,
        28,
        29,
        20,
        31,
        32,
        20,
        34,
        35,
        20,
        37,
        38,
        21,
        40,
        41,
        21,
        43,
        44,
        21,
        46,
        47,
        21,
        49,
        50,
        21,
        52,
        53,
    ]
)


@pytest.fixture(scope="module", params=FILES)
def body(request):
    path = ASSETS / request.param
    assert path.is_file(), f"{path} missing: run scripts/build_open_bodies.py"
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["path"] = path
    arrays["kind"] = str(arrays["model_type"])
    return arrays


def _stature(v):
    return float(v[:, 1].max() - v[:, 1].min())


def _body_rows(b):
    """Vertex rows of the body surface (SMPL-X files append the two eyeballs, 72 vertices each)."""
    return slice(0, len(b["v_template"]) - (144 if b["kind"] == "smplx" else 0))


def test_file_layout(body):
    kind = body["kind"]
    assert kind in ("smpl", "smplx")
    assert str(body["gender"]) in body["path"].name
    assert body["path"].stat().st_size < 8e6
    v, j = len(body["v_template"]), len(body["J_regressor"])
    assert j == (24 if kind == "smpl" else 55)
    assert body["weights"].shape == (v, j)
    assert body["posedirs"].shape == (v, 3, 9 * (j - 1))
    assert int(body["num_betas"]) >= 16
    if kind == "smplx":
        assert body["shapedirs"].shape == (v, 3, 400)
        assert not body["shapedirs"][:, :, int(body["num_betas"]) : 300].any()
        assert body["shapedirs"][:, :, 300:310].any() and not body["shapedirs"][:, :, 310:].any()
        for key in ("hands_componentsl", "hands_componentsr"):
            c = body[key].astype(np.float64)
            assert c.shape == (45, 45)
            np.testing.assert_allclose(c @ c.T, np.eye(45), atol=1e-5)
        assert body["hands_meanl"].shape == (45,) and body["lmk_faces_idx"].max() < len(body["f"])
    assert "CC0" in str(body["license"])


def test_watertight_manifold_mesh(body):
    f = body["f"].astype(np.int64)
    edges = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])
    directed, counts = np.unique(edges, axis=0, return_counts=True)
    assert counts.max() == 1, "an oriented edge is used twice: inconsistent winding or non-manifold"
    und, ucount = np.unique(np.sort(edges, axis=1), axis=0, return_counts=True)
    assert np.all(ucount == 2), "boundary or non-manifold edges"
    assert len(np.unique(f)) == len(body["v_template"]), "unreferenced vertices"
    components = 1 if body["kind"] == "smpl" else 3
    assert len(body["v_template"]) - len(und) + len(f) == 2 * components  # Euler characteristic: genus-0 pieces
    v = body["v_template"].astype(np.float64)
    a, b_, c = v[f[:, 0]], v[f[:, 1]], v[f[:, 2]]
    assert np.einsum("fi,fi->f", a, np.cross(b_, c)).sum() > 0  # outward normals


def test_weights_and_regressor_rows(body):
    for key in ("weights", "J_regressor"):
        m = body[key].astype(np.float64)
        assert m.min() >= 0.0
        np.testing.assert_allclose(m.sum(axis=1), 1.0, atol=1e-5)
    assert (body["J_regressor"] > 0).sum(axis=1).min() >= 3  # rings, not single vertices


def test_kinematic_tree(body):
    names, parents = (SMPL_NAMES, SMPL_PARENTS) if body["kind"] == "smpl" else (SMPLX_NAMES, SMPLX_PARENTS)
    assert [str(n) for n in body["joint_names"]] == names
    kt = body["kintree_table"]
    assert kt[0, 0] == 2**32 - 1
    assert list(kt[0, 1:]) == parents[1:] and list(kt[1]) == list(range(len(names)))


def test_uvs_cover_mesh(body):
    vt, ft = body["vt"].astype(np.float64), body["ft"].astype(np.int64)
    assert ft.shape == body["f"].shape and ft.max() < len(vt) and len(np.unique(ft)) == len(vt)
    assert vt.min() >= 0.0 and vt.max() <= 1.0
    e1, e2 = vt[ft[:, 1]] - vt[ft[:, 0]], vt[ft[:, 2]] - vt[ft[:, 0]]
    area = 0.5 * np.abs(e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0])
    assert np.mean(area > 1e-9) > 0.999


def test_stature_and_first_beta(body):
    v = body["v_template"].astype(np.float64)[_body_rows(body)]
    d1 = body["shapedirs"][_body_rows(body), :, 0].astype(np.float64)
    assert 1.55 < _stature(v) < 1.85
    assert _stature(v + 2 * d1) - _stature(v - 2 * d1) > 0.10
    assert v[:, 1].min() < -0.9 and v[:, 1].max() > 0.3  # feet well below the origin, as in SMPL


def test_expression_moves_face(body):
    if body["kind"] != "smplx":
        pytest.skip("SMPL has no expressions")
    for k in range(10):
        move = 2 * np.linalg.norm(body["shapedirs"][:, :, 300 + k].astype(np.float64), axis=1)
        assert move.max() > 0.002
    head_y = (body["J_regressor"].astype(np.float64) @ body["v_template"])[15, 1]
    moved = np.linalg.norm(body["shapedirs"][:, :, 300:310].astype(np.float64), axis=(1, 2)) > 1e-5
    assert body["v_template"][moved, 1].min() > head_y - 0.1  # only the face moves


def test_elbow_correctives(body):
    left_elbow = 18
    rot = np.array([[0.0, 0.0, -1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])  # 90 deg about -Y: forearm toward +Z
    num_j = len(body["J_regressor"])
    feat = np.zeros((num_j - 1, 3, 3))
    feat[left_elbow - 1] = rot - np.eye(3)
    offsets = body["posedirs"].astype(np.float64) @ feat.ravel()
    size = np.linalg.norm(offsets, axis=1)
    assert size.max() > 0.005
    assert np.count_nonzero(size > 1e-4) < 0.2 * len(size)  # local, not global


def test_relaxed_hand_mean_curls_fingers_toward_palm(body):
    if body["kind"] != "smplx":
        pytest.skip("SMPL has no finger joints")
    from smpl_blender_addon import core

    model = core.load_model(str(body["path"]))
    pose = np.zeros(model.pose_size, np.float32)
    pose[75:120], pose[120:165] = body["hands_meanl"], body["hands_meanr"]
    flat, relaxed = model.forward().vertices[0], model.forward(pose=pose).vertices[0]
    fingers = body["weights"][:, 25:55].astype(np.float64).sum(axis=1) > 0.5
    drop = flat[fingers, 1] - relaxed[fingers, 1]  # palms face -Y in the T-pose
    assert np.median(drop) > 0.005 and np.all(np.abs(relaxed[fingers, 0]) < np.abs(flat[fingers, 0]).max())


def _random_params(body, rng):
    num_j = len(body["J_regressor"])
    return (
        rng.normal(size=16).astype(np.float32),
        (rng.normal(size=3 * num_j) * 0.3).astype(np.float32),
        rng.normal(size=10).astype(np.float32),
    )


def test_core_forward_matches_smplx(body):
    torch = pytest.importorskip("torch")
    smplx = pytest.importorskip("smplx")
    from smpl_blender_addon import core

    model = core.load_model(str(body["path"]))
    rng = np.random.default_rng(0)
    betas, pose, expr = _random_params(body, rng)
    if body["kind"] == "smpl":
        out = model.forward(betas=betas, pose=pose)
        shapedirs = torch.tensor(body["shapedirs"].astype(np.float32))
        posedirs = torch.tensor(body["posedirs"].astype(np.float32).reshape(-1, body["posedirs"].shape[-1]).T)
        parents = torch.tensor(SMPL_PARENTS)
        verts, joints = smplx.lbs.lbs(
            torch.tensor(betas)[None],
            torch.tensor(pose)[None],
            torch.tensor(body["v_template"]),
            shapedirs,
            posedirs,
            torch.tensor(body["J_regressor"]),
            parents,
            torch.tensor(body["weights"]),
        )
    else:
        out = model.forward(betas=betas, pose=pose, expression=expr)
        ref = smplx.SMPLX(
            str(body["path"]),
            use_pca=False,
            flat_hand_mean=True,
            num_betas=16,
            num_expression_coeffs=10,
            gender=str(body["gender"]),
        )
        p = torch.tensor(pose)[None]
        res = ref(
            betas=torch.tensor(betas)[None],
            expression=torch.tensor(expr)[None],
            global_orient=p[:, :3],
            body_pose=p[:, 3:66],
            jaw_pose=p[:, 66:69],
            leye_pose=p[:, 69:72],
            reye_pose=p[:, 72:75],
            left_hand_pose=p[:, 75:120],
            right_hand_pose=p[:, 120:165],
            return_full_pose=True,
        )
        verts, joints = res.vertices, res.joints[:, :55]
    np.testing.assert_allclose(out.vertices[0], verts[0].detach().numpy(), atol=2e-5)
    np.testing.assert_allclose(out.joints[0], joints[0].detach().numpy(), atol=2e-5)
