"""`retrain: best`: a point's Optuna trials end after their search, scored by their network's path
in the searched supernet, and only the best of them is retrained and deployed — on local Ray, real
data (BasicMotions), the whole pipeline for that one network. Plus the spec's checks and the
choice of the trial to retrain."""

import json

import pandas as pd
import pytest

from lut_store import InputError, storage
from orchestrator._spec import parse_spec
from orchestrator._store import ResultsStore
from orchestrator._sweep import Sweep, best_searched


def _doc(store: str, **extra) -> dict:
    return {
        "name": "best", "storage": store, "datasets": ["basicmotions"],
        "mcus": ["nucleo-l552ze-q"], "budgets": [{"latency_ms": 11, "memory_kb": 6}],
        "seeds": [0], "sharing": "supernet", "retrain": "best",
        "search": {"shared_epochs": 3, "shared_search_epochs": 2, "arch_every": 1,
                   "retrain_epochs": 2, "retrain_patience": 2},
        "deploy": {"qat_epochs": 0, "calibration_windows": 32, "max_accuracy_drop": 100},
        "resources": {"cpus_per_trial": 1, "max_concurrent_trials": 2},
        # Seeded startup samples on both sides of where this short DNAS holds 11 ms (see
        # test_sweep.py): the trials derive different networks.
        "optuna": {"trials_per_point": 3, "startup_trials": 3, "seed": 0,
                   "space": {"latency_over": [1e-6, 1e-2, "log"]}},
        "max_failures": 1, **extra}


def test_only_each_points_best_trial_by_its_proxy_is_retrained(l552_lut, tmp_path, monkeypatch):
    store = str(tmp_path / "store")
    l552_lut.write(f"{store}/lut")
    # The retraining of the best fails once after its retrain stage: retried, as a trial is.
    marker = tmp_path / "fault"
    monkeypatch.setenv("MICRONAS_TEST_FAIL_AFTER", f"retrain:{marker}")
    lines = []
    summary = Sweep(parse_spec(_doc(store))).run(verbose=0, say=lines.append)
    assert marker.exists()

    rows = ResultsStore(store).read(sweep="best")
    searched = rows[rows["status"] == "searched"]
    delivered = rows[rows["status"] == "ok"]
    assert len(searched) == 3 and len(delivered) == 1, rows[["status", "reason"]]
    # The searched trials were scored on the supernet, and neither retrained nor deployed.
    assert searched["proxy_val_neg_log_loss"].notna().all()
    assert searched["search_cpu_s"].gt(0).all()
    assert searched[["retrain_cpu_s", "deploy_cpu_s", "int8_accuracy"]].isna().all().all()
    assert not any(storage.exists(storage.join(a, "weights.pt")) for a in searched["artifacts"])
    # The delivered row retrains the one best_searched picks, its network and its settings.
    best = delivered.iloc[0]
    pick = best_searched(rows, "val_neg_log_loss")
    assert best["trial_key"] == "best/best-" + best["point"]
    assert best["retrained_from"] == pick["trial_key"]
    assert best["architecture_json"] == pick["architecture_json"]
    assert best["optuna_trial"] == pick["optuna_trial"]
    assert json.loads(best["config_json"])["tuned"] == json.loads(pick["config_json"])["tuned"]
    assert best["int8_accuracy"] == best["int8_accuracy"] and best["retrain_cpu_s"] > 0
    assert pd.isna(best["search_cpu_s"])   # counted once, in the searched row
    assert summary["best"][best["point"]] == best["trial_key"]
    # Optuna maximised the proxy: its study's values are the searched rows' proxies.
    (study,) = summary["studies"].values()
    assert study["complete"] == 3
    if study["best_value"] is not None:
        feasible = searched[searched["constraint"] <= 0]
        assert study["best_value"] == pytest.approx(feasible["proxy_val_neg_log_loss"].max())
    assert any(line.startswith("retrained best of") for line in lines)

    # Run again: nothing is searched or retrained twice.
    again = Sweep(parse_spec(_doc(store))).run(verbose=0, say=lambda line: None)
    assert again["rows"] == len(rows)
    assert ResultsStore(store).read(sweep="best")["finished_at"].max() == rows["finished_at"].max()


def test_best_searched_prefers_feasible_then_the_proxy_then_the_earliest_trial():
    rows = pd.DataFrame({
        "trial_key": list("abcde"), "status": ["searched"] * 4 + ["ok"],
        "constraint": [0.2, -0.1, -0.3, -0.3, -1.0],
        "proxy_val_neg_log_loss": [-0.1, -0.5, -0.4, -0.4, -0.01],
        "optuna_trial": [0, 1, 3, 2, 0]})
    assert best_searched(rows, "val_neg_log_loss")["trial_key"] == "d"
    assert best_searched(rows[rows["trial_key"].isin(["a", "e"])],
                         "val_neg_log_loss")["trial_key"] == "a"   # infeasible beats none
    assert best_searched(rows[rows["trial_key"] == "e"], "val_neg_log_loss") is None


@pytest.mark.parametrize("extra, message", [
    ({"retrain": "some"}, "retrain must be one of every, best"),
    ({"method": "darts", "sharing": "none", "optuna": None},
     "retrain: best chooses among a micronas point's trials"),
    ({"dry": "runs/other/store"}, "a dry: sweep does not run"),
])
def test_bad_retrain_settings_are_one_line(tmp_path, extra, message):
    doc = {k: v for k, v in {**_doc(str(tmp_path / "s")), **extra}.items() if v is not None}
    with pytest.raises(InputError, match=message) as err:
        parse_spec(doc)
    assert "\n" not in str(err.value)


def test_the_default_leaves_every_earlier_fingerprint_as_it_was(tmp_path):
    doc = {k: v for k, v in _doc(str(tmp_path / "s")).items() if k != "retrain"}
    assert parse_spec(doc).retrain == "every"
    assert parse_spec({**doc, "retrain": "every"}).fingerprint() == parse_spec(doc).fingerprint()
    assert parse_spec({**doc, "retrain": "best"}).fingerprint() != parse_spec(doc).fingerprint()
