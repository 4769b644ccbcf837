"""A tiny but complete search on a real data set (BasicMotions: 40 + 40 recordings)."""

import json

import pytest

from lut_store import InputError
from search_core.data import load_dataset
from search_core import SearchConfig, run_search

TINY = SearchConfig(epochs=3, warmup_epochs=1, retrain_epochs=4, retrain_patience=4, batch_size=8)


@pytest.fixture(scope="module")
def basicmotions(tmp_path_factory):
    return load_dataset("basicmotions", cache_dir=tmp_path_factory.mktemp("cache"))


def test_end_to_end_fits_and_repeats(basicmotions, l552_latency, tmp_path):
    first = run_search(basicmotions, l552_latency, lat_ms=12.0, mem_kb=6.0, config=TINY,
                       out_dir=tmp_path / "a")
    r = first.result
    assert r["fits"] and r["latency_ms"] <= 12.0 and r["peak_memory_bytes"] <= 6 * 1024
    assert 0.0 <= r["test_accuracy"] <= 1.0 and 0.0 <= r["test_macro_f1"] <= 1.0
    assert len(r["search_history"]) == 3
    written = json.loads((tmp_path / "a" / "result.json").read_text())
    assert written["test_accuracy"] == r["test_accuracy"]
    assert (tmp_path / "a" / "architecture.json").read_text().strip() == first.architecture.to_json()
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == [
        "architecture.json", "derivation.json", "result.json", "run.json", "weights.pt"]
    # The same seed gives the same architecture (and the same scores) on CPU.
    second = run_search(basicmotions, l552_latency, lat_ms=12.0, mem_kb=6.0, config=TINY)
    assert second.architecture == first.architecture
    assert second.result["test_accuracy"] == r["test_accuracy"]
    # The network's path in the searched supernet is scored too (the proxy `retrain: best`
    # ranks trials by), as repeatably.
    assert set(r["proxy"]) == {"val_accuracy", "val_macro_f1", "val_neg_log_loss"}
    assert 0 <= r["proxy"]["val_accuracy"] <= 1 and r["proxy"]["val_neg_log_loss"] < 0
    assert second.result["proxy"] == r["proxy"]


def test_budget_below_the_smallest_network_fails_before_training(basicmotions, l552_latency, tmp_path):
    with pytest.raises(InputError, match="no network of the space fits.*smallest latency"):
        run_search(basicmotions, l552_latency, lat_ms=0.5, mem_kb=64, config=TINY,
                   out_dir=tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("lat, mem", [(0, 64), (-3, None), (float("nan"), 10), (10, 0)])
def test_bad_budgets(basicmotions, l552_latency, lat, mem):
    with pytest.raises(InputError, match="budget must be a positive number"):
        run_search(basicmotions, l552_latency, lat_ms=lat, mem_kb=mem, config=TINY)


def test_refuses_to_overwrite_a_foreign_folder(basicmotions, l552_latency, tmp_path):
    (tmp_path / "mine.txt").write_text("keep me")
    with pytest.raises(InputError, match="not empty"):
        run_search(basicmotions, l552_latency, lat_ms=20, mem_kb=None, config=TINY, out_dir=tmp_path)
    assert (tmp_path / "mine.txt").read_text() == "keep me"


def test_export_of_a_finished_search_is_the_priced_model(basicmotions, l552_latency, tmp_path):
    from lut_store import price_model
    from search_core.deploy import export_run
    run = run_search(basicmotions, l552_latency, lat_ms=12.0, mem_kb=6.0, config=TINY,
                     out_dir=tmp_path / "run")
    path = export_run(tmp_path / "run", basicmotions.x_train[:16])
    report = price_model(path.read_bytes(), l552_latency, source=str(path))
    assert abs(report["latency_ms"] - run.result["latency_ms"]) < 1e-9
    assert report["peak_activation_bytes"] == run.result["activation_bytes"]
    assert report["planned_arena_head_bytes"] == report["tflm_arena_head_bytes"]


def test_export_refuses_a_folder_without_a_search(tmp_path):
    from search_core.deploy import export_run
    with pytest.raises(InputError, match="not a finished search"):
        export_run(tmp_path, [])
