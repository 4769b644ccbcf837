"""A user's CSV recording (built from real UCI-HAPT recordings) through `micronas data inspect`,
`micronas search` and a sweep; `hapt12` from the command line and a spec."""

import json
import shutil

import pytest
import yaml
from _recordings import hapt_csv

from orchestrator import ResultsStore
from orchestrator._spec import parse_spec
from orchestrator.cli import main

L552 = "nucleo-l552ze-q"


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    return hapt_csv(tmp_path_factory.mktemp("rec") / "walk.csv")


def _files(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_inspect_a_csv_recording_reads_only(recording, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("MICRONAS_CACHE", str(tmp_path / "cache"))
    before = _files(recording.parent)
    assert main(["data", "inspect", str(recording), "--window", "32", "--step", "32", "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["name"] == "walk" and s["window"] == 32 and s["sample_rate_hz"] == 25.0
    assert s["channels"] == ["acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z"]
    assert s["classes"] == ["laying", "sitting", "standing", "walking"]
    subjects = [s["splits"][k]["subjects"] for k in ("train", "val", "test")]
    assert sorted(s for part in subjects for s in part) == [1, 2, 3, 4]   # each in one split
    assert "whole subject" in s["info"]["split_test"]
    assert sum(s["splits"][k]["windows"] for k in ("train", "val", "test")) > 300
    assert _files(recording.parent) == before and not (tmp_path / "cache").exists()
    # The human form names the same things.
    assert main(["data", "inspect", str(recording), "--window", "32"]) == 0
    text = capsys.readouterr().out
    assert "channels (6): acc_x" in text and "window: 32 samples, 1.28 s at 25 Hz" in text
    assert "train subjects:" in text


def test_inspect_known_names(capsys):
    assert main(["data", "inspect", "hapt12", "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["name"] == "hapt12" and s["n_classes"] == 12 and "stand_to_sit" in s["classes"]
    assert main(["data", "inspect", "ucihar", "--protocol", "subjects-0of5", "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["protocol"] == "subjects-0of5" and s["n_channels"] == 9


def test_window_does_not_apply_to_windowed_data(capsys):
    assert main(["data", "inspect", "basicmotions", "--window", "50"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "already cut into windows" in err


def test_search_on_a_csv_recording(recording, capsys, tmp_path, lut_folder):
    out = tmp_path / "run"
    code = main(["search", "--data", str(recording), "--window", "32", "--step", "32",
                 "--mcu", L552, "--lat-ms", "15", "--mem-kb", "8", "--lut", lut_folder,
                 "--out", str(out), "--epochs", "1", "--warmup-epochs", "0", "--retrain-epochs", "1",
                 "--batch-size", "32", "--skip-deploy", "--no-progress", "--json"])
    r = json.loads(capsys.readouterr().out)
    assert code == 0 and r["fits"]
    assert r["dataset"] == "walk"
    assert json.loads((out / "result.json").read_text())["dataset"] == "walk"


def test_sweep_over_a_csv_recording(recording, tmp_path, lut_folder, capsys):
    store = tmp_path / "store"
    shutil.copytree(lut_folder, store / "lut")
    spec = tmp_path / "spec.yaml"
    doc = {"name": "csv", "storage": str(store), "datasets": [str(recording)], "mcus": [L552],
           "budgets": [{"latency_ms": 15, "memory_kb": 8}],
           "data": {"window": 32, "step": 32},
           "search": {"epochs": 1, "warmup_epochs": 0, "retrain_epochs": 1, "batch_size": 32},
           "deploy": False, "resources": {"cpus_per_trial": 1, "max_concurrent_trials": 1}}
    spec.write_text(yaml.safe_dump(doc))
    assert main(["sweep", str(spec), "--quiet"]) == 0, capsys.readouterr().err
    rows = ResultsStore(str(store)).read(sweep="csv")
    assert len(rows) == 1 and set(rows["status"]) == {"ok"}, rows[["status", "reason"]]
    assert set(rows["dataset"]) == {"walk"}


def test_spec_data_section(recording, tmp_path):
    base = {"name": "t", "storage": str(tmp_path / "s"), "datasets": [str(recording)],
            "mcus": [L552], "budgets": [{"latency_ms": 15}]}
    plain = parse_spec(base)
    assert plain.window is None and plain.data_options() == {"protocol": "official"}
    cut = parse_spec({**base, "data": {"window": 64}})
    assert cut.data_options() == {"protocol": "official", "window": 64}
    assert cut.fingerprint() != plain.fingerprint()
    with pytest.raises(Exception, match="data.window: .*already cut into windows"):
        parse_spec({**base, "datasets": ["basicmotions"], "data": {"window": 64}})
    with pytest.raises(Exception, match="data.window must be an integer >= 16"):
        parse_spec({**base, "data": {"window": 8}})
    with pytest.raises(Exception, match="unknown key data.size"):
        parse_spec({**base, "data": {"size": 8}})
    twelve = parse_spec({**base, "datasets": ["hapt12", "hapt"]})
    assert sorted({p.label for p in twelve.points()}) == ["hapt", "hapt12"]
