"""From learned probabilities to an architecture that is guaranteed to fit.

Soft penalties only make a fit likely. After taking the most probable architecture we check its
exact costs and, while any budget is exceeded, apply the shrink step (narrower width, a branch or
the residual off, a cell skipped, a smaller kernel) that gives up the least probability per unit
of budget violation it removes. Each step makes the network strictly cheaper, so this ends.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Callable

from lut_store.errors import InputError

from .architecture import (BRANCH_KERNELS, SF_BOTTLENECKS, SF_WIDTHS, TR_KERNELS, TR_WIDTHS,
                           Architecture, SfCell, TrCell)
from .hardware import CostModel


@dataclass(frozen=True)
class Budget:
    """Latency in ms, peak RAM in bytes and delivered flash in bytes (model + runtime); None
    means unconstrained. These are what the network itself must meet: `plan_budget` has already
    taken the sensing ring (`input_buffer_bytes`) out of the user's memory budget and turned a
    power budget into a latency cap, so every stage compares a network's own costs with them."""

    latency_ms: float | None = None
    memory_bytes: float | None = None     # the arena's share of the memory budget
    flash_bytes: float | None = None
    input_buffer_bytes: int = 0           # lut_store.memory.input_buffer_bytes, beside the arena

    def violation(self, latency_ms: float, memory_bytes: float,
                  flash_bytes: float | None = None) -> float:
        """Σ log(cost / target) over the budgets that are exceeded (0 when everything fits)."""
        v = 0.0
        if self.latency_ms is not None and latency_ms > self.latency_ms:
            v += math.log(latency_ms / self.latency_ms)
        if self.memory_bytes is not None and memory_bytes > self.memory_bytes:
            v += math.log(memory_bytes / self.memory_bytes)
        if self.flash_bytes is not None and flash_bytes is not None and \
                flash_bytes > self.flash_bytes:
            v += math.log(flash_bytes / self.flash_bytes)
        return v

    def violation_of(self, arch: Architecture, cost: CostModel) -> float:
        """`violation` of `arch`'s exact costs (flash priced only under a flash budget)."""
        flash = cost.flash_bytes(arch) if self.flash_bytes is not None else None
        return self.violation(cost.latency_ms(arch), cost.peak_memory_bytes(arch), flash)


def _smaller(options: tuple[int, ...], value: int) -> int | None:
    i = options.index(value)
    return options[i - 1] if i > 0 else None


def _with_tr(arch: Architecture) -> Callable[[int, TrCell], Architecture]:
    def with_tr(i: int, cell: TrCell) -> Architecture:
        tr = arch.tr_cells[:i] + (cell,) + arch.tr_cells[i + 1:]
        return Architecture(arch.input_steps, arch.input_channels, arch.n_classes, tr, arch.sf_cells)
    return with_tr


def _with_sf(arch: Architecture) -> Callable[[int, SfCell], Architecture]:
    def with_sf(j: int, cell: SfCell) -> Architecture:
        sf = arch.sf_cells[:j] + (cell,) + arch.sf_cells[j + 1:]
        return Architecture(arch.input_steps, arch.input_channels, arch.n_classes, arch.tr_cells,
                            sf).canonical()
    return with_sf


def shrink_moves(arch: Architecture) -> list[tuple[str, Architecture]]:
    """Every architecture one small step smaller than `arch`."""
    moves = []
    tr, sf = arch.tr_cells, arch.sf_cells
    with_tr, with_sf = _with_tr(arch), _with_sf(arch)

    for i, cell in enumerate(tr):
        if (w := _smaller(TR_WIDTHS, cell.width)) is not None:
            moves.append((f"tr{i}.width {cell.width}->{w}", with_tr(i, replace(cell, width=w))))
        if (k := _smaller(TR_KERNELS, cell.kernel)) is not None:
            moves.append((f"tr{i}.kernel {cell.kernel}->{k}", with_tr(i, replace(cell, kernel=k))))
    for j, cell in enumerate(sf):
        if cell.skip:
            continue
        if not cell.reduce:
            moves.append((f"sf{j} skipped", with_sf(j, replace(cell, skip=True))))
        if (w := _smaller(SF_WIDTHS, cell.width)) is not None:
            moves.append((f"sf{j}.width {cell.width}->{w}", with_sf(j, replace(cell, width=w))))
        if cell.has_branches and (b := _smaller(SF_BOTTLENECKS, cell.bottleneck)) is not None:
            moves.append((f"sf{j}.bottleneck {cell.bottleneck}->{b}",
                          with_sf(j, replace(cell, bottleneck=b))))
        for n, k in enumerate(BRANCH_KERNELS):
            if cell.branches[n]:
                branches = tuple(False if m == n else on for m, on in enumerate(cell.branches))
                if any(branches) or cell.residual:
                    moves.append((f"sf{j}.branch{k} off", with_sf(j, replace(cell, branches=branches))))
        if cell.residual and cell.has_branches:
            moves.append((f"sf{j}.residual off", with_sf(j, replace(cell, residual=False))))
    return moves


def _larger(options: tuple[int, ...], value: int) -> int | None:
    i = options.index(value)
    return options[i + 1] if i + 1 < len(options) else None


def grow_moves(arch: Architecture) -> list[tuple[str, Architecture]]:
    """Every architecture one small step larger than `arch` (the inverse of `shrink_moves`)."""
    moves = []
    tr, sf = arch.tr_cells, arch.sf_cells
    with_tr, with_sf = _with_tr(arch), _with_sf(arch)

    for i, cell in enumerate(tr):
        if (w := _larger(TR_WIDTHS, cell.width)) is not None:
            moves.append((f"tr{i}.width {cell.width}->{w}", with_tr(i, replace(cell, width=w))))
        if (k := _larger(TR_KERNELS, cell.kernel)) is not None:
            moves.append((f"tr{i}.kernel {cell.kernel}->{k}", with_tr(i, replace(cell, kernel=k))))
    for j, cell in enumerate(sf):
        if cell.skip:  # a skipped cell comes back as its smallest form: the narrowest residual
            moves.append((f"sf{j} kept", with_sf(j, replace(cell, skip=False, residual=True,
                                                             branches=(False, False, False),
                                                             width=SF_WIDTHS[0]))))
            continue
        if (w := _larger(SF_WIDTHS, cell.width)) is not None:
            moves.append((f"sf{j}.width {cell.width}->{w}", with_sf(j, replace(cell, width=w))))
        if cell.has_branches and (b := _larger(SF_BOTTLENECKS, cell.bottleneck)) is not None:
            moves.append((f"sf{j}.bottleneck {cell.bottleneck}->{b}",
                          with_sf(j, replace(cell, bottleneck=b))))
        for n, k in enumerate(BRANCH_KERNELS):
            if not cell.branches[n]:
                branches = tuple(True if m == n else on for m, on in enumerate(cell.branches))
                moves.append((f"sf{j}.branch{k} on", with_sf(j, replace(cell, branches=branches))))
        if not cell.residual:
            moves.append((f"sf{j}.residual on", with_sf(j, replace(cell, residual=True))))
    return moves


def fill(arch: Architecture, cost: CostModel, budget: Budget,
         log_prob: Callable[[Architecture], float], max_drop: float = 3.0,
         max_steps: int = 200) -> tuple[Architecture, list[str]]:
    """Spend what the budget leaves: add, most probable first, what the search found nearly as
    likely as not (each step gives up at most `max_drop` nats), while everything still fits.

    The per-choice argmax of independent on/off probabilities undershoots the budget the search
    converged to (three branches at p = 0.45 are all off, yet priced at 45 % each), and in this
    space the larger network within a budget is the more accurate one."""
    steps: list[str] = []
    current, lp = arch, log_prob(arch)
    while len(steps) < max_steps:
        best = None
        for desc, cand in grow_moves(current):
            lp_new = log_prob(cand)
            if lp - lp_new > max_drop or (best is not None and lp_new <= best[0]):
                continue
            if budget.violation_of(cand, cost) > 0:
                continue
            best = (lp_new, desc, cand)
        if best is None:
            break
        lp, desc, current = best
        steps.append(desc)
    return current, steps


def repair(arch: Architecture, cost: CostModel, budget: Budget,
           log_prob: Callable[[Architecture], float] | None = None,
           max_steps: int = 500) -> tuple[Architecture, list[str]]:
    """The closest architecture to `arch` (in learned probability) that fits `budget`."""
    log_prob = log_prob or (lambda a: 0.0)
    steps: list[str] = []

    def violation(a: Architecture) -> float:
        return budget.violation_of(a, cost)

    current, v = arch, violation(arch)
    lp = log_prob(arch)
    while v > 0:
        if len(steps) >= max_steps:
            break
        best = None
        for desc, cand in shrink_moves(current):
            v_new = violation(cand)
            if v_new >= v - 1e-12:
                continue
            lp_new = log_prob(cand)
            # Probability given up per unit of violation removed; ties: the bigger reduction.
            score = ((lp - lp_new) / (v - v_new), -(v - v_new))
            if best is None or score < best[0]:
                best = (score, desc, cand, v_new, lp_new)
        if best is None:
            break
        _, desc, current, v, lp = best
        steps.append(desc)
    if v > 0:
        # The greedy descent can stall where no single shrink removes violation (a budget near
        # the space's floor): the space's cheapest networks are the fallback a feasible budget
        # (plan_budget checked it) always has.
        from .space import SearchSpace
        floor = cost.cheapest(SearchSpace(arch.input_steps, arch.input_channels, arch.n_classes))
        fits = [(name, a) for name, a in (("latency", floor.latency_arch),
                                          ("memory", floor.memory_arch)) if violation(a) == 0]
        if fits:
            name, a = max(fits, key=lambda f: log_prob(f[1]))
            steps.append(f"greedy shrink stalled at {cost.latency_ms(current):.2f} ms / "
                         f"{cost.peak_memory_bytes(current)} B: the space's cheapest network by "
                         f"{name}")
            return a, steps
        raise InputError(
            f"no architecture near the search's choice fits the budget (latency "
            f"{cost.latency_ms(current):.2f} ms, memory {cost.peak_memory_bytes(current)} B"
            + (f", flash {cost.flash_bytes(current)} B" if budget.flash_bytes is not None else "")
            + f" after {len(steps)} shrink steps)")
    return current, steps
