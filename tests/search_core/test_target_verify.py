"""`micronas verify --target` on an int8 model this project did not export, the one-line refusals
(no toolchain, no TFLM tree) and the spec's `deploy: {target: ...}`. The exported model's checks
and the deployment stage's target step are in test_deploy.py (they reuse its deployed fixture).

The on-target tests need the Arm cross toolchain, qemu-system-arm (`make toolchain`) and the TFLM
tree in ../shared/tflm/tree; without them they are skipped with the reason.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from _target import CORES, ROOT, TFLM_TREE, missing_target, needs_target  # noqa: F401


@pytest.fixture(scope="module")
def foreign_model(tmp_path_factory) -> Path:
    """An int8 model made straight with TensorFlow's converter (not by this project's export)."""
    pytest.importorskip("tf_keras")
    import sys
    sys.path.insert(0, str(ROOT / "tests" / "lut_store"))
    import _tf_models

    spec = next(s for s in _tf_models.MODEL_SPECS if s.name == "small_input")
    path = tmp_path_factory.mktemp("foreign") / "foreign.tflite"
    path.write_bytes(_tf_models.build_tflite(spec))
    return path


@needs_target
@pytest.mark.parametrize("target", CORES)
def test_verify_target_runs_any_int8_model_on_random_windows(capsys, foreign_model, target):
    from orchestrator.cli import main

    code = main(["verify", "--model", str(foreign_model), "--target", target,
                 "--tflm", str(TFLM_TREE), "--windows", "24", "--json"])
    r = json.loads(capsys.readouterr().out)
    t = r["target"]
    assert code == 0 and r["status"] == "passed" and t["name"] == target
    assert t["windows"] == 24 and "random" in t["inputs"] and "accuracy" not in t
    assert t["parity"]["max_lsb"] <= 1 and 0 <= t["parity"]["bit_identical_share"] <= 1
    a = t["arena"]
    assert a["head_bytes"] == a["board_head_bytes"] and a["head_equals_board_head"]
    assert a["total_bytes"] >= a["head_bytes"] + a["tail_bytes"] - 16
    f = t["flash"]
    assert f["model_bytes"] == foreign_model.stat().st_size
    assert f["image_bytes"] == f["image_without_windows_bytes"] + f["windows_bytes"]
    assert f["image_without_windows_bytes"] > f["model_bytes"] > 0
    e = t["emulator_ticks"]
    assert e["per_invoke_emulator_median"] > 0 and "not board cycles" in e["note"]
    assert all("emulator" in k for k in e if k.startswith("per_"))
    main(["verify", "--model", str(foreign_model), "--target", target, "--tflm", str(TFLM_TREE),
          "--windows", "4"])
    out = capsys.readouterr().out
    assert "emulator ticks (QEMU instruction counts, not board cycles)" in out and "PASSED" in out


def test_verify_target_without_toolchain_or_tree_is_one_line(capsys, tmp_path, monkeypatch):
    from orchestrator.cli import main

    model = tmp_path / "m.tflite"
    model.write_bytes(b"never read: the setup is checked first")
    monkeypatch.delenv("MICRONAS_TFLM", raising=False)
    assert main(["verify", "--model", str(model), "--target", "qemu-m4"]) == 2
    err = capsys.readouterr().err
    assert "no TFLite-Micro tree given" in err and err.count("\n") == 1
    assert main(["verify", "--model", str(model), "--target", "qemu-m4", "--tflm",
                 str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "not a TFLite-Micro tree" in err and err.count("\n") == 1
    if missing_target() is None:        # a real tree, but no cross toolchain on PATH
        monkeypatch.setenv("PATH", str(tmp_path))
        assert main(["verify", "--model", str(model), "--target", "qemu-m33", "--tflm",
                     str(TFLM_TREE)]) == 2
        err = capsys.readouterr().err
        assert "arm-none-eabi-gcc" in err and "not found on PATH" in err and err.count("\n") == 1
    assert main(["verify", "--model", str(model)]) == 2      # neither --mcu nor --target
    assert "give --mcu" in capsys.readouterr().err


def test_spec_with_a_deploy_target_parses():
    from lut_store import InputError
    from orchestrator._spec import deploy_config, parse_spec

    good = {"name": "t", "datasets": ["basicmotions"], "mcus": ["nucleo-l552ze-q"],
            "budgets": {"latency_ms": [12], "memory_kb": [6]}}
    spec = parse_spec({**good, "deploy": {"target": "qemu-m33", "target_windows": 64}})
    config = deploy_config(spec, 0)
    assert (config.target, config.target_windows) == ("qemu-m33", 64)
    assert deploy_config(parse_spec(good), 0).target is None       # no target run by default
    with pytest.raises(InputError, match="deploy.target must be 'qemu-m4' or 'qemu-m33'"):
        parse_spec({**good, "deploy": {"target": "qemu-m7"}})


def test_target_columns_reach_the_row_and_the_report():
    import pandas as pd

    from orchestrator._report_data import _on_target
    from orchestrator._store import COLUMNS
    from search_core.records import _target_row

    section = {"name": "qemu-m33", "parity": {"bit_identical_share": 0.5, "max_lsb": 1},
               "arena": {"head_bytes": 6048}, "flash": {"image_without_windows_bytes": 120552},
               "emulator_ticks": {"per_invoke_emulator_median": 55392.0}}
    row = _target_row(section)
    assert set(row) <= set(COLUMNS) and row["target_max_lsb"] == 1
    assert _target_row(None) == {}
    assert _target_row({"name": "qemu-m4", "status": "failed", "failures": ["x"]}) == \
        {"target": "qemu-m4"}
    rows = pd.DataFrame([{"trial_key": "s/a", **row}, {"trial_key": "s/b", "target": "qemu-m4"},
                         {"trial_key": "s/c", "target": None}])
    lines = _on_target(rows)
    assert lines["s/a"] == ("qemu-m33: arena head 6048 B, 50 % bit-identical, max 1 LSB, "
                            "flash 117.7 KB, 55392 emulator ticks/invoke")
    assert "did not run" in lines["s/b"] and "s/c" not in lines


def test_report_shows_the_target_figures_of_a_front_member(tmp_path):
    from orchestrator._report import build_report
    from test_pareto import write_rows

    base = {"sweep": "s", "dataset": "ucihar", "mcu": "nucleo-l552ze-q", "status": "ok",
            "seed": 0, "method": "micronas"}
    rows = [{**base, "trial_key": "s/t", "architecture_json": "a", "int8_macro_f1": .9,
             "verified_latency_ms": 10.0, "verified_memory_bytes": 6048.0, "target": "qemu-m33",
             "target_arena_head_bytes": 6048.0, "target_bit_identical_share": 1.0,
             "target_max_lsb": 0, "target_flash_bytes": 120552.0,
             "target_emulator_ticks_per_invoke": 55392.0},
            {**base, "trial_key": "s/u", "architecture_json": "b", "int8_macro_f1": .8,
             "verified_latency_ms": 5.0, "verified_memory_bytes": 4000.0}]
    store = write_rows(str(tmp_path / "s"), rows)
    build_report(store.url, str(tmp_path / "out"), reference=None)
    page = (tmp_path / "out" / "index.html").read_text()
    assert "on target (QEMU)" in page
    assert "qemu-m33: arena head 6048 B, 100 % bit-identical, max 0 LSB" in page
