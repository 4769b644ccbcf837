"""predictor.json: the fitted model as data (JSON, never a pickle), and its validation.

A file is user input: every field is checked before a number of it prices anything, and the
version (model form + hash of the coefficients) must match what the file holds, so an edited or
damaged file is refused rather than silently used.
"""

from __future__ import annotations

import hashlib
import json
import math

from ..errors import InputError
from ._features import CONV, CONV_PATHS, FEATURES

FORMAT = "micronas.latency-predictor"
MODEL_FORM = "cmsis-nn-counts/1"
# The predictor's file name inside a LUT folder.
PREDICTOR_FILE = "predictor.json"


def version_of(boards: dict) -> str:
    text = json.dumps(boards, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return f"{MODEL_FORM}+{hashlib.sha256(text.encode()).hexdigest()[:12]}"


def dumps(boards: dict, version: str) -> str:
    return json.dumps({"format": FORMAT, "model_form": MODEL_FORM, "version": version,
                       "boards": boards}, indent=1, sort_keys=True, allow_nan=False)


def loads(text: str, source: str) -> dict:
    """The boards of a predictor file, checked; InputError naming `source` otherwise."""
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
    version = version_of(boards)
    if data.get("version") != version:
        raise InputError(f"{source}: version {data.get('version')!r} does not match the "
                         f"coefficients ({version}): the file was edited or damaged")
    return boards


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
    if not isinstance(board.get("emulated", False), bool):
        raise InputError(f"{where}: 'emulated' must be true or false")
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
            if expected is None or (op == CONV) != (key in CONV_PATHS):
                raise InputError(f"{m}: unknown model kind for this op")
            if not isinstance(model, dict):
                raise InputError(f"{m}: must be an object")
            features, coef = model.get("features"), model.get("coef")
            if not isinstance(features, list) or features != list(expected[:len(features)]) \
                    or not features or (key in CONV_PATHS and features != list(expected)):
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
