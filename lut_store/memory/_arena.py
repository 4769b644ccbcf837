"""What every memory figure is made of: arena buffers with lifetimes, TFLM's arena alignment, and
the liveness lower bound over them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

ARENA_ALIGNMENT = 16       # MicroArenaBufferAlignment(): every planned buffer starts and ends on it
ONLINE = -1                # kOnlinePlannedBuffer: the planner places the buffer at run time


def align(n: int) -> int:
    """`n` bytes rounded up to the arena alignment."""
    return (n + ARENA_ALIGNMENT - 1) // ARENA_ALIGNMENT * ARENA_ALIGNMENT


@dataclass(frozen=True)
class Buffer:
    """One request to TFLM's memory planner, in the order TFLM adds them (= planner buffer id):
    an activation tensor or a kernel's scratch buffer, live during allocation scopes
    [first, last] (scope 0 creates the graph inputs, operator i runs in scope i + 1)."""

    size: int                 # bytes, already rounded up to ARENA_ALIGNMENT
    first: int
    last: int
    offline_offset: int = ONLINE
    subgraph: int = 0
    tensor: int | None = None  # None for a kernel scratch buffer
    op: int | None = None      # the operator that requested the scratch buffer

    def overlaps(self, other: "Buffer") -> bool:
        """Whether the two are live at the same time (and so need disjoint bytes)."""
        return not (other.first > self.last or self.first > other.last)


def live_bytes(buffers: Sequence[Buffer], scope: int) -> int:
    return sum(b.size for b in buffers if b.first <= scope <= b.last)


def max_live_bytes(buffers: Sequence[Buffer]) -> int:
    """The liveness lower bound: the largest sum of buffers live at the same time. No planner can
    do with less; the maximum is reached when some buffer is created, so only those scopes are
    looked at."""
    return max((live_bytes(buffers, t) for t in {b.first for b in buffers}), default=0)


def plan_extent(buffers: Sequence[Buffer], offsets: Sequence[int]) -> int:
    """The arena head a placement needs: the end of its highest buffer."""
    return max((o + b.size for b, o in zip(buffers, offsets)), default=0)


def input_buffer_bytes(window: int, channels: int) -> int:
    """RAM a deployment needs beside the arena for the window being sensed: samples keep arriving
    while the model runs, and TFLM reuses the input tensor's arena bytes once its last reader has
    run, so the firmware keeps the latest window in a ring of its own — int8 (quantised with the
    input's scale as each sample arrives), window x channels bytes. A memory budget covers the
    arena and this ring together."""
    return int(window) * int(channels)
