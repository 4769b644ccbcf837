import json

import pytest

from orchestrator.cli import main


def test_search_cli_writes_results(capsys, tmp_path, lut_folder):
    out = tmp_path / "run"
    code = main(["search", "--dataset", "basicmotions", "--mcu", "nucleo-l552ze-q", "--lat-ms", "15",
                 "--mem-kb", "8", "--lut", lut_folder, "--out", str(out), "--epochs", "2",
                 "--retrain-epochs", "2", "--batch-size", "8", "--no-progress", "--json"])
    r = json.loads(capsys.readouterr().out)
    # Two retraining epochs may leave the int8 model more than 1.5 points below the float one:
    # then the deployment gate fails and the exit code says so (results are written either way).
    assert code == (0 if r["deploy"]["status"] == "passed" else 1)
    for key in ("budget", "architecture", "latency_ms", "peak_memory_bytes", "expected_latency_ms",
                "expected_memory_bytes", "test_accuracy", "test_macro_f1", "timings", "versions",
                "seed", "lut_hash"):
        assert key in r
    assert r["fits"] and r["latency_ms"] <= 15 and r["peak_memory_bytes"] <= 8 * 1024
    assert json.loads((out / "result.json").read_text())["seed"] == 0


@pytest.mark.parametrize("args, message", [
    (["--mcu", "no-board", "--lat-ms", "20"], "unknown MCU 'no-board'"),
    (["--mcu", "nucleo-l552ze-q"], "at least one budget"),
    (["--mcu", "nucleo-l552ze-q", "--lat-ms", "-1"], "expected a positive number"),
    (["--mcu", "nucleo-l552ze-q", "--lat-ms", "0.2"], "no network of the space fits"),
])
def test_search_bad_input(capsys, tmp_path, lut_folder, args, message):
    out = tmp_path / "run"
    code = main(["search", "--dataset", "basicmotions", "--lut", lut_folder, "--out", str(out),
                 "--no-progress", *args])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1
    assert not out.exists()


def test_search_unknown_dataset_and_missing_lut(capsys, tmp_path, lut_folder, monkeypatch):
    monkeypatch.delenv("MICRONAS_LUT", raising=False)
    assert main(["search", "--dataset", "nope", "--mcu", "nucleo-l552ze-q", "--lat-ms", "20",
                 "--lut", lut_folder, "--out", str(tmp_path / "o")]) == 2
    assert "nope" in capsys.readouterr().err
    assert main(["search", "--dataset", "basicmotions", "--mcu", "nucleo-l552ze-q", "--lat-ms", "20",
                 "--out", str(tmp_path / "o")]) == 2
    assert "no LUT" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
