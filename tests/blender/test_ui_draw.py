# SPDX-License-Identifier: GPL-3.0-or-later
"""Every draw() of the ui layer runs: the sidebar panels (no body, and a body of each model kind), the UI list of
coefficient sliders, the operators' own dialogs, the add-on preferences and the File › Import / Export entries.

Without a window there is no real ``UILayout`` to draw into, so the draw code gets a :class:`LayoutChecker`: it takes
the calls a ``UILayout`` takes and checks each one against the real, registered RNA (the function and its parameters
exist on ``bpy.types.UILayout``, values have the parameter's type, icons are Blender icons, ``prop(data, name)`` names a
property of ``data``, ``operator(idname)`` names a registered operator and what is set on its returned properties is
one of that operator's properties with a valid value, ``template_list`` names a registered UI list and a collection).
"""

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

from synthetic_body import official_layout_arrays, synthetic_arrays  # noqa: E402

import smpl_blender_addon  # noqa: E402
from smpl_blender_addon.blender import add_body, compat  # noqa: E402
from smpl_blender_addon.blender import body as body_api  # noqa: E402
from smpl_blender_addon.ui import body as ui_body  # noqa: E402
from smpl_blender_addon.ui import fit, import_export, panels, pose, preferences  # noqa: E402

UILAYOUT = bpy.types.UILayout.bl_rna
PY_TYPES = {"STRING": str, "BOOLEAN": (bool, int), "INT": int, "FLOAT": (int, float)}


@pytest.fixture(scope="module", autouse=True)
def registered():
    smpl_blender_addon.register()
    yield
    smpl_blender_addon.unregister()


@pytest.fixture(scope="module")
def model_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("draw_models")
    paths = {}
    for seed, kind in enumerate(("smpl", "smplh", "smplx")):
        paths[kind] = folder / f"{kind}.npz"
        np.savez(paths[kind], **official_layout_arrays(synthetic_arrays(kind, seed=30 + seed)))
    return paths


def _check_value(where, rna_property, value):
    """``value`` fits an RNA property (or function parameter): its Python type, and for an enum one of its items."""
    kind = rna_property.type
    if kind == "ENUM":
        items = set(rna_property.enum_items.keys())
        if items:  # dynamic enums (e.g. the model menu) have none to check against here
            chosen = set(value) if rna_property.is_enum_flag else {value}
            assert chosen <= items, f"{where}: {value!r} is not one of {sorted(items)[:20]}"
    elif kind in PY_TYPES:
        assert isinstance(value, PY_TYPES[kind]), f"{where}: {value!r} is not {kind}"


class OperatorPropertiesChecker:
    """What ``layout.operator()`` returns: setting an attribute must set one of the operator's properties."""

    def __init__(self, idname):
        group, name = idname.split(".")
        object.__setattr__(self, "rna", getattr(getattr(bpy.ops, group), name).get_rna_type())
        object.__setattr__(self, "idname", idname)

    def __setattr__(self, name, value):
        assert name in self.rna.properties, f"{self.idname} has no property {name!r}"
        _check_value(f"{self.idname}.{name}", self.rna.properties[name], value)


class LayoutChecker:
    """Takes the calls of a ``UILayout``; each is checked against the registered RNA and recorded in ``drawn``."""

    def __init__(self, context, drawn=None):
        object.__setattr__(self, "context", context)
        object.__setattr__(self, "drawn", [] if drawn is None else drawn)

    def __setattr__(self, name, value):
        assert name in UILAYOUT.properties, f"UILayout has no attribute {name!r}"
        _check_value(f"UILayout.{name}", UILAYOUT.properties[name], value)

    def __getattr__(self, name):
        function = UILAYOUT.functions.get(name)
        assert function is not None, f"UILayout has no function {name!r}"
        return lambda *args, **kwargs: self._call(name, function, args, kwargs)

    def _call(self, name, function, args, kwargs):
        inputs = [p for p in function.parameters if not p.is_output]
        assert len(args) <= len(inputs), f"UILayout.{name}: {len(args)} positional arguments"
        given = dict(zip((p.identifier for p in inputs), args))
        for key, value in kwargs.items():
            assert key not in given, f"UILayout.{name}: {key!r} given twice"
            given[key] = value
        for parameter in inputs:
            if parameter.is_required:
                assert parameter.identifier in given, f"UILayout.{name}: {parameter.identifier!r} missing"
        for key, value in given.items():
            assert key in function.parameters, f"UILayout.{name} has no parameter {key!r}"
            _check_value(f"UILayout.{name}({key}=...)", function.parameters[key], value)
        check = getattr(type(self), f"_check_{name}", None)  # not self: __getattr__ takes UILayout names only
        result = check(self, **given) if check is not None else None
        self.drawn.append((name, given))
        outputs = [p.identifier for p in function.parameters if p.is_output]
        if outputs == ["layout"]:
            return LayoutChecker(self.context, self.drawn)
        return result

    def _check_prop(self, data, property, **_):
        assert property in data.bl_rna.properties, f"{data.bl_rna.identifier} has no property {property!r}"

    def _check_operator(self, operator, **_):
        return OperatorPropertiesChecker(operator)

    def _check_template_list(self, listtype_name, dataptr, propname, active_dataptr, active_propname, **_):
        ui_list = getattr(bpy.types, listtype_name, None)
        assert ui_list is not None and issubclass(ui_list, bpy.types.UIList), f"no UI list {listtype_name!r}"
        assert dataptr.bl_rna.properties[propname].type == "COLLECTION", propname
        assert active_dataptr.bl_rna.properties[active_propname].type == "INT", active_propname
        for index, item in enumerate(getattr(dataptr, propname)):  # Blender draws each visible item with draw_item
            ui_list.draw_item(
                ui_list,
                self.context,
                LayoutChecker(self.context, self.drawn),
                dataptr,
                item,
                0,
                active_dataptr,
                active_propname,
                index,
            )


class StandIn:
    """``self`` of a draw function: a layout checker, plus the attribute values the draw code reads (and the RNA
    they belong to, so that ``layout.prop(self, name)`` is checked against it)."""

    def __init__(self, context, bl_rna=None, **values):
        self.layout = LayoutChecker(context)
        self.bl_rna = bl_rna
        self.__dict__.update(values)


def draw_panel(panel, context):
    """What Blender does for one sidebar panel: poll, then draw. Returns the recorded calls, or None when hidden."""
    if hasattr(panel, "poll") and not panel.poll(context):
        return None
    self = StandIn(context)
    panel.draw(self, context)
    return self.layout.drawn


def drawn_operators(drawn):
    return [given["operator"] for name, given in drawn if name == "operator"]


def drawn_props(drawn):
    return [given["property"] for name, given in drawn if name == "prop"]


def test_panels_without_a_body():
    context = bpy.context
    assert draw_panel(panels.SMPL_PT_shape, context) is None and draw_panel(panels.SMPL_PT_pose, context) is None
    drawn = draw_panel(panels.SMPL_PT_body, context)
    assert drawn_operators(drawn) == [
        "smpl.add_body",
        "smpl.import_body",
        "smpl.import_motion",
        "smpl.fit_to_points",
        "smpl.fit_to_selected",
    ]
    assert drawn_props(drawn) == ["model", "gender"]


@pytest.mark.parametrize("kind", ["smpl", "smplh", "smplx"])
@pytest.mark.parametrize("sliders", [True, False], ids=["sliders", "script_body"])
@pytest.mark.parametrize("select", ["armature", "mesh"])
def test_panels_of_a_body_of_each_kind(model_files, kind, sliders, select):
    if sliders:
        assert bpy.ops.smpl.add_body(model=str(model_files[kind]), betas="0.5 -0.2") == {"FINISHED"}
        arm = bpy.context.active_object
    else:  # built by the scripting API: no sliders until Show Shape Sliders
        arm = add_body(model=str(model_files[kind]), betas=[0.5, -0.2])
    active = arm if select == "armature" else body_api.body_mesh(arm)
    bpy.context.view_layer.objects.active = active
    context = bpy.context
    has_expression = body_api.body_expression(arm).size > 0
    assert has_expression == (kind == "smplx")

    body = draw_panel(panels.SMPL_PT_body, context)
    labels = [given.get("text") for name, given in body if name == "label"]
    assert arm.name in labels and kind.upper() in labels

    shape = draw_panel(panels.SMPL_PT_shape, context)
    operators = drawn_operators(shape)
    assert ("smpl.show_shape_sliders" in operators) == (not sliders)
    lists = [given["propname"] for name, given in shape if name == "template_list"]
    assert lists == ((["betas", "expression"] if has_expression else ["betas"]) if sliders else [])
    slider_count = drawn_props(shape).count("value")  # one draw_item per coefficient
    assert slider_count == (len(arm.smpl_ui.betas) + len(arm.smpl_ui.expression) if sliders else 0)
    assert operators.count("smpl.random_shape") == (2 if has_expression else 1)

    pose = draw_panel(panels.SMPL_PT_pose, context)
    assert drawn_props(pose) == ["auto_correctives"]
    assert {"smpl.write_pose", "smpl.update_correctives", "smpl.export_fbx", "smpl.export_body"} <= set(
        drawn_operators(pose)
    )


def test_pose_panel_offers_vposer_once_its_weights_are_set(model_files, monkeypatch):
    assert bpy.ops.smpl.add_body(model=str(model_files["smpl"])) == {"FINISHED"}
    without = drawn_operators(draw_panel(panels.SMPL_PT_pose, bpy.context))
    monkeypatch.setattr(panels, "vposer_weights", lambda context: "/weights/V02_05.ckpt")
    with_weights = drawn_operators(draw_panel(panels.SMPL_PT_pose, bpy.context))
    vposer = {"smpl.random_pose_vposer", "smpl.vposer_inbetweens"}
    assert not vposer & set(without) and vposer <= set(with_weights)


def test_operator_dialogs_draw_every_variant(model_files, monkeypatch):
    assert bpy.ops.smpl.add_body(model=str(model_files["smplx"])) == {"FINISHED"}
    context = bpy.context
    rna = bpy.ops.smpl.import_motion.get_rna_type()
    for body in ("NEW", "SELECTED"):
        for fps_mode in ("SCENE", "SOURCE", "CUSTOM"):
            self = StandIn(context, rna, body=body, fps_mode=fps_mode)
            import_export.SMPL_OT_import_motion.draw(self, context)
            props = drawn_props(self.layout.drawn)
            assert ("fps" in props) == (fps_mode == "CUSTOM") and {"model", "gender", "name", "up_axis"} <= set(props)
    rna = bpy.ops.smpl.export_body.get_rna_type()
    for alembic in (True, False):
        monkeypatch.setattr(compat, "has_alembic", lambda alembic=alembic: alembic)
        for format in ("GLB", "ABC"):
            self = StandIn(context, rna, format=format, use_action_range=True)
            import_export.SMPL_OT_export_body.draw(self, context)
            props = drawn_props(self.layout.drawn)
            assert ("max_influences" in props) == (format == "GLB")
            warned = any(name == "label" and given.get("icon") == "ERROR" for name, given in self.layout.drawn)
            assert warned == (format == "ABC" and not alembic)
    for operator in (fit.SMPL_OT_fit_to_points, fit.SMPL_OT_fit_to_selected):
        rna = getattr(bpy.ops.smpl, operator.bl_idname.split(".")[1]).get_rna_type()
        for body in ("NEW", "SELECTED"):
            for weights in ("", "/weights/V02_05.ckpt"):
                monkeypatch.setattr(fit, "vposer_weights", lambda context, weights=weights: weights)
                self = StandIn(context, rna, body=body, model="", gender="DEFAULT")
                self.draw_settings = lambda context, self=self: fit._FitSettings.draw_settings(self, context)
                operator.draw(self, context)
                props = drawn_props(self.layout.drawn)
                assert {"body", "model", "gender", "smoothing", "use_vposer", "correctives"} <= set(props)
                assert ("layout_name" in props) == (operator is fit.SMPL_OT_fit_to_points)


def test_preferences_and_file_menu_entries_draw():
    context = bpy.context
    folder = StandIn(context, preferences.SMPL_PG_model_folder.bl_rna, path="/models")
    found = StandIn(context, preferences.SMPL_PG_found_model.bl_rna, path="/models/a.npz", kind="smplx", gender="male")
    for found_models, problems in (([], ""), ([found], "skipped.npz: not a body model\nnotes.pkl: unreadable")):
        self = StandIn(
            context,
            preferences.SMPL_AP_preferences.bl_rna,
            model_folders=[folder],
            found_models=found_models,
            scan_problems=problems,
        )
        preferences.SMPL_AP_preferences.draw(self, context)
        assert drawn_operators(self.layout.drawn) == [
            "smpl.remove_model_folder",
            "smpl.add_model_folder",
            "smpl.scan_model_folders",
        ]
    entries = []
    for menu in (bpy.types.TOPBAR_MT_file_import, bpy.types.TOPBAR_MT_file_export):
        for draw in menu._dyn_ui_initialize():
            if getattr(draw, "__module__", "").startswith("smpl_blender_addon."):
                self = StandIn(context)
                draw(self, context)
                entries += drawn_operators(self.layout.drawn)
    assert entries == [
        "smpl.import_body",
        "smpl.load_pose",
        "smpl.import_motion",
        "smpl.fit_to_points",
        "smpl.export_body",
        "smpl.export_motion",
        "smpl.export_fbx",
    ]


class FileBrowserRecorder:
    """``context.window_manager`` for invoke(): records the file browsers opened (none can open without a window)."""

    def __init__(self):
        self.opened = []

    def fileselect_add(self, operator):
        self.opened.append(operator.filepath)


@pytest.mark.parametrize(
    "operator, values, expected",
    [
        (import_export.SMPL_OT_export_motion, {"format": "AMASS"}, "Bob.npz"),
        (import_export.SMPL_OT_export_motion, {"format": "SMPL"}, "Bob.smpl"),
        (import_export.SMPL_OT_export_body, {"format": "GLB"}, "Bob.glb"),
        (import_export.SMPL_OT_export_body, {"format": "ABC"}, "Bob.abc"),
        (import_export.SMPL_OT_export_fbx, {}, "Bob.fbx"),
        (import_export.SMPL_OT_export_fbx, {"filepath": "/out/take.fbx"}, "/out/take.fbx"),
        (pose.SMPL_OT_write_pose, {"target": "JSON"}, "Bob.json"),
        (pose.SMPL_OT_write_pose, {"target": "NPZ"}, "Bob.npz"),
        (import_export.SMPL_OT_import_motion, {}, ""),
        (fit.SMPL_OT_fit_to_points, {}, ""),
        (pose.SMPL_OT_load_pose, {}, ""),
        (ui_body.SMPL_OT_import_body, {}, ""),
    ],
)
def test_invoke_opens_the_file_browser_with_a_name_from_the_body(operator, values, expected):
    """What invoke() does from the UI, run on a stand-in operator (bpy.ops calls execute() directly without a window):
    the file browser opens, for an export with the body's name and the format's extension."""
    assert bpy.ops.smpl.add_body(model="open-smpl", name="Bob") == {"FINISHED"}
    recorder = FileBrowserRecorder()
    context = StandIn(bpy.context, window_manager=recorder, active_object=bpy.context.active_object)
    context.blend_data = bpy.data
    rna = getattr(bpy.ops.smpl, operator.bl_idname.split(".")[1]).get_rna_type()
    defaults = {p.identifier: p.default for p in rna.properties if p.type == "STRING" and p.identifier != "rna_type"}
    python_side = {}  # the operator's Python attributes, properties and methods (its own and its mix-ins'), no bpy base
    for cls in reversed(operator.__mro__):
        if cls.__module__.startswith("smpl_blender_addon"):
            python_side.update({n: v for n, v in vars(cls).items() if n[:2] != "__"})
    stand_in = type("OperatorStandIn", (), python_side)()
    stand_in.__dict__.update(defaults, body="NEW", **values)
    assert operator.invoke(stand_in, context, None) == {"RUNNING_MODAL"}
    assert recorder.opened == [expected]
    if operator is import_export.SMPL_OT_import_motion:
        assert stand_in.body == "SELECTED"  # a body is active: the motion goes onto it
