"""The latency lookup table: one row per (MCU, op configuration), cycles with their provenance.

Cycles, never milliseconds: the clock belongs to the MCU definition. Every on-device measurement is
kept with the run it came from (runs on different days disagree by up to ~7 %), and the row's
`cycles` is the median over runs. Merging is by run, so importing the same files twice changes
nothing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Iterable, Mapping

import numpy as np
import pandas as pd
import pyarrow as pa

from . import _storage
from .errors import InputError

LUT_SCHEMA_VERSION = 1
MEASURED, PREDICTED = "measured", "predicted"

KEY_COLUMNS = ["mcu", "op", "input_shape", "output_shape", "kernel_h", "kernel_w",
               "stride_h", "stride_w", "padding", "activation"]

SCHEMA = pa.schema([
    ("mcu", pa.string()),
    ("op", pa.string()),                  # TFLite builtin name: CONV_2D, ADD, MEAN, SOFTMAX, ...
    ("input_shape", pa.string()),         # NHWC as "1x128x9x1" (first input for ADD)
    ("output_shape", pa.string()),
    ("kernel_h", pa.int32()), ("kernel_w", pa.int32()),   # 0 for ops without a kernel
    ("stride_h", pa.int32()), ("stride_w", pa.int32()),   # 0 for ops without a stride
    ("padding", pa.string()),             # "same" / "valid" / "" (no padding concept)
    ("activation", pa.string()),          # fused activation: "relu", "none", ...
    ("cycles", pa.float64()),             # kernel cycles (median over runs when measured)
    ("overhead_cycles", pa.float64()),    # interpreter overhead around the kernel (Invoke - kernel)
    ("source", pa.string()),              # "measured" | "predicted"
    ("n_measurements", pa.int32()),
    ("backend", pa.string()),             # e.g. "CMSIS"
    ("predictor_version", pa.string()),   # "" for measured rows
    ("spread", pa.float64()),             # (max - min) / median of the per-run cycles
    ("runs", pa.list_(pa.string())),
    ("run_cycles", pa.list_(pa.float64())),
    ("run_overhead", pa.list_(pa.float64())),
    ("run_counts", pa.list_(pa.int32())),
], metadata={b"micronas.lut.schema_version": str(LUT_SCHEMA_VERSION).encode()})

COLUMNS = SCHEMA.names


def shape_str(shape: Iterable[int]) -> str:
    return "x".join(str(int(d)) for d in shape)


def parse_shape(text: str) -> tuple[int, ...]:
    return tuple(int(d) for d in text.split("x")) if text else ()


def same_padding(size: int, kernel: int, stride: int, out: int | None = None) -> tuple[int, int]:
    """TensorFlow's `same` padding along one axis (before, after): the output has
    ceil(size / stride) steps (or `out`, as a model states it), and the odd extra step of padding
    goes after (TFLite's ComputePadding hands kernels the `before` part only)."""
    out = -(-size // stride) if out is None else out
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


@dataclass(frozen=True)
class OpConfig:
    """What a LUT row is keyed by, apart from the MCU: one op with its shapes and attributes."""

    op: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    kernel: tuple[int, int] = (0, 0)
    stride: tuple[int, int] = (0, 0)
    padding: str = ""
    activation: str = "none"

    def key(self, mcu: str) -> tuple:
        return (mcu, self.op, shape_str(self.input_shape), shape_str(self.output_shape),
                self.kernel[0], self.kernel[1], self.stride[0], self.stride[1],
                self.padding, self.activation)

    def to_dict(self) -> dict:
        return {"op": self.op, "input_shape": list(self.input_shape),
                "output_shape": list(self.output_shape), "kernel": list(self.kernel),
                "stride": list(self.stride), "padding": self.padding, "activation": self.activation}

    @classmethod
    def from_row(cls, row: Mapping) -> "OpConfig":
        return cls(op=row["op"], input_shape=parse_shape(row["input_shape"]),
                   output_shape=parse_shape(row["output_shape"]),
                   kernel=(int(row["kernel_h"]), int(row["kernel_w"])),
                   stride=(int(row["stride_h"]), int(row["stride_w"])),
                   padding=row["padding"], activation=row["activation"])


def _empty_frame() -> pd.DataFrame:
    return SCHEMA.empty_table().to_pandas()


class Lut:
    """A set of LUT rows for one or more MCUs. Immutable by convention: operations return new Luts."""

    def __init__(self, frame: pd.DataFrame | None = None):
        frame = _empty_frame() if frame is None else frame
        missing = [c for c in COLUMNS if c not in frame.columns]
        if missing:
            raise InputError(f"LUT lacks columns {missing}")
        frame = frame[COLUMNS].reset_index(drop=True)
        if frame.duplicated(KEY_COLUMNS).any():
            raise InputError("LUT has duplicate op configurations")
        self.frame = frame.sort_values(KEY_COLUMNS, kind="stable").reset_index(drop=True)
        self._index: dict | None = None

    # -- construction ------------------------------------------------------------------------
    @classmethod
    def from_measurements(cls, measurements: pd.DataFrame) -> "Lut":
        """Rows from raw measurements: one row per record with KEY_COLUMNS, run, cycles,
        overhead_cycles and backend. Repeats within a run collapse to their median."""
        if measurements.empty:
            return cls()
        per_run = (measurements.groupby(KEY_COLUMNS + ["run"], sort=True, dropna=False)
                   .agg(cycles=("cycles", "median"), overhead=("overhead_cycles", "median"),
                        count=("cycles", "size"), backend=("backend", "first"))
                   .reset_index())
        return cls(_aggregate_runs(per_run))

    @classmethod
    def from_predictions(cls, mcu: str, configs: Iterable[OpConfig], cycles: Iterable[float],
                         overhead: Iterable[float], predictor_version: str) -> "Lut":
        rows = []
        for cfg, cyc, ovh in zip(configs, cycles, overhead):
            row = dict(zip(KEY_COLUMNS, cfg.key(mcu)))
            row.update(cycles=float(cyc), overhead_cycles=float(ovh), source=PREDICTED,
                       n_measurements=0, backend="", predictor_version=predictor_version,
                       spread=0.0, runs=[], run_cycles=[], run_overhead=[], run_counts=[])
            rows.append(row)
        return cls(pd.DataFrame(rows, columns=COLUMNS) if rows else None)

    # -- queries -----------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.frame)

    @property
    def mcus(self) -> list[str]:
        return sorted(self.frame["mcu"].unique())

    def for_mcu(self, mcu: str) -> "Lut":
        return Lut(self.frame[self.frame["mcu"] == mcu])

    def measured(self) -> "Lut":
        return Lut(self.frame[self.frame["source"] == MEASURED])

    def lookup(self, mcu: str, config: OpConfig) -> dict | None:
        if self._index is None:
            keys = self.frame[KEY_COLUMNS].itertuples(index=False, name=None)
            self._index = {tuple(k): i for i, k in enumerate(keys)}
        i = self._index.get(config.key(mcu))
        return None if i is None else self.frame.iloc[i].to_dict()

    def content_hash(self) -> str:
        """A short hash of the rows, recorded with every result as the LUT's provenance."""
        digest = hashlib.sha256()
        for row in self.frame[KEY_COLUMNS + ["cycles", "overhead_cycles", "source"]].itertuples(
                index=False, name=None):
            digest.update(repr(row).encode())
        return digest.hexdigest()[:16]

    def summary(self) -> pd.DataFrame:
        """Rows per (MCU, op, source): what `micronas lut show` prints."""
        if self.frame.empty:
            return pd.DataFrame(columns=["mcu", "op", "source", "rows", "measurements", "max_spread"])
        return (self.frame.groupby(["mcu", "op", "source"], sort=True)
                .agg(rows=("cycles", "size"), measurements=("n_measurements", "sum"),
                     max_spread=("spread", "max"))
                .reset_index())

    # -- combination -------------------------------------------------------------------------
    def merge(self, other: "Lut") -> "Lut":
        """Union by key and run: a run seen again replaces itself, so merging is idempotent.
        Measured rows always win over predicted ones for the same configuration."""
        if other.frame.empty:
            return self
        if self.frame.empty:
            return other
        both = pd.concat([self.frame, other.frame], ignore_index=True)
        is_measured = both["source"] == MEASURED
        measured_keys = both.loc[is_measured, KEY_COLUMNS].drop_duplicates()
        predicted = (both[~is_measured].drop_duplicates(KEY_COLUMNS, keep="last")
                     .merge(measured_keys, on=KEY_COLUMNS, how="left", indicator=True))
        predicted = predicted[predicted["_merge"] == "left_only"].drop(columns="_merge")
        runs = both.loc[is_measured, KEY_COLUMNS + ["backend", "runs", "run_cycles",
                                                    "run_overhead", "run_counts"]]
        runs = (runs.explode(["runs", "run_cycles", "run_overhead", "run_counts"])
                .rename(columns={"runs": "run", "run_cycles": "cycles",
                                 "run_overhead": "overhead", "run_counts": "count"})
                .drop_duplicates(KEY_COLUMNS + ["run"], keep="last"))
        measured = _aggregate_runs(runs) if len(runs) else _empty_frame()
        return Lut(pd.concat([measured, predicted[COLUMNS]], ignore_index=True))

    def equals(self, other: "Lut") -> bool:
        return self.frame.to_json() == other.frame.to_json()

    # -- storage -----------------------------------------------------------------------------
    def to_arrow(self) -> pa.Table:
        return pa.Table.from_pandas(self.frame, schema=SCHEMA, preserve_index=False)

    def write(self, url: str) -> list[str]:
        """Write one Parquet file per MCU into the folder `url` (each file atomically)."""
        written = []
        for mcu in self.mcus:
            target = _storage.join(url, f"{mcu}.parquet")
            _storage.write_table(target, self.for_mcu(mcu).to_arrow())
            written.append(target)
        return written

    @classmethod
    def read(cls, url: str, mcu: str | None = None) -> "Lut":
        """Read a LUT folder (every `<mcu>.parquet` in it, or just one MCU's)."""
        if mcu is not None:
            files = [_storage.join(url, f"{mcu}.parquet")]
            if not _storage.exists(files[0]):
                return cls()
        else:
            files = _storage.list_files(url, ".parquet")
        frames = []
        for f in files:
            table = _storage.read_table(f)
            missing = [c for c in COLUMNS if c not in table.column_names]
            if missing:
                raise InputError(f"{f}: not a MicroNAS LUT (missing columns {missing})")
            try:
                frames.append(table.select(COLUMNS).cast(SCHEMA).to_pandas())
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
                bad = [c for c in COLUMNS
                       if not table.schema.field(c).type.equals(SCHEMA.field(c).type)]
                raise InputError(f"{f}: not a MicroNAS LUT (column {', '.join(bad) or '?'} of the "
                                 f"wrong type: {str(exc).splitlines()[0][:120]})") from None
        if not frames:
            return cls()
        try:
            return cls(pd.concat(frames, ignore_index=True))
        except InputError as exc:
            raise InputError(f"{url}: {exc}") from None


def _aggregate_runs(per_run: pd.DataFrame) -> pd.DataFrame:
    """Measured LUT rows from one row per (key, run) with cycles, overhead, count and backend:
    cycles is the median over runs, spread the relative range between runs."""
    per_run = per_run.astype({"cycles": float, "overhead": float, "count": int})
    per_run = per_run.sort_values(KEY_COLUMNS + ["run"], kind="stable")
    grouped = per_run.groupby(KEY_COLUMNS, sort=True, dropna=False)
    out = grouped.agg(
        cycles=("cycles", "median"), cmin=("cycles", "min"), cmax=("cycles", "max"),
        overhead_cycles=("overhead", "median"),  # NaN (unknown) overheads are skipped
        n_measurements=("count", "sum"),
        backend=("backend", lambda s: ",".join(sorted(set(s)))),
        runs=("run", list), run_cycles=("cycles", list), run_overhead=("overhead", list),
        run_counts=("count", list),
    ).reset_index()
    out["spread"] = np.where(out["cycles"] > 0, (out["cmax"] - out["cmin"]) / out["cycles"], 0.0)
    out["source"] = MEASURED
    out["predictor_version"] = ""
    return out[COLUMNS]
