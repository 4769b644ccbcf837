"""The hardware cost model: exact latency and peak memory of a discrete `Architecture` on one board,
and their differentiable expectations over the relaxed supernet's choice probabilities.

Latency. A network's latency is the sum over its TFLite operators of kernel cycles plus the per-op
interpreter overhead, both from the board's LUT (measured, or predicted and flagged), converted
with the board's clock.

Peak memory. The liveness lower bound of TFLite-Micro's activation arena plus kernel scratch: at
every operator, the 16-byte-aligned int8 tensors that are live (from their producer — the graph
input from op 0 — to their last reader; the graph output to the end) plus the scratch buffers the
operator's kernel requests; the peak is the maximum over operators. Scratch buffers (16-byte
aligned as TFLM's arena does):

* CONV_2D, CMSIS-NN `arm_convolve_wrapper_s8_get_buffer_size` on a DSP core (Cortex-M4/M7/M33;
  current CMSIS-NN, GCC build):
  - 1×1 kernel, no padding: 0 bytes (`arm_convolve_1x1_s8_fast` for stride 1 — the
    Arm-Compiler-6 build of recent CMSIS-NN asks 4·C_in bytes here, GCC builds ask none —, and
    `arm_convolve_1x1_s8` for larger strides; CMSIS-NN before 2023 sent strided 1×1 convs to the
    generic path, which only matters for 1-sensor-wide inputs);
  - otherwise (`arm_convolve_s8`; the 1×N path needs input height 1, which never happens here, and
    sizes its buffer the same way): 2 columns of the int16 im2col buffer,
    2 · align4(C_in · k_h · k_w) · sizeof(int16) bytes (older CMSIS-NN omits the rounding to 4; the
    rounding only matters for C_in = 1 on the first TR cell);
* MEAN (TFLM reference kernel; CMSIS-NN has none): an int32 accumulator per output element;
* ADD, SOFTMAX (CMSIS-NN): none.

`MemoryEstimate.activation_bytes` (liveness alone) is the number to compare with
`lut_store._memory.peak_activation_bytes` of the exported model.

Expectations. Every choice is independent in the relaxation: TR kernel and width, SF bottleneck
width, each branch on/off, block width, residual on/off and skip. For a dynamic conv, the expected
latency is wᵀ·LAT·u (LAT[i, j]: output-width option i, input-width option j; w this layer's width
distribution, u the previous layer's), exact because the two widths are independent. The cell rules
follow MicroNAS: a TR cell costs Σ_k p_k·wᵀ LAT_k u; the bottleneck is weighted by
P(any branch on) = 1 − Π_b (1 − p_on,b), each branch b by p_on,b, the branch ADDs by their expected
number E[max(n_on − 1, 0)] = Σ_b p_on,b − P(any on), the residual by p_res·(lat_res +
P(any on)·lat_add) — the residual's ADD only exists when a branch is on (MicroNAS prices it with
p_res alone, which overcharges residual-only cells) —, a normal cell by p_cell = 1 − p_skip, and the
next layer sees the width distribution p_skip·u_in + p_cell·w_c. These are exact expectations under
independence, so a one-hot relaxation prices exactly like its architecture. (A kept cell with
neither branch nor residual is invalid as an architecture; the relaxation prices it at zero and
passes w_c on, as MicroNAS does.)

Expected peak memory applies the same to every operator slot of the supernet: E[(live bytes +
scratch)·1{op exists}] per slot (exact: each term is a product of independent indicator
probabilities and one size that is linear in one width distribution), then the maximum over slots
— the max of expectations. It is exact for one-hot relaxations; its gradient reaches every choice
that shapes the worst slot. `temperature` (bytes) swaps the max for a log-sum-exp smooth max
τ·log Σ exp(m_i/τ), which passes gradients to all slots but is larger than the max by at most
τ·log(#slots).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

from lut_store._lut import OpConfig
from lut_store.errors import InputError

from .architecture import (
    SF_BOTTLENECKS, SF_WIDTHS, TR_KERNELS, TR_WIDTHS, BRANCH_KERNELS, Architecture,
    CLASSIFIER_ACTIVATION, NetworkGraph, SfCell, TrCell, cell_graph, classifier_graph, conv_config,
)
from .space import SearchSpace

if TYPE_CHECKING:  # torch and the pricing module are only needed when used
    import torch

    from lut_store._pricing import LatencyModel

__all__ = ["ARENA_ALIGNMENT", "Cheapest", "CostModel", "MemoryEstimate", "OpMemory",
           "Relaxation", "SfChoice", "TrChoice", "estimate_memory", "kernel_scratch_bytes",
           "memory_profile"]

ARENA_ALIGNMENT = 16


def _align(n: int) -> int:
    return (n + ARENA_ALIGNMENT - 1) // ARENA_ALIGNMENT * ARENA_ALIGNMENT


# --------------------------------------------------------------------------------------------
# memory of discrete graphs
# --------------------------------------------------------------------------------------------
def _same_padding(size: int, out: int, kernel: int, stride: int) -> int:
    """The padding TFLite hands to the kernel for `same` (the odd extra pixel goes to the end and
    is not part of it)."""
    return max((out - 1) * stride + kernel - size, 0) // 2


def kernel_scratch_bytes(config: OpConfig) -> int:
    """Bytes of the scratch buffer the deployed kernel (TFLM + CMSIS-NN) requests for an op,
    before arena alignment. See the module docstring for the rules."""
    if config.op == "CONV_2D":
        _, in_h, in_w, c_in = config.input_shape
        _, out_h, out_w, _ = config.output_shape
        (k_h, k_w), (s_h, s_w) = config.kernel, config.stride
        if config.padding == "same":
            pad_h = _same_padding(in_h, out_h, k_h, s_h)
            pad_w = _same_padding(in_w, out_w, k_w, s_w)
        else:
            pad_h = pad_w = 0
        if (k_h, k_w) == (1, 1) and pad_h == 0 and pad_w == 0:
            return 0
        rhs_cols = c_in * k_h * k_w
        return 2 * (-(-rhs_cols // 4) * 4) * 2
    if config.op == "MEAN":
        return 4 * math.prod(config.output_shape)
    return 0


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


def memory_profile(graph: NetworkGraph) -> list[OpMemory]:
    """Per op: live activation bytes and kernel scratch bytes (both 16-byte aligned)."""
    spans = graph.lifetimes()
    sizes = {t.id: _align(t.nbytes) for t in graph.tensors}
    out = []
    for op in graph.ops:
        live = sum(sizes[t] for t, (first, last) in spans.items() if first <= op.index <= last)
        out.append(OpMemory(op.index, op.name, live, _align(kernel_scratch_bytes(op.config))))
    return out


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


# --------------------------------------------------------------------------------------------
# relaxations
# --------------------------------------------------------------------------------------------
@dataclass
class TrChoice:
    """Probabilities of one TR cell: kernel (3, 5, 7) and width (4, 8, 12, 16), each summing to 1."""

    kernel: "torch.Tensor"
    width: "torch.Tensor"


@dataclass
class SfChoice:
    """Probabilities of one SF cell: bottleneck width (8 options), each branch's on-probability
    (kernels 3, 5, 7), block width (8 options), residual on-probability, and for normal cells the
    skip probability (None for reducing cells)."""

    bottleneck: "torch.Tensor"
    branches: "torch.Tensor"
    width: "torch.Tensor"
    residual: "torch.Tensor"
    skip: "torch.Tensor | None" = None


@dataclass
class Relaxation:
    """The relaxed supernet's per-choice probabilities for one search space."""

    space: SearchSpace
    tr: list[TrChoice]
    sf: list[SfChoice]

    def tensors(self) -> list["torch.Tensor"]:
        out = []
        for c in self.tr:
            out += [c.kernel, c.width]
        for c in self.sf:
            out += [c.bottleneck, c.branches, c.width, c.residual]
            if c.skip is not None:
                out.append(c.skip)
        return out

    def requires_grad_(self, flag: bool = True) -> "Relaxation":
        for t in self.tensors():
            t.requires_grad_(flag)
        return self

    @classmethod
    def one_hot(cls, arch: Architecture, dtype: Any = None) -> "Relaxation":
        """The relaxation that puts probability 1 on `arch`'s choices."""
        import torch
        dtype = dtype or torch.float64

        def hot(options: Sequence[int], value: int) -> torch.Tensor:
            t = torch.zeros(len(options), dtype=dtype)
            t[options.index(value)] = 1.0
            return t

        def scalar(flag: bool) -> torch.Tensor:
            return torch.tensor(1.0 if flag else 0.0, dtype=dtype)

        tr = [TrChoice(hot(TR_KERNELS, c.kernel), hot(TR_WIDTHS, c.width)) for c in arch.tr_cells]
        sf = [SfChoice(hot(SF_BOTTLENECKS, c.bottleneck),
                       torch.tensor([1.0 if b else 0.0 for b in c.branches], dtype=dtype),
                       hot(SF_WIDTHS, c.width), scalar(c.residual),
                       None if c.reduce else scalar(c.skip))
              for c in arch.sf_cells]
        return cls(SearchSpace.of(arch), tr, sf)

    @classmethod
    def uniform(cls, space: SearchSpace, dtype: Any = None) -> "Relaxation":
        """Every categorical uniform, every on/off and skip at 1/2."""
        import torch
        dtype = dtype or torch.float64

        def flat(n: int) -> torch.Tensor:
            return torch.full((n,), 1.0 / n, dtype=dtype)

        half = lambda: torch.tensor(0.5, dtype=dtype)  # noqa: E731
        tr = [TrChoice(flat(len(TR_KERNELS)), flat(len(TR_WIDTHS))) for _ in space.tr_shapes]
        sf = [SfChoice(flat(len(SF_BOTTLENECKS)), torch.full((3,), 0.5, dtype=dtype),
                       flat(len(SF_WIDTHS)), half(), None if s.reduce else half())
              for s in space.sf_shapes]
        return cls(space, tr, sf)

    def _check(self) -> None:
        space = self.space
        if len(self.tr) != space.n_tr_cells or len(self.sf) != space.n_sf_cells:
            raise InputError(f"relaxation has {len(self.tr)} TR and {len(self.sf)} SF cells, "
                             f"{space!r} has {space.n_tr_cells} and {space.n_sf_cells}")

        def shape(t: Any, n: int | None, what: str) -> None:
            if not hasattr(t, "shape"):
                raise InputError(f"relaxation {what} must be a tensor, got {type(t).__name__}")
            if n is None:
                if t.numel() != 1:
                    raise InputError(f"relaxation {what} must be a scalar, got shape {tuple(t.shape)}")
            elif tuple(t.shape) != (n,):
                raise InputError(f"relaxation {what} must have shape ({n},), got {tuple(t.shape)}")

        for i, c in enumerate(self.tr):
            shape(c.kernel, len(TR_KERNELS), f"tr[{i}].kernel")
            shape(c.width, len(TR_WIDTHS), f"tr[{i}].width")
        for j, (c, s) in enumerate(zip(self.sf, space.sf_shapes)):
            shape(c.bottleneck, len(SF_BOTTLENECKS), f"sf[{j}].bottleneck")
            shape(c.branches, len(BRANCH_KERNELS), f"sf[{j}].branches")
            shape(c.width, len(SF_WIDTHS), f"sf[{j}].width")
            shape(c.residual, None, f"sf[{j}].residual")
            if s.reduce and c.skip is not None:
                raise InputError(f"relaxation sf[{j}] is a reducing cell: it has no skip")
            if not s.reduce:
                if c.skip is None:
                    raise InputError(f"relaxation sf[{j}] is a normal cell: it needs a skip "
                                     "probability")
                shape(c.skip, None, f"sf[{j}].skip")


# --------------------------------------------------------------------------------------------
# cost tables of a space (torch, float64)
# --------------------------------------------------------------------------------------------
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
class _Tables:
    tr: list
    sf: list
    cls: Any          # (8,) classifier conv cycles per input width
    tail: float       # MEAN + SOFTMAX cycles
    cls_x: Any        # (8,) aligned classifier input bytes
    cls_out: float    # aligned classifier output bytes
    cls_scratch: Any  # (8,)
    mean_slot: float  # live + scratch at MEAN
    softmax_slot: float


@dataclass(frozen=True)
class Cheapest:
    """The cheapest networks of a space on one board (each objective on its own)."""

    latency_ms: float
    latency_cycles: float
    latency_arch: Architecture
    memory_bytes: int
    memory_arch: Architecture


class CostModel:
    """Prices architectures and relaxations on one board. `latency` is a
    `lut_store.LatencyModel` (or anything with `.mcu` and `.price(OpConfig)` returning an object
    with `cycles` and `overhead_cycles`)."""

    def __init__(self, latency: "LatencyModel"):
        self.latency = latency
        self._tables: dict = {}
        self._cell_cache: dict = {}

    @property
    def mcu(self):
        return self.latency.mcu

    # -- exact ------------------------------------------------------------------------------------
    def op_cycles(self, config: OpConfig) -> float:
        """Kernel plus interpreter-overhead cycles of one op."""
        cost = self.latency.price(config)
        return float(cost.cycles) + float(cost.overhead_cycles)

    def latency_breakdown(self, arch: Architecture) -> list[dict]:
        rows = []
        for op in arch.graph().ops:
            cost = self.latency.price(op.config)
            rows.append({"index": op.index, "name": op.name, "op": op.config.op,
                         "input_shape": op.config.input_shape,
                         "output_shape": op.config.output_shape, "cycles": float(cost.cycles),
                         "overhead_cycles": float(cost.overhead_cycles), "source": cost.source})
        return rows

    def latency_cycles(self, arch: Architecture) -> float:
        return math.fsum(self.op_cycles(op.config) for op in arch.graph().ops)

    def latency_ms(self, arch: Architecture) -> float:
        return self.mcu.cycles_to_ms(self.latency_cycles(arch))

    def memory(self, arch: Architecture) -> MemoryEstimate:
        return estimate_memory(arch)

    def peak_memory_bytes(self, arch: Architecture) -> int:
        return self.memory(arch).peak_bytes

    def fits(self, arch: Architecture, lat_ms: float | None = None,
             mem_bytes: float | None = None) -> bool:
        """Whether `arch` meets the latency budget (ms) and the peak-memory budget (bytes); a
        budget of None is no constraint."""
        if lat_ms is not None and self.latency_ms(arch) > lat_ms:
            return False
        return mem_bytes is None or self.peak_memory_bytes(arch) <= mem_bytes

    # -- the cheapest networks of a space -----------------------------------------------------------
    def _cell_cost(self, shape: tuple, cell: TrCell | SfCell) -> tuple[float, int]:
        key = (shape, cell)
        hit = self._cell_cache.get(key)
        if hit is None:
            graph = cell_graph(shape, cell)
            cycles = math.fsum(self.op_cycles(op.config) for op in graph.ops)
            peak = max((m.total_bytes for m in memory_profile(graph)), default=0)
            hit = self._cell_cache[key] = (cycles, peak)
        return hit

    def cheapest(self, space: SearchSpace) -> Cheapest:
        """The smallest latency and the smallest peak memory any network of `space` reaches on
        this board, with a network reaching each (exact dynamic programming over the cell chain:
        the only tensor crossing a cell boundary is the cell's input, so a cell's latency and its
        memory peak depend on its own choices and its input width alone)."""
        lat, lat_arch = self._dp(space, "latency")
        mem, mem_arch = self._dp(space, "memory")
        return Cheapest(self.mcu.cycles_to_ms(lat), lat, lat_arch, int(mem), mem_arch)

    def _dp(self, space: SearchSpace, objective: str) -> tuple[float, Architecture]:
        combine = (lambda a, b: a + b) if objective == "latency" else max
        pick = 0 if objective == "latency" else 1
        # state: input width of the next cell -> (value so far, cells so far)
        states: dict[int, tuple[float, tuple]] = {1: (0.0, ())}
        for i in range(space.n_tr_cells):
            nxt: dict[int, tuple[float, tuple]] = {}
            for c_in, (value, cells) in states.items():
                shape = space.tr_input_shape(i, c_in)
                for cell in space.tr_cell_options():
                    v = combine(value, self._cell_cost(shape, cell)[pick])
                    if cell.width not in nxt or v < nxt[cell.width][0]:
                        nxt[cell.width] = (v, cells + (cell,))
            states = nxt
        tr_count = space.n_tr_cells
        for j, s in enumerate(space.sf_shapes):
            nxt = {}
            for c_in, (value, cells) in states.items():
                shape = space.sf_input_shape(j, c_in)
                for cell in space.sf_cell_options(s.reduce):
                    v = combine(value, self._cell_cost(shape, cell)[pick])
                    width = c_in if cell.skip else cell.width
                    if width not in nxt or v < nxt[width][0]:
                        nxt[width] = (v, cells + (cell,))
            states = nxt
        best = None
        for c_in, (value, cells) in states.items():
            graph = classifier_graph(space.classifier_input_shape(c_in), space.n_classes)
            tail = (math.fsum(self.op_cycles(op.config) for op in graph.ops) if pick == 0
                    else max(m.total_bytes for m in memory_profile(graph)))
            v = combine(value, tail)
            if best is None or v < best[0]:
                best = (v, cells)
        cells = best[1]
        arch = Architecture(space.input_steps, space.input_channels, space.n_classes,
                            cells[:tr_count], cells[tr_count:])
        return best[0], arch

    # -- tables -------------------------------------------------------------------------------------
    def tables(self, space: SearchSpace, device: Any = None) -> _Tables:
        """The latency and memory tables of `space` (float64 tensors), built once."""
        import torch
        key = (space.key, str(device))
        if key in self._tables:
            return self._tables[key]
        t = lambda v: torch.tensor(v, dtype=torch.float64, device=device)  # noqa: E731
        cyc = self.op_cycles
        scr = lambda cfg: _align(kernel_scratch_bytes(cfg))  # noqa: E731
        size = lambda shape: _align(math.prod(shape))  # noqa: E731
        missing = [c for c in space.op_configs() if not self._can_price(c)]
        if missing:
            shown = "; ".join(f"{c.op} {list(c.input_shape)}->{list(c.output_shape)} "
                              f"kernel {list(c.kernel)} stride {list(c.stride)}"
                              for c in missing[:5])
            raise InputError(f"{len(missing)} op configuration(s) of {space!r} can be neither "
                             f"looked up nor predicted on {self.mcu.name}: {shown}"
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
        tables = _Tables(
            tr=tr_tables, sf=sf_tables,
            cls=t([cyc(c) for c in cls_confs]), tail=cyc(mean) + cyc(softmax),
            cls_x=t([size(sh) for sh in cls_in]), cls_out=float(size(cls_out_shape)),
            cls_scratch=t([scr(c) for c in cls_confs]),
            mean_slot=float(size(cls_out_shape) + size((1, k)) + scr(mean)),
            softmax_slot=float(2 * size((1, k)) + scr(softmax)))
        self._tables[key] = tables
        return tables

    def _can_price(self, config: OpConfig) -> bool:
        can = getattr(self.latency, "can_price", None)
        if can is not None:
            return bool(can(config))
        try:
            self.latency.price(config)
        except InputError:
            return False
        return True

    # -- expectations -------------------------------------------------------------------------------
    def _prepare(self, relaxation: Relaxation):
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
        return self.tables(relaxation.space, device), f, out_dtype

    def expected_latency_cycles(self, relaxation: Relaxation) -> "torch.Tensor":
        """Expected latency in cycles of the relaxed supernet (differentiable)."""
        import torch
        tab, f, out_dtype = self._prepare(relaxation)
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
            cell = (any_on * (b @ st.bn @ u)
                    + torch.einsum("k,i,kij,j->", q, w, st.br, b)
                    + (q.sum() - any_on) * lat_add
                    + r * (w @ st.res @ u + any_on * lat_add))
            if s.reduce:
                total = total + cell
                u = w
            else:
                skip = f(c.skip).reshape(())
                keep = 1 - skip
                total = total + keep * cell
                u = skip * u + keep * w
        total = total + tab.cls @ u + tab.tail
        return total.to(out_dtype)

    def expected_latency_ms(self, relaxation: Relaxation) -> "torch.Tensor":
        return self.expected_latency_cycles(relaxation) * (1000.0 / self.mcu.clock_hz)

    def expected_memory_slots(self, relaxation: Relaxation) -> "torch.Tensor":
        """E[(live bytes + scratch)·1{op exists}] for every operator slot of the supernet, in
        execution order (see the module docstring)."""
        import torch
        tab, f, out_dtype = self._prepare(relaxation)
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

    def expected_peak_memory_bytes(self, relaxation: Relaxation,
                                   temperature: float | None = None) -> "torch.Tensor":
        """Differentiable expected peak memory: the max over operator slots of their expected
        live bytes + scratch (exact for one-hot relaxations), or with `temperature` (bytes) the
        log-sum-exp smooth max."""
        import torch
        slots = self.expected_memory_slots(relaxation)
        if temperature is None:
            return slots.max()
        if not temperature > 0:
            raise InputError(f"temperature must be positive bytes, got {temperature!r}")
        return temperature * torch.logsumexp(slots / temperature, dim=0)
