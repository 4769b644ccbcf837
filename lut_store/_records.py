"""Importer for on-device measurement records (the MicroNAS board-measurement format).

One record = one single-layer int8 model flashed and run once: its Keras layer config with input
and output shapes, and a list of timings (`type` 1 = whole execute call, 255 = Invoke, any other
value = the kernel itself, numbered as TFLite's BuiltinOperator). Records with an `error` were
never measured: they are skipped and counted, never priced as a huge cost.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ._lut import KEY_COLUMNS, Lut, OpConfig
from .errors import InputError
from .tflite import BUILTIN_OPERATORS

_EXECUTE, _INVOKE = 1, 255
# The kernel's timing type is its TFLite BuiltinOperator code; these are the kernels a record
# can time.
_KERNEL_OPS = {BUILTIN_OPERATORS.index(op): op for op in (
    "ADD", "AVERAGE_POOL_2D", "CONV_2D", "DEPTHWISE_CONV_2D", "DEQUANTIZE", "FULLY_CONNECTED",
    "MAX_POOL_2D", "MEAN", "QUANTIZE", "RELU", "SOFTMAX")}
_CONV_OPS = {"CONV_2D", "DEPTHWISE_CONV_2D"}
_POOL_OPS = {"AVERAGE_POOL_2D", "MAX_POOL_2D"}


@dataclass
class ImportReport:
    """What an import did: shown to the user and asserted by tests."""

    files: int = 0
    records: int = 0
    imported: Counter = field(default_factory=Counter)      # (mcu, op) -> records used
    skipped_errors: Counter = field(default_factory=Counter)  # error kind -> records skipped
    configurations: Counter = field(default_factory=Counter)  # (mcu, op) -> distinct configs

    def to_dict(self) -> dict:
        return {
            "files": self.files, "records": self.records,
            "imported_records": {f"{m}/{o}": n for (m, o), n in sorted(self.imported.items())},
            "configurations": {f"{m}/{o}": n for (m, o), n in sorted(self.configurations.items())},
            "skipped_error_records": dict(sorted(self.skipped_errors.items())),
        }


# Sizes are stored as int32 (kernel, stride) or parsed back into numpy integers: bound them.
_MAX_DIM = 2 ** 31 - 1


def _dim(d) -> bool:
    return isinstance(d, int) and not isinstance(d, bool) and 0 < d <= _MAX_DIM


def _shape(value, what: str, where: str) -> tuple[int, ...]:
    if not isinstance(value, list) or not value or not all(_dim(d) for d in value):
        raise InputError(f"{where}: {what} must be a list of positive integers (below 2^31), "
                         f"got {value!r}")
    return tuple(value)


def _pair(value, what: str, where: str) -> tuple[int, int]:
    if not isinstance(value, list) or len(value) != 2 or not all(_dim(d) for d in value):
        raise InputError(f"{where}: {what} must be two positive integers (below 2^31), "
                         f"got {value!r}")
    return int(value[0]), int(value[1])


def _cycles(entry, where: str) -> float:
    if not isinstance(entry, dict):
        raise InputError(f"{where}: a timing entry must be an object")
    value = entry.get("cpuCycles")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(f"{where}: cpuCycles must be a number, got {value!r}")
    if not math.isfinite(value) or value < 0:
        raise InputError(f"{where}: cpuCycles must be finite and non-negative, got {value!r}")
    return float(value)


def parse_record(record, where: str) -> tuple[OpConfig, dict] | str:
    """One record → (its op configuration, its measurement), or the error kind for an error record."""
    if not isinstance(record, dict):
        raise InputError(f"{where}: a record must be a JSON object")
    config = record.get("modelConfig")
    if not isinstance(config, dict):
        raise InputError(f"{where}: missing or malformed 'modelConfig'")
    if record.get("error"):
        return str(record["error"])
    timing = record.get("timing")
    if not isinstance(timing, list) or not timing:
        raise InputError(f"{where}: no 'timing' list and no 'error'")
    invoke, kernel, kernel_type = None, None, None
    for entry in timing:
        kind = entry.get("type") if isinstance(entry, dict) else None
        if isinstance(kind, bool) or not isinstance(kind, int):
            raise InputError(f"{where}: timing type must be an integer, got {kind!r}")
        if kind == _INVOKE:
            invoke = _cycles(entry, where)
        elif kind != _EXECUTE:
            if kernel is not None:
                raise InputError(f"{where}: more than one kernel timing (single-layer records only)")
            kernel, kernel_type = _cycles(entry, where), kind
    if kernel is None:
        raise InputError(f"{where}: no kernel timing entry (only execute/invoke)")
    op = _KERNEL_OPS.get(kernel_type)
    if op is None:
        raise InputError(f"{where}: unknown kernel timing type {kernel_type}")

    raw_in = config.get("input_shape")
    if op == "ADD" and isinstance(raw_in, list) and raw_in and isinstance(raw_in[0], list):
        inputs = [_shape(s, "input_shape", where) for s in raw_in]
        input_shape = inputs[0]
    else:
        input_shape = _shape(raw_in, "input_shape", where)
    output_shape = _shape(config.get("output_shape"), "output_shape", where)
    kernel_hw, stride, padding = (0, 0), (0, 0), ""
    if op in _CONV_OPS:
        kernel_hw = _pair(config.get("kernel_size"), "kernel_size", where)
        stride = _pair(config.get("strides"), "strides", where)
        padding = str(config.get("padding", "valid"))
    elif op in _POOL_OPS:
        kernel_hw = _pair(config.get("pool_size"), "pool_size", where)
        stride = _pair(config.get("strides"), "strides", where)
        padding = str(config.get("padding", "valid"))
    activation = config.get("activation") or "none"
    activation = "none" if activation == "linear" else str(activation)
    cfg = OpConfig(op=op, input_shape=input_shape, output_shape=output_shape, kernel=kernel_hw,
                   stride=stride, padding=padding, activation=activation)
    overhead = invoke - kernel if invoke is not None and invoke >= kernel else float("nan")
    return cfg, {"cycles": kernel, "overhead_cycles": overhead,
                 "backend": str(record.get("tflmBackend") or "unknown")}


def _run_id(path: Path) -> str:
    # Stable across machines and checkouts: the measurement run's folder and file name.
    return f"{path.parent.name}/{path.name}"


def read_records(paths: list[Path], mcu: str) -> tuple[pd.DataFrame, ImportReport]:
    """Raw measurements (one row per usable record) from record files, validated whole first."""
    report = ImportReport()
    rows = []
    for path in paths:
        try:
            records = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"{path}: cannot read ({exc})") from None
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}: not valid JSON (truncated or malformed at line "
                             f"{exc.lineno}, column {exc.colno})") from None
        except (ValueError, RecursionError) as exc:  # a number of > 4300 digits, or deep nesting
            reason = "JSON nested too deeply" if isinstance(exc, RecursionError) else \
                str(exc).split(";")[0]
            raise InputError(f"{path}: not a readable record file ({reason})") from None
        if not isinstance(records, list):
            raise InputError(f"{path}: a record file must hold a JSON list of records")
        report.files += 1
        run = _run_id(path)
        for i, record in enumerate(records):
            report.records += 1
            parsed = parse_record(record, f"{path}: record {i}")
            if isinstance(parsed, str):
                report.skipped_errors[parsed] += 1
                continue
            cfg, meas = parsed
            report.imported[(mcu, cfg.op)] += 1
            rows.append(dict(zip(KEY_COLUMNS, cfg.key(mcu)), run=run, **meas))
    frame = pd.DataFrame(rows, columns=KEY_COLUMNS + ["run", "cycles", "overhead_cycles", "backend"])
    if not frame.empty:
        configs = frame.drop_duplicates(KEY_COLUMNS).groupby(["mcu", "op"]).size()
        report.configurations.update({k: int(v) for k, v in configs.items()})
    return frame, report


def find_record_files(folder: str | Path) -> list[Path]:
    folder = Path(folder)
    if folder.is_file():
        return [folder]
    if not folder.is_dir():
        raise InputError(f"{folder}: no such records folder")
    files = sorted(p for p in folder.rglob("*.json") if p.is_file())
    if not files:
        raise InputError(f"{folder}: no record files (*.json) found")
    return files


def import_records(folder: str | Path, mcu: str) -> tuple[Lut, ImportReport]:
    """Every record file under `folder` (recursively) as a Lut for `mcu`, with a report."""
    frame, report = read_records(find_record_files(folder), mcu)
    return Lut.from_measurements(frame), report


def to_record(config: OpConfig, kernel_cycles: float, invoke_cycles: float, backend: str,
              **extra) -> dict:
    """The record `parse_record` reads back as `config` with these cycles: how a profiling run
    writes what it measured (`extra` keys ride along; the importer ignores them)."""
    if config.op not in _KERNEL_OPS.values():
        raise InputError(f"{config.op}: not an op a measurement record can time")
    layer: dict = {"input_shape": list(config.input_shape),
                   "output_shape": list(config.output_shape)}
    if config.op == "ADD":
        layer["input_shape"] = [list(config.input_shape), list(config.input_shape)]
    if config.op in _CONV_OPS:
        layer.update(kernel_size=list(config.kernel), strides=list(config.stride),
                     padding=config.padding)
    elif config.op in _POOL_OPS:
        layer.update(pool_size=list(config.kernel), strides=list(config.stride),
                     padding=config.padding)
    if config.activation != "none":
        layer["activation"] = config.activation
    code = next(c for c, op in _KERNEL_OPS.items() if op == config.op)
    return {"modelConfig": layer,
            "timing": [{"type": _INVOKE, "cpuCycles": float(invoke_cycles)},
                       {"type": code, "cpuCycles": float(kernel_cycles)}],
            "tflmBackend": backend, **extra}
