# SPDX-License-Identifier: GPL-3.0-or-later
"""The extension zip, built and validated with Blender's own tool, installed the way Blender installs extensions.

Each install runs in a fresh Python process with BLENDER_USER_RESOURCES pointing at a temporary folder, so the user's real
Blender configuration is never read or written, and with the repository NOT on sys.path: the installed copy
(``bl_ext.user_default.smpl_blender_addon``) must work on its own (relative imports, assets inside the package).
"""

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODULE = "bl_ext.user_default.smpl_blender_addon"
sys.path.insert(0, os.path.join(REPO, "tests", "blender"))
import bpy_process  # noqa: E402  (tests/ on sys.path)
from synthetic_body import official_layout_arrays, synthetic_arrays  # noqa: E402


def blender_ext_tool():
    """Blender's own extension tool, as shipped with the running Blender (bpy module or binary)."""
    return os.path.join(bpy.utils.system_resource("SCRIPTS"), "addons_core", "bl_pkg", "cli", "blender_ext.py")


def _load_build_script():
    spec = importlib.util.spec_from_file_location(
        "build_extension", os.path.join(REPO, "scripts", "build_extension.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def extension_zip(tmp_path_factory):
    """Build the zip once with scripts/build_extension.py (which runs blender_ext.py build and validate)."""
    out = tmp_path_factory.mktemp("dist")
    done = subprocess.run(
        [
            sys.executable,
            os.path.join(REPO, "scripts", "build_extension.py"),
            "--output-dir",
            str(out),
            "--tool",
            blender_ext_tool(),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    zip_path = done.stdout.strip().splitlines()[-1]
    assert os.path.dirname(zip_path) == str(out) and os.path.isfile(zip_path)
    return zip_path


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory):
    """A folder as a user keeps it: one synthetic SMPL-X model under a sub-folder, a motion file and junk."""
    folder = tmp_path_factory.mktemp("user_models")
    (folder / "smplx").mkdir()
    np.savez(folder / "smplx" / "SMPLX_NEUTRAL.npz", **official_layout_arrays(synthetic_arrays("smplx", seed=9)))
    np.savez(folder / "walk_poses.npz", poses=np.zeros((4, 156)), trans=np.zeros((4, 3)), mocap_framerate=30.0)
    (folder / "notes.pkl").write_bytes(b"not a pickle at all")
    return folder


def run_installed(script, *args, user_dir):
    """Run ``script`` in a clean interpreter with a temporary Blender user folder; return its RESULT json."""
    env = {
        k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "BLENDER_USER_CONFIG", "BLENDER_USER_SCRIPTS")
    }
    env["BLENDER_USER_RESOURCES"] = str(user_dir)
    script_path = user_dir.parent / "installed_check.py"
    script_path.write_text(textwrap.dedent(script))
    done = subprocess.run(
        bpy_process.script_command(script_path, *args),
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=str(user_dir.parent),
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads(lines[-1][len("RESULT ") :])


def test_zip_layout_and_validation(extension_zip):
    build = _load_build_script()
    # validate again, independently of the build script's own run
    done = subprocess.run(
        [sys.executable, blender_ext_tool(), "validate", extension_zip], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    names = zipfile.ZipFile(extension_zip).namelist()
    assert "__init__.py" in names and "blender_manifest.toml" in names and "LICENSE" in names
    for package in ("core/", "blender/", "ui/"):
        assert any(n.startswith(package) and n.endswith("__init__.py") for n in names), package
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc") or n.startswith("tests/")]
    repo_assets = sorted(os.path.basename(p) for p in build.asset_files(os.path.join(REPO, "assets")))
    assert sorted(n[len("assets/") :] for n in names if n.startswith("assets/") and not n.endswith("/")) == repo_assets
    # the demo's preview (Workbench renders, the GIF) is a repository script, not shipped
    archive = zipfile.ZipFile(extension_zip)
    assert "demo.py" in names and not [n for n in names if os.path.basename(n).startswith("render_")]
    markers = (
        "BLENDER_WORKBENCH",
        "render.render(",
        "GIF89a",
        "def write_gif",
        "def render_",
        "from PIL",
        "import PIL",
    )
    shipped = {n: archive.read(n).decode() for n in names if n.endswith(".py")}
    assert not [(n, m) for n, text in shipped.items() for m in markers if m in text]


INSTALL_SCRIPT = """
    import json, os, sys
    import bpy

    zip_path, model_folder, user_dir = (sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else sys.argv[1:])[:3]
    module = "bl_ext.user_default.smpl_blender_addon"
    result = {"user_resources": bpy.utils.resource_path("USER")}
    assert bpy.ops.extensions.package_install_files(
        repo="user_default", filepath=zip_path, enable_on_install=True) == {"FINISHED"}
    result["installed_in"] = sys.modules[module].__file__
    result["enabled"] = module in bpy.context.preferences.addons
    result["operators"] = sorted(dir(bpy.ops.smpl))
    result["panels"] = [name for name in ("SMPL_PT_body", "SMPL_PT_shape", "SMPL_PT_pose") if hasattr(bpy.types, name)]
    result["repository_copy_imported"] = "smpl_blender_addon" in sys.modules

    bpy.ops.smpl.add_body(model=os.path.join(model_folder, "smplx", "SMPLX_NEUTRAL.npz"), betas="0.5", gender="NEUTRAL")
    arm = bpy.context.active_object
    mesh = next(c for c in arm.children if c.type == "MESH")
    result["body"] = {"kind": arm["smpl_kind"], "bones": len(arm.data.bones), "vertices": len(mesh.data.vertices),
                      "slider0": arm.smpl_ui.betas[0].value, "n_sliders": len(arm.smpl_ui.betas)}

    prefs = bpy.context.preferences.addons[module].preferences
    assert bpy.ops.smpl.add_model_folder(directory=model_folder) == {"FINISHED"}
    try:
        bpy.ops.smpl.add_model_folder(directory=os.path.join(model_folder, "no_such_folder"))
        result["bad_folder_error"] = None
    except RuntimeError as err:
        result["bad_folder_error"] = str(err)
    result["folders"] = [f.path for f in prefs.model_folders]
    assert bpy.ops.smpl.scan_model_folders() == {"FINISHED"}
    result["found"] = [[m.kind, m.gender, os.path.relpath(m.path, model_folder)] for m in prefs.found_models]
    result["skipped"] = prefs.scan_problems.splitlines()
    properties = sys.modules[module + ".ui.properties"]
    result["model_menu"] = [item[0] for item in properties._model_items(bpy.context.scene.smpl_add, bpy.context)]
    # what the Body panel does: pick the found file in the menu, then press Add
    settings = bpy.context.scene.smpl_add
    settings.model = result["model_menu"][-1]
    bpy.ops.smpl.add_body(model=settings.model, gender=settings.gender)
    result["added_from_menu"] = bpy.context.active_object["smpl_model"]

    if os.path.isfile(os.path.join(os.path.dirname(sys.modules[module].__file__), "assets", "open_smplx_neutral.npz")):
        bpy.ops.smpl.add_body()  # the built-in open body, from the installed package's own assets
        result["builtin"] = {"model": bpy.context.active_object["smpl_model"], "kind": bpy.context.active_object["smpl_kind"]}
        result["builtin_path"] = str(sys.modules[module + ".core.model"].builtin_model_path("open-smplx"))

    assert bpy.ops.smpl.remove_model_folder(index=0) == {"FINISHED"}
    result["folders_after_remove"] = len(prefs.model_folders)
    def ours(functions):
        return [f.__name__ for f in functions if getattr(f, "__module__", "").startswith(module)]

    menus = (bpy.types.TOPBAR_MT_file_import, bpy.types.TOPBAR_MT_file_export)
    handlers = (bpy.app.handlers.depsgraph_update_post, bpy.app.handlers.frame_change_post)
    result["menu_entries"] = sorted(name for menu in menus for name in ours(menu._dyn_ui_initialize()))
    result["handlers"] = sorted(name for handler_list in handlers for name in ours(handler_list))
    bpy.ops.preferences.addon_disable(module=module)
    result["after_disable"] = {
        "enabled": module in bpy.context.preferences.addons,
        "operators": [op for op in dir(bpy.ops.smpl) if op in ("add_body", "set_pose", "write_pose")],
        "panel": hasattr(bpy.types, "SMPL_PT_body"),
        "object_property": hasattr(bpy.types.Object, "smpl_ui"),
        "menu_entries": sorted(name for menu in menus for name in ours(menu._dyn_ui_initialize())),
        "handlers": sorted(name for handler_list in handlers for name in ours(handler_list)),
    }
    bpy.ops.preferences.addon_enable(module=module)  # enable again in the same session, as a user toggling it
    result["re_enabled"] = {
        "operators": len([op for op in dir(bpy.ops.smpl) if op in ("add_body", "set_pose", "write_pose")]),
        "handlers": sorted(name for handler_list in handlers for name in ours(handler_list)),
    }
    bpy.ops.preferences.addon_disable(module=module)
    print("RESULT " + json.dumps(result))
"""

EXPECTED_OPERATORS = {
    "add_body",
    "import_body",
    "set_shape",
    "random_shape",
    "reset_shape",
    "height_weight",
    "snap_to_ground",
    "set_pose",
    "load_pose",
    "reset_pose",
    "hand_pose",
    "write_pose",
    "update_correctives",
    "scan_model_folders",
    "show_shape_sliders",
    "export_motion",
    "import_motion",
    "export_body",
    "export_fbx",
    "fit_to_points",
    "fit_to_selected",
}


def test_install_register_use_and_unregister(extension_zip, model_folder, tmp_path):
    user_dir = tmp_path / "blender_user"
    user_dir.mkdir()
    result = run_installed(INSTALL_SCRIPT, extension_zip, model_folder, user_dir, user_dir=user_dir)

    assert os.path.realpath(result["user_resources"]) == os.path.realpath(user_dir)  # real user config untouched
    assert os.path.realpath(result["installed_in"]).startswith(
        os.path.realpath(user_dir / "extensions" / "user_default")
    )
    assert result["enabled"] and not result["repository_copy_imported"]
    assert EXPECTED_OPERATORS <= set(result["operators"])
    assert result["panels"] == ["SMPL_PT_body", "SMPL_PT_shape", "SMPL_PT_pose"]
    assert result["body"] == {"kind": "smplx", "bones": 55, "vertices": 282, "slider0": 0.5, "n_sliders": 10}

    assert result["folders"] == [str(model_folder)] and result["folders_after_remove"] == 0
    assert "no_such_folder: not a folder" in result["bad_folder_error"]
    assert result["found"] == [["smplx", "neutral", os.path.join("smplx", "SMPLX_NEUTRAL.npz")]]
    assert len(result["skipped"]) == 2 and any("walk_poses.npz" in s for s in result["skipped"])
    assert any("notes.pkl" in s for s in result["skipped"])
    assert str(model_folder / "smplx" / "SMPLX_NEUTRAL.npz") in result["model_menu"]
    assert result["model_menu"][:2] == ["open-smplx", "open-smpl"]
    assert result["added_from_menu"] == str(model_folder / "smplx" / "SMPLX_NEUTRAL.npz")

    if os.path.isfile(os.path.join(REPO, "assets", "open_smplx_neutral.npz")):
        assert result["builtin"] == {"model": "open-smplx", "kind": "smplx"}
        installed_package = os.path.dirname(os.path.realpath(result["installed_in"]))
        assert os.path.realpath(result["builtin_path"]) == os.path.join(
            installed_package, "assets", "open_smplx_neutral.npz"
        )

    assert result["menu_entries"] == [
        "menu_export_body",
        "menu_export_fbx",
        "menu_export_motion",
        "menu_fit_to_points",
        "menu_import_body",
        "menu_import_motion",
        "menu_import_pose",
    ]
    assert result["handlers"] == ["on_depsgraph_update", "on_frame_change"]  # automatic correctives
    assert result["after_disable"] == {
        "enabled": False,
        "operators": [],
        "panel": False,
        "object_property": False,
        "menu_entries": [],
        "handlers": [],
    }
    assert result["re_enabled"] == {"operators": 3, "handlers": ["on_depsgraph_update", "on_frame_change"]}
    assert os.listdir(user_dir / "extensions" / "user_default")  # installed into the temporary user folder only
