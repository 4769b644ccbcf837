"""The search methods MicroNAS is compared with, in the same space, on the same data and compute:

- `darts`: the same DNAS without hardware awareness (no latency or memory penalty) and derivation
  without repair — it returns what DARTS would, and the budget check reports what it violates;
- `random`: architectures sampled uniformly from those of the space that fit the budget, each
  trained briefly, the best on the validation split kept; the number of candidates spends the
  training epochs DNAS would have spent (warm-up + one pass per search epoch over the
  training split and 1/arch_every of one over validation).

Each returns a `Derivation`, like `search_architecture`, so retraining, deployment and the results
store treat all methods alike.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import replace
from typing import Callable

from .architecture import Architecture
from .data import Dataset
from .derive import Budget, repair
from .hardware import CostModel
from .loss import HardwareLoss
from ._config import SearchConfig
from ._dnas import run_dnas
from .records import Derivation
from .space import SearchSpace

# The one registry of search methods (spec `method:`, results `method` column, `search_with`).
METHODS = ("micronas", "darts", "random")


def search_darts(data: Dataset, cost: CostModel, budget: Budget, config: SearchConfig,
                 progress: Callable[[dict], None] | None = None) -> Derivation:
    outcome = run_dnas(data, cost, budget, replace(config, loss=HardwareLoss.none()), progress)
    arch = outcome.params.argmax()
    expected = outcome.params.probabilities()
    return Derivation(arch, _summary(arch, cost, budget, outcome.seconds, outcome.history, {
        "expected_latency_ms": float(cost.expected_latency_ms(expected).detach()),
        "expected_memory_bytes": float(cost.expected_peak_memory_bytes(expected).detach())}))


def random_budget(config: SearchConfig) -> tuple[int, int]:
    """(candidates, epochs per candidate) spending DNAS's training passes."""
    searching = max(config.epochs - config.warmup_epochs, 0)
    passes = config.warmup_epochs + round(searching * (1 + 1 / config.arch_every))
    per = max(1, config.epochs // 4)
    return max(2, round(passes / per)), per


def sample_fitting(space: SearchSpace, cost: CostModel, budget: Budget, rng: random.Random,
                   tries: int = 5000) -> Architecture:
    """Uniform over the networks of the space that fit (rejection sampling); if the budget is so
    tight that no sample lands inside, the last sample repaired into it."""
    tr, red, norm = space.tr_cell_options(), space.sf_cell_options(True), space.sf_cell_options(False)
    arch = None
    for _ in range(tries):
        arch = Architecture(space.input_steps, space.input_channels, space.n_classes,
                            tuple(rng.choice(tr) for _ in range(space.n_tr_cells)),
                            tuple(rng.choice(red if s.reduce else norm) for s in space.sf_shapes))
        if budget.violation_of(arch, cost) == 0:
            return arch
    return repair(arch, cost, budget)[0]


def search_random(data: Dataset, cost: CostModel, budget: Budget, config: SearchConfig,
                  progress: Callable[[dict], None] | None = None) -> Derivation:
    from ._retrain import retrain

    start = time.perf_counter()
    space = SearchSpace(data.window, data.n_channels, data.n_classes)
    rng = random.Random(config.seed)
    n, epochs = random_budget(config)
    short = replace(config, retrain_epochs=epochs, retrain_patience=epochs)
    history, best = [], None
    for i in range(n):
        arch = sample_fitting(space, cost, budget, rng)
        trained = retrain(arch, data, replace(short, seed=config.seed + 1000 * (i + 1)))
        row = {"epoch": i + 1, "candidate": json.loads(arch.to_json()),
               "val_accuracy": trained.val_accuracy, "latency_ms": cost.latency_ms(arch),
               "expected_latency_ms": cost.latency_ms(arch),
               "expected_memory_bytes": float(cost.memory(arch).peak_bytes),
               "seconds": time.perf_counter() - start}
        history.append(row)
        if progress:
            progress(row)
        if best is None or trained.val_accuracy > best[0]:
            best = (trained.val_accuracy, arch)
    arch = best[1]
    return Derivation(arch, _summary(arch, cost, budget, time.perf_counter() - start, history, {
        "expected_latency_ms": cost.latency_ms(arch),
        "expected_memory_bytes": float(cost.memory(arch).peak_bytes)}))


def _summary(arch: Architecture, cost: CostModel, budget: Budget, seconds: float,
             history: list, expected: dict) -> dict:
    lat, mem = cost.latency_ms(arch), cost.memory(arch).peak_bytes
    return {"derived": json.loads(arch.to_json()), "repairs": [], "fills": [],
            "search_latency_ms": lat, "search_memory_bytes": mem,
            "search_fits": bool(budget.violation_of(arch, cost) == 0), **expected,
            "search_s": seconds, "search_history": history}


def search_with(method: str):
    """The search stage of a method: (data, cost, budget, config, progress) -> Derivation."""
    from ._dnas import search_architecture
    return {"micronas": search_architecture, "darts": search_darts, "random": search_random}[method]
