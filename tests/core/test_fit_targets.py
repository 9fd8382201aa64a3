# SPDX-License-Identifier: GPL-3.0-or-later
"""Fit targets: the point readers (npy / npz / EasyMocap keypoints3d / marker layouts) on files written here, the
keypoint layouts, the landmark vertices of every topology and :func:`point_definitions` against the forward pass.
No bpy."""

import json
import os
import warnings

import numpy as np
import pytest
from core.random_model import random_arrays
from hostile_files import npy_header, savez

from smpl_blender_addon import core
from smpl_blender_addon.core import file_io, layouts
from smpl_blender_addon.core.conversions import Z_UP_TO_Y_UP
from smpl_blender_addon.core.errors import MotionFileError
from smpl_blender_addon.core.fitting import (
    KEYPOINT_LAYOUTS,
    LANDMARK_VERTICES,
    PointSequence,
    point_definitions,
    read_marker_layout,
    read_points,
)
from smpl_blender_addon.core.fitting.landmarks import KEYPOINT_JOINTS, LANDMARKS


@pytest.fixture(scope="module")
def open_smpl():
    return core.load_model("open-smpl")


@pytest.fixture(scope="module")
def open_smplx():
    return core.load_model("open-smplx")


def refused(read, path, *needles, needs=None):
    """``read(path)`` raises a MotionFileError whose message starts with the path and holds every needle."""
    with pytest.raises(MotionFileError) as info:
        read(path)
    message = str(info.value)
    assert message.startswith(os.fspath(path)), message
    for needle in needles:
        assert needle in message, message
    assert info.value.needs == needs
    return info.value


def write_frames(folder, frames):
    """EasyMocap keypoints3d frames (one list of people each) as <folder>/keypoints3d/000000.json ..."""
    (folder / "keypoints3d").mkdir(parents=True)
    for f, people in enumerate(frames):
        (folder / "keypoints3d" / f"{f:06d}.json").write_text(json.dumps(people))
    return folder


# -- layouts and landmarks ------------------------------------------------------------------------------------------


def test_keypoint_layouts_are_named_in_the_model_joint_namespace():
    assert [len(KEYPOINT_LAYOUTS[k]) for k in ("body25", "coco17", "humanml3d")] == [25, 17, 22]
    assert KEYPOINT_LAYOUTS["body25"][:9] == (
        "nose",
        "neck",
        "right_shoulder",
        "right_elbow",
        "right_wrist",
        "left_shoulder",
        "left_elbow",
        "left_wrist",
        "mid_hip",
    )
    assert KEYPOINT_LAYOUTS["body25"][15:19] == ("right_eye", "left_eye", "right_ear", "left_ear")
    assert KEYPOINT_LAYOUTS["coco17"][:5] == ("nose", "left_eye", "right_eye", "left_ear", "right_ear")
    assert KEYPOINT_LAYOUTS["humanml3d"] == tuple(layouts.JOINT_NAMES["smplx"][:22])
    joints = set(layouts.JOINT_NAMES["smpl"]) & set(layouts.JOINT_NAMES["smplx"])
    for names in KEYPOINT_LAYOUTS.values():
        assert len(set(names)) == len(names)
        assert set(names) <= joints | set(LANDMARKS) | set(KEYPOINT_JOINTS)
    assert not set(LANDMARKS) & set(layouts.JOINT_NAMES["smplx"])  # SMPL-X's eye joints are *_eye_smplhf


def test_landmark_tables_cover_every_landmark_within_their_meshes():
    assert set(LANDMARK_VERTICES) == {6890, 10475, 13380, 13524}
    for count, table in LANDMARK_VERTICES.items():
        assert set(table) == set(LANDMARKS)
        ids = np.array(list(table.values()))
        assert len(set(ids)) == len(ids) and ids.min() >= 0 and ids.max() < count
    assert LANDMARK_VERTICES[6890]["nose"] == 332 and LANDMARK_VERTICES[10475]["nose"] == 9120  # smplx vertex_ids
    assert max(LANDMARK_VERTICES[13524].values()) < 13380  # on the shared body, not the eyeballs


def test_open_bodies_share_their_body_vertices(open_smpl, open_smplx):
    np.testing.assert_array_equal(open_smpl.v_template, open_smplx.v_template[:13380])


def landmark_positions(model, betas=None):
    out = model.forward(betas=betas, dtype=np.float64)
    vertices, joints = out.vertices[0], dict(zip(model.joint_names, out.joints[0]))
    return {name: vertices[v] for name, v in LANDMARK_VERTICES[model.num_vertices].items()}, joints


@pytest.mark.parametrize("which", ["open-smpl", "open-smplx", "open-smpl female shaped", "open-smplx male shaped"])
def test_open_body_landmarks_sit_where_their_names_say(which):
    """Model space: Y up, face +Z, the body's left +X."""
    name, *rest = which.split()
    model = core.load_model(name, gender=rest[0] if rest else None)
    betas = np.random.default_rng(1).uniform(-2, 2, 10) if "shaped" in rest else None
    at, joint = landmark_positions(model, betas)
    nose, neck = at["nose"], joint["neck"]
    assert nose[2] > neck[2] + 0.08 and nose[1] > neck[1] + 0.05 and abs(nose[0]) < 0.005
    for side, sign in (("left", 1), ("right", -1)):
        eye, ear = at[f"{side}_eye"], at[f"{side}_ear"]
        assert 0.02 < sign * eye[0] < 0.05 and eye[1] > nose[1] + 0.02 and nose[2] - 0.05 < eye[2] < nose[2]
        assert sign * ear[0] > sign * eye[0] + 0.03 and ear[2] < eye[2] - 0.06 and abs(ear[1] - eye[1]) < 0.05
        ankle, ball = joint[f"{side}_ankle"], joint[f"{side}_foot"]
        big, small, heel = at[f"{side}_big_toe"], at[f"{side}_small_toe"], at[f"{side}_heel"]
        assert sign * big[0] < sign * small[0]  # the big toe is medial
        assert big[2] > small[2] > ball[2] > ankle[2] > heel[2]  # toes forward of the ball, heel behind the ankle
        assert max(big[1], small[1], heel[1]) < ankle[1] - 0.03 and ankle[2] - heel[2] > 0.03
    if betas is None:  # the right side mirrors the left one
        for name in LANDMARKS:
            if name.startswith("left_"):
                np.testing.assert_allclose(at[name] * (-1, 1, 1), at["right_" + name[5:]], atol=1e-6)


# -- point_definitions ----------------------------------------------------------------------------------------------


def targets(definitions, out):
    joint_coeffs, vertex_ids, vertex_coeffs, _ = definitions
    return joint_coeffs @ out.joints[0] + vertex_coeffs @ out.vertices[0][vertex_ids]


@pytest.mark.parametrize("layout", ["body25", "coco17", "humanml3d"])
def test_keypoints_are_the_model_joints_and_landmark_vertices(open_smplx, layout):
    names = KEYPOINT_LAYOUTS[layout]
    definitions = point_definitions(open_smplx, names)
    J, K = open_smplx.num_joints, len(names)
    assert definitions.joint_coeffs.shape == (K, J) and definitions.joint_coeffs.dtype == np.float64
    assert definitions.vertex_coeffs.shape == (K, definitions.vertex_ids.size)
    assert definitions.vertex_ids.dtype == np.int64 and len(set(definitions.vertex_ids)) == definitions.vertex_ids.size
    np.testing.assert_allclose(definitions.joint_coeffs.sum(1) + definitions.vertex_coeffs.sum(1), 1.0)
    pose = np.random.default_rng(2).normal(0, 0.3, open_smplx.pose_size)
    out = open_smplx.forward(betas=np.ones(5), pose=pose, transl=(0.1, 0.2, 0.3), dtype=np.float64)
    points = targets(definitions, out)
    landmarks = LANDMARK_VERTICES[13524]
    for k, name in enumerate(names):
        if name in landmarks:
            expected = out.vertices[0][landmarks[name]]
        else:
            expected = out.joints[0][open_smplx.joint_names.index(KEYPOINT_JOINTS.get(name, name))]
        np.testing.assert_allclose(points[k], expected, atol=1e-12, err_msg=name)


def test_vertices_markers_and_joint_names(open_smpl):
    markers = {"C7": ((10, 0.2), (11, 0.3), (12, 0.5)), "pelvis": ((40, 1.0),), "far": ((12, 2.0), (13, -1.0))}
    names = ["left_knee", "vertex:123", "C7", "pelvis", "far", "nose", "vertex:5054"]
    definitions = point_definitions(open_smpl, names, markers)
    assert list(definitions.vertex_ids) == [10, 11, 12, 13, 40, 123, 5054]  # nose and vertex:5054 share one
    out = open_smpl.forward(pose=np.random.default_rng(3).normal(0, 0.2, 72), dtype=np.float64)
    points, v = targets(definitions, out), out.vertices[0]
    np.testing.assert_allclose(points[0], out.joints[0][4])
    np.testing.assert_allclose(points[1], v[123])
    np.testing.assert_allclose(points[2], 0.2 * v[10] + 0.3 * v[11] + 0.5 * v[12])
    np.testing.assert_allclose(points[3], v[40])  # a marker wins over the joint of its name
    np.testing.assert_allclose(points[4], 2 * v[12] - v[13])
    np.testing.assert_allclose(points[5], v[5054])
    np.testing.assert_allclose(points[6], v[5054])
    assert point_definitions(open_smpl, []).joint_coeffs.shape == (0, 24)


def test_point_definition_refusals(open_smpl):
    with pytest.raises(ValueError, match=r"unknown point names .*'foo', 'left_index1'.*vertex:<id>"):
        point_definitions(open_smpl, ["pelvis", "foo", "left_index1"])  # SMPL has no fingers
    with pytest.raises(ValueError, match="uses vertex 13380, not 0 to 13379"):
        point_definitions(open_smpl, ["vertex:13380"])
    with pytest.raises(ValueError, match="weights summing to 0.9"):
        point_definitions(open_smpl, ["m"], {"m": ((1, 0.5), (2, 0.4))})
    with pytest.raises(ValueError, match="has no vertices"):
        point_definitions(open_smpl, ["m"], {"m": ()})
    with pytest.raises(ValueError, match="integer vertex ids"):
        point_definitions(open_smpl, ["m"], {"m": ((1.5, 1.0),)})
    random = core.BodyModel.from_arrays(random_arrays("smpl", 200), name="random-smpl")
    assert point_definitions(random, ["neck", "mid_hip", "vertex:5"]).vertex_ids.tolist() == [5]
    with pytest.raises(ValueError, match=r"landmark 'left_heel' is a mesh vertex, and the random-smpl model .*200"):
        point_definitions(random, ["neck", "left_heel"])


# -- PointSequence --------------------------------------------------------------------------------------------------


def test_point_sequence_keeps_weights_above_one_and_marks_missing_points():
    points = np.zeros((2, 3, 3))
    points[1, 2, 0] = np.inf
    sequence = PointSequence(points, [[2.0, 0.5, -1.0], [np.nan, 1.0, 1.0]], ("a", "b", "c"))
    np.testing.assert_array_equal(sequence.confidence, [[2.0, 0.5, 0.0], [0.0, 1.0, 0.0]])
    assert np.isnan(sequence.points[[0, 1, 1], [2, 0, 2]]).all() and not np.isnan(sequence.points[0, :2]).any()
    assert sequence.num_frames == 2 and sequence.layout is None
    with pytest.raises(ValueError, match="3 points per frame but 2 names"):
        PointSequence(points, names=("a", "b"))


# -- readers --------------------------------------------------------------------------------------------------------


def test_humanml3d_npy_is_y_up_metres_and_asks_for_its_rate(tmp_path):
    joints = np.random.default_rng(4).normal(0, 0.5, (30, 22, 3)).astype(np.float32)
    np.save(tmp_path / "joints.npy", joints)
    refused(
        read_points,
        tmp_path / "joints.npy",
        "the file (HumanML3D / MDM / MoMask joints are at 20 fps) stores no frame rate",
        needs="fps",
    )
    points = read_points(tmp_path / "joints.npy", fps=20)
    assert points.names == KEYPOINT_LAYOUTS["humanml3d"] and points.layout == "humanml3d" and points.fps == 20
    np.testing.assert_allclose(points.points, joints, rtol=1e-7)
    assert points.points.dtype == np.float64 and (points.confidence == 1).all() and points.markers is None
    assert points.source == os.fspath(tmp_path / "joints.npy")
    np.testing.assert_allclose(read_points(tmp_path / "joints.npy", fps=20, units="cm").points, joints / 100, rtol=1e-6)
    np.testing.assert_allclose(
        read_points(tmp_path / "joints.npy", fps=20, up_axis="Z").points, joints @ Z_UP_TO_Y_UP.T
    )


@pytest.mark.parametrize(
    ("count", "layout"), [(24, "smpl"), (52, "smplh"), (55, "smplx"), (25, "body25"), (17, "coco17")]
)
def test_layout_from_the_point_count(tmp_path, count, layout):
    np.save(tmp_path / "one.npy", np.ones((count, 3)))
    points = read_points(tmp_path / "one.npy")
    assert points.layout == layout and len(points.names) == count and points.num_frames == 1 and points.fps is None
    assert read_points(tmp_path / "one.npy", fps=25).fps == 25


def test_confidence_nan_and_explicit_layouts(tmp_path):
    data = np.ones((4, 25, 4))
    data[0, 3, 3] = 0.0  # zero confidence
    data[1, 4, :3] = np.nan
    data[2, 5, 3] = 3.5  # a weight above 1 stays
    np.save(tmp_path / "body25.npy", data)
    points = read_points(tmp_path / "body25.npy", fps=30)
    assert points.layout == "body25" and points.confidence[2, 5] == 3.5
    assert (
        points.confidence[0, 3] == 0 and points.confidence[1, 4] == 0 and np.isnan(points.points[[0, 1], [3, 4]]).all()
    )
    np.save(tmp_path / "thirty.npy", np.ones((2, 30, 3)))
    error = refused(read_points, tmp_path / "thirty.npy", "30 points per frame", "25 body25", needs="layout")
    assert "pass layout=" in str(error)
    names = [f"vertex:{i}" for i in range(30)]
    assert read_points(tmp_path / "thirty.npy", layout=names, fps=1).names == tuple(names)
    refused(lambda p: read_points(p, layout="body25"), tmp_path / "thirty.npy", "layout body25 has 25 names")
    with pytest.raises(ValueError, match="layout must be one of"):
        read_points(tmp_path / "thirty.npy", layout="openpose")
    with pytest.raises(ValueError, match="units must be"):
        read_points(tmp_path / "thirty.npy", units="inch")
    with pytest.raises(ValueError, match="up_axis must be"):
        read_points(tmp_path / "thirty.npy", up_axis="camera")


def test_npz_with_names_confidence_rate_and_units(tmp_path):
    rng = np.random.default_rng(5)
    joints = rng.normal(0, 500, (6, 3, 3))
    confidence = rng.uniform(0, 1, (6, 3))
    names = np.array([b"pelvis", b"nose", b"vertex:7"])
    savez(tmp_path / "points.npz", keypoints3d=joints, confidence=confidence, names=names, mocap_framerate=60.0)
    points = read_points(tmp_path / "points.npz", units="mm", fps=10)  # the file's rate wins
    assert points.names == ("pelvis", "nose", "vertex:7") and points.layout is None and points.fps == 60
    np.testing.assert_allclose(points.points, joints / 1000)
    np.testing.assert_allclose(points.confidence, confidence)
    savez(tmp_path / "bad_conf.npz", joints=joints, confidence=confidence[:, :2])
    refused(read_points, tmp_path / "bad_conf.npz", "'confidence'", "expected (F, K) numbers")
    savez(tmp_path / "bad_names.npz", joints=joints, names=np.array(["a", "b"]))
    refused(read_points, tmp_path / "bad_names.npz", "'names'", "expected 3 names")
    savez(tmp_path / "object_names.npz", joints=joints, names=np.array(["a", 1, None], dtype=object))
    refused(read_points, tmp_path / "object_names.npz", "'names'", "Python objects")
    savez(tmp_path / "nothing.npz", poses=np.zeros((2, 72)))
    refused(read_points, tmp_path / "nothing.npz", "no points", "joints, keypoints3d, points, marker_data")
    savez(tmp_path / "slow.npz", points=joints, fps=1e-9)
    refused(read_points, tmp_path / "slow.npz", "not a usable rate")


def test_amass_marker_data_takes_names_from_labels_and_vertices_from_the_layout(tmp_path):
    markers = np.random.default_rng(6).normal(0, 1, (5, 4, 3))
    labels = np.array(["C7", "LFHD", "RFHD", "XTRA"])
    savez(tmp_path / "markers.npz", marker_data=markers, marker_labels=labels, mocap_framerate=120.0)
    layout = {"C7": ((1, 1.0),), "LFHD": ((2, 0.5), (3, 0.5)), "RFHD": ((4, 1.0),), "STRN": ((5, 1.0),)}
    with pytest.warns(UserWarning, match="not in the marker layout, left out: XTRA"):
        points = read_points(tmp_path / "markers.npz", markers=layout)
    assert points.names == ("C7", "LFHD", "RFHD") and points.layout == "markers" and points.markers == layout
    np.testing.assert_allclose(points.points, markers[:, :3] @ Z_UP_TO_Y_UP.T)  # AMASS is Z-up
    assert points.fps == 120
    with pytest.warns(UserWarning, match="XTRA"):
        y_up = read_points(tmp_path / "markers.npz", markers=layout, up_axis="Y")
    np.testing.assert_allclose(y_up.points[:, 0], markers[:, 0])
    refused(read_points, tmp_path / "markers.npz", "markers have no vertices", needs="markers")
    refused(lambda p: read_points(p, markers={"STRN": ((5, 1.0),)}), tmp_path / "markers.npz", needs="markers")
    # an unlabelled marker array: the layout's names, in order
    np.save(tmp_path / "unlabelled.npy", markers[:, :4])
    assert read_points(tmp_path / "unlabelled.npy", markers=layout, fps=30).names == tuple(layout)
    (tmp_path / "layout.json").write_text(json.dumps({"markers": {"A": 1, "B": [[2, 0.25], [3, 0.75]]}}))
    np.save(tmp_path / "two.npy", np.zeros((2, 3)))
    assert read_points(tmp_path / "two.npy", markers=tmp_path / "layout.json").markers == {
        "A": ((1, 1.0),),
        "B": ((2, 0.25), (3, 0.75)),
    }


def keypoint_rows(rng, count, confidence=1.0):
    return np.concatenate([rng.normal(0, 1, (count, 3)), np.full((count, 1), confidence)], axis=1)


@pytest.mark.parametrize("wrapped", [False, True])
def test_easymocap_keypoints3d_folder(tmp_path, wrapped):
    rng = np.random.default_rng(7)
    one, three = [keypoint_rows(rng, 25) for _ in range(4)], [keypoint_rows(rng, 25, 0.5) for _ in range(4)]
    frames = [
        [{"id": 3, "keypoints3d": three[f].tolist()}, {"id": 1, "keypoints3d": one[f].tolist()}] for f in range(4)
    ]
    frames[2] = [frames[2][0]]  # person 1 missing in frame 2
    frames[0] = frames[0][1:]
    if wrapped:
        frames = [{"annots": people} for people in frames]
    write_frames(tmp_path, frames)
    points = read_points(tmp_path, fps=50)
    assert points.layout == "body25" and points.num_frames == 4 and points.fps == 50
    assert (
        np.isnan(points.points[2]).all()
        and (points.confidence[2] == 0).all()
        and (points.confidence[[0, 1, 3]] == 1).all()
    )
    np.testing.assert_allclose(points.points[0], one[0][:, :3] @ Z_UP_TO_Y_UP.T)  # Z-up by default
    other = read_points(tmp_path / "keypoints3d", person=3, up_axis="Y", fps=50)
    assert np.isnan(other.points[0]).all() and (other.confidence[1:] == 0.5).all()
    np.testing.assert_allclose(other.points[3], three[3][:, :3])
    refused(lambda p: read_points(p, person=7, fps=50), tmp_path, "person 7 is in no frame")
    refused(read_points, tmp_path, "stores no frame rate", needs="fps")
    single = read_points(tmp_path / "keypoints3d" / "000001.json")
    assert single.num_frames == 1 and single.fps is None
    np.testing.assert_allclose(single.points[0], one[1][:, :3] @ Z_UP_TO_Y_UP.T)


def test_easymocap_coco17_and_bad_frames(tmp_path):
    rng = np.random.default_rng(8)
    write_frames(tmp_path / "coco", [[{"id": 0, "keypoints3d": keypoint_rows(rng, 17).tolist()}]] * 2)
    assert read_points(tmp_path / "coco", fps=30).layout == "coco17"
    bad = {
        "strings.json": [{"id": 0, "keypoints3d": [["1", "2", "3", "1"]] * 25}],
        "flat.json": [{"id": 0, "keypoints3d": [1.0, 2.0, 3.0, 1.0]}],
        "pairs.json": [{"id": 0, "keypoints3d": [[1.0, 2.0]] * 25}],
        "ragged.json": [{"id": 0, "keypoints3d": [[1.0, 2.0, 3.0], [1.0]]}],
        "nested.json": [{"id": 0, "keypoints3d": [[[1.0, 2.0, 3.0, 1.0]] * 25]}],
        "null.json": [{"id": 0, "keypoints3d": [[None, 2.0, 3.0, 1.0]] * 25}],
        "id.json": [{"id": "first", "keypoints3d": [[1.0, 2.0, 3.0, 1.0]] * 25}],
        "smpl.json": [{"id": 0, "Rh": [0, 0, 0], "Th": [0, 0, 0], "poses": [0] * 72}],
        "far.json": [{"id": 0, "keypoints3d": [[1e5, 2.0, 3.0, 1.0]] * 25}],
    }
    words = {
        "strings.json": "not real numbers",
        "flat.json": "expected (K, 4)",
        "pairs.json": "expected (K, 4)",
        "ragged.json": "not a numeric array",
        "nested.json": "expected (K, 4)",
        "null.json": "not real numbers",
        "id.json": "not an integer",
        "smpl.json": "not an EasyMocap keypoints3d frame",
        "far.json": "beyond any capture volume",
    }
    for name, data in bad.items():
        (tmp_path / name).write_text(json.dumps(data))
        refused(read_points, tmp_path / name, words[name])
    write_frames(tmp_path / "mixed", [[{"id": 0, "keypoints3d": keypoint_rows(rng, k).tolist()}] for k in (25, 17)])
    refused(lambda p: read_points(p, fps=30), tmp_path / "mixed", "000001.json", "17 keypoints here, 25")
    write_frames(tmp_path / "nobody", [[], []])
    refused(read_points, tmp_path / "nobody", "nobody in any frame")
    (tmp_path / "empty").mkdir()
    refused(read_points, tmp_path / "empty", "no EasyMocap frames", "keypoints3d/000000.json")


def test_marker_layouts(tmp_path):
    soma = {
        "surface_model_type": "smpl",
        "markersets": [
            {"distance_from_skin": 0.0095, "indices": {"C7": 3832, "CLAV": 5533}, "marker_radius": 0.0095},
            {"distance_from_skin": 0.0, "indices": {"LFIN": 2174}, "type": "finger", "marker_radius": [1]},
        ],
    }
    (tmp_path / "soma.json").write_text(json.dumps(soma))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # marker_radius only draws a marker: nothing to carry
        markers = read_marker_layout(tmp_path / "soma.json")
    assert markers == {"C7": ((3832, 1.0),), "CLAV": ((5533, 1.0),), "LFIN": ((2174, 1.0),)}
    assert markers.offsets == {"C7": 0.0095, "CLAV": 0.0095}  # per markerset; the finger set's 0 is on the skin
    ours = {"markers": {"B": [[1, 0.2], [2, 0.3], [3, 0.5]], "A": 9}, "distance_from_skin": 0.01}
    (tmp_path / "ours.json").write_text(json.dumps(ours))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        layout = read_marker_layout(tmp_path / "ours.json")
    assert list(layout.items()) == [("B", ((1, 0.2), (2, 0.3), (3, 0.5))), ("A", ((9, 1.0),))]
    assert layout.offsets == {"B": 0.01, "A": 0.01}
    bad = {
        "weights.json": ({"markers": {"A": [[1, 0.5], [2, 0.6]]}}, "weights summing to 1.1"),
        "negative.json": ({"markers": {"A": -4}}, "uses vertex -4"),
        "float_vertex.json": ({"markers": {"A": [[1.5, 1.0]]}}, "integer vertex ids"),
        "text.json": ({"markers": {"A": "C7"}}, "marker 'A'"),
        "bool.json": ({"markers": {"A": True}}, "marker 'A'"),
        "twice.json": ({"markersets": [{"indices": {"C7": 1}}, {"indices": {"C7": 2}}]}, "given twice"),
        "no_indices.json": ({"markersets": [{"names": ["C7"]}]}, "without an 'indices'"),
        "empty.json": ({"markers": {}}, "no markers"),
        "other.json": ([1, 2, 3], "not a marker layout"),
        "far.json": ({"markers": {"A": 1}, "distance_from_skin": 9.5}, "from 0 to 0.1, got 9.5"),
        "nan.json": ({"markersets": [{"indices": {"A": 1}, "distance_from_skin": "NaN"}]}, "got 'NaN'"),
        "negative_distance.json": ({"markers": {"A": 1}, "distance_from_skin": -0.01}, "got -0.01"),
    }
    for name, (data, words) in bad.items():
        (tmp_path / name).write_text(json.dumps(data))
        refused(read_marker_layout, tmp_path / name, words)


def mdm_results(path, samples, **more):
    """An MDM ``results.npy`` as its sample script writes it: ``np.save`` of a dict, motion (N, 22, 3, frames)."""
    frames = max(len(joints) for joints in samples)
    motion = np.zeros((len(samples), 22, 3, frames), np.float32)
    for i, joints in enumerate(samples):
        motion[i, :, :, : len(joints)] = joints.transpose(1, 2, 0)
    results = {
        "motion": motion,
        "text": [f"text {i}" for i in range(len(samples))],
        "lengths": np.array([len(j) for j in samples]),
    }
    np.save(path, results | more, allow_pickle=True)


def test_mdm_results_are_read_as_data(tmp_path):
    rng = np.random.default_rng(4)
    samples = [rng.normal(0, 0.5, (n, 22, 3)).astype(np.float32) for n in (40, 25, 33)]
    mdm_results(tmp_path / "results.npy", samples, num_samples=3, num_repetitions=1)
    with pytest.warns(UserWarning, match=r"3 samples \(0: 'text 0'; 1: 'text 1'; 2: 'text 2'\); sample 0 is fitted"):
        first = read_points(tmp_path / "results.npy", fps=20)
    np.testing.assert_array_equal(first.points, samples[0])
    assert first.layout == "humanml3d" and first.fps == 20
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        last = read_points(tmp_path / "results.npy", fps=20, person=2)
    np.testing.assert_array_equal(last.points, samples[2])  # its own length, not the padded one
    refused(
        lambda p: read_points(p, fps=20, person=3),
        tmp_path / "results.npy",
        "sample 3",
        "the file holds samples 0 to 2",
    )
    with pytest.warns(UserWarning, match="3 samples"):  # as any joint array: the rate is asked for
        refused(read_points, tmp_path / "results.npy", "stores no frame rate", "20 fps", needs="fps")

    class Runs:  # a pickled call: refused before anything runs
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'ran'}",))

    hostile = {
        "code.npy": {"motion": np.zeros((1, 22, 3, 4)), "x": Runs()},
        "nested.npy": {"motion": np.array([None], dtype=object)},
        "no_motion.npy": {"joints": np.zeros((4, 22, 3))},
        "flat_motion.npy": {"motion": np.zeros((4, 66))},
        "text_motion.npy": {"motion": np.full((1, 22, 3, 2), "a")},
    }
    words = {
        "code.npy": "global posix.system is not allowed",
        "nested.npy": "object array",
        "no_motion.npy": "without MDM's 'motion'",
        "flat_motion.npy": "without MDM's 'motion'",
        "text_motion.npy": "without MDM's 'motion'",
    }
    for name, data in hostile.items():
        np.save(tmp_path / name, data, allow_pickle=True)
        refused(lambda p: read_points(p, fps=20), tmp_path / name, words[name])
    assert not (tmp_path / "ran").exists()
    np.save(tmp_path / "list.npy", np.array([{"motion": 1}, {"motion": 2}], dtype=object), allow_pickle=True)
    refused(read_points, tmp_path / "list.npy", "is not a saved dict")


def test_batches_of_sequences_and_feature_vectors(tmp_path):
    """A 4-D array is a batch of sequences (T2M-GPT writes (1, F, 22, 3)): one is read, as MDM's samples; motion
    features (HumanML3D's new_joint_vecs) are named as not positions."""
    rng = np.random.default_rng(5)
    batch = rng.normal(0, 0.5, (2, 30, 22, 3))
    np.save(tmp_path / "batch.npy", batch)
    with pytest.warns(UserWarning, match="2 samples; sample 0 is fitted"):
        np.testing.assert_array_equal(read_points(tmp_path / "batch.npy", fps=20).points, batch[0])
    np.testing.assert_array_equal(read_points(tmp_path / "batch.npy", fps=20, person=1).points, batch[1])
    np.save(tmp_path / "one.npy", batch[:1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_points(tmp_path / "one.npy", fps=20).points.shape == (30, 22, 3)
    np.save(tmp_path / "vecs.npy", np.zeros((30, 263)))
    refused(read_points, tmp_path / "vecs.npy", "(30, 263)", "HumanML3D features, not positions", "new_joints")


# -- hostile files --------------------------------------------------------------------------------------------------


def test_hostile_and_broken_files(tmp_path, monkeypatch):
    (tmp_path / "huge_header.npy").write_bytes(npy_header((2**40, 22, 3), "<f8"))
    refused(read_points, tmp_path / "huge_header.npy", "byte limit")
    (tmp_path / "truncated.npy").write_bytes(npy_header((100, 22, 3), "<f8") + b"\0" * 800)
    refused(read_points, tmp_path / "truncated.npy", "truncated")
    np.save(tmp_path / "complex.npy", np.zeros((2, 22, 3)) + 1j)
    refused(read_points, tmp_path / "complex.npy", "not real numbers")
    np.save(tmp_path / "text.npy", np.array([["a", "b", "c"]] * 22))
    refused(read_points, tmp_path / "text.npy", "not real numbers")
    np.save(tmp_path / "flat.npy", np.zeros((10, 66)))
    refused(read_points, tmp_path / "flat.npy", "expected (F, K, 3)")
    np.save(tmp_path / "no_frames.npy", np.zeros((0, 22, 3)))
    refused(read_points, tmp_path / "no_frames.npy", "holds no frames")
    np.save(tmp_path / "no_points.npy", np.zeros((4, 0, 3)))
    refused(read_points, tmp_path / "no_points.npy", "holds no points")
    np.save(tmp_path / "far.npy", np.full((2, 22, 3), 5e6))  # 5000 km in metres; fine as 5 km of millimetres
    refused(read_points, tmp_path / "far.npy", "beyond any capture volume")
    assert np.isclose(read_points(tmp_path / "far.npy", units="mm", fps=1).points[0, 0, 0], 5e3)
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    refused(read_points, tmp_path / "deep.json", "nested")
    (tmp_path / "deep_layout.json").write_text('{"markers": ' + "[" * 100_000 + "]" * 100_000 + "}")
    refused(read_marker_layout, tmp_path / "deep_layout.json", "nested")
    with open(tmp_path / "huge.json", "wb") as stream:  # sparse: no disk used
        stream.write(b"[")
        stream.truncate(file_io.MAX_JSON_BYTES + 1)
    refused(read_points, tmp_path / "huge.json", "larger than")
    (tmp_path / "garbage.bin").write_bytes(b"\x00\x01binary")
    refused(read_points, tmp_path / "garbage.bin", "not a points file")
    (tmp_path / "empty.npy").write_bytes(b"")
    refused(read_points, tmp_path / "empty.npy", "empty")
    refused(read_points, tmp_path / "missing.npy", "cannot read")
    (tmp_path / "zip.npz").write_bytes(b"PK\x03\x04 not really")
    refused(read_points, tmp_path / "zip.npz", "zip")


def test_a_folder_of_ten_thousand_frames_is_read_in_bounded_time(tmp_path):
    folder = tmp_path / "keypoints3d"
    folder.mkdir()
    for f in range(10_000):
        (folder / f"{f:06d}.json").write_text("[]")
    refused(read_points, tmp_path, "nobody in any frame")
    (folder / "000100.json").write_text('[{"id": 0, "keypoints3d": "x"}]')
    refused(read_points, folder / "000100.json", "'keypoints3d'")
    refused(lambda p: read_points(p, fps=30), tmp_path, "000100.json", "not real numbers")  # the bad frame, named
