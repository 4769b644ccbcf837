"""`front_ends` in a sweep: every grid point searched at each sensing front end, on the real
UCI-HAR recordings. A latency budget below the cheapest network of UCI-HAR's own 128 x 9 input is
infeasible there and met by a 1.28 s, 25 Hz, accelerometer-only front end; the rows, result.json,
model.json and the C header record the front end the model reads, and the rows its energy. A power
budget that the gyroscope alone overdraws is met by the same accelerometer-only front end."""

import json
import shutil

import pytest

from lut_store import storage
from orchestrator._spec import parse_spec
from orchestrator._store import ResultsStore
from orchestrator._sweep import Sweep


def test_a_budget_only_a_smaller_front_end_meets(tmp_path, lut_folder):
    store = tmp_path / "store"
    shutil.copytree(lut_folder, store / "lut")
    spec = parse_spec({
        "name": "fe", "storage": str(store), "datasets": ["ucihar"],
        "mcus": ["nucleo-l552ze-q"],
        "budgets": [{"latency_ms": 8, "memory_kb": 64}, {"memory_kb": 64, "power_mw": 0.3}],
        # The cheapest network of 128 x 9 takes 10.6 ms on the L552; of 32 x 6, 2.3 ms.
        "front_ends": [{}, {"name": "acc-25hz", "window": 32, "step": 16, "rate_hz": 25,
                            "sensors": ["acc"]}],
        "search": {"epochs": 1, "warmup_epochs": 0, "retrain_epochs": 1},
        "deploy": {"qat_epochs": 0, "calibration_windows": 32, "max_accuracy_drop": 100},
        "resources": {"cpus_per_trial": 1, "max_concurrent_trials": 1}})
    Sweep(spec).run(verbose=0, say=lambda line: None)
    everything = ResultsStore(str(store)).read(sweep="fe")
    rows = everything[everything["power_budget_mw"].isna()].set_index("front_end")
    assert rows.loc["own", "status"] == "infeasible"
    assert "smallest latency is 10.6" in rows.loc["own", "reason"]

    small = rows.loc["acc-25hz"]
    assert small["status"] == "ok", small["reason"]
    assert small["point"] == "ucihar-fe-acc-25hz-nucleo-l552ze-q-8ms-64kb-seed0"
    assert (small["sensors"], small["sample_rate_hz"], small["window_s"]) == ("acc", 25.0, 1.28)
    assert small["input_buffer_bytes"] == 32 * 6 and small["verified_latency_ms"] <= 8
    # Energy from lut_store/energy/datasheets.json: 62 uA/MHz at 80 MHz and 3.3 V for the latency;
    # the accelerometer at 52 Hz (the lowest listed rate >= 25 Hz), 25 uA at 1.8 V.
    assert small["energy_per_inference_mj"] == pytest.approx(
        3.3 * 62e-3 * 80 * small["verified_latency_ms"] / 1000)
    assert small["power_mw"] == pytest.approx(1.8 * 0.025 + small["energy_per_inference_mj"] / 0.64)

    result = json.loads(storage.read_bytes(storage.join(small["artifacts"], "result.json")))
    assert result["front_end"]["decimation"] == 2 and len(result["front_end"]["anti_alias_taps"]) == 17
    manifest = json.loads(storage.read_bytes(storage.join(small["artifacts"], "model.json")))
    assert manifest["front_end"] == result["front_end"]
    assert manifest["input"]["shape"] == [1, 32, 6, 1] and manifest["input"]["sample_rate_hz"] == 25
    header = storage.read_bytes(storage.join(small["artifacts"], "model_data.h")).decode()
    assert "#define MICRONAS_MODEL_DECIMATION 2" in header
    assert "#define MICRONAS_MODEL_INPUT_BUFFER_SIZE 192u" in header
    assert "#define MICRONAS_MODEL_ANTI_ALIAS_TAPS 17" in header
    source = storage.read_bytes(storage.join(small["artifacts"], "model_data.c")).decode()
    assert "micronas_model_anti_alias_fir[MICRONAS_MODEL_ANTI_ALIAS_TAPS] = {" in source

    # The power budget: the LSM6DSL's accelerometer + gyroscope alone draw 0.522 mW at 52 Hz.
    powered = everything[everything["power_budget_mw"] == 0.3].set_index("front_end")
    assert powered.loc["own", "status"] == "infeasible"
    assert "sensors alone draw 0.522 mW" in powered.loc["own", "reason"]
    met = powered.loc["acc-25hz"]
    assert met["status"] == "ok", met["reason"]
    assert met["point"] == "ucihar-fe-acc-25hz-nucleo-l552ze-q-none-64kb-0.3mw-seed0"
    # The cap: (0.3 - 1.8 V x 25 uA) x 0.64 s / (3.3 V x 62 uA/MHz x 80 MHz) = 9.97 ms.
    assert met["lat_effective_ms"] == pytest.approx(0.255 * 0.64 / (3.3 * 62e-3 * 80) * 1000)
    assert met["verified_latency_ms"] <= met["lat_effective_ms"] and met["power_mw"] <= 0.3
    result = json.loads(storage.read_bytes(storage.join(met["artifacts"], "result.json")))
    assert result["budget"]["power_mw"] == 0.3
    assert result["energy"]["power_mw"] == pytest.approx(
        1.8 * 0.025 + result["energy"]["energy_per_inference_mj"] / 0.64)


def test_one_shared_supernet_per_front_end(tmp_path, lut_folder):
    """`sharing: supernet` with front ends: each front end is its own input shape, so its own
    space and shared weights, trained once and searched by that front end's points only."""
    store = tmp_path / "store"
    shutil.copytree(lut_folder, store / "lut")
    spec = parse_spec({
        "name": "fe-shared", "storage": str(store), "datasets": ["ucihar"],
        "mcus": ["nucleo-l552ze-q"], "budgets": [{"latency_ms": 8, "memory_kb": 64}],
        "sharing": "supernet",
        "front_ends": [{"name": "acc", "window": 32, "step": 16, "rate_hz": 25, "sensors": ["acc"]},
                       {"name": "imu", "window": 32, "step": 16, "rate_hz": 25}],
        "search": {"shared_epochs": 1, "shared_search_epochs": 1, "retrain_epochs": 1},
        "deploy": False, "resources": {"cpus_per_trial": 1, "max_concurrent_trials": 2}})
    summary = Sweep(spec).run(verbose=0, say=lambda line: None)
    shared = summary["shared"]
    assert set(shared) == {"ucihar-fe-acc/seed0", "ucihar-fe-imu/seed0"}
    assert len({info["key"] for info in shared.values()}) == 2
    rows = ResultsStore(str(store)).read(sweep="fe-shared").set_index("front_end")
    assert set(rows["status"]) == {"ok"}, rows[["status", "reason"]]
    for fe in ("acc", "imu"):
        assert rows.loc[fe, "shared_key"] == shared[f"ucihar-fe-{fe}/seed0"]["key"]
