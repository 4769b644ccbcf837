import json

import pytest

from lut_store import InputError, Lut, import_records

L552, F446 = "nucleo-l552ze-q", "nucleo-f446re"


def _conv_record(cycles=1000, invoke=1500, filters=4, kernel=(3, 1), strides=(2, 1), error=None):
    record = {
        "flashSize": 1000, "flopsEstimate": 0, "memoryEstimate": [1, 1], "tflmBackend": "CMSIS",
        "modelConfig": {"name": "conv2d_7", "activation": "relu", "filters": filters,
                        "kernel_size": list(kernel), "strides": list(strides), "padding": "same",
                        "input_shape": [1, 128, 9, 1], "output_shape": [1, 64, 9, filters]},
    }
    if error:
        record["error"] = error
    else:
        record["timing"] = [{"type": 1, "cpuCycles": invoke + 9000, "millis": 1.0},
                            {"type": 255, "cpuCycles": invoke, "millis": 1.0},
                            {"type": 3, "cpuCycles": cycles, "millis": 1.0}]
    return record


def _write(folder, name, records):
    path = folder / name / "records.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(records))
    return path


@pytest.mark.parametrize("board, counts, errors", [
    (L552, {"CONV_2D": 2076, "ADD": 40, "MEAN": 6, "SOFTMAX": 4}, 4),
    (F446, {"CONV_2D": 1407, "ADD": 24, "MEAN": 3, "SOFTMAX": 2}, 1),
])
def test_import_real_measurements(measurements, board, counts, errors):
    lut, report = import_records(measurements / board, board)
    assert {op: n for (_, op), n in report.configurations.items()} == counts
    assert sum(report.skipped_errors.values()) == errors
    assert len(lut) == sum(counts.values())
    frame = lut.frame
    assert (frame["source"] == "measured").all() and (frame["cycles"] > 0).all()
    # Overhead = Invoke - kernel: the per-op interpreter cost of ~450-600 cycles.
    assert frame["overhead_cycles"].between(300, 1000).all()
    # A second import of the same files changes nothing.
    again, _ = import_records(measurements / board, board)
    assert lut.merge(again).equals(lut)


def test_runs_kept_and_median_taken(measurements):
    lut, _ = import_records(measurements / L552, L552)
    multi = lut.frame[lut.frame["runs"].map(len) > 1]
    assert len(multi) > 100  # later files re-measure configurations of earlier ones
    row = multi.iloc[0]
    assert row["cycles"] == pytest.approx(sorted(row["run_cycles"])[len(row["run_cycles"]) // 2]
                                          if len(row["run_cycles"]) % 2 else
                                          sum(sorted(row["run_cycles"])[len(row["run_cycles"]) // 2 - 1:
                                                                        len(row["run_cycles"]) // 2 + 1]) / 2)
    assert lut.frame["spread"].max() < 0.12  # runs on different days disagree by up to ~10 %


def test_error_records_are_not_measured(tmp_path):
    _write(tmp_path, "run1", [_conv_record(error="FLASHERROR"), _conv_record(filters=8)])
    lut, report = import_records(tmp_path, "x")
    assert report.skipped_errors == {"FLASHERROR": 1}
    assert len(lut) == 1 and lut.frame.iloc[0]["output_shape"] == "1x64x9x8"


def test_merge_is_by_run_and_idempotent(tmp_path):
    a = _write(tmp_path / "a", "run1", [_conv_record(cycles=1000)])
    b = _write(tmp_path / "b", "run2", [_conv_record(cycles=1100)])
    lut_a, _ = import_records(a.parent, "x")
    lut_b, _ = import_records(b.parent, "x")
    merged = lut_a.merge(lut_b)
    row = merged.frame.iloc[0]
    assert row["cycles"] == 1050 and row["n_measurements"] == 2
    assert row["spread"] == pytest.approx(100 / 1050)
    assert merged.merge(lut_b).merge(lut_a).equals(merged)
    assert row["overhead_cycles"] == 450  # median of 500 and 400


def test_within_run_duplicates_collapse(tmp_path):
    _write(tmp_path, "run1", [_conv_record(), _conv_record(), _conv_record()])
    lut, _ = import_records(tmp_path, "x")
    assert len(lut) == 1 and lut.frame.iloc[0]["n_measurements"] == 3
    assert list(lut.frame.iloc[0]["runs"]) == ["run1/records.json"]


def test_measured_rows_win_over_predicted(tmp_path):
    _write(tmp_path, "run1", [_conv_record(cycles=1000)])
    measured, _ = import_records(tmp_path, "x")
    from lut_store import OpConfig
    cfg = OpConfig.from_row(measured.frame.iloc[0])
    predicted = Lut.from_predictions("x", [cfg], [5000.0], [500.0], "p1")
    assert measured.merge(predicted).frame.iloc[0]["cycles"] == 1000
    assert predicted.merge(measured).frame.iloc[0]["source"] == "measured"


@pytest.mark.parametrize("mutate, message", [
    (lambda r: r["timing"][2].update(cpuCycles=float("nan")), "finite and non-negative"),
    (lambda r: r["timing"][2].update(cpuCycles=-5), "finite and non-negative"),
    (lambda r: r["timing"][2].update(cpuCycles="12"), "must be a number"),
    (lambda r: r["modelConfig"].update(input_shape="1x2"), "input_shape must be a list"),
    (lambda r: r["modelConfig"].update(kernel_size=[3]), "kernel_size must be two"),
    (lambda r: r.pop("modelConfig"), "modelConfig"),
    (lambda r: r.pop("timing"), "no 'timing'"),
    (lambda r: r["timing"].pop(2), "no kernel timing"),
    (lambda r: r["timing"][2].update(type=77), "unknown kernel timing type 77"),
])
def test_bad_records_name_file_and_problem(tmp_path, mutate, message):
    record = _conv_record()
    mutate(record)
    path = _write(tmp_path, "run1", [_conv_record(), record])
    with pytest.raises(InputError, match=message) as info:
        import_records(tmp_path, "x")
    assert str(path) in str(info.value) and "record 1" in str(info.value)


def test_truncated_and_non_list_files(tmp_path):
    path = _write(tmp_path, "run1", [_conv_record()])
    path.write_text(path.read_text()[:-40])
    with pytest.raises(InputError, match="not valid JSON"):
        import_records(tmp_path, "x")
    path.write_text('{"a": 1}')
    with pytest.raises(InputError, match="JSON list"):
        import_records(tmp_path, "x")


def test_missing_or_empty_folder(tmp_path):
    with pytest.raises(InputError, match="no such records folder"):
        import_records(tmp_path / "nope", "x")
    with pytest.raises(InputError, match="no record files"):
        import_records(tmp_path, "x")


def test_nan_literal_in_json_is_refused(tmp_path):
    path = tmp_path / "r" / "records.json"
    path.parent.mkdir()
    path.write_text(json.dumps([_conv_record(cycles=4321)]).replace("4321", "NaN"))
    assert "NaN" in path.read_text()
    with pytest.raises(InputError, match="finite"):
        import_records(tmp_path, "x")
