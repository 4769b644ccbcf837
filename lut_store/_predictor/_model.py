"""The fitted predictor: count models per board, predictions through a board's own models or a
donor's, and its file in a LUT folder."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from .. import _storage
from .._lut import Lut, OpConfig
from .._mcu import Mcu
from ..errors import InputError
from ._donors import UNKNOWN_CORE, donor_for, ranked_donors
from ._features import matrix, route
from ._file import PREDICTOR_FILE, dumps, loads, version_of
from ._fit import (
    calibrate_model,
    default_overhead,
    fit_model,
    fit_path_anyway,
    group,
    measured_rows,
    min_rows,
    overheads,
)


def _by_name(mcus: Iterable[Mcu]) -> dict[str, Mcu]:
    if isinstance(mcus, (str, Mcu)):
        raise TypeError("mcus must be an iterable of Mcu (e.g. [lut_store.load_mcu(name)])")
    out = {}
    for mcu in mcus:
        if not isinstance(mcu, Mcu):
            raise TypeError(f"mcus must hold Mcu objects (lut_store.load_mcu(name)), "
                            f"got {type(mcu).__name__}")
        out[mcu.name] = mcu
    return out


class Predictor:
    """Fitted count models per board; predictions for any board through its own or a donor's."""

    def __init__(self, boards: dict):
        self._boards = boards
        self.version = version_of(boards)

    @property
    def boards(self) -> list[str]:
        return sorted(self._boards)

    # -- construction ------------------------------------------------------------------------
    @classmethod
    def fit(cls, lut: Lut, mcus: Iterable[Mcu]) -> "Predictor":
        """Models for every MCU of `lut` from its measured rows. `mcus` are the boards'
        definitions: their cores decide which board lends its model to which (a board of `lut`
        not among them counts as of an unknown core). A board with too few rows on a code path
        borrows that path from the closest board that has enough, calibrated to them."""
        known = _by_name(mcus)
        per_board: dict[str, list] = {}
        for mcu, cfg, cycles, overhead in measured_rows(lut):
            per_board.setdefault(mcu, []).append((cfg, cycles, overhead))
        boards: dict = {}
        pending = []
        for name, rows in sorted(per_board.items()):
            board = known.get(name)
            groups = group(rows)
            ops: dict = {}
            for op, keys in groups.items():
                models = {}
                for key, (src, ys, _) in keys.items():
                    y = np.array(ys, float)
                    if len(y) < min_rows(key):
                        pending.append((name, op, key, src, y))
                        continue
                    models[key] = fit_model(key, src, y)
                ops[op] = {"models": models}
            for op, value in overheads(groups).items():
                ops[op]["overhead"] = value
            boards[name] = {"core": board.core if board else UNKNOWN_CORE,
                            "core_family": board.core_family if board else UNKNOWN_CORE,
                            "ops": ops, "rows": len(rows), "origin": "fitted"}
            if board is not None and board.emulated:
                boards[name]["emulated"] = True
        for name, op, key, src, y in pending:
            donor = donor_for(boards, boards[name]["core_family"], exclude=name, need=(op, key),
                              emulated=bool(boards[name].get("emulated")))
            if donor is not None:
                model = calibrate_model(key, boards[donor]["ops"][op]["models"][key], src, y, donor)
            else:
                model = fit_path_anyway(key, src, y)
                if model is None:
                    continue
            boards[name]["ops"][op]["models"][key] = model
        for board in boards.values():
            board["ops"] = {op: v for op, v in board["ops"].items() if v["models"]}
            board["default_overhead"] = default_overhead(board["ops"])
        return cls(boards)

    def calibrate(self, mcu: Mcu, measured: Lut) -> "Predictor":
        """A predictor that also knows `mcu`, adapted from its donor to the measured rows of `mcu`
        in `measured` (any number; few are enough). Other boards are kept as they are."""
        rows = [(cfg, c, o) for m, cfg, c, o in measured_rows(measured) if m == mcu.name]
        if not rows:
            raise InputError(f"no measured rows for {mcu.name} to calibrate on")
        family = mcu.core_family
        donor = donor_for(self._boards, family, exclude=mcu.name, emulated=mcu.emulated)
        if donor is None and mcu.name in self._boards:
            donor = mcu.name
        if donor is None:
            fitted = Predictor.fit(Lut(measured.frame[measured.frame["mcu"] == mcu.name]), [mcu])
            return Predictor({**self._boards, **fitted._boards})
        base = self._boards[donor]
        groups = group(rows)
        ops: dict = {}
        for op in sorted(set(base["ops"]) | set(groups)):
            donor_models = base["ops"].get(op, {}).get("models", {})
            keys = groups.get(op, {})
            models = {}
            for key in sorted(set(donor_models) | set(keys)):
                src, ys, _ = keys.get(key, ([], [], []))
                y = np.array(ys, float)
                if key in donor_models:
                    models[key] = calibrate_model(key, donor_models[key], src, y, donor)
                elif len(y) >= min_rows(key):
                    models[key] = fit_model(key, src, y)
            if models:
                ops[op] = {"models": models}
                if op in base["ops"] and base["ops"][op].get("overhead") is not None:
                    ops[op]["overhead"] = base["ops"][op]["overhead"]
        for op, value in overheads(groups).items():
            if op in ops:
                ops[op]["overhead"] = value
        board = {"core": mcu.core, "core_family": family, "ops": ops, "rows": len(rows),
                 "origin": f"calibrated from {donor}", **({"emulated": True} if mcu.emulated else {})}
        board["default_overhead"] = default_overhead(ops)
        return Predictor({**self._boards, mcu.name: board})

    # -- queries -----------------------------------------------------------------------------
    def donor(self, mcu: Mcu) -> str | None:
        """The board whose model predicts for `mcu`: `mcu` itself when it was fitted or
        calibrated, else the closest fitted board (same core family, architecture, CMSIS-NN
        build flavour), None when the predictor knows no board at all."""
        if mcu.name in self._boards:
            return mcu.name
        return donor_for(self._boards, mcu.core_family, emulated=mcu.emulated)

    def can_predict(self, mcu: Mcu, config: OpConfig) -> bool:
        key, src = route(config)
        return src is not None and self._model_for(mcu, config.op, key) is not None

    def predict(self, mcu: Mcu, configs: list[OpConfig]) -> tuple[np.ndarray, np.ndarray]:
        """Kernel cycles and interpreter overhead cycles for each configuration."""
        configs = list(configs)
        cycles = np.zeros(len(configs))
        overhead = np.zeros(len(configs))
        batches: dict = {}
        for i, cfg in enumerate(configs):
            key, src = route(cfg)
            found = None if src is None else self._model_for(mcu, cfg.op, key)
            if found is None:
                raise InputError(
                    f"{mcu.name}: cannot predict {cfg.op} {cfg.to_dict()} (no fitted model for "
                    f"this op{'' if src is not None else ' or malformed configuration'})")
            board, model = found
            b = batches.setdefault((board, cfg.op, key), ([], [], model))
            b[0].append(i)
            b[1].append(src)
        for (board, op, key), (idx, rows, model) in batches.items():
            x = matrix(key, rows, model)
            cycles[idx] = np.maximum(x @ np.asarray(model["coef"], float), 1.0)
            ops = self._boards[board]["ops"]
            ovh = ops.get(op, {}).get("overhead")
            if ovh is None:
                ovh = self._boards[board].get("default_overhead") or 0.0
            overhead[idx] = ovh
        return cycles, overhead

    def _model_for(self, mcu: Mcu, op: str, key: str) -> tuple[str, dict] | None:
        for name in self._candidates(mcu):
            model = self._boards[name]["ops"].get(op, {}).get("models", {}).get(key)
            if model is not None:
                return name, model
        return None

    def _candidates(self, mcu: Mcu) -> list[str]:
        own = [mcu.name] if mcu.name in self._boards else []
        return own + ranked_donors(self._boards, mcu.core_family, exclude=mcu.name,
                                   emulated=mcu.emulated)

    # -- storage -----------------------------------------------------------------------------
    def to_json(self) -> str:
        return dumps(self._boards, self.version)

    @classmethod
    def from_json(cls, text: str, source: str = "<json>") -> "Predictor":
        return cls(loads(text, source))


def read_predictor(lut_url: str) -> Predictor | None:
    """The predictor stored in a LUT folder, None when it has none."""
    url = _storage.join(lut_url, PREDICTOR_FILE)
    if not _storage.exists(url):
        return None
    return Predictor.from_json(_storage.read_bytes(url).decode("utf-8", "replace"), source=url)


def write_predictor(lut_url: str, predictor: Predictor) -> str:
    """Store `predictor` in a LUT folder (atomically); its URL."""
    url = _storage.join(lut_url, PREDICTOR_FILE)
    _storage.write_bytes(url, predictor.to_json().encode())
    return url
