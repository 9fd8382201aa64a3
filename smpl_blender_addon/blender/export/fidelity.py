# SPDX-License-Identifier: GPL-3.0-or-later
"""What engines read besides the animation: the rest state (static shape-key values), the clip's name, and
reproducible FBX bytes (object ids, creation time). docs/fbx-presets.md, "What engines read"."""

import contextlib
import hashlib
import os
import re
import struct
import time

import numpy as np

from ...core.glb import read_glb, write_glb
from .. import compat


def clip_name(armature, name=None):
    """The animation's name in an exported file (glTF animation, FBX take): ``name``, else the body's action (named
    after the motion file it was imported from), else the body; without Blender's ``.001`` suffix."""
    if name:
        return str(name)
    ad = armature.animation_data
    base = ad.action.name if ad is not None and ad.action is not None else armature.name
    return re.sub(r"\.\d{3}$", "", base) or base


def rest_key_values(body, mesh_obj):
    """``{key name: value}`` of ``body`` at rest, for the static shape-key values of ``mesh_obj`` (its mesh or a
    temporary copy of it): Pose### 0 (the rest pose needs no correction), Shape### and Exp### the body's own betas and
    expression (not the first frame's)."""
    keys = mesh_obj.data.shape_keys if mesh_obj is not None else None
    if keys is None:
        return {}
    coefficients = {"Shape": body.betas, "Exp": body.expression}
    rest = {}
    for block in keys.key_blocks[1:]:
        found = re.fullmatch(r"(Shape|Exp|Pose)(\d{3})", block.name)
        if found is not None:
            values, index = coefficients.get(found.group(1)), int(found.group(2))
            rest[block.name] = float(values[index]) if values is not None and index < values.size else 0.0
    return rest


@contextlib.contextmanager
def fbx_static_values_at_rest(mesh_obj, rest):
    """FBX: each blend-shape channel's static ``DeformPercent`` (written after the bake, from the keys' values at the
    current frame) is the rest value, not the first frame's. Yields True when done (verified exporter versions)."""
    module = compat.exporter_hook(compat.FBX_BAKE_HOOK)
    if module is None or mesh_obj is None or not rest:
        yield False
        return
    blocks = mesh_obj.data.shape_keys.key_blocks
    index = np.array([blocks.find(name) for name in rest], dtype=np.int64)
    values = np.array(list(rest.values()), dtype=np.float32)
    saved = []

    def wrap(original):
        def then_rest(scene_data):
            result = original(scene_data)  # the bake: every frame, then back to the current one
            current = np.empty(len(blocks), dtype=np.float32)
            blocks.foreach_get("value", current)
            saved.append(current.copy())
            current[index] = values
            blocks.foreach_set("value", current)
            return result

        return then_rest

    try:
        with compat.wrapped(module, compat.FBX_BAKE_HOOK, wrap):
            yield True
    finally:
        if saved:
            blocks.foreach_set("value", saved[0])


_FBX_STAMP_FIELDS = ("Year", "Month", "Day", "Hour", "Minute", "Second", "Millisecond")


def fbx_time_stamp(time_stamp=None):
    """The creation time an FBX export writes: ``time_stamp`` (seconds since 1970, UTC), else the
    ``SOURCE_DATE_EPOCH`` environment variable (reproducible builds), else None (the export time, Blender's)."""
    if time_stamp is None and os.environ.get("SOURCE_DATE_EPOCH", "").strip().isdigit():
        time_stamp = int(os.environ["SOURCE_DATE_EPOCH"])
    return None if time_stamp is None else int(time_stamp)


def set_fbx_time_stamp(path, time_stamp):
    """Write ``time_stamp`` into the FBX header's ``CreationTimeStamp`` (the only bytes that differ between two
    exports of the same body), in place. Returns False if the header is not as Blender writes it."""
    when = time.gmtime(time_stamp)
    values = (when.tm_year, when.tm_mon, when.tm_mday, when.tm_hour, when.tm_min, when.tm_sec, 0)
    with open(path, "r+b") as stream:
        head = bytearray(stream.read(4096))
        start = head.find(b"\x11CreationTimeStamp")
        places = []
        for field in _FBX_STAMP_FIELDS:
            tag = bytes([len(field)]) + field.encode() + b"I"  # a node of one int32 property
            at = head.find(tag, start) if start >= 0 else -1
            if at < 0:
                return False
            places.append(at + len(tag))
        for at, value in zip(places, values):
            struct.pack_into("<i", head, at, value)
        stream.seek(0)
        stream.write(head)
    return True


@contextlib.contextmanager
def stable_fbx_ids():
    """FBX object ids from a digest of the exporter's own keys (names), not from Python's per-process string hash:
    two processes exporting the same body write the same file. Yields True when active (verified versions)."""
    module = compat.exporter_hook(compat.FBX_UUID_HOOK)
    if module is None:
        yield False
        return

    def wrap(original):
        def key_to_uuid(uuids, key):
            if isinstance(key, int) and 0 <= key < 2**63:
                return original(uuids, key)  # used as the id itself
            digest = hashlib.blake2b(repr(key).encode("utf-8", "backslashreplace"), digest_size=8).digest()
            return original(uuids, int.from_bytes(digest, "little") >> 1)  # collisions: the exporter's own loop

        return key_to_uuid

    with compat.wrapped(module, compat.FBX_UUID_HOOK, wrap):
        yield True


def glb_rest_and_name(path, rest, name):
    """glTF: the mesh's default morph weights (``mesh.weights``, the rest state engines show before and between
    clips) are the rest values, not the first frame's; the one animation is named ``name``. Rewrites the .glb."""
    with open(path, "rb") as stream:
        document, binary = read_glb(stream.read())
    for mesh in document.get("meshes", []):
        names = (mesh.get("extras") or {}).get("targetNames")
        if names and "weights" in mesh:
            mesh["weights"] = [rest.get(n, w) for n, w in zip(names, mesh["weights"])]
    if len(document.get("animations", [])) == 1:
        document["animations"][0]["name"] = name
    with open(path, "wb") as stream:
        stream.write(write_glb(document, binary))
