# SPDX-License-Identifier: GPL-3.0-or-later
"""Command line: ``python -m smpl_blender_addon COMMAND ...`` (with the ``bpy`` module installed), or the same
arguments after ``--`` in ``blender -b --python smpl_blender_addon/cli.py -- COMMAND ...``.

Commands:
  info MODEL    summary of a model file or built-in body (core only, no Blender needed)
  demo          animate an open SMPL-X body with the bundled walk, key its correctives, check it against the core,
                export FBX and glTF, save a .blend and the mid-frame pose, render a preview strip and GIF (--out)
  export-fbx INPUT... --out DIR    motion files / folders -> one FBX per input and DIR/report.json
  export-gltf, export-abc          the same, to glTF (.glb) and Alembic (.abc)
  export-motion INPUT... --out DIR .blend / .fbx scenes -> one AMASS .npz or .smpl file per SMPL body + report.json
  fit INPUT... --out DIR           3D points (joints, keypoints, markers) -> a fitted body's AMASS .npz or .smpl per
                                   input + report.json (NumPy only: no Blender needed)

Exit codes: 0 success, 1 some input failed, 2 usage error, 128 + N stopped by signal N (SIGTERM 143, SIGINT 130).
See docs/batch.md (resume, --jobs, --shard, --timeout, Slurm).
"""

import argparse
import json
import os
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script (blender --python cli.py): make the package importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "smpl_blender_addon"

# (E402: after the script form's path set-up.) None of these imports bpy: info and the parent of the batch workers
# run without Blender; the demo and the Blender checks are imported by their commands.
from . import core  # noqa: E402
from .batch.errors import UsageError, describe_error  # noqa: E402
from .batch.inputs import parse_shard  # noqa: E402
from .batch.runner import run_batch  # noqa: E402
from .batch.workers import run_worker  # noqa: E402
from .core.fitting import POINT_LAYOUTS, FitOptions  # noqa: E402
from .core.formats.checks import MAX_FPS, MIN_FPS  # noqa: E402


def _argv():
    return sys.argv[sys.argv.index("--") + 1 :] if "--" in sys.argv else sys.argv[1:]


def cmd_info(args):
    model = core.load_model(args.model, gender=args.gender)
    info = {
        "name": model.name,
        "kind": model.kind,
        "gender": model.gender,
        "vertices": model.num_vertices,
        "faces": int(model.faces.shape[0]),
        "joints": model.num_joints,
        "betas": model.num_betas,
        "expressions": model.num_expressions,
        "correctives": int(model.posedirs.shape[2]),
        "uv": model.vt is not None,
        "hand_pca": model.hands_components_left is not None,
    }
    print(json.dumps(info, indent=2))
    return 0


def _frame_span(text):
    """``"A-B"`` -> ``range(A, B + 1)``."""
    try:
        a, b = (int(v) for v in text.split("-"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected FIRST-LAST frames, e.g. 1-10, got {text!r}") from None
    if b < a:
        raise argparse.ArgumentTypeError(f"empty frame span {text!r}")
    return range(a, b + 1)


def cmd_demo(args):
    from .demo import run_demo  # (here: the demo imports bpy)

    try:
        run_demo(
            args.out,
            model=args.model,
            gender=args.gender,
            motion=args.motion,
            render=not args.no_render,
            frames=args.frames,
            update_docs=args.update_docs,
            gif=not args.no_gif,
        )
    except RuntimeError as err:  # the Blender body does not match the core, or an export failed
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


def _add_batch_arguments(p, force_help):
    """--jobs, --shard and --force, which every batch command has."""
    p.add_argument("--jobs", type=int, default=1, metavar="N", help="worker processes (default 1)")
    p.add_argument(
        "--shard",
        default=None,
        metavar="I/N",
        help="process only shard I of N (round robin on the sorted inputs; e.g. a Slurm array task)",
    )
    p.add_argument("--force", action="store_true", help=force_help)
    p.add_argument(
        "--timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="fail an input that takes longer (it runs in a worker process, which is then killed)",
    )


def _run_batch(args, options):
    """The checks every batch command shares (--shard, --jobs, --fps), then :func:`.batch.runner.run_batch`."""
    shard_spec = parse_shard(args.shard) if args.shard else None
    if args.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    if args.fps is not None and not MIN_FPS <= args.fps <= MAX_FPS:
        raise UsageError(f"--fps must be between {MIN_FPS:g} and {MAX_FPS:g} frames per second")
    if args.timeout is not None and not args.timeout > 0:
        raise UsageError("--timeout must be a positive number of seconds")
    return run_batch(
        args.command,
        args.inputs,
        args.out,
        options,
        shard_spec=shard_spec,
        jobs=args.jobs,
        force=args.force,
        timeout=args.timeout,
    )


def cmd_export(args):
    if args.command == "export-abc":  # before any input is read: every one would fail the same way
        from .blender import compat  # (here: it imports bpy)

        compat.require_alembic()
    limit = getattr(args, "max_influences", None)
    if limit is not None and limit < 1:
        raise UsageError("--max-influences must be at least 1")
    return _run_batch(
        args,
        {
            "model": args.model,
            "gender": args.gender,
            "fps": args.fps,
            "vposer": os.path.abspath(args.vposer) if args.vposer else None,
            "target": args.target,
            "correctives": args.correctives,
            "max_influences": limit,
            "morph_normals": getattr(args, "morph_normals", True),
        },
    )


def cmd_export_motion(args):
    if None not in (args.frame_start, args.frame_end) and args.frame_end < args.frame_start:
        raise UsageError(f"--frame-end {args.frame_end} is before --frame-start {args.frame_start}")
    return _run_batch(
        args,
        {
            "format": args.format,
            "model": args.model,
            "fps": args.fps,
            "frame_start": args.frame_start,
            "frame_end": args.frame_end,
        },
    )


def cmd_fit(args):
    if not 1 <= args.betas <= 300:
        raise UsageError("--betas must be between 1 and 300")
    if not args.smooth >= 0:
        raise UsageError("--smooth must be 0 or more")
    if args.markers and not os.path.isfile(args.markers):
        raise UsageError(f"--markers {args.markers}: no such file")
    if args.vposer and not os.path.exists(args.vposer):
        raise UsageError(f"--vposer {args.vposer}: not found")
    if args.gmm and not os.path.isfile(args.gmm):
        raise UsageError(f"--gmm {args.gmm}: no such file")
    return _run_batch(
        args,
        {
            "format": args.format,
            "model": args.model,
            "gender": args.gender,
            "layout": args.layout,
            "markers": os.path.abspath(args.markers) if args.markers else None,
            "units": args.units,
            "up_axis": args.up_axis,
            "fps": args.fps,
            "person": args.person,
            "betas": args.betas,
            "smooth": args.smooth,
            "vposer": os.path.abspath(args.vposer) if args.vposer else None,
            "gmm": os.path.abspath(args.gmm) if args.gmm else None,
        },
    )


WORKER_COMMAND = "batch-worker"
EXPORT_HELP = {
    "export-fbx": "motion files -> FBX (one per input) + report.json",
    "export-gltf": "motion files -> glTF binary (.glb, one per input) + report.json",
    "export-abc": "motion files -> Alembic (.abc, one per input) + report.json",
}
EXPORT_EPILOG = """\
INPUT: motion files (AMASS / Meshcapade .npz, .smpl, SMPLify-X .pkl, pose or EasyMocap .json) or folders, searched
recursively (also for EasyMocap output folders). Each output is DIR/<path relative to the inputs' common folder>
+ extension (walk.npz -> walk.npz.fbx), written atomically. DIR/report.json (report.shard-I-of-N.json with --shard)
lists every input: status ok / failed / skipped, frames, seconds, output, error. A re-run skips finished outputs.
SIGTERM / Ctrl-C stop the workers and leave a valid report. --timeout S fails an input that takes longer than S.
Exit code: 0 if every input succeeded, 1 if any failed, 2 for usage errors, 128 + N when signal N stopped it.
Example: python -m smpl_blender_addon export-fbx amass/ --out fbx/ --target unity --fps 30 --jobs 2"""


def _add_export_parser(sub, command):
    p = sub.add_parser(
        command,
        help=EXPORT_HELP[command],
        description=EXPORT_HELP[command],
        epilog=EXPORT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="motion files or folders")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (created if needed)")
    p.add_argument(
        "--model",
        default="open-smplx",
        metavar="NAME|PATH",
        help='body model: "open-smplx" (default), "open-smpl", or an official model file / folder',
    )
    p.add_argument(
        "--gender", default=None, choices=("female", "male", "neutral"), help="body gender (default: each motion's own)"
    )
    p.add_argument(
        "--fps",
        type=float,
        default=None,
        metavar="N",
        help="resample to N frames per second, by time (default: each motion's own rate)",
    )
    p.add_argument(
        "--vposer",
        default=None,
        metavar="PATH",
        help="your VPoser v2 checkpoint or experiment folder: decodes SMPLify-X fits whose body pose is a latent code",
    )
    p.add_argument("--target", default="blender", choices=("blender", "unity", "unreal"), help="exporter preset")
    p.add_argument(
        "--correctives",
        default="keys",
        choices=("keys", "none"),
        help="key the pose-corrective shape keys at every frame (default) or leave them out",
    )
    if command != "export-abc":
        p.add_argument(
            "--max-influences",
            type=int,
            default=None,
            metavar="N",
            help="at most N joints per vertex, the largest kept and renormalised (4 for three.js, "
            "FBX2glTF, Unity's default quality; default: every influence, exact)",
        )
    if command == "export-gltf":
        p.add_argument(
            "--no-morph-normals",
            dest="morph_normals",
            action="store_false",
            help="leave the morph targets' normals out: about 10x faster for SMPL-X with correctives, "
            "shading that does not follow the shape keys",
        )
    _add_batch_arguments(p, "redo inputs whose output already exists")
    p.set_defaults(func=cmd_export)


MOTION_HELP = "Blender / FBX scenes -> SMPL parameters: one AMASS .npz or Meshcapade .smpl per body + report.json"
MOTION_EPILOG = """\
INPUT: .blend or .fbx files, or folders searched recursively for them. Every SMPL body in the file's scene is
exported: bodies made by this add-on (shape, gender and model from the body), and armatures whose bones carry a full
SMPL / SMPL-H / SMPL-X joint-name set (our FBX files re-imported, the official add-ons' and Meshcapade's rigs, the
SMPL FBX rig's Pelvis, L_Hip, ... with m_avg_ / f_avg_ prefixes), read from Blender's evaluated pose whatever the
bone roll, axes or unit. Such a rig's rest pose must be the SMPL T-pose. Its betas are NOT recovered, unless the rig
is ours (its mesh carries our Shape### keys): the motion gets the --model's mean shape, and transl puts the model's
pelvis where the rig's pelvis is.
Output: DIR/<input path relative to the inputs' common folder>.npz (or .smpl), e.g. scene.blend -> scene.blend.npz;
a scene with several bodies gives DIR/<...>.bodies/<body name>.npz per body. Files are written atomically and hold
numbers only (np.load(..., allow_pickle=False)). AMASS files are Z-up (Blender's world), .smpl files Y-up.
DIR/report.json lists every input (status, frames, seconds, error, and "outputs": one record per body file).
A re-run skips inputs whose listed outputs are complete. Exit code: 0 if every input succeeded, 1 if any failed,
2 for usage errors, 128 + N when signal N stopped it (143: SIGTERM).
Example: python -m smpl_blender_addon export-motion shots/ --out params/ --format smpl --fps 30 --jobs 2"""


def _add_motion_outputs(p, inputs_help):
    """The inputs, --out and --format of the commands that write motion files (export-motion, fit)."""
    p.add_argument("inputs", nargs="+", metavar="INPUT", help=inputs_help)
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (created if needed)")
    p.add_argument(
        "--format",
        default="amass",
        choices=("amass", "smpl"),
        help="amass: AMASS-style .npz, Z-up (default); smpl: Meshcapade .smpl (smplcodec), Y-up",
    )


def _add_export_motion_parser(sub):
    p = sub.add_parser(
        "export-motion",
        help=MOTION_HELP,
        description=MOTION_HELP,
        epilog=MOTION_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_motion_outputs(p, ".blend / .fbx files or folders")
    p.add_argument(
        "--model",
        default=None,
        metavar="NAME|PATH",
        help="body model of rigs that are not bodies of this add-on, for the rest pelvis (transl) and rest "
        "joints: default open-smplx for SMPL-X rigs, open-smpl for SMPL / SMPL-H rigs; also used for "
        "our bodies whose model file is not on this machine. Betas are not recovered from an FBX "
        "unless its rig is ours",
    )
    p.add_argument(
        "--fps",
        type=float,
        default=None,
        metavar="N",
        help="resample to N frames per second, by time (default: the scene's rate)",
    )
    p.add_argument(
        "--frame-start",
        type=int,
        default=None,
        metavar="N",
        help="first frame (default: the start of each body's action, else of the scene)",
    )
    p.add_argument(
        "--frame-end",
        type=int,
        default=None,
        metavar="N",
        help="last frame (default: the end of each body's action, else of the scene)",
    )
    _add_batch_arguments(p, "redo inputs whose outputs already exist")
    p.set_defaults(func=cmd_export_motion)


FIT_HELP = "3D points -> SMPL parameters: a body fitted to each input, as AMASS .npz or .smpl + report.json"
FIT_EPILOG = """\
INPUT: point files or folders searched recursively for them: .npy joint arrays (F, K, 3) such as HumanML3D / MDM /
MoMask output (22 joints, Y-up, 20 fps: pass --fps 20; MDM's results.npy too, read as data: a sample of its motion,
--person N), .npz with joints / keypoints3d / points / marker_data
(+ names, confidence, fps), EasyMocap keypoints3d .json frames, and EasyMocap output folders holding keypoints3d/
(one input each). Points are named by --layout (default: by their count: 17 coco17, 22 humanml3d, 24 smpl,
25 body25, 52 smplh, 55 smplx) or by the file; surface markers need --markers. No Blender is needed: the fit and its
--jobs workers run in plain Python with NumPy.
Output: DIR/<path relative to the inputs' common folder> + .npz (AMASS, Z-up) or .smpl (Y-up), e.g.
walk.npy -> walk.npy.npz, written atomically. DIR/report.json lists every input: status, frames, fps,
mean_error_mm (mean distance of the fitted points to the targets), seconds, fit_frames_per_second, warnings (e.g.
points the body has no place for). A re-run skips finished outputs. Exit code: 0 if every input succeeded, 1 if
any failed, 2 for usage errors, 128 + N when signal N stopped it.
Example: python -m smpl_blender_addon fit humanml3d/joints/ --out fits/ --fps 20 --jobs 2"""


def _add_fit_parser(sub):
    p = sub.add_parser(
        "fit",
        help=FIT_HELP,
        description=FIT_HELP,
        epilog=FIT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_motion_outputs(p, "point files, EasyMocap output folders, or folders")
    p.add_argument(
        "--model",
        default=None,
        metavar="NAME|PATH",
        help='body model: "open-smpl" (default; right for joints and keypoints), "open-smplx" (default for '
        "points with finger joints: smplh / smplx layouts), or an official model file / folder",
    )
    p.add_argument(
        "--gender", default=None, choices=("female", "male", "neutral"), help="body gender (default: the model's)"
    )
    p.add_argument(
        "--layout",
        default=None,
        choices=(*POINT_LAYOUTS, "markers"),
        help="the point names when the file does not store them (default: from the point count)",
    )
    p.add_argument(
        "--markers",
        default=None,
        metavar="LAYOUT.json",
        help="marker layout (SOMA / MoSh JSON, or {name: [[vertex, weight], ...]}): where markers sit on the body",
    )
    p.add_argument("--units", default="m", choices=("m", "cm", "mm"), help="the files' length unit (default m)")
    p.add_argument(
        "--up-axis",
        default=None,
        choices=("Y", "Z"),
        help="the files' up axis (default: the format's: .npy / .npz joints Y, AMASS markers and EasyMocap Z)",
    )
    p.add_argument(
        "--fps",
        type=float,
        default=None,
        metavar="N",
        help="frames per second of inputs that store no rate (HumanML3D: 20); not a resampling",
    )
    p.add_argument(
        "--person",
        type=int,
        default=None,
        metavar="ID",
        help="EasyMocap person id, or the sample of MDM's results.npy (default: the first)",
    )
    p.add_argument("--betas", type=int, default=10, metavar="N", help="shape coefficients fitted (default 10)")
    p.add_argument(
        "--smooth",
        type=float,
        default=FitOptions.acceleration,
        metavar="W",
        help=f"weight of the points' acceleration (smoothness over time; default {FitOptions.acceleration:g}, 0: off)",
    )
    p.add_argument(
        "--vposer",
        default=None,
        metavar="PATH",
        help="your VPoser v2 checkpoint or experiment folder: its pose prior joins the fit (read without PyTorch)",
    )
    p.add_argument(
        "--gmm",
        default=None,
        metavar="PATH",
        help="your Gaussian mixture pose prior (SMPLify's gmm_08.pkl, read without unpickling code, or an .npz)",
    )
    _add_batch_arguments(p, "redo inputs whose output already exists")
    p.set_defaults(func=cmd_fit)


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m smpl_blender_addon", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("info", help="summary of a model file or built-in body")
    p.add_argument("model", help='built-in name ("open-smpl", "open-smplx"), a .pkl/.npz file or a folder')
    p.add_argument("--gender", default=None)
    p.set_defaults(func=cmd_info)
    p = sub.add_parser("demo", help="animate, check, export and render an open SMPL-X body (needs bpy)")
    p.add_argument("--out", default="out/demo", help="output folder (default: out/demo)")
    p.add_argument("--model", default="open-smplx")
    p.add_argument("--gender", default="neutral")
    p.add_argument("--motion", default=None, help="motion file (default: the bundled CC0 walk)")
    p.add_argument(
        "--frames", type=_frame_span, default=None, metavar="FIRST-LAST", help="only these frames, e.g. 1-10"
    )
    p.add_argument("--no-render", action="store_true", help="skip the preview strip and GIF")
    p.add_argument("--no-gif", action="store_true", help="render the preview strip only")
    p.add_argument("--update-docs", action="store_true", help="also refresh docs/img/readme-demo-strip.png")
    p.set_defaults(func=cmd_demo)
    for command in EXPORT_HELP:
        _add_export_parser(sub, command)
    _add_export_motion_parser(sub)
    _add_fit_parser(sub)
    return parser


def main(argv=None):
    argv = _argv() if argv is None else list(argv)
    if argv[:1] == [WORKER_COMMAND] and len(argv) == 2:  # internal: one worker of --jobs (not in --help)
        return run_worker(argv[1])
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ValueError as err:  # usage errors, and core errors naming the file and the problem
        print(f"error: {describe_error(err)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
