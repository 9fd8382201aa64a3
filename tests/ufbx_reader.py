# SPDX-License-Identifier: GPL-3.0-or-later
"""Read an FBX file with ufbx (independent of Blender) and print what it holds as JSON; heavy arrays go to an .npz.

    python tests/ufbx_reader.py FILE.fbx [--frames 1 5 | --times 0.5 1.0] [--npz OUT.npz [--skinned]] [--shape-step N]

Run it in a subprocess: ufbx 0.0.5 can crash when scenes are freed, so every scene stays referenced
and the process ends with ``os._exit``. Frames are converted to seconds with the file's frame rate (frame f at f/fps,
as Blender writes them).

JSON: ``settings`` (unit_meters, axes, fps), ``nodes`` (name, parent, is_bone, rest local TRS and node_to_world 4x4),
``stacks`` (name, time_begin, time_end), ``meshes`` (name, node, num_vertices, num_faces, skin cluster bone names and
bind_to_world 4x4, blend channel names and static weights), ``samples`` (per time: world 4x4 of every node and
every blend weight).
NPZ (plain arrays, ``allow_pickle=False`` safe): ``mesh{i}_positions (V,3)``, ``mesh{i}_skin (V,C)`` dense cluster
weights, ``mesh{i}_shapes (S,V,3)`` dense position offsets of every ``shape-step``-th channel (``mesh{i}_shape_index``);
with ``--skinned``, ``sample{k}_mesh{i}_skinned (V,3)``: world vertex positions as ufbx deforms them (blend shapes, then
skin) at each sampled time.
"""

import argparse
import json
import os
import sys

import numpy as np

_KEEP = []  # every ufbx wrapper stays referenced: freeing some of them crashes ufbx 0.0.5


def _k(obj):
    _KEEP.append(obj)
    return obj


def _items(values):
    """Elements of a ufbx list by index, kept alive (iterating or freeing ufbx 0.0.5 wrappers can crash)."""
    _KEEP.append(values)
    return _k([values[i] for i in range(len(values))])


def _vec(v):
    return [v.x, v.y, v.z]


def _matrix(m):
    """ufbx affine Matrix (columns c0..c3) -> 4x4 row-major list."""
    cols = [_vec(m.c0), _vec(m.c1), _vec(m.c2), _vec(m.c3)]
    out = np.eye(4)
    out[:3, :] = np.array(cols).T
    return out.tolist()


def _vec3_array(values):
    return np.array([(v.x, v.y, v.z) for v in _items(values)], dtype=np.float64).reshape(-1, 3)


def read_scene(scene):
    settings = scene.settings
    info = {
        "settings": {
            "unit_meters": settings.unit_meters,
            "original_unit_meters": settings.original_unit_meters,
            "axes": {"right": int(settings.axes.right), "up": int(settings.axes.up), "front": int(settings.axes.front)},
            "original_axis_up": int(settings.original_axis_up),
            "fps": settings.frames_per_second,
        },
        "nodes": [],
        "stacks": [],
        "meshes": [],
    }
    for node in _items(scene.nodes):
        if node.is_root:
            continue
        t = _k(node.local_transform)
        info["nodes"].append(
            {
                "name": node.name,
                "parent": None if _k(node.parent) is None or node.parent.is_root else node.parent.name,
                "is_bone": _k(node.bone) is not None,
                "translation": _vec(t.translation),
                "rotation": [t.rotation.x, t.rotation.y, t.rotation.z, t.rotation.w],
                "scale": _vec(t.scale),
                "node_to_world": _matrix(node.node_to_world),
            }
        )
    mesh_nodes = {_k(n.mesh).element_id: n.name for n in _items(scene.nodes) if _k(n.mesh) is not None}
    for stack in _items(scene.anim_stacks):
        info["stacks"].append({"name": stack.name, "time_begin": stack.time_begin, "time_end": stack.time_end})
    for mesh in _items(scene.meshes):
        entry = {
            "name": mesh.name,
            "node": mesh_nodes.get(mesh.element_id),
            "num_vertices": mesh.num_vertices,
            "num_faces": mesh.num_faces,
            "clusters": [],
            "channels": [],
        }
        for skin in _items(mesh.skin_deformers):
            for cluster in _items(skin.clusters):
                entry["clusters"].append(
                    {
                        "bone": cluster.bone_node.name if cluster.bone_node else None,
                        "bind_to_world": _matrix(cluster.bind_to_world),
                        "num_weights": cluster.num_weights,
                    }
                )
        for blend in _items(mesh.blend_deformers):
            for channel in _items(blend.channels):
                entry["channels"].append({"name": channel.name, "weight": channel.weight})
        info["meshes"].append(entry)
    return info


def mesh_arrays(scene, shape_step=1):
    """Heavy per-mesh arrays for the .npz."""
    arrays = {}
    for i, mesh in enumerate(scene.meshes):
        arrays[f"mesh{i}_positions"] = _vec3_array(mesh.vertices)  # one position per vertex, file order
        clusters = [c for skin in _items(mesh.skin_deformers) for c in _items(skin.clusters)]
        skin = np.zeros((mesh.num_vertices, len(clusters)))
        for c, cluster in enumerate(clusters):
            verts = np.array(_items(cluster.vertices), dtype=np.int64)
            skin[verts, c] = np.array(_items(cluster.weights), dtype=np.float64)
        arrays[f"mesh{i}_skin"] = skin
        channels = [ch for blend in _items(mesh.blend_deformers) for ch in _items(blend.channels)]
        picked = list(range(0, len(channels), max(int(shape_step), 1)))
        shapes = np.zeros((len(picked), mesh.num_vertices, 3), dtype=np.float32)
        for s, c in enumerate(picked):
            shape = _k(channels[c].target_shape)
            if shape is None:
                continue
            verts = np.array(_items(shape.offset_vertices), dtype=np.int64)
            shapes[s, verts] = _vec3_array(shape.position_offsets)
        arrays[f"mesh{i}_shapes"] = shapes
        arrays[f"mesh{i}_shape_index"] = np.array(picked, dtype=np.int64)
    return arrays


def skinned_world_vertices(mesh, node):
    """(V, 3) skinned (blend shapes + skin) vertex positions of an evaluated mesh, world space."""
    skinned = _k(mesh.skinned_position)
    positions = _vec3_array(skinned.values)
    indices = np.array(_items(skinned.indices), dtype=np.int64)
    per_vertex = np.zeros((mesh.num_vertices, 3))
    per_vertex[np.array(_items(mesh.vertex_indices), dtype=np.int64)] = positions[indices]
    if mesh.skinned_is_local and node is not None:
        m = np.array(_matrix(_k(node.geometry_to_world)))
        per_vertex = per_vertex @ m[:3, :3].T + m[:3, 3]
    return per_vertex


def sample(scene, times, keep, skinned=None):
    """World matrices of every node and blend weights of every channel at ``times`` (seconds), first anim stack.

    ``skinned``: dict that receives ``sample{k}_mesh{i}_skinned (V, 3)`` world vertex positions (ufbx skinning).
    """
    out = []
    if not len(scene.anim_stacks):
        return out
    anim = _k(_k(scene.anim_stacks[0]).anim)
    for k, t in enumerate(times):
        evaluated = ufbx.evaluate_scene(scene, anim, float(t), evaluate_skinning=skinned is not None)
        keep.append(evaluated)  # never free a scene while the process runs (ufbx 0.0.5 crash)
        if skinned is not None:
            nodes = {_k(n.mesh).element_id: n for n in _items(evaluated.nodes) if _k(n.mesh) is not None}
            for i, mesh in enumerate(_items(evaluated.meshes)):
                skinned[f"sample{k}_mesh{i}_skinned"] = skinned_world_vertices(mesh, nodes.get(mesh.element_id))
        nodes = {n.name: _matrix(n.node_to_world) for n in _items(evaluated.nodes) if not n.is_root}
        weights = {}
        for mesh in _items(evaluated.meshes):
            for blend in _items(mesh.blend_deformers):
                for channel in _items(blend.channels):
                    weights[channel.name] = channel.weight
        out.append({"time": float(t), "world": nodes, "weights": weights})
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("file")
    parser.add_argument("--frames", type=float, nargs="*", default=[])
    parser.add_argument("--times", type=float, nargs="*", default=[])
    parser.add_argument("--npz")
    parser.add_argument("--shape-step", type=int, default=1)
    parser.add_argument("--skinned", action="store_true", help="also skinned world vertices per sample (to the npz)")
    args = parser.parse_args(argv)
    keep = []
    scene = ufbx.load_file(args.file)
    keep.append(scene)
    info = read_scene(scene)
    fps = info["settings"]["fps"] or 24.0
    times = list(args.times) + [f / fps for f in args.frames]
    skinned = {} if args.npz and args.skinned else None
    info["samples"] = sample(scene, times, keep, skinned)
    if args.npz:
        np.savez(args.npz, **mesh_arrays(scene, args.shape_step), **(skinned or {}))
    sys.stdout.write(json.dumps(info))
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    import ufbx

    main()
