"""lut_store.EnergyModel: the energy of an inference and of a second of sensing from the supply
currents of lut_store/energy/datasheets.json (or a user's file of the same layout)."""

import json

import pytest

from lut_store import EnergyModel, InputError, load_mcu

L552 = load_mcu("nucleo-l552ze-q")


def test_the_packaged_file_prices_the_l552_and_the_imu():
    e = EnergyModel.load()
    assert e.source == "lut_store/energy/datasheets.json"
    out = e.estimate(L552, ["acc", "gyro"], 50.0, 1.28, 20.0)
    run_ma = 62e-3 * L552.clock_hz / 1e6          # 62 uA/MHz at the LUT's clock
    assert out["mcu_run_current_ma"] == pytest.approx(run_ma)
    assert out["energy_per_inference_mj"] == pytest.approx(3.3 * run_ma * 0.020)
    assert out["sensor_power_mw"] == pytest.approx(1.8 * 0.29)        # combo low-power, 52 Hz
    assert out["power_mw"] == pytest.approx(1.8 * 0.29 + out["energy_per_inference_mj"] / 1.28)
    assert out["energy_per_window_mj"] == pytest.approx(out["power_mw"] * 1.28)
    assert any("52 Hz" in n and "upper bound" in n for n in out["notes"])
    # Accelerometer only at 12.5 Hz: its own listed mode, no upper-bound note.
    low = e.estimate(L552, ["acc"], 12.5, 2.56, 5.0)
    assert low["sensor_mode"]["current_ma"] == 0.009
    assert not any("upper bound" in n for n in low["notes"])


def test_what_the_file_lacks_is_none_and_said():
    out = EnergyModel.load().estimate(load_mcu("nucleo-f446re"), ["acc"], 25.0, 0.64, 3.0)
    assert out["energy_per_inference_mj"] is None and out["power_mw"] is None
    assert out["sensor_power_mw"] == pytest.approx(1.8 * 0.025)
    assert any("no run-mode current for nucleo-f446re" in n for n in out["notes"])
    none = EnergyModel.load().estimate(L552, ["mag"], 25.0, 0.64, 3.0)
    assert none["sensor_mode"] is None and none["power_mw"] is None


def _users_file(tmp_path):
    """A user's file: a board with a sleep current, one accelerometer mode."""
    path = tmp_path / "board.json"
    path.write_text(json.dumps({
        "format": "micronas-energy",
        "mcus": {"nucleo-l552ze-q": {"vdd_v": 3.0, "run_ua_per_mhz": 100, "sleep_current_ma": 0.5}},
        "sensors": {"part": "X", "vdd_v": 3.0,
                    "modes": [{"sensors": ["acc"], "odr_hz": 25, "current_ma": 0.1}]}}))
    return path


def test_a_users_file_with_a_sleep_current(tmp_path):
    path = _users_file(tmp_path)
    out = EnergyModel.load(path).estimate(L552, ["acc"], 25.0, 1.0, 10.0)
    run_mw = 3.0 * 100e-3 * L552.clock_hz / 1e6
    assert out["power_mw"] == pytest.approx(0.3 + run_mw * 0.010 + 3.0 * 0.5 * 0.99)
    assert out["data_file"] == str(path)


@pytest.mark.parametrize("text, message", [
    ("{", "not a readable energy file"),
    ('{"mcus": {}}', "not a micronas-energy file"),
    ('{"format": "micronas-energy", "sensors": {"modes": [{"odr_hz": 1}]}}',
     r"sensors.modes\[0\] needs sensors, odr_hz and current_ma"),
])
def test_bad_files_are_one_line(tmp_path, text, message):
    path = tmp_path / "e.json"
    path.write_text(text)
    with pytest.raises(InputError, match=message):
        EnergyModel.load(path)


def test_a_power_budget_is_the_latency_cap_that_spends_it():
    model, mcu = EnergyModel.load(), load_mcu("nucleo-l552ze-q")
    cap = model.latency_cap_ms(mcu, ["acc"], 25, 0.64, power_mw=0.3)
    # At the cap the estimate spends the budget exactly; any slower network overspends it.
    assert model.estimate(mcu, ["acc"], 25, 0.64, cap)["power_mw"] == pytest.approx(0.3)
    assert model.estimate(mcu, ["acc"], 25, 0.64, cap * 1.01)["power_mw"] > 0.3
    # A budget that the core could spend for longer than a window step caps at the step.
    assert model.latency_cap_ms(mcu, ["acc"], 25, 0.64, power_mw=1e4) == pytest.approx(640)


def test_a_sleep_current_is_spent_by_the_cap(tmp_path):
    model = EnergyModel.load(_users_file(tmp_path))
    cap = model.latency_cap_ms(L552, ["acc"], 25, 1.0, power_mw=2.0)
    assert model.estimate(L552, ["acc"], 25, 1.0, cap)["power_mw"] == pytest.approx(2.0)


@pytest.mark.parametrize("mcu, sensors, step, power, message", [
    ("nucleo-f446re", ["acc"], 0.64, 1.0, "needs the run-mode current of nucleo-f446re"),
    ("nucleo-l552ze-q", ["acc"], None, 1.0, "needs the front end's window step"),
    ("nucleo-l552ze-q", ["mag"], 0.64, 1.0, "no LSM6DSL mode with mag"),
    ("nucleo-l552ze-q", ["acc", "gyro"], 1.28, 0.5, "sensors alone draw 0.522 mW"),
])
def test_a_power_budget_the_file_cannot_price_is_one_line(mcu, sensors, step, power, message):
    with pytest.raises(InputError, match=message):
        EnergyModel.load().latency_cap_ms(load_mcu(mcu), sensors, 50, step, power_mw=power)
