import json
import os
import subprocess
import sys

import pytest

from orchestrator.cli import main

L552, F446 = "nucleo-l552ze-q", "nucleo-f446re"


def run(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_import_reports_counts_and_second_import_changes_nothing(capsys, tmp_path, measurements):
    lut = str(tmp_path / "lut")
    code, out, _ = run(capsys, "lut", "import", "--mcu", F446, "--records",
                       str(measurements / F446), "--out", lut, "--json")
    first = json.loads(out)
    assert code == 0 and first["changed"] and first["rows_after"] == 1436
    assert first["configurations"][f"{F446}/CONV_2D"] == 1407
    assert first["skipped_error_records"] == {"FLASHERROR": 1}
    before = (tmp_path / "lut" / f"{F446}.parquet").stat().st_mtime_ns
    code, out, _ = run(capsys, "lut", "import", "--mcu", F446, "--records",
                       str(measurements / F446), "--out", lut, "--json")
    second = json.loads(out)
    assert code == 0 and not second["changed"] and second["rows_after"] == 1436
    assert (tmp_path / "lut" / f"{F446}.parquet").stat().st_mtime_ns == before

    code, out, _ = run(capsys, "lut", "show", "--lut", lut, "--json")
    shown = json.loads(out)
    assert shown["rows"] == 1436 and {r["op"] for r in shown["summary"]} == {"ADD", "CONV_2D", "MEAN", "SOFTMAX"}


def test_mcus_json(capsys):
    code, out, _ = run(capsys, "mcus", "--json")
    assert code == 0 and {b["name"] for b in json.loads(out)} >= {L552, F446, "nicla-sense-me", "portenta-h7"}


@pytest.mark.parametrize("args, message", [
    (["lut", "import", "--mcu", "nope", "--records", ".", "--out", "x"], "unknown MCU 'nope'"),
    (["lut", "import", "--mcu", L552, "--records", "/no/such/dir", "--out", "x"], "no such records folder"),
    (["lut", "show", "--lut", "/no/such/lut"], "no LUT rows"),
    (["lut", "eval", "--lut", "/no/such/lut", "--mcu", L552, "--cv", "0"], "expected a positive integer"),
    (["lut", "frobnicate"], "invalid choice"),
    (["cost", "--mcu", L552, "--lut", "x", "--model", "/no/such.tflite"], "/no/such.tflite: cannot read"),
])
def test_bad_input_is_one_line_exit_2(capsys, args, message):
    code, out, err = run(capsys, *args)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and message in err and err.startswith("micronas: error: ")


def test_bad_records_write_nothing(capsys, tmp_path, measurements):
    bad = tmp_path / "records" / "run" / "records.json"
    bad.parent.mkdir(parents=True)
    good = json.loads((measurements / F446 / "20230811-110932" / "records.json").read_text())
    good[3]["timing"][2]["cpuCycles"] = -1
    bad.write_text(json.dumps(good))
    code, _, err = run(capsys, "lut", "import", "--mcu", F446, "--records", str(tmp_path / "records"),
                       "--out", str(tmp_path / "lut"))
    assert code == 2 and "record 3" in err and str(bad) in err
    assert not (tmp_path / "lut").exists()


def test_real_process_exit_code_and_no_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "orchestrator.cli", "lut", "import", "--mcu", L552,
                           "--records", str(tmp_path), "--out", str(tmp_path / "lut")],
                          capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and proc.stderr.strip().count("\n") == 0
    assert "no record files" in proc.stderr


@pytest.mark.s3
def test_import_to_s3_and_show(capsys, s3_bucket, measurements):
    url = f"s3://{s3_bucket}/lut"
    code, out, _ = run(capsys, "lut", "import", "--mcu", F446, "--records", str(measurements / F446),
                       "--out", url, "--json")
    assert code == 0 and json.loads(out)["rows_after"] == 1436
    code, out, _ = run(capsys, "lut", "show", "--lut", url, "--json")
    assert json.loads(out)["rows"] == 1436


@pytest.mark.s3
def test_missing_bucket_is_one_line(capsys, s3_bucket, measurements):
    code, _, err = run(capsys, "lut", "import", "--mcu", F446, "--records", str(measurements / F446),
                       "--out", f"s3://{s3_bucket}-missing/lut")
    assert code == 2 and err.count("\n") == 1 and f"s3://{s3_bucket}-missing/lut" in err


def test_fit_and_eval_commands(capsys, tmp_path, measurements):
    lut = str(tmp_path / "lut")
    for board in (L552, F446):
        assert main(["lut", "import", "--mcu", board, "--records", str(measurements / board),
                     "--out", lut]) == 0
    capsys.readouterr()
    assert main(["lut", "fit", "--lut", lut, "--json"]) == 0
    fitted = json.loads(capsys.readouterr().out)
    assert fitted["mcus"] == [F446, L552] and (tmp_path / "lut" / "predictor.json").exists()

    for board in (L552, F446):
        assert main(["lut", "eval", "--lut", lut, "--mcu", board, "--cv", "5", "--json"]) == 0
        cv = json.loads(capsys.readouterr().out)
        assert cv["n_eval"] > 1000 and cv["median_rel_error"] <= 0.02 and cv["p90_rel_error"] <= 0.06

    # Onboarding: a LUT without F446, its records given as a new board, 50 of them calibrate.
    donors = str(tmp_path / "donors")
    main(["lut", "import", "--mcu", L552, "--records", str(measurements / L552), "--out", donors])
    capsys.readouterr()
    assert main(["lut", "eval", "--lut", donors, "--mcu", F446, "--records", str(measurements / F446),
                 "--calibration", "50", "--json"]) == 0
    onboarding = json.loads(capsys.readouterr().out)
    assert onboarding["n_calibration"] == 50 and onboarding["n_eval"] == 1407 - 50
    assert onboarding["median_rel_error"] <= 0.05


def test_eval_without_rows_is_a_clear_error(capsys, tmp_path, measurements):
    lut = str(tmp_path / "lut")
    main(["lut", "import", "--mcu", L552, "--records", str(measurements / L552), "--out", lut])
    capsys.readouterr()
    assert main(["lut", "eval", "--lut", lut, "--mcu", F446, "--cv", "5"]) == 2
    assert "no measured rows for nucleo-f446re" in capsys.readouterr().err
