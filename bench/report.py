"""How long does `micronas report` take on a large sweep?

    python bench/report.py [--rows 10000] [--repeats 3] [--limit 10] [--keep DIR] [--json]

Writes --rows synthetic trials (3 data sets × 3 boards × 3 methods, a budget grid, 3 seeds, shared
architectures, ~12 % failed or infeasible, some without int8 or verified figures) into a temporary
results store, then times the whole report — reading the store, fronts, hypervolumes, plots, page,
CSV and Parquet — --repeats times and prints the median. Exits 1 if the median exceeds --limit
seconds (the issue's acceptance: 10,000 rows in ≤ 10 s).

Writing 10,000 one-row files through `ResultsStore.write` would take longer than the report
itself, so the rows go in bulk, one Parquet file per partition in the layout the store reads (the
reader accepts several rows per file); only the report is timed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from orchestrator._report import build_report  # noqa: E402
from orchestrator._store import SCHEMA, SCHEMA_VERSION, ResultsStore, _part  # noqa: E402

DATASETS = ("ucihar", "hapt", "basicmotions")
MCUS = {"nucleo-l552ze-q": 1.0, "nucleo-f446re": 0.8, "portenta-h7": 0.12}  # relative slowness
METHODS = ("micronas", "darts", "random")
LAT_BUDGETS = (5.0, 10.0, 25.0, 50.0, 100.0)
MEM_BUDGETS = (32.0, 64.0, 128.0)


def synthetic_rows(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    dataset = rng.choice(DATASETS, n)
    mcu = rng.choice(list(MCUS), n)
    method = rng.choice(METHODS, n)
    # A pool of architectures per board: seeds and budgets often land on the same one.
    arch = rng.integers(0, max(n // 4, 1), n)
    size = (arch % 997) / 997.0
    lat = (2 + 120 * size ** 1.5) * np.vectorize(MCUS.get)(mcu) * rng.uniform(.9, 1.1, n)
    mem = 6_000 + 250_000 * size ** 2 * rng.uniform(.9, 1.1, n)
    quality = .55 + .35 * np.tanh(3 * size) + rng.normal(0, .03, n) + \
        np.where(method == "micronas", .02, np.where(method == "darts", 0, -.03))
    f1 = np.clip(quality, 0, 1)
    status = rng.choice(["ok"] * 22 + ["failed", "infeasible", "deploy_failed"], n)
    reason = np.select([status == "failed", status == "infeasible", status == "deploy_failed"],
                       ["worker died (OOM)", "budget below the smallest network of the space",
                        "TFLM parity gate: 3 LSB"], "")
    no_int8 = (status == "deploy_failed") | (rng.random(n) < .03)
    lat_t = rng.choice(LAT_BUDGETS, n)
    mem_t = rng.choice(MEM_BUDGETS, n)
    start = pd.Timestamp("2026-01-01", tz="UTC") + pd.to_timedelta(np.arange(n), unit="s")
    frame = pd.DataFrame({
        "schema_version": SCHEMA_VERSION, "trial_key": [f"bench/{i:06d}" for i in range(n)],
        "sweep": "bench", "method": method, "status": status, "reason": reason,
        "dataset": dataset, "mcu": mcu, "lat_budget_ms": lat_t, "mem_budget_kb": mem_t,
        "seed": rng.integers(0, 3, n), "point": "", "optuna_trial": rng.integers(0, 8, n),
        "architecture_json": [json.dumps({"cells": [int(a) % 7, int(a) // 7], "width": int(a) % 5})
                              for a in arch],
        "latency_ms": lat, "peak_memory_bytes": mem, "fits": (lat <= lat_t) | (rng.random(n) < .5),
        "test_accuracy": np.clip(f1 + .01, 0, 1), "test_macro_f1": f1,
        "int8_accuracy": np.where(no_int8, np.nan, np.clip(f1 + .005, 0, 1)),
        "int8_macro_f1": np.where(no_int8, np.nan, np.clip(f1 - .005, 0, 1)),
        "verified_latency_ms": np.where(no_int8, np.nan, lat * rng.normal(1.0, .02, n)),
        "verified_memory_bytes": np.where(no_int8, np.nan, mem),
        "flash_bytes": 20_000 + 400_000 * size, "verified_fits": True,
        "started_at": start, "finished_at": start + pd.Timedelta(minutes=5),
    })
    frame["fits"] = frame["fits"] & (mem <= mem_t * 1024) | (status != "ok")
    return frame


def write_bulk(url: str, frame: pd.DataFrame, per_file: int = 500) -> None:
    store = ResultsStore(url)
    for (dataset, mcu), part in frame.groupby(["dataset", "mcu"]):
        folder = Path(store.results_url) / f"dataset={_part(dataset)}" / f"mcu={_part(mcu)}"
        folder.mkdir(parents=True, exist_ok=True)
        part = part.assign(artifacts=[store.artifacts_url(k) for k in part["trial_key"]])
        for i in range(0, len(part), per_file):
            chunk = part.iloc[i:i + per_file]
            table = pa.Table.from_pandas(chunk.reindex(columns=SCHEMA.names), schema=SCHEMA,
                                         preserve_index=False)
            pq.write_table(table, folder / f"bulk-{i // per_file:04d}.parquet")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--limit", type=float, default=10.0, help="seconds the median may take")
    parser.add_argument("--keep", help="write the store and the report here instead of a temp dir")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="micronas-bench-report-") as tmp:
        root = Path(args.keep or tmp)
        store = str(root / "store")
        write_bulk(store, synthetic_rows(args.rows))
        times, summary = [], None
        for _ in range(args.repeats):
            started = time.perf_counter()
            summary = build_report(store, str(root / "report"))
            times.append(time.perf_counter() - started)
    median = statistics.median(times)
    result = {"rows": summary["rows"], "fronts": len(summary["fronts"]),
              "models": summary["models"], "front_models": summary["front_models"],
              "seconds": [round(t, 3) for t in times], "median_s": round(median, 3),
              "limit_s": args.limit, "ok": median <= args.limit,
              "report": str(Path(args.keep) / "report" / "index.html") if args.keep else None}
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"report of {result['rows']} trials ({result['fronts']} fronts, "
              f"{result['front_models']} of {result['models']} models on them): median "
              f"{median:.2f} s of {args.repeats} runs {result['seconds']} (limit {args.limit:g} s)"
              f" -> {'ok' if result['ok'] else 'TOO SLOW'}")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
