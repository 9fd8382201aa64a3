# SPDX-License-Identifier: GPL-3.0-or-later
"""core.motion: Motion operations (to_kind, resample, reframe, slice) against closed forms (no bpy)."""

import warnings

import numpy as np
import pytest
from core.random_model import random_arrays

from smpl_blender_addon import core
from smpl_blender_addon.core import conversions, layouts, rotations
from smpl_blender_addon.core.motion import Motion, slerp

KINDS = ("smpl", "smplh", "smplx")


@pytest.fixture(scope="module")
def models():
    return {
        kind: core.BodyModel.from_arrays(random_arrays(kind, 200, seed=i), name=f"random-{kind}")
        for i, kind in enumerate(KINDS)
    }


def random_motion(kind, frames=7, seed=0, fps=30.0, up_axis="Y", num_betas=None):
    rng = np.random.default_rng(seed)
    size = 3 * len(layouts.JOINT_NAMES[kind])
    nb = num_betas or {"smpl": 10, "smplh": 16, "smplx": 10}[kind]
    return Motion(
        fps=fps,
        poses=rng.normal(0, 0.4, (frames, size)),
        trans=rng.normal(0, 0.5, (frames, 3)),
        betas=rng.normal(0, 1, nb),
        expression=rng.normal(0, 1, (frames, 10)) if kind == "smplx" else None,
        gender="female",
        kind=kind,
        up_axis=up_axis,
    )


def rotation_angle_between(r_a, r_b):
    """Angle (rad) of R(a)^T R(b) for axis-angle arrays (..., 3): 0 when they are the same rotation."""
    qa, qb = rotations.axis_angle_to_quaternion(r_a), rotations.axis_angle_to_quaternion(r_b)
    chord = np.minimum(np.linalg.norm(qa - qb, axis=-1), np.linalg.norm(qa + qb, axis=-1))  # q and -q: same rotation
    return 4 * np.arcsin(np.clip(chord / 2, 0, 1))  # precise near 0, unlike arccos of the dot product


# -- resampling -------------------------------------------------------------------------------------------------


def constant_velocity_motion(fps, seconds, kind="smplx", seed=0):
    """Every joint turns about its own fixed axis at its own constant rate; trans moves at constant speed.

    Returns the motion and the analytic ``(poses(t), trans(t))`` for any time array ``t``.
    """
    rng = np.random.default_rng(seed)
    J = len(layouts.JOINT_NAMES[kind])
    axes = rng.normal(size=(J, 3))
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    speeds = rng.uniform(-3.0, 3.0, J)  # rad/s: several full turns in a few seconds, so angles pass pi
    start = rng.uniform(-1, 1, J)
    velocity, origin = rng.normal(size=3), rng.normal(size=3)

    def poses(t):
        angles = start[None] + speeds[None] * np.asarray(t)[:, None]  # (T, J)
        return (angles[..., None] * axes[None]).reshape(len(t), -1)

    def trans(t):
        return origin + np.asarray(t)[:, None] * velocity

    t = np.arange(int(round(seconds * fps))) / fps
    motion = Motion(
        fps=fps,
        poses=poses(t),
        trans=trans(t),
        betas=np.zeros(10),
        kind=kind,
        expression=np.outer(t, np.arange(10.0)) if kind == "smplx" else None,
    )
    return motion, poses, trans


@pytest.mark.parametrize("source_fps", [59.94, 50.0, 120.0, 24.0])
def test_resample_by_time_keeps_duration_and_slerps_exactly(source_fps):
    motion, poses_at, trans_at = constant_velocity_motion(source_fps, 4.0)
    out = motion.resample(30.0)
    assert out.fps == 30.0
    expected_frames = int(np.floor(motion.duration * 30 + 1e-9)) + 1
    assert out.num_frames == expected_frames
    assert abs(out.duration - motion.duration) < 1 / 30  # never 1.67x or 2x too long (integer decimation)
    t = np.arange(out.num_frames) / 30.0
    # a constant angular velocity about a fixed axis is exactly what slerp reproduces between samples
    err = rotation_angle_between(out.poses.reshape(len(t), -1, 3), poses_at(t).reshape(len(t), -1, 3))
    assert err.max() < 1e-9
    np.testing.assert_allclose(out.trans, trans_at(t), atol=1e-12)
    np.testing.assert_allclose(out.expression, np.outer(t, np.arange(10.0)), atol=1e-9)
    assert np.linalg.norm(out.poses.reshape(len(t), -1, 3), axis=-1).max() <= np.pi + 1e-12  # canonical output


def test_resample_59_94_to_30_frame_count_and_times():
    motion, _, _ = constant_velocity_motion(59.94, 10.0, kind="smpl")
    assert motion.num_frames == 599
    out = motion.resample(30)
    # 599 frames span 598 / 59.94 = 9.9766 s -> output frames at k / 30 s for k = 0..299
    assert out.num_frames == 300
    assert out.duration == pytest.approx(299 / 30)


def test_resample_up_keeps_samples_at_common_times():
    motion = random_motion("smplh", frames=11, fps=25.0)
    out = motion.resample(50.0)
    assert out.num_frames == 21
    err = rotation_angle_between(out.poses[::2].reshape(11, -1, 3), motion.poses.reshape(11, -1, 3))
    assert err.max() < 1e-9  # even output frames fall exactly on input frames
    np.testing.assert_allclose(out.trans[::2], motion.trans, atol=1e-12)


def test_slerp_takes_the_shortest_arc():
    # 0.9 pi and 1.1 pi about z are 0.2 pi apart through pi, not 1.8 pi apart through the identity
    q0 = rotations.axis_angle_to_quaternion(np.array([0, 0, 0.9 * np.pi]))
    q1 = rotations.axis_angle_to_quaternion(np.array([0, 0, -0.9 * np.pi]))  # = 1.1 pi about +z
    mid = slerp(q0, q1, 0.5)
    R = rotations.quaternion_to_matrix(mid)
    np.testing.assert_allclose(R, rotations.axis_angle_to_matrix(np.array([0, 0, np.pi])), atol=1e-12)
    quarter = rotations.quaternion_to_axis_angle(slerp(q0, q1, 0.25))
    assert rotation_angle_between(quarter, np.array([0, 0, 0.95 * np.pi])) < 1e-12
    np.testing.assert_allclose(slerp(q0, q0, 0.3), q0, atol=1e-15)  # equal inputs: no 0/0


def test_resample_single_frame_and_same_rate():
    one = random_motion("smpl", frames=1)
    assert one.resample(60).num_frames == 1 and one.resample(60).fps == 60
    motion = random_motion("smpl", frames=4)
    same = motion.resample(30.0)
    np.testing.assert_array_equal(same.poses, motion.poses)
    with pytest.raises(ValueError):
        motion.resample(0)


# -- layouts, slicing, re-framing -------------------------------------------------------------------------------


def test_to_kind_maps_joints_by_name_and_handles_betas():
    smplh = random_motion("smplh", frames=3)
    with pytest.warns(UserWarning, match="betas do not carry"):
        smplx = smplh.to_kind("smplx")
    names_h, names_x = layouts.JOINT_NAMES["smplh"], layouts.JOINT_NAMES["smplx"]
    for name in ("left_wrist", "left_index1", "right_thumb3"):
        np.testing.assert_array_equal(
            smplx.poses[:, 3 * names_x.index(name) :][:, :3], smplh.poses[:, 3 * names_h.index(name) :][:, :3]
        )
    assert not smplx.poses[:, 66:75].any()  # jaw and eyes: AMASS SMPL+H has none
    assert smplx.betas.size == 0 and smplx.kind == "smplx"
    with pytest.warns(UserWarning, match="first 10 betas"):
        smpl = smplh.to_kind("smpl")
    np.testing.assert_array_equal(smpl.betas, smplh.betas[:10])  # SMPL and SMPL+H share a shape space
    np.testing.assert_array_equal(smpl.poses[:, :66], smplh.poses[:, :66])
    assert not smpl.poses[:, 66:].any()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        back = smpl.to_kind("smplh")  # 10 SMPL betas all carry over: no warning
    np.testing.assert_array_equal(back.betas, smplh.betas[:10])
    x = random_motion("smplx", frames=2)
    with pytest.warns(UserWarning) as caught:
        assert x.to_kind("smplh").expression is None
    assert any("expression" in str(w.message) for w in caught) and any("betas" in str(w.message) for w in caught)


def test_slice_and_duration():
    motion = random_motion("smplx", frames=10, fps=20.0)
    assert motion.duration == pytest.approx(9 / 20)
    part = motion.slice(2, 5)
    assert part.num_frames == 3
    np.testing.assert_array_equal(part.poses, motion.poses[2:5])
    np.testing.assert_array_equal(part.expression, motion.expression[2:5])
    part.poses[:] = 0
    assert motion.poses[2].any()  # a copy, not a view


@pytest.mark.parametrize("kind", KINDS)
def test_reframe_keeps_the_body_and_inverts(models, kind):
    model = models[kind]
    motion = random_motion(kind, frames=4, seed=3)
    z_up = motion.reframe("Z", model)
    assert z_up.up_axis == "Z"
    before = model.forward(motion.betas, motion.poses, motion.expression, motion.trans, dtype=np.float64)
    after = model.forward(z_up.betas, z_up.poses, z_up.expression, z_up.trans, dtype=np.float64)
    # the Z-up body is the Y-up body rotated by Rx(+90): (x, y, z) -> (x, -z, y)
    np.testing.assert_allclose(after.vertices, before.vertices @ conversions.Y_UP_TO_Z_UP.T, atol=1e-10)
    np.testing.assert_array_equal(z_up.poses[:, 3:], motion.poses[:, 3:])
    back = z_up.reframe("Y", model)
    np.testing.assert_allclose(back.trans, motion.trans, atol=1e-12)
    assert rotation_angle_between(back.poses[:, :3], motion.poses[:, :3]).max() < 1e-9


def test_reframe_needs_the_matching_model(models):
    motion = random_motion("smplh")
    with pytest.raises(ValueError, match="model"):
        motion.reframe("Z", None)
    with pytest.raises(ValueError, match="smplh"):
        motion.reframe("Z", models["smplx"])


def test_motion_checks_its_fields():
    with pytest.raises(ValueError, match="NaN"):
        Motion(fps=30, poses=np.full((2, 72), np.nan), trans=np.zeros((2, 3)), betas=np.zeros(10), kind="smpl")
    with pytest.raises(ValueError):
        Motion(fps=30, poses=np.zeros((2, 165)), trans=np.zeros((2, 3)), betas=(), kind="smpl")
    with pytest.raises(ValueError, match="up_axis"):
        Motion(fps=30, poses=np.zeros((2, 72)), trans=np.zeros((2, 3)), betas=(), kind="smpl", up_axis="X")


def test_resample_timing_for_any_rates():
    """For any pair of rates: frames at k / fps, none past the last input frame, the last within one frame of it."""
    hypothesis = pytest.importorskip("hypothesis")
    st = hypothesis.strategies

    @hypothesis.settings(max_examples=60, deadline=None, derandomize=True)
    @hypothesis.given(st.floats(1.0, 240.0), st.floats(1.0, 240.0), st.integers(2, 120))
    def check(source_fps, target_fps, frames):
        t = np.arange(frames) / source_fps
        motion = Motion(
            fps=source_fps, poses=np.zeros((frames, 72)), trans=np.stack([t, 2 * t, -t], axis=1), betas=(), kind="smpl"
        )
        out = motion.resample(target_fps)
        assert out.duration <= motion.duration + 1e-9
        assert motion.duration - out.duration < 1 / target_fps + 1e-9
        np.testing.assert_allclose(out.trans[:, 0], np.arange(out.num_frames) / target_fps, atol=1e-9)

    check()
