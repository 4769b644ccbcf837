"""`micronas profile`: plan → build → run → collect → `lut import` → `lut fit` → a priced space.

The collector's faults (a truncated line, a CRC error, a reconnect that resumes) run on recorded
runner logs, without QEMU. The round trip runs a BasicMotions calibration plan (24 of the space's
462 op configurations) as ONE profiling image on the emulated Cortex-M33 (QEMU mps2-an505); it
needs the Arm cross toolchain, qemu-system-arm, the TFLM tree in ../shared/tflm/tree and
TensorFlow, and is skipped with one line without them (about 12 s with a cached TFLM library;
the whole module about 15 s).
"""

from __future__ import annotations

import json
import sys
import zlib
from collections import Counter
from pathlib import Path

import pytest

from lut_store import (
    InputError,
    LatencyModel,
    Lut,
    OpConfig,
    calibration_set,
    code_path,
    load_mcu,
    read_predictor,
)
from lut_store.target import ProfileLog, read_profile
from orchestrator import _profile_commands as prof
from orchestrator.cli import main

from _target import TFLM_TREE, needs_target  # noqa: E402

# Three configurations of the UCI-HAR space: an im2col conv, a 1x1 fast conv, an ADD.
CONFIGS = [
    OpConfig("CONV_2D", (1, 128, 9, 1), (1, 64, 9, 8), (5, 1), (2, 1), "same", "relu"),
    OpConfig("CONV_2D", (1, 16, 1, 16), (1, 16, 1, 32), (1, 1), (1, 1), "same", "none"),
    OpConfig("ADD", (1, 16, 1, 32), (1, 16, 1, 32)),
]


def _line(record: dict) -> str:
    payload = json.dumps(record, separators=(",", ":"))
    return f"{payload}|{zlib.crc32(payload.encode()) & 0xFFFFFFFF:08x}\n"


def _write_plan(path: Path, configs=CONFIGS) -> list[str]:
    ids = [prof.config_id(c) for c in configs]
    doc = {"format": prof.PLAN_FORMAT, "version": 1, "dataset": "test", "mcu": "qemu-m33",
           "configs": [{"id": i, **c.to_dict()} for i, c in zip(ids, configs)]}
    path.write_text(json.dumps(doc))
    return ids


def _pass(ids, p=0, only=None) -> list[str]:
    """The lines one pass of a qemu-m33 profiling image writes (models `only`, default all)."""
    lines = [_line({"t": "hello", "proto": 1, "mode": "profile", "target": "qemu-m33",
                    "timer": "SysTick, QEMU virtual clock 20 MHz", "timer_hz": 20_000_000,
                    "models": len(ids), "windows": 2, "arena_bytes": 1 << 20, "pass": p})]
    ops = [c.op for c in CONFIGS]
    for k, ident in enumerate(ids):
        if only is not None and k not in only:
            continue
        lines.append(_line({"t": "scratch", "node": 0, "bytes": [16]}))
        lines.append(_line({"t": "model", "i": k, "id": ident, "ops": [ops[k]],
                            "ticks": [1000 + k, 1000 + k], "op_ticks": [[900 + k], [900 + k]],
                            "head": 2048, "tail": 400}))
    lines.append(_line({"t": "end", "models": len(ids), "pass": p}))
    return lines


def _collect(tmp_path, log_lines, capsys, name="run.log") -> dict:
    log = tmp_path / name
    log.write_text("QEMU boot banner\n" + "".join(log_lines))
    assert main(["profile", "collect", "--log", str(log), "--plan", str(tmp_path / "plan.json"),
                 "--out", str(tmp_path / "records"), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def _records(tmp_path) -> list[dict]:
    return json.loads((tmp_path / "records" / prof.RECORDS_FILE).read_text())


# --- the collector, on recorded logs -----------------------------------------------------------

def test_collected_records_import_with_the_plans_keys_and_emulator_backend(tmp_path, capsys):
    ids = _write_plan(tmp_path / "plan.json")
    result = _collect(tmp_path, _pass(ids), capsys)
    assert (result["measured"], result["missing"], result["damaged_lines"]) == (3, [], 0)
    assert "emulator" in result["backend"] and "not cycles" in result["backend"]
    recs = _records(tmp_path)
    # Ticks of the 20 MHz SysTick under -icount shift=0 are 50 instructions each.
    assert recs[0]["timing"] == [{"type": 255, "cpuCycles": 50_000.0},
                                 {"type": 3, "cpuCycles": 45_000.0}]
    assert main(["lut", "import", "--mcu", str(_board(tmp_path)),
                 "--records", str(tmp_path / "records"),
                 "--out", str(tmp_path / "lut"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["skipped_error_records"] == {} and report["rows_after"] == 3
    lut = Lut.read(str(tmp_path / "lut"))
    assert {OpConfig.from_row(r) for r in lut.frame.to_dict("records")} == set(CONFIGS)
    assert set(lut.frame["backend"]) == {"qemu-m33 emulator (instruction counts, not cycles)"}


def test_a_truncated_line_and_a_crc_error_are_skipped_and_reported_missing(tmp_path, capsys):
    ids = _write_plan(tmp_path / "plan.json")
    lines = _pass(ids)
    cut = next(i for i, ln in enumerate(lines) if '"i":1' in ln)
    lines[cut] = lines[cut][:40] + "\n"                       # the link dropped mid-line
    bad = next(i for i, ln in enumerate(lines) if '"i":2' in ln)
    lines[bad] = lines[bad].replace('"ticks":[1002', '"ticks":[1802')   # a flipped digit
    result = _collect(tmp_path, lines, capsys)
    assert result["measured"] == 1 and result["damaged_lines"] == 2
    assert result["missing"] == ids[1:]
    recs = _records(tmp_path)
    assert [r.get("error") for r in recs] == [None, "not reported", "not reported"]
    # The missing ones are "not measured" for the importer, never a cost.
    assert main(["lut", "import", "--mcu", str(_board(tmp_path)),
                 "--records", str(tmp_path / "records"), "--out", str(tmp_path / "lut"),
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["skipped_error_records"] == {"not reported": 2}


def _board(tmp_path) -> Path:
    from lut_store.target import emulated_board
    path = tmp_path / "qemu-m33.json"
    path.write_text(json.dumps(emulated_board("qemu-m33").to_dict()))
    return path


def test_a_second_collect_resumes_at_the_missing_models_and_duplicates_nothing(tmp_path, capsys):
    ids = _write_plan(tmp_path / "plan.json")
    first = _collect(tmp_path, _pass(ids, only={0})[:-1], capsys, "part1.log")   # disconnected
    assert first["measured"] == 1 and first["missing"] == ids[1:]
    before = _records(tmp_path)[0]
    # The board's next pass reports all three again; only the two missing ones are new.
    second = _collect(tmp_path, _pass(ids, p=1), capsys, "part2.log")
    assert (second["new"], second["already_collected"], second["missing"]) == (2, 1, [])
    recs = _records(tmp_path)
    assert [r["profile"]["id"] for r in recs] == ids and recs[0] == before
    third = _collect(tmp_path, _pass(ids, p=2), capsys, "part3.log")
    assert third["new"] == 0 and _records(tmp_path) == recs


def test_a_port_disconnect_reconnects_and_resumes_without_duplicates():
    ids = [prof.config_id(c) for c in CONFIGS]
    first = "".join(_pass(ids))
    cut = first.index('{"t":"model","i":1') + 30
    sessions = [[first[:cut]], ["".join(_pass(ids, p=1))]]   # link lost mid-line, then a pass

    class Port:
        def __init__(self, chunks):
            self.chunks = list(chunks)

        def read(self, n):
            if self.chunks:
                return self.chunks.pop(0).encode()
            raise OSError("device disconnected")

    opened = []

    def open_port():
        opened.append(1)
        return Port(sessions.pop(0) if sessions else [])

    log = ProfileLog()
    ticks = iter(range(10_000))
    reconnects = prof.read_port(open_port, log, lambda: len(log.models) == 3, timeout=600,
                                clock=lambda: next(ticks), pause=lambda s: None)
    assert reconnects == 1 and len(opened) == 2
    assert sorted(log.models) == [0, 1, 2] and log.duplicates == 1   # model 0 came twice
    assert any("disconnect" in d for d in log.damaged)


def test_a_log_from_another_plans_firmware_is_one_line(tmp_path, capsys):
    _write_plan(tmp_path / "plan.json")
    other = [prof.config_id(c) for c in reversed(CONFIGS)]
    log = tmp_path / "other.log"
    log.write_text("".join(_pass(other)))
    assert main(["profile", "collect", "--log", str(log), "--plan", str(tmp_path / "plan.json"),
                 "--out", str(tmp_path / "records")]) == 2
    err = capsys.readouterr().err.strip()
    assert "not from this plan's firmware" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "records").exists()


def test_reading_a_port_without_pyserial_names_the_install(tmp_path, capsys, monkeypatch):
    _write_plan(tmp_path / "plan.json")
    monkeypatch.setitem(sys.modules, "serial", None)           # import serial -> ImportError
    assert main(["profile", "collect", "--port", "/dev/ttyACM0", "--plan",
                 str(tmp_path / "plan.json"), "--out", str(tmp_path / "records")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith("pip install pyserial") and len(err.splitlines()) == 1


@pytest.mark.parametrize("argv, expected", [
    (["profile", "plan", "--dataset", "basicmotions", "--mcu", "qemu-m33", "--calibration", "0",
      "--out", "p.json"], "expected a positive integer"),
    (["profile", "plan", "--dataset", "basicmotions", "--mcu", "no-such-board", "--out",
      "p.json"], "unknown MCU 'no-such-board'"),
    (["profile", "build", "--plan", "missing.json", "--target", "qemu-m33", "--out", "fw"],
     "no such plan file"),
    (["profile", "build", "--plan", "records.json", "--target", "qemu-m33", "--out", "fw"],
     "not a profiling plan"),
    (["profile", "build", "--plan", "plan.json", "--target", "qemu-m7", "--out", "fw"],
     "invalid choice: 'qemu-m7'"),
    (["profile", "run", "--firmware", ".", "--log", "x.log"], "not a profiling build"),
    (["profile", "collect", "--log", "missing.log", "--plan", "plan.json", "--out", "rec"],
     "cannot read the log"),
])
def test_bad_input_is_one_line(argv, expected, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _write_plan(tmp_path / "plan.json")
    (tmp_path / "records.json").write_text("[]")
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert expected in err and len(err.splitlines()) == 1, err


def test_an_edited_plan_entry_is_refused(tmp_path, capsys):
    path = tmp_path / "plan.json"
    _write_plan(path)
    doc = json.loads(path.read_text())
    doc["configs"][0]["output_shape"][-1] = 16
    path.write_text(json.dumps(doc))
    with pytest.raises(InputError, match="edited by hand"):
        prof.read_plan(path)


def test_the_calibration_set_covers_every_code_path_the_predictor_models():
    from search_core.space import SearchSpace
    every = SearchSpace(128, 9, 6).op_configs()                  # UCI-HAR: 510 configurations
    chosen = calibration_set(every, 50)
    assert len(chosen) == 50 and chosen == calibration_set(every, 50)
    paths = Counter(code_path(c) for c in chosen)
    assert set(paths) == {code_path(c) for c in every}
    # Enough rows for the board's own fit of each conv path (2 x its 11 / 7 features).
    assert paths["CONV_2D/arm_convolve_s8"] >= 22
    assert paths["CONV_2D/arm_convolve_1x1_s8_fast"] >= 14
    assert calibration_set(every[:5], 50) == every[:5]


# --- the round trip on the emulated Cortex-M33 ----------------------------------------------------

@needs_target
def test_round_trip_on_the_emulated_m33_prices_the_whole_space_from_its_own_lut(tmp_path, capsys):
    pytest.importorskip("tensorflow")
    pytest.importorskip("tf_keras")
    from search_core.data import load_dataset
    from search_core.hardware import CostModel
    from search_core.space import SearchSpace

    try:
        data = load_dataset("basicmotions")
    except InputError as exc:
        pytest.skip(f"BasicMotions not available: {exc}")
    plan, fw, log, rec, lut = (tmp_path / n for n in ("plan.json", "fw", "run.log", "rec", "lut"))

    def cli(*argv) -> dict:
        assert main([*argv, "--json"]) == 0
        return json.loads(capsys.readouterr().out)

    planned = cli("profile", "plan", "--dataset", "basicmotions", "--mcu", "qemu-m33",
                  "--calibration", "24", "--out", str(plan))
    assert planned["planned"] == 24 and len(planned["code_paths"]) == 5
    built = cli("profile", "build", "--plan", str(plan), "--target", "qemu-m33", "--tflm",
                str(TFLM_TREE), "--out", str(fw), "--windows", "2")
    assert built["models"] == 24 and (fw / "firmware" / "app.elf").is_file()
    ran = cli("profile", "run", "--firmware", str(fw), "--log", str(log))
    assert ran["reported"] == 24 and ran["could_not_run"] == 0
    collected = cli("profile", "collect", "--log", str(log), "--plan", str(plan), "--out", str(rec))
    assert collected["measured"] == 24 and collected["missing"] == []
    # The log is repeatable: QEMU's icount makes the emulator ticks deterministic.
    assert read_profile(log.read_text()).models.keys() == set(range(24))

    board = fw / "qemu-m33.json"
    mcu = load_mcu(str(board))
    assert mcu.measurements["emulated"] is True and "not cycles" in mcu.measurements["backend"]
    imported = cli("lut", "import", "--mcu", str(board), "--records", str(rec), "--out", str(lut))
    assert imported["skipped_error_records"] == {} and imported["rows_after"] == 24
    cli("lut", "fit", "--lut", str(lut))

    latency = LatencyModel(mcu, Lut.read(str(lut), mcu.name), read_predictor(str(lut)))
    space = SearchSpace(data.window, data.n_channels, data.n_classes)
    costs = [latency.price(c) for c in space.op_configs()]
    planned_keys = {prof._config(e, "plan").key(mcu.name)
                    for e in json.loads(plan.read_text())["configs"]}
    # Every op of the space is priced from this board's own LUT: measured where the plan
    # measured it, predicted by its own fitted model (no donor board) everywhere else.
    assert all(c.donor is None and c.cycles > 0 for c in costs)
    assert {c.config.key(mcu.name) for c in costs if c.source == "measured"} == planned_keys
    cost = CostModel(latency)
    assert 0 < cost.latency_ms(space.smallest()) < cost.latency_ms(space.largest())
    # And `micronas search` runs on the emulated board from that LUT (a token search: the point
    # is the pricing, not the accuracy).
    found = cli("search", "--dataset", "basicmotions", "--mcu", str(board), "--lut", str(lut),
                "--lat-ms", "1000", "--mem-kb", "64", "--epochs", "1", "--warmup-epochs", "0",
                "--retrain-epochs", "1", "--skip-deploy", "--out", str(tmp_path / "run"))
    assert found["mcu"] == mcu.name and found["fits"] and found["latency_ms"] > 0


@pytest.mark.skipif(not (TFLM_TREE / "tensorflow/lite/micro/micro_interpreter.h").is_file(),
                    reason=f"no TFLM tree at {TFLM_TREE}")
def test_sources_for_a_board_hold_every_model_of_the_plan(tmp_path, capsys):
    pytest.importorskip("tensorflow")
    pytest.importorskip("tf_keras")
    ids = _write_plan(tmp_path / "plan.json")
    assert main(["profile", "build", "--plan", str(tmp_path / "plan.json"), "--target", "sources",
                 "--tflm", str(TFLM_TREE), "--out", str(tmp_path / "fw"), "--json"]) == 0
    built = json.loads(capsys.readouterr().out)
    sources = tmp_path / "fw" / built["sources"]
    assert {p.name for p in sources.iterdir()} == {
        "runner.cc", "board.h", "board_generic.c", "mn_model.h", "mn_models_data.cc", "mn_ops.cc"}
    table = (sources / "mn_models_data.cc").read_text()
    assert all(f'"{i}"' in table for i in ids)
    assert "AddConv2D" in (sources / "mn_ops.cc").read_text()
    assert sorted(p.stem for p in (tmp_path / "fw" / "models").iterdir()) == sorted(ids)
    # A second build replaces the first; a folder that is not a build is never overwritten.
    assert main(["profile", "build", "--plan", str(tmp_path / "plan.json"), "--target", "sources",
                 "--tflm", str(TFLM_TREE), "--out", str(tmp_path / "fw")]) == 0
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "keep.txt").write_text("mine")
    capsys.readouterr()
    assert main(["profile", "build", "--plan", str(tmp_path / "plan.json"), "--target", "sources",
                 "--tflm", str(TFLM_TREE), "--out", str(tmp_path / "other")]) == 2
    assert "not a profiling build" in capsys.readouterr().err
    assert (tmp_path / "other" / "keep.txt").read_text() == "mine"
