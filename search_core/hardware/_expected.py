"""Differentiable expected latency and peak memory of a relaxation: exact expectations under the
independence of the choices (see the package docstring for the rules)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lut_store import InputError

from ..architecture import BRANCH_KERNELS
from ._relaxation import Relaxation

if TYPE_CHECKING:
    import torch


def _prepare(cost, relaxation: Relaxation):
    device, f, out_dtype = relaxation_inputs(relaxation)
    return cost.tables(relaxation.space, device), f, out_dtype


def relaxation_inputs(relaxation: Relaxation):
    """(device, float64 cast, output dtype) of a checked relaxation."""
    import torch
    if not isinstance(relaxation, Relaxation):
        raise InputError(f"expected a Relaxation, got {type(relaxation).__name__}")
    relaxation._check()
    tensors = relaxation.tensors()
    device = tensors[0].device if tensors else None
    out_dtype = tensors[0].dtype if tensors else torch.float64
    if not out_dtype.is_floating_point:
        out_dtype = torch.float64
    f = lambda x: x.to(torch.float64)  # noqa: E731
    return device, f, out_dtype


def expected_latency_cycles(cost, relaxation: Relaxation) -> "torch.Tensor":
    """Expected latency in cycles of the relaxed supernet (differentiable)."""
    tab, f, out_dtype = _prepare(cost, relaxation)
    return expected_op_sum(tab, relaxation, f).to(out_dtype)


def expected_op_sum(tab, relaxation: Relaxation, f) -> "torch.Tensor":
    """E[Σ over the network's operators of a per-op cost] (float64) for tables `tab` of that cost
    (latency cycles, or flash bytes: `_flash.FlashTables`): the rules of the package docstring.
    A residual ADD is priced from `add_res` where the tables have one (its tensors' names
    differ from a branch ADD's)."""
    import torch
    total = torch.zeros((), dtype=torch.float64, device=tab.cls.device)
    u = torch.ones(1, dtype=torch.float64, device=tab.cls.device)
    for c, tt in zip(relaxation.tr, tab.tr):
        p, w = f(c.kernel), f(c.width)
        total = total + torch.einsum("k,i,kij,j->", p, w, tt.lat, u)
        u = w
    for c, st, s in zip(relaxation.sf, tab.sf, relaxation.space.sf_shapes):
        b, q, w, r = f(c.bottleneck), f(c.branches), f(c.width), f(c.residual).reshape(())
        any_on = 1 - torch.prod(1 - q)
        lat_add = w @ st.add
        add_res = getattr(st, "add_res", None)
        lat_add_res = lat_add if add_res is None else w @ add_res
        cell = (any_on * (b @ st.bn @ u)
                + torch.einsum("k,i,kij,j->", q, w, st.br, b)
                + (q.sum() - any_on) * lat_add
                + r * (w @ st.res @ u + any_on * lat_add_res))
        if s.reduce:
            total = total + cell
            u = w
        else:
            skip = f(c.skip).reshape(())
            keep = 1 - skip
            total = total + keep * cell
            u = skip * u + keep * w
    return total + tab.cls @ u + tab.tail


def expected_memory_slots(cost, relaxation: Relaxation) -> "torch.Tensor":
    """E[(live bytes + scratch)·1{op exists}] for every operator slot of the supernet, in
    execution order."""
    import torch
    tab, f, out_dtype = _prepare(cost, relaxation)
    slots = []
    u = torch.ones(1, dtype=torch.float64, device=tab.cls.device)
    for c, tt in zip(relaxation.tr, tab.tr):
        p, w = f(c.kernel), f(c.width)
        slots.append(tt.x @ u + tt.out @ w + p @ tt.scratch @ u)
        u = w
    for c, st, s in zip(relaxation.sf, tab.sf, relaxation.space.sf_shapes):
        b, q, w, r = f(c.bottleneck), f(c.branches), f(c.width), f(c.residual).reshape(())
        keep = torch.ones((), dtype=torch.float64, device=u.device)
        if not s.reduce:
            skip = f(c.skip).reshape(())
            keep = 1 - skip
        x, bs, cs = st.x @ u, st.bn_size @ b, st.c_size @ w
        off = 1 - q
        any_on = 1 - torch.prod(off)
        before = [torch.zeros_like(any_on), q[0], 1 - off[0] * off[1]]
        after = [1 - off[1] * off[2], q[2], torch.zeros_like(any_on)]
        slots.append(keep * any_on * (x + bs + st.bn_scratch @ u))
        for k in range(len(BRANCH_KERNELS)):
            slots.append(keep * q[k] * (r * x + bs + before[k] * cs + cs + st.br_scratch[k] @ b))
            if k > 0:
                slots.append(keep * q[k] * before[k] * (r * x + after[k] * bs + 3 * cs))
        slots.append(keep * r * (x + any_on * cs + cs + st.res_scratch @ u))
        slots.append(keep * r * any_on * 3 * cs)
        u = (w if s.reduce else skip * u + keep * w)
    slots.append(tab.cls_x @ u + tab.cls_out + tab.cls_scratch @ u)
    slots.append(torch.full((), tab.mean_slot, dtype=torch.float64, device=u.device))
    slots.append(torch.full((), tab.softmax_slot, dtype=torch.float64, device=u.device))
    return torch.stack([s.reshape(()) for s in slots]).to(out_dtype)
