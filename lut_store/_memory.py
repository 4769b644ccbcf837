"""RAM figures of a .tflite model: the liveness lower bound and TFLite-Micro's real arena head.

`greedy_arena_head_bytes` re-implements what TFLM does when it commits its static memory plan
(tensorflow/lite/micro/micro_allocator.cc, micro_allocation_info.cc,
memory_planner/greedy_memory_planner.cc) so that the number equals the "Arena allocation head"
that the real interpreter reports:

* lifetimes ("allocation scopes") as AllocationInfoBuilder marks them: subgraph inputs and
  outputs are created at the subgraph's starting scope, each operator opens a new scope, an
  operator's outputs are created there and its inputs are last used there, subgraph outputs live
  to the end; control-flow ops (IF, WHILE, CALL_ONCE) recurse into their subgraphs in between;
* a buffer is planned for every tensor without constant data that is not a variable and has a
  non-zero size, sized up to 16 bytes (MicroArenaBufferAlignment), followed by the scratch
  buffers that kernels request in Prepare (only the reference kernels' requests are modelled:
  they are what the host interpreter runs);
* the greedy planner: offline-planned buffers first at their fixed offsets in id order, then the
  rest sorted by size, descending, with a stable bubble sort over a list that was filled in
  *reverse* id order (so among equal sizes the later-added buffer goes first); each is put into
  the first gap, scanning the placed buffers that overlap it in time in offset order.
"""

from __future__ import annotations

import itertools
import struct
from collections.abc import Sequence
from dataclasses import dataclass, replace

from ._tflite import TfliteModel, add_metadata_buffer, read_model
from .errors import InputError

__all__ = ["ARENA_ALIGNMENT", "OFFLINE_PLAN_METADATA", "PlannedBuffer", "embed_offline_plan",
           "greedy_arena_head_bytes", "greedy_plan", "lower_bound_offsets", "offline_plan",
           "peak_activation_bytes", "planner_buffers"]

ARENA_ALIGNMENT = 16                          # MicroArenaBufferAlignment()
OFFLINE_PLAN_METADATA = "OfflineMemoryAllocation"
ONLINE = -1                                   # kOnlinePlannedBuffer


def _align(n: int) -> int:
    return (n + ARENA_ALIGNMENT - 1) // ARENA_ALIGNMENT * ARENA_ALIGNMENT


@dataclass(frozen=True)
class PlannedBuffer:
    """One request to the planner, in the order TFLM adds them (= planner buffer id)."""

    size: int                 # bytes, already rounded up to ARENA_ALIGNMENT
    first: int                # first allocation scope in which it is live
    last: int                 # last allocation scope in which it is live
    offline_offset: int = ONLINE
    subgraph: int = 0
    tensor: int | None = None  # None for a kernel scratch buffer
    op: int | None = None      # the operator that requested the scratch buffer


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


def _scratch_requests(model: TfliteModel, sg: int, op_index: int) -> list[int]:
    """Bytes of the scratch buffers the *reference* TFLM kernel of an operator requests in Prepare
    (kernels/reduce_common.cc), in request order. Measured against the installed interpreter: a
    MEAN/SUM asks for an int32 accumulator per output element (integer inputs only), then an int
    per input dimension and an int per reduced axis; REDUCE_MAX/MIN ask for the last two. Other
    builtins used by MicroNAS models (conv, depthwise, pooling, add, FC, softmax, reshape,
    concatenation, (de)quantize) request none. CMSIS-NN kernels request more; those buffers are not
    part of the host interpreter's arena and are not modelled here."""
    subgraph = model.subgraphs[sg]
    op = subgraph.operators[op_index]
    if op.op not in ("MEAN", "SUM", "REDUCE_MAX", "REDUCE_MIN") or len(op.inputs) < 2 \
            or min(op.inputs[:2]) < 0 or not op.outputs or op.outputs[0] < 0:
        return []
    inp, axis = subgraph.tensors[op.inputs[0]], subgraph.tensors[op.inputs[1]]
    out = subgraph.tensors[op.outputs[0]]
    requests = []
    if op.op in ("MEAN", "SUM") and inp.dtype in ("int8", "int16"):
        requests.append(4 * _elements(out.shape))
    return requests + [4 * len(inp.shape), 4 * _elements(axis.shape)]


def _elements(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= max(d, 0)
    return n


_SUBGRAPH_CALLS = {"IF": ("then_subgraph", "else_subgraph"), "CALL_ONCE": ("init_subgraph",),
                   "WHILE": ("cond_subgraph", "body_subgraph")}


def planner_buffers(model: TfliteModel, *, offline_offsets: Sequence[int] | None = None,
                    use_metadata: bool = True) -> list[PlannedBuffer]:
    """The buffers TFLM hands to its memory planner, in its order, with its lifetimes.

    `offline_offsets` (one per tensor of all subgraphs, -1 = online) overrides the model's own
    OfflineMemoryAllocation metadata; `use_metadata=False` ignores that metadata."""
    if offline_offsets is None and use_metadata:
        offline_offsets = offline_plan(model)
    if offline_offsets is not None and len(offline_offsets) != sum(
            len(sg.tensors) for sg in model.subgraphs):
        raise InputError(f"{model.source}: {len(offline_offsets)} offline offsets for "
                         f"{sum(len(sg.tensors) for sg in model.subgraphs)} tensors")

    n_sg = model.num_subgraphs
    first = [[-1] * len(sg.tensors) for sg in model.subgraphs]
    last = [[-1] * len(sg.tensors) for sg in model.subgraphs]
    # Scratch requests in Prepare order (all subgraphs, operators in order); lifetimes set below.
    scratch: list[list] = [[size, -1, -1, sg, op]
                           for sg in range(n_sg)
                           for op in range(len(model.subgraphs[sg].operators))
                           for size in _scratch_requests(model, sg, op)]
    scope = 0

    def created(sg: int, t: int) -> None:
        first[sg][t] = scope
        last[sg][t] = scope

    def mark(sg: int, depth: int) -> None:
        # MarkAllocationLifetimes. The depth guard stops a malformed recursive control flow that
        # TFLM itself would recurse into forever.
        nonlocal scope
        if depth > n_sg:
            raise InputError(f"{model.source}: control-flow operators call subgraphs recursively")
        subgraph = model.subgraphs[sg]
        for t in subgraph.inputs:
            created(sg, t)
        for t in subgraph.outputs:
            created(sg, t)
        for i, op in enumerate(subgraph.operators):
            scope += 1
            for t in op.outputs:
                if t >= 0:
                    created(sg, t)
            start = scope
            for key in _SUBGRAPH_CALLS.get(op.op, ()):
                if key in op.options:
                    scope += 1
                    mark(int(op.options[key]), depth + 1)
            for t in op.inputs:
                if t >= 0:
                    last[sg][t] = scope
            for t in op.outputs:
                if t >= 0:
                    last[sg][t] = scope
            for request in scratch:
                if request[3] == sg and request[4] == i:
                    request[1], request[2] = start, scope
        for t in subgraph.outputs:
            last[sg][t] = scope

    mark(0, 0)

    buffers = []
    for sg, subgraph in enumerate(model.subgraphs):
        for t in subgraph.tensors:
            if t.is_constant or t.is_variable or t.nbytes == 0:
                continue
            # TFLM indexes the offline plan by the tensor's index within its subgraph.
            offset = ONLINE if offline_offsets is None else int(offline_offsets[t.index])
            buffers.append(PlannedBuffer(_align(t.nbytes), first[sg][t.index], last[sg][t.index],
                                         offset, sg, t.index))
    buffers.extend(PlannedBuffer(_align(size), f, l, ONLINE, sg, None, op)
                   for size, f, l, sg, op in scratch)
    return buffers


def greedy_plan(buffers: Sequence[PlannedBuffer]) -> list[int]:
    """Offsets that TFLM's GreedyMemoryPlanner assigns to `buffers` (given in planner order)."""
    offline = [i for i, b in enumerate(buffers) if b.offline_offset != ONLINE]
    online = [i for i, b in enumerate(buffers) if b.offline_offset == ONLINE]
    # The planner fills its online slots from the tail, i.e. in reverse id order, then bubble-sorts
    # them by size (descending, stable): equal sizes keep the reverse id order.
    online.reverse()
    online.sort(key=lambda i: -buffers[i].size)

    offsets = [0] * len(buffers)
    placed: list[tuple[int, int]] = []          # (offset, buffer id), kept in offset order
    for i in offline + online:
        b = buffers[i]
        if b.offline_offset != ONLINE:
            candidate = b.offline_offset
        else:
            candidate = 0
            prior = None
            for off, j in placed:
                other = buffers[j]
                if other.first > b.last or b.first > other.last:
                    continue                    # not live at the same time
                if prior is not None:
                    candidate = max(candidate, prior[0] + buffers[prior[1]].size)
                if off - candidate >= b.size:
                    break                       # the gap before this buffer is big enough
                prior = (off, j)
            else:
                if prior is not None:
                    candidate = max(candidate, prior[0] + buffers[prior[1]].size)
        offsets[i] = candidate
        # Insert after every placed buffer with an offset <= candidate (the planner's list walk).
        pos = len(placed)
        for k, (off, _) in enumerate(placed):
            if off > candidate:
                pos = k
                break
        placed.insert(pos, (candidate, i))
    return offsets


def _plan_extent(buffers: Sequence[PlannedBuffer], offsets: Sequence[int]) -> int:
    return max((o + b.size for b, o in zip(buffers, offsets)), default=0)


def greedy_arena_head_bytes(model: TfliteModel | bytes) -> int:
    """The arena head (planned activations + reference-kernel scratch) that TFLM's default greedy
    planner reserves for `model`, honouring an embedded OfflineMemoryAllocation plan."""
    if not isinstance(model, TfliteModel):
        model = read_model(model)
    buffers = planner_buffers(model)
    return _plan_extent(buffers, greedy_plan(buffers))


def peak_activation_bytes(model: TfliteModel | bytes, *, include_scratch: bool = False) -> int:
    """Liveness lower bound: the largest sum of 16-byte-aligned activation buffers live at the same
    time (a tensor lives from its producer, graph inputs from the start, to its last reader, graph
    outputs to the end). No planner can do with less. With `include_scratch`, the reference
    kernels' scratch buffers count at their operator too."""
    if not isinstance(model, TfliteModel):
        model = read_model(model)
    buffers = [b for b in planner_buffers(model, use_metadata=False)
               if include_scratch or b.tensor is not None]
    return _max_live(buffers)


def _max_live(buffers: Sequence[PlannedBuffer]) -> int:
    times = {b.first for b in buffers}
    return max((sum(b.size for b in buffers if b.first <= t <= b.last) for t in times), default=0)


def lower_bound_offsets(model: TfliteModel | bytes) -> list[int]:
    """Arena offsets (one per tensor of all subgraphs, -1 = not planned) for an offline plan.

    Scratch buffers cannot be planned offline: TFLM places them greedily around the plan. So each
    candidate layout (a few placement orders of all buffers, scratch included) is judged by the
    head TFLM would really reserve with it, and the smallest wins; the search stops as soon as one
    reaches `peak_activation_bytes(model, include_scratch=True)` (always on chains; on every
    MicroNAS-style model tried). When the MEAN's scratch is not at the peak, that equals
    `peak_activation_bytes(model)`."""
    if not isinstance(model, TfliteModel):
        model = read_model(model)
    buffers = planner_buffers(model, use_metadata=False)
    bound = _max_live(buffers)
    best: list[int] | None = None
    best_head = -1
    for order in _candidate_orders(buffers):
        offsets = _best_fit(buffers, order)
        # What TFLM makes of it: tensors fixed at these offsets, scratch placed by the planner.
        as_planned = [replace(b, offline_offset=offsets[i]) if b.tensor is not None else b
                      for i, b in enumerate(buffers)]
        head = _plan_extent(as_planned, greedy_plan(as_planned))
        if best is None or head < best_head:
            best, best_head = offsets, head
        if head <= bound:
            break
    placed = {(b.subgraph, b.tensor): best[i] for i, b in enumerate(buffers)
              if b.tensor is not None and best is not None}
    return [placed.get((sg, t.index), -1)
            for sg, subgraph in enumerate(model.subgraphs) for t in subgraph.tensors]


def _candidate_orders(buffers: Sequence[PlannedBuffer]):
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
    # Then every order of the five largest buffers (120 more tries, each O(n^2)).
    big = sorted(ids, key=lambda i: -buffers[i].size)
    head, rest = big[:5], big[5:]
    for perm in itertools.permutations(head):
        yield list(perm) + rest


def _best_fit(buffers: Sequence[PlannedBuffer], order: Sequence[int]) -> list[int]:
    """Place buffers in `order`, each at the lowest offset where it fits among the already-placed
    buffers that overlap it in time."""
    offsets = [0] * len(buffers)
    placed: list[int] = []
    for i in order:
        b = buffers[i]
        busy = sorted((offsets[j], offsets[j] + buffers[j].size) for j in placed
                      if not (buffers[j].first > b.last or b.first > buffers[j].last))
        candidate = 0
        for start, end in busy:
            if start - candidate >= b.size:
                break
            candidate = max(candidate, end)
        offsets[i] = candidate
        placed.append(i)
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
