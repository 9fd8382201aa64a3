# SPDX-License-Identifier: GPL-3.0-or-later
"""MakeHuman macro-target weighting (re-implemented from the semantics in ``macro.json``) and a synthetic adult prior.

A macro target's weight is the product of one factor per variable named in its file name (gender, age, muscle, weight,
height, proportions, race, cup size, firmness). Factors are piecewise linear in the slider value; races are normalised
to sum to 1. Only adult targets (young / old) are loaded because the prior never reaches the baby / child ages.
"""

import numpy as np

from . import source

GENDERS = ("female", "male")
RACES = ("african", "asian", "caucasian")
THREE_LEVEL = {
    "muscle": ("minmuscle", "averagemuscle", "maxmuscle"),
    "weight": ("minweight", "averageweight", "maxweight"),
    "cupsize": ("mincup", "averagecup", "maxcup"),
    "firmness": ("minfirmness", "averagefirmness", "maxfirmness"),
}
YEARS_AT_SLIDER_HALF, YEARS_AT_SLIDER_ONE = 25.0, 90.0
HEIGHT_PRIOR = {"female": (0.015, 0.055), "male": (0.05, 0.055)}  # (mean, sd) of the height-target stature change, m


def target_paths(data):
    """Sorted list of the adult macro target files (paths)."""
    root = data / "mpfb2" / "targets"
    paths = sorted((root / "macrodetails").glob("*.target.gz"))
    paths += sorted((root / "macrodetails" / "height").glob("*.target.gz"))
    paths += sorted((root / "macrodetails" / "proportions").glob("*.target.gz"))
    paths += sorted((root / "breast").glob("female-*.target.gz"))
    return [p for p in paths if not ({"baby", "child"} & set(_tokens(p)))]


def _tokens(path):
    return path.name[: -len(".target.gz")].split("-")


def load_targets(data, num_verts):
    """Returns (token lists, offsets (K, V, 3) float32 metres), cached in the cache dir as a plain npz."""
    paths = target_paths(data)
    cache = source.cache_dir() / "macro_targets_adult.npz"
    if cache.is_file():
        with np.load(cache) as z:
            offsets = z["offsets"]
        if offsets.shape[0] == len(paths):
            return [_tokens(p) for p in paths], offsets
    offsets = np.stack([source.read_target(p, num_verts) for p in paths])
    np.savez(cache, offsets=offsets)
    return [_tokens(p) for p in paths], offsets


def factor_table(pheno):
    """{token: (N,) factor} for a phenotype dict of (N,) slider arrays (race: (N, 3), rows sum to 1)."""
    n = len(pheno["gender"])
    f = {"universal": np.ones(n), "female": 1.0 - pheno["gender"], "male": pheno["gender"]}
    old = np.clip((pheno["age"] - 0.5) / 0.5, 0.0, 1.0)
    f["young"], f["old"] = 1.0 - old, old
    for var, (lo, mid, hi) in THREE_LEVEL.items():
        x = pheno[var]
        f[lo] = np.clip((0.5 - x) / 0.5, 0.0, 1.0)
        f[hi] = np.clip((x - 0.5) / 0.5, 0.0, 1.0)
        f[mid] = 1.0 - f[lo] - f[hi]
    f["minheight"] = np.clip((0.5 - pheno["height"]) / 0.5, 0.0, 1.0)
    f["maxheight"] = np.clip((pheno["height"] - 0.5) / 0.5, 0.0, 1.0)
    f["uncommonproportions"] = np.clip((0.5 - pheno["proportions"]) / 0.5, 0.0, 1.0)
    f["idealproportions"] = np.clip((pheno["proportions"] - 0.5) / 0.5, 0.0, 1.0)
    for i, race in enumerate(RACES):
        f[race] = pheno["race"][:, i]
    return f


def target_weights(pheno, token_lists):
    """(N, K) float32 weight of every target for N phenotypes."""
    f = factor_table(pheno)
    cols = [np.prod([f[t] for t in tokens], axis=0) for tokens in token_lists]
    return np.stack(cols, axis=1).astype(np.float32)


def sample_prior(rng, n, sex):
    """Draw n synthetic adult phenotypes. sex: "female" / "male" (gender slider U(0, .25) / U(.75, 1)).

    Priors (invented, not measured): age 25-70 y, muscle N(.5, .15), weight N(.5, .2), proportions U(.5, 1),
    race Dirichlet(1, 1, 1), cup / firmness N(.5, .15), and a height slider mapped from a stature change in metres
    (MakeHuman's height targets add ~144 cm per unit above .5 but ~73 cm per unit below), shifted per sex so the mean
    statures land near 1.62 m (female) and 1.75 m (male), with an SD of about 7 cm including the other sliders.
    """
    gender = rng.uniform(0.0, 0.25, n) if sex == "female" else rng.uniform(0.75, 1.0, n)
    years = rng.uniform(25.0, 70.0, n)
    shift, spread = HEIGHT_PRIOR[sex]
    metres = shift + spread * rng.standard_normal(n)  # stature change asked of the height targets
    height = 0.5 + np.where(metres > 0, metres / 1.44, metres / 0.73)
    pheno = {
        "gender": gender,
        "age": 0.5 + 0.5 * (years - YEARS_AT_SLIDER_HALF) / (YEARS_AT_SLIDER_ONE - YEARS_AT_SLIDER_HALF),
        "muscle": rng.normal(0.5, 0.15, n),
        "weight": rng.normal(0.5, 0.2, n),
        "height": height,
        "proportions": rng.uniform(0.5, 1.0, n),
        "race": rng.dirichlet((1.0, 1.0, 1.0), n),
        "cupsize": rng.normal(0.5, 0.15, n),
        "firmness": rng.normal(0.5, 0.15, n),
    }
    for key in ("muscle", "weight", "height", "cupsize", "firmness"):
        pheno[key] = np.clip(pheno[key], 0.0, 1.0)
    return pheno
