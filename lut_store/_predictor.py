"""Kernel cycles (and interpreter overhead) of op configurations that were never measured.

The model is data: per board, per op kind, per CMSIS-NN code path, a short list of named count
features and their least-squares coefficients (JSON, never a pickle).

CONV_2D follows what TFLM's CMSIS-NN kernel really executes (`arm_convolve_wrapper_s8`, DSP build):

* `arm_convolve_1x1_s8_fast` (1x1 kernel, stride 1, no padding, and C_in % 4 == 0 as the 2021/22
  wrapper demands; every measured 1x1 conv has such a C_in, so the data cannot tell the later rule
  without it apart) runs `arm_nn_mat_mult_nt_t_s8`: per pair of output channels a sum over the
  C_in weights (input-offset term), then per (channel pair, pixel pair) a block of 2x2
  accumulators with an inner loop 16 columns at a time, then 4 at a time.
* everything else runs `arm_convolve_s8` (`arm_convolve_1_x_n_s8`, chosen for inputs of height 1,
  is `arm_convolve_s8` again outside MVE builds): im2col of two output pixels at a time
  (`arm_q7_to_q15_with_offset` per in-bounds kernel tap, 4 values per iteration plus leftovers;
  `memset` per padded tap) and `arm_nn_mat_mult_kernel_s8_s16` per column pair: per pair of output
  channels a loop over K = C_in·k_h·k_w, 4 columns per iteration plus K % 4 leftovers.

The features count the iterations of those loops (odd pixel / channel counts, whose leftover code
the measured shapes never exercise, count as half a pair). One more feature per path models the
cache: weights are read from flash through a small cache, and a weight byte whose reuse distance
exceeds the cache's effective size C misses; the miss fraction of a stream of W bytes cycled
through C bytes is max(0, 1 - C/W). The reuse distance is all weights (C_out·K bytes) for the
im2col path, one channel pair's weights (2·C_in bytes) for the 1x1 path; C is one number per
board and path, chosen on the training rows. Fits minimise the relative error (robustly: runs of
one board built on different days differ by a few % through code placement in that cache).

ADD, MEAN, SOFTMAX (and pooling, depthwise, fully connected when a LUT has them): a line in the
element (or MAC) count. Interpreter overhead: the median measured overhead per board and op.

A board without measurements borrows the model of a donor: the same core family first (cycles do
not depend on the clock), else the same architecture, else the same CMSIS-NN build flavour (DSP,
MVE, plain C). `calibrate` adapts a donor to a few measurements of a new board by ridge regression
of every coefficient toward the donor's, the penalty measured in relative-cycle units and its
strength chosen by cross-validation on those measurements.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Iterable

import numpy as np
import pandas as pd

from ._lut import MEASURED, Lut, OpConfig
from ._mcu import Mcu, load_mcu
from .errors import InputError

FORMAT = "micronas.latency-predictor"
MODEL_FORM = "cmsis-nn-counts/1"

CONV = "CONV_2D"
FAST_1X1 = "arm_convolve_1x1_s8_fast"
IM2COL = "arm_convolve_s8"

# Feature names per model kind, in the order coefficients are stored.
FEATURES = {
    IM2COL: ("const", "column_pairs", "channel_pairs", "mac_quads", "mac_leftovers",
             "tap_copies", "tap_copy_quads", "tap_copy_leftovers", "tap_pads", "tap_pad_values",
             "weight_misses"),
    FAST_1X1: ("const", "channel_pairs", "channel_pair_inputs", "pixel_channel_pairs",
               "pair_loops_16", "pair_loops_4", "weight_misses"),
    "elements": ("elements", "const"),
    "input_elements": ("input_elements", "const"),
    "macs": ("macs", "const", "output_elements"),
}
# Op kinds with a model family other than "output elements".
_OP_FAMILY = {"MEAN": "input_elements", "SUM": "input_elements", "AVERAGE_POOL_2D": "input_elements",
              "MAX_POOL_2D": "input_elements", "DEPTHWISE_CONV_2D": "macs",
              "FULLY_CONNECTED": "macs"}
# Effective cache sizes (bytes) tried for the weight-miss feature; None = no miss feature.
_CACHE_GRID = (None, 64, 96, 112, 128, 192, 256, 384, 512, 1024, 2048, 3072, 4096, 6144, 8192,
               12288, 16384, 32768)
_RIDGE_GRID = (1e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0, 3.0)
_OWN_RIDGE = 1e-6
_HUBER = 0.01          # relative residual beyond which a row's weight decays (IRLS)
_IRLS_STEPS = 8
_CACHE_GAIN = 0.01     # relative loss reduction a cache size must bring to be kept
_CALIBRATE_CACHE_ROWS = 20  # calibration rows from which a new board gets its own cache size

# Core families → (architecture, CMSIS-NN build flavour): the donor search order.
_CORES = {
    "cortex-m0": ("armv6-m", "plain"), "cortex-m0+": ("armv6-m", "plain"),
    "cortex-m1": ("armv6-m", "plain"), "cortex-m3": ("armv7-m", "plain"),
    "cortex-m4": ("armv7e-m", "dsp"), "cortex-m7": ("armv7e-m", "dsp"),
    "cortex-m23": ("armv8-m.base", "plain"), "cortex-m33": ("armv8-m.main", "dsp"),
    "cortex-m35p": ("armv8-m.main", "dsp"), "cortex-m52": ("armv8.1-m", "mve"),
    "cortex-m55": ("armv8.1-m", "mve"), "cortex-m85": ("armv8.1-m", "mve"),
}


def _family(core: str) -> str:
    core = core.lower()
    return core[:-1] if core.endswith("f") else core


def _core_distance(a: str, b: str) -> int:
    if a == b:
        return 0
    arch_a, flavour_a = _CORES.get(a, (a, a))
    arch_b, flavour_b = _CORES.get(b, (b, b))
    if arch_a == arch_b:
        return 1
    return 2 if flavour_a == flavour_b else 3


# -- features -------------------------------------------------------------------------------

def _prod(shape) -> int:
    return int(np.prod(shape)) if len(shape) else 0


def _same_pad(in_size: int, k: int, s: int, out: int) -> int:
    # TFLite's ComputePadding: the extra row/column of an odd total goes after the data.
    return max(((out - 1) * s + k - in_size) // 2, 0)


def _in_bounds_taps(in_size: int, k: int, s: int, out: int, pad: int) -> int:
    """Kernel taps over all output positions of one axis that land inside the input."""
    total = 0
    for j in range(k):
        lo = max(0, -((j - pad) // s))                     # ceil((pad - j) / s)
        hi = min(out - 1, (in_size - 1 + pad - j) // s)
        total += max(0, hi - lo + 1)
    return total


def _conv_geometry(cfg: OpConfig) -> tuple | None:
    """(path, N·P, C_in, C_out, K, in-bounds taps, padded taps) or None if not a valid conv."""
    if len(cfg.input_shape) != 4 or len(cfg.output_shape) != 4:
        return None
    n, h, w, ci = cfg.input_shape
    n_out, ho, wo, co = cfg.output_shape
    (kh, kw), (sh, sw) = cfg.kernel, cfg.stride
    if min(n, h, w, ci, ho, wo, co, kh, kw, sh, sw) <= 0 or n_out != n:
        return None
    if cfg.padding == "same":
        ph, pw = _same_pad(h, kh, sh, ho), _same_pad(w, kw, sw, wo)
    elif cfg.padding == "valid":
        ph = pw = 0
    else:
        return None
    taps_h, taps_w = _in_bounds_taps(h, kh, sh, ho, ph), _in_bounds_taps(w, kw, sw, wo, pw)
    inside = n * taps_h * taps_w
    pixels = n * ho * wo
    padded = pixels * kh * kw - inside
    fast = kh == kw == 1 and sh == sw == 1 and ph == pw == 0 and ci % 4 == 0
    return (FAST_1X1 if fast else IM2COL), pixels, ci, co, ci * kh * kw, inside, padded


def _miss(reuse_bytes: np.ndarray, cache: float | None) -> np.ndarray:
    if cache is None:
        return np.zeros_like(reuse_bytes, dtype=float)
    return np.maximum(0.0, 1.0 - cache / np.maximum(reuse_bytes, 1.0))


def _conv_matrix(path: str, geo: np.ndarray, cache: float | None) -> np.ndarray:
    pixels, ci, co, k, inside, padded = (geo[:, i].astype(float) for i in range(1, 7))
    col_pairs, ch_pairs = pixels / 2.0, co / 2.0
    if path == IM2COL:
        pairs = col_pairs * ch_pairs
        quads = pairs * np.floor(k / 4)
        cols = [np.ones_like(pixels), col_pairs, pairs, quads, pairs * (k % 4),
                inside, inside * np.floor(ci / 4), inside * (ci % 4), padded, padded * ci,
                quads * _miss(co * k, cache)]
    else:
        pairs = col_pairs * ch_pairs
        cols = [np.ones_like(pixels), ch_pairs, ch_pairs * ci, pairs, pairs * np.floor(ci / 16),
                pairs * np.floor((ci % 16) / 4), pairs * (ci / 4) * _miss(2 * ci, cache)]
    return np.column_stack(cols)


def _simple_row(family: str, cfg: OpConfig) -> list[float] | None:
    out_el, in_el = _prod(cfg.output_shape), _prod(cfg.input_shape)
    if out_el <= 0 or in_el <= 0:
        return None
    if family == "elements":
        return [float(out_el), 1.0]
    if family == "input_elements":
        return [float(in_el), 1.0]
    if cfg.op == "DEPTHWISE_CONV_2D":
        kh, kw = cfg.kernel
        if kh <= 0 or kw <= 0:
            return None
        macs = out_el * kh * kw
    else:  # FULLY_CONNECTED: every output unit reads every input feature of its batch row
        batch = cfg.input_shape[0] if len(cfg.input_shape) > 1 else 1
        macs = out_el * (in_el // max(batch, 1))
    return [float(macs), 1.0, float(out_el)]


def _route(cfg: OpConfig) -> tuple[str, tuple | list | None]:
    """(model key within the op, feature source) for one configuration."""
    if cfg.op == CONV:
        geo = _conv_geometry(cfg)
        return (geo[0] if geo else IM2COL), geo
    family = _OP_FAMILY.get(cfg.op, "elements")
    return family, _simple_row(family, cfg)


def _matrix(key: str, rows: list, model: dict) -> np.ndarray:
    if key in (IM2COL, FAST_1X1):
        return _conv_matrix(key, np.array(rows, dtype=object), model.get("cache_bytes"))
    width = len(model["features"])
    return np.array([r[:width] for r in rows], dtype=float)


# -- fitting --------------------------------------------------------------------------------

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
        x = _matrix(key, rows, model)
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
    coef = _solve(_matrix(key, rows, model), y)
    return {**model, "coef": [float(c) for c in coef], "rows": int(len(y)), "origin": "fitted"}


def _min_rows(key: str) -> int:
    return 2 * len(FEATURES[key]) if key in (IM2COL, FAST_1X1) else 1


def _calibrate_model(key: str, donor: dict, rows: list, y: np.ndarray, donor_name: str) -> dict:
    """The donor's model adapted to a few rows of a new board (ridge toward the donor)."""
    model = {k: v for k, v in donor.items() if k not in ("coef", "rows", "origin")}
    prior = np.asarray(donor["coef"], float)
    n = len(y)
    if n == 0:
        return {**model, "coef": [float(c) for c in prior], "rows": 0,
                "origin": f"copied from {donor_name}"}
    if n < 4:
        ridge = 0.3
        coef = _solve(_matrix(key, rows, model), y, prior, ridge)
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
            x = _matrix(key, rows, trial)
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
        coef = _solve(_matrix(key, rows, model), y, prior, ridge)
    return {**model, "coef": [float(c) for c in coef], "rows": int(n),
            "origin": f"calibrated from {donor_name} on {n} rows (ridge {ridge:g})"}


def _measured_rows(lut: Lut) -> list[tuple[str, OpConfig, float, float]]:
    frame = lut.frame[lut.frame["source"] == MEASURED]
    out = []
    for rec in frame.to_dict("records"):
        cycles = float(rec["cycles"])
        if not math.isfinite(cycles) or cycles <= 0:
            continue
        out.append((rec["mcu"], OpConfig.from_row(rec), cycles, float(rec["overhead_cycles"])))
    return out


def _group(rows: Iterable[tuple[OpConfig, float, float]]) -> dict:
    """{op: {key: (feature sources, cycles, overheads)}} of the rows that have features."""
    groups: dict = {}
    for cfg, cycles, overhead in rows:
        key, src = _route(cfg)
        if src is None:
            continue
        g = groups.setdefault(cfg.op, {}).setdefault(key, ([], [], []))
        g[0].append(src)
        g[1].append(cycles)
        g[2].append(overhead)
    return groups


def _overheads(groups: dict) -> dict[str, float]:
    out = {}
    for op, keys in groups.items():
        values = np.array([v for g in keys.values() for v in g[2]], float)
        values = values[np.isfinite(values)]
        if len(values):
            out[op] = float(np.median(values))
    return out


def _default_overhead(ops: dict) -> float | None:
    values = [o["overhead"] for o in ops.values() if o.get("overhead") is not None]
    return float(np.median(values)) if values else None


# -- the predictor --------------------------------------------------------------------------

class Predictor:
    """Fitted count models per board; predictions for any board through its own or a donor's."""

    def __init__(self, boards: dict):
        self._boards = boards
        self.version = f"{MODEL_FORM}+{_content_hash(boards)}"

    @property
    def boards(self) -> list[str]:
        return sorted(self._boards)

    # -- construction ------------------------------------------------------------------------
    @classmethod
    def fit(cls, lut: Lut) -> "Predictor":
        """Models for every MCU of `lut` from its measured rows. A board with too few rows on a
        code path borrows that path from the closest board that has enough, calibrated to them."""
        per_board: dict[str, list] = {}
        for mcu, cfg, cycles, overhead in _measured_rows(lut):
            per_board.setdefault(mcu, []).append((cfg, cycles, overhead))
        boards: dict = {}
        pending = []
        for name, rows in sorted(per_board.items()):
            core = _board_core(name)
            groups = _group(rows)
            ops: dict = {}
            for op, keys in groups.items():
                models = {}
                for key, (src, ys, _) in keys.items():
                    y = np.array(ys, float)
                    if len(y) < _min_rows(key):
                        pending.append((name, op, key, src, y))
                        continue
                    models[key] = (_fit_path if key in (IM2COL, FAST_1X1) else _fit_simple)(key, src, y)
                ops[op] = {"models": models}
            for op, value in _overheads(groups).items():
                ops[op]["overhead"] = value
            boards[name] = {"core": core, "core_family": _family(core), "ops": ops,
                            "rows": len(rows), "origin": "fitted"}
        for name, op, key, src, y in pending:
            donor = _donor_for(boards, boards[name]["core_family"], exclude=name,
                               need=(op, key))
            if donor is not None:
                model = _calibrate_model(key, boards[donor]["ops"][op]["models"][key], src, y, donor)
            elif key in (IM2COL, FAST_1X1) and len(y) >= len(FEATURES[key]):
                model = _fit_path(key, src, y)
            else:
                continue
            boards[name]["ops"][op]["models"][key] = model
        for board in boards.values():
            board["ops"] = {op: v for op, v in board["ops"].items() if v["models"]}
            board["default_overhead"] = _default_overhead(board["ops"])
        return cls(boards)

    def calibrate(self, mcu: Mcu, measured: Lut) -> "Predictor":
        """A predictor that also knows `mcu`, adapted from its donor to the measured rows of `mcu`
        in `measured` (any number; few are enough). Other boards are kept as they are."""
        rows = [(cfg, c, o) for m, cfg, c, o in _measured_rows(measured) if m == mcu.name]
        if not rows:
            raise InputError(f"no measured rows for {mcu.name} to calibrate on")
        family = mcu.core_family
        donor = _donor_for(self._boards, family, exclude=mcu.name)
        if donor is None and mcu.name in self._boards:
            donor = mcu.name
        if donor is None:
            fitted = Predictor.fit(Lut(measured.frame[measured.frame["mcu"] == mcu.name]))
            return Predictor({**self._boards, **fitted._boards})
        base = self._boards[donor]
        groups = _group(rows)
        ops: dict = {}
        for op in sorted(set(base["ops"]) | set(groups)):
            donor_models = base["ops"].get(op, {}).get("models", {})
            keys = groups.get(op, {})
            models = {}
            for key in sorted(set(donor_models) | set(keys)):
                src, ys, _ = keys.get(key, ([], [], []))
                y = np.array(ys, float)
                if key in donor_models:
                    models[key] = _calibrate_model(key, donor_models[key], src, y, donor)
                elif len(y) >= _min_rows(key):
                    models[key] = (_fit_path if key in (IM2COL, FAST_1X1) else _fit_simple)(key, src, y)
            if models:
                ops[op] = {"models": models}
                if op in base["ops"] and base["ops"][op].get("overhead") is not None:
                    ops[op]["overhead"] = base["ops"][op]["overhead"]
        for op, value in _overheads(groups).items():
            if op in ops:
                ops[op]["overhead"] = value
        board = {"core": mcu.core, "core_family": family, "ops": ops, "rows": len(rows),
                 "origin": f"calibrated from {donor}"}
        board["default_overhead"] = _default_overhead(ops)
        return Predictor({**self._boards, mcu.name: board})

    # -- queries -----------------------------------------------------------------------------
    def donor(self, mcu: Mcu) -> str | None:
        """The board whose model predicts for `mcu`: `mcu` itself when it was fitted or
        calibrated, else the closest fitted board (same core family, architecture, CMSIS-NN
        build flavour), None when the predictor knows no board at all."""
        if mcu.name in self._boards:
            return mcu.name
        return _donor_for(self._boards, mcu.core_family)

    def can_predict(self, mcu: Mcu, config: OpConfig) -> bool:
        key, src = _route(config)
        return src is not None and self._model_for(mcu, config.op, key) is not None

    def predict(self, mcu: Mcu, configs: list[OpConfig]) -> tuple[np.ndarray, np.ndarray]:
        """Kernel cycles and interpreter overhead cycles for each configuration."""
        configs = list(configs)
        cycles = np.zeros(len(configs))
        overhead = np.zeros(len(configs))
        batches: dict = {}
        for i, cfg in enumerate(configs):
            key, src = _route(cfg)
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
            x = _matrix(key, rows, model)
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
        return own + _ranked_donors(self._boards, mcu.core_family, exclude=mcu.name)

    # -- storage -----------------------------------------------------------------------------
    def to_json(self) -> str:
        return json.dumps({"format": FORMAT, "model_form": MODEL_FORM, "version": self.version,
                           "boards": self._boards}, indent=1, sort_keys=True, allow_nan=False)

    @classmethod
    def from_json(cls, text: str, source: str = "<json>") -> "Predictor":
        try:
            data = json.loads(text)
        except (TypeError, ValueError, RecursionError) as exc:
            reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc).split(";")[0]
            raise InputError(f"{source}: not a JSON predictor ({reason})") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise InputError(f"{source}: not a MicroNAS latency predictor (format must be {FORMAT!r})")
        if data.get("model_form") != MODEL_FORM:
            raise InputError(f"{source}: predictor model form {data.get('model_form')!r} is not "
                             f"{MODEL_FORM!r} (refit it with this version)")
        boards = data.get("boards")
        if not isinstance(boards, dict):
            raise InputError(f"{source}: 'boards' must be an object")
        for name, board in boards.items():
            _check_board(board, f"{source}: board {name!r}")
        predictor = cls(boards)
        if data.get("version") != predictor.version:
            raise InputError(f"{source}: version {data.get('version')!r} does not match the "
                             f"coefficients ({predictor.version}): the file was edited or damaged")
        return predictor


def _board_core(name: str) -> str:
    try:
        return load_mcu(name).core
    except InputError:
        return "unknown"


def _ranked_donors(boards: dict, family: str, exclude: str | None = None,
                   need: tuple[str, str] | None = None) -> list[str]:
    names = [n for n in boards if n != exclude
             and (need is None or need[1] in boards[n]["ops"].get(need[0], {}).get("models", {}))]
    return sorted(names, key=lambda n: (_core_distance(family, boards[n]["core_family"]),
                                        -int(boards[n].get("rows", 0)), n))


def _donor_for(boards: dict, family: str, exclude: str | None = None,
               need: tuple[str, str] | None = None) -> str | None:
    ranked = _ranked_donors(boards, family, exclude, need)
    return ranked[0] if ranked else None


def _content_hash(boards: dict) -> str:
    text = json.dumps(boards, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _number(value, where: str, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InputError(f"{where} must be a finite number, got {value!r}")


def _count(value, where: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InputError(f"{where} must be a non-negative integer, got {value!r}")


def _check_board(board, where: str) -> None:
    if not isinstance(board, dict):
        raise InputError(f"{where} must be an object")
    for field in ("core", "core_family"):
        if not isinstance(board.get(field), str):
            raise InputError(f"{where}: '{field}' must be a string")
    _number(board.get("default_overhead"), f"{where}: 'default_overhead'", allow_none=True)
    _count(board.get("rows", 0), f"{where}: 'rows'")
    ops = board.get("ops")
    if not isinstance(ops, dict):
        raise InputError(f"{where}: 'ops' must be an object")
    for op, entry in ops.items():
        w = f"{where}, op {op!r}"
        if not isinstance(entry, dict) or not isinstance(entry.get("models"), dict):
            raise InputError(f"{w}: must be an object with 'models'")
        _number(entry.get("overhead"), f"{w}: 'overhead'", allow_none=True)
        for key, model in entry["models"].items():
            m = f"{w}, model {key!r}"
            expected = FEATURES.get(key)
            if expected is None or (op == CONV) != (key in (IM2COL, FAST_1X1)):
                raise InputError(f"{m}: unknown model kind for this op")
            if not isinstance(model, dict):
                raise InputError(f"{m}: must be an object")
            features, coef = model.get("features"), model.get("coef")
            if not isinstance(features, list) or features != list(expected[:len(features)]) \
                    or not features or (key in (IM2COL, FAST_1X1) and features != list(expected)):
                raise InputError(f"{m}: 'features' must be {list(expected)} (or a prefix)")
            if not isinstance(coef, list) or len(coef) != len(features):
                raise InputError(f"{m}: 'coef' must be a list of {len(features)} numbers")
            for i, c in enumerate(coef):
                _number(c, f"{m}: coef[{i}]")
            _count(model.get("rows", 0), f"{m}: 'rows'")
            cache = model.get("cache_bytes")
            _number(cache, f"{m}: 'cache_bytes'", allow_none=True)
            if cache is not None and cache <= 0:
                raise InputError(f"{m}: 'cache_bytes' must be positive")


# -- evaluation -----------------------------------------------------------------------------

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


def cross_validate(lut: Lut, mcu: str, folds: int = 5, seed: int = 0, op: str = CONV) -> dict:
    """k-fold cross-validation of the predictor on one board's measured `op` rows: each fold is
    predicted by a predictor fitted to the board's other rows (all ops)."""
    if folds < 2:
        raise InputError(f"cross-validation needs at least 2 folds, got {folds}")
    board = lut.measured().for_mcu(mcu)
    target = _op_rows(board, mcu, op)
    n = len(target)
    if n < folds:
        raise InputError(f"{mcu}: {n} measured {op} rows, too few for {folds}-fold cross-validation")
    rest = board.frame[board.frame["op"] != op]
    fold_of = np.empty(n, int)
    fold_of[np.random.default_rng(seed).permutation(n)] = np.arange(n) % folds
    try:
        board_mcu = load_mcu(mcu)
    except InputError:
        board_mcu = Mcu(name=mcu, core="unknown", clock_hz=1, sram_bytes=1, flash_bytes=1)
    configs = [OpConfig.from_row(r) for r in target.frame.to_dict("records")]
    actual = target.frame["cycles"].to_numpy(float)
    pred = np.zeros(n)
    for k in range(folds):
        train = Lut(pd.concat([rest, target.frame[fold_of != k]], ignore_index=True))
        predictor = Predictor.fit(train)
        idx = np.flatnonzero(fold_of == k)
        pred[idx] = predictor.predict(board_mcu, [configs[i] for i in idx])[0]
    return {**_errors(pred, actual), "folds": int(folds)}


def onboarding_error(train: Lut, new: Lut, new_mcu: Mcu, calibration: int = 50, seed: int = 0,
                     op: str = CONV) -> dict:
    """How well a board never seen is predicted after calibrating the model learned on `train`
    with `calibration` random measured `op` configurations of it; evaluated on all the others."""
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
    predictor = Predictor.fit(donors)
    donor = predictor.donor(new_mcu)
    calibrated = predictor.calibrate(new_mcu, Lut(target.frame.iloc[calib]))
    configs = [OpConfig.from_row(r) for r in target.frame.iloc[held].to_dict("records")]
    actual = target.frame["cycles"].to_numpy(float)[held]
    pred = calibrated.predict(new_mcu, configs)[0]
    return {**_errors(pred, actual), "folds": None, "n_calibration": int(calibration), "donor": donor}

