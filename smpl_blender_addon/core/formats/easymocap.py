# SPDX-License-Identifier: GPL-3.0-or-later
"""EasyMocap output: a folder of per-frame JSON files (``<out>/smpl/000000.json`` ...), or one such file.

Each frame is a list of people with ``Rh`` / ``Th`` about the model origin, ``poses (72 | 78 | 87,)`` with PCA
hands, and ``shapes``. They are rewritten exactly into smplx parameters, which needs the model they were fitted with.
"""

import os
import re
import warnings

import numpy as np

from .. import conversions
from ..errors import MotionFileError
from ..file_io import read_json
from ..motion import pelvis_rest_joints
from ..rotations import axis_angle_to_matrix, matrix_to_axis_angle
from . import checks

EASYMOCAP_SIZES = {72: "smpl", 78: "smplh", 87: "smplx"}


def frame_files(folder, sub="smpl"):
    """Sorted ``*.json`` frames of an EasyMocap output folder (``<out>/<sub>/`` or that folder itself; ``sub``:
    ``"smpl"`` for fits, ``"keypoints3d"`` for triangulated keypoints)."""
    inner = os.path.join(folder, sub)
    base = inner if os.path.isdir(inner) else folder
    try:
        names = [n for n in os.listdir(base) if n.lower().endswith(".json")]
    except OSError as err:
        raise MotionFileError(folder, f"cannot list the folder: {err}") from None
    if not names:
        raise MotionFileError(
            folder,
            f"no EasyMocap frames: expected <folder>/{sub}/000000.json ... (or the .json files directly in the folder)",
        )
    checks.check_frames(folder, len(names), f"{sub}/*.json")

    def order(name):
        digits = re.findall(r"\d+", name)
        return (int(digits[-1]) if digits else -1, name)

    return [os.path.join(base, n) for n in sorted(names, key=order)]


def people_of_frame(data, keys=("Rh", "poses")):
    """The person list of one EasyMocap frame (list, or ``{"annots": [...]}``) whose records all hold ``keys``
    (``("keypoints3d",)`` for keypoints), or ``None`` if it is not one."""
    if isinstance(data, dict) and isinstance(data.get("annots"), list):
        data = data["annots"]
    if isinstance(data, list) and data and all(isinstance(p, dict) and all(k in p for k in keys) for p in data):
        return data
    if isinstance(data, list) and not data:
        return data
    return None


def pick_person(path, people, person):
    """The record of person id ``person`` (``None``: the lowest id) in one frame, or ``None``."""
    if person is None:
        return min(people, key=lambda p: person_id(path, p)) if people else None
    return next((p for p in people if person_id(path, p) == person), None)


def person_id(path, record):
    try:
        return int(record.get("id", 0))
    except (TypeError, ValueError):
        raise MotionFileError(path, f"person id {record.get('id')!r} is not an integer") from None


def read_easymocap(source, files, model, fps, gender, kind, person, up_axis, preloaded=None, **_):
    """EasyMocap frames -> Motion; ``V = R(Rh) M(poses, shapes) + Th`` is rewritten exactly into smplx parameters."""
    checks.require_model(source, model, "EasyMocap Rh/Th need the pelvis rest joint J_0 and its hands the PCA basis")
    records = []
    for file in files:
        people = (preloaded or {}).get(file)
        if people is None:
            people = people_of_frame(read_json(file, MotionFileError))
            if people is None:
                raise MotionFileError(
                    file,
                    "not an EasyMocap frame: expected a list of people with 'Rh', 'Th', "
                    "'poses' (or {\"annots\": [...]})",
                )
        if person is None and records == [] and people:
            person = person_id(file, pick_person(file, people, None))
        record = pick_person(file, people, person)
        if record is None:
            raise MotionFileError(
                file, f"person id {person} is not in this frame" if person is not None else "no person in this frame"
            )
        records.append((file, record))
    fields = {}
    for key, width in (("Rh", 3), ("Th", 3), ("poses", None), ("shapes", None), ("expression", None)):
        rows = []
        for file, record in records:
            if key not in record:
                if key in ("expression", "shapes"):
                    continue
                raise MotionFileError(file, f"person {person}: '{key}' is missing")
            value = checks.floats(file, key, record[key])
            rows.append(value.reshape(-1))
            if (width and rows[-1].size != width) or rows[-1].size != rows[0].size:
                raise MotionFileError(
                    file, f"person {person}: '{key}' has {rows[-1].size} values, expected {width or rows[0].size}"
                )
        if rows and len(rows) != len(records):
            raise MotionFileError(source, f"person {person}: '{key}' is present in some frames only")
        fields[key] = np.stack(rows) if rows else None
    size = fields["poses"].shape[1]
    found = EASYMOCAP_SIZES.get(size)
    if found is None:
        raise MotionFileError(
            records[0][0],
            f"'poses' has {size} values; EasyMocap writes 72 (SMPL), 78 (SMPL-H: "
            "66 + 6 + 6 hand PCA) or 87 (SMPL-X: 66 + 6 + 6 + 9 jaw/eyes)",
        )
    checks.check_kind(source, found, kind, "the EasyMocap output")
    if model.kind != found:
        raise MotionFileError(
            source,
            f"EasyMocap {found} data need the {found} model they were fitted with "
            f"(given a {model.kind} model): Rh/Th depend on its J_0",
        )
    poses = _full_poses(source, fields["poses"], found, model)
    betas = fields["shapes"].mean(axis=0) if fields["shapes"] is not None else np.zeros(0)
    if fields["shapes"] is not None and np.ptp(fields["shapes"], axis=0).max() > 1e-3:
        warnings.warn(f"{source}: shapes vary per frame; their mean is used for the sequence", stacklevel=3)
    expression = fields["expression"] if found == "smplx" else None
    rate = checks.fps_or_ask(source, len(records), fps, "an EasyMocap folder")
    motion = checks.make_motion(
        source,
        fps=rate,
        poses=poses,
        trans=np.zeros((len(records), 3)),
        betas=betas,
        expression=expression,
        gender=checks.gender(source, gender, None),
        kind=found,
        up_axis=checks.plain_up_axis(source, up_axis, "Z"),
    )
    # EasyMocap rotates about the model origin and keeps poses[:3] (about J_0) apart: V = Rh (R0 (v - J0) + J0) + Th,
    # so global_orient = Rh R0 and transl = Th - J0 + Rh J0 (conversions.easymocap_to_smplx).
    pelvis = pelvis_rest_joints(motion, model)
    _, motion.trans = conversions.easymocap_to_smplx(fields["Rh"], fields["Th"], pelvis)
    root = axis_angle_to_matrix(fields["Rh"]) @ axis_angle_to_matrix(poses[:, :3])
    motion.poses[:, :3] = matrix_to_axis_angle(root)
    return motion


def _full_poses(path, raw, kind, model):
    """EasyMocap poses (F, 72 | 78 | 87) -> full axis-angle poses in the model layout (flat hand mean)."""
    if kind == "smpl":
        return raw.copy()
    left, right = _hand_components(path, model)
    hands = [
        conversions.hand_pca_to_axis_angle(raw[:, 66 + 6 * i : 72 + 6 * i], comps)
        for i, comps in enumerate((left, right))
    ]
    head = [raw[:, 78:87]] if kind == "smplx" else []  # EasyMocap puts jaw/eyes last, the standard layout before hands
    return np.concatenate([raw[:, :66]] + head + hands, axis=1)


def _hand_components(path, model):
    left, right = model.hands_components_left, model.hands_components_right
    if left is None or right is None:
        raise MotionFileError(
            path,
            f"the hands are PCA coefficients, and the {model.kind} model {model.name or ''} "
            "has no hand PCA components (hands_components)",
        )
    return np.asarray(left, np.float64), np.asarray(right, np.float64)
