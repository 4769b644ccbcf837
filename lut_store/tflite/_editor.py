"""Editing a TFLite flatbuffer: add a metadata entry (the offline memory plan rides in one).

Flatbuffer offsets only point forward, so new vectors cannot simply be appended after the objects
they list. Instead a block is inserted right after the 8-byte header: it holds a new Model table
(copying every field of the old one, with `buffers` and `metadata` replaced by new vectors that
list the old entries plus the new ones), the new Buffer and Metadata tables and their data. All
old objects move by the block's length together, so their relative offsets stay valid; only the
root offset changes. The block is padded to end on a 16-byte boundary of the new file, so its
length is a multiple of 8 (not of 16: it starts at byte 8) and every old object keeps its 8-byte
alignment, the most any flatbuffer scalar needs. The old Model table stays behind, unreferenced.
"""

from __future__ import annotations

import struct

from ._reader import Flatbuffer, read_model

_EDIT_ALIGNMENT = 16
_MODEL_OFFSET_FIELDS = frozenset(range(1, 10))   # operator_codes ... external_buffers


def add_metadata_buffer(data: bytes, name: str, payload: bytes, source: str = "<bytes>") -> bytes:
    """Return a copy of the flatbuffer `data` with a new buffer holding `payload` and a metadata
    entry `name` pointing to it; existing metadata entries called `name` are dropped."""
    read_model(data, source)                       # validates everything followed below
    buf = Flatbuffer(bytes(data), source)
    root = buf.follow(0, "root offset")
    model = buf.table(root, "Model")
    n_fields = (model.vt_size - 4) // 2
    present = [fid for fid in range(n_fields) if model.field_pos(fid) is not None]
    unknown = [fid for fid in present if fid != 0 and fid not in _MODEL_OFFSET_FIELDS]
    if unknown:
        buf.fail(f"Model has fields {unknown} this editor does not know; refusing to rewrite it")

    buffer_tables = [t.pos for t in model.tables(4, "buffers")]
    for i, pos in enumerate(buffer_tables):
        t = buf.table(pos, f"buffers[{i}]")
        if t.scalar(1, "<Q", 0, "offset") > 1:
            buf.fail("buffers stored outside the flatbuffer (absolute offsets) are not supported")
    metadata_tables = [t.pos for t in model.tables(6, "metadata") if t.string(0, "name") != name]
    new_buffer_index = len(buffer_tables)

    block = _BlockWriter(base=8)
    fields = sorted(set(present) | {4, 6})
    vt_model = block.vtable(len(fields), max(fields) + 1, fields)
    model_pos = block.table(vt_model, len(fields))
    slots = {fid: model_pos + 4 + 4 * k for k, fid in enumerate(fields)}
    buffers_vec = block.vector(len(buffer_tables) + 1)
    metadata_vec = block.vector(len(metadata_tables) + 1)
    vt_meta = block.vtable(2, 2, [0, 1])
    meta_pos = block.table(vt_meta, 2)
    name_pos = block.string(name.encode("utf-8"))
    vt_buffer = block.vtable(1, 1, [0])
    buffer_pos = block.table(vt_buffer, 1)
    payload_pos = block.bytes_vector(payload, _EDIT_ALIGNMENT)
    shift = block.finish(_EDIT_ALIGNMENT)

    def old(pos: int) -> int:                       # where an old object ends up
        return pos + shift

    for fid in fields:
        slot = slots[fid]
        if fid == 0:
            block.put("<I", slot, model.scalar(0, "<I", 0, "version"))
        elif fid == 4:
            block.uoffset(slot, buffers_vec)
        elif fid == 6:
            block.uoffset(slot, metadata_vec)
        else:
            block.uoffset(slot, old(buf.follow(model.field_pos(fid), f"Model field {fid}")))
    for k, pos in enumerate(buffer_tables):
        block.uoffset(buffers_vec + 4 + 4 * k, old(pos))
    block.uoffset(buffers_vec + 4 + 4 * len(buffer_tables), buffer_pos)
    for k, pos in enumerate(metadata_tables):
        block.uoffset(metadata_vec + 4 + 4 * k, old(pos))
    block.uoffset(metadata_vec + 4 + 4 * len(metadata_tables), meta_pos)
    block.uoffset(meta_pos + 4, name_pos)
    block.put("<I", meta_pos + 8, new_buffer_index)
    block.uoffset(buffer_pos + 4, payload_pos)

    out = bytearray(data[:8]) + block.data + bytearray(data[8:])
    struct.pack_into("<I", out, 0, model_pos)
    return bytes(out)


class _BlockWriter:
    """Lays out new flatbuffer objects front to back at known absolute positions."""

    def __init__(self, base: int) -> None:
        self.base = base
        self.data = bytearray()

    def _pad(self, alignment: int, extra: int = 0) -> None:
        while (self.base + len(self.data) + extra) % alignment:
            self.data.append(0)

    def _here(self) -> int:
        return self.base + len(self.data)

    def put(self, fmt: str, pos: int, value) -> None:
        struct.pack_into(fmt, self.data, pos - self.base, value)

    def uoffset(self, slot: int, target: int) -> None:
        assert target > slot, "flatbuffer offsets must point forward"
        self.put("<I", slot, target - slot)

    def vtable(self, n_slots: int, n_fields: int, fields: list[int]) -> int:
        """A vtable for a table whose present `fields` are stored in order, 4 bytes each."""
        self._pad(2)
        pos = self._here()
        entries = [0] * n_fields
        for k, fid in enumerate(fields):
            entries[fid] = 4 + 4 * k
        self.data += struct.pack(f"<HH{n_fields}H", 4 + 2 * n_fields, 4 + 4 * n_slots, *entries)
        return pos

    def table(self, vtable: int, n_slots: int) -> int:
        self._pad(4)
        pos = self._here()
        self.data += struct.pack("<i", pos - vtable) + bytes(4 * n_slots)
        return pos

    def vector(self, n: int) -> int:
        self._pad(4)
        pos = self._here()
        self.data += struct.pack("<I", n) + bytes(4 * n)
        return pos

    def string(self, raw: bytes) -> int:
        self._pad(4)
        pos = self._here()
        self.data += struct.pack("<I", len(raw)) + raw + b"\0"
        return pos

    def bytes_vector(self, raw: bytes, alignment: int) -> int:
        self._pad(alignment, extra=4)               # align the elements, not the length prefix
        pos = self._here()
        self.data += struct.pack("<I", len(raw)) + raw
        return pos

    def finish(self, alignment: int) -> int:
        self._pad(alignment)
        return len(self.data)
