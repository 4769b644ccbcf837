"""The sensing front end: which sensors are on, at what sampling rate, over what window.

A data set's channels belong to sensors (`sensor_of`: the accelerometer's `acc`, the gyroscope's
`gyro`, the magnetometer's `mag`, named in the channel names as UCI-HAR, HAPT and most wearable
recordings do). A loader that cuts recordings into windows can keep a subset of the sensors
(`sensors`) and lower the sampling rate (`rate_hz`, an integer fraction of the recording's): the
recording is low-pass filtered by a causal FIR anti-alias filter (`Decimator`: the taps are part
of the record, so that firmware can filter the sensor stream exactly as training did) and every
q-th sample is kept, before the windows are cut. `FrontEnd` is the record of what was chosen;
the data set, its bundle's `model.json` and every results row carry it.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

import numpy as np

from lut_store.errors import InputError

SENSORS = ("acc", "gyro", "mag")
# Anti-alias filter: the pass band ends at this fraction of the new Nyquist frequency; the taps
# per decimation factor set the transition band (8 q + 1 taps: ≥ 40 dB stop band at q = 2).
CUTOFF_OF_NYQUIST = 0.8
TAPS_PER_FACTOR = 8


def sensor_of(channel: str) -> str | None:
    """The sensor a channel belongs to, from its name (`body_gyro_x` -> `gyro`), or None."""
    tokens = set(re.split(r"[^a-z]+", channel.lower()))
    found = [s for s in SENSORS if s in tokens or any(t.startswith(s) for t in tokens)]
    return found[0] if len(found) == 1 else None


def sensor_groups(channels) -> dict[str, list[int]]:
    """Channel indices per sensor, in channel order (channels of no known sensor: none)."""
    groups: dict[str, list[int]] = {}
    for i, name in enumerate(channels):
        sensor = sensor_of(name)
        if sensor is not None:
            groups.setdefault(sensor, []).append(i)
    return groups


def select_sensors(channels, sensors, where: str) -> list[int]:
    """The indices of the channels of `sensors` (None: every channel)."""
    if sensors is None:
        return list(range(len(channels)))
    if isinstance(sensors, str):
        sensors = [sensors]
    groups = sensor_groups(channels)
    unknown = [s for s in sensors if s not in groups]
    if unknown or not sensors:
        raise InputError(f"{where}: sensors must be some of {', '.join(groups) or '(none named)'}"
                         f" (from the channel names), got {list(sensors)}")
    return sorted(i for s in sensors for i in groups[s])


@dataclass(frozen=True)
class Decimator:
    """Causal FIR low-pass + keep every `factor`-th sample (factor 1: the identity)."""

    source_rate_hz: float
    factor: int
    taps: tuple[float, ...] = ()

    @classmethod
    def between(cls, source_rate_hz: float, rate_hz: float | None, where: str) -> Decimator:
        if rate_hz is None:
            return cls(float(source_rate_hz), 1)
        try:
            rate = float(rate_hz)
        except (TypeError, ValueError):
            raise InputError(f"{where}: rate_hz must be a number, got {rate_hz!r}") from None
        if rate == float(source_rate_hz):
            return cls(float(source_rate_hz), 1)
        factor = source_rate_hz / rate if rate > 0 else 0.0
        if rate <= 0 or rate > source_rate_hz or abs(factor - round(factor)) > 1e-9:
            raise InputError(f"{where}: rate_hz must be the recording's {source_rate_hz:g} Hz "
                             f"divided by a whole number (e.g. {source_rate_hz / 2:g}), got "
                             f"{rate_hz!r}")
        from scipy.signal import firwin
        q = int(round(factor))
        taps = firwin(TAPS_PER_FACTOR * q + 1, CUTOFF_OF_NYQUIST * rate / 2, fs=source_rate_hz)
        return cls(float(source_rate_hz), q, tuple(float(t) for t in taps))

    @property
    def rate_hz(self) -> float:
        return self.source_rate_hz / self.factor

    def __call__(self, signal: np.ndarray) -> np.ndarray:
        """(n, S) at the source rate -> (ceil(n / factor), S): filtered from a steady start (the
        filter's state is that of a signal constant at its first sample), then sample 0, q, 2q…"""
        if self.factor == 1:
            return signal
        from scipy.signal import lfilter, lfilter_zi
        taps = np.asarray(self.taps)
        zi = lfilter_zi(taps, 1.0)[:, None] * signal[:1]
        out, _ = lfilter(taps, 1.0, signal, axis=0, zi=zi)
        return out[::self.factor].astype(signal.dtype)

    def labels(self, labels: np.ndarray) -> np.ndarray:
        return labels[::self.factor]


@dataclass(frozen=True)
class FrontEnd:
    """What the sensors deliver to the network: the record every model carries."""

    sensors: tuple[str, ...]           # the sensors on (their channels are the input's)
    channels: tuple[str, ...]
    sample_rate_hz: float
    window: int                        # samples per window
    step: int                          # samples between window starts (one inference each)
    source_rate_hz: float              # the recording's rate
    decimation: int = 1
    anti_alias_taps: tuple[float, ...] = field(default=())   # causal FIR at the source rate

    @property
    def window_s(self) -> float:
        return self.window / self.sample_rate_hz

    @property
    def step_s(self) -> float:
        return self.step / self.sample_rate_hz

    def to_dict(self) -> dict:
        doc = asdict(self)
        doc.update(sensors=list(self.sensors), channels=list(self.channels),
                   anti_alias_taps=list(self.anti_alias_taps), window_s=self.window_s,
                   step_s=self.step_s)
        return doc

    @classmethod
    def from_dict(cls, doc: dict) -> FrontEnd:
        return cls(tuple(doc["sensors"]), tuple(doc["channels"]), float(doc["sample_rate_hz"]),
                   int(doc["window"]), int(doc["step"]), float(doc["source_rate_hz"]),
                   int(doc.get("decimation", 1)), tuple(doc.get("anti_alias_taps", ())))

    def describe(self) -> str:
        decimated = (f", decimated {self.decimation}x from {self.source_rate_hz:g} Hz "
                     f"(causal {len(self.anti_alias_taps)}-tap FIR)" if self.decimation > 1 else "")
        return (f"{'+'.join(self.sensors) or 'all channels'} ({len(self.channels)} channels) at "
                f"{self.sample_rate_hz:g} Hz{decimated}, window {self.window} "
                f"({self.window_s:g} s), step {self.step}")


def front_end_of(data) -> dict:
    """The front-end record of a Dataset: its loader's where it cut the windows, else what the
    windows themselves say (channels, rate where known, window)."""
    if data.front_end is not None:
        return dict(data.front_end)
    return {"sensors": list(sensor_groups(data.channels)), "channels": list(data.channels),
            "sample_rate_hz": data.sample_rate_hz, "window": data.window, "step": None,
            "source_rate_hz": data.sample_rate_hz, "decimation": 1, "anti_alias_taps": [],
            "window_s": (data.window / data.sample_rate_hz if data.sample_rate_hz else None),
            "step_s": None}
