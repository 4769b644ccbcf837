"""An offline memory plan that reaches the liveness lower bound on the kernels the model will run.

Scratch buffers cannot be planned offline: TFLM places them greedily around the plan at run time.
So each candidate layout (a few placement orders of all buffers, scratch included) is judged by the
head TFLM would really reserve with it, and the smallest wins; the search stops as soon as one
reaches the lower bound (tensors and scratch of the same kernels). A plan made for the board's
CMSIS-NN kernels leaves the room their scratch needs exactly where the greedy planner will put it;
one made without that scratch can leave it no gap, and TFLM then stacks the scratch on top — up to
10 % more RAM on MicroNAS networks.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import replace

from ..tflite import TfliteModel, read_model
from ._arena import Buffer, max_live_bytes, plan_extent
from ._offline import embed_offline_plan
from ._planner import greedy_plan, planner_buffers
from ._scratch import CMSIS_NN


def lower_bound_offsets(model: TfliteModel | bytes, *, kernels: str = CMSIS_NN) -> list[int]:
    """Arena offsets (one per tensor of all subgraphs, -1 = not planned) for an offline plan whose
    arena head under `kernels` is as small as found, the lower bound on every MicroNAS network."""
    if not isinstance(model, TfliteModel):
        model = read_model(model)
    buffers = planner_buffers(model, kernels=kernels, use_metadata=False)
    bound = max_live_bytes(buffers)
    best: list[int] | None = None
    best_head = -1
    for order in _candidate_orders(buffers):
        offsets = _best_fit(buffers, order)
        # What TFLM makes of it: tensors fixed at these offsets, scratch placed by the planner.
        as_planned = [replace(b, offline_offset=offsets[i]) if b.tensor is not None else b
                      for i, b in enumerate(buffers)]
        head = plan_extent(as_planned, greedy_plan(as_planned))
        if best is None or head < best_head:
            best, best_head = offsets, head
        if head <= bound:
            break
    else:
        # The orders above miss the bound on about 1 in 20 MicroNAS networks, where a buffer has
        # to sit at the top of its gap rather than the bottom; a bounded exact search finds those.
        offsets = _exact_fit(buffers, bound)
        if offsets is not None:
            as_planned = [replace(b, offline_offset=offsets[i]) if b.tensor is not None else b
                          for i, b in enumerate(buffers)]
            head = plan_extent(as_planned, greedy_plan(as_planned))
            if head < best_head:
                best, best_head = offsets, head
    placed = {(b.subgraph, b.tensor): best[i] for i, b in enumerate(buffers)
              if b.tensor is not None and best is not None}
    return [placed.get((sg, t.index), -1)
            for sg, subgraph in enumerate(model.subgraphs) for t in subgraph.tensors]


def with_offline_plan(data: bytes, source: str = "<model>", *, kernels: str = CMSIS_NN) -> bytes:
    """`data` with an OfflineMemoryAllocation plan from `lower_bound_offsets`."""
    return embed_offline_plan(data, lower_bound_offsets(read_model(data, source), kernels=kernels),
                              source)


def _candidate_orders(buffers: Sequence[Buffer]):
    ids = list(range(len(buffers)))
    keys = (
        lambda i: (-buffers[i].size, buffers[i].first),
        lambda i: (buffers[i].first, -buffers[i].size),
        lambda i: (-(buffers[i].last - buffers[i].first), -buffers[i].size),
        lambda i: (-buffers[i].size * (buffers[i].last - buffers[i].first + 1), buffers[i].first),
        lambda i: (-buffers[i].last, -buffers[i].size),
    )
    for key in keys:
        yield sorted(ids, key=key)
    # Scratch first: each at the bottom of the arena while its operator runs, where TFLM's
    # greedy planner (lowest gap first) will find that room again around the fixed tensors.
    for key in keys:
        yield sorted(ids, key=lambda i: (buffers[i].tensor is not None, key(i)))
    # Then every order of the five largest buffers (120 more tries, each O(n^2)).
    big = sorted(ids, key=lambda i: -buffers[i].size)
    head, rest = big[:5], big[5:]
    for perm in itertools.permutations(head):
        yield list(perm) + rest


def _best_fit(buffers: Sequence[Buffer], order: Sequence[int]) -> list[int]:
    """Place buffers in `order`, each at the lowest offset where it fits among the already-placed
    buffers that overlap it in time."""
    offsets = [0] * len(buffers)
    placed: list[int] = []
    for i in order:
        b = buffers[i]
        busy = sorted((offsets[j], offsets[j] + buffers[j].size) for j in placed
                      if b.overlaps(buffers[j]))
        candidate = 0
        for start, end in busy:
            if start - candidate >= b.size:
                break
            candidate = max(candidate, end)
        offsets[i] = candidate
        placed.append(i)
    return offsets


EXACT_FIT_NODES = 200_000   # placements tried before giving up (a few seconds at most)


def _exact_fit(buffers: Sequence[Buffer], bound: int, nodes: int = EXACT_FIT_NODES) -> list[int] | None:
    """Offsets that keep every buffer below `bound`, or None if none was found within `nodes`
    placements: depth-first over the buffers in order of their first scope, each tried at the
    bottom and at the top of every gap its already-placed contemporaries leave. (Placing in
    time order means a buffer only ever has to avoid buffers placed before it.)"""
    order = sorted(range(len(buffers)),
                   key=lambda i: (buffers[i].first, -buffers[i].size, buffers[i].last))
    offsets = [0] * len(buffers)
    budget = [nodes]

    def gaps(k: int) -> list[int]:
        b = buffers[order[k]]
        busy = sorted((offsets[j], offsets[j] + buffers[j].size) for j in order[:k]
                      if b.overlaps(buffers[j]))
        tries, start = [], 0
        for lo, hi in busy + [(bound, bound)]:
            if lo - start >= b.size:
                tries.append(start)
                if lo - b.size != start:
                    tries.append(lo - b.size)
            start = max(start, hi)
        return tries

    def place(k: int) -> bool:
        if k == len(order):
            return True
        for offset in gaps(k):
            budget[0] -= 1
            if budget[0] < 0:
                return False
            offsets[order[k]] = offset
            if place(k + 1):
                return True
        return False

    return offsets if place(0) else None
