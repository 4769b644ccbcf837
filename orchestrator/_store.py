"""The results store: one Parquet row per trial, plus the trial's artifacts, under one storage URL.

Layout below the URL (a local folder or `s3://bucket/prefix`):

    results/dataset=<d>/mcu=<m>/<trial_key>.parquet   one row, hive-partitioned (values URI-encoded)
    artifacts/<sweep>/<trial_key>/…                   architecture.json, result.json, model.tflite, bundle
    lut/                                              the LUTs the sweep priced with (default)

A trial's file is named after its key (sweep + Ray trial id), which is unique per trial: concurrent
writers never collide, and a resumed or re-run trial replaces its own row instead of adding a
second one. Readers still drop duplicate keys (keeping the newest) so that a copy made by hand cannot
double-count.

A file per row is what lets trials on many nodes write without coordination, but reading costs a
request per file: 10k loose rows take ~20 s to read, 100k minutes. `compact()` (run by a sweep at
its end once a partition holds `COMPACT_AT` loose rows, or by `micronas store compact`) merges a
partition's files into one `~compacted-<time>-<id>.parquet` and then deletes what it merged —
only files that have not changed since it read them. Compacted and loose rows are read alike and
the newest row per key wins, so a trial re-run after compaction still replaces its row, and two
compactions at once cost a duplicate, never a row.

Every row carries its own `dataset` and `mcu` and the partition folders hold the same values
URI-encoded (`dataset=UCI%20HAR%20Dataset`), so a name comes back exactly as it was written. The
table is read as one `pyarrow.dataset` (hive partitioning, every file read in parallel); so do
`pandas.read_parquet(URL + "/results")` and any other Arrow-based tool. In the files the two
columns are dictionary-encoded strings: the type a hive-discovering reader gives the folder's
values, so that it can merge the two.
"""

from __future__ import annotations

import re
import secrets
import time
import urllib.parse
from typing import Any, Iterable

import pandas as pd
import pyarrow as pa

from lut_store import InputError
from lut_store import storage

# 2: rows carry dataset and mcu, partition values are URI-encoded (1: only in the path, with
# every character outside [A-Za-z0-9_.+-] replaced by "_"; still read).
SCHEMA_VERSION = 3
STATUSES = ("ok", "failed", "infeasible", "deploy_failed", "over_budget", "searched")
# Trial statuses that mean the sweep did not deliver what it was asked for (over_budget is a darts
# network's normal outcome, infeasible a budget no network meets: both are results; searched is a
# `retrain: best` trial scored on its supernet only, its point's best retrained in a row of its
# own).
FAILED_STATUSES = ("failed", "deploy_failed")


def exit_code(status_counts) -> int:
    """A sweep's exit status from its trials per status: 1 when any trial failed."""
    return 1 if any(status_counts.get(s, 0) for s in FAILED_STATUSES) else 0

# Every column, in order. Partition columns (dataset, mcu) are in the path and in the files.
# Units are in the names; budgets and costs use ms and bytes/KB exactly as the CLI does.
COLUMNS: dict[str, pa.DataType] = {
    "schema_version": pa.int32(),
    "trial_key": pa.string(),          # unique per trial: "<sweep>/<ray trial id>"
    "sweep": pa.string(),
    "method": pa.string(),             # micronas | darts | random
    "status": pa.string(),             # one of STATUSES (over_budget: a darts network over budget)
    "retrained_from": pa.string(),     # `retrain: best`: the searched trial this row retrained
    "reason": pa.string(),             # why a trial is not ok ("" when ok)
    "dataset": pa.string(),
    "mcu": pa.string(),
    "lat_budget_ms": pa.float64(),     # null: unconstrained
    "mem_budget_kb": pa.float64(),
    "flash_budget_kb": pa.float64(),   # delivered flash: the int8 model + the runtime's code
    "power_budget_mw": pa.float64(),   # sensing + inference (lut_store.EnergyModel); null: none
    "lat_effective_ms": pa.float64(),  # what the network had to meet: lat_budget_ms or the cap
                                       # of power_budget_mw, whichever is tighter
    "seed": pa.int64(),
    "point": pa.string(),              # grid point key: dataset/mcu/lat/mem/seed (one Optuna study)
    "optuna_trial": pa.int64(),        # trial number within the point's study (-1: no Optuna)
    "latency_over": pa.float64(),      # hardware-loss weights and schedule this trial used
    "latency_under": pa.float64(),
    "memory_over": pa.float64(),
    "memory_under": pa.float64(),
    "tau_end": pa.float64(),
    "epochs": pa.int64(),
    "retrain_epochs": pa.int64(),
    "config_json": pa.string(),        # the whole SearchConfig and DeployConfig
    "architecture_json": pa.string(),
    "search_latency_ms": pa.float64(), # DNAS's own argmax, before repair/fill
    "search_memory_bytes": pa.float64(),
    "search_fits": pa.bool_(),
    "repairs": pa.int64(),
    "expected_latency_ms": pa.float64(),  # differentiable estimate at the end of the search
    "expected_memory_bytes": pa.float64(),
    "latency_ms": pa.float64(),        # exact cost of the derived architecture
    "peak_memory_bytes": pa.float64(),
    "latency_predicted_share": pa.float64(),  # of that latency priced by the predictor (not the LUT)
    "fits": pa.bool_(),
    "estimated_flash_kb": pa.float64(),  # exact price of the derived network (model + runtime)
    "protocol": pa.string(),           # official | subjects-<k>of<n> | paper-random (leaky)
    "shared_key": pa.string(),         # the shared supernet a `sharing: supernet` trial used
    # The sensing front end the model reads (search_core.data's FrontEnd; `front_ends` names
    # it, null: the data's own) and its estimated energy (lut_store.EnergyModel's data file).
    "front_end": pa.string(),
    "sensors": pa.string(),            # e.g. acc+gyro
    "sample_rate_hz": pa.float64(),
    "window_s": pa.float64(),
    "input_buffer_bytes": pa.float64(),  # window x channels, int8
    "energy_per_inference_mj": pa.float64(),   # MCU run power x latency
    "energy_per_window_mj": pa.float64(),      # sensing + inference per window step
    "power_mw": pa.float64(),                  # per second of sensing
    "network_key": pa.string(),        # ... the retrained network it shares (networks/<key>.pt)
    "network_reused": pa.bool_(),      # ... retrained by an earlier trial, not by this one
    "device": pa.string(),             # where it retrained: cpu | cuda[:N]
    "dry": pa.bool_(),                 # a `dry:` sweep's row (drawn, not trained): never a result
    "val_accuracy": pa.float64(),      # float model
    "val_macro_f1": pa.float64(),
    "val_neg_log_loss": pa.float64(),  # mean log-likelihood of the true class (continuous)
    # The delivered network's path in the searched supernet, on the validation split: the
    # proxy a `retrain: best` sweep ranks a point's trials by (every micronas trial has it).
    "proxy_val_accuracy": pa.float64(),
    "proxy_val_macro_f1": pa.float64(),
    "proxy_val_neg_log_loss": pa.float64(),
    "test_accuracy": pa.float64(),
    "test_macro_f1": pa.float64(),
    "int8_accuracy": pa.float64(),     # int8 model in the TFLite-Micro interpreter
    "int8_macro_f1": pa.float64(),
    "max_lsb": pa.int64(),             # TFLM vs LiteRT-reference
    "verified_latency_ms": pa.float64(),   # LUT price of the exported graph
    "verified_memory_bytes": pa.float64(), # TFLM arena head with the offline plan (+ CMSIS scratch)
    "greedy_memory_bytes": pa.float64(),   # ... with TFLM's default planner instead
    "flash_bytes": pa.float64(),       # the artifact's flatbuffer
    "flash_kb": pa.float64(),          # the artifact's delivered flash: its bytes + the runtime
    "verified_fits": pa.bool_(),
    # The optional on-target step (DeployConfig.target; null without one): QEMU firmware.
    "target": pa.string(),             # qemu-m4 | qemu-m33
    "target_arena_head_bytes": pa.float64(),      # TFLM arena head on the 32-bit target
    "target_bit_identical_share": pa.float64(),   # windows bit-identical to the host reference
    "target_max_lsb": pa.int64(),                 # ... and the largest difference
    "target_flash_bytes": pa.float64(),           # linked image without the test windows
    "target_emulator_ticks_per_invoke": pa.float64(),  # QEMU ticks, not board cycles (median)
    "constraint": pa.float64(),        # what Optuna saw: ≤ 0 feasible
    "parameters": pa.int64(),
    "search_s": pa.float64(),
    "retrain_s": pa.float64(),
    "deploy_s": pa.float64(),
    # ... their CPU time (this process and its children): the cost, whatever shares the cores
    "search_cpu_s": pa.float64(),
    "retrain_cpu_s": pa.float64(),
    "deploy_cpu_s": pa.float64(),
    "wall_s": pa.float64(),
    "resumed_from": pa.string(),       # the stage a resumed trial restarted at ("" if none)
    "started_at": pa.timestamp("us", tz="UTC"),
    "finished_at": pa.timestamp("us", tz="UTC"),
    "node_id": pa.string(),
    "hostname": pa.string(),
    "git_revision": pa.string(),
    "lut_hash": pa.string(),
    "versions_json": pa.string(),
    "artifacts": pa.string(),          # URL of the trial's artifact folder
}
PARTITIONS = ("dataset", "mcu")
_PARTITION_TYPE = pa.dictionary(pa.int32(), pa.string())
SCHEMA = pa.schema([(k, _PARTITION_TYPE if k in PARTITIONS else v) for k, v in COLUMNS.items()])
_READ_SCHEMA = pa.schema(list(COLUMNS.items()))   # what the store reads: plain strings
_PARTITIONING = pa.schema([(k, COLUMNS[k]) for k in PARTITIONS])

_SAFE = re.compile(r"[^A-Za-z0-9_.+-]")
# "~" is outside _SAFE's alphabet: no trial's file can be named like a compacted one.
COMPACTED_PREFIX = "~compacted-"
# A partition is compacted at a sweep's end once it holds this many loose row files.
COMPACT_AT = 200
_MAX_SEGMENT = 200   # bytes of one path segment (file systems allow 255)


def _part(value: str) -> str:
    """A partition value as its folder name holds it: URI-encoded (lossless, never a path
    separator), which is how hive-partitioned readers decode it."""
    encoded = urllib.parse.quote(str(value), safe="")
    if not value or len(encoded) > _MAX_SEGMENT or encoded in (".", ".."):
        raise ValueError(f"results row: {value!r} cannot name a partition folder")
    return encoded


def _name(value: str) -> str:
    """A file or folder name component: readable, and never a path separator."""
    cleaned = _SAFE.sub("_", str(value)).strip(".") or "_"
    return cleaned[:120]


class ResultsStore:
    """Rows and artifacts of every trial under one storage URL."""

    def __init__(self, url: str):
        storage.filesystem(url)  # unsupported URLs fail here, with one line
        self.url = url.rstrip("/")

    # --- locations -------------------------------------------------------------------------
    @property
    def results_url(self) -> str:
        return storage.join(self.url, "results")

    @property
    def lut_url(self) -> str:
        return storage.join(self.url, "lut")

    def artifacts_url(self, trial_key: str) -> str:
        sweep, _, trial = trial_key.partition("/")
        return storage.join(self.url, "artifacts", _name(sweep), _name(trial or sweep))

    def _row_url(self, row: dict) -> str:
        return storage.join(self.results_url, f"dataset={_part(row['dataset'])}",
                            f"mcu={_part(row['mcu'])}",
                            f"{_name(row['trial_key'].replace('/', '--'))}.parquet")

    # --- writing ---------------------------------------------------------------------------
    def write(self, row: dict[str, Any]) -> str:
        """Write (or replace) one trial's row. Unknown columns are an error: a typo must not
        silently drop a figure."""
        unknown = set(row) - set(COLUMNS)
        if unknown:
            raise ValueError(f"results row: unknown columns {sorted(unknown)}")
        for key in ("trial_key", "dataset", "mcu", "status"):
            if not row.get(key):
                raise ValueError(f"results row: {key} is required")
        full = {k: row.get(k) for k in COLUMNS}
        full["schema_version"] = SCHEMA_VERSION
        table = pa.Table.from_pylist([{k: full[k] for k in SCHEMA.names}], schema=SCHEMA)
        url = self._row_url(full)
        storage.write_table(url, table)
        return url

    def write_artifact(self, trial_key: str, name: str, data: bytes | str) -> str:
        url = storage.join(self.artifacts_url(trial_key), name)
        storage.write_bytes(url, data.encode() if isinstance(data, str) else data)
        return url

    def write_artifacts(self, trial_key: str, folder, skip: Iterable[str] = ()) -> list[str]:
        """Copy every file of a local folder (not recursively) into the trial's artifacts."""
        from pathlib import Path
        skip = set(skip)
        return [self.write_artifact(trial_key, p.name, p.read_bytes())
                for p in sorted(Path(folder).iterdir())
                if p.is_file() and not p.name.startswith(".") and p.name not in skip]

    # --- reading ---------------------------------------------------------------------------
    def read(self, *, sweep: str | None = None, dataset: str | None = None,
             mcu: str | None = None, dry: bool = False) -> pd.DataFrame:
        """Every row (newest per trial key), as a DataFrame with plain pandas dtypes. Rows of
        `dry:` sweeps (drawn, not trained) only with `dry=True`."""
        table = self._scan_listed(lambda: self._row_files(dataset, mcu), sweep)
        if not table.num_rows:
            return _typed(pd.DataFrame({k: pd.Series(dtype=_dtype(v)) for k, v in COLUMNS.items()}))
        df = table.to_pandas()
        df = (df.sort_values("finished_at", na_position="first")
                .drop_duplicates("trial_key", keep="last")
                .sort_values(["dataset", "mcu", "lat_budget_ms", "mem_budget_kb", "seed",
                              "trial_key"], na_position="first")
                .reset_index(drop=True))
        if not dry:
            df = df[~df["dry"].fillna(False).astype(bool)].reset_index(drop=True)
        return _typed(df)

    def _scan_listed(self, listing, sweep: str | None) -> pa.Table:
        """`_scan` of what `listing()` returns, listed again if a file vanished meanwhile (a
        compaction merged and deleted it): only a failure on an unchanged listing is an error."""
        files = listing()
        for attempt in range(4):
            try:
                return self._scan(files, sweep)
            except InputError:
                again = listing()
                if attempt == 3 or again == files:
                    raise
                files = again
        raise AssertionError("unreachable")

    def _scan(self, files: list[str], sweep: str | None) -> pa.Table:
        """The row files as one table: one `pyarrow.dataset` over exactly the listed files (the
        listing skips temporary files), read in parallel. Files written before a column existed
        read it as null; version-1 files take dataset and mcu from their folders."""
        import pyarrow.compute as pc
        import pyarrow.dataset as ds
        from pyarrow import fs as pafs

        if not files:
            return _READ_SCHEMA.empty_table()
        fs, base = storage.filesystem(self.results_url)
        paths = [storage.filesystem(f)[1] for f in files]
        # Local: Arrow's own file system (threads read without the GIL); S3: through the same
        # fsspec file system (and credentials, endpoint) as every other storage access.
        arrow_fs = pafs.LocalFileSystem() if storage.is_local(fs) else \
            pafs.PyFileSystem(pafs.FSSpecHandler(fs))
        try:
            dataset = ds.dataset(paths, schema=_READ_SCHEMA, format="parquet", filesystem=arrow_fs,
                                 partitioning=ds.partitioning(_PARTITIONING, flavor="hive"),
                                 partition_base_dir=base)
            table = dataset.to_table(columns=[*COLUMNS, "__filename"], use_threads=True,
                                     filter=None if sweep is None else ds.field("sweep") == sweep)
        except (pa.ArrowException, OSError, ValueError) as exc:   # a corrupt or vanished file
            raise _read_error(self.results_url, exc) from None
        newest = pc.max(table.column("schema_version")).as_py() if table.num_rows else None
        if newest is not None and newest > SCHEMA_VERSION:
            where = table.filter(pc.greater(table.column("schema_version"), SCHEMA_VERSION))
            name = where.column("__filename")[0].as_py()
            url = files[paths.index(name)] if name in paths else name
            raise InputError(f"{url}: results schema {newest} is newer than this micronas "
                             f"({SCHEMA_VERSION}); upgrade micronas")
        return table.drop_columns(["__filename"])

    def get(self, trial_key: str, dataset: str, mcu: str) -> dict | None:
        """One trial's row, or None if it has none yet."""
        url = self._row_url({"trial_key": trial_key, "dataset": dataset, "mcu": mcu})
        if storage.exists(url):
            table = storage.read_table(url)
            return table.to_pylist()[0] if table.num_rows else None
        import pyarrow.compute as pc
        rows = []
        for compacted in self._compacted_files(url.rsplit("/", 1)[0]):
            table = storage.read_table(compacted)
            rows += table.filter(pc.equal(table.column("trial_key"), trial_key)).to_pylist()
        rows.sort(key=lambda r: (r["finished_at"] is not None, r["finished_at"] or 0))
        return rows[-1] if rows else None

    # --- compaction ------------------------------------------------------------------------
    def loose_files(self) -> dict[str, int]:
        """Loose (not compacted) row files per partition folder."""
        counts: dict[str, int] = {}
        for f in self._row_files(None, None):
            folder, name = f.rsplit("/", 1)
            counts.setdefault(folder, 0)
            counts[folder] += not name.startswith(COMPACTED_PREFIX)
        return counts

    def compact(self, *, at_least: int = 2) -> dict:
        """Merge the row files of every partition holding at least `at_least` loose files into
        one compacted file (see the module's docstring). Returns what was done."""
        import pyarrow.compute as pc

        done = {"partitions": 0, "files_merged": 0, "rows": 0, "files_kept": 0}
        by_folder: dict[str, list[str]] = {}
        for f in self._row_files(None, None):
            by_folder.setdefault(f.rsplit("/", 1)[0], []).append(f)
        for folder, files in sorted(by_folder.items()):
            loose = [f for f in files if not f.rsplit("/", 1)[1].startswith(COMPACTED_PREFIX)]
            if len(loose) < at_least:
                continue
            stamps = {f: storage.stamp(f) for f in files}
            try:
                table = self._scan(files, None)
            except InputError:   # another compaction took some of them: it merges them
                continue
            # The newest row per key, as read() keeps it.
            finished = table.column("finished_at")   # unknown = oldest, as read() sorts
            finished = pc.fill_null(finished, pa.scalar(0, finished.type))
            table = table.take(pc.sort_indices(finished))
            last = {key: i for i, key in enumerate(table.column("trial_key").to_pylist())}
            table = table.take(sorted(last.values())).cast(SCHEMA)
            name = f"{COMPACTED_PREFIX}{time.strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(4)}.parquet"
            storage.write_table(storage.join(folder, name), table)
            for f in files:
                if storage.stamp(f) == stamps[f]:
                    storage.remove(f)
                    done["files_merged"] += 1
                else:   # rewritten since it was read: its newer row stays where it is
                    done["files_kept"] += 1
            done["partitions"] += 1
            done["rows"] += table.num_rows
        return done

    def _compacted_files(self, folder: str) -> list[str]:
        return [f for f in storage.list_files(folder, ".parquet")
                if f.rsplit("/", 1)[1].startswith(COMPACTED_PREFIX)]

    def trial_keys(self) -> set[str]:
        return set(self.read()["trial_key"])

    def _row_files(self, dataset: str | None, mcu: str | None) -> Iterable[str]:
        base = self.results_url
        if dataset is not None:
            base = storage.join(base, f"dataset={_part(dataset)}")
            if mcu is not None:
                base = storage.join(base, f"mcu={_part(mcu)}")
        files = storage.find_files(base, ".parquet")
        if mcu is not None and dataset is None:
            files = [f for f in files if f"/mcu={_part(mcu)}/" in f]
        return files


def _read_error(url: str, exc: Exception) -> InputError:
    text = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
    if isinstance(exc, PermissionError) or "Permission denied" in text:
        return InputError(f"{url}: permission denied")
    return InputError(f"{url}: cannot read the results ({text})")


def _dtype(kind: pa.DataType):
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    if pa.types.is_timestamp(kind):
        return "datetime64[us, UTC]"
    if pa.types.is_floating(kind):
        return "float64"
    if pa.types.is_integer(kind):
        return "Int64"
    if pa.types.is_boolean(kind):
        return "boolean"
    return "string"


def _typed(df: pd.DataFrame) -> pd.DataFrame:
    """Nullable pandas dtypes per column, so that empty and full tables look alike."""
    return df.astype({k: _dtype(v) for k, v in COLUMNS.items()})
