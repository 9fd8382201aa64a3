# SPDX-License-Identifier: GPL-3.0-or-later
"""Safe readers for SMPL / SMPL-H / SMPL-X / MANO model files.

:func:`read_model_file` turns a ``.pkl`` / ``.npz`` file, or a folder of official files, into a plain dict of validated,
normalised arrays. Pickles go through the allow-list unpickler of :mod:`.safe_pickle`; ``.npz`` files are opened with
``allow_pickle=False`` and their pickled members (``joint2num``, ``part2num``...) are skipped. Every failure is a
:class:`ModelFileError` naming the file and the problem; no partial model is ever returned.

The model kind is taken from array sizes (J = 24 / 52 / 55 / 16 joints with P = 9(J-1) pose blend shapes), never
from the file name. NumPy only.
"""

import os
import re
from pathlib import Path

import numpy as np

from .errors import ModelFileError
from .file_io import file_head, is_zip, read_npz, walk_files
from .safe_pickle import load_pickle_dict

KIND_BY_JOINT_COUNT = {24: "smpl", 52: "smplh", 55: "smplx", 16: "mano"}
KINDS = ("smpl", "smplh", "smplx", "mano")

# Legacy names accepted by the original smpl_webuser loader.
KEY_ALIASES = {
    "default_v": "v_template",
    "template_v": "v_template",
    "joint_regressor": "J_regressor",
    "blendshapes": "posedirs",
}
REQUIRED_KEYS = ("v_template", "f", "shapedirs", "posedirs", "J_regressor", "weights")
# Per-side hand PCA as stored by smplx / merge_smplh_mano (l/r suffix) -> our names.
HAND_KEYS = {
    "hands_componentsl": "hands_components_left",
    "hands_componentsr": "hands_components_right",
    "hands_meanl": "hands_mean_left",
    "hands_meanr": "hands_mean_right",
}
# Keys that are read as arrays (not metadata) or deliberately ignored (training priors, smplx-only extras).
_ARRAY_KEYS = (
    set(REQUIRED_KEYS)
    | set(KEY_ALIASES)
    | set(HAND_KEYS)
    | {
        "kintree_table",
        "parents",
        "vt",
        "ft",
        "joint_names",
        "hands_components",
        "hands_mean",
    }
)
# smplx's SMPL-X split of shapedirs: v1.0 files hold 10 shape + 10 expression columns, v1.1 files 300 + 100.
SMPLX_V10_SHAPE, SMPLX_V10_EXPR_END = 10, 20
SMPLX_V11_SHAPE, SMPLX_V11_EXPR_END, SMPLX_V11_MIN_COLUMNS = 300, 400, 400

# Tolerance on sum_j weights[v, j] == 1; float16 files round every entry to ~5e-4 relative.
_WEIGHT_SUM_TOLERANCE = {np.dtype(np.float16): 1e-2}
_DEFAULT_WEIGHT_SUM_TOLERANCE = 1e-4
# Model folders are scanned 4 levels deep: official downloads nest their files two folders deep (models/smplx/
# SMPLX_NEUTRAL.npz, smplh/male/model.npz), under the folder the archive unzips into; one more level lets the user
# choose a folder that holds several downloads. With the file cap, this bounds a scan of a whole disk chosen by mistake.
MODEL_SCAN_DEPTH = 4
MODEL_SCAN_MAX_FILES = 5000
MODEL_SUFFIXES = (".npz", ".pkl")


# --------------------------------------------------------------------------------------------------------------------
# Public API


def read_model_file(path, gender=None, hand_pca=None, kind=None):
    """Read and validate one body model.

    Args:
        path: a ``.pkl`` / ``.npz`` file, or a folder of official model files (then ``gender`` and ``kind`` choose
            among the files found, see :func:`find_model_file`).
        gender: "female" | "male" | "neutral" (or "f" / "m" / "n"); used only to pick a file in a folder.
        hand_pca: optional ``(left_path, right_path)`` of ``MANO_LEFT.pkl`` / ``MANO_RIGHT.pkl``, merged in memory
            into an SMPL-H model.
        kind: optional "smpl" | "smplh" | "smplx" | "mano": picks a file in a folder; for a file, it must match.

    Returns:
        dict with "v_template" (V,3) f64, "faces" (F,3) i64, "shapedirs" (V,3,nβ) f64, "exprdirs" (V,3,nψ) f64,
        "posedirs" (V,3,9(J-1)) f64, "J_regressor" (J,V) f64, "weights" (V,J) f64, "parents" (J,) i64 with
        parents[0] = -1, "kind", "gender" (str or None), "path" (str), "meta" (dict of scalar metadata); optionally
        "hands_components_left/right" (n,45), "hands_mean_left/right" (45,) (MANO files: "hands_components",
        "hands_mean"), "vt" (T,2) f64, "ft" (F,3) i64, "joint_names" (list of J str).

    Raises:
        ModelFileError: missing / empty / truncated / unsafe / malformed file, or a folder without a matching model.
    """
    if kind is not None and kind not in KINDS:
        raise ModelFileError(path, f"unknown model kind {kind!r}; expected one of {', '.join(KINDS)}")
    path = Path(os.fspath(path)).expanduser()
    if path.is_dir():
        path = find_model_file(path, gender=gender, kind=kind)
    elif not path.exists():
        raise ModelFileError(path, "no such file or folder")
    model = normalise_model_arrays(read_raw_model_file(path), path)
    if kind is not None and model["kind"] != kind:
        raise ModelFileError(path, f"holds a {model['kind']} model (J={len(model['parents'])}), not {kind}")
    if hand_pca is not None:
        merge_hand_pca(model, hand_pca)
    return model


def read_raw_model_file(path):
    """Read a ``.npz`` or ``.pkl`` file into a dict of arrays / scalars, without validation.

    The format is chosen from the file's first bytes (zip -> npz, else pickle), so a misnamed file still reads.
    """
    path = Path(os.fspath(path))
    head, _ = file_head(path, 4, ModelFileError)
    if is_zip(head):
        raw, skipped = read_npz(path, ModelFileError)  # joint2num / part2num & co need pickle; the core needs none
        raw["__skipped__"] = skipped
        return raw
    if path.suffix.lower() == ".npz":
        raise ModelFileError(path, "not an .npz (zip) archive")
    return load_pickle_dict(path, error=ModelFileError)


def find_model_file(folder, gender=None, kind=None):
    """Pick the model file for ``gender`` / ``kind`` in a folder of official (or open-body) model files.

    Files are recognised by their known names (``SMPL_{GENDER}.pkl``, ``basicmodel_{f,m,neutral}_lbs_*.pkl``,
    ``SMPLH_{gender}.pkl/.npz``, ``smplh/{gender}/model.npz``, ``SMPLX_{GENDER}*.npz/.pkl``,
    ``open_{kind}_{gender}.npz``) or, for other ``.npz`` files, by the joint count in their ``weights`` header.
    Without ``gender``, a single candidate or the neutral one is taken; ``.npz`` is preferred over ``.pkl`` of the
    same kind and gender. MANO hand files are never candidates.

    Returns:
        Path of the chosen file.

    Raises:
        ModelFileError naming the folder and listing what was found when nothing or more than one file matches.
    """
    folder = Path(os.fspath(folder))
    wanted_gender = None
    if gender is not None:
        wanted_gender = normalise_gender(gender)
        if wanted_gender is None:
            raise ModelFileError(folder, f"unknown gender {gender!r}; expected female, male or neutral")
    candidates = _scan_model_folder(folder)
    if not candidates:
        raise ModelFileError(folder, "no SMPL / SMPL-H / SMPL-X model file found in this folder")
    found = _describe(candidates)
    chosen = [c for c in candidates if kind is None or c[1] == kind]
    if not chosen:
        raise ModelFileError(folder, f"no {kind} model file here; found: {found}")
    if wanted_gender is not None:
        chosen = [c for c in chosen if c[2] == wanted_gender]
        if not chosen:
            raise ModelFileError(folder, f"no {wanted_gender} {kind or 'model'} file here; found: {found}")
    kinds = sorted({c[1] for c in chosen})
    if len(kinds) > 1:
        raise ModelFileError(folder, f"holds several model kinds ({', '.join(kinds)}); pass kind=; found: {found}")
    if wanted_gender is None and len({c[2] for c in chosen}) > 1:
        neutral = [c for c in chosen if c[2] == "neutral"]
        if not neutral:
            raise ModelFileError(folder, f"several genders and no neutral model; pass gender=; found: {found}")
        chosen = neutral
    npz = [c for c in chosen if c[0].suffix.lower() == ".npz"]
    chosen = npz or chosen
    if len(chosen) > 1:
        names = ", ".join(str(c[0].relative_to(folder)) for c in chosen)
        raise ModelFileError(folder, f"several matching model files ({names}); pass the file path instead")
    return chosen[0][0]


def normalise_gender(value):
    """'f' / 'FEMALE' / b'female' ... -> "female" | "male" | "neutral", or None when not a gender."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value.item()
    if isinstance(value, bytes):
        value = value.decode("latin-1")  # str(b"male") would give "b'male'"
    if not isinstance(value, str):
        return None
    return {"f": "female", "female": "female", "m": "male", "male": "male", "n": "neutral", "neutral": "neutral"}.get(
        value.strip().lower()
    )


def merge_hand_pca(model, hand_pca):
    """Add MANO hand PCA to an SMPL-H model dict, in place, as smplx's merge_smplh_mano does.

    Args:
        model: dict from :func:`read_model_file` with kind "smplh".
        hand_pca: ``(left_path, right_path)`` of MANO_LEFT.pkl / MANO_RIGHT.pkl.

    Sets "hands_components_left/right" (n,45) and "hands_mean_left/right" (45,), and records the paths in meta.
    """
    if model["kind"] != "smplh":
        raise ModelFileError(model["path"], f"hand_pca can only be merged into an SMPL-H model, not {model['kind']}")
    try:
        left_path, right_path = hand_pca
    except (TypeError, ValueError):
        raise ModelFileError(model["path"], "hand_pca must be a (left_path, right_path) pair") from None
    for side, hand_path in (("left", left_path), ("right", right_path)):
        hand = read_model_file(hand_path)
        if hand["kind"] != "mano" or "hands_components" not in hand or "hands_mean" not in hand:
            raise ModelFileError(hand["path"], f"not a MANO hand model with hands_components/hands_mean ({side})")
        model[f"hands_components_{side}"] = hand["hands_components"]
        model[f"hands_mean_{side}"] = hand["hands_mean"]
        model["meta"][f"hand_pca_{side}"] = hand["path"]
    return model


# --------------------------------------------------------------------------------------------------------------------
# Reading


def model_folder_files(folder):
    """The ``.npz`` / ``.pkl`` files of a model folder: sorted paths (``str``), at most MODEL_SCAN_DEPTH folder
    levels below ``folder`` and at most MODEL_SCAN_MAX_FILES of them; hidden names and non-regular files skipped.

    The one folder scan of the add-on: :func:`find_model_file` and the preferences' "Scan Folders" both use it.
    """
    return walk_files(folder, MODEL_SUFFIXES, max_depth=MODEL_SCAN_DEPTH, max_files=MODEL_SCAN_MAX_FILES)


def _scan_model_folder(folder):
    """Candidate model files under ``folder``: list of (path, kind, gender or None), sorted by path."""
    candidates = []
    for file_path in map(Path, model_folder_files(folder)):
        recognised = _recognise_by_name(file_path)
        if recognised is None and file_path.suffix.lower() == ".npz":
            recognised = _recognise_npz_by_content(file_path)
        if recognised is not None and recognised[0] != "mano":
            candidates.append((file_path, recognised[0], recognised[1]))
    return sorted(candidates, key=lambda c: str(c[0]))


_NAME_RULES = (
    (re.compile(r"^smpl_(female|male|neutral)\.pkl$", re.I), "smpl"),
    (re.compile(r"^basic_?model_(f|m|neutral)_lbs_.*\.pkl$", re.I), "smpl"),
    (re.compile(r"^smplh_(female|male|neutral)\.(pkl|npz)$", re.I), "smplh"),
    (re.compile(r"^smplx_(female|male|neutral)(_.*)?\.(npz|pkl)$", re.I), "smplx"),
    (re.compile(r"^mano_(left|right)\.pkl$", re.I), "mano"),
)
_OPEN_BODY_RULE = re.compile(r"^open_(smpl|smplh|smplx)_(female|male|neutral)\.npz$", re.I)


def _recognise_by_name(file_path):
    """(kind, gender) for a known official / open-body file name, else None. Kind here only guides folder choice."""
    name = file_path.name
    for rule, kind in _NAME_RULES:
        match = rule.match(name)
        if match:
            return kind, normalise_gender(match.group(1))
    match = _OPEN_BODY_RULE.match(name)
    if match:
        return match.group(1).lower(), normalise_gender(match.group(2))
    # AMASS-style extended SMPL-H / DMPL layout: smplh/{gender}/model.npz
    parent, grandparent = file_path.parent.name.lower(), file_path.parent.parent.name.lower()
    if name.lower() == "model.npz" and grandparent in ("smpl", "smplh", "smplx") and normalise_gender(parent):
        return grandparent, normalise_gender(parent)
    return None


def _recognise_npz_by_content(file_path):
    """(kind, gender) of an unnamed ``.npz`` from its ``weights`` (J columns) and ``gender`` members."""
    try:
        arrays, _ = read_npz(file_path, ModelFileError, names=("weights", "gender"))
    except ModelFileError:  # not a readable archive: simply not a candidate
        return None
    shape = arrays["weights"].shape if "weights" in arrays else ()
    if len(shape) != 2 or shape[1] not in KIND_BY_JOINT_COUNT:
        return None
    gender = normalise_gender(arrays["gender"]) if "gender" in arrays else None
    return KIND_BY_JOINT_COUNT[shape[1]], gender or _gender_from_path(file_path)


def _describe(candidates):
    """Human-readable list of candidates for error messages."""
    return "; ".join(f"{c[0].name} ({c[1]}, {c[2] or 'gender unknown'})" for c in candidates)


# --------------------------------------------------------------------------------------------------------------------
# Normalisation and validation


def normalise_model_arrays(raw, path):
    """Validate a raw model dict (from a pkl or npz) and return the normalised model dict of :func:`read_model_file`."""
    path = Path(os.fspath(path))
    raw = dict(raw)
    skipped = raw.pop("__skipped__", [])
    for alias, canonical in KEY_ALIASES.items():
        if canonical not in raw and alias in raw:
            raw[canonical] = raw[alias]
    missing = [key for key in REQUIRED_KEYS if key not in raw]
    if "kintree_table" not in raw and "parents" not in raw:
        missing.append("kintree_table")
    if missing:
        pickled = [key for key in missing if key in skipped]
        if pickled:
            raise ModelFileError(path, f"required member(s) {', '.join(pickled)} are pickled object arrays; refused")
        raise ModelFileError(path, f"missing required key(s) {', '.join(missing)}")

    v_template = _float_array(raw, "v_template", path, ndim=2)
    n_verts = v_template.shape[0]
    _require(
        v_template.shape[1] == 3 and n_verts > 0, path, f"v_template has shape {v_template.shape}, expected (V, 3)"
    )
    parents = _parents(raw, path)
    n_joints = parents.shape[0]
    kind = KIND_BY_JOINT_COUNT.get(n_joints)
    _require(
        kind is not None, path, f"{n_joints} joints matches no known model (SMPL 24, SMPL-H 52, SMPL-X 55, MANO 16)"
    )
    n_pose = 9 * (n_joints - 1)

    faces = _index_array(raw, "f", path, upper=n_verts, width=3)
    posedirs = _float_array(raw, "posedirs", path, ndim=3)
    _require(
        posedirs.shape == (n_verts, 3, n_pose),
        path,
        f"posedirs has shape {posedirs.shape}, expected {(n_verts, 3, n_pose)} for a {kind} model",
    )
    regressor = _float_array(raw, "J_regressor", path, ndim=2)
    _require(
        regressor.shape == (n_joints, n_verts),
        path,
        f"J_regressor has shape {regressor.shape}, expected {(n_joints, n_verts)}",
    )
    weights = _float_array(raw, "weights", path, ndim=2)
    _require(
        weights.shape == (n_verts, n_joints), path, f"weights has shape {weights.shape}, expected {(n_verts, n_joints)}"
    )
    tolerance = _WEIGHT_SUM_TOLERANCE.get(np.asarray(raw["weights"]).dtype, _DEFAULT_WEIGHT_SUM_TOLERANCE)
    worst = np.abs(weights.sum(axis=1) - 1.0).max()
    _require(worst <= tolerance, path, f"weights rows must sum to 1 (worst vertex off by {worst:.3g})")
    all_dirs = _float_array(raw, "shapedirs", path, ndim=3)
    _require(
        all_dirs.shape[:2] == (n_verts, 3) and all_dirs.shape[2] > 0,
        path,
        f"shapedirs has shape {all_dirs.shape}, expected ({n_verts}, 3, S) with S >= 1",
    )
    shapedirs, exprdirs = _split_shape_expression(all_dirs, kind, path)

    model = {
        "v_template": v_template,
        "faces": faces,
        "shapedirs": _drop_trailing_zero_columns(shapedirs),
        "exprdirs": _drop_trailing_zero_columns(exprdirs),
        "posedirs": posedirs,
        "J_regressor": regressor,
        "weights": weights,
        "parents": parents,
        "kind": kind,
    }
    model.update(_optional_arrays(raw, path, n_faces=faces.shape[0], n_joints=n_joints))
    meta = _scalar_metadata(raw, path)
    model["gender"] = normalise_gender(meta.get("gender")) or _gender_from_path(path)
    model["path"] = str(path.resolve())
    model["meta"] = meta
    return model


def _require(condition, path, problem):
    if not condition:
        raise ModelFileError(path, problem)


def _as_array(raw, key, path):
    """raw[key] as an ndarray; lists / tuples of numbers are accepted, objects are not."""
    value = raw[key]
    if not isinstance(value, np.ndarray):
        try:
            value = np.asarray(value)
        except Exception:
            raise ModelFileError(path, f"{key} is not an array") from None
    if value.dtype.hasobject:
        raise ModelFileError(path, f"{key} is an object array; refused")
    return value


def _float_array(raw, key, path, ndim):
    """raw[key] -> finite float64 array with ``ndim`` dimensions (float16/32/64 or integer input)."""
    value = _as_array(raw, key, path)
    _require(value.dtype.kind in "fiu", path, f"{key} has dtype {value.dtype}, expected a real number type")
    _require(value.ndim == ndim, path, f"{key} has shape {value.shape}, expected {ndim} dimensions")
    value = np.asarray(value, dtype=np.float64)  # no copy for float64 input: the raw dict is discarded
    _require(bool(np.isfinite(value).all()), path, f"{key} contains NaN or infinite values")
    return value


def _index_array(raw, key, path, upper, width):
    """raw[key] -> (N, width) int64 array of indices in [0, upper); any integer dtype accepted."""
    value = _as_array(raw, key, path)
    _require(value.dtype.kind in "iu", path, f"{key} has dtype {value.dtype}, expected integers")
    _require(
        value.ndim == 2 and value.shape[1] == width and value.shape[0] > 0,
        path,
        f"{key} has shape {value.shape}, expected (N, {width})",
    )
    low, high = int(value.min()), int(value.max())  # Python ints: no uint64 -> int64 wrap-around
    _require(low >= 0 and high < upper, path, f"{key} indices span [{low}, {high}], outside [0, {upper})")
    return value.astype(np.int64)


def _parents(raw, path):
    """(J,) int64 parent indices from kintree_table (2, J) (or a 'parents' array), parents[0] = -1, parents[i] < i."""
    if "kintree_table" in raw:
        table = _as_array(raw, "kintree_table", path)
        _require(table.dtype.kind in "iu", path, f"kintree_table has dtype {table.dtype}, expected integers")
        _require(
            table.ndim == 2 and table.shape[0] == 2 and table.shape[1] > 0,
            path,
            f"kintree_table has shape {table.shape}, expected (2, J)",
        )
        children = table[1].astype(np.int64)
        _require(np.array_equal(children, np.arange(table.shape[1])), path, "kintree_table row 1 is not 0..J-1")
        source = table[0]
    else:
        source = _as_array(raw, "parents", path)
        _require(
            source.dtype.kind in "iu" and source.ndim == 1 and source.shape[0] > 0,
            path,
            "parents must be a 1-D integer array",
        )
    # The root entry is 4294967295 (uint32 -1) in official files: never cast it, just overwrite it with -1.
    rest = source[1:]
    _require(rest.size == 0 or int(rest.max()) < source.shape[0], path, "kintree_table parent index out of range")
    parents = np.concatenate([[-1], rest.astype(np.int64)]).astype(np.int64)
    joint_ids = np.arange(parents.shape[0])
    bad = np.nonzero((parents[1:] < 0) | (parents[1:] >= joint_ids[1:]))[0] + 1
    if bad.size:
        joint = int(bad[0])
        raise ModelFileError(path, f"joint {joint} has parent {int(parents[joint])}: parents must come before children")
    return parents


def _split_shape_expression(all_dirs, kind, path):
    """(V,3,S) file columns -> (shape (V,3,nβ), expression (V,3,nψ)) by smplx's SMPL-X rule."""
    n_columns = all_dirs.shape[2]
    if kind != "smplx":
        return all_dirs, all_dirs[:, :, :0]
    if n_columns >= SMPLX_V11_MIN_COLUMNS:
        return all_dirs[:, :, :SMPLX_V11_SHAPE], all_dirs[:, :, SMPLX_V11_SHAPE:SMPLX_V11_EXPR_END]
    _require(
        n_columns <= SMPLX_V10_EXPR_END,
        path,
        f"SMPL-X shapedirs has {n_columns} columns: expected at most 20 (v1.0: 10 shape + 10 expression) "
        f"or at least 400 (v1.1: 300 shape + 100 expression)",
    )
    return all_dirs[:, :, :SMPLX_V10_SHAPE], all_dirs[:, :, SMPLX_V10_SHAPE:SMPLX_V10_EXPR_END]


def _drop_trailing_zero_columns(dirs):
    """(V,3,S) -> (V,3,S') without trailing all-zero columns (zero padding), keeping one column when S >= 1."""
    if dirs.shape[2] == 0:
        return dirs
    used = np.nonzero(np.any(dirs != 0.0, axis=(0, 1)))[0]
    keep = max(int(used[-1]) + 1 if used.size else 0, 1)
    return np.ascontiguousarray(dirs[:, :, :keep])


def _optional_arrays(raw, path, n_faces, n_joints):
    """UVs, hand PCA and joint names when present, validated."""
    out = {}
    if "vt" in raw or "ft" in raw:
        _require("vt" in raw and "ft" in raw, path, "UV data needs both vt and ft")
        vt = _float_array(raw, "vt", path, ndim=2)
        _require(vt.shape[1] == 2 and vt.shape[0] > 0, path, f"vt has shape {vt.shape}, expected (T, 2)")
        ft = _index_array(raw, "ft", path, upper=vt.shape[0], width=3)
        _require(ft.shape[0] == n_faces, path, f"ft has {ft.shape[0]} faces, f has {n_faces}")
        out["vt"], out["ft"] = vt, ft
    sides = dict(HAND_KEYS)
    sides.update({"hands_components": "hands_components", "hands_mean": "hands_mean"})
    for file_key, our_key in sides.items():
        if file_key not in raw:
            continue
        if our_key.startswith("hands_components"):
            value = _float_array(raw, file_key, path, ndim=2)
            _require(
                value.shape[1] == 45 and 0 < value.shape[0] <= 45,
                path,
                f"{file_key} has shape {value.shape}, expected (n <= 45, 45)",
            )
        else:
            value = _float_array(raw, file_key, path, ndim=1)
            _require(value.shape == (45,), path, f"{file_key} has shape {value.shape}, expected (45,)")
        out[our_key] = value
    if "joint_names" in raw:
        names = _as_array(raw, "joint_names", path)
        _require(
            names.dtype.kind in "US" and names.shape == (n_joints,),
            path,
            f"joint_names must be {n_joints} strings, got dtype {names.dtype} shape {names.shape}",
        )
        out["joint_names"] = [n.decode("latin-1") if isinstance(n, bytes) else str(n) for n in names.tolist()]
    return out


def _scalar_metadata(raw, path):
    """Every scalar str / bytes / number entry that is not a model array, as Python str / int / float."""
    meta = {}
    for key, value in raw.items():
        if key in _ARRAY_KEYS:
            continue
        if isinstance(value, np.ndarray):
            if value.ndim != 0 or value.dtype.kind not in "USbiuf":
                continue
            value = value.item()
        if isinstance(value, bytes):
            value = value.decode("latin-1")
        if isinstance(value, (str, bool, int, float)):
            meta[key] = value
    return meta


def _gender_from_path(path):
    """Gender from a file / folder name token (basicModel_f_lbs..., SMPLX_FEMALE, smplh/male/model.npz), else None."""
    path = Path(path)
    tokens = [t for t in re.split(r"[^a-z]+", path.stem.lower()) if t]
    genders = {normalise_gender(t) for t in tokens if t in ("f", "m", "female", "male", "neutral")}
    if len(genders) == 1:
        return genders.pop()
    if path.stem.lower() == "model":
        return normalise_gender(path.parent.name)
    return None
