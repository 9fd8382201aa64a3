# SPDX-License-Identifier: GPL-3.0-or-later
"""Body measurements and shape fitting on the rest mesh (NumPy only).

Stature is the vertical extent (model Y axis) of the shaped rest mesh; mass is the enclosed mesh volume times a density
(1000 kg/m^3 by default, the value the open bodies were calibrated with; real bodies are 985-1060 kg/m^3). Both are
computed from the model's own arrays, so the height/weight fit works for any SMPL-family model, official or open.
"""

import numpy as np

DEFAULT_DENSITY_KG_M3 = 1000.0


def random_betas(count, scale=1.0, seed=None):
    """``count`` shape (or expression) coefficients drawn from N(0, scale^2 I).

    Returns (count,) float32; ``seed`` makes the draw reproducible."""
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(int(count)) * float(scale)).astype(np.float32)


def _padded(values, count):
    """(n,) -> (count,) float64, zero-padded; None -> zeros."""
    out = np.zeros(count, dtype=np.float64)
    if values is not None:
        values = np.asarray(values, dtype=np.float64).reshape(-1)
        if values.size > count:
            raise ValueError(f"{values.size} coefficients given, the model has {count}")
        out[: values.size] = values
    return out


def _shaped_vertices(model, betas, expression=None):
    """Rest mesh for the given coefficients, (V, 3) float64, model (Y-up) space."""
    v = np.asarray(model.v_template, dtype=np.float64)
    b = _padded(betas, model.num_betas)
    if b.size:
        v = v + np.asarray(model.shapedirs, dtype=np.float64) @ b
    if expression is not None and model.num_expressions:
        v = v + np.asarray(model.exprdirs, dtype=np.float64) @ _padded(expression, model.num_expressions)
    return v


def mesh_volume(vertices, faces):
    """Signed volume enclosed by a closed triangle mesh (divergence theorem). vertices (V,3), faces (F,3) -> float."""
    v = np.asarray(vertices, dtype=np.float64)
    a, b, c = v[faces[:, 0]], v[faces[:, 1]], v[faces[:, 2]]
    return float(np.einsum("ij,ij->", a, np.cross(b, c)) / 6.0)


def stature(model, betas=None, expression=None):
    """Height in metres: vertical (Y) extent of the shaped rest mesh."""
    y = _shaped_vertices(model, betas, expression)[:, 1]
    return float(y.max() - y.min())


def body_mass(model, betas=None, expression=None, density=DEFAULT_DENSITY_KG_M3):
    """Mass in kg: |volume of the shaped rest mesh| x density (kg/m^3)."""
    faces = np.asarray(model.faces, dtype=np.int64)
    return abs(mesh_volume(_shaped_vertices(model, betas, expression), faces)) * float(density)


def _measurements_and_jacobian(model, betas, density, fixed_offset):
    """Stature and mass for ``betas`` (n,), with their derivatives d/dbeta: returns (2,), (2, n).

    fixed_offset: (V, 3) added to the mesh and not fitted (the expression blend shapes)."""
    n = betas.size
    dirs = np.asarray(model.shapedirs, dtype=np.float64)[:, :, :n]  # (V, 3, n)
    faces = np.asarray(model.faces, dtype=np.int64)
    v = np.asarray(model.v_template, dtype=np.float64) + fixed_offset + dirs @ betas
    top, bottom = int(np.argmax(v[:, 1])), int(np.argmin(v[:, 1]))
    height = v[top, 1] - v[bottom, 1]
    d_height = dirs[top, 1] - dirs[bottom, 1]
    # dVol/dv for every face corner: (b x c)/6 for corner a, and cyclically; accumulate per vertex.
    a, b, c = v[faces[:, 0]], v[faces[:, 1]], v[faces[:, 2]]
    volume = np.einsum("ij,ij->", a, np.cross(b, c)) / 6.0
    grad = np.zeros_like(v)
    np.add.at(grad, faces[:, 0], np.cross(b, c) / 6.0)
    np.add.at(grad, faces[:, 1], np.cross(c, a) / 6.0)
    np.add.at(grad, faces[:, 2], np.cross(a, b) / 6.0)
    sign = 1.0 if volume >= 0 else -1.0
    d_volume = np.einsum("vc,vcn->n", grad, dirs)
    values = np.array([height, sign * volume * density])
    jac = np.stack([d_height, sign * d_volume * density])
    return values, jac


def betas_for_height_weight(
    model, height_m, weight_kg, num_betas=None, density=DEFAULT_DENSITY_KG_M3, iterations=30, expression=None
):
    """Smallest-norm betas whose rest mesh has the given stature (m) and mass (kg).

    Gauss-Newton on the two measurements with a minimum-norm step (the fit stays close to the mean shape, so the other
    betas stay plausible). Uses the first ``num_betas`` shape components (default: all of the model's, at most 16).
    ``expression`` (SMPL-X) is held fixed and included in the measured mesh.
    Returns (num_betas,) float32. Raises ValueError for non-positive targets or a model without shape components.
    """
    height_m, weight_kg = float(height_m), float(weight_kg)
    if not (height_m > 0 and weight_kg > 0):
        raise ValueError(f"height and weight must be positive, got {height_m} m and {weight_kg} kg")
    n = min(model.num_betas, 16) if num_betas is None else int(num_betas)
    if n < 1 or n > model.num_betas:
        raise ValueError(f"cannot fit {n} betas: the model has {model.num_betas} shape components")
    target = np.array([height_m, weight_kg])
    scale = 1.0 / target  # relative residuals: 1 cm and 1 kg are not comparable units
    betas = np.zeros(n)
    fixed = np.zeros_like(np.asarray(model.v_template, dtype=np.float64))
    if expression is not None and model.num_expressions:
        fixed = np.asarray(model.exprdirs, dtype=np.float64) @ _padded(expression, model.num_expressions)
    for _ in range(iterations):
        values, jac = _measurements_and_jacobian(model, betas, density, fixed)
        residual = (target - values) * scale
        if np.all(np.abs(residual) < 1e-7):
            break
        J = jac * scale[:, None]
        # min ||beta_new|| s.t. J beta_new = residual + J beta  (linearised constraints), lightly damped
        rhs = residual + J @ betas
        gram = J @ J.T + 1e-9 * np.eye(2)
        new = J.T @ np.linalg.solve(gram, rhs)
        step = new - betas
        limit = 3.0  # keep Gauss-Newton steps moderate where the extreme vertex switches
        norm = np.linalg.norm(step)
        betas = betas + (step * (limit / norm) if norm > limit else step)
    return betas.astype(np.float32)
