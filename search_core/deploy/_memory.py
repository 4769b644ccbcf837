"""RAM of the exported model: the offline memory plan that reaches the liveness lower bound, and
the arena head to expect on the board (the host interpreter's reference kernels request no
CMSIS-NN scratch buffers, so those are added to TFLM's planner the way the board's kernels
request them)."""

from __future__ import annotations

from lut_store import InputError
from lut_store._cost import op_configs
from lut_store._memory import (ARENA_ALIGNMENT, ONLINE, PlannedBuffer, embed_offline_plan,
                               greedy_plan, lower_bound_offsets, planner_buffers)
from lut_store._tflite import read_model

from ..hardware import kernel_scratch_bytes


def align(n: int) -> int:
    return (n + ARENA_ALIGNMENT - 1) // ARENA_ALIGNMENT * ARENA_ALIGNMENT


def with_offline_plan(data: bytes, source: str = "<model>") -> bytes:
    """`data` with an OfflineMemoryAllocation plan that places the activations at the lower bound."""
    return embed_offline_plan(data, lower_bound_offsets(read_model(data, source)), source)


def without_offline_plan(data: bytes, source: str = "<model>") -> bytes:
    """`data` with every tensor planned at run time (an all-online plan replaces any plan): what
    TFLM's default greedy planner makes of the model."""
    model = read_model(data, source)
    return embed_offline_plan(data, [ONLINE] * sum(len(sg.tensors) for sg in model.subgraphs),
                              source)


def board_arena_head_bytes(data: bytes, source: str = "<model>") -> int:
    """The arena head TFLM + CMSIS-NN reserves on the board for `data` (honouring its offline
    plan): the host planner's buffers plus, per conv, the CMSIS-NN scratch buffer it requests in
    Prepare (search_core.hardware.kernel_scratch_bytes), placed by TFLM's greedy planner."""
    model = read_model(data, source)
    if model.num_subgraphs != 1:
        raise InputError(f"{source}: {model.num_subgraphs} subgraphs; MicroNAS models have one")
    host = planner_buffers(model)
    tensors = [b for b in host if b.tensor is not None]
    host_scratch = [b for b in host if b.tensor is None]
    scratch: list[PlannedBuffer] = []
    for i, config in enumerate(op_configs(model, source)):
        if config.op == "CONV_2D":
            size = kernel_scratch_bytes(config)
            if size:
                # Operator i runs in allocation scope i + 1 (scope 0 creates the graph inputs).
                scratch.append(PlannedBuffer(align(size), i + 1, i + 1, ONLINE, 0, None, i))
        else:  # reference kernels (MEAN) request on the board what they request on the host
            scratch.extend(b for b in host_scratch if b.op == i)
    buffers = tensors + scratch
    offsets = greedy_plan(buffers)
    return max((o + b.size for b, o in zip(buffers, offsets)), default=0)

