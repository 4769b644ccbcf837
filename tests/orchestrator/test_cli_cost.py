import json

from orchestrator.cli import main

L552 = "nucleo-l552ze-q"


def test_cost_json_on_exported_models(capsys, tmp_path, measurements, exported_models):
    lut = str(tmp_path / "lut")
    assert main(["lut", "import", "--mcu", L552, "--records", str(measurements / L552), "--out", lut]) == 0
    capsys.readouterr()
    for arch, path in exported_models:
        assert main(["cost", "--mcu", L552, "--lut", lut, "--model", str(path), "--json"]) == 0
        r = json.loads(capsys.readouterr().out)
        for key in ("latency_ms", "kernel_cycles", "overhead_cycles", "ops", "unmeasured_ops",
                    "peak_activation_bytes", "planned_arena_head_bytes", "tflm_arena_head_bytes",
                    "tflm_arena_total_bytes", "flash_bytes"):
            assert key in r
        assert r["planned_arena_head_bytes"] == r["tflm_arena_head_bytes"]
        assert r["peak_activation_bytes"] <= r["planned_arena_head_bytes"]
        assert r["flash_bytes"] == path.stat().st_size
        assert r["latency_ms"] == (r["kernel_cycles"] + r["overhead_cycles"]) / 80_000
        assert all(op["source"] == "measured" for op in r["ops"])


def test_cost_predicts_and_flags_unmeasured_boards(capsys, tmp_path, measurements, exported_models):
    lut = str(tmp_path / "lut")
    main(["lut", "import", "--mcu", L552, "--records", str(measurements / L552), "--out", lut])
    main(["lut", "fit", "--lut", lut])
    capsys.readouterr()
    _, path = exported_models[0]
    assert main(["cost", "--mcu", "portenta-h7", "--lut", lut, "--model", str(path), "--json",
                 "--no-tflm"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["unmeasured_ops"] == len(r["ops"]) > 0
    assert {op["donor"] for op in r["ops"]} == {L552}
    assert r["tflm_arena_head_bytes"] is None and r["latency_ms"] > 0


def test_cost_rejects_a_file_that_is_not_tflite(capsys, tmp_path):
    bogus = tmp_path / "model.tflite"
    bogus.write_bytes(b"\x00" * 64)
    assert main(["cost", "--mcu", L552, "--lut", str(tmp_path), "--model", str(bogus)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a valid TFLite flatbuffer" in err and str(bogus) in err
