"""`dry:` sweeps: the whole orchestration (Tune, Optuna studies, checkpoints, rows, artifacts)
with each trial's training replaced by a seeded draw from another store's real rows; the rows
are marked and never read as results."""


import pytest

from lut_store import InputError, storage
from orchestrator._spec import parse_spec
from orchestrator._store import ResultsStore
from orchestrator._sweep import Sweep
from _synthetic import dry_source


def _source(url: str, n: int = 5) -> None:
    dry_source(url, n)


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
