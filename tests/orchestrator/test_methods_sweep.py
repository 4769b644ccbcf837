"""Several methods in one sweep: `methods: [micronas, darts, random]` runs every method on the
same grid, data, split and seeds; Optuna tunes (and `sharing: supernet` shares) the micronas
points only, a baseline's point is one trial; micronas points keep their key and a spec without
`methods` its fingerprint, so existing stores resume as before. One sweep, three fronts."""

import json
import shutil
from datetime import UTC, datetime

import pytest

from lut_store import InputError
from orchestrator._pareto import ParetoFront
from orchestrator._spec import parse_spec, search_config
from orchestrator._store import ResultsStore
from orchestrator._sweep import Sweep
from orchestrator.cli import main

GOOD = {"name": "t", "storage": "/tmp/micronas-fingerprint-store", "datasets": ["basicmotions"],
        "mcus": ["nucleo-l552ze-q"], "budgets": {"latency_ms": [12, 20], "memory_kb": [6]}}
THREE = ["micronas", "darts", "random"]


# --- the spec ---------------------------------------------------------------------------------

def test_methods_list_and_the_one_method_form():
    spec = parse_spec({**GOOD, "methods": THREE})
    assert spec.methods == tuple(THREE)
    assert parse_spec(GOOD).methods == ("micronas",)
    assert parse_spec({**GOOD, "method": "darts"}).methods == ("darts",)
    assert parse_spec({**GOOD, "methods": "random"}).methods == ("random",)


@pytest.mark.parametrize("change, message", [
    ({"method": "darts", "methods": ["darts"]}, "method and methods are both set"),
    ({"methods": []}, "methods must be a non-empty list"),
    ({"methods": ["micronas", "enas"]}, "methods: unknown method 'enas' .known: micronas, darts, random"),
    ({"methods": ["darts", "darts"]}, "methods: duplicates"),
    ({"method": "enas"}, "method must be one of micronas, darts, random, got 'enas'"),
    # Without micronas there is nothing to tune or share (the one-method messages as before).
    ({"method": "darts", "optuna": {}}, "method darts has no hardware-loss weights to tune"),
    ({"methods": ["darts", "random"], "optuna": {}},
     "methods darts, random: no hardware-loss weights to tune"),
    ({"method": "random", "sharing": "supernet"}, "method random does not search on a shared"),
    ({"methods": ["darts", "random"], "sharing": "supernet"},
     "methods darts, random: no shared supernet"),
    ({"methods": THREE, "sharing": "supernet", "search": {"retrain_from": "inherited"}},
     "search.retrain_from: inherited needs the shared supernet"),
])
def test_bad_methods_are_one_line_naming_the_key(change, message):
    with pytest.raises(InputError, match=message) as info:
        parse_spec({**GOOD, **change}, source="spec.yaml")
    assert str(info.value).startswith("spec.yaml: ") and "\n" not in str(info.value)


def test_optuna_and_sharing_apply_to_the_micronas_points():
    spec = parse_spec({**GOOD, "methods": THREE, "optuna": {"trials_per_point": 3},
                       "sharing": "supernet"})
    points = spec.points()
    assert [spec.trials_at(p) for p in points] == [3, 3, 1, 1, 1, 1]
    assert spec.trial_count(points) == 10
    assert [p.method for p in points if spec.tuned(p)] == ["micronas", "micronas"]
    assert spec.shares("micronas") and not spec.shares("darts") and not spec.shares("random")
    # Retraining starts from fresh weights under sharing too (inherited ones measured worse).
    assert search_config(spec, 0, {}, "micronas").retrain_from == "scratch"
    assert search_config(spec, 0, {}, "darts").retrain_from == "scratch"
    one = parse_spec({**GOOD, "sharing": "supernet", "search": {"retrain_from": "inherited"}})
    assert search_config(one, 0, {}).retrain_from == "inherited"


def test_the_point_list_keeps_micronas_keys():
    classic = parse_spec(GOOD).points()
    spec = parse_spec({**GOOD, "methods": THREE})
    points = spec.points()
    assert len(points) == 6 and [p.method for p in points] == ["micronas"] * 2 + ["darts"] * 2 \
        + ["random"] * 2
    # The same grid, data and seeds for every method.
    assert {(p.dataset, p.mcu, p.latency_ms, p.memory_kb, p.seed) for p in points} == \
        {(p.dataset, p.mcu, p.latency_ms, p.memory_kb, p.seed) for p in classic}
    keys = [p.key for p in points]
    assert keys[:2] == [p.key for p in classic] == ["basicmotions-nucleo-l552ze-q-12ms-6kb-seed0",
                                                     "basicmotions-nucleo-l552ze-q-20ms-6kb-seed0"]
    assert keys[2:4] == [k + "-darts" for k in keys[:2]] and len(set(keys)) == 6


# Fingerprints of these specs as computed before sweeps held several methods: a spec that does
# not use `methods` (or lists one) must resume the sweeps it started then.
PINNED = [
    ({}, "ec4ba370cb5e3648"),
    ({"method": "darts"}, "dba6d5e70ccde11d"),
    ({"methods": ["darts"]}, "dba6d5e70ccde11d"),
    ({"method": "micronas", "optuna": {"trials_per_point": 2}, "sharing": "supernet"},
     "70a04c62481a8172"),
    ({"methods": ["micronas"], "optuna": {"trials_per_point": 2}, "sharing": "supernet"},
     "70a04c62481a8172"),
    ({"method": "random", "seeds": [0, 1], "deploy": False}, "75df7e17f3ef3e52"),
]


@pytest.mark.parametrize("change, fingerprint", PINNED)
def test_a_one_method_spec_keeps_its_fingerprint(change, fingerprint):
    assert parse_spec({**GOOD, **change}).fingerprint() == fingerprint


def test_several_methods_fingerprint_apart():
    three = parse_spec({**GOOD, "methods": THREE}).fingerprint()
    assert three not in {f for _, f in PINNED}
    assert parse_spec({**GOOD, "methods": ["darts", "micronas"]}).fingerprint() != three


def test_the_searcher_tunes_micronas_points_and_runs_baselines_once():
    from orchestrator._optuna import PointSearcher

    spec = parse_spec({**GOOD, "methods": THREE, "optuna": {"trials_per_point": 2}})
    points = spec.points()
    searcher = PointSearcher([{**p.to_dict(), "key": p.key} for p in points],
                             spec.trials_per_point, spec.optuna,
                             tuned={p.key for p in points if spec.tuned(p)})
    assert set(searcher.studies()) == {p.key for p in points if p.method == "micronas"}
    given = [searcher.suggest(f"t{i}") for i in range(spec.trial_count(points))]
    assert searcher.suggest("one-more") == PointSearcher.FINISHED
    by_method = {}
    for s in given:
        by_method.setdefault(s["point"]["method"], []).append(s)
    assert {m: len(v) for m, v in by_method.items()} == {"micronas": 4, "darts": 2, "random": 2}
    assert all(s["params"] and s["optuna_trial"] >= 0 for s in by_method["micronas"])
    assert all(not s["params"] and s["optuna_trial"] == -1
               for m in ("darts", "random") for s in by_method[m])


# --- one sweep, three methods -----------------------------------------------------------------

def _source(url: str) -> None:
    """Real-looking finished rows of each method, told apart by their search latency."""
    store = ResultsStore(url)
    now = datetime.now(UTC)
    for m, method in enumerate(THREE):
        for i in range(3):
            lat = 10.0 * (m + 1) + i
            store.write({"trial_key": f"real/{method}{i}", "sweep": "real", "method": method,
                         "status": "ok", "dataset": "basicmotions", "mcu": "nucleo-l552ze-q",
                         "lat_budget_ms": 40.0, "mem_budget_kb": 16.0, "seed": 0,
                         "architecture_json": json.dumps({"m": method, "i": i}),
                         "search_latency_ms": lat, "search_memory_bytes": 4096.0 - 100 * i,
                         "latency_ms": lat, "peak_memory_bytes": 4096.0 - 100 * i, "fits": True,
                         "val_accuracy": 0.5 + i / 20, "val_neg_log_loss": -1.0 + i / 10,
                         "test_accuracy": 0.6 + i / 20, "test_macro_f1": 0.6 + i / 20,
                         "int8_accuracy": 0.6 + i / 20, "int8_macro_f1": 0.6 + i / 20,
                         "verified_latency_ms": lat, "verified_memory_bytes": 4096.0 - 100 * i,
                         "finished_at": now})


def test_one_dry_sweep_with_three_methods_writes_rows_for_each_and_three_fronts(tmp_path,
                                                                                lut_folder):
    source, store = str(tmp_path / "real"), str(tmp_path / "dry")
    _source(source)
    shutil.copytree(lut_folder, f"{store}/lut")
    spec = parse_spec({
        "name": "three", "storage": store, "dry": source, "datasets": ["basicmotions"],
        "mcus": ["nucleo-l552ze-q"], "budgets": {"latency_ms": [40], "memory_kb": [16]},
        "methods": THREE, "resources": {"cpus_per_trial": 0.5, "max_concurrent_trials": 4},
        "optuna": {"trials_per_point": 2, "startup_trials": 1}})
    summary = Sweep(spec).run(verbose=0, say=lambda line: None)
    rows = ResultsStore(store).read(dry=True)
    assert rows["trial_key"].is_unique and set(rows["status"]) == {"ok"}
    assert rows.groupby("method").size().to_dict() == {"micronas": 2, "darts": 1, "random": 1}
    # Each trial drew its own method's figures, and its point names the method.
    for method, frame in rows.groupby("method"):
        m = THREE.index(method)
        assert set(frame["search_latency_ms"]) <= {10.0 * (m + 1) + i for i in range(3)}
        assert frame["point"].str.endswith("" if method == "micronas" else f"-{method}").all()
    assert set(rows.loc[rows["method"] != "micronas", "optuna_trial"]) == {-1}
    # Optuna studies for the micronas points only.
    assert set(summary["studies"]) == set(rows.loc[rows["method"] == "micronas", "point"])
    assert all(s["complete"] == 2 for s in summary["studies"].values())
    front = ParetoFront(rows)
    assert sorted(front.hypervolume["method"]) == sorted(THREE)
    assert set(front.front["method"]) == set(THREE)


def test_a_real_sweep_with_three_methods_and_its_report(tmp_path, lut_folder, capsys):
    """The whole pipeline (tiny epochs, no deployment) for each method in one sweep; the
    report draws one front per method."""
    store = tmp_path / "store"
    shutil.copytree(lut_folder, store / "lut")
    spec = parse_spec({
        "name": "three", "storage": str(store), "datasets": ["basicmotions"],
        "mcus": ["nucleo-l552ze-q"], "budgets": [{"latency_ms": 200}], "methods": THREE,
        "search": {"epochs": 1, "warmup_epochs": 0, "retrain_epochs": 1}, "deploy": False,
        "resources": {"cpus_per_trial": 1, "max_concurrent_trials": 2}})
    Sweep(spec).run(verbose=0, say=lambda line: None)
    rows = ResultsStore(str(store)).read(sweep="three")
    assert sorted(rows["method"]) == sorted(THREE) and set(rows["status"]) == {"ok"}
    assert rows["point"].nunique() == 3
    capsys.readouterr()
    assert main(["report", "--storage", str(store), "--out", str(tmp_path / "report"),
                 "--json"]) == 0
    fronts = json.loads(capsys.readouterr().out)["fronts"]
    assert sorted(f["method"] for f in fronts) == sorted(THREE)
    assert all(f["front"] >= 1 for f in fronts)


@pytest.mark.slow
def test_sharing_applies_to_the_micronas_points(tmp_path, lut_folder):
    """`sharing: supernet` with three methods: micronas searches on the shared supernet and
    shares its retrained networks; darts and random search and retrain as without sharing."""
    store = tmp_path / "store"
    shutil.copytree(lut_folder, store / "lut")
    spec = parse_spec({
        "name": "share", "storage": str(store), "datasets": ["basicmotions"],
        "mcus": ["nucleo-l552ze-q"], "budgets": [{"latency_ms": 200}], "methods": THREE,
        "sharing": "supernet",
        "search": {"epochs": 1, "warmup_epochs": 0, "retrain_epochs": 1, "shared_epochs": 1,
                   "shared_search_epochs": 1, "inherited_retrain_epochs": 1},
        "deploy": False, "resources": {"cpus_per_trial": 1, "max_concurrent_trials": 2}})
    summary = Sweep(spec).run(verbose=0, say=lambda line: None)
    assert len(summary["shared"]) == 1
    rows = ResultsStore(str(store)).read(sweep="share").set_index("method")
    assert set(rows["status"]) == {"ok"}
    assert rows["shared_key"].notna().to_dict() == {"micronas": True, "darts": False,
                                                     "random": False}
    retrain = {m: json.loads(c)["search"]["retrain_from"] for m, c in rows["config_json"].items()}
    assert retrain == {"micronas": "scratch", "darts": "scratch", "random": "scratch"}
    assert rows["network_key"].notna().to_dict() == {"micronas": True, "darts": False,
                                                      "random": False}
    fronts = ParetoFront(rows.reset_index()).hypervolume["method"]
    assert sorted(fronts) == ["darts", "micronas+shared", "random"]
