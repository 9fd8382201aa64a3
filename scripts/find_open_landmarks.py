# SPDX-License-Identifier: GPL-3.0-or-later
"""Pick the keypoint landmark vertices (nose, eyes, ears, toes, heels) of the open bodies by geometry and print them.

The open SMPL and SMPL-X bodies share their first 13380 vertices (the MakeHuman body; SMPL-X adds the eyeballs), so
one table serves both; ``core/fitting/landmarks.py`` stores what this prints. Rules, on the rest mesh of
``open-smplx`` (Y up, face +Z, the body's left +X), left side first, the right side its mirror image:

* nose: the most forward vertex on the mid-plane above the neck joint;
* eye: the body vertex nearest to the front pole of the eyeball (on the eyelid margin, in front of the pupil);
* ear: the deepest point of the concha (the ear canal area): the most medial vertex within 12 mm, in the side view,
  of the centre of the ear (the head's vertices more than 90 % of its half-width out);
* big toe: the most forward vertex of the foot; small toe: the most forward vertex of the most lateral toe;
* heel: the most backward vertex within 2 cm of the sole.

``--image out.png`` draws the picks on the head and the feet with Pillow, to check them by eye.

    PYTHONPATH=. python scripts/find_open_landmarks.py --image /tmp/open_landmarks.png
"""

import argparse
import pathlib
import sys

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
from smpl_blender_addon import core  # noqa: E402

BODY_VERTICES = 13380  # the MakeHuman body group; open-smplx adds two eyeballs after it


def left_landmarks(vertices, joints):
    """``{name: vertex}`` of the nose and the body's left landmarks on the rest mesh of open-smplx."""
    body, eyeballs = vertices[:BODY_VERTICES], vertices[BODY_VERTICES:]
    x, y, z = body.T
    picks = {}
    face = np.flatnonzero((np.abs(x) < 1e-6) & (y > joints["neck"][1]))
    picks["nose"] = face[np.argmax(z[face])]
    eyeball = eyeballs[eyeballs[:, 0] > 0]
    pole = eyeball[np.argmax(eyeball[:, 2])]
    picks["left_eye"] = int(np.argmin(np.linalg.norm(body - pole, axis=1)))
    head = (y > joints["head"][1]) & (y < joints["head"][1] + 0.12) & (x > 0)
    ear = head & (x > 0.9 * x[head].max())
    centre = body[ear, 1:].mean(axis=0)
    concha = np.flatnonzero(head & (x > 0.5 * x[head].max()) & (np.linalg.norm(body[:, 1:] - centre, axis=1) < 0.012))
    picks["left_ear"] = concha[np.argmin(x[concha])]
    foot = np.flatnonzero((y < joints["left_ankle"][1] + 0.03) & (x > 0))
    picks["left_big_toe"] = foot[np.argmax(z[foot])]
    toes = foot[z[foot] > joints["left_foot"][2] + 0.02]
    little = toes[x[toes] > x[toes].max() - 0.012]
    picks["left_small_toe"] = little[np.argmax(z[little])]
    sole = foot[y[foot] < y[foot].min() + 0.02]
    picks["left_heel"] = sole[np.argmin(z[sole])]
    return {name: int(v) for name, v in picks.items()}


def mirrored(vertices, picks):
    """The picks with the right side added: the vertex at the mirror image (x -> -x) of each left one."""
    body = vertices[:BODY_VERTICES]
    out = dict(picks)
    for name, v in picks.items():
        if name.startswith("left_"):
            distance = np.linalg.norm(body - body[v] * (-1, 1, 1), axis=1)
            mirror = int(np.argmin(distance))
            if distance[mirror] > 1e-5:
                raise ValueError(f"{name}: no mirror vertex of {v} (nearest {distance[mirror] * 1000:.2f} mm away)")
            out["right_" + name[5:]] = mirror
    return out


def render(vertices, faces, right, up, centre, half, marks, size=480):
    """Orthographic flat-shaded Pillow image of ``faces``: screen axes ``right`` and ``up``, the viewer on
    ``right x up``, ``half`` metres from the centre to an edge; marks ``(label, point, colour)`` drawn on top."""
    from PIL import Image, ImageDraw

    right, up = np.asarray(right, float), np.asarray(up, float)
    toward = np.cross(right, up)
    p = vertices - centre
    sx, sy = (p @ right / half + 1) * size / 2, (1 - p @ up / half) * size / 2
    corners = vertices[faces]
    normals = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    facing = normals @ toward / (np.linalg.norm(normals, axis=1) + 1e-12)
    shown = np.flatnonzero(facing > 0)
    shown = shown[np.argsort((p[faces[shown]] @ toward).mean(axis=1))]  # painter's order: far to near
    image = Image.new("RGB", (size, size), (30, 30, 34))
    draw = ImageDraw.Draw(image)
    for f in shown:
        grey = int(60 + 180 * facing[f])
        draw.polygon([(sx[i], sy[i]) for i in faces[f]], fill=(grey, int(grey * 0.95), int(grey * 0.9)))
    for label, point, colour in marks:
        u, v = ((point - centre) @ right / half + 1) * size / 2, (1 - (point - centre) @ up / half) * size / 2
        draw.ellipse([u - 4, v - 4, u + 4, v + 4], fill=colour, outline=(0, 0, 0))
        draw.text((u + 6, v - 12), label, fill=colour)
    return image


def draw(path, vertices, faces, joints, picks):
    """The head (front, left side) and the feet (left from above, outside, inside; both from behind), each view
    with the landmarks that face it in colour and nearby joints in yellow."""
    from PIL import Image

    faces = faces[(faces < BODY_VERTICES).all(axis=1)]
    feet = faces[(vertices[faces, 1] < joints["left_ankle"][1] + 0.08).all(axis=1)]
    colours = {"nose": (255, 60, 60), "eye": (0, 200, 255), "ear": (60, 255, 60), "big_toe": (255, 60, 60)}
    colours |= {"small_toe": (255, 0, 255), "heel": (60, 255, 60)}
    head = joints["head"] + (0.0, 0.03, 0.03)
    foot = joints["left_ankle"] + (0.0, -0.03, 0.07)
    heels = np.array([0.0, joints["left_ankle"][1], 0.0])
    views = [  # faces, screen right, screen up, centre, half size, landmarks, joints
        (faces, (1, 0, 0), (0, 1, 0), head, 0.13, "nose left_eye right_eye left_ear right_ear", "head neck"),
        (faces, (0, 0, -1), (0, 1, 0), head, 0.13, "nose left_eye left_ear", "head neck"),
        (feet, (1, 0, 0), (0, 0, -1), foot, 0.14, "left_big_toe left_small_toe left_heel", "left_ankle left_foot"),
        (feet, (0, 0, -1), (0, 1, 0), foot, 0.14, "left_big_toe left_small_toe left_heel", "left_ankle left_foot"),
        (feet, (0, 0, 1), (0, 1, 0), foot, 0.14, "left_big_toe left_heel", "left_ankle left_foot"),
        (feet, (-1, 0, 0), (0, 1, 0), heels, 0.2, "left_heel right_heel", "left_ankle right_ankle"),
    ]
    sheet = Image.new("RGB", (3 * 480, 2 * 480))
    for i, (shown, right, up, centre, half, landmarks, near) in enumerate(views):
        marks = [(n, vertices[picks[n]], colours[n.split("_", 1)[-1]]) for n in landmarks.split()]
        marks += [(n, joints[n], (255, 230, 0)) for n in near.split()]
        sheet.paste(
            render(vertices, shown, right, up, np.asarray(centre), half, marks), (480 * (i % 3), 480 * (i // 3))
        )
    sheet.save(path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--image", help="write a picture of the picks to this .png")
    args = parser.parse_args(argv)
    model = core.load_model("open-smplx")
    vertices = model.v_template
    joints = dict(zip(model.joint_names, model.rest_joints()))
    picks = mirrored(vertices, left_landmarks(vertices, joints))
    order = ("nose", "left_eye", "right_eye", "left_ear", "right_ear") + tuple(
        f"{side}_{part}" for side in ("left", "right") for part in ("big_toe", "small_toe", "heel")
    )
    print("OPEN_BODY_LANDMARKS = {")
    for name in order:
        print(f'    "{name}": {picks[name]},')
    print("}")
    if args.image:
        draw(args.image, vertices, model.faces, joints, picks)
        print(f"wrote {args.image}")


if __name__ == "__main__":
    main()
