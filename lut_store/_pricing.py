"""Price single ops on one board: measured cycles where the LUT has them, predicted (and flagged)
where it does not. This is what every cost figure of the project is built from."""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, replace

import numpy as np

from ._lut import MEASURED, PREDICTED, Lut, OpConfig
from ._mcu import Mcu, load_mcu
from ._predictor import Predictor, board_definitions, read_predictor
from .errors import InputError

# In int8 kernels a fused activation of this kind only sets the requantisation clamp: the cycles
# are the same, so a row measured with one prices the others.
_CLAMP_ONLY = ("none", "relu", "relu6", "relu_n1_to_1")
_CLAMPING_OPS = {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "ADD"}


@dataclass(frozen=True)
class OpCost:
    config: OpConfig
    cycles: float            # kernel cycles
    overhead_cycles: float   # interpreter overhead around the kernel
    source: str              # "measured" | "predicted"
    donor: str | None = None  # the board whose fitted model predicted it (predicted rows only)


# Predictors fitted by `LatencyModel.open` for LUT folders without predictor.json, by the
# content of the measured rows and the boards' cores: every trial of a sweep opens the same folder,
# and a fit takes seconds, so a process fits each LUT content once. A few entries: a process
# rarely sees more than a couple of LUTs.
_FITTED: dict[tuple, Predictor] = {}
_FITTED_MAX = 8
_FIT_LOCK = threading.Lock()


def _fitted_once(measured: Lut) -> Predictor:
    mcus = board_definitions(measured.mcus)
    key = (measured.content_hash(), tuple(sorted((m.name, m.core) for m in mcus)))
    with _FIT_LOCK:
        predictor = _FITTED.get(key)
        if predictor is None:
            predictor = Predictor.fit(measured, mcus)
            if len(_FITTED) >= _FITTED_MAX:
                _FITTED.pop(next(iter(_FITTED)))
            _FITTED[key] = predictor
    return predictor


class LatencyModel:
    """Cycles of any op configuration on one MCU. Holds no global state: one per board."""

    def __init__(self, mcu: Mcu, lut: Lut, predictor: Predictor | None = None):
        self.mcu = mcu
        self.lut = lut.for_mcu(mcu.name)
        self.predictor = predictor
        measured = self.lut.frame[self.lut.frame["source"] == MEASURED]["overhead_cycles"]
        measured = measured[np.isfinite(measured)]
        # When a row has no overhead of its own, the board's typical one is the best guess.
        self._default_overhead = float(measured.median()) if len(measured) else None
        self._cache: dict[OpConfig, OpCost] = {}

    @classmethod
    def open(cls, lut_url: str, mcu: str | Mcu) -> "LatencyModel":
        """The LUT folder's rows for `mcu` and its predictor. A folder without predictor.json
        gets one fitted to all its measured rows (the boards' cores as `load_mcu` finds them),
        once per process and LUT content: to fit once for many processes, fit up front and pass
        the predictor to `LatencyModel(mcu, Lut.read(lut_url, mcu.name), predictor)`."""
        mcu = load_mcu(mcu)
        predictor = read_predictor(lut_url)
        if predictor is None:
            measured = Lut.read(lut_url).measured()
            if len(measured):
                predictor = _fitted_once(measured)
        return cls(mcu, Lut.read(lut_url, mcu.name), predictor)

    def price(self, config: OpConfig) -> OpCost:
        cost = self._cache.get(config)
        if cost is None:
            cost = self._cache[config] = self._price(config)
        return cost

    def can_price(self, config: OpConfig) -> bool:
        return (self._lookup(config) is not None
                or (self.predictor is not None and self.predictor.can_predict(self.mcu, config)))

    def _lookup(self, config: OpConfig) -> dict | None:
        row = self.lut.lookup(self.mcu.name, config)
        if row is None and config.op in _CLAMPING_OPS and config.activation in _CLAMP_ONLY:
            for activation in _CLAMP_ONLY:
                row = self.lut.lookup(self.mcu.name, replace(config, activation=activation))
                if row is not None:
                    break
        return row

    def _price(self, config: OpConfig) -> OpCost:
        row = self._lookup(config)
        predicted_overhead = None
        if row is None or not math.isfinite(row["overhead_cycles"]):
            if self.predictor is not None and self.predictor.can_predict(self.mcu, config):
                cycles, overhead = self.predictor.predict(self.mcu, [config])
                predicted_overhead = float(overhead[0])
                if row is None:
                    donor = self.predictor.donor(self.mcu)
                    # Name the donor only when another board's model stands in for this one.
                    return OpCost(config, float(cycles[0]), predicted_overhead, PREDICTED,
                                  donor if donor != self.mcu.name else None)
            elif row is None:
                raise InputError(
                    f"{config.op} {config.to_dict()} on {self.mcu.name}: neither measured in the "
                    "LUT nor predictable (import measurements of this op or fit a predictor)")
        overhead = row["overhead_cycles"]
        if not math.isfinite(overhead):
            overhead = predicted_overhead if predicted_overhead is not None else (self._default_overhead or 0.0)
        return OpCost(config, float(row["cycles"]), float(overhead), row["source"])
