# SPDX-License-Identifier: GPL-3.0-or-later
"""core.formats readers and writers on small files written here, with every quirk of each format (no bpy).

Independent references: closed-form layouts built here joint by joint, EasyMocap's own model equation
``V = R(Rh) M + Th``, the SMPLify-X camera equation, smplcodec (reads / writes .smpl) and smplx.lbs.
"""

import io
import json
import pickle
import warnings
import zipfile

import numpy as np
import pytest
from core.random_model import random_arrays

from smpl_blender_addon import core
from smpl_blender_addon.core import conversions, layouts, rotations
from smpl_blender_addon.core.errors import MotionFileError
from smpl_blender_addon.core.formats import read_motion, write_amass_npz, write_smpl_codec
from smpl_blender_addon.core.motion import Motion

KINDS = ("smpl", "smplh", "smplx")
SIZES = {"smpl": 72, "smplh": 156, "smplx": 165}


PELVIS_OFFSET = np.array([0.03, -0.25, 0.02])  # like SMPL, J_0 far from the origin: re-framing about it matters


def offset_arrays(kind, seed):
    arrays = random_arrays(kind, 200, seed=seed)
    arrays["v_template"] = arrays["v_template"] + PELVIS_OFFSET
    return arrays


@pytest.fixture(scope="module")
def models():
    return {
        kind: core.BodyModel.from_arrays(offset_arrays(kind, 10 + i), name=f"random-{kind}")
        for i, kind in enumerate(KINDS)
    }


def random_motion(kind, frames=6, seed=0, fps=30.0, up_axis="Z", gender="male"):
    rng = np.random.default_rng(seed)
    nb = {"smpl": 10, "smplh": 16, "smplx": 10}[kind]
    return Motion(
        fps=fps,
        poses=rng.normal(0, 0.5, (frames, SIZES[kind])),
        trans=rng.normal(0, 0.7, (frames, 3)),
        betas=rng.normal(0, 1, nb),
        expression=rng.normal(0, 1, (frames, 10)) if kind == "smplx" else None,
        gender=gender,
        kind=kind,
        up_axis=up_axis,
    )


def joint(kind, name):
    """Slice of joint ``name`` in a flat pose of ``kind``."""
    j = layouts.JOINT_NAMES[kind].index(name)
    return slice(3 * j, 3 * j + 3)


def same_rotations(a, b, atol):
    Ra = rotations.axis_angle_to_matrix(np.asarray(a).reshape(-1, 3))
    Rb = rotations.axis_angle_to_matrix(np.asarray(b).reshape(-1, 3))
    np.testing.assert_allclose(Ra, Rb, atol=atol)


def vertices(model, motion, dtype=np.float64):
    return model.forward(
        motion.betas[: model.num_betas], motion.poses, motion.expression, motion.trans, dtype=dtype
    ).vertices


# -- AMASS and Meshcapade-style .npz ------------------------------------------------------------------------------


def test_amass_smplh_framerate_key_bytes_gender_and_z_up(tmp_path):
    rng = np.random.default_rng(1)
    poses, trans, betas = rng.normal(size=(5, 156)), rng.normal(size=(5, 3)), rng.normal(size=16)
    path = tmp_path / "walk_poses.npz"
    np.savez(
        path,
        poses=poses,
        trans=trans,
        betas=betas,
        gender=np.array(b"female"),
        mocap_framerate=np.array(120.0),
        dmpls=np.zeros((5, 8)),
    )
    motion = read_motion(path)
    assert (motion.kind, motion.fps, motion.gender, motion.up_axis) == ("smplh", 120.0, "female", "Z")
    np.testing.assert_array_equal(motion.poses, poses)
    np.testing.assert_array_equal(motion.trans, trans)
    np.testing.assert_array_equal(motion.betas, betas)
    assert motion.num_frames == 5 and motion.duration == pytest.approx(4 / 120)
    assert motion.source == str(path)


def test_amass_smplx_rate_key_object_member_and_non_integer_rate(tmp_path):
    rng = np.random.default_rng(2)
    poses, trans = rng.normal(size=(4, 165)), rng.normal(size=(4, 3))
    path = tmp_path / "smplx_stageii.npz"
    np.savez(
        path,
        poses=poses,
        trans=trans,
        betas=rng.normal(size=16),
        gender=np.array("male"),
        surface_model_type=np.array("smplx"),
        mocap_frame_rate=np.array(59.94),
        mocap_time_length=np.array(1.0),
        markers_latent_vids=np.array({"C7": 1}, dtype=object),
        expression=rng.normal(size=(4, 10)),
        latent_labels=np.array(["C7", "T10"]),
    )
    motion = read_motion(path)
    assert (motion.kind, motion.fps, motion.gender, motion.up_axis) == ("smplx", 59.94, "male", "Z")
    np.testing.assert_array_equal(motion.poses, poses)
    assert motion.expression.shape == (4, 10)


@pytest.mark.parametrize(
    "gender, expected",
    [
        (np.array("neutral"), "neutral"),
        (np.array(b"m"), "male"),
        ("Female", "female"),
        (np.array([b"male"]), "male"),
        ("", None),
    ],
)
def test_amass_gender_spellings(tmp_path, gender, expected):
    path = tmp_path / "g.npz"
    np.savez(
        path, poses=np.zeros((2, 156)), trans=np.zeros((2, 3)), betas=np.zeros(16), gender=gender, mocap_framerate=60
    )
    assert read_motion(path).gender == expected


def test_missing_frame_rate_asks_for_fps(tmp_path):
    path = tmp_path / "norate.npz"
    np.savez(path, poses=np.zeros((3, 165)), trans=np.zeros((3, 3)), betas=np.zeros(10))
    with pytest.raises(MotionFileError, match="fps=") as err:
        read_motion(path)
    assert "norate.npz" in str(err.value)
    motion = read_motion(path, fps=25, gender="f")
    assert motion.fps == 25 and motion.gender == "female"
    assert motion.up_axis == "Y"  # poses/trans/betas without AMASS keys: Meshcapade-style, Y-up


def test_meshcapade_npz_is_y_up_even_with_a_rate(tmp_path):
    rng = np.random.default_rng(3)
    poses = rng.normal(size=(3, 165))
    path = tmp_path / "apose_to_handsFront_smplx.npz"
    np.savez(
        path,
        poses=poses,
        trans=rng.normal(size=(3, 3)),
        betas=rng.normal(size=10).astype(np.float32),
        root_orient=poses[:, :3],
        pose_body=poses[:, 3:66],
        pose_jaw=poses[:, 66:69],
        pose_eye=poses[:, 69:75],
        pose_hand=poses[:, 75:],
        pose_foot=np.zeros((3, 0)),
        mocap_frame_rate=30.0,
    )
    motion = read_motion(path)
    assert motion.up_axis == "Y" and motion.kind == "smplx"
    np.testing.assert_array_equal(motion.poses, poses)
    assert read_motion(path, up_axis="Z").up_axis == "Z"


@pytest.mark.parametrize("kind", KINDS)
def test_amass_split_keys_only(tmp_path, kind):
    rng = np.random.default_rng(4)
    poses = rng.normal(size=(3, SIZES[kind]))
    split = {"root_orient": poses[:, :3], "pose_body": poses[:, 3:66]}
    if kind == "smplx":
        split.update(pose_jaw=poses[:, 66:69], pose_eye=poses[:, 69:75], pose_hand=poses[:, 75:])
    else:
        split["pose_hand"] = poses[:, 66:]
    path = tmp_path / "split.npz"
    np.savez(path, trans=np.zeros((3, 3)), betas=np.zeros(10), mocap_frame_rate=30.0, **split)
    motion = read_motion(path)
    assert motion.kind == kind
    np.testing.assert_array_equal(motion.poses, poses)


def test_smplh_file_into_smplx_model_but_not_165_labelled_smplh(tmp_path, models):
    rng = np.random.default_rng(5)
    poses = rng.normal(size=(4, 156))
    path = tmp_path / "smplh.npz"
    np.savez(path, poses=poses, trans=np.zeros((4, 3)), betas=rng.normal(size=16), mocap_framerate=30.0, gender="male")
    with pytest.warns(UserWarning, match="betas do not carry"):
        motion = read_motion(path, model=models["smplx"])
    assert motion.kind == "smplx" and motion.betas.size == 0
    np.testing.assert_array_equal(
        motion.poses[:, joint("smplx", "left_index1")], poses[:, joint("smplh", "left_index1")]
    )
    np.testing.assert_array_equal(motion.poses[:, joint("smplx", "jaw")], 0)  # index 22 is the jaw only in SMPL-X
    bad = tmp_path / "mislabelled.npz"
    np.savez(
        bad,
        poses=np.zeros((4, 165)),
        trans=np.zeros((4, 3)),
        betas=np.zeros(16),
        mocap_framerate=30.0,
        surface_model_type="smplh",
    )
    with pytest.raises(MotionFileError, match="165 values.*smplh") as err:
        read_motion(bad)
    assert "mislabelled.npz" in str(err.value)
    with pytest.raises(MotionFileError, match="smplh data, but kind='smplx'"):
        read_motion(path.with_name("smplh.npz"), kind="smplx")


# -- Meshcapade .smpl ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_smpl_codec_written_by_smplcodec_is_read(tmp_path, kind):
    smplcodec = pytest.importorskip("smplcodec")
    rng = np.random.default_rng(6)
    F = 5
    version = {
        "smpl": smplcodec.SMPLVersion.SMPL,
        "smplh": smplcodec.SMPLVersion.SMPLH,
        "smplx": smplcodec.SMPLVersion.SMPLX,
    }[kind]
    parts = {"body_pose": (24 if kind == "smpl" else 22, 3)}
    if kind != "smpl":
        parts.update(left_hand_pose=(15, 3), right_hand_pose=(15, 3))
    if kind == "smplx":
        parts.update(head_pose=(3, 3), expression_parameters=(10,))
    codec = smplcodec.SMPLCodec(
        smpl_version=version,
        gender=smplcodec.SMPLGender.FEMALE,
        shape_parameters=rng.normal(size=16).astype(np.float32),
        frame_count=F,
        frame_rate=24.0,
        body_translation=rng.normal(size=(F, 3)).astype(np.float32),
        **{name: rng.normal(size=(F,) + shape).astype(np.float32) for name, shape in parts.items()},
    )
    path = tmp_path / "avatar.smpl"
    codec.write(path)
    motion = read_motion(path)
    assert (motion.kind, motion.gender, motion.fps, motion.up_axis) == (kind, "female", 24.0, "Y")
    np.testing.assert_array_equal(motion.poses, codec.full_pose.reshape(F, -1))
    np.testing.assert_array_equal(motion.trans, codec.body_translation)
    np.testing.assert_array_equal(motion.betas, codec.shape_parameters)
    if kind == "smplx":
        np.testing.assert_array_equal(motion.expression, codec.expression_parameters)


def test_smpl_codec_shape_only_and_bad_headers(tmp_path):
    path = tmp_path / "shape.smpl"
    np.savez_compressed(
        path.open("wb"),
        codecVersion=np.int32(2),
        smplVersion=np.int32(1),
        gender=np.int32(1),
        shapeParameters=np.ones(16, np.float32),
    )
    motion = read_motion(path)
    assert motion.kind == "smplh" and motion.num_frames == 1 and not motion.poses.any() and motion.gender == "male"
    cases = {
        "huge.smpl": dict(
            smplVersion=np.int32(2),
            frameCount=np.int32(10**9),
            frameRate=np.float32(30),
            bodyPose=np.zeros((2, 22, 3), np.float32),
        ),
        "mismatch.smpl": dict(
            smplVersion=np.int32(2),
            frameCount=np.int32(3),
            frameRate=np.float32(30),
            bodyPose=np.zeros((2, 22, 3), np.float32),
        ),
        "supr.smpl": dict(smplVersion=np.int32(3), frameCount=np.int32(1), bodyPose=np.zeros((1, 22, 3))),
        "norate.smpl": dict(smplVersion=np.int32(0), frameCount=np.int32(2), bodyPose=np.zeros((2, 24, 3))),
        "nan.smpl": dict(smplVersion=np.int32(0), frameCount=np.int32(1), bodyPose=np.full((1, 24, 3), np.nan)),
    }
    for name, arrays in cases.items():
        with open(tmp_path / name, "wb") as f:
            np.savez_compressed(f, codecVersion=np.int32(2), **arrays)
        with pytest.raises(MotionFileError) as err:
            read_motion(tmp_path / name)
        assert name in str(err.value), str(err.value)


# -- EasyMocap ----------------------------------------------------------------------------------------------------


def easymocap_forward(model, record):
    """EasyMocap's model equation, written independently: V = R(Rh) M(poses, shapes) + Th.

    ``M`` is the model with the hands expanded from 6 PCA coefficients with a flat mean and (SMPL-X) the
    head moved from the end of the 87 values to its standard place.
    """
    raw = np.asarray(record["poses"], np.float64)[0]
    pose = np.zeros(model.pose_size)
    kind = model.kind
    pose[:66] = raw[:66]
    if kind == "smpl":
        pose[:] = raw
    else:
        start = 3 * layouts.JOINT_NAMES[kind].index("left_index1")
        pose[start : start + 45] = raw[66:72] @ model.hands_components_left[:6]
        pose[start + 45 : start + 90] = raw[72:78] @ model.hands_components_right[:6]
    if kind == "smplx":
        pose[joint(kind, "jaw")], pose[joint(kind, "left_eye_smplhf")] = raw[78:81], raw[81:84]
        pose[joint(kind, "right_eye_smplhf")] = raw[84:87]
    expression = record.get("expression")
    M = model.forward(
        np.asarray(record["shapes"])[0],
        pose,
        None if expression is None else np.asarray(expression)[0],
        dtype=np.float64,
    ).vertices[0]
    R = rotations.axis_angle_to_matrix(np.asarray(record["Rh"], np.float64)[0])
    return M @ R.T + np.asarray(record["Th"])[0]


def easymocap_person(kind, rng, person_id, shapes, root_zero=True):
    size = {"smpl": 72, "smplh": 78, "smplx": 87}[kind]
    poses = rng.normal(0, 0.4, (1, size))
    if root_zero:
        poses[0, :3] = 0
    record = {
        "id": person_id,
        "Rh": rng.normal(0, 1, (1, 3)).tolist(),
        "Th": rng.normal(0, 1, (1, 3)).tolist(),
        "poses": poses.tolist(),
        "shapes": shapes.tolist(),
    }
    if kind == "smplx":
        record["expression"] = rng.normal(0, 1, (1, 10)).tolist()
    return record


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("wrapped", [False, True])
def test_easymocap_folder_matches_its_model_equation(tmp_path, models, kind, wrapped):
    model = models[kind]
    rng = np.random.default_rng(7)
    shapes = rng.normal(0, 1, (1, 10))
    frames = []
    for i in range(4):
        people = [easymocap_person(kind, rng, 3, shapes, root_zero=i != 2), easymocap_person(kind, rng, 1, shapes)]
        frames.append(people)
        (tmp_path / "smpl").mkdir(exist_ok=True)
        content = {"annots": people} if wrapped else people
        (tmp_path / "smpl" / f"{i:06d}.json").write_text(json.dumps(content))
    motion = read_motion(tmp_path, model=model, fps=30, person=3)
    assert (motion.kind, motion.up_axis, motion.num_frames, motion.fps) == (kind, "Z", 4, 30.0)
    got = vertices(model, motion)
    for i, people in enumerate(frames):
        np.testing.assert_allclose(got[i], easymocap_forward(model, people[0]), atol=1e-10)
    lowest = read_motion(tmp_path, model=model, fps=30)  # default person: the lowest id
    np.testing.assert_allclose(vertices(model, lowest)[1], easymocap_forward(model, frames[1][1]), atol=1e-10)
    single = read_motion(tmp_path / "smpl" / "000001.json", model=model, person=3, up_axis="Y")
    assert single.num_frames == 1 and single.up_axis == "Y"
    np.testing.assert_allclose(vertices(model, single)[0], easymocap_forward(model, frames[1][0]), atol=1e-10)


def test_easymocap_errors(tmp_path, models):
    rng = np.random.default_rng(8)
    folder = tmp_path / "out"
    (folder / "smpl").mkdir(parents=True)
    for i in range(2):
        people = [easymocap_person("smplx", rng, 0, np.zeros((1, 10)))]
        (folder / "smpl" / f"{i:06d}.json").write_text(json.dumps(people))
    with pytest.raises(MotionFileError, match="model="):
        read_motion(folder)
    with pytest.raises(MotionFileError, match="fps="):
        read_motion(folder, model=models["smplx"])
    with pytest.raises(MotionFileError, match="smplx model"):
        read_motion(folder, model=models["smplh"], fps=30)
    with pytest.raises(MotionFileError, match="person id 5") as err:
        read_motion(folder, model=models["smplx"], fps=30, person=5)
    assert "000000.json" in str(err.value)
    (folder / "smpl" / "000002.json").write_text('[{"id": 0, "Rh": [[0, 0]], "Th": [[0,0,0]], "poses": [[0]]}]')
    with pytest.raises(MotionFileError, match="000002.json.*Rh"):
        read_motion(folder, model=models["smplx"], fps=30)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(MotionFileError, match="no EasyMocap frames"):
        read_motion(empty, model=models["smplx"], fps=30)


# -- SMPLify-X / AGORA-style .pkl ---------------------------------------------------------------------------------


def smplify_params(rng, hands=12, body=63):
    return {
        "betas": rng.normal(0, 1, (1, 10)),
        "expression": rng.normal(0, 1, (1, 10)),
        "global_orient": rng.normal(0, 0.5, (1, 3)),
        "body_pose": rng.normal(0, 0.3, (1, body)),
        "left_hand_pose": rng.normal(0, 0.5, (1, hands)),
        "right_hand_pose": rng.normal(0, 0.5, (1, hands)),
        "jaw_pose": rng.normal(0, 0.2, (1, 3)),
        "leye_pose": rng.normal(0, 0.2, (1, 3)),
        "reye_pose": rng.normal(0, 0.2, (1, 3)),
    }


def write_pickle(path, data, protocol=2):
    with open(path, "wb") as f:
        pickle.dump({k: np.asarray(v, np.float32) for k, v in data.items()}, f, protocol=protocol)  # SMPLify-X: 2
    return path


@pytest.mark.parametrize("protocol", [2, 5])
def test_smplify_x_pca_hands_and_camera_to_y_up(tmp_path, models, protocol):
    model = models["smplx"]
    rng = np.random.default_rng(9)
    params = smplify_params(rng)
    angle = 0.3
    cam_R = rotations.axis_angle_to_matrix(np.array([0.0, angle, 0.0]))
    cam_t = np.array([0.1, 0.3, 4.0])
    path = write_pickle(
        tmp_path / "000.pkl", dict(params, camera_rotation=cam_R[None], camera_translation=cam_t[None]), protocol
    )
    params = {k: np.asarray(v, np.float32).astype(np.float64)[0] for k, v in params.items()}
    # the fit's own meaning: relaxed-referenced PCA hands, body in camera coordinates v_cam = R_c v + t_c (y down)
    pose = np.zeros(165)
    pose[:3], pose[3:66] = params["global_orient"], params["body_pose"]
    pose[66:69], pose[69:72], pose[72:75] = params["jaw_pose"], params["leye_pose"], params["reye_pose"]
    pose[75:120] = params["left_hand_pose"] @ model.hands_components_left[:12] + model.hands_mean_left
    pose[120:] = params["right_hand_pose"] @ model.hands_components_right[:12] + model.hands_mean_right
    body = model.forward(params["betas"], pose, params["expression"], dtype=np.float64).vertices[0]
    cam_R32 = cam_R.astype(np.float32).astype(np.float64)
    camera = body @ cam_R32.T + cam_t.astype(np.float32)
    want = camera * np.array([1, -1, -1])  # OpenCV (y down, z forward) -> Y-up: Rx(180)

    motion = read_motion(path, model=model)
    assert (motion.num_frames, motion.up_axis, motion.kind) == (1, "Y", "smplx")
    # 1e-7: the float32 camera rotation is orthonormal only to ~6e-8, the reader turns it into an exact rotation
    np.testing.assert_allclose(vertices(model, motion)[0], want, atol=1e-7)
    raw = read_motion(path, model=model, up_axis="Y")  # parameters as stored, no camera
    np.testing.assert_allclose(vertices(model, raw)[0], body, atol=1e-9)


def test_smplify_x_refusals(tmp_path, models):
    rng = np.random.default_rng(10)
    vposer = write_pickle(tmp_path / "vposer.pkl", smplify_params(rng, body=32))
    with pytest.raises(MotionFileError, match="VPoser") as err:
        read_motion(vposer, model=models["smplx"])
    assert "vposer.pkl" in str(err.value)
    fit = write_pickle(tmp_path / "fit.pkl", smplify_params(rng))
    with pytest.raises(MotionFileError, match="model="):
        read_motion(fit)

    class Hostile:
        def __reduce__(self):
            return (print, ("pwned",))

    hostile = tmp_path / "hostile.pkl"
    hostile.write_bytes(pickle.dumps({"body_pose": Hostile()}))
    with pytest.raises(MotionFileError, match="hostile.pkl.*(unsafe|refused)"):
        read_motion(hostile, model=models["smplx"])
    bad_camera = write_pickle(tmp_path / "camera.pkl", dict(smplify_params(rng), camera_translation=np.zeros((1, 2))))
    truncated = tmp_path / "truncated.pkl"
    truncated.write_bytes(fit.read_bytes()[:200])
    nan = write_pickle(tmp_path / "nan.pkl", dict(smplify_params(rng), global_orient=np.full((1, 3), np.nan)))
    two = write_pickle(tmp_path / "two.pkl", dict(smplify_params(rng), body_pose=np.zeros((2, 63))))
    for path in (bad_camera, truncated, nan, two):
        with pytest.raises(MotionFileError) as err:
            read_motion(path, model=models["smplx"])
        assert path.name in str(err.value)


# -- single poses (the add-on's write_pose JSON / npz) ------------------------------------------------------------


def test_write_pose_json_and_npz_are_one_frame_motions(tmp_path, models):
    rng = np.random.default_rng(11)
    pose, trans, betas = rng.normal(size=165), rng.normal(size=3), rng.normal(size=10)
    record = {
        "pose": pose.tolist(),
        "trans": trans.tolist(),
        "betas": betas.tolist(),
        "expression": [0.5] * 10,
        "model": "smplx",
        "gender": "female",
        "joint_names": layouts.JOINT_NAMES["smplx"],
    }
    path = tmp_path / "pose.json"
    path.write_text(json.dumps(record))
    motion = read_motion(path)  # a full pose needs no model
    assert (motion.num_frames, motion.kind, motion.gender, motion.up_axis) == (1, "smplx", "female", "Y")
    np.testing.assert_array_equal(motion.poses[0], pose)
    np.testing.assert_array_equal(motion.trans[0], trans)
    np.testing.assert_array_equal(motion.expression[0], [0.5] * 10)
    npz = tmp_path / "pose.npz"
    np.savez(npz, pose=pose, trans=trans, betas=betas, expression=np.zeros(10))
    np.testing.assert_array_equal(read_motion(npz, model=models["smplx"]).poses[0], pose)
    with pytest.warns(UserWarning):
        as_smplh = read_motion(npz, model=models["smplh"])
    assert as_smplh.kind == "smplh"
    path.write_text(json.dumps(dict(record, model="smplh")))
    with pytest.raises(MotionFileError, match="smplh"):
        read_motion(path)
    np.savez(npz, pose=rotations.axis_angle_to_matrix(pose.reshape(55, 3)))  # HMR-style rotation matrices
    np.testing.assert_allclose(read_motion(npz).poses[0], pose, atol=1e-9)
    np.savez(npz, pose=np.zeros((3, 165)))
    with pytest.raises(MotionFileError, match="3 frames"):  # never silently frame 0 of a motion
        read_motion(npz)


def test_motion_as_json(tmp_path):
    poses = np.random.default_rng(16).normal(size=(4, 72))
    path = tmp_path / "motion.json"
    path.write_text(json.dumps({"poses": poses.tolist(), "trans": np.zeros((4, 3)).tolist(), "fps": 24}))
    motion = read_motion(path)
    assert (motion.kind, motion.num_frames, motion.fps, motion.up_axis) == ("smpl", 4, 24.0, "Y")
    np.testing.assert_array_equal(motion.poses, poses)


# -- writers: round trips and other readers -------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_amass_write_read_round_trip_is_exact(tmp_path, kind):
    motion = random_motion(kind, seed=12)
    path = write_amass_npz(tmp_path / f"{kind}.npz", motion)
    with np.load(path, allow_pickle=False) as npz:  # numeric / fixed-width unicode only
        keys = set(npz.files)
        assert npz["gender"].dtype.kind == "U" and str(npz["surface_model_type"]) == kind
        rate_keys = {
            "smpl": {"mocap_framerate", "mocap_frame_rate"},
            "smplh": {"mocap_framerate"},
            "smplx": {"mocap_frame_rate"},
        }[kind]
        assert rate_keys <= keys and not ({"mocap_framerate", "mocap_frame_rate"} - rate_keys) & keys
        np.testing.assert_array_equal(npz["root_orient"], motion.poses[:, :3])
        np.testing.assert_array_equal(npz["pose_body"], motion.poses[:, 3:66])
        if kind == "smplx":
            np.testing.assert_array_equal(npz["pose_jaw"], motion.poses[:, 66:69])
            np.testing.assert_array_equal(npz["pose_eye"], motion.poses[:, 69:75])
            np.testing.assert_array_equal(npz["pose_hand"], motion.poses[:, 75:])
    back = read_motion(path)
    assert (back.kind, back.gender, back.fps, back.up_axis) == (kind, motion.gender, motion.fps, "Z")
    np.testing.assert_allclose(back.poses, motion.poses, atol=1e-12)
    np.testing.assert_allclose(back.trans, motion.trans, atol=1e-12)
    np.testing.assert_array_equal(back.betas, motion.betas)
    if kind == "smplx":
        np.testing.assert_array_equal(back.expression, motion.expression)


@pytest.mark.parametrize("kind", KINDS)
def test_smpl_codec_write_read_round_trip(tmp_path, models, kind):
    motion = random_motion(kind, seed=13, up_axis="Y", gender="female")
    path = write_smpl_codec(tmp_path / f"{kind}.smpl", motion)
    with np.load(path, allow_pickle=False) as npz:
        assert npz["codecVersion"].dtype == np.int32 and int(npz["codecVersion"]) == 2
        assert int(npz["smplVersion"]) == KINDS.index(kind) and int(npz["gender"]) == 2
        assert all(npz[k].dtype in (np.int32, np.float32) for k in npz.files)
        body_joints = 24 if kind == "smpl" else 22
        assert npz["bodyPose"].shape == (motion.num_frames, body_joints, 3)
    back = read_motion(path)
    assert (back.kind, back.gender, back.up_axis, back.num_frames) == (kind, "female", "Y", motion.num_frames)
    assert back.fps == pytest.approx(motion.fps)
    np.testing.assert_allclose(back.poses, motion.poses, atol=1e-5)
    np.testing.assert_allclose(back.trans, motion.trans, atol=1e-6)
    np.testing.assert_allclose(back.betas, motion.betas, atol=1e-6)
    # a Z-up motion is written Y-up: same body, re-framed with the model
    z_up = motion.reframe("Z", models[kind])
    with pytest.raises(MotionFileError, match="model="):
        write_smpl_codec(tmp_path / "z.smpl", z_up)
    again = read_motion(write_smpl_codec(tmp_path / "z.smpl", z_up, model=models[kind]))
    np.testing.assert_allclose(vertices(models[kind], again), vertices(models[kind], motion), atol=2e-6)


@pytest.mark.parametrize("kind", KINDS)
def test_smpl_codec_files_load_in_smplcodec(tmp_path, kind):
    smplcodec = pytest.importorskip("smplcodec")
    motion = random_motion(kind, seed=14, up_axis="Y", gender="male", fps=59.94)
    path = write_smpl_codec(tmp_path / "motion.smpl", motion)
    codec = smplcodec.SMPLCodec.from_file(str(path))  # validates shapes and types on construction
    assert codec.smpl_version == KINDS.index(kind) and codec.gender == smplcodec.SMPLGender.MALE
    assert codec.frame_count == motion.num_frames and codec.frame_rate == pytest.approx(59.94)
    np.testing.assert_allclose(codec.full_pose.reshape(motion.num_frames, -1), motion.poses, atol=1e-6)
    np.testing.assert_allclose(codec.body_translation, motion.trans, atol=1e-6)
    if kind == "smplx":
        np.testing.assert_allclose(codec.expression_parameters, motion.expression, atol=1e-6)
    buffer = io.BytesIO()
    codec.write_to_buffer(buffer)  # and smplcodec can write it back out unchanged
    assert codec == smplcodec.SMPLCodec.from_file(io.BytesIO(buffer.getvalue()))
    # smplcodec's own AMASS importer splits our AMASS files by the layout we label them with
    amass = smplcodec.SMPLCodec.from_amass_npz(write_amass_npz(tmp_path / "amass.npz", motion.copy(up_axis="Z")))
    assert amass.smpl_version == KINDS.index(kind) and amass.frame_rate == pytest.approx(59.94)
    np.testing.assert_allclose(amass.full_pose.reshape(motion.num_frames, -1), motion.poses, atol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_amass_file_drives_smplx_lbs_to_the_core_vertices(tmp_path, kind):
    """A Y-up motion written as AMASS (re-framed to Z-up) gives, through smplx.lbs, the core's Y-up body rotated."""
    torch = pytest.importorskip("torch")
    lbs = pytest.importorskip("smplx.lbs").lbs
    arrays = offset_arrays(kind, 20)
    model = core.BodyModel.from_arrays(arrays)
    motion = random_motion(kind, seed=15, up_axis="Y")
    path = write_amass_npz(tmp_path / "amass.npz", motion, model=model)
    with np.load(path) as npz:
        poses, trans, betas = npz["poses"], npz["trans"], npz["betas"]
        expression = npz["expression"] if kind == "smplx" else np.zeros((len(poses), 0))
    V = arrays["v_template"].shape[0]
    dirs = np.concatenate([arrays["shapedirs"], arrays["exprdirs"]], axis=2)
    coeffs = np.concatenate([np.repeat(betas[None], len(poses), 0), expression], axis=1)
    with torch.no_grad():
        verts, _ = lbs(
            torch.tensor(coeffs),
            torch.tensor(poses),
            torch.tensor(arrays["v_template"]),
            torch.tensor(dirs),
            torch.tensor(arrays["posedirs"].reshape(3 * V, -1).T.copy()),
            torch.tensor(arrays["J_regressor"]),
            torch.tensor(arrays["parents"]),
            torch.tensor(arrays["weights"]),
        )
    z_up = verts.numpy() + trans[:, None]
    y_up = vertices(model, motion)
    np.testing.assert_allclose(z_up, y_up @ conversions.Y_UP_TO_Z_UP.T, atol=1e-7)


# -- bad input ----------------------------------------------------------------------------------------------------


def npz_with_huge_header(path):
    """A zip whose 'poses' member header claims 10^12 x 165 float64 values (and holds none)."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": (10**12, 165)})
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("poses.npy", header.getvalue())


def test_bad_files_raise_motion_file_errors(tmp_path, models):
    full = tmp_path / "full.npz"
    np.savez(full, poses=np.zeros((50, 165)), trans=np.zeros((50, 3)), betas=np.zeros(10), mocap_frame_rate=30.0)
    data = full.read_bytes()
    cases = {
        "missing.npz": None,
        "empty.npz": b"",
        "truncated.npz": data[: len(data) // 2],
        "garbage.npz": b"PK\x03\x04 definitely not a zip",
        "text.txt": b"hello",
        "bad.json": b"{not json",
        "wrongsize.json": json.dumps({"pose": [0.0] * 100}).encode(),
        "vposer.json": json.dumps({"pose": [0.0] * 32}).encode(),
    }
    for name, content in cases.items():
        if content is not None:
            (tmp_path / name).write_bytes(content)
    npz_with_huge_header(tmp_path / "huge.npz")
    np.savez(tmp_path / "nan.npz", poses=np.full((2, 156), np.nan), trans=np.zeros((2, 3)), mocap_framerate=30.0)
    np.savez(tmp_path / "frames.npz", poses=np.zeros((3, 156)), trans=np.zeros((2, 3)), mocap_framerate=30.0)
    np.savez(tmp_path / "layout.npz", poses=np.zeros((3, 66)), trans=np.zeros((3, 3)), mocap_framerate=30.0)
    np.savez(tmp_path / "rate.npz", poses=np.zeros((3, 156)), trans=np.zeros((3, 3)), mocap_framerate=-1.0)
    np.savez(
        tmp_path / "gender.npz", poses=np.zeros((3, 156)), trans=np.zeros((3, 3)), mocap_framerate=30.0, gender="robot"
    )
    names = list(cases) + ["huge.npz", "nan.npz", "frames.npz", "layout.npz", "rate.npz", "gender.npz"]
    for name in names:
        with pytest.raises(MotionFileError) as err:
            read_motion(tmp_path / name, model=models["smplx"])
        assert name in str(err.value), str(err.value)
        assert isinstance(err.value, ValueError)


def test_writers_are_atomic_and_leave_no_temporary_files(tmp_path, models):
    motion = random_motion("smplh", up_axis="Y")
    target = tmp_path / "out.npz"
    target.write_bytes(b"previous")
    with pytest.raises(MotionFileError):
        write_amass_npz(target, motion)  # Y-up without a model: refused before anything is written
    assert target.read_bytes() == b"previous"
    write_amass_npz(target, motion, model=models["smplh"])
    assert [p.name for p in tmp_path.iterdir()] == ["out.npz"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_motion(target).up_axis == "Z"


@pytest.mark.parametrize("fmt", ["npz", "smpl", "json"])
def test_corrupted_files_give_a_motion_or_a_motion_file_error(tmp_path, models, fmt):
    """Random byte flips and cuts of valid files: never another exception, never a motion with NaNs."""
    motion = random_motion("smplx", frames=3, seed=17, up_axis="Y")
    path = tmp_path / f"good.{fmt}"
    if fmt == "npz":
        write_amass_npz(path, motion, model=models["smplx"])
    elif fmt == "smpl":
        write_smpl_codec(path, motion)
    else:
        path.write_text(json.dumps({"pose": motion.poses[0].tolist(), "trans": [0, 0, 0], "model": "smplx"}))
    data = bytearray(path.read_bytes())
    rng = np.random.default_rng(18)
    for i in range(40):
        bad = bytearray(data)
        if i % 4 == 0:
            bad = bad[: rng.integers(0, len(bad))]
        else:
            for at in rng.integers(0, len(bad), rng.integers(1, 8)):
                bad[at] = rng.integers(0, 256)
        target = tmp_path / f"bad{i}.{fmt}"
        target.write_bytes(bytes(bad))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                got = read_motion(target, fps=30)
        except MotionFileError as err:
            assert target.name in str(err)
        else:
            assert np.all(np.isfinite(got.poses)) and np.all(np.isfinite(got.trans))
