"""Flash: the exact delivered flash of an architecture on one board, and its differentiable
expectation over a relaxation.

Delivered flash = the int8 .tflite (with its offline plan) + the runtime's code, both priced by
`lut_store` (`model_flash_bytes`: within 16 bytes above the exported file; `runtime_flash_bytes`:
the firmware's measured code per core and kernel set). The model's bytes are a sum over its
operators plus a fixed part, so the expectation is `expected_op_sum` over tables of per-op bytes
(the same rules as latency: a conv's bytes are linear in its input and output width options).
Two terms are not per op: ADD's operator code in the model and ADD's kernel in the runtime, both
there when *any* cell has an ADD; under the relaxation's independence P(any ADD) =
1 − Π_j (1 − keep_j · P(at least two of cell j's three branches and residual are on)), exact too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lut_store import OpConfig, model_fixed_bytes, op_flash_bytes, runtime_flash_bytes

from ..architecture import (
    BRANCH_KERNELS,
    CLASSIFIER_ACTIVATION,
    SF_BOTTLENECKS,
    SF_WIDTHS,
    TR_KERNELS,
    TR_WIDTHS,
    Architecture,
    conv_config,
)
from ..space import SearchSpace

if TYPE_CHECKING:
    import torch

_BASE_OPS = ("CONV_2D", "MEAN", "SOFTMAX")
_ALL_OPS = (*_BASE_OPS, "ADD")


def _layer(name: str) -> int:
    """The length of the Keras layer name of an op named `name` (`NetworkOp.layer`, whose
    three-digit index does not change its length)."""
    return len(f"op000_{name.replace('.', '_')}")


def model_flash_bytes(arch: Architecture) -> int:
    from lut_store import model_flash_bytes as price
    return price([(op.config, op.layer) for op in arch.ops()], len(arch.input_shape))


def runtime_bytes(mcu, arch: Architecture | None = None) -> int:
    """The runtime's code for `arch`'s kernels (None: for every kernel of the space)."""
    ops = _ALL_OPS if arch is None else {op.config.op for op in arch.ops()}
    return runtime_flash_bytes(mcu, ops)


def flash_bytes(mcu, arch: Architecture) -> int:
    return model_flash_bytes(arch) + runtime_bytes(mcu, arch)


@dataclass
class _TrFlash:
    lat: Any       # (3 kernels, 4 out widths, n_in) bytes; named `lat` for expected_op_sum


@dataclass
class _SfFlash:
    bn: Any
    br: Any
    res: Any
    add: Any
    add_res: Any


@dataclass
class FlashTables:
    tr: list
    sf: list
    cls: Any
    tail: float
    fixed: float        # model without ADD + runtime without ADD's kernel
    with_add: float     # what any ADD adds: its operator code + its kernel


def build_flash_tables(mcu, space: SearchSpace, device: Any = None) -> FlashTables:
    import torch
    t = lambda v: torch.tensor(v, dtype=torch.float64, device=device)
    fb = op_flash_bytes
    tr = []
    for i, s in enumerate(space.tr_shapes):
        shapes = [space.tr_input_shape(i, c) for c in space.tr_input_channels(i)]
        n = _layer(f"tr{i}")
        tr.append(_TrFlash(t([[[fb(conv_config(sh, w, (k, 1), (2, 1)), n) for sh in shapes]
                               for w in TR_WIDTHS] for k in TR_KERNELS])))
    sf = []
    for j, s in enumerate(space.sf_shapes):
        shapes = [space.sf_input_shape(j, c) for c in space.sf_input_channels(j)]
        stride = (1, 2) if s.reduce else (1, 1)
        res_kernel = (1, 2) if s.reduce else (1, 1)
        outs = [(1, s.steps, s.width_out, c) for c in SF_WIDTHS]
        sf.append(_SfFlash(
            bn=t([[fb(conv_config(sh, b, (1, s.width_in), stride), _layer(f"sf{j}.bottleneck"))
                   for sh in shapes] for b in SF_BOTTLENECKS]),
            br=t([[[fb(conv_config((1, s.steps, s.width_out, b), c, (k, 1), (1, 1)),
                       _layer(f"sf{j}.branch{k}")) for b in SF_BOTTLENECKS] for c in SF_WIDTHS]
                  for k in BRANCH_KERNELS]),
            res=t([[fb(conv_config(sh, c, res_kernel, stride), _layer(f"sf{j}.residual"))
                    for sh in shapes] for c in SF_WIDTHS]),
            add=t([fb(OpConfig("ADD", o, o), _layer(f"sf{j}.add{BRANCH_KERNELS[-1]}"))
                   for o in outs]),
            add_res=t([fb(OpConfig("ADD", o, o), _layer(f"sf{j}.add_residual")) for o in outs])))
    k = space.n_classes
    cls_in = [space.classifier_input_shape(c) for c in space.classifier_input_channels]
    cls = [conv_config(sh, k, (1, 1), (1, 1), CLASSIFIER_ACTIVATION) for sh in cls_in]
    out = cls[0].output_shape
    tail = (fb(OpConfig("MEAN", out, (1, k)), _layer("mean"))
            + fb(OpConfig("SOFTMAX", (1, k), (1, k)), _layer("softmax")))
    base_runtime = runtime_flash_bytes(mcu, _BASE_OPS)
    rank = len(space.tr_input_shape(0, 1))
    return FlashTables(
        tr=tr, sf=sf, cls=t([fb(c, _layer("classifier")) for c in cls]), tail=float(tail),
        fixed=float(model_fixed_bytes(rank) + base_runtime),
        with_add=float(model_fixed_bytes(rank, has_add=True) - model_fixed_bytes(rank)
                       + runtime_flash_bytes(mcu, _ALL_OPS) - base_runtime))


def expected_flash_bytes(tab: FlashTables, relaxation, f) -> torch.Tensor:
    """E[delivered flash] of the relaxation (float64, differentiable)."""
    import torch

    from ._expected import expected_op_sum
    ops = expected_op_sum(tab, relaxation, f)
    no_add = torch.ones((), dtype=torch.float64, device=ops.device)
    for c, s in zip(relaxation.sf, relaxation.space.sf_shapes):
        p = torch.cat([f(c.branches).reshape(-1), f(c.residual).reshape(1)])
        off = 1 - p
        none = torch.prod(off)
        one = sum(p[i] * torch.prod(torch.cat([off[:i], off[i + 1:]])) for i in range(len(p)))
        keep = 1 if s.reduce else 1 - f(c.skip).reshape(())
        no_add = no_add * (1 - keep * (1 - none - one))
    return ops + tab.fixed + (1 - no_add) * tab.with_add
