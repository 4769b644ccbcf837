"""The cheapest networks of a space on one board, by exact dynamic programming over the cell chain."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..architecture import Architecture, SfCell, TrCell, cell_graph, classifier_graph
from ..space import SearchSpace
from ._memory import memory_profile


@dataclass(frozen=True)
class Cheapest:
    """The cheapest networks of a space on one board (each objective on its own)."""

    latency_ms: float
    latency_cycles: float
    latency_arch: Architecture
    memory_bytes: int
    memory_arch: Architecture


def cheapest(cost, space: SearchSpace, cache: dict) -> Cheapest:
    """The smallest latency and the smallest peak memory any network of `space` reaches on
    this board, with a network reaching each (exact dynamic programming over the cell chain:
    the only tensor crossing a cell boundary is the cell's input, so a cell's latency and its
    memory peak depend on its own choices and its input width alone)."""
    lat, lat_arch = _dp(cost, cache, space, "latency")
    mem, mem_arch = _dp(cost, cache, space, "memory")
    return Cheapest(cost.mcu.cycles_to_ms(lat), lat, lat_arch, int(mem), mem_arch)


def _dp(cost, cache: dict, space: SearchSpace, objective: str) -> tuple[float, Architecture]:
    combine = (lambda a, b: a + b) if objective == "latency" else max
    pick = 0 if objective == "latency" else 1
    # state: input width of the next cell -> (value so far, cells so far)
    states: dict[int, tuple[float, tuple]] = {1: (0.0, ())}
    for i in range(space.n_tr_cells):
        nxt: dict[int, tuple[float, tuple]] = {}
        for c_in, (value, cells) in states.items():
            shape = space.tr_input_shape(i, c_in)
            for cell in space.tr_cell_options():
                v = combine(value, _cell_cost(cost, cache, shape, cell)[pick])
                if cell.width not in nxt or v < nxt[cell.width][0]:
                    nxt[cell.width] = (v, cells + (cell,))
        states = nxt
    tr_count = space.n_tr_cells
    for j, s in enumerate(space.sf_shapes):
        nxt = {}
        for c_in, (value, cells) in states.items():
            shape = space.sf_input_shape(j, c_in)
            for cell in space.sf_cell_options(s.reduce):
                v = combine(value, _cell_cost(cost, cache, shape, cell)[pick])
                width = c_in if cell.skip else cell.width
                if width not in nxt or v < nxt[width][0]:
                    nxt[width] = (v, cells + (cell,))
        states = nxt
    best = None
    for c_in, (value, cells) in states.items():
        graph = classifier_graph(space.classifier_input_shape(c_in), space.n_classes)
        tail = (math.fsum(cost.op_cycles(op.config) for op in graph.ops) if pick == 0
                else max(m.total_bytes for m in memory_profile(graph)))
        v = combine(value, tail)
        if best is None or v < best[0]:
            best = (v, cells)
    cells = best[1]
    arch = Architecture(space.input_steps, space.input_channels, space.n_classes,
                        cells[:tr_count], cells[tr_count:])
    return best[0], arch


def _cell_cost(cost, cache: dict, shape: tuple, cell: TrCell | SfCell) -> tuple[float, int]:
    key = (shape, cell)
    hit = cache.get(key)
    if hit is None:
        graph = cell_graph(shape, cell)
        cycles = math.fsum(cost.op_cycles(op.config) for op in graph.ops)
        peak = max((m.total_bytes for m in memory_profile(graph)), default=0)
        hit = cache[key] = (cycles, peak)
    return hit
