# SPDX-License-Identifier: GPL-3.0-or-later
"""Fit a body model to 3D points: one shape and a pose and translation per frame.

Stages, as EasyMocap fits keypoints: the shape from the limb lengths the targets show; the root and then each joint
turned, from the pelvis down, to point at its targets (an analytic start for every frame at once); then
Levenberg-Marquardt over everything with robust data, smoothness and priors (:mod:`.solver`).
"""

import dataclasses
import time
import warnings

import numpy as np

from ..errors import MotionFileError
from ..motion import Motion
from ..rotations import matrix_to_axis_angle
from ..vposer import load_vposer
from .kinematics import PointModel
from .landmarks import known_point, point_definitions
from .priors import GaussianMixturePrior, rotation_priors, skew, vposer_prior
from .solver import Terms, solve

__all__ = ["FitOptions", "FitResult", "fit_points"]

WINDOW_OVERLAP = 16  # frames shared by neighbouring windows of a long sequence
WINDOW_BYTES = 1 << 30  # the memory a window's Jacobians may take ...
WORKING_COPIES = 8  # ... counting the solver's copies of them

# bones whose targets place the root (a straight torso in the rest pose)
TORSO = ("pelvis", "spine1", "spine2", "spine3", "neck", "left_collar", "right_collar")


@dataclasses.dataclass
class FitOptions:
    """How to fit. Weights are metres of target error per unit of the term (per radian for pose priors).

    Attributes:
        num_betas: how many of the model's betas are fitted (the first ones).
        betas: a known shape (start of the fit; kept when ``fit_shape`` is False).
        fit_shape: fit the betas (one shape for the whole sequence).
        robust: Geman-McClure scale in metres (0: plain least squares).
        velocity, acceleration: smoothness of the target points over time (in s and s^2).
        turning: smoothness over time of the rotations of joints that carry no target themselves (metres per radian
            per second): steadies what the targets barely see (a spine between BODY25's hips and neck).
        pose_prior: pull towards the rest pose; twist: against turning about a bone's own axis; limits: hinge
            joints (knees, elbows) bend one way only.
        shape_prior: pull of the betas towards the mean shape.
        vposer: a :class:`~..vposer.VPoser` (or its checkpoint path) whose prior (``vposer_weight``) joins the pose
            priors.
        gmm: a :class:`.priors.GaussianMixturePrior` (or its file, SMPLify's ``gmm_08.pkl``) whose prior
            (``gmm_weight``) joins the pose priors.
        iterations: most Levenberg-Marquardt steps.
        fixed_joints: joint names that keep the rest rotation (e.g. fingers).
        window: most frames solved together (``None``: as many as fit in about 1 GiB, e.g. 4000 frames of 22 joints,
            600 of 60 markers): longer sequences are fitted in windows that overlap by 16 frames, with one shape
            fitted first on frames spread over the whole sequence.
    """

    num_betas: int = 10
    betas: object = None
    fit_shape: bool = True
    robust: float = 0.05
    velocity: float = 0.0
    acceleration: float = 0.0001
    turning: float = 0.003
    pose_prior: float = 0.002
    twist: float = 0.005
    limits: float = 0.05
    shape_prior: float = 0.002
    vposer: object = None
    vposer_weight: float = 0.002
    gmm: object = None
    gmm_weight: float = 0.0005
    iterations: int = 30
    fixed_joints: tuple = ()
    window: int = None


@dataclasses.dataclass
class FitResult:
    """A fit: ``motion`` (the model's kind and gender, Y-up world, ``fps`` of the points), ``errors (F, K)`` the
    distance in metres of each fitted target point to its target (NaN where missing), ``costs`` of the accepted
    steps (window after window for long sequences), ``seconds`` of work."""

    motion: Motion
    errors: np.ndarray
    costs: list
    seconds: float

    @property
    def mean_error(self):
        """Mean distance to the present targets, metres (MPJPE for joint targets)."""
        return float(np.nanmean(self.errors)) if np.any(np.isfinite(self.errors)) else float("nan")


def fit_points(model, points, options=None, fps=None, progress=None):
    """Fit ``model`` to ``points`` (a :class:`.targets.PointSequence`).

    ``fps``: frames per second when the points store none (needed for several frames: smoothness is per second).
    ``progress(stage, fraction)`` is called as the fit goes. Returns a :class:`FitResult`.
    """
    t0 = time.perf_counter()
    options = options or FitOptions()
    F = points.num_frames
    rate = points.fps or fps
    if rate is None:
        if F > 1:
            raise MotionFileError(points.source, "the points store no frame rate", needs="fps")
        rate = 30.0
    if F == 0 or not np.any(points.confidence > 0):
        raise MotionFileError(points.source, "no target point is present in any frame")
    points = _placeable(model, points)
    definitions = point_definitions(model, points.names, points.markers)
    nb = min(int(options.num_betas), model.num_betas)
    names = list(model.joint_names)
    unknown = [n for n in options.fixed_joints if n not in names]
    if unknown:
        raise ValueError(f"fixed_joints: {', '.join(unknown)} are not joints of the {model.kind} model")
    pm = PointModel(model, definitions, nb, fixed=[names.index(n) for n in options.fixed_joints])
    targets = np.where(points.confidence[..., None] > 0, points.points, 0.0)
    confidence = points.confidence

    reached = [0.0]

    def report(stage, fraction):  # never backwards (windows overlap)
        reached[0] = max(reached[0], fraction)
        if progress:
            progress(stage, reached[0])

    report("shape", 0.0)
    betas = np.zeros(nb)
    fit_shape = options.fit_shape and options.betas is None
    if options.betas is not None:
        given = np.asarray(options.betas, dtype=np.float64).reshape(-1)[:nb]
        betas[: given.size] = given
    elif fit_shape:
        betas = _shape_from_limbs(pm, targets, confidence, options.shape_prior, betas)
    priors = _priors(pm, names, options)
    window = options.window or WINDOW_BYTES // (3 * pm.num_targets * pm.pose_size * 8 * WORKING_COPIES)
    window = max(int(window), 2 * WINDOW_OVERLAP + 1)
    if fit_shape and F > window:  # one shape for all windows: fitted first on frames spread over the sequence
        frames = np.unique(np.linspace(0, F - 1, window).round().astype(np.int64))
        *_, betas = _fit_frames(pm, names, targets[frames], confidence[frames], rate, betas, options, priors, True, [])
        fit_shape = False
    report("fit", 0.1)
    R = np.empty((F, model.num_joints, 3, 3))
    transl = np.empty((F, 3))
    costs = []
    start = 0
    while start < F:  # windows overlapping by WINDOW_OVERLAP frames; each keeps its frames but half the overlaps
        stop = F if F - start <= window else start + window
        part = slice(start, stop)
        done, share = 0.1 + 0.9 * start / F, 0.9 * (stop - start) / F

        def on_step(i, cost, done=done, share=share):
            report("fit", done + share * min(1.0, (i + 1) / max(int(options.iterations), 1)))

        R_part, t_part, fitted_betas = _fit_frames(
            pm, names, targets[part], confidence[part], rate, betas, options, priors, fit_shape, costs, on_step
        )
        keep = 0 if start == 0 else WINDOW_OVERLAP // 2
        R[start + keep : stop], transl[start + keep : stop] = R_part[keep:], t_part[keep:]
        if fit_shape:
            betas = fitted_betas
        report("fit", 0.1 + 0.9 * stop / F)
        start = stop - WINDOW_OVERLAP if stop < F else F
    fitted = pm.evaluate(R, transl, betas, jacobians=False).points
    errors = np.linalg.norm(fitted - points.points, axis=2)  # NaN where missing
    full_betas = np.zeros(model.num_betas)
    full_betas[:nb] = betas
    motion = Motion(
        fps=float(rate),
        poses=matrix_to_axis_angle(R).reshape(F, -1),
        trans=transl,
        betas=full_betas,
        expression=np.zeros((F, model.num_expressions)) if model.num_expressions else None,
        gender=model.gender,
        kind=model.kind,
        up_axis="Y",
        source=points.source,
    )
    report("done", 1.0)
    return FitResult(motion, errors, costs, time.perf_counter() - t0)


def _priors(pm, names, options):
    """The pose priors of ``options`` as one function of the local rotations: ``R (F, J, 3, 3)`` -> the Gauss-Newton
    terms (block-diagonal without the user's priors, dense with them)."""
    weights = {"pose": options.pose_prior, "twist": options.twist, "limits": options.limits}
    learned = []  # the user's priors: dense terms over the body joints
    if options.vposer is not None and options.vposer_weight:
        vposer = load_vposer(options.vposer, dtype=np.float64)
        learned.append(lambda rotations: vposer_prior(rotations, pm, vposer, options.vposer_weight))
    if options.gmm is not None and options.gmm_weight:
        gmm = options.gmm if isinstance(options.gmm, GaussianMixturePrior) else GaussianMixturePrior.load(options.gmm)
        learned.append(lambda rotations: gmm.terms(rotations, pm, options.gmm_weight))

    def priors(rotations):
        value, gradient, blocks = rotation_priors(rotations, pm, names, weights)
        if not learned:
            return value, gradient, blocks
        hessian = np.zeros((len(rotations), pm.pose_size, pm.pose_size))
        for i in range(pm.free.size):
            hessian[:, 3 * i : 3 * i + 3, 3 * i : 3 * i + 3] = blocks[:, i]
        for terms in learned:
            more, more_gradient, more_hessian = terms(rotations)
            value, gradient, hessian = value + more, gradient + more_gradient, hessian + more_hessian
        return value, gradient, hessian

    return priors


def _fit_frames(pm, names, targets, confidence, rate, betas, options, priors, fit_shape, costs, on_step=None):
    """Stages 2 and 3 on a run of frames: the aligned start, then Levenberg-Marquardt. Appends the accepted costs
    to ``costs``; returns ``(R (F, J, 3, 3), transl (F, 3), betas)``."""
    F = len(targets)
    R = np.broadcast_to(np.eye(3), (F, pm.num_joints, 3, 3)).copy()
    transl = np.zeros((F, 3))
    R, transl = _aligned_start(pm, names, *_bridged(targets, confidence), R, transl, betas)
    terms = Terms(
        targets=targets,
        confidence=confidence,
        fps=float(rate),
        robust=options.robust,
        velocity=options.velocity,
        acceleration=options.acceleration,
        turning=options.turning * ~np.isin(pm.free, _owners(pm)),  # only joints that carry no target themselves
        shape=options.shape_prior,
        priors=priors,
        fit_shape=fit_shape,
    )
    (R, transl, betas), step_costs = solve(pm, terms, (R, transl, betas), max(int(options.iterations), 0), on_step)
    costs.extend(step_costs)
    return R, transl, betas


def _placeable(model, points):
    """``points`` without those the model has no place for (e.g. SMPL's hand joints on SMPL-X), named in a warning;
    an error when none is left."""
    keep = [k for k, name in enumerate(points.names) if known_point(model, name, points.markers)]
    if len(keep) == len(points.names):
        return points
    dropped = [name for name in points.names if not known_point(model, name, points.markers)]
    label = f"the {model.name or model.kind} model"
    if not keep:
        raise MotionFileError(points.source, f"none of the points is on {label}: {', '.join(dropped[:6])}")
    warnings.warn(
        f"{points.source or 'points'}: {len(dropped)} points are not on {label} and are not fitted: "
        + ", ".join(dropped[:6])
        + (f" and {len(dropped) - 6} more" if len(dropped) > 6 else ""),
        stacklevel=3,
    )
    return dataclasses.replace(
        points,
        points=points.points[:, keep],
        confidence=points.confidence[:, keep],
        names=[points.names[k] for k in keep],
    )


# -- stage 1: the shape from the limb lengths -----------------------------------------------------------------------


def _limbs(pm):
    """``(target of the parent joint, target of the child joint, parent, child)`` for every bone with both ends
    targeted as joints."""
    rows = {}
    coeffs = pm.joint_coeffs
    pure = (np.sum(coeffs != 0, axis=1) == 1) & np.isclose(coeffs.max(axis=1), 1.0)
    if pm.vertex_coeffs.size:
        pure &= ~np.any(pm.vertex_coeffs != 0, axis=1)
    for k in np.flatnonzero(pure):
        rows.setdefault(int(np.argmax(coeffs[k])), k)
    return [
        (rows[int(pm.parents[m])], k, int(pm.parents[m]), m) for m, k in rows.items() if m and pm.parents[m] in rows
    ]


def _shape_from_limbs(pm, targets, confidence, prior, betas, iterations=10):
    """Betas whose rest bone lengths match the median lengths of the targeted limbs (Gauss-Newton)."""
    limbs = _limbs(pm)
    lengths, pairs = [], []
    for ka, kb, a, b in limbs:
        seen = (confidence[:, ka] > 0) & (confidence[:, kb] > 0)
        if seen.any():
            lengths.append(np.median(np.linalg.norm(targets[seen, kb] - targets[seen, ka], axis=1)))
            pairs.append((a, b))
    if len(pairs) < 3:
        return betas
    a, b = np.array(pairs).T
    lengths = np.array(lengths)
    weight = max(prior, 1e-4)
    for _ in range(iterations):
        rest, drest = pm.rest_joints(betas)
        bone = rest[b] - rest[a]
        norm = np.linalg.norm(bone, axis=1)
        r = np.concatenate([norm - lengths, weight * betas])
        Jb = np.einsum("lc,lcn->ln", bone / norm[:, None], drest[b] - drest[a])
        Jr = np.concatenate([Jb, weight * np.eye(betas.size)])
        step = np.linalg.lstsq(Jr, -r, rcond=None)[0]
        betas = betas + step
        if np.max(np.abs(step)) < 1e-8:
            break
    return betas


# -- stage 2: the root, then each joint turned towards its targets --------------------------------------------------


def _owners(pm):
    """The bone each target moves with most: ``(K,)`` joint indices."""
    contribution = np.zeros((pm.num_targets, pm.num_joints))
    for m in range(pm.num_joints):
        contribution[:, max(int(pm.parents[m]), 0)] += np.abs(pm.joint_coeffs[:, m])
    np.add.at(contribution, (np.arange(pm.num_targets)[:, None], pm.slot_bone), np.abs(pm.slot_weight))
    return np.argmax(contribution, axis=1)


def _swing(a, b):
    """Rotations ``(F, 3, 3)`` turning directions ``a`` onto ``b`` by the least angle (identity for zero rows)."""
    na, nb_ = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
    ok = (na > 1e-9) & (nb_ > 1e-9)
    a = a / np.where(ok, na, 1.0)[:, None]
    b = b / np.where(ok, nb_, 1.0)[:, None]
    v = np.cross(a, b)
    c = np.einsum("fc,fc->f", a, b)
    S = skew(v)
    Q = np.eye(3) + S + (S @ S) / np.maximum(1.0 + c, 1e-9)[:, None, None]
    Q[~ok | (c < -1 + 1e-9)] = np.eye(3)  # opposite directions: left to the fit
    return Q


def _kabsch(a, b, w):
    """Rotations ``(F, 3, 3)`` best turning offsets ``a (F, n, 3)`` onto ``b`` with weights ``w (F, n)``, and
    whether the points pin the rotation down (not all on one line)."""
    H = np.einsum("fn,fni,fnj->fij", w, a, b)
    U, S, Vt = np.linalg.svd(H)
    d = np.sign(np.linalg.det(np.matmul(U, Vt)))
    D = np.broadcast_to(np.eye(3), H.shape).copy()
    D[:, 2, 2] = d
    Q = np.matmul(np.swapaxes(Vt, 1, 2), np.matmul(D, np.swapaxes(U, 1, 2)))
    return Q, S[:, 1] > 0.05 * np.maximum(S[:, 0], 1e-12)


def _aligned_start(pm, names, targets, confidence, R, transl, betas):
    """Root by a weighted rigid alignment of the torso's targets, then every free joint, from the root down, turned
    about itself to bring the targets it moves (or those of its children) onto theirs."""
    owners = _owners(pm)
    torso = [names.index(n) for n in TORSO if n in names]
    chosen = np.isin(owners, torso)
    if not chosen.any():
        chosen = np.ones_like(owners, dtype=bool)
    w = confidence[:, chosen]
    predicted = pm.evaluate(R, transl, betas, jacobians=False).points[:, chosen]
    total = w.sum(axis=1)
    usable = total > 0
    tw = np.where(usable, total, 1.0)[:, None]
    cp = np.einsum("fn,fnc->fc", w, predicted) / tw
    ct = np.einsum("fn,fnc->fc", w, targets[:, chosen]) / tw
    Q, _ = _kabsch(predicted - cp[:, None], targets[:, chosen] - ct[:, None], w)
    Q[~usable] = np.eye(3)
    R[:, 0] = np.matmul(Q, R[:, 0])
    rest, _ = pm.rest_joints(betas)
    pelvis = rest[0] + transl
    transl = np.where(usable[:, None], np.einsum("fij,fj->fi", Q, pelvis - cp) + ct - rest[0], transl)

    children = {j: np.flatnonzero(pm.parents == j) for j in range(pm.num_joints)}
    free = set(pm.free.tolist())
    for level in pm.levels:  # the joints of a level are in different subtrees: one evaluation serves them all
        ev = pm.evaluate(R, transl, betas, jacobians=False)
        for j in (j for j in level if j in free):
            mine = owners == j
            if not mine.any():
                mine = np.isin(owners, children[j])
            if not mine.any():
                continue
            pivot = ev.joints[:, j][:, None]
            a = ev.points[:, mine] - pivot
            b = targets[:, mine] - pivot
            w = confidence[:, mine]
            Q, pinned = _kabsch(a, b, w)
            swing = _swing(np.einsum("fn,fnc->fc", w, a), np.einsum("fn,fnc->fc", w, b))
            Q = np.where(pinned[:, None, None], Q, swing)
            Q[w.sum(axis=1) <= 0] = np.eye(3)
            Rg = ev.Rg[:, j]
            R[:, j] = np.matmul(R[:, j], np.matmul(np.swapaxes(Rg, 1, 2), np.matmul(Q, Rg)))
    return R, transl


def _bridged(targets, confidence):
    """Targets for the start only: a point missing in a frame is interpolated over time between the frames that have
    it (held before the first and after the last), with half weight; points never seen stay missing."""
    filled, weight = targets.copy(), confidence.copy()
    frames = np.arange(len(targets))
    for k in range(targets.shape[1]):
        seen = confidence[:, k] > 0
        if seen.all() or not seen.any():
            continue
        for c in range(3):
            filled[~seen, k, c] = np.interp(frames[~seen], frames[seen], targets[seen, k, c])
        weight[~seen, k] = 0.5 * confidence[seen, k].mean()
    return filled, weight
