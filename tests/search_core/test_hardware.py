"""The cost model on real board measurements: exact latency and memory, the differentiable
expectations, and their agreement on one-hot relaxations."""

from __future__ import annotations

import dataclasses
import itertools
import math

import numpy as np
import pytest
import torch

from lut_store import LatencyModel, OpConfig, OpCost, import_records, load_mcu
from lut_store.errors import InputError
from search_core.architecture import Architecture, SfCell, TrCell
from search_core.hardware import (
    CostModel, Relaxation, SfChoice, TrChoice, memory_profile,
)
from search_core.space import SearchSpace

UCI = (128, 9, 6)
SKODA = (64, 30, 10)
N = (False, False, False)
L552, F446 = "nucleo-l552ze-q", "nucleo-f446re"


def conv(inp, out, kernel, stride, activation="relu"):
    return OpConfig("CONV_2D", inp, out, kernel, stride, "same", activation)


class FilledLatency(LatencyModel):
    """Measured rows only; the few configurations whose board run failed (FLASHERROR, see
    test_architecture.FAILED) are interpolated linearly over the kernel size from the same layer's
    other two kernels — test scaffolding, so that whole spaces can be tabulated without the
    fitted predictor."""

    def can_price(self, config):
        return True

    def _price(self, config):
        if self._lookup(config) is not None:
            return super()._price(config)
        k = config.kernel[0]
        others = [o for o in (3, 5, 7) if o != k]
        costs = [super(FilledLatency, self)._price(
            OpConfig(config.op, config.input_shape, config.output_shape, (o, 1), config.stride,
                     config.padding, config.activation)) for o in others]
        (k0, c0), (k1, c1) = zip(others, costs)
        at = lambda a, b: a + (b - a) * (k - k0) / (k1 - k0)  # noqa: E731
        return OpCost(config, at(c0.cycles, c1.cycles),
                      at(c0.overhead_cycles, c1.overhead_cycles), "predicted")


@pytest.fixture(scope="module")
def luts(measurements):
    return {mcu: import_records(measurements / mcu, mcu)[0] for mcu in (L552, F446)}


@pytest.fixture(scope="module")
def l552(luts):
    return CostModel(LatencyModel(load_mcu(L552), luts[L552], predictor=None))


@pytest.fixture(scope="module")
def filled(luts):
    return {mcu: CostModel(FilledLatency(load_mcu(mcu), luts[mcu], predictor=None))
            for mcu in (L552, F446)}


def row_cycles(lut, mcu, config):
    # The classifier conv has no activation; its cycles are those of the measured ReLU row.
    row = lut.lookup(mcu, config) or lut.lookup(mcu, dataclasses.replace(config, activation="relu"))
    return row["cycles"] + row["overhead_cycles"]


# --------------------------------------------------------------------------------------------
# exact latency
# --------------------------------------------------------------------------------------------
SMALL_OPS = [
    conv((1, 128, 9, 1), (1, 64, 9, 4), (3, 1), (2, 1)),
    conv((1, 64, 9, 4), (1, 32, 9, 4), (3, 1), (2, 1)),
    conv((1, 32, 9, 4), (1, 16, 9, 4), (3, 1), (2, 1)),
    conv((1, 16, 9, 4), (1, 16, 5, 8), (1, 2), (1, 2)),       # reducing cell: residual alone
    conv((1, 16, 5, 8), (1, 16, 5, 6), (1, 1), (1, 1), "none"),  # classifier
    OpConfig("MEAN", (1, 16, 5, 6), (1, 6)),
    OpConfig("SOFTMAX", (1, 6), (1, 6)),
]


def test_latency_of_the_smallest_network(l552, luts):
    arch = SearchSpace(*UCI).smallest()
    assert arch.op_configs() == SMALL_OPS
    by_hand = sum(row_cycles(luts[L552], L552, c) for c in SMALL_OPS)
    assert l552.latency_cycles(arch) == pytest.approx(by_hand, rel=1e-12)
    assert l552.latency_ms(arch) == pytest.approx(by_hand / 80_000, rel=1e-12)   # 80 MHz
    assert l552.latency_ms(arch) == pytest.approx(10.62, abs=0.01)
    rows = l552.latency_breakdown(arch)
    assert [r["name"] for r in rows] == ["tr0", "tr1", "tr2", "sf0.residual", "classifier",
                                         "mean", "softmax"]
    assert all(r["source"] == "measured" and 450 < r["overhead_cycles"] < 750 for r in rows)


def test_latency_of_a_branchy_cell(l552, luts):
    space = SearchSpace(*UCI)
    tr = (TrCell(5, 8),) * 3
    sf = (SfCell(True, 16, (True, False, True), 24, True),
          SfCell(False, 8, N, 8, False, skip=True),
          SfCell(False, 8, N, 8, False, skip=True))
    arch = Architecture(*UCI, tr, sf)
    lut = luts[L552]
    x, out = (1, 16, 9, 8), (1, 16, 5, 24)
    cell = [conv(x, (1, 16, 5, 16), (1, 9), (1, 2)),
            conv((1, 16, 5, 16), out, (3, 1), (1, 1)),
            conv((1, 16, 5, 16), out, (7, 1), (1, 1)),
            OpConfig("ADD", out, out),
            conv(x, out, (1, 2), (1, 2)),
            OpConfig("ADD", out, out)]
    assert arch.op_configs()[3:9] == cell
    by_hand = sum(row_cycles(lut, L552, c) for c in arch.op_configs())
    assert l552.latency_cycles(arch) == pytest.approx(by_hand, rel=1e-12)
    assert space.contains(arch)


def test_unpriceable_op_is_a_clear_error(luts):
    model = CostModel(LatencyModel(load_mcu(F446), luts[F446], predictor=None))
    arch = SearchSpace(*UCI).smallest()        # its first conv's board run failed on the F446RE
    with pytest.raises(InputError, match="neither measured"):
        model.latency_ms(arch)
    with pytest.raises(InputError, match="1 op configuration"):
        model.expected_latency_ms(Relaxation.uniform(SearchSpace(*UCI)))


# --------------------------------------------------------------------------------------------
# exact memory
# --------------------------------------------------------------------------------------------
def test_memory_of_the_smallest_network(l552):
    arch = SearchSpace(*UCI).smallest()
    profile = memory_profile(arch.graph())
    # live (16-byte aligned int8 tensors) and scratch per op, by hand
    assert [(m.live_bytes, m.scratch_bytes) for m in profile] == [
        (128 * 9 + 64 * 9 * 4, 16),            # tr0: input + output; scratch 2·4·2
        (64 * 9 * 4 + 32 * 9 * 4, 48),         # tr1: 2·12·2
        (32 * 9 * 4 + 16 * 9 * 4, 48),         # tr2
        (16 * 9 * 4 + 16 * 5 * 8, 32),         # residual (1,2): 2·8·2
        (16 * 5 * 8 + 16 * 5 * 6, 0),          # classifier 1x1: fast path
        (16 * 5 * 6 + 16, 32 + 16 + 16),       # mean: (1,6) -> 16; scratch: int32 per output
                                               # (24 -> 32), an int per input dim and per axis
        (16 + 16, 0),                          # softmax
    ]
    est = l552.memory(arch)
    assert (est.peak_bytes, est.activation_bytes, est.scratch_bytes, est.peak_op) == (
        3504, 3456, 64, "tr1")   # the largest scratch: the MEAN's three buffers
    assert l552.peak_memory_bytes(arch) == 3504


def test_memory_of_a_three_branch_cell(l552):
    tr = (TrCell(3, 4),) * 3
    sf = (SfCell(True, 64, (True, True, True), 64, True),
          SfCell(False, 8, N, 8, False, skip=True),
          SfCell(False, 8, N, 8, False, skip=True))
    arch = Architecture(*UCI, tr, sf)
    x, t = 16 * 9 * 4, 16 * 5 * 64        # cell input, every 16x5x64 tensor
    profile = {m.name: (m.live_bytes, m.scratch_bytes) for m in memory_profile(arch.graph())}
    assert profile["sf0.bottleneck"] == (x + t, 2 * 36 * 2)
    assert profile["sf0.branch3"] == (x + 2 * t, 2 * 192 * 2)     # x waits for the residual
    assert profile["sf0.branch5"] == (x + 3 * t, 2 * 320 * 2)
    assert profile["sf0.add5"] == (x + 4 * t, 0)                  # bottleneck still needed by k=7
    assert profile["sf0.branch7"] == (x + 3 * t, 2 * 448 * 2)
    assert profile["sf0.add7"] == (x + 3 * t, 0)                  # bottleneck dead
    assert profile["sf0.residual"] == (x + 2 * t, 2 * 8 * 2)
    assert profile["sf0.add_residual"] == (3 * t, 0)
    est = l552.memory(arch)
    assert (est.peak_bytes, est.activation_bytes, est.scratch_bytes, est.peak_op) == (
        x + 4 * t, x + 4 * t, 1792, "sf0.add5")


def test_fits(l552):
    arch = SearchSpace(*UCI).smallest()
    assert l552.fits(arch) and l552.fits(arch, 10.7, 3504)
    assert not l552.fits(arch, 10.6) and not l552.fits(arch, None, 3503)


# --------------------------------------------------------------------------------------------
# the cheapest networks
# --------------------------------------------------------------------------------------------
def test_cheapest_uci_on_l552(l552):
    space = SearchSpace(*UCI)
    best = l552.cheapest(space)
    assert best.latency_ms == pytest.approx(l552.latency_ms(best.latency_arch), rel=1e-12)
    assert best.memory_bytes == l552.peak_memory_bytes(best.memory_arch)
    assert best.latency_ms == pytest.approx(10.62, abs=0.01)
    assert best.memory_bytes == 3504
    assert best.latency_arch == space.smallest()
    rng = np.random.default_rng(2)
    for _ in range(40):
        arch = space.random(rng, per_choice=True)
        assert l552.latency_ms(arch) >= best.latency_ms
        assert l552.peak_memory_bytes(arch) >= best.memory_bytes


def test_cheapest_skoda(filled):
    model = filled[L552]
    space = SearchSpace(*SKODA)
    best = model.cheapest(space)
    assert best.latency_ms == pytest.approx(model.latency_ms(best.latency_arch), rel=1e-12)
    assert best.memory_bytes == model.peak_memory_bytes(best.memory_arch)
    rng = np.random.default_rng(4)
    for _ in range(30):
        arch = space.random(rng, per_choice=True)
        assert model.latency_ms(arch) >= best.latency_ms
        assert model.peak_memory_bytes(arch) >= best.memory_bytes


# --------------------------------------------------------------------------------------------
# expectations: one-hot equality, exactness under independence, gradients, monotonicity
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("mcu", [L552, F446])
@pytest.mark.parametrize("dims", [UCI, SKODA])
def test_one_hot_relaxation_prices_like_its_architecture(filled, mcu, dims):
    model = filled[mcu]
    space = SearchSpace(*dims)
    rng = np.random.default_rng(hash((mcu, dims)) % 2**32)
    archs = [space.smallest(), space.largest()]
    archs += [space.random(rng, per_choice=bool(i % 2)) for i in range(60)]
    for arch in archs:
        relax = Relaxation.one_hot(arch)
        lat = model.expected_latency_ms(relax)
        assert lat.dtype == torch.float64
        assert lat.item() == pytest.approx(model.latency_ms(arch), rel=1e-9)
        assert model.expected_peak_memory_bytes(relax).item() == model.peak_memory_bytes(arch)
    # float32 relaxations (as Gumbel samples usually are) within 1e-6
    for arch in archs[:10]:
        relax = Relaxation.one_hot(arch, dtype=torch.float32)
        lat = model.expected_latency_ms(relax)
        assert lat.dtype == torch.float32
        assert lat.item() == pytest.approx(model.latency_ms(arch), rel=1e-6)
        assert model.expected_peak_memory_bytes(relax).item() == model.peak_memory_bytes(arch)


def test_expected_memory_slots_are_the_op_profile(l552):
    space = SearchSpace(*UCI)
    arch = space.largest()
    slots = l552.expected_memory_slots(Relaxation.one_hot(arch)).tolist()
    profile = [m.total_bytes for m in memory_profile(arch.graph())]
    assert slots == profile          # the largest network has every op slot


def _support(t):
    """(option index, probability) pairs with positive probability."""
    return [(i, float(q)) for i, q in enumerate(t) if q > 0]


def _flag_support(t):
    p = float(t.reshape(()))
    return [(v, q) for v, q in ((True, p), (False, 1 - p)) if q > 0]


def _enumerate(relax: Relaxation):
    """Every architecture with positive probability under the (independent) relaxation, with its
    probability."""
    space = relax.space
    tr_opts = [[(TrCell(space.TR_KERNELS[k], space.TR_WIDTHS[w]), pk * pw)
                for (k, pk), (w, pw) in itertools.product(_support(c.kernel), _support(c.width))]
               for c in relax.tr]
    sf_opts = []
    for c, s in zip(relax.sf, space.sf_shapes):
        branch_support = [[(True, float(q)), (False, 1 - float(q))] for q in c.branches]
        branch_support = [[(v, q) for v, q in bs if q > 0] for bs in branch_support]
        skips = _flag_support(c.skip) if c.skip is not None else [(False, 1.0)]
        cells = []
        for (b, pb), (w, pw), (r, pr), (sk, ps), *br in itertools.product(
                _support(c.bottleneck), _support(c.width), _flag_support(c.residual), skips,
                *branch_support):
            flags = tuple(v for v, _ in br)
            p = pb * pw * pr * ps * math.prod(q for _, q in br)
            cells.append((SfCell(s.reduce, space.SF_BOTTLENECKS[b], flags, space.SF_WIDTHS[w],
                                 r, sk), p))
        sf_opts.append(cells)
    for combo in itertools.product(*tr_opts, *sf_opts):
        cells = [c for c, _ in combo]
        yield (Architecture(*space.key, tuple(cells[:len(tr_opts)]), tuple(cells[len(tr_opts):])),
               math.prod(p for _, p in combo))


def test_expected_latency_is_the_exact_expectation(l552):
    """Σ_arch P(arch)·latency(arch) over every architecture the relaxation can draw."""
    space = SearchSpace(*UCI)
    t = lambda *v: torch.tensor(v, dtype=torch.float64)  # noqa: E731
    z8 = lambda **kv: torch.tensor([kv.get(str(i), 0.0) for i in range(8)],  # noqa: E731
                                   dtype=torch.float64)
    relax = Relaxation(space, [
        TrChoice(t(0.0, 1.0, 0.0), t(0.0, 0.5, 0.0, 0.5)),
        TrChoice(t(0.3, 0.0, 0.7), t(0.0, 0.0, 1.0, 0.0)),
        TrChoice(t(0.0, 0.0, 1.0), t(0.0, 0.0, 0.0, 1.0)),
    ], [
        # reducing cell: residual always on, so every branch pattern is valid
        SfChoice(z8(**{"0": 0.5, "7": 0.5}), t(0.3, 0.6, 0.9), z8(**{"5": 1.0}), t(1.0)),
        # normal cells: a branch always on, residual and skip uncertain
        SfChoice(z8(**{"2": 1.0}), t(1.0, 0.5, 0.0), z8(**{"0": 0.6, "3": 0.4}), t(0.35),
                 t(0.3)),
        SfChoice(z8(**{"4": 0.5, "6": 0.5}), t(0.0, 0.0, 1.0), z8(**{"7": 1.0}), t(0.5),
                 t(0.6)),
    ])
    total = mass = peaks = 0.0
    for arch, p in _enumerate(relax):
        total += p * l552.latency_cycles(arch)
        peaks += p * l552.peak_memory_bytes(arch)
        mass += p
    assert mass == pytest.approx(1.0, abs=1e-12)
    assert l552.expected_latency_cycles(relax).item() == pytest.approx(total, rel=1e-10)
    # max of expectations <= expectation of the max (Jensen), and the smooth max bounds the max
    peak = l552.expected_peak_memory_bytes(relax).item()
    assert peak <= peaks + 1e-6
    smooth = l552.expected_peak_memory_bytes(relax, temperature=64.0).item()
    n_slots = len(l552.expected_memory_slots(relax))
    assert peak <= smooth <= peak + 64.0 * math.log(n_slots) + 1e-9


def _random_relaxation(space, rng, dtype=torch.float64):
    def simplex(n):
        return torch.tensor(rng.dirichlet(np.ones(n)), dtype=dtype)

    def prob(shape=()):
        return torch.tensor(rng.uniform(0.05, 0.95, size=shape), dtype=dtype)

    return Relaxation(space, [TrChoice(simplex(3), simplex(4)) for _ in space.tr_shapes],
                      [SfChoice(simplex(8), prob((3,)), simplex(8), prob(),
                                None if s.reduce else prob())
                       for s in space.sf_shapes])


@pytest.mark.parametrize("dims", [UCI, SKODA])
def test_gradients_reach_every_probability(filled, dims):
    model = filled[L552]
    space = SearchSpace(*dims)
    rng = np.random.default_rng(9)
    for relax in [Relaxation.uniform(space), _random_relaxation(space, rng),
                  _random_relaxation(space, rng, torch.float32)]:
        relax.requires_grad_()
        lat = model.expected_latency_ms(relax)
        grads = torch.autograd.grad(lat, relax.tensors())
        for g in grads:
            assert g is not None and torch.isfinite(g).all()
        # every probability influences the latency
        assert all(g.abs().sum() > 0 for g in grads)
        for temperature in (None, 256.0):
            mem = model.expected_peak_memory_bytes(relax, temperature=temperature)
            grads = torch.autograd.grad(mem, relax.tensors(), allow_unused=False)
            assert all(g is not None and torch.isfinite(g).all() for g in grads)
            assert sum(g.abs().sum() for g in grads) > 0
        assert 0 < lat.item() and 0 < mem.item()


def test_gradients_at_one_hot_points(l552):
    space = SearchSpace(*UCI)
    arch = space.random(np.random.default_rng(1))
    relax = Relaxation.one_hot(arch).requires_grad_()
    lat = l552.expected_latency_ms(relax)
    mem = l552.expected_peak_memory_bytes(relax)
    for out in (lat, mem):
        grads = torch.autograd.grad(out, relax.tensors())
        assert all(torch.isfinite(g).all() for g in grads)


def _shift(t, src, dst, amount):
    t = t.clone()
    t[src] -= amount
    t[dst] += amount
    return t


@pytest.mark.parametrize("dims", [UCI, SKODA])
def test_expected_latency_grows_with_wider_options(filled, dims):
    model = filled[L552]
    space = SearchSpace(*dims)
    base = Relaxation.uniform(space)
    ref = model.expected_latency_ms(base).item()

    def lat_with(edit):
        relax = Relaxation.uniform(space)
        edit(relax)
        return model.expected_latency_ms(relax).item()

    for i in range(space.n_tr_cells):
        for a in range(3):       # move mass from width option a to a+1
            def edit(r, i=i, a=a):
                r.tr[i].width = _shift(r.tr[i].width, a, a + 1, 0.2)
            assert lat_with(edit) > ref
    for j in range(space.n_sf_cells):
        for field in ("width", "bottleneck"):
            for a in range(7):
                def edit(r, j=j, a=a, field=field):
                    setattr(r.sf[j], field, _shift(getattr(r.sf[j], field), a, a + 1, 0.1))
                assert lat_with(edit) > ref, (j, field, a)
    # and when a whole distribution moves to the widest option, step by step
    values = []
    for step in range(11):
        relax = Relaxation.uniform(space)
        for c in relax.sf:
            c.width = _shift(torch.full((8,), 0.0, dtype=torch.float64), 0, 0, 0)
            c.width[0], c.width[7] = 1 - step / 10, step / 10
        values.append(model.expected_latency_ms(relax).item())
    assert all(b > a for a, b in zip(values, values[1:]))
    # more probable branches, residuals and kept cells cost more
    for j in range(space.n_sf_cells):
        relax = Relaxation.uniform(space)
        relax.sf[j].branches = torch.tensor([0.9, 0.9, 0.9], dtype=torch.float64)
        assert model.expected_latency_ms(relax).item() > ref
        if relax.sf[j].skip is not None:
            relax = Relaxation.uniform(space)
            relax.sf[j].skip = torch.tensor(0.1, dtype=torch.float64)
            assert model.expected_latency_ms(relax).item() > ref


def test_relaxation_is_checked(l552):
    space = SearchSpace(*UCI)
    relax = Relaxation.uniform(space)
    relax.tr = relax.tr[:2]
    with pytest.raises(InputError, match="2 TR and 3 SF cells"):
        l552.expected_latency_ms(relax)
    relax = Relaxation.uniform(space)
    relax.sf[0].width = torch.ones(7) / 7
    with pytest.raises(InputError, match=r"sf\[0\]\.width must have shape \(8,\)"):
        l552.expected_peak_memory_bytes(relax)
    relax = Relaxation.uniform(space)
    relax.sf[1].skip = None
    with pytest.raises(InputError, match="needs a skip"):
        l552.expected_latency_ms(relax)
    relax = Relaxation.uniform(space)
    relax.sf[0].skip = torch.tensor(0.5)
    with pytest.raises(InputError, match="reducing cell: it has no skip"):
        l552.expected_latency_ms(relax)
    with pytest.raises(InputError, match="temperature"):
        l552.expected_peak_memory_bytes(Relaxation.uniform(space), temperature=0)


class MacLatency:
    """A synthetic board (cycles from MACs and element counts) for spaces the measurements do
    not cover: the cost model only needs `.mcu` and `.price`."""

    def __init__(self):
        self.mcu = load_mcu(L552)

    def price(self, config):
        out = math.prod(config.output_shape)
        if config.op == "CONV_2D":
            cycles = 2.0 * out * config.input_shape[-1] * config.kernel[0] * config.kernel[1] + 900
        else:
            cycles = 7.0 * math.prod(config.input_shape) + 300
        return OpCost(config, cycles, 500.0, "predicted")


@pytest.mark.parametrize("dims", [(16, 1, 2), (30, 4, 3), (31, 4, 3), (50, 7, 2), (128, 20, 5)])
def test_odd_spaces(dims):
    model = CostModel(MacLatency())
    space = SearchSpace(*dims)
    rng = np.random.default_rng(sum(dims))
    best = model.cheapest(space)
    for i in range(30):
        arch = space.random(rng, per_choice=bool(i % 2))
        relax = Relaxation.one_hot(arch)
        assert model.expected_latency_ms(relax).item() == pytest.approx(model.latency_ms(arch),
                                                                         rel=1e-9)
        assert model.expected_peak_memory_bytes(relax).item() == model.peak_memory_bytes(arch)
        assert model.latency_ms(arch) >= best.latency_ms
        assert model.peak_memory_bytes(arch) >= best.memory_bytes
    relax = _random_relaxation(space, rng).requires_grad_()
    grads = torch.autograd.grad(model.expected_latency_ms(relax)
                                + model.expected_peak_memory_bytes(relax), relax.tensors())
    assert all(torch.isfinite(g).all() for g in grads)
