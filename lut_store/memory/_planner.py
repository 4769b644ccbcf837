"""TFLite-Micro's memory planner, re-implemented so that its figures equal the interpreter's
"arena allocation head" (tensorflow/lite/micro/micro_allocator.cc, micro_allocation_info.cc,
memory_planner/greedy_memory_planner.cc):

* lifetimes ("allocation scopes") as AllocationInfoBuilder marks them: subgraph inputs and
  outputs are created at the subgraph's starting scope, each operator opens a new scope, an
  operator's outputs are created there and its inputs are last used there, subgraph outputs live
  to the end; control-flow ops (IF, WHILE, CALL_ONCE) recurse into their subgraphs in between;
* a buffer is planned for every tensor without constant data that is not a variable and has a
  non-zero size, sized up to the arena alignment, followed by the scratch buffers the kernels
  request in Prepare (`scratch_requests`, for the kernel set asked for);
* the greedy planner: offline-planned buffers first at their fixed offsets in id order, then the
  rest sorted by size, descending, with a stable bubble sort over a list that was filled in
  *reverse* id order (so among equal sizes the later-added buffer goes first); each is put into
  the first gap, scanning the placed buffers that overlap it in time in offset order.
"""

from __future__ import annotations

from collections.abc import Sequence

from .._lut import OpConfig
from ..errors import InputError
from ..tflite import TfliteModel, read_model
from ._arena import ONLINE, Buffer, align, max_live_bytes, plan_extent
from ._offline import offline_plan
from ._scratch import REFERENCE, scratch_requests

_SUBGRAPH_CALLS = {"IF": ("then_subgraph", "else_subgraph"), "CALL_ONCE": ("init_subgraph",),
                   "WHILE": ("cond_subgraph", "body_subgraph")}
_REDUCE = ("MEAN", "SUM", "REDUCE_MAX", "REDUCE_MIN")


def _elements(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= max(d, 0)
    return n


def _op_scratch(model: TfliteModel, sg: int, op_index: int, kernels: str) -> tuple[int, ...]:
    """The scratch requests of one operator of the model (see `scratch_requests`)."""
    subgraph = model.subgraphs[sg]
    op = subgraph.operators[op_index]
    if op.op not in ("CONV_2D",) + _REDUCE or len(op.inputs) < 2 \
            or min(op.inputs[:2]) < 0 or not op.outputs or op.outputs[0] < 0:
        return ()
    inp, second = subgraph.tensors[op.inputs[0]], subgraph.tensors[op.inputs[1]]
    out = subgraph.tensors[op.outputs[0]]
    if op.op == "CONV_2D":
        if len(inp.shape) != 4 or len(second.shape) != 4 or second.dtype != "int8":
            return ()
        opts = op.options or {}
        config = OpConfig("CONV_2D", tuple(inp.shape), tuple(out.shape),
                          (int(second.shape[1]), int(second.shape[2])),
                          (int(opts.get("stride_h", 1)), int(opts.get("stride_w", 1))),
                          str(opts.get("padding", "same")))
        return scratch_requests(config, kernels)
    return scratch_requests(OpConfig(op.op, tuple(inp.shape), tuple(out.shape)), kernels,
                            reduced_axes=_elements(second.shape), input_dtype=inp.dtype)


def planner_buffers(model: TfliteModel, *, kernels: str = REFERENCE,
                    offline_offsets: Sequence[int] | None = None,
                    use_metadata: bool = True) -> list[Buffer]:
    """The buffers TFLM hands to its memory planner, in its order, with its lifetimes, when it
    runs `kernels` (the host interpreter's `REFERENCE` kernels or the board's `CMSIS_NN`).

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
                           for size in _op_scratch(model, sg, op, kernels)]
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
            buffers.append(Buffer(align(t.nbytes), first[sg][t.index], last[sg][t.index],
                                  offset, sg, t.index))
    buffers.extend(Buffer(align(size), f, l, ONLINE, sg, None, op)
                   for size, f, l, sg, op in scratch)
    return buffers


def greedy_plan(buffers: Sequence[Buffer]) -> list[int]:
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
                if not b.overlaps(buffers[j]):
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


def _model(model: TfliteModel | bytes) -> TfliteModel:
    return model if isinstance(model, TfliteModel) else read_model(model)


def arena_head_bytes(model: TfliteModel | bytes, *, kernels: str = REFERENCE) -> int:
    """The arena head (planned activations + kernel scratch) that TFLM's greedy planner reserves
    for `model` running `kernels`, honouring an embedded OfflineMemoryAllocation plan. With
    `REFERENCE` it is the host interpreter's head; with `CMSIS_NN` the board's."""
    buffers = planner_buffers(_model(model), kernels=kernels)
    return plan_extent(buffers, greedy_plan(buffers))


def peak_activation_bytes(model: TfliteModel | bytes, *, include_scratch: bool = False,
                          kernels: str = REFERENCE) -> int:
    """Liveness lower bound: the largest sum of aligned activation buffers live at the same time
    (a tensor lives from its producer, graph inputs from the start, to its last reader, graph
    outputs to the end). No planner can do with less. With `include_scratch`, the scratch
    buffers of `kernels` count at their operator too."""
    buffers = [b for b in planner_buffers(_model(model), kernels=kernels, use_metadata=False)
               if include_scratch or b.tensor is not None]
    return max_live_bytes(buffers)
