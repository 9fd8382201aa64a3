# SPDX-License-Identifier: GPL-3.0-or-later
"""The binary glTF container (``.glb``, glTF 2.0 §4.4): its JSON document and binary buffer, read and written.

Used to correct what Blender's glTF exporter cannot be told (blender/export/fidelity.py): a 12-byte header (``glTF``, version
2, total length), a JSON chunk padded with spaces to 4 bytes, an optional BIN chunk padded with zeros. Writing the
same document and buffer gives the same bytes (keys keep their order, no time stamps).
"""

import json
import struct

MAGIC, VERSION = b"glTF", 2
JSON_CHUNK, BIN_CHUNK = 0x4E4F534A, 0x004E4942


def read_glb(data):
    """``(document dict, binary buffer bytes or None)`` of the bytes of a .glb file; ValueError if it is not one."""
    if len(data) < 20 or data[:4] != MAGIC:
        raise ValueError("not a binary glTF file (no glTF header)")
    version, length = struct.unpack_from("<II", data, 4)
    if version != VERSION or length != len(data):
        raise ValueError(f"binary glTF version {version}, length {length} of {len(data)} bytes: not supported")
    chunks, offset = {}, 12
    while offset + 8 <= length:
        size, kind = struct.unpack_from("<II", data, offset)
        chunks.setdefault(kind, data[offset + 8 : offset + 8 + size])
        offset += 8 + size
    if JSON_CHUNK not in chunks:
        raise ValueError("binary glTF without a JSON chunk")
    return json.loads(chunks[JSON_CHUNK].decode("utf-8")), chunks.get(BIN_CHUNK)


def write_glb(document, binary=None):
    """The bytes of a .glb holding ``document`` (and ``binary``, the buffer 0 of the document)."""
    text = json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * (-len(text) % 4)
    chunks = struct.pack("<II", len(text), JSON_CHUNK) + text
    if binary is not None:
        binary = bytes(binary) + b"\0" * (-len(binary) % 4)
        chunks += struct.pack("<II", len(binary), BIN_CHUNK) + binary
    return MAGIC + struct.pack("<II", VERSION, 12 + len(chunks)) + chunks
