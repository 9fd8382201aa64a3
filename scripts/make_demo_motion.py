# SPDX-License-Identifier: GPL-3.0-or-later
"""Write the bundled demo motion ``assets/demo_motion_smplx.npz``: a procedural SMPL-X walk (CC0, no capture data).

    .venv/bin/python scripts/make_demo_motion.py [--out assets/demo_motion_smplx.npz]

Four seconds at 30 fps (120 frames), AMASS-style (Z-up, ``write_amass_npz``): a walk cycle (hip / knee / ankle
flexion sines with the phases of a human gait, arms swinging opposite to the legs, pelvis and spine counter-rotating,
relaxed finger curls), then the right arm rises and waves with an open hand while the jaw opens and the face
smiles (expression 1). The root translation is not invented: the stance foot (the lower one) is pinned to the
floor, so the body advances by exactly what its legs push (no foot sliding) and stands on the floor (Z = 0) of the
built-in open SMPL-X neutral body. The output is byte-identical on every run (fixed zip timestamps).
"""

import argparse
import pathlib
import sys
import zipfile

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from smpl_blender_addon import core  # noqa: E402
from smpl_blender_addon.core.formats import write_amass_npz  # noqa: E402
from smpl_blender_addon.core.motion import Motion  # noqa: E402
from smpl_blender_addon.core.rotations import axis_angle_to_matrix, matrix_to_axis_angle  # noqa: E402

FPS = 30.0
NUM_FRAMES = 120
GAIT_PERIOD_S = 1.1  # one stride (two steps): ~109 steps / min, an ordinary walking cadence
WAVE_START_S = 2.6  # the right arm starts rising; the wave itself is 2.5 Hz
FINGERS = ("index", "middle", "pinky", "ring")
# Flexion of the three phalanges of a finger at full curl (rad); the thumb bends less.
FINGER_CURL = np.array([0.9, 1.0, 0.7])
THUMB_CURL = np.array([0.2, 0.35, 0.4])


def smooth_step(t, start, duration):
    """0 before ``start``, 1 after ``start + duration``, C1-smooth in between. t: (F,)."""
    x = np.clip((t - start) / duration, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def bump(x, power):
    """A periodic hump ``max(0, cos x) ** power``: 1 at x = 0, 0 for half of the period. x: (F,)."""
    return np.maximum(0.0, np.cos(x)) ** power


def rot(axis, angle):
    """(F, 3, 3) rotations about the model-space ``axis`` ("x", "y" or "z") by ``angle`` (F,) radians."""
    vec = np.zeros((len(angle), 3))
    vec[:, "xyz".index(axis)] = angle
    return axis_angle_to_matrix(vec)


def leg_angles(phase):
    """Hip flexion (+ = thigh forward), knee flexion and ankle plantar flexion (rad) at gait ``phase`` (F,).

    Phase 0: the leg passes under the body going forward (mid swing); pi/2: heel strike, hip at its most flexed;
    -pi/2: toe off, hip at its most extended. The knee bends ~60 deg in early swing and ~15 deg after heel strike;
    the ankle plantar-flexes at push-off and dorsiflexes (toes up) through swing.
    """
    hip = 0.12 + 0.38 * np.sin(phase)
    knee = 0.08 + 0.95 * bump(phase + 0.45, 3) + 0.22 * bump(phase - 2.1, 6)
    ankle = 0.30 * bump(phase + 1.75, 6) - 0.15 * bump(phase - 0.2, 2)
    return hip, knee, ankle


def walk_rotations(t, names):
    """Local joint rotations of the walk and the wave: ``{joint name: (F, 3, 3)}`` in SMPL model axes (Y up,
    the body facing +Z, its left at +X). Joints not listed stay at rest."""
    phase = 2.0 * np.pi * t / GAIT_PERIOD_S
    zero = np.zeros_like(t)
    R = {}
    for side, offset in (("left", 0.0), ("right", np.pi)):
        hip, knee, ankle = leg_angles(phase + offset)
        # flexing the hip moves the thigh to +Z: a negative rotation about X (positive for knee, ankle)
        R[f"{side}_hip"] = rot("x", -hip)
        R[f"{side}_knee"] = rot("x", knee)
        R[f"{side}_ankle"] = rot("x", ankle)
    # the pelvis turns toward the swinging leg; the chest turns back, so the shoulders stay square
    R["pelvis"] = rot("y", 0.10 * np.sin(phase)) @ rot("z", 0.03 * np.cos(phase))
    for name in ("spine1", "spine2", "spine3"):
        R[name] = rot("y", -0.055 * np.sin(phase)) @ rot("x", np.full_like(t, 0.03))
    R["neck"] = rot("y", 0.02 * np.sin(phase))
    # arms hang ~70 deg down and swing opposite to the leg of their side
    wave = smooth_step(t, WAVE_START_S, 0.45)
    swing = 0.32 * np.sin(phase)
    R["left_shoulder"] = rot("x", swing) @ rot("z", np.full_like(t, -1.22))
    R["left_elbow"] = rot("y", -(0.25 + 0.2 * np.maximum(0.0, -np.sin(phase))))
    right_swing = rot("x", -swing * (1 - wave)) @ rot("z", 1.22 - 1.5 * wave)  # rises to just above horizontal
    R["right_shoulder"] = right_swing
    waving = 0.35 * np.sin(2.0 * np.pi * 2.5 * (t - WAVE_START_S)) * smooth_step(t, WAVE_START_S + 0.35, 0.3)
    # forearm up and swinging in the frontal plane (about Z); half a pronation turns the palm to the front
    R["right_elbow"] = rot("z", -(0.25 + 1.35 * wave) + waving) @ rot("x", -0.8 * wave)
    R["right_wrist"] = rot("x", -0.6 * wave)
    R["jaw"] = rot("x", 0.32 * smooth_step(t, 3.3, 0.35))
    R["left_eye_smplhf"] = R["right_eye_smplhf"] = rot("y", -0.25 * wave)
    curl = {"left": np.full_like(t, 0.55), "right": 0.55 * (1 - wave) + 0.08 * wave}  # open hand while waving
    for side, sign in (("left", -1.0), ("right", 1.0)):  # fingers curl about -Z on the left, +Z on the right
        for finger in FINGERS:
            for k in range(3):
                R[f"{side}_{finger}{k + 1}"] = rot("z", sign * FINGER_CURL[k] * curl[side])
        for k in range(3):
            R[f"{side}_thumb{k + 1}"] = rot("y", -sign * THUMB_CURL[k] * curl[side]) @ rot("z", zero)
    unknown = set(R) - set(names)
    assert not unknown, unknown
    return R


def full_pose(rotations, names, num_frames):
    """(F, 3J) axis-angle pose in the SMPL-X layout from ``{joint name: (F, 3, 3)}``."""
    pose = np.zeros((num_frames, len(names), 3))
    for name, mats in rotations.items():
        pose[:, names.index(name)] = matrix_to_axis_angle(mats)
    return pose.reshape(num_frames, -1)


def expression_curve(t, num_expressions):
    """(F, ne): expression component 1 (a smile on the open body) ramps in with the wave."""
    expression = np.zeros((len(t), num_expressions))
    expression[:, 0] = 1.5 * smooth_step(t, WAVE_START_S + 0.3, 0.5)
    return expression


def grounded_translation(model, poses, expression):
    """(F, 3) Y-up ``transl`` that keeps the stance foot planted and the lowest vertex on the floor (y = 0).

    Each frame the lower of the two foot joints is the stance foot; the body moves by minus that foot's motion
    relative to the pelvis, so it advances without sliding. The height is the per-frame lowest vertex.
    """
    out = model.forward(pose=poses, expression=expression, dtype=np.float64)
    feet = out.joints[:, [model.joint_names.index("left_foot"), model.joint_names.index("right_foot")]]
    stance = np.argmin(feet[:, :, 1], axis=1)  # (F,) 0 left, 1 right
    frames = np.arange(len(poses) - 1)
    step = feet[frames + 1, stance[frames], :] - feet[frames, stance[frames], :]  # (F-1, 3) foot motion
    trans = np.zeros((len(poses), 3))
    trans[1:, [0, 2]] = -np.cumsum(step[:, [0, 2]], axis=0)
    trans[:, 1] = -out.vertices[:, :, 1].min(axis=1)
    return trans


def demo_motion(model):
    """The demo walk as a Y-up SMPL-X :class:`Motion` for ``model`` (its floor and foot joints)."""
    t = np.arange(NUM_FRAMES) / FPS
    names = model.joint_names
    poses = full_pose(walk_rotations(t, names), names, NUM_FRAMES)
    expression = expression_curve(t, model.num_expressions)
    trans = grounded_translation(model, poses, expression)
    return Motion(
        fps=FPS,
        poses=poses,
        trans=trans,
        betas=np.zeros(model.num_betas),
        expression=expression,
        gender="neutral",
        kind="smplx",
        up_axis="Y",
        source=None,
    )


def fix_zip_timestamps(path):
    """Rewrite the .npz with every member dated 1980-01-01, so that rebuilding gives the same bytes."""
    with zipfile.ZipFile(path) as src:
        members = [(info, src.read(info)) for info in src.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as dst:
        for info, data in members:
            fixed = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            fixed.external_attr = 0o644 << 16
            dst.writestr(fixed, data)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "assets" / "demo_motion_smplx.npz"))
    args = ap.parse_args(argv)
    model = core.load_model("open-smplx", gender="neutral")
    motion = demo_motion(model)
    write_amass_npz(args.out, motion, model)
    fix_zip_timestamps(args.out)
    speed = np.linalg.norm(motion.trans[-1, [0, 2]] - motion.trans[0, [0, 2]]) / motion.duration
    print(f"wrote {args.out}: {motion.num_frames} frames at {motion.fps:g} fps, walking {speed:.2f} m/s")


if __name__ == "__main__":
    main()
