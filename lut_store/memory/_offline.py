"""The offline memory plan's format: TFLM's OfflineMemoryAllocation metadata, read and embedded."""

from __future__ import annotations

import struct
from collections.abc import Sequence

from ..tflite import TfliteModel, add_metadata_buffer, read_model
from ..errors import InputError
from ._arena import ONLINE

OFFLINE_PLAN_METADATA = "OfflineMemoryAllocation"


def offline_plan(model: TfliteModel) -> tuple[int, ...] | None:
    """The offsets of the model's OfflineMemoryAllocation metadata, or None. Validated as TFLM
    does: the count in the header must equal the number of tensors of all subgraphs."""
    raw = model.metadata.get(OFFLINE_PLAN_METADATA)
    if raw is None:
        return None
    if len(raw) < 12 or len(raw) % 4:
        raise InputError(f"{model.source}: {OFFLINE_PLAN_METADATA} metadata is {len(raw)} bytes, "
                         "not a list of int32 [version, subgraph, n, offsets...]")
    words = struct.unpack(f"<{len(raw) // 4}i", raw)
    n = words[2]
    total = sum(len(sg.tensors) for sg in model.subgraphs)
    if n != total or len(words) < 3 + n:
        raise InputError(f"{model.source}: {OFFLINE_PLAN_METADATA} holds {n} offsets "
                         f"({len(words) - 3} present) for {total} tensors")
    offsets = tuple(words[3:3 + n])
    if any(o < ONLINE for o in offsets):
        raise InputError(f"{model.source}: {OFFLINE_PLAN_METADATA} holds negative offsets "
                         "(only -1, 'plan at run time', is allowed)")
    return offsets


def embed_offline_plan(data: bytes, offsets: Sequence[int], source: str = "<bytes>") -> bytes:
    """A copy of the .tflite flatbuffer `data` carrying `offsets` as OfflineMemoryAllocation
    metadata ([version 0, subgraph 0, n, offsets...]); an existing plan is replaced."""
    model = read_model(data, source)
    total = sum(len(sg.tensors) for sg in model.subgraphs)
    if len(offsets) != total:
        raise InputError(f"{source}: {len(offsets)} offsets given for {total} tensors")
    payload = struct.pack(f"<{3 + total}i", 0, 0, total, *(int(o) for o in offsets))
    return add_metadata_buffer(data, OFFLINE_PLAN_METADATA, payload, source)


def without_offline_plan(data: bytes, source: str = "<bytes>") -> bytes:
    """`data` with every tensor planned at run time (an all-online plan replaces any plan): what
    TFLM's default greedy planner makes of the model."""
    model = read_model(data, source)
    return embed_offline_plan(data, [ONLINE] * sum(len(sg.tensors) for sg in model.subgraphs),
                              source)
