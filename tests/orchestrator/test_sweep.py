"""A real sweep: local Ray, a real S3 server process on loopback, real data (BasicMotions), the
whole pipeline per trial (search → derive → retrain → int8 → TFLM verification → store)."""

import pandas as pd
import pytest

from lut_store import storage
from orchestrator._spec import parse_spec
from orchestrator._store import ResultsStore
from orchestrator._sweep import Sweep

pytestmark = pytest.mark.s3


def _spec(storage_url: str, **extra) -> dict:
    return {
        "name": "bm", "storage": storage_url,
        "datasets": ["basicmotions"], "mcus": ["nucleo-l552ze-q"],
        # 11 ms / 6 KB binds on this data (the cheapest network costs 5.5 ms); 1 ms fits nothing.
        "budgets": [{"latency_ms": 11, "memory_kb": 6}, {"latency_ms": 1, "memory_kb": 6}],
        "seeds": [0],
        # BasicMotions has 2 training batches an epoch: an architecture step after each (not
        # every 4th) gives this short DNAS enough steps to overshoot a budget.
        "search": {"epochs": 3, "warmup_epochs": 1, "retrain_epochs": 2, "retrain_patience": 2,
                   "arch_every": 1},
        # Two retraining epochs leave a weak float model; the accuracy gate is tested elsewhere.
        "deploy": {"qat_epochs": 0, "calibration_windows": 32, "max_accuracy_drop": 100},
        "resources": {"cpus_per_trial": 1, "max_concurrent_trials": 2},
        # Latency weights below ~3e-4 let this short DNAS overshoot 11 ms; above, it holds the
        # budget. The seeded startup samples (1.6e-4, 7.3e-4, 2.6e-4) give Optuna both kinds.
        "optuna": {"trials_per_point": 3, "startup_trials": 3, "seed": 0,
                   "space": {"latency_over": [1e-6, 1e-2, "log"]}},
        "max_failures": 1, **extra}


@pytest.fixture
def s3_store(s3_bucket, l552_lut):
    url = f"s3://{s3_bucket}/team/sweeps"
    l552_lut.write(f"{url}/lut")           # the LUTs are read from the same store
    return url


def test_sweep_on_s3_with_local_ray(s3_store, s3_endpoint, tmp_path, monkeypatch):
    marker = tmp_path / "fault"
    monkeypatch.setenv("MICRONAS_TEST_FAIL_AFTER", f"retrain:{marker}")
    spec = parse_spec(_spec(s3_store))
    sweep = Sweep(spec)
    plan = sweep.check()
    assert [p.latency_ms for p in plan.runnable] == [11.0]
    assert [p.latency_ms for p, _ in plan.infeasible] == [1.0]

    summary = sweep.run(plan, verbose=0, say=lambda line: None)

    rows = ResultsStore(s3_store).read(sweep="bm")
    # Rows = trials: 3 Optuna trials for the feasible point, one 'infeasible' row for the other.
    assert len(rows) == 4 and rows["trial_key"].is_unique
    assert (rows["status"] == "infeasible").sum() == 1
    trials = rows[rows["status"] != "infeasible"]
    assert set(trials["status"]) == {"ok"}, trials[["status", "reason"]]
    assert sorted(trials["optuna_trial"]) == [0, 1, 2]
    assert trials["fits"].all() and (trials["latency_ms"] <= 11).all()
    assert (trials["peak_memory_bytes"] <= 6 * 1024).all()
    assert trials["int8_accuracy"].notna().all() and (trials["max_lsb"] <= 1).all()
    # One truth for memory: the verified arena head on the board is the search's peak memory.
    assert (trials["verified_memory_bytes"] == trials["peak_memory_bytes"]).all()
    assert trials["node_id"].str.len().gt(0).all()

    # The injected fault hit one trial right after retraining: Tune retried it from its
    # checkpoint, so it resumed at the deploy stage instead of searching again, and its row is
    # there exactly once.
    assert marker.exists()
    assert list(trials["resumed_from"]).count("deploy") == 1
    assert list(trials["resumed_from"]).count("") == 2

    # Artifacts next to the rows, in the same object store.
    for url in trials["artifacts"]:
        names = {u.rsplit("/", 1)[-1] for u in storage.list_files(url, "")}
        assert {"architecture.json", "result.json", "model.tflite", "model_data.c",
                "model_data.h", "model.json", "weights.pt"} <= names
        assert "state.json" not in names

    # Plain pandas reads the partitioned table straight from S3.
    table = pd.read_parquet(f"{s3_store}/results",
                            storage_options={"client_kwargs": {"endpoint_url": s3_endpoint}})
    assert len(table) == 4 and set(table["mcu"].astype(str)) == {"nucleo-l552ze-q"}

    # Optuna received the constraint: DNAS runs that overshot the budget on their own are
    # infeasible in the study, and the best trial reported for the point is a feasible one.
    study = summary["studies"]["basicmotions-nucleo-l552ze-q-11ms-6kb-seed0"]
    assert study["complete"] == 3
    assert study["infeasible"] >= 1
    best_key = summary["best"]["basicmotions-nucleo-l552ze-q-11ms-6kb-seed0"]
    best = trials[trials["trial_key"] == best_key].iloc[0]
    assert best["constraint"] <= 0 and best["search_fits"]
    assert best["optuna_trial"] == study["best_number"]
    infeasible = trials[trials["constraint"] > 0]
    assert len(infeasible) == study["infeasible"] and not infeasible["search_fits"].any()

    # Running the finished sweep again resumes it: nothing is re-run, no row is added.
    again = Sweep(parse_spec(_spec(s3_store))).run(verbose=0, say=lambda line: None)
    assert again["rows"] == 4
    reread = ResultsStore(s3_store).read(sweep="bm")
    assert list(reread["finished_at"]) == list(rows["finished_at"])

    # The report of this real sweep: its fronts are the brute-force non-dominated sets.
    from test_pareto import brute_force_front, brute_force_models, front_keys

    from orchestrator import ParetoFront
    from orchestrator._report import build_report

    summary = build_report(s3_store, str(tmp_path / "report"), sweep="bm")
    assert (tmp_path / "report" / "index.html").is_file()
    assert summary["rows"] == 4
    records = [{k: (None if pd.isna(v) else v) for k, v in r.items()}
               for r in reread.to_dict(orient="records")]
    for metric in ("macro_f1", "accuracy"):
        front = ParetoFront(reread, metric=metric)
        assert front_keys(front) == brute_force_front(brute_force_models(records, metric))
        assert len(front.front) >= 1
    assert "1 ms" in (tmp_path / "report" / "index.html").read_text() or \
        "infeasible" in (tmp_path / "report" / "index.html").read_text()

    # Credentials never land in results, artifacts, Tune's state, studies or the report.
    import s3fs
    from _s3 import SECRET
    fs = s3fs.S3FileSystem()
    stored = fs.find(s3_store.removeprefix("s3://"))
    assert len(stored) > 20
    for key in stored:
        assert SECRET.encode() not in fs.cat_file(key), key
    for path in (tmp_path / "report").rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path
