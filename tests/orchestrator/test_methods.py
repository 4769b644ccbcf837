"""Baselines in a sweep: `darts` (no hardware loss, no repair) derives a network over a tight
budget; its row records the violation and it is neither retrained nor deployed. At a loose budget
the same method runs the whole pipeline."""

import json
import shutil

from lut_store import storage
from orchestrator._spec import parse_spec
from orchestrator._store import ResultsStore
from orchestrator._sweep import Sweep


def test_darts_over_the_budget_is_recorded_not_delivered(tmp_path, lut_folder):
    store = tmp_path / "store"
    shutil.copytree(lut_folder, store / "lut")
    spec = parse_spec({
        "name": "darts", "storage": str(store), "datasets": ["basicmotions"],
        "mcus": ["nucleo-l552ze-q"], "method": "darts",
        # 6 ms / 2.6 KB (2 KB for the arena beside the 600 B input buffer) is just above the
        # cheapest network: DARTS's pick exceeds it; 200 ms fits all.
        "budgets": [{"latency_ms": 6, "memory_kb": 2.6}, {"latency_ms": 200}],
        "search": {"epochs": 2, "warmup_epochs": 1, "retrain_epochs": 2}, "deploy": False,
        "resources": {"cpus_per_trial": 1, "max_concurrent_trials": 2}})
    Sweep(spec).run(verbose=0, say=lambda line: None)
    rows = ResultsStore(str(store)).read(sweep="darts").set_index("lat_budget_ms")
    assert set(rows["method"]) == {"darts"}

    over = rows.loc[6.0]
    assert over["status"] == "over_budget" and not over["fits"] and not over["search_fits"]
    assert over["reason"].startswith("over the budget:") and over["latency_ms"] > 6
    assert over["constraint"] > 0 and over["search_s"] > 0
    assert 0 < over["search_cpu_s"] <= over["search_s"] * 1.5   # one thread: CPU ≈ wall
    assert over["retrain_s"] != over["retrain_s"] and over["test_accuracy"] != over["test_accuracy"]
    assert json.loads(over["architecture_json"])["format"] == "micronas-architecture"
    names = {u.rsplit("/", 1)[-1] for u in storage.list_files(over["artifacts"], "")}
    assert "derivation.json" in names and "weights.pt" not in names

    loose = rows.loc[200.0]
    assert loose["status"] == "ok" and loose["fits"] and loose["test_accuracy"] > 0
    assert loose["search_cpu_s"] > 0 and loose["retrain_cpu_s"] > 0
