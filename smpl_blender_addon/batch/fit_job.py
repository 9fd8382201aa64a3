# SPDX-License-Identifier: GPL-3.0-or-later
"""The ``fit`` command's job, NumPy only (no Blender, here or in its workers): read the points of one input, fit the
body model to them (core.fitting) and write the motion as AMASS ``.npz`` (Z-up) or Meshcapade ``.smpl`` (Y-up).
:data:`JOBS` maps the command to its job, as :mod:`.jobs` does for the Blender commands."""

import os

from .. import core
from ..core.fitting import FitOptions, default_model, fit_points, read_points
from ..core.fitting.priors import GaussianMixturePrior
from ..core.formats import write_amass_npz, write_smpl_codec
from ..core.vposer import load_vposer

WRITERS = {"amass": write_amass_npz, "smpl": write_smpl_codec}
_CACHE = {}  # (what, path or name, gender) -> model or VPoser: loaded once per process


def _cached(key, load):
    if key not in _CACHE:
        _CACHE[key] = load()
    return _CACHE[key]


def fit_file(source, output, options):
    """fit: the points of ``source`` (a file or EasyMocap keypoints3d folder) -> the fitted motion in ``output``.

    Returns the report fields ``{"frames", "fps", "model", "mean_error_mm", "fit_frames_per_second"}``.
    """
    points = read_points(
        source,
        layout=options["layout"],
        fps=options["fps"],
        units=options["units"],
        up_axis=options["up_axis"],
        person=options["person"],
        markers=options["markers"],
    )
    spec = options["model"] or default_model(points)
    model = _cached(("model", spec, options["gender"]), lambda: core.load_model(spec, gender=options["gender"]))
    vposer, gmm = options["vposer"], options.get("gmm")
    fitting = FitOptions(
        num_betas=options["betas"],
        acceleration=options["smooth"],
        vposer=_cached(("vposer", vposer, None), lambda: load_vposer(vposer)) if vposer else None,
        gmm=_cached(("gmm", gmm, None), lambda: GaussianMixturePrior.load(gmm)) if gmm else None,
    )
    result = fit_points(model, points, fitting, fps=options["fps"])
    os.makedirs(os.path.dirname(output), exist_ok=True)
    WRITERS[options["format"]](output, result.motion, model)
    frames = result.motion.num_frames
    return {
        "frames": frames,
        "fps": result.motion.fps,
        "model": model.name,
        "mean_error_mm": round(1000.0 * result.mean_error, 3),
        "fit_frames_per_second": round(frames / max(result.seconds, 1e-9), 1),
    }


JOBS = {"fit": fit_file}
