"""The same sweep twice, with the same seeds, on CPU: the same Optuna parameters, the same
architectures and the same metrics, float and int8 (real local Ray, real data, the whole pipeline
including TFLite conversion and the TFLM interpreter). Each row says what it ran on."""

import json
import shutil

from orchestrator._spec import parse_spec
from orchestrator._store import ResultsStore
from orchestrator._sweep import Sweep

SAME = ["latency_over", "architecture_json", "search_latency_ms", "latency_ms",
        "peak_memory_bytes", "val_accuracy", "test_accuracy", "test_macro_f1", "int8_accuracy",
        "int8_macro_f1", "max_lsb", "verified_latency_ms", "verified_memory_bytes", "status"]


def _run(store, name: str):
    spec = parse_spec({
        "name": name, "storage": str(store), "datasets": ["basicmotions"],
        "mcus": ["nucleo-l552ze-q"], "budgets": [{"latency_ms": 11}, {"latency_ms": 14}],
        "seeds": [3], "search": {"epochs": 3, "warmup_epochs": 1, "retrain_epochs": 3},
        "deploy": {"qat_epochs": 0, "calibration_windows": 32, "max_accuracy_drop": 100},
        "optuna": {"trials_per_point": 2, "startup_trials": 2, "seed": 5,
                   "space": {"latency_over": [1e-6, 1e-2, "log"]}},
        "resources": {"cpus_per_trial": 1, "max_concurrent_trials": 2}})
    Sweep(spec).run(verbose=0, say=lambda line: None)
    rows = ResultsStore(str(store)).read(sweep=name)
    return rows.set_index(["point", "optuna_trial"]).sort_index()


def test_same_sweep_same_seeds_same_results(tmp_path, lut_folder):
    store = tmp_path / "store"
    shutil.copytree(lut_folder, store / "lut")
    first, second = _run(store, "once"), _run(store, "twice")

    assert len(first) == len(second) == 4 and list(first.index) == list(second.index)
    assert set(first["status"]) == {"ok"}
    for column in SAME:
        assert list(first[column]) == list(second[column]), column
    assert first["latency_over"].nunique() > 1         # Optuna did vary the weights

    versions = json.loads(first["versions_json"].iloc[0])
    for package in ("python", "torch", "numpy", "tensorflow", "tflite_micro", "ray", "optuna",
                    "micronas", "data_sha256"):
        assert versions.get(package), package
    assert first["lut_hash"].str.len().gt(0).all() and first["config_json"].str.len().gt(0).all()
    assert (first["seed"] == 3).all()

