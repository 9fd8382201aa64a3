# SPDX-License-Identifier: GPL-3.0-or-later
"""What a fit is fitted to: :class:`PointSequence`, 3D points per frame with confidences and names, and the
readers of the files that hold them (joint arrays such as HumanML3D / MDM output, EasyMocap ``keypoints3d``,
marker captures) and of marker layouts.

Every file goes through :mod:`..file_io`'s checked readers; bad input raises :class:`MotionFileError` naming the
file. Missing points (NaN, infinity, confidence 0 or less, a frame without the person) are kept as missing.
"""

import collections
import dataclasses
import os
import warnings

import numpy as np

from .. import layouts
from ..conversions import Z_UP_TO_Y_UP
from ..errors import MotionFileError
from ..file_io import file_head, is_zip, read_json, read_npy, read_npz
from ..formats import checks, easymocap
from ..motion import UP_AXES
from ..safe_pickle import load_npy_dict
from .landmarks import KEYPOINT_LAYOUTS, MAX_MARKER_OFFSET, MarkerLayout, marker_problem

__all__ = ["PointSequence", "POINT_LAYOUTS", "default_model", "read_marker_layout", "read_points"]

UNITS = {"m": 1.0, "cm": 0.01, "mm": 0.001}
MAX_METRES = 1e4  # no capture volume comes near; larger coordinates are a corrupt file or the wrong units
FEATURE_WIDTHS = {263: "HumanML3D", 251: "KIT-ML"}  # rows of motion features that text-to-motion models use
POINT_LAYOUTS = KEYPOINT_LAYOUTS | {kind: tuple(layouts.JOINT_NAMES[kind]) for kind in ("smpl", "smplh", "smplx")}
LAYOUT_OF_COUNT = {len(names): name for name, names in POINT_LAYOUTS.items()}  # 17, 22, 24, 25, 52, 55 points
NPZ_POINT_KEYS = ("joints", "keypoints3d", "points", "marker_data")
NPZ_NAME_KEYS = ("names", "marker_labels")
NPZ_RATE_KEYS = ("fps", "mocap_framerate", "mocap_frame_rate")

# What a format reader found: points (F, K, 3) and confidence (F, K) or None as stored (NaN kept), the names it
# stores and what they are ("markers" for marker labels), its frame rate and its default up axis.
_Found = collections.namedtuple("_Found", "values confidence names layout rate up", defaults=(None, None, None, "Y"))


@dataclasses.dataclass
class PointSequence:
    """3D target points of one person over time, in the model's world: metres, Y up.

    Attributes:
        points: ``(F, K, 3)`` float64; NaN where a point is missing.
        confidence: ``(F, K)`` float64 weights ``>= 0`` (1: a plain observation); 0 where a point is missing (also
            where ``points`` is NaN or the given confidence is not finite or below 0).
        names: ``K`` point names: model joint names (``"pelvis"``), keypoint names of a layout
            (:data:`.landmarks.KEYPOINT_LAYOUTS`, e.g. ``"nose"``), ``"vertex:<id>"`` or marker names (see ``markers``).
        fps: frames per second, or ``None`` for a single frame without a rate.
        markers: for surface markers, ``{name: ((vertex, weight), ...)}`` on the fitted model's mesh; else ``None``.
        layout: where the names come from: a key of :data:`POINT_LAYOUTS` (``"body25"``, ``"smpl"``, ...),
            ``"markers"``, or ``None`` (names given one by one).
        source: the file or folder it was read from, or ``None``.
    """

    points: np.ndarray
    confidence: np.ndarray = None
    names: tuple = ()
    fps: float = None
    markers: dict = None
    layout: str = None
    source: str = None

    def __post_init__(self):
        self.points = np.array(self.points, dtype=np.float64).reshape(len(self.points), -1, 3)
        F, K = self.points.shape[:2]
        if self.confidence is None:
            self.confidence = np.ones((F, K))
        self.confidence = np.array(self.confidence, dtype=np.float64).reshape(F, K)
        self.names = tuple(self.names)
        if len(self.names) != K:
            raise ValueError(f"{self.source or 'points'}: {K} points per frame but {len(self.names)} names")
        missing = ~np.all(np.isfinite(self.points), axis=2) | ~np.isfinite(self.confidence) | (self.confidence <= 0)
        self.points[missing] = np.nan
        self.confidence[missing] = 0.0

    @property
    def num_frames(self):
        return self.points.shape[0]


def default_model(points):
    """The built-in body to fit ``points`` with when none is chosen: ``"open-smplx"`` for points with finger joints
    (the ``smplh`` / ``smplx`` layouts), else ``"open-smpl"`` (HumanML3D's 22 joints, keypoints, markers)."""
    return "open-smplx" if points.layout in ("smplh", "smplx") else "open-smpl"


def read_points(path, layout=None, fps=None, units="m", up_axis=None, person=None, markers=None):
    """Read 3D points (joints, keypoints or markers over time) into a :class:`PointSequence`.

    Formats, told by content:

    * ``.npy``: ``(F, K, 3)``, ``(F, K, 4)`` (4th: confidence) or ``(K, 3)`` for one frame; Y up by default, as
      HumanML3D / MDM / MoMask joints (22 points, 20 fps); MDM's ``results.npy`` (a dict that ``np.save`` pickled,
      read here as data only: ``motion (samples, joints, 3, frames)``, ``lengths``, ``text``) gives one sample.
    * ``.npz`` with ``joints`` / ``keypoints3d`` / ``points`` / ``marker_data`` (same shapes), optional
      ``confidence (F, K)``, ``names`` / ``marker_labels`` and ``fps`` / ``mocap_framerate`` / ``mocap_frame_rate``.
      Y up, except ``marker_data`` (AMASS markers: Z up), whose ``marker_labels`` are marker names.
    * EasyMocap ``keypoints3d``: a folder of per-frame JSON files (``<out>/keypoints3d/000000.json`` ...) or one
      such file, each a list of ``{"id": int, "keypoints3d": [[x, y, z, confidence], ...]}`` (or
      ``{"annots": [...]}``); Z up by default (the calibration's world: often Z-up, not always).

    Args:
        path: the file or folder.
        layout: the point names when the file does not say: a key of :data:`POINT_LAYOUTS` (by default found from
            the point count K: the K names of ``markers`` in order, else 17 ``coco17``, 22 ``humanml3d``, 24 ``smpl``,
            25 ``body25``, 52 ``smplh``, 55 ``smplx``), ``"markers"`` (the names of ``markers``), or K names.
        fps: frame rate to use when the file stores none (a rate in the file wins).
        units: ``"m"``, ``"cm"`` or ``"mm"``: the file's length unit.
        up_axis: ``"Y"`` or ``"Z"``: the file's up axis, overriding the format's default; Z-up data is rotated
            into Y-up (:data:`..conversions.Z_UP_TO_Y_UP`).
        person: EasyMocap person id (default: the lowest id in the first frame with anyone; frames without that
            person are missing), or the sample of MDM results (default: the first, with a warning when there are
            more).
        markers: marker layout ``{name: ((vertex, weight), ...)}`` or its file (:func:`read_marker_layout`): the
            vertices of labelled markers (markers it lacks are dropped with a warning), carried to the result.

    Raises :class:`MotionFileError` naming the file (``needs="fps"`` / ``"layout"`` / ``"markers"`` when it lacks
    what the caller can give); ``ValueError`` for bad arguments.
    """
    path = os.fspath(path)
    if units not in UNITS:
        raise ValueError(f"units must be one of {', '.join(UNITS)}, got {units!r}")
    if up_axis is not None and up_axis not in UP_AXES:
        raise ValueError(f"up_axis must be 'Y' or 'Z', got {up_axis!r}")
    if isinstance(markers, (str, os.PathLike)):
        markers = read_marker_layout(markers)
    if os.path.isdir(path):
        found = _read_keypoints3d(path, easymocap.frame_files(path, "keypoints3d"), person)
    else:
        head, _ = file_head(path, 8, MotionFileError)
        if is_zip(head):
            found = _read_npz(path)
        elif head.startswith(b"\x93NUMPY"):
            found = _read_npy(path, person)
        elif path.lower().endswith(".json") or head.lstrip()[:1] in (b"{", b"["):
            found = _read_keypoints3d(path, [path], person)
        else:
            raise MotionFileError(path, "not a points file (.npy, .npz or EasyMocap keypoints3d .json)")
    values, confidence = found.values, found.confidence
    F, K = values.shape[:2]
    if F == 0 or K == 0:
        raise MotionFileError(path, f"the file holds no {'frames' if F == 0 else 'points'} (shape {values.shape})")
    checks.check_frames(path, F, "points")
    names, layout = _names(path, K, layout, found, markers)
    if layout == "markers":
        known = [k for k, name in enumerate(names) if name in (markers or {})]
        if not markers or not known:
            raise MotionFileError(path, f"the {K} markers have no vertices", needs="markers")
        if len(known) < K:
            dropped = ", ".join(name for name in names if name not in markers)
            warnings.warn(f"{path}: markers not in the marker layout, left out: {dropped}", stacklevel=2)
        values, names = values[:, known], [names[k] for k in known]
        confidence = None if confidence is None else confidence[:, known]
    values = values * UNITS[units]
    far = np.abs(np.where(np.isfinite(values), values, 0.0)).max()
    if far > MAX_METRES:
        raise MotionFileError(
            path,
            f"a coordinate of {far:.3g} m is beyond any capture volume (±{MAX_METRES:g} m): corrupt file, or units?",
        )
    if (up_axis or found.up) == "Z":
        values = values @ Z_UP_TO_Y_UP.T
    rate = found.rate
    if rate is None and (fps is not None or F > 1):
        what = "the file (HumanML3D / MDM / MoMask joints are at 20 fps)" if layout == "humanml3d" else "the file"
        rate = checks.fps_or_ask(path, F, fps, what)
    return PointSequence(values, confidence, names, rate, markers, layout, path)


def _names(path, K, layout, found, markers):
    """``(names, layout)`` of K points: from ``layout=``, the file's names, the markers, or the count."""
    if layout is None:
        if found.names is not None:
            return found.names, found.layout
        if markers is not None and len(markers) == K:
            layout = "markers"
        elif K in LAYOUT_OF_COUNT:
            return POINT_LAYOUTS[LAYOUT_OF_COUNT[K]], LAYOUT_OF_COUNT[K]
        else:
            counts = ", ".join(f"{n} {name}" for n, name in sorted(LAYOUT_OF_COUNT.items()))
            raise MotionFileError(
                path, f"{K} points per frame, and no layout has {K} points ({counts})", needs="layout"
            )
    if isinstance(layout, str):
        if layout == "markers" and markers is not None:
            names = tuple(markers)
        elif layout in POINT_LAYOUTS:
            names = POINT_LAYOUTS[layout]
        else:
            raise ValueError(f"layout must be one of {', '.join(POINT_LAYOUTS)}, 'markers' (with markers=) or K names")
        name = layout
    else:
        names, name = tuple(str(n) for n in layout), None
    if len(names) != K:
        raise MotionFileError(path, f"{K} points per frame, but layout {name or 'given'} has {len(names)} names")
    return names, name


def _split(path, key, value, one_frame=False):
    """``(points (F, K, 3), confidence (F, K) or None)`` of an array ``(F, K, 3 | 4)`` or one frame ``(K, 3 | 4)``
    (only that with ``one_frame``): float64, NaN / infinity kept (missing points)."""
    try:
        raw = value if isinstance(value, np.ndarray) else np.asarray(value)
    except (TypeError, ValueError) as exc:  # ragged lists
        raise MotionFileError(path, f"'{key}' is not a numeric array ({exc})") from None
    if raw.dtype.kind not in "iuf":
        raise MotionFileError(path, f"'{key}' holds {raw.dtype} values, not real numbers")
    arr = raw.astype(np.float64)
    arr = arr[None] if arr.ndim == 2 else arr
    if arr.ndim != 3 or arr.shape[2] not in (3, 4) or (one_frame and raw.ndim != 2):
        expected = "(K, 4): rows of x, y, z, confidence" if one_frame else "(F, K, 3), (F, K, 4) or (K, 3)"
        if raw.ndim == 2 and raw.shape[1] in FEATURE_WIDTHS:
            expected += f" ({FEATURE_WIDTHS[raw.shape[1]]} features, not positions: fit the joints, new_joints/)"
        raise MotionFileError(path, f"'{key}' has shape {raw.shape}, expected {expected}")
    return arr[..., :3], (arr[..., 3] if arr.shape[2] == 4 else None)


def _read_npy(path, sample):
    try:
        array = read_npy(path, MotionFileError)
    except MotionFileError as err:
        if "Python objects" not in err.problem:
            raise
        return _read_mdm_results(path, load_npy_dict(path, MotionFileError), sample)
    if array.ndim == 4:  # a batch of sequences (T2M-GPT writes (1, F, 22, 3))
        array = array[_sample(path, len(array), sample)]
    return _Found(*_split(path, "array", array))


def _sample(path, count, sample, texts=None):
    """Which of ``count`` sequences (samples of a text-to-motion model) to read: ``sample``, or the first with a
    warning naming the others."""
    if sample is None:
        if count > 1:
            named = "; ".join(f"{i}: {t!r}" for i, t in enumerate(texts[:4])) if texts else ""
            named = f" ({named}{' ...' if count > 4 else ''})" if named else ""
            warnings.warn(
                f"{path}: {count} samples{named}; sample 0 is fitted (person= / --person N picks another)",
                stacklevel=4,
            )
        return 0
    if not 0 <= sample < count:
        raise MotionFileError(path, f"sample {sample} asked for, the file holds samples 0 to {count - 1}")
    return sample


def _read_mdm_results(path, results, sample):
    """MDM's ``results.npy`` (read as data, never unpickled): ``motion (N, K, 3, frames)`` with ``lengths (N,)`` and
    ``text``; one sample (``sample``, default the first, the others named in a warning)."""
    motion, lengths = results.get("motion"), results.get("lengths")
    if not isinstance(motion, np.ndarray) or motion.ndim != 4 or motion.shape[2] != 3 or motion.dtype.kind not in "iuf":
        found = getattr(motion, "shape", type(motion).__name__)
        raise MotionFileError(path, f"a saved dict without MDM's 'motion' (samples, joints, 3, frames): {found}")
    count, frames = motion.shape[0], motion.shape[3]
    texts = results.get("text")
    texts = [str(t) for t in texts] if isinstance(texts, (list, tuple)) and len(texts) == count else None
    sample = _sample(path, count, sample, texts)
    length = frames
    if isinstance(lengths, np.ndarray) and lengths.shape == (count,) and lengths.dtype.kind in "iu":
        length = int(min(max(lengths[sample], 0), frames))
    values, confidence = _split(path, "motion", motion[sample].transpose(2, 0, 1)[:length])
    return _Found(values, confidence)


def _read_npz(path):
    wanted = NPZ_POINT_KEYS + NPZ_NAME_KEYS + NPZ_RATE_KEYS + ("confidence",)
    data, skipped = read_npz(path, MotionFileError, names=wanted)
    if skipped:
        raise MotionFileError(path, f"{', '.join(map(repr, skipped))} holds Python objects, which are never unpickled")
    key = next((k for k in NPZ_POINT_KEYS if k in data), None)
    if key is None:
        raise MotionFileError(path, f"no points: expected an array named {', '.join(NPZ_POINT_KEYS)}")
    values, confidence = _split(path, key, data[key])
    if "confidence" in data:
        if data["confidence"].shape != values.shape[:2] or data["confidence"].dtype.kind not in "iuf":
            raise MotionFileError(
                path, f"'confidence' is {data['confidence'].dtype} {data['confidence'].shape}, expected (F, K) numbers"
            )
        confidence = data["confidence"]
    names = None
    label_key = next((k for k in NPZ_NAME_KEYS if k in data), None)
    if label_key is not None:
        labels = data[label_key]
        if labels.dtype.kind not in "US" or labels.shape != values.shape[1:2]:
            raise MotionFileError(
                path, f"'{label_key}' is {labels.dtype} {labels.shape}, expected {values.shape[1]} names (text)"
            )
        names = [checks.as_text(label) for label in labels]
    rate_key = next((k for k in NPZ_RATE_KEYS if k in data), None)
    rate = checks.frame_rate(path, data[rate_key], rate_key) if rate_key else None
    markers = key == "marker_data" or label_key == "marker_labels"
    return _Found(values, confidence, names, "markers" if markers else None, rate, "Z" if key == "marker_data" else "Y")


def _read_keypoints3d(source, files, person):
    """EasyMocap keypoints3d frames of one person: ``(F, K, 3)``, missing in frames without them."""
    rows, K = {}, None  # frame -> (points (K, 3), confidence (K,) or 1)
    for f, file in enumerate(files):
        people = easymocap.people_of_frame(read_json(file, MotionFileError), keys=("keypoints3d",))
        if people is None:
            raise MotionFileError(
                file,
                "not an EasyMocap keypoints3d frame: expected a list of people with 'id' and 'keypoints3d' "
                '(or {"annots": [...]})',
            )
        if person is None and people:
            person = easymocap.person_id(file, easymocap.pick_person(file, people, None))
        record = easymocap.pick_person(file, people, person) if person is not None else None
        if record is None:
            continue
        points, confidence = _split(file, "keypoints3d", record["keypoints3d"], one_frame=True)
        if K not in (None, points.shape[1]):
            raise MotionFileError(file, f"person {person} has {points.shape[1]} keypoints here, {K} in earlier frames")
        K = points.shape[1]
        rows[f] = (points[0], 1.0 if confidence is None else confidence[0])
    if not rows:
        raise MotionFileError(
            source, f"person {person} is in no frame" if person is not None else "nobody in any frame"
        )
    values, confidence = np.full((len(files), K, 3), np.nan), np.zeros((len(files), K))
    for f, (points, weights) in rows.items():
        values[f], confidence[f] = points, weights
    return _Found(values, confidence, up="Z")


def read_marker_layout(path):
    """A :class:`.landmarks.MarkerLayout` (``{name: ((vertex, weight), ...)}`` and each marker's distance off the
    skin) from a marker layout JSON file, in the file's order.

    Two forms: SOMA / MoSh ``{"markersets": [{"indices": {"C7": 3832, ...}, "distance_from_skin": 0.0095, ...},
    ...]}`` (each marker one vertex; ``distance_from_skin``: metres from the skin to the marker's centre along the
    surface normal, per markerset; ``marker_radius`` only draws the marker), or ``{"markers": {name: vertex |
    [[vertex, weight], ...]}, "distance_from_skin": metres}`` (weights summing to 1: barycentric or any; the
    distance optional). The vertex ids belong to the mesh the layout was made for; :func:`.landmarks.point_definitions`
    checks them against the model. Raises :class:`MotionFileError` naming the file.
    """
    path = os.fspath(path)
    data = read_json(path, MotionFileError)
    entries, offsets = [], {}
    if isinstance(data, dict) and isinstance(data.get("markersets"), list):
        for markerset in data["markersets"]:
            if not isinstance(markerset, dict) or not isinstance(markerset.get("indices"), dict):
                raise MotionFileError(path, "a markerset without an 'indices' object {name: vertex}")
            entries += markerset["indices"].items()
            distance = _distance_from_skin(path, markerset)
            offsets |= {name: distance for name in markerset["indices"] if distance}
    elif isinstance(data, dict) and isinstance(data.get("markers"), dict):
        entries = data["markers"].items()
        distance = _distance_from_skin(path, data)
        offsets = {name: distance for name in data["markers"] if distance}
    else:
        raise MotionFileError(
            path,
            'not a marker layout: expected {"markersets": [{"indices": {name: vertex}}]} (SOMA / MoSh) or '
            '{"markers": {name: vertex or [[vertex, weight], ...]}}',
        )
    markers = {}
    for name, value in entries:
        pairs = ((value, 1.0),) if isinstance(value, int) and not isinstance(value, bool) else value
        problem = marker_problem(name, pairs) or (f"marker {name!r} is given twice" if name in markers else None)
        if problem:
            raise MotionFileError(path, problem)
        markers[name] = tuple((int(v), float(w)) for v, w in pairs)
    if not markers:
        raise MotionFileError(path, "the marker layout has no markers")
    return MarkerLayout(markers, offsets)


def _distance_from_skin(path, entry):
    """An entry's ``distance_from_skin`` in metres (0 when absent); an error naming the file when it is not a number
    from 0 to :data:`.landmarks.MAX_MARKER_OFFSET`."""
    value = entry.get("distance_from_skin", 0.0)
    if value is None:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= MAX_MARKER_OFFSET:
        raise MotionFileError(path, f"distance_from_skin must be metres from 0 to {MAX_MARKER_OFFSET:g}, got {value!r}")
    return float(value)
