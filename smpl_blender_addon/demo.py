# SPDX-License-Identifier: GPL-3.0-or-later
"""The demo: an open SMPL-X body walks the bundled demo motion, checked against the core and exported (needs bpy).

    from smpl_blender_addon.demo import run_demo
    run_demo("out/demo")            # or: python -m smpl_blender_addon demo --out out/demo

Everything goes through the public Blender-layer API (``smpl_blender_addon.blender``), as a user's script would:
import the motion onto a new body, key its pose correctives, compare Blender's evaluated mesh at a mid frame with
the core forward pass, export FBX and glTF, write the pose of that frame to JSON and save a .blend. Run from the
repository, it also renders a preview strip and GIF with scripts/render_demo.py (Workbench: no GPU needed; the
rendering is a repository tool, not part of the extension). Each output is printed as ``demo: <what> <path>``.
"""

import contextlib
import importlib.util
import os
import sys
import time
import warnings
from pathlib import Path

import bpy
import numpy as np

from .blender import body_mesh, body_model, export_fbx, export_gltf, import_motion, write_pose
from .blender.body import body_betas, body_expression, to_blender
from .blender.correctives import key_correctives
from .blender.shape import evaluated_vertices_world
from .core.formats import read_motion, write_amass_npz, write_smpl_codec

__all__ = ["run_demo", "demo_motion_path", "DEMO_MOTION"]

DEMO_MOTION = "demo_motion_smplx.npz"
PREVIEW_SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "render_demo.py"  # in the repository only
MAX_DIFFERENCE_M = 1e-4  # Blender vs core: float32 skinning of ~1 m coordinates stays far below this


def demo_motion_path():
    """Path of the bundled CC0 demo motion (``assets/demo_motion_smplx.npz`` beside or inside the package)."""
    package = Path(__file__).resolve().parent
    for folder in (package / "assets", package.parent / "assets"):
        if (folder / DEMO_MOTION).is_file():
            return folder / DEMO_MOTION
    raise FileNotFoundError(f"{DEMO_MOTION} not found in {package / 'assets'} or {package.parent / 'assets'}")


def _say(what, value):
    print(f"demo: {what:14s} {value}", flush=True)


def _said(what, path):
    """Print ``demo: <what> <path>`` as soon as an output exists (progress for a long run); returns the path."""
    _say(what, path)
    return path


@contextlib.contextmanager
def _output_to(log_path):
    """Send everything written to the process's stdout / stderr (Blender's exporter and render chatter, harmless
    EGL warnings of a headless render) to ``log_path`` for the duration of the block, so that the demo prints only
    its own lines. File-descriptor level, because Blender writes from C."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(log_path, "ab") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def _timed(times, step, function, *args, **kwargs):
    """``function(*args, **kwargs)`` with its seconds stored in ``times[step]`` and Blender's output in
    ``times["log"]`` (a path) when that is set."""
    start = time.perf_counter()
    with _output_to(times["log"]) if times.get("log") else contextlib.nullcontext():
        result = function(*args, **kwargs)
    times[step] = time.perf_counter() - start
    return result


def _motion_slice(motion_file, frames, out_dir):
    """The motion file to import: ``motion_file`` itself, or its ``frames`` (1-based scene frames, contiguous)
    written to ``out_dir/demo_motion.npz`` (AMASS, Z-up) or ``.smpl`` (Y-up). Returns (path, Motion as read)."""
    motion = read_motion(motion_file)
    if frames is None:
        return Path(motion_file), motion
    frames = list(frames)
    first, last = frames[0], frames[-1]
    if frames != list(range(first, last + 1)) or first < 1 or last > motion.num_frames:
        raise ValueError(f"frames must be a contiguous range within 1..{motion.num_frames}, got {frames[:3]}...")
    part = motion.slice(first - 1, last)
    if part.up_axis == "Z":  # each world in its own format, so nothing is re-framed
        return Path(write_amass_npz(out_dir / "demo_motion.npz", part)), part
    return Path(write_smpl_codec(out_dir / "demo_motion.smpl", part)), part


def _reference_vertices(arm, motion, index):
    """(V, 3) core forward pass of motion frame ``index`` (0-based) for the body ``arm`` in Blender's world.

    The body plays the motion in its own layout with its own shape (an open body keeps its mean shape), so the
    reference uses the body's model, betas and expression keys. A Z-up motion's world is Blender's world exactly;
    a Y-up one is turned by the rig's SMPL -> Blender axis change.
    """
    model = body_model(arm)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # dropped betas / expression are expected here, not news
        motion = motion.to_kind(model.kind)
    expression = body_expression(arm)
    if motion.expression is not None and expression.size:
        values = motion.expression[index, : expression.size]
        expression = np.concatenate([values, np.zeros(expression.size - values.size)])
    vertices = model.forward(
        betas=body_betas(arm),
        pose=motion.poses[index],
        transl=motion.trans[index],
        expression=expression if expression.size else None,
        dtype=np.float64,
    ).vertices[0]
    return vertices if motion.up_axis == "Z" else to_blender(vertices)


def _mesh_difference(arm, motion, index):
    """Max |Blender's evaluated mesh - core forward| (m) at motion frame ``index`` (0-based)."""
    bpy.context.scene.frame_set(bpy.context.scene.frame_start + index)
    expected = _reference_vertices(arm, motion, index)
    return float(np.abs(evaluated_vertices_world(body_mesh(arm)) - expected).max())


def run_demo(
    out_dir, model="open-smplx", gender="neutral", motion=None, render=True, frames=None, update_docs=False, gif=True
):
    """Build, animate, check, export and render the demo body. Returns a dict of output paths and figures.

    Starts from an empty factory scene (``read_factory_settings``): run it headless (command line, scripts), not in
    a Blender session whose scene you want to keep.

    Args:
        out_dir: output folder (created).
        model: body model of the new body (built-in name or official model file).
        gender: its gender.
        motion: motion file (default: the bundled procedural walk, :func:`demo_motion_path`).
        render: render the preview strip (``preview.png``, 6 frames) and animation (``preview.gif``, 15 fps) with
            Workbench (CPU only; about half a minute for the 4 s demo motion on 2 cores), through
            scripts/render_demo.py: run from the repository (elsewhere the preview is skipped, with a line saying so).
        frames: scene frames of the motion to use (contiguous, 1-based, e.g. ``range(1, 11)``); default all.
        update_docs: also copy the strip to ``docs/img/readme-demo-strip.png`` of the source tree.
        gif: with ``render``, also render the animated GIF.
    Returns:
        dict: ``blend``, ``fbx``, ``glb``, ``pose_json``, ``motion``, ``preview``, ``preview_gif`` (or None),
        ``blender_log`` (Blender's own output) paths (``docs_strip`` with ``update_docs``); ``max_difference_m``,
        ``mid_frame``, ``frames``, ``vertices``, ``correctives``, ``seconds`` (per step) and ``total_seconds``.
        Raises RuntimeError when Blender's mesh does not match the core (after writing every output).
    """
    start = time.perf_counter()
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    log = out / "blender.log"
    log.write_bytes(b"")
    times = {"log": log}
    source, played = _motion_slice(Path(motion) if motion else demo_motion_path(), frames, out)
    files = {"motion": source}
    _say("motion", source)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    with warnings.catch_warnings():  # the open body keeps its own (mean) shape: nothing to warn a newcomer about
        warnings.filterwarnings("ignore", message=".*betas")
        arm = _timed(
            times,
            "import",
            import_motion,
            source,
            model=model,
            gender=gender,
            fps="source",
            correctives=False,
            name="demo_body",
        )
    body = body_model(arm)
    _timed(times, "correctives", key_correctives, arm, scope="KEYFRAMES")
    _say(
        "body",
        f"{body.kind} '{arm.name}': {body.num_vertices} vertices, {body.num_joints} joints, "
        f"{body.posedirs.shape[2]} correctives keyed at {played.num_frames} frames ({played.fps:g} fps)",
    )
    difference = _timed(times, "check", _mesh_difference, arm, played, played.num_frames // 2)
    mid_frame = bpy.context.scene.frame_current
    _say(
        "check",
        f"frame {mid_frame}: Blender's evaluated mesh vs core forward: max difference "
        f"{difference:.3g} m ({difference * 1e3:.4f} mm)",
    )
    files["pose_json"] = _said("pose_json", Path(write_pose(arm, "JSON", out / "demo_pose.json")))
    files["fbx"] = _said("fbx", Path(_timed(times, "fbx", export_fbx, arm, out / "demo.fbx")["path"]))
    files["glb"] = _said("glb", Path(_timed(times, "gltf", export_gltf, arm, out / "demo.glb")["path"]))
    _timed(times, "blend", bpy.ops.wm.save_as_mainfile, filepath=str(out / "demo.blend"), check_existing=False)
    files["blend"] = _said("blend", out / "demo.blend")
    files["preview"] = files["preview_gif"] = None
    preview = _preview_script() if render else None
    if render and preview is None:
        _say("preview", f"not rendered: {PREVIEW_SCRIPT} is not here (run the demo from the repository)")
    if preview is not None:
        files["preview"] = _said("preview", _timed(times, "render", preview.render_strip, arm, out / "preview.png"))
        if gif:
            path = _timed(times, "gif", preview.render_gif, arm, out / "preview.gif")
            files["preview_gif"] = _said("preview_gif", path)
        if update_docs:
            docs = Path(__file__).resolve().parent.parent / "docs" / "img"
            docs.mkdir(parents=True, exist_ok=True)
            strip = docs / "readme-demo-strip.png"
            strip.write_bytes(files["preview"].read_bytes())
            files["docs_strip"] = _said("docs_strip", strip)
    files["blender_log"] = _said("blender_log", times.pop("log"))
    total = time.perf_counter() - start
    _say("seconds", ", ".join(f"{k} {v:.1f}" for k, v in times.items()) + f"; total {total:.1f}")
    result = dict(
        files,
        max_difference_m=difference,
        mid_frame=mid_frame,
        frames=played.num_frames,
        vertices=body.num_vertices,
        correctives=int(body.posedirs.shape[2]),
        seconds=times,
        total_seconds=total,
        armature=arm.name,
        mesh=body_mesh(arm).name,
    )
    if not difference < MAX_DIFFERENCE_M:
        raise RuntimeError(f"demo: Blender's mesh differs from the core forward pass by {difference:.3g} m")
    return result


def _preview_script():
    """scripts/render_demo.py (the preview strip and GIF), loaded from the repository the package runs from, or None
    (the installed extension ships no render code)."""
    if not PREVIEW_SCRIPT.is_file():
        return None
    spec = importlib.util.spec_from_file_location("render_demo", PREVIEW_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
