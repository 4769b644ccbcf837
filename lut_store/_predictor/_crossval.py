"""How good the predictor is: k-fold cross-validation on one board, and onboarding (a board
never seen, calibrated with a few of its measurements)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from .._lut import MEASURED, Lut, OpConfig
from .._mcu import Mcu
from ..errors import InputError
from ._donors import board_definitions, unknown_board
from ._features import CONV
from ._model import Predictor


def _errors(pred: np.ndarray, actual: np.ndarray) -> dict:
    err = np.abs(pred / actual - 1.0)
    return {"median_rel_error": float(np.median(err)), "p90_rel_error": float(np.percentile(err, 90)),
            "mean_rel_error": float(np.mean(err)), "max_rel_error": float(np.max(err)),
            "n_eval": int(len(err))}


def _op_rows(lut: Lut, mcu: str, op: str) -> Lut:
    f = lut.frame
    keep = ((f["mcu"] == mcu) & (f["op"] == op) & (f["source"] == MEASURED)
            & np.isfinite(f["cycles"]) & (f["cycles"] > 0))
    return Lut(f[keep])


def cross_validate(lut: Lut, mcu: str | Mcu, folds: int = 5, seed: int = 0, op: str = CONV) -> dict:
    """k-fold cross-validation of the predictor on one board's measured `op` rows: each fold is
    predicted by a predictor fitted to the board's other rows (all ops). `mcu` is the board's
    definition, or its name (looked up like `load_mcu`; an unknown name counts as of an unknown
    core)."""
    if folds < 2:
        raise InputError(f"cross-validation needs at least 2 folds, got {folds}")
    if isinstance(mcu, Mcu):
        board_mcu = mcu
    else:
        board_mcu = next(iter(board_definitions([mcu])), None) or unknown_board(mcu)
    name = board_mcu.name
    board = lut.measured().for_mcu(name)
    target = _op_rows(board, name, op)
    n = len(target)
    if n < folds:
        raise InputError(f"{name}: {n} measured {op} rows, too few for {folds}-fold cross-validation")
    rest = board.frame[board.frame["op"] != op]
    fold_of = np.empty(n, int)
    fold_of[np.random.default_rng(seed).permutation(n)] = np.arange(n) % folds
    configs = [OpConfig.from_row(r) for r in target.frame.to_dict("records")]
    actual = target.frame["cycles"].to_numpy(float)
    pred = np.zeros(n)
    for k in range(folds):
        train = Lut(pd.concat([rest, target.frame[fold_of != k]], ignore_index=True))
        predictor = Predictor.fit(train, [board_mcu])
        idx = np.flatnonzero(fold_of == k)
        pred[idx] = predictor.predict(board_mcu, [configs[i] for i in idx])[0]
    return {**_errors(pred, actual), "folds": int(folds)}


def onboarding_error(train: Lut, new: Lut, new_mcu: Mcu, calibration: int = 50, seed: int = 0,
                     op: str = CONV, *, mcus: Iterable[Mcu] | None = None) -> dict:
    """How well a board never seen is predicted after calibrating the model learned on `train`
    with `calibration` random measured `op` configurations of it; evaluated on all the others.
    `mcus` are the definitions of `train`'s boards (their cores rank the donors); by default
    they are looked up by name like `load_mcu` does."""
    donors = Lut(train.measured().frame[train.measured().frame["mcu"] != new_mcu.name])
    if not len(donors):
        raise InputError("onboarding needs measured rows of at least one other board")
    target = _op_rows(new, new_mcu.name, op)
    n = len(target)
    if calibration < 1 or n <= calibration:
        raise InputError(f"{new_mcu.name}: {n} measured {op} rows, need more than the "
                         f"{calibration} used for calibration")
    order = np.random.default_rng(seed).permutation(n)
    calib, held = order[:calibration], np.sort(order[calibration:])
    predictor = Predictor.fit(donors, board_definitions(donors.mcus) if mcus is None else mcus)
    donor = predictor.donor(new_mcu)
    calibrated = predictor.calibrate(new_mcu, Lut(target.frame.iloc[calib]))
    configs = [OpConfig.from_row(r) for r in target.frame.iloc[held].to_dict("records")]
    actual = target.frame["cycles"].to_numpy(float)[held]
    pred = calibrated.predict(new_mcu, configs)[0]
    return {**_errors(pred, actual), "folds": None, "n_calibration": int(calibration), "donor": donor}
