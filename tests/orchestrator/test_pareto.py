"""ParetoFront against brute force: fronts, merging over seeds, fallbacks, hypervolume, budgets.

The stores here are written row by row with `ResultsStore.write` from random trials. A later test
(added with the sweep) builds the same checks on a store written by a real sweep.
"""

import itertools
import json
import math
from collections import defaultdict

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from lut_store import InputError
from orchestrator._pareto import ParetoFront, hypervolume, non_dominated
from orchestrator._store import ResultsStore

DATASETS = ("ucihar", "hapt")
MCUS = ("nucleo-l552ze-q", "nucleo-f446re")
METHODS = ("micronas", "darts")
BUDGETS = ((25.0, 64.0), (50.0, 128.0), (None, None))


def random_rows(seed: int, n: int = 80, artifacts_store: ResultsStore | None = None) -> list[dict]:
    """Trials with many ties (metrics in eighths, costs on a coarse grid), repeated architectures
    over seeds, some without int8 or verified figures, and every kind of infeasible trial."""
    rng = np.random.default_rng(seed)
    # One cost per architecture and board, as in a real sweep; the metric varies by seed.
    arch_cost = {}
    rows = []
    for i in range(n):
        dataset, mcu, method = (str(rng.choice(DATASETS)), str(rng.choice(MCUS)),
                                str(rng.choice(METHODS)))
        arch = int(rng.integers(0, 12))
        lat, mem = arch_cost.setdefault((mcu, arch), (float(rng.integers(1, 9) * 5),
                                                      float(rng.integers(1, 9) * 16 * 1024)))
        lat_t, mem_t = BUDGETS[int(rng.integers(0, len(BUDGETS)))]
        metric = float(rng.integers(4, 9)) / 8  # eighths: means over seeds stay exact
        status = str(rng.choice(["ok"] * 6 + ["failed", "infeasible", "deploy_failed"]))
        row = {"trial_key": f"sweep{seed}/t{i:03d}", "sweep": f"sweep{seed}", "method": method,
               "status": status, "reason": "" if status == "ok" else f"{status} because {i}",
               "dataset": dataset, "mcu": mcu, "lat_budget_ms": lat_t, "mem_budget_kb": mem_t,
               "seed": int(rng.integers(0, 3)),
               "architecture_json": json.dumps({"cells": [arch, arch % 3]}),
               "latency_ms": lat, "peak_memory_bytes": mem, "fits": bool(rng.random() > .05),
               "test_accuracy": metric, "test_macro_f1": metric,
               "int8_accuracy": None if rng.random() < .15 else metric,
               "int8_macro_f1": None if rng.random() < .15 else metric,
               "verified_latency_ms": None if rng.random() < .1 else lat,
               "verified_memory_bytes": None if rng.random() < .1 else mem,
               "flash_bytes": float(arch * 1000 + 5000),
               "verified_fits": None if rng.random() < .3 else bool(rng.random() > .05)}
        rows.append(row)
    return rows


def write_rows(url: str, rows: list[dict]) -> ResultsStore:
    store = ResultsStore(url)
    for row in rows:
        store.write(row)
    return store


def brute_force_models(rows: list[dict], metric: str = "macro_f1") -> dict:
    """(dataset, mcu, method, architecture) -> (mean metric, worst latency, worst memory, flash)."""
    seen = defaultdict(list)
    for r in rows:
        value = r[f"int8_{metric}"] if r[f"int8_{metric}"] is not None else r[f"test_{metric}"]
        lat = r["verified_latency_ms"] if r["verified_latency_ms"] is not None else r["latency_ms"]
        mem = r["verified_memory_bytes"] if r["verified_memory_bytes"] is not None else r["peak_memory_bytes"]
        if r["status"] != "ok" or r["fits"] is False or r["verified_fits"] is False:
            continue
        seen[(r["dataset"], r["mcu"], r["method"], r["architecture_json"])].append(
            (value, lat, mem, r["flash_bytes"]))
    return {k: (sum(v[0] for v in vs) / len(vs), max(v[1] for v in vs), max(v[2] for v in vs),
                max(v[3] for v in vs), len(vs)) for k, vs in seen.items()}


def brute_force_front(models: dict, flash: bool = False) -> set:
    def dominates(a, b):
        better = [a[0] >= b[0], a[1] <= b[1], a[2] <= b[2]] + ([a[3] <= b[3]] if flash else [])
        strictly = [a[0] > b[0], a[1] < b[1], a[2] < b[2]] + ([a[3] < b[3]] if flash else [])
        return all(better) and any(strictly)
    return {k for k, v in models.items()
            if not any(dominates(w, v) for j, w in models.items() if j[:3] == k[:3] and j != k)}


def front_keys(front: ParetoFront) -> set:
    return set(front.front[["dataset", "mcu", "method", "model"]].itertuples(index=False, name=None))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fronts_of_a_store_match_brute_force(tmp_path, seed):
    rows = random_rows(seed)
    store = write_rows(str(tmp_path / "store"), rows)
    assert front_keys(ParetoFront.from_store(store.url)) == brute_force_front(brute_force_models(rows))
    frame = store.read()  # read once: every other view is of the same rows
    for metric in ("macro_f1", "accuracy"):
        models = brute_force_models(rows, metric)
        front = ParetoFront(frame, metric=metric)
        assert front_keys(front) == brute_force_front(models)
        got = front.models.set_index(["dataset", "mcu", "method", "model"])
        assert len(got) == len(models)
        for key, (value, lat, mem, _, n) in models.items():
            assert got.loc[key, "metric"] == pytest.approx(value)
            assert (got.loc[key, "latency_ms"], got.loc[key, "memory_bytes"]) == (lat, mem)
            assert got.loc[key, "n"] == n
    flash = ParetoFront(frame, flash=True)
    assert front_keys(flash) == brute_force_front(brute_force_models(rows), flash=True)
    assert front_keys(flash) >= front_keys(ParetoFront(frame))


def test_infeasible_trials_are_excluded_with_reasons(tmp_path):
    base = {"sweep": "s", "dataset": "ucihar", "mcu": "nucleo-l552ze-q", "method": "micronas",
            "architecture_json": "{}", "latency_ms": 10.0, "peak_memory_bytes": 4096.0,
            "int8_macro_f1": .9, "test_macro_f1": .91}
    rows = [{**base, "trial_key": "s/ok", "status": "ok", "architecture_json": '{"a": 1}'},
            {**base, "trial_key": "s/failed", "status": "failed", "reason": "CUDA out of memory"},
            {**base, "trial_key": "s/quiet", "status": "deploy_failed"},
            {**base, "trial_key": "s/over", "status": "ok", "fits": False},
            {**base, "trial_key": "s/over-verified", "status": "ok", "verified_fits": False},
            {**base, "trial_key": "s/no-metric", "status": "ok", "int8_macro_f1": None,
             "test_macro_f1": None}]
    front = ParetoFront.from_store(write_rows(str(tmp_path / "s"), rows).url)
    why = dict(zip(front.excluded["trial_key"], front.excluded["why"]))
    assert why == {"s/failed": "CUDA out of memory", "s/quiet": "deploy_failed",
                   "s/over": "over budget (estimated cost)",
                   "s/over-verified": "over budget (verified cost)", "s/no-metric": "no test metric"}
    assert list(front.front["trial_key"]) == ["s/ok"]


def test_seeds_of_one_architecture_merge_and_fallbacks_are_marked(tmp_path):
    base = {"sweep": "s", "dataset": "ucihar", "mcu": "nucleo-l552ze-q", "status": "ok",
            "architecture_json": '{"a": 1}', "latency_ms": 10.0, "peak_memory_bytes": 4096.0}
    rows = [{**base, "trial_key": "s/0", "seed": 0, "int8_macro_f1": .80,
             "verified_latency_ms": 11.0, "verified_memory_bytes": 4096.0},
            {**base, "trial_key": "s/1", "seed": 1, "int8_macro_f1": .90,
             "verified_latency_ms": 11.0, "verified_memory_bytes": 4096.0},
            {**base, "trial_key": "s/2", "seed": 2, "int8_macro_f1": None, "test_macro_f1": .85}]
    front = ParetoFront.from_store(write_rows(str(tmp_path / "s"), rows).url)
    (model,) = front.front.to_dict("records")
    assert model["n"] == 3 and model["metric"] == pytest.approx(.85)
    assert model["metric_std"] == pytest.approx(np.std([.8, .9, .85], ddof=1))
    assert model["metric_source"] == "float" and front.float_fallbacks == 1
    # Seed 2 has no verified figures: its estimate stands in, and the model says so.
    assert model["latency_ms"] == 11.0 and model["latency_source"] == "estimated"
    assert model["trial_key"] == "s/1" and model["trial_keys"] == ["s/0", "s/1", "s/2"]
    assert model["seeds"] == "0 1 2" and model["method"] == "micronas"


@pytest.mark.parametrize("seed", [0, 3])
def test_best_model_per_budget_matches_brute_force(tmp_path, seed):
    rows = random_rows(seed)
    front = ParetoFront.from_store(write_rows(str(tmp_path / "s"), rows).url)
    models = brute_force_models(rows)
    best = front.budgets()
    for r in best.to_dict("records"):
        fits = [v for k, v in models.items() if k[:2] == (r["dataset"], r["mcu"])
                and (pd.isna(r["lat_budget_ms"]) or v[1] <= r["lat_budget_ms"])
                and (pd.isna(r["mem_budget_kb"]) or v[2] <= r["mem_budget_kb"] * 1024)]
        assert r["found"] == bool(fits)
        if fits:
            assert r["metric"] == pytest.approx(max(v[0] for v in fits))
            assert r["on_front"]
    points = {(r["dataset"], r["mcu"], r["lat_budget_ms"], r["mem_budget_kb"]) for r in rows}
    assert len(best) == len(points)
    by_method = front.budgets(by_method=True)
    assert set(by_method["method"].dropna()) <= set(METHODS)


def test_hypervolume_per_front_uses_the_documented_reference_point(tmp_path):
    base = {"sweep": "s", "dataset": "ucihar", "mcu": "nucleo-l552ze-q", "status": "ok",
            "lat_budget_ms": 20.0, "mem_budget_kb": 8.0}
    rows = [{**base, "trial_key": "s/a", "architecture_json": "a", "int8_macro_f1": .5,
             "latency_ms": 10.0, "peak_memory_bytes": 4096.0},
            {**base, "trial_key": "s/b", "architecture_json": "b", "int8_macro_f1": 1.0,
             "latency_ms": 20.0, "peak_memory_bytes": 8192.0}]
    front = ParetoFront.from_store(write_rows(str(tmp_path / "s"), rows).url)
    (hv,) = front.hypervolume.to_dict("records")
    # Reference: metric 0, 1.1 × max(observed, budget) = 22 ms and 1.1 × 8 KB.
    assert hv["ref_latency_ms"] == pytest.approx(22.0) and hv["ref_memory_bytes"] == pytest.approx(1.1 * 8192)
    ref_mem = 1.1 * 8192
    # Two boxes (metric × latency × memory) minus their overlap.
    union = .5 * 12 * (ref_mem - 4096) + 1.0 * 2 * (ref_mem - 8192) - .5 * 2 * (ref_mem - 8192)
    assert hv["hypervolume"] == pytest.approx(union / (1.0 * 22 * ref_mem))
    assert hv["front"] == 2 and hv["models"] == 2


def test_ram_counts_the_input_buffer_and_power_budgets_pick_by_power(tmp_path):
    base = {"sweep": "s", "dataset": "ucihar", "mcu": "nucleo-l552ze-q", "status": "ok",
            "mem_budget_kb": 64.0}
    rows = [  # a gyroscope model (more accurate, 0.7 mW) and an accelerometer one (0.2 mW)
        {**base, "trial_key": "s/gyro", "architecture_json": "g", "int8_accuracy": .97,
         "latency_ms": 20.0, "peak_memory_bytes": 4096.0, "input_buffer_bytes": 1152.0,
         "power_mw": 0.7, "lat_budget_ms": 25.0},
        {**base, "trial_key": "s/acc", "architecture_json": "a", "int8_accuracy": .90,
         "latency_ms": 5.0, "peak_memory_bytes": 1024.0, "input_buffer_bytes": 192.0,
         "power_mw": 0.2, "power_budget_mw": 0.3}]
    front = ParetoFront.from_store(write_rows(str(tmp_path / "s"), rows).url, metric="accuracy")
    assert sorted(front.models["memory_bytes"]) == [1024.0 + 192, 4096.0 + 1152]
    best = front.budgets().set_index("trial_key")
    assert best.loc["s/gyro", "lat_budget_ms"] == 25.0      # the latency point takes the best
    assert best.loc["s/acc", "power_budget_mw"] == 0.3      # the power point what stays in it


def test_empty_rows_and_unknown_metric(tmp_path):
    frame = ResultsStore(str(tmp_path / "nothing")).read()
    assert frame.empty
    front = ParetoFront(frame)
    assert front.front.empty and front.hypervolume.empty and front.budgets().empty
    with pytest.raises(InputError, match="unknown metric 'f2'"):
        ParetoFront(frame, metric="f2")


# --- the two algorithms, against brute force ---------------------------------------------------

def brute_non_dominated(costs):
    n = len(costs)
    return np.array([not any((costs[j] <= costs[i]).all() and (costs[j] < costs[i]).any()
                             for j in range(n) if j != i) for i in range(n)], bool)


def grid_hypervolume(costs, ref):
    """Union of boxes by brute force: every cell of the grid the coordinates span."""
    costs = [c for c in costs if (c < ref).all()]
    if not costs:
        return 0.0
    axes = [sorted({c[d] for c in costs} | {ref[d]}) for d in range(len(ref))]
    total = 0.0
    for cell in itertools.product(*[range(len(a) - 1) for a in axes]):
        low = np.array([axes[d][i] for d, i in enumerate(cell)])
        if any((c <= low).all() for c in costs):
            total += math.prod(axes[d][i + 1] - axes[d][i] for d, i in enumerate(cell))
    return total


@settings(max_examples=150, deadline=None)
@given(hnp.arrays(np.float64, st.tuples(st.integers(0, 40), st.integers(1, 4)),
                  elements=st.integers(0, 5).map(float)))
def test_non_dominated_matches_brute_force(costs):
    assert (non_dominated(costs) == brute_non_dominated(costs)).all()


@settings(max_examples=100, deadline=None)
@given(hnp.arrays(np.float64, st.tuples(st.integers(0, 9), st.integers(1, 4)),
                  elements=st.integers(0, 6).map(float)))
def test_hypervolume_matches_grid_brute_force(costs):
    ref = np.full(costs.shape[1], 6.5)
    assert hypervolume(costs, ref) == pytest.approx(grid_hypervolume(costs, ref))


def test_front_of_10000_models_is_fast():
    import time
    rng = np.random.default_rng(0)
    costs = rng.random((10_000, 3))
    started = time.perf_counter()
    mask = non_dominated(costs)
    assert time.perf_counter() - started < 5
    for i in rng.choice(10_000, 300, replace=False):
        dominated = ((costs <= costs[i]).all(axis=1) & (costs < costs[i]).any(axis=1)).any()
        assert mask[i] == (not dominated)


def test_every_model_carries_its_own_front_end_and_energy(tmp_path):
    """The front end and energy of a model are its best trial's, whatever order the models take
    (regression: they were once assigned by position, not by model)."""
    rows = random_rows(3, n=60)
    for r in rows:   # the front end follows the architecture, as the input shape does
        cells = json.loads(r["architecture_json"])["cells"]
        r.update(sensors="acc" if cells[0] % 2 else "acc+gyro",
                 sample_rate_hz=25.0 if cells[0] % 3 else 50.0, window_s=2.56,
                 power_mw=float(cells[0]), energy_per_inference_mj=float(cells[0]) / 10)
    front = ParetoFront(write_rows(str(tmp_path / "store"), rows).read(), metric="accuracy")
    models = front.front
    assert len(models) > 3
    for m in models.to_dict("records"):
        arch = json.loads(m["architecture_json"])["cells"][0]
        sensors = "acc" if arch % 2 else "acc+gyro"
        assert m["front_end_text"] == f"{sensors}, {25 if arch % 3 else 50} Hz, 2.56 s"
        assert m["power_mw"] == arch and m["energy_per_inference_mj"] == pytest.approx(arch / 10)
