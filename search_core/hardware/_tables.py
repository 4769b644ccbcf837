"""Cost tables of a search space on one board: per dynamic conv, cycles for every pair of input and
output width options, and the aligned sizes and scratch of every tensor slot — what the
expectations multiply with the choice probabilities."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from lut_store import InputError, OpConfig
from lut_store.memory import CMSIS_NN, align, scratch_bytes

from ..architecture import (BRANCH_KERNELS, CLASSIFIER_ACTIVATION, SF_BOTTLENECKS, SF_WIDTHS,
                            TR_KERNELS, TR_WIDTHS, conv_config)
from ..space import SearchSpace


@dataclass
class _TrTable:
    lat: Any        # (3 kernels, 4 out widths, n_in)
    x: Any          # (n_in,) aligned input bytes
    out: Any        # (4,) aligned output bytes
    scratch: Any    # (3 kernels, n_in)


@dataclass
class _SfTable:
    bn: Any         # (8 bottleneck, n_in)
    br: Any         # (3 kernels, 8 width, 8 bottleneck)
    res: Any        # (8 width, n_in)
    add: Any        # (8 width,)
    x: Any          # (n_in,) aligned input bytes
    bn_size: Any    # (8,) aligned bottleneck output bytes
    c_size: Any     # (8,) aligned bytes of a block-width tensor
    bn_scratch: Any   # (n_in,)
    br_scratch: Any   # (3 kernels, 8 bottleneck)
    res_scratch: Any  # (n_in,)


@dataclass
class Tables:
    tr: list
    sf: list
    cls: Any          # (8,) classifier conv cycles per input width
    tail: float       # MEAN + SOFTMAX cycles
    cls_x: Any        # (8,) aligned classifier input bytes
    cls_out: float    # aligned classifier output bytes
    cls_scratch: Any  # (8,)
    mean_slot: float  # live + scratch at MEAN
    softmax_slot: float


def build_tables(cost, space: SearchSpace, device: Any = None) -> Tables:
    """The latency and memory tables of `space` on `cost`'s board (float64 tensors)."""
    """The latency and memory tables of `space` (float64 tensors), built once."""
    import torch
    t = lambda v: torch.tensor(v, dtype=torch.float64, device=device)  # noqa: E731
    cyc = cost.op_cycles
    scr = lambda cfg: scratch_bytes(cfg, CMSIS_NN)  # noqa: E731
    size = lambda shape: align(math.prod(shape))  # noqa: E731
    missing = [c for c in space.op_configs() if not _can_price(cost, c)]
    if missing:
        shown = "; ".join(f"{c.op} {list(c.input_shape)}->{list(c.output_shape)} "
                          f"kernel {list(c.kernel)} stride {list(c.stride)}"
                          for c in missing[:5])
        raise InputError(f"{len(missing)} op configuration(s) of {space!r} can be neither "
                         f"looked up nor predicted on {cost.mcu.name}: {shown}"
                         f"{' ...' if len(missing) > 5 else ''}")

    tr_tables = []
    for i, s in enumerate(space.tr_shapes):
        ins = space.tr_input_channels(i)
        shapes = [space.tr_input_shape(i, c) for c in ins]
        confs = [[[conv_config(sh, w, (k, 1), (2, 1)) for sh in shapes] for w in TR_WIDTHS]
                 for k in TR_KERNELS]
        tr_tables.append(_TrTable(
            lat=t([[[cyc(c) for c in row] for row in per_k] for per_k in confs]),
            x=t([size(sh) for sh in shapes]),
            out=t([size((1, s.steps_out, s.width, w)) for w in TR_WIDTHS]),
            scratch=t([[scr(per_k[0][j]) for j in range(len(ins))] for per_k in confs])))

    sf_tables = []
    for j, s in enumerate(space.sf_shapes):
        ins = space.sf_input_channels(j)
        shapes = [space.sf_input_shape(j, c) for c in ins]
        stride = (1, 2) if s.reduce else (1, 1)
        res_kernel = (1, 2) if s.reduce else (1, 1)
        bn = [[conv_config(sh, b, (1, s.width_in), stride) for sh in shapes]
              for b in SF_BOTTLENECKS]
        res = [[conv_config(sh, c, res_kernel, stride) for sh in shapes] for c in SF_WIDTHS]
        br = [[[conv_config((1, s.steps, s.width_out, b), c, (k, 1), (1, 1))
                for b in SF_BOTTLENECKS] for c in SF_WIDTHS] for k in BRANCH_KERNELS]
        outs = [(1, s.steps, s.width_out, c) for c in SF_WIDTHS]
        sf_tables.append(_SfTable(
            bn=t([[cyc(c) for c in row] for row in bn]),
            br=t([[[cyc(c) for c in row] for row in per_k] for per_k in br]),
            res=t([[cyc(c) for c in row] for row in res]),
            add=t([cyc(OpConfig("ADD", o, o)) for o in outs]),
            x=t([size(sh) for sh in shapes]),
            bn_size=t([size((1, s.steps, s.width_out, b)) for b in SF_BOTTLENECKS]),
            c_size=t([size(o) for o in outs]),
            bn_scratch=t([scr(c) for c in bn[0]]),
            br_scratch=t([[scr(per_k[0][bi]) for bi in range(len(SF_BOTTLENECKS))]
                          for per_k in br]),
            res_scratch=t([scr(c) for c in res[0]])))

    k = space.n_classes
    cls_in = [space.classifier_input_shape(c) for c in space.classifier_input_channels]
    cls_confs = [conv_config(sh, k, (1, 1), (1, 1), CLASSIFIER_ACTIVATION) for sh in cls_in]
    cls_out_shape = cls_confs[0].output_shape
    mean = OpConfig("MEAN", cls_out_shape, (1, k))
    softmax = OpConfig("SOFTMAX", (1, k), (1, k))
    tables = Tables(
        tr=tr_tables, sf=sf_tables,
        cls=t([cyc(c) for c in cls_confs]), tail=cyc(mean) + cyc(softmax),
        cls_x=t([size(sh) for sh in cls_in]), cls_out=float(size(cls_out_shape)),
        cls_scratch=t([scr(c) for c in cls_confs]),
        mean_slot=float(size(cls_out_shape) + size((1, k)) + scr(mean)),
        softmax_slot=float(2 * size((1, k)) + scr(softmax)))
    return tables


def _can_price(cost, config: OpConfig) -> bool:
    can = getattr(cost.latency, "can_price", None)
    if can is not None:
        return bool(can(config))
    try:
        cost.latency.price(config)
    except InputError:
        return False
    return True
