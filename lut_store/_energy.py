"""Energy of an inference and of a second of sensing, from supply currents in a data file
(`lut_store/energy/datasheets.json` by default; a user's own file has the same layout).

    E_inference = V_mcu * I_run * t_latency             I_run = run_ua_per_mhz * f_clock
    P_sensing   = V_sensor * I_sensor(sensors, rate)  +  E_inference / t_step
    E_window    = P_sensing * t_step                    (one inference and its share of sensing)

t_latency is the network's latency on the board (at the LUT's clock), t_step the time between
two inferences (the front end's window step), I_sensor the cheapest listed mode of the sensor
part that has every sensor on at an output rate of at least the front end's. Time the core waits
between inferences is counted only where the file gives a sleep current (`sleep_current_ma`).
Units: mA, V, ms -> mW and mJ (mW * s).

A power budget P_t (mW, the average draw of sensing and inferring) is a latency budget in
disguise: for a board and a front end, P_sensing grows linearly with t_latency, so
`latency_cap_ms` inverts the formula above and the search keeps the latency cap exactly (an
inference must also end before the next window: t_latency <= t_step).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .errors import InputError

DEFAULT_FILE = Path(__file__).parent / "energy" / "datasheets.json"
FORMULA = ("E_inference = V_mcu * I_run * t_latency; P_sensing = V_sensor * I_sensor(sensors, rate) "
           "+ E_inference / t_step (+ V_mcu * I_sleep * (1 - t_latency / t_step) where I_sleep "
           "is given); E_window = P_sensing * t_step")


@dataclass(frozen=True)
class EnergyModel:
    """Supply currents of boards and of one sensor part (see the module docstring)."""

    mcus: dict
    sensors: dict
    source: str

    @classmethod
    def load(cls, path: str | Path | None = None) -> EnergyModel:
        path = Path(path) if path is not None else DEFAULT_FILE
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise InputError(f"{path}: not a readable energy file ({type(exc).__name__})") from None
        if not isinstance(doc, dict) or doc.get("format") != "micronas-energy":
            raise InputError(f"{path}: not a micronas-energy file (format key missing)")
        sensors = doc.get("sensors") or {}
        for i, mode in enumerate(sensors.get("modes", [])):
            if not {"sensors", "odr_hz", "current_ma"} <= set(mode):
                raise InputError(f"{path}: sensors.modes[{i}] needs sensors, odr_hz and current_ma")
        # The packaged file is named as the project names it; a user's file by its path.
        name = "lut_store/energy/datasheets.json" if path.resolve() == DEFAULT_FILE.resolve() \
            else str(path)
        return cls(doc.get("mcus") or {}, sensors, name)

    def sensor_mode(self, sensors, rate_hz: float | None) -> dict | None:
        """The cheapest listed mode with every one of `sensors` on at >= `rate_hz` (None: no
        such mode, or the rate is unknown)."""
        if rate_hz is None:
            return None
        fits = [m for m in self.sensors.get("modes", [])
                if set(sensors) <= set(m["sensors"]) and m["odr_hz"] >= rate_hz - 1e-9
                and m["current_ma"] is not None]
        return min(fits, key=lambda m: m["current_ma"], default=None)

    def latency_cap_ms(self, mcu, sensors, rate_hz: float | None, step_s: float | None,
                       power_mw: float) -> float:
        """The largest network latency (ms) whose P_sensing stays within `power_mw` on `mcu` with
        this front end; InputError (one line) where the file lacks a figure the formula needs or
        the sensors alone draw the budget."""
        board = self.mcus.get(mcu.name) or {}
        per_mhz, vdd = board.get("run_ua_per_mhz"), board.get("vdd_v")
        if per_mhz is None or vdd is None:
            raise InputError(f"a power budget needs the run-mode current of {mcu.name}: "
                             f"{self.source} has none")
        if not step_s:
            raise InputError("a power budget needs the front end's window step: these windows "
                             "do not say how often they come (give --step)")
        mode = self.sensor_mode(sensors, rate_hz)
        if mode is None:
            raise InputError(f"a power budget needs the sensors' current: {self.source} has no "
                             f"{self.sensors.get('part', 'sensor')} mode with "
                             f"{'+'.join(sensors)} at {rate_hz} Hz")
        sensor_mw = self.sensors.get("vdd_v", float("nan")) * mode["current_ma"]
        run_ma = per_mhz * mcu.clock_hz / 1e6 / 1000
        sleep_ma = board.get("sleep_current_ma") or 0.0
        spare_mw = power_mw - sensor_mw - vdd * sleep_ma
        if not spare_mw > 0:
            raise InputError(f"the {'+'.join(sensors)} sensors alone draw {sensor_mw:.3g} mW at "
                             f"{rate_hz:g} Hz: no network fits the power budget {power_mw:g} mW")
        return min(1000 * spare_mw * step_s / (vdd * (run_ma - sleep_ma)), 1000 * step_s)

    def estimate(self, mcu, sensors, rate_hz: float | None, step_s: float | None,
                 latency_ms: float) -> dict:
        """The figures of one deployed model (see the module docstring); None where the file
        lacks what a figure needs, with a note saying which."""
        notes = []
        board = self.mcus.get(mcu.name) or {}
        per_mhz = board.get("run_ua_per_mhz")
        vdd = board.get("vdd_v")
        run_ma = None if per_mhz is None else per_mhz * mcu.clock_hz / 1e6 / 1000
        inference_mj = (None if run_ma is None or vdd is None
                        else vdd * run_ma * latency_ms / 1000)
        if inference_mj is None:
            notes.append(f"no run-mode current for {mcu.name} in {self.source}")
        mode = self.sensor_mode(sensors, rate_hz)
        sensor_mw = (None if mode is None
                     else self.sensors.get("vdd_v", float("nan")) * mode["current_ma"])
        if mode is None:
            notes.append(f"no {self.sensors.get('part', 'sensor')} mode with "
                         f"{'+'.join(sensors)} at {rate_hz} Hz in {self.source}")
        elif mode["odr_hz"] > (rate_hz or 0) + 1e-9:
            notes.append(f"sensors priced at {mode['odr_hz']:g} Hz, the lowest listed rate "
                         f">= {rate_hz:g} Hz (an upper bound)")
        power_mw = None
        if inference_mj is not None and sensor_mw is not None and step_s:
            power_mw = sensor_mw + inference_mj / step_s
            sleep = board.get("sleep_current_ma")
            if sleep is not None:
                power_mw += vdd * sleep * max(0.0, 1 - latency_ms / 1000 / step_s)
            else:
                notes.append("waiting between inferences not counted (no sleep current given)")
        return {
            "energy_per_inference_mj": inference_mj,
            "energy_per_window_mj": None if power_mw is None else power_mw * step_s,
            "power_mw": power_mw, "sensor_power_mw": sensor_mw,
            "mcu_run_current_ma": run_ma, "sensor_part": self.sensors.get("part"),
            "sensor_mode": None if mode is None else
            {k: mode[k] for k in ("sensors", "odr_hz", "current_ma", "mode") if k in mode},
            "step_s": step_s, "latency_ms": latency_ms,
            "formula": FORMULA, "data_file": self.source, "notes": notes,
        }
