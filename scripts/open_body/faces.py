# SPDX-License-Identifier: GPL-3.0-or-later
"""Expression basis from the CC0 "Face Units" (faceunits01), hand-pose PCA, and placeholder face landmarks."""

import numpy as np

from . import source

# Left to joints (jaw*, eyeLook*), meaningless alone in ARKit (mouthClose) or without a tongue mesh (tongueOut).
EXCLUDED_UNITS = ("jawOpen", "jawLeft", "jawRight", "jawForward", "mouthClose", "tongueOut")


def load_face_units(data, num_verts):
    """(names, offsets (U, V, 3) float64 metres) of the 38 face units used for the expression space."""
    paths = sorted((data / "faceunits01" / "targets" / "faceunits").glob("*.target"))
    keep = [p for p in paths if not p.stem.startswith("eyeLook") and p.stem not in EXCLUDED_UNITS]
    return [p.stem for p in keep], np.stack([source.read_target(p, num_verts).astype(np.float64) for p in keep])


def expression_basis(rng, names, units, num=10, samples=4000, active=0.25):
    """(V, 3, num) expression directions with unit-variance coefficients, and the explained-variance fractions.

    Activations: each unit active with probability .25, strength U(0, 1), left/right pairs tied half the time. The PCA
    is uncentred (zero expression = neutral face) and computed exactly in the 38-dim activation space:
    offsets x = D^T a, so with E[a a^T] = L L^T the principal directions are D^T L e_k for the eigenvectors e_k of L^T D D^T L.
    """
    u = len(names)
    act = (rng.random((samples, u)) < active) * rng.random((samples, u))
    pairs = [(names.index(n), names.index(n[:-4] + "Right")) for n in names if n.endswith("Left")]
    tied = rng.random((samples, len(pairs))) < 0.5
    for k, (a, b) in enumerate(pairs):
        act[tied[:, k], b] = act[tied[:, k], a]
    second = act.T @ act / samples
    chol = np.linalg.cholesky(second + 1e-9 * np.eye(u))
    d = units.reshape(u, -1)
    gram = chol.T @ (d @ d.T) @ chol
    evals, evecs = np.linalg.eigh(gram)
    order = np.argsort(-evals, kind="stable")
    evals, evecs = evals[order], evecs[:, order]
    coeffs = chol @ evecs[:, :num]  # unit activations per component
    coeffs *= np.where(coeffs.sum(axis=0) < 0, -1.0, 1.0)  # sign: + = more of the units overall
    dirs = (d.T @ coeffs).reshape(units.shape[1], 3, num)
    return dirs, evals[:num] / evals.sum()


def hand_pose_pca(rng, finger_dirs, palm_normal, samples=5000):
    """PCA of plausible finger poses for one hand.

    finger_dirs (15, 3): bone direction of each finger joint (smplx order index, middle, pinky, ring, thumb; 1-3 each)
    in the T-pose; palm_normal (3,). A grip g ~ U(0, 1) shared by the hand, per-finger curl = g + N(0, .25), clipped
    to [-.1, 1]; curl drives flexion about dir x palm_normal (MCP 1.4, PIP 1.6, DIP 1.1 rad at curl 1; thumb .6 / .7 / .9);
    spread: N(0, .1) rad about the palm normal at the knuckles. Returns (components (45, 45) rows orthonormal, most
    variance first; mean (45,) = the relaxed hand; explained-variance fractions).
    """
    grip = rng.uniform(0.0, 1.0, (samples, 1))
    curl = np.clip(grip + rng.normal(0.0, 0.25, (samples, 5)), -0.1, 1.0)
    scale = np.array([[1.4, 1.6, 1.1]] * 4 + [[0.6, 0.7, 0.9]])  # (5 fingers, 3 segments)
    flex = curl[:, :, None] * scale[None]  # (S, 5, 3)
    axes = np.cross(finger_dirs, palm_normal)
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    pose = flex.reshape(samples, 15, 1) * axes[None]
    spread = rng.normal(0.0, 0.1, (samples, 5))
    pose[:, 0::3] += spread[:, :, None] * palm_normal
    flat = pose.reshape(samples, 45)
    mean = flat.mean(axis=0)
    _, s, vt = np.linalg.svd(flat - mean, full_matrices=False)
    vt *= np.where(vt.sum(axis=1, keepdims=True) < 0, -1.0, 1.0)
    return vt, mean, s**2 / np.sum(s**2)


def placeholder_landmarks(verts, faces, head_joint, num=51):
    """(lmk_faces_idx (num,), lmk_bary_coords (num, 3)): faces nearest to a 17 x 3 grid on the front of the face.

    A placeholder so smplx.SMPLX loads; they are NOT the 51 annotated SMPL-X landmarks.
    """
    centroids = verts[faces].mean(axis=1)
    front = centroids[:, 2] > head_joint[2]
    xs = np.linspace(-0.05, 0.05, 17)
    ys = head_joint[1] + np.array([0.03, 0.06, 0.09])
    ids = []
    for y in ys:
        for x in xs:
            cand = np.flatnonzero(front & (np.abs(centroids[:, 1] - y) < 0.01) & (np.abs(centroids[:, 0] - x) < 0.01))
            if len(cand) == 0:
                cand = np.flatnonzero(front)
            ids.append(cand[np.argmax(centroids[cand, 2])])
    return np.asarray(ids, np.int64), np.full((num, 3), 1.0 / 3.0)
