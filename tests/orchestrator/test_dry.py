"""`dry:` sweeps: the whole orchestration (Tune, Optuna studies, checkpoints, rows, artifacts)
with each trial's training replaced by a seeded draw from another store's real rows; the rows
are marked and never read as results."""

from datetime import UTC, datetime

import pytest

from lut_store import InputError, storage
from orchestrator._spec import parse_spec
from orchestrator._store import ResultsStore
from orchestrator._sweep import Sweep


def _source(url: str, n: int = 5) -> None:
    store = ResultsStore(url)
    now = datetime.now(UTC)
    for i in range(n):
        store.write({"trial_key": f"real/{i}", "sweep": "real", "method": "micronas",
                     "status": "ok", "dataset": "basicmotions", "mcu": "nucleo-l552ze-q",
                     "lat_budget_ms": 20.0, "mem_budget_kb": 16.0, "seed": 0,
                     "architecture_json": "{}", "search_latency_ms": 5.0 + i,
                     "search_memory_bytes": 4096.0, "latency_ms": 5.0 + i,
                     "peak_memory_bytes": 4096.0, "fits": True, "val_accuracy": 0.5 + i / 20,
                     "val_neg_log_loss": -1.0 + i / 10, "test_accuracy": 0.6 + i / 20,
                     "int8_accuracy": 0.6 + i / 20, "verified_latency_ms": 5.0 + i,
                     "verified_memory_bytes": 4096.0, "finished_at": now})


def test_dry_sweep_runs_the_orchestration_and_marks_its_rows(tmp_path, lut_folder):
    source, store = str(tmp_path / "real"), str(tmp_path / "dry")
    _source(source)
    from lut_store import Lut
    Lut.read(lut_folder, "nucleo-l552ze-q").write(f"{store}/lut")
    spec = parse_spec({
        "name": "dry", "storage": store, "dry": source, "datasets": ["basicmotions"],
        "mcus": ["nucleo-l552ze-q"], "budgets": {"latency_ms": [10, 15, 20], "memory_kb": [16]},
        "resources": {"cpus_per_trial": 0.5, "max_concurrent_trials": 4},
        "optuna": {"trials_per_point": 4, "startup_trials": 2}})
    summary = Sweep(spec).run(verbose=0, say=lambda line: None)
    assert summary["rows"] == 0                       # dry rows are not results ...
    rows = ResultsStore(store).read(dry=True)         # ... unless asked for
    assert len(rows) == 12 and rows["trial_key"].is_unique and rows["dry"].all()
    assert set(rows["status"]) == {"ok"} and rows.groupby("point").size().eq(4).all()
    # Figures drawn from the source, budgets and points the trial's own.
    assert set(rows["search_latency_ms"]) <= {5.0, 6.0, 7.0, 8.0, 9.0}
    assert sorted(rows["lat_budget_ms"].unique()) == [10.0, 15.0, 20.0]
    assert storage.exists(storage.join(rows["artifacts"].iloc[0], "dry.json"))
    # Optuna saw every trial, with the drawn objective.
    assert all(s["complete"] == 4 for s in summary["studies"].values())


def test_dry_needs_a_store_with_finished_rows(tmp_path):
    with pytest.raises(InputError, match="dry must be the URL"):
        parse_spec({"name": "d", "datasets": ["basicmotions"], "mcus": ["nucleo-l552ze-q"],
                    "budgets": {"latency_ms": [10]}, "dry": ""})
