"""Peak memory of a discrete network on the board, from `lut_store.memory`: the arena buffers its
exported model will have (int8 tensors with their allocation scopes, CMSIS-NN scratch) and the
liveness peak over them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from lut_store.memory import CMSIS_NN, Buffer, align, live_bytes, scratch_requests

from ..architecture import Architecture, NetworkGraph


@dataclass(frozen=True)
class OpMemory:
    index: int
    name: str
    live_bytes: int       # 16-byte-aligned activation tensors live during the op
    scratch_bytes: int    # 16-byte-aligned kernel scratch of the op

    @property
    def total_bytes(self) -> int:
        return self.live_bytes + self.scratch_bytes


@dataclass(frozen=True)
class MemoryEstimate:
    peak_bytes: int         # max over ops of live activations + kernel scratch
    activation_bytes: int   # max over ops of live activations alone (the liveness lower bound)
    scratch_bytes: int      # the largest kernel scratch of any op
    peak_op: str            # the op where peak_bytes is reached


def graph_buffers(graph: NetworkGraph) -> list[Buffer]:
    """The arena buffers of a discrete network on the board, as TFLM's planner will see the
    exported model: its int8 tensors with their allocation scopes (operator i runs in scope
    i + 1; the graph input is created in scope 0) and the CMSIS-NN kernels' scratch."""
    spans = graph.lifetimes()
    buffers = [Buffer(align(t.nbytes), 0 if t.id == graph.input else spans[t.id][0] + 1,
                      spans[t.id][1] + 1, tensor=t.id)
               for t in graph.tensors if t.id in spans]
    buffers += [Buffer(align(size), op.index + 1, op.index + 1, op=op.index)
                for op in graph.ops for size in scratch_requests(op.config, CMSIS_NN)]
    return buffers


def memory_profile(graph: NetworkGraph) -> list[OpMemory]:
    """Per op: live activation bytes and kernel scratch bytes (both arena-aligned)."""
    buffers = graph_buffers(graph)
    tensors = [b for b in buffers if b.tensor is not None]
    scratch: dict[int, int] = {}
    for b in buffers:
        if b.op is not None:
            scratch[b.op] = scratch.get(b.op, 0) + b.size
    return [OpMemory(op.index, op.name, live_bytes(tensors, op.index + 1), scratch.get(op.index, 0))
            for op in graph.ops]


def estimate_memory(arch: Architecture | NetworkGraph) -> MemoryEstimate:
    """Peak memory of a discrete network (board-independent: int8 tensors and CMSIS-NN scratch)."""
    graph = arch.graph() if isinstance(arch, Architecture) else arch
    return _estimate(memory_profile(graph))


def _estimate(profile: Sequence[OpMemory]) -> MemoryEstimate:
    if not profile:
        return MemoryEstimate(0, 0, 0, "")
    worst = max(profile, key=lambda m: m.total_bytes)
    return MemoryEstimate(worst.total_bytes, max(m.live_bytes for m in profile),
                          max(m.scratch_bytes for m in profile), worst.name)
