"""The baselines in the same space: random search samples only fitting networks; DARTS ignores the
budget (and reports it); all return Derivations that the rest of the pipeline takes."""

import random

import pytest

from search_core.baselines import random_budget, sample_fitting, search_darts, search_random
from search_core.data import load_dataset
from search_core.derive import Budget
from search_core.hardware import CostModel
from search_core import SearchConfig
from search_core.space import SearchSpace


@pytest.fixture(scope="module")
def basicmotions():
    return load_dataset("basicmotions", seed=0)


def test_random_samples_fit_and_vary(basicmotions, l552_latency):
    space = SearchSpace(basicmotions.window, basicmotions.n_channels, basicmotions.n_classes)
    cost, budget = CostModel(l552_latency), Budget(12.0, 6 * 1024)
    rng = random.Random(0)
    archs = [sample_fitting(space, cost, budget, rng) for _ in range(20)]
    assert all(budget.violation(cost.latency_ms(a), cost.memory(a).peak_bytes) == 0 for a in archs)
    assert len({a.to_json() for a in archs}) > 10          # uniform, not one favourite


def test_random_search_spends_dnas_epochs_and_keeps_the_best(basicmotions, l552_latency):
    config = SearchConfig(epochs=4, warmup_epochs=1, retrain_epochs=1, seed=3)
    n, per = random_budget(config)
    dnas_passes = 1 + 3 * (1 + 1 / config.arch_every)       # warm-up + train + 1/k of val
    assert n * per == pytest.approx(dnas_passes, abs=per)
    cost, budget = CostModel(l552_latency), Budget(12.0, 6 * 1024)
    d = search_random(basicmotions, cost, budget, config)
    assert d.summary["search_fits"] and len(d.summary["search_history"]) == n
    best = max(d.summary["search_history"], key=lambda r: r["val_accuracy"])
    assert d.summary["derived"] == best["candidate"]


def test_darts_ignores_the_budget(basicmotions, l552_latency):
    cost, budget = CostModel(l552_latency), Budget(6.0, 2 * 1024)   # just above the cheapest
    d = search_darts(basicmotions, cost, budget, SearchConfig(epochs=2, warmup_epochs=1, seed=0))
    assert d.summary["repairs"] == [] and d.summary["fills"] == []
    assert d.summary["search_fits"] is False                         # no penalty, no repair
    assert d.summary["search_latency_ms"] == cost.latency_ms(d.architecture)
