"""Least-squares fits of the count models: an own fit per board and code path, and the
calibration of a donor's model to a few rows of a new board.

Fits minimise the relative error, robustly (Huber weights by IRLS): runs of one board built on
different days differ by a few % through code placement in the flash cache. The cache size C of
the weight-miss feature is one number per board and path, chosen on the training rows.
Calibration is ridge regression of every coefficient toward the donor's, the penalty measured in
relative-cycle units and its strength chosen by cross-validation on the new board's rows.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from .._lut import MEASURED, Lut, OpConfig
from ._features import CONV_PATHS, FEATURES, matrix, route

# Effective cache sizes (bytes) tried for the weight-miss feature; None = no miss feature.
_CACHE_GRID = (None, 64, 96, 112, 128, 192, 256, 384, 512, 1024, 2048, 3072, 4096, 6144, 8192,
               12288, 16384, 32768)
_RIDGE_GRID = (1e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0, 3.0)
_OWN_RIDGE = 1e-6
_HUBER = 0.01          # relative residual beyond which a row's weight decays (IRLS)
_IRLS_STEPS = 8
_CACHE_GAIN = 0.01     # relative loss reduction a cache size must bring to be kept
_CALIBRATE_CACHE_ROWS = 20  # calibration rows from which a new board gets its own cache size


def _solve(x: np.ndarray, y: np.ndarray, prior: np.ndarray | None = None,
           ridge: float = _OWN_RIDGE) -> np.ndarray:
    """Coefficients minimising the robust (Huber, IRLS) relative error, with a ridge penalty
    toward `prior` measured in relative-cycle units (each coefficient scaled by its feature's
    RMS contribution relative to the cycles, so the penalty means the same for every feature)."""
    a = x / y[:, None]
    scale = np.sqrt(np.mean(a * a, axis=0))
    scale[~(scale > 0)] = 1.0
    an = a / scale
    target = np.zeros(a.shape[1]) if prior is None else np.asarray(prior, float) * scale
    n, p = an.shape
    weights = np.ones(n)
    theta = target
    for _ in range(_IRLS_STEPS):
        aw = an * weights[:, None]
        lhs = aw.T @ aw + ridge * n * np.eye(p)
        rhs = aw.T @ weights + ridge * n * target
        theta = np.linalg.solve(lhs, rhs)
        resid = np.abs(an @ theta - 1.0)
        new = np.sqrt(np.where(resid <= _HUBER, 1.0, _HUBER / np.maximum(resid, 1e-300)))
        if np.allclose(new, weights, atol=1e-6):
            break
        weights = new
    return theta / scale


def _robust_loss(pred: np.ndarray, y: np.ndarray) -> float:
    r = np.abs(pred / y - 1.0)
    return float(np.sum(np.where(r <= _HUBER, 0.5 * r * r, _HUBER * (r - 0.5 * _HUBER))))


def _fit_path(key: str, rows: list, y: np.ndarray) -> dict:
    """An own fit of one conv path, the cache size chosen on the rows themselves."""
    best = None
    for cache in _CACHE_GRID:
        model = {"features": list(FEATURES[key]), "cache_bytes": cache}
        x = matrix(key, rows, model)
        if cache is not None and not np.any(x[:, -1]):
            continue
        coef = _solve(x, y)
        loss = _robust_loss(x @ coef, y)
        if best is None:
            best = (loss, cache, coef)
        # A cache must earn its place: a miss never speeds a kernel up, and a gain within
        # noise is no evidence of a cache.
        elif coef[-1] > 0 and loss < best[0] * (1 - _CACHE_GAIN):
            best = (loss, cache, coef)
    _, cache, coef = best
    return {"features": list(FEATURES[key]), "coef": [float(c) for c in coef],
            "cache_bytes": cache, "rows": int(len(y)), "origin": "fitted"}


def _fit_simple(key: str, rows: list, y: np.ndarray) -> dict:
    width = min(len(FEATURES[key]), len(y))   # 1 row: proportional; 2 rows: a line; ...
    model = {"features": list(FEATURES[key][:width])}
    coef = _solve(matrix(key, rows, model), y)
    return {**model, "coef": [float(c) for c in coef], "rows": int(len(y)), "origin": "fitted"}


def fit_model(key: str, rows: list, y: np.ndarray) -> dict:
    """An own fit of model `key` to feature sources `rows` and cycles `y`."""
    return (_fit_path if key in CONV_PATHS else _fit_simple)(key, rows, y)


def fit_path_anyway(key: str, rows: list, y: np.ndarray) -> dict | None:
    """A conv path's own fit on fewer rows than `min_rows` asks for (no donor to borrow from),
    if there are at least as many rows as features; None otherwise."""
    if key in CONV_PATHS and len(y) >= len(FEATURES[key]):
        return _fit_path(key, rows, y)
    return None


def min_rows(key: str) -> int:
    """Rows below which a board borrows model `key` from a donor instead of fitting its own."""
    return 2 * len(FEATURES[key]) if key in CONV_PATHS else 1


def calibrate_model(key: str, donor: dict, rows: list, y: np.ndarray, donor_name: str) -> dict:
    """The donor's model adapted to a few rows of a new board (ridge toward the donor)."""
    model = {k: v for k, v in donor.items() if k not in ("coef", "rows", "origin")}
    prior = np.asarray(donor["coef"], float)
    n = len(y)
    if n == 0:
        return {**model, "coef": [float(c) for c in prior], "rows": 0,
                "origin": f"copied from {donor_name}"}
    if n < 4:
        ridge = 0.3
        coef = _solve(matrix(key, rows, model), y, prior, ridge)
    else:
        # The cache belongs to the board, not to the code: with enough rows its size is chosen
        # on the new board too, jointly with the ridge strength, by cross-validation.
        caches = [model.get("cache_bytes")]
        if "cache_bytes" in model and n >= _CALIBRATE_CACHE_ROWS:
            caches += [c for c in _CACHE_GRID if c != caches[0]]
        folds = min(5, n)
        assign = np.arange(n) % folds
        best = None
        for cache in caches:
            trial = {**model, "cache_bytes": cache} if "cache_bytes" in model else model
            x = matrix(key, rows, trial)
            if cache is not None and cache != caches[0] and not np.any(x[:, -1]):
                continue
            for ridge in _RIDGE_GRID:
                err = []
                for k in range(folds):
                    train = assign != k
                    c = _solve(x[train], y[train], prior, ridge)
                    err.append(np.abs(x[~train] @ c / y[~train] - 1.0))
                score = float(np.median(np.concatenate(err)))
                if best is None or score < best[0] * (1 - _CACHE_GAIN) or \
                        (cache == best[2] and score < best[0]):
                    best = (score, ridge, cache)
        _, ridge, cache = best
        if "cache_bytes" in model:
            model["cache_bytes"] = cache
        coef = _solve(matrix(key, rows, model), y, prior, ridge)
    return {**model, "coef": [float(c) for c in coef], "rows": int(n),
            "origin": f"calibrated from {donor_name} on {n} rows (ridge {ridge:g})"}


# -- training rows --------------------------------------------------------------------------

def measured_rows(lut: Lut) -> list[tuple[str, OpConfig, float, float]]:
    """(MCU, configuration, cycles, overhead cycles) of every usable measured row."""
    frame = lut.frame[lut.frame["source"] == MEASURED]
    out = []
    for rec in frame.to_dict("records"):
        cycles = float(rec["cycles"])
        if not math.isfinite(cycles) or cycles <= 0:
            continue
        out.append((rec["mcu"], OpConfig.from_row(rec), cycles, float(rec["overhead_cycles"])))
    return out


def group(rows: Iterable[tuple[OpConfig, float, float]]) -> dict:
    """{op: {key: (feature sources, cycles, overheads)}} of the rows that have features."""
    groups: dict = {}
    for cfg, cycles, overhead in rows:
        key, src = route(cfg)
        if src is None:
            continue
        g = groups.setdefault(cfg.op, {}).setdefault(key, ([], [], []))
        g[0].append(src)
        g[1].append(cycles)
        g[2].append(overhead)
    return groups


def overheads(groups: dict) -> dict[str, float]:
    """The median measured interpreter overhead per op."""
    out = {}
    for op, keys in groups.items():
        values = np.array([v for g in keys.values() for v in g[2]], float)
        values = values[np.isfinite(values)]
        if len(values):
            out[op] = float(np.median(values))
    return out


def default_overhead(ops: dict) -> float | None:
    """A board's overhead for ops it has none for: the median over its ops."""
    values = [o["overhead"] for o in ops.values() if o.get("overhead") is not None]
    return float(np.median(values)) if values else None
