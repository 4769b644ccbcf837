import random

import pytest

from lut_store import InputError, LatencyModel, load_mcu
from search_core.derive import Budget, fill, repair, shrink_moves
from search_core.hardware import CostModel
from search_core.space import SearchSpace

L552 = "nucleo-l552ze-q"


@pytest.fixture(scope="module")
def cost(l552_lut):
    return CostModel(LatencyModel(load_mcu(L552), l552_lut))


def test_every_shrink_move_is_a_valid_smaller_network(cost):
    space = SearchSpace(128, 9, 6)
    arch = space.largest()
    moves = shrink_moves(arch)
    assert len(moves) > 10
    for _, cand in moves:
        assert space.contains(cand)
        assert cost.latency_ms(cand) <= cost.latency_ms(arch) + 1e-9


@pytest.mark.parametrize("lat_ms, mem_kb", [(25, 64), (50, 6), (15, None), (None, 5), (12, 64),
                                            (11, None)])
def test_repair_reaches_the_budget(cost, lat_ms, mem_kb):
    space = SearchSpace(128, 9, 6)
    budget = Budget(lat_ms, None if mem_kb is None else mem_kb * 1024)
    rng = random.Random(5)
    for arch in [space.largest()] + [space.random(rng) for _ in range(5)]:
        fixed, steps = repair(arch, cost, budget)
        assert budget.violation(cost.latency_ms(fixed), cost.peak_memory_bytes(fixed)) == 0
        if lat_ms is not None:
            assert cost.latency_ms(fixed) <= lat_ms
        if mem_kb is not None:
            assert cost.peak_memory_bytes(fixed) <= mem_kb * 1024
        if budget.violation(cost.latency_ms(arch), cost.peak_memory_bytes(arch)) == 0:
            assert steps == [] and fixed == arch


def test_repair_prefers_what_the_search_found_likely(cost):
    """Guided by probabilities: a choice the search is sure about is given up last."""
    space = SearchSpace(128, 9, 6)
    arch = space.largest()

    def log_prob(a):  # the search is certain about the reducing cell's width
        return 0.0 if a.sf_cells[0].width == 64 else -100.0
    fixed, steps = repair(arch, cost, Budget(30, None), log_prob)
    assert fixed.sf_cells[0].width == 64 and steps


def test_a_stalled_repair_falls_back_to_the_cheapest_network(cost, monkeypatch):
    """Near the space's floor the greedy shrink can stall (no single move removes violation):
    the space's cheapest network, which plan_budget checked fits, is what it delivers then."""
    import search_core.derive as derive
    space = SearchSpace(128, 9, 6)
    floor = cost.cheapest(space)
    monkeypatch.setattr(derive, "shrink_moves", lambda arch: [])   # stalls at once
    budget = Budget(floor.latency_ms * 1.1, None)
    fixed, steps = repair(space.largest(), cost, budget)
    assert fixed == floor.latency_arch and cost.latency_ms(fixed) <= budget.latency_ms
    assert "stalled" in steps[-1] and steps[-1].endswith("cheapest network by latency")
    # A memory budget only the memory-cheapest network meets picks that one.
    mem = Budget(None, floor.memory_bytes)
    fixed, _ = repair(space.largest(), cost, mem)
    assert cost.peak_memory_bytes(fixed) <= floor.memory_bytes


def test_impossible_budget_is_a_clear_error(cost):
    with pytest.raises(InputError, match="no architecture near the search's choice fits"):
        repair(SearchSpace(128, 9, 6).largest(), cost, Budget(1.0, None))


def test_fill_spends_the_budget_and_still_fits(cost):
    space = SearchSpace(128, 9, 6)
    start = space.smallest()
    budget = Budget(25.0, 64 * 1024)
    grown, steps = fill(start, cost, budget, lambda a: 0.0)  # every choice equally likely
    assert steps and cost.latency_ms(grown) > cost.latency_ms(start)
    assert budget.violation(cost.latency_ms(grown), cost.peak_memory_bytes(grown)) == 0
    assert cost.latency_ms(grown) > 0.8 * 25.0  # little of the budget is left unused


def test_fill_does_not_take_what_the_search_rejected(cost):
    space = SearchSpace(128, 9, 6)
    start = space.smallest()

    def log_prob(a):  # the search is sure every TR cell stays at width 4
        return -100.0 * sum(c.width != 4 for c in a.tr_cells)
    grown, _ = fill(start, cost, Budget(40.0, None), log_prob, max_drop=3.0)
    assert all(c.width == 4 for c in grown.tr_cells)
