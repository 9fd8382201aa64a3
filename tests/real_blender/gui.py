# SPDX-License-Identifier: GPL-3.0-or-later
"""The installed extension in Blender's GUI, as a user sees it: sidebar, Add Body, a slider, Import Motion and its dialog,
screenshots.

    xvfb-run -a -s '-screen 0 1600x1000x24' blender --python tests/real_blender/gui.py -- OUT_DIR

Runs in steps from a timer once the window is up (default startup file, its cube included), so that every panel is
really drawn between steps; scripts/real_blender.sh fails the run on any traceback or draw() error in Blender's output.
Writes OUT_DIR/readme-gui-*.png (copied to docs/img with SMPL_UPDATE_DOCS=1). Prints "gui: all checks passed" and
quits; any failure prints its traceback and exits with status 1.
"""

import os
import subprocess
import sys
import traceback

import bpy
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # Blender does not put a --python script's folder there
from scene import body_mesh, evaluated_world  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEMO_MOTION = os.path.join(REPO, "assets", "demo_motion_smplx.npz")
OUT = sys.argv[sys.argv.index("--") + 1] if "--" in sys.argv else "/tmp/smpl_gui"


def view3d():
    """(window, area, sidebar region, main region) of the first 3D view."""
    window = bpy.context.window_manager.windows[0]
    area = next(a for a in window.screen.areas if a.type == "VIEW_3D")
    regions = {r.type: r for r in area.regions}
    return window, area, regions["UI"], regions["WINDOW"]


def in_view(operator, *args, **kwargs):
    window, area, _, region = view3d()
    with bpy.context.temp_override(window=window, area=area, region=region, screen=window.screen):
        return operator(*args, **kwargs)


def screenshot(name):
    """The X screen as the user sees it (ImageMagick's import: Blender's own screenshot reads back black under Xvfb),
    checked to be a picture rather than a blank screen."""
    path = os.path.join(OUT, f"readme-gui-{name}.png")
    subprocess.run(["import", "-window", "root", path], check=True, timeout=60)
    image = bpy.data.images.load(path)
    pixels = np.empty(image.size[0] * image.size[1] * 4, dtype=np.float32)
    image.pixels.foreach_get(pixels)
    bpy.data.images.remove(image)
    assert pixels.reshape(-1, 4)[:, :3].std() > 0.02, f"{path} is blank"
    print("screenshot", path)


def lowest_point(arm):
    return float(evaluated_world(body_mesh(arm))[:, 2].min())


def look_at(point, distance):
    """The 3D view looking at ``point`` from the front right, slightly above, as a user would turn it."""
    from mathutils import Euler

    _, area, _, _ = view3d()
    r3d = area.spaces.active.region_3d
    r3d.view_perspective = "PERSP"
    r3d.view_location = point
    r3d.view_distance = distance
    r3d.view_rotation = Euler((1.35, 0.0, 0.6)).to_quaternion()
    redraw()  # the sidebar too: it shows the new active body


def open_sidebar():
    _, area, _, _ = view3d()
    area.spaces.active.show_region_ui = True
    area.tag_redraw()


def show_smpl_tab():
    _, area, sidebar, _ = view3d()
    sidebar.active_panel_category = "SMPL"  # known once the sidebar has been drawn
    area.tag_redraw()


def add_body():
    assert bpy.context.scene.objects.get("Cube") is not None  # the default startup file, as a user has it
    bpy.context.scene.cursor.location = (1.5, 0.0, 0.0)  # beside the cube
    in_view(bpy.ops.smpl.add_body, "EXEC_DEFAULT", model="open-smplx")
    arm = bpy.context.view_layer.objects.active
    assert arm is not None and arm.type == "ARMATURE", arm
    assert abs(lowest_point(arm)) < 1e-4 and abs(arm.location.x - 1.5) < 1e-6, (lowest_point(arm), arm.location)
    arm.smpl_ui.betas[0].value = 1.5  # the first slider, β1, as a user drags it
    assert abs(arm["smpl_betas"][0] - 1.5) < 1e-6, list(arm["smpl_betas"])[:3]
    look_at((0.8, 0.0, 0.9), 4.5)


def after_add():
    screenshot("add-body")
    bpy.ops.ed.undo_push(message="body added")


def import_motion():
    bpy.data.objects["Cube"].hide_set(True)  # the motion walks through the origin, where the cube stands
    in_view(bpy.ops.smpl.import_motion, "EXEC_DEFAULT", filepath=DEMO_MOTION, body="NEW", correctives=True)
    arm = bpy.context.view_layer.objects.active
    assert arm.animation_data and arm.animation_data.action
    bpy.context.scene.frame_set(40)
    bpy.ops.smpl.scan_model_folders()  # no folders yet: the page says so
    prefs = bpy.context.preferences.addons[_addon_key()]
    assert "No model folders" in prefs.preferences.scan_problems, prefs.preferences.scan_problems
    pelvis = arm.matrix_world @ arm.pose.bones["pelvis"].head
    look_at((pelvis.x, pelvis.y, 0.9), 4.0)


def _addon_key():
    return next(k for k in bpy.context.preferences.addons.keys() if k.endswith("smpl_blender_addon"))


def after_import():
    screenshot("motion")


def open_import_dialog():
    """The Import Motion file browser: its options column is the operator's draw()."""
    in_view(bpy.ops.smpl.import_motion, "INVOKE_DEFAULT")


def file_browsers():
    return [(w, a) for w in bpy.context.window_manager.windows for a in w.screen.areas if a.type == "FILE_BROWSER"]


def close_import_dialog():
    browsers = file_browsers()
    assert browsers, "the import dialog did not open"
    screenshot("import-dialog")
    window, area = browsers[0]
    region = next(r for r in area.regions if r.type == "WINDOW")
    with bpy.context.temp_override(window=window, area=area, region=region):  # its screen is a temporary one
        bpy.ops.file.cancel()


def finish():
    assert not file_browsers(), "the import dialog did not close"
    print("gui: all checks passed", flush=True)
    bpy.ops.wm.quit_blender()


def redraw():
    """A step of its own: one more redraw of every region before a screenshot."""
    for area in bpy.context.window_manager.windows[0].screen.areas:
        area.tag_redraw()


STEPS = [
    open_sidebar,
    show_smpl_tab,
    add_body,
    redraw,
    after_add,
    import_motion,
    redraw,
    after_import,
    open_import_dialog,
    redraw,
    close_import_dialog,
    finish,
]


def run_next():
    step = STEPS.pop(0)
    try:
        step()
    except Exception:  # noqa: BLE001 - the traceback goes to the log, the exit status fails the step
        traceback.print_exc()
        sys.stdout.flush()
        os._exit(1)
    return 1.0 if STEPS else None  # a second between steps: Blender redraws the window


os.makedirs(OUT, exist_ok=True)
bpy.app.timers.register(run_next, first_interval=2.0)
