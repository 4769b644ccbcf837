"""The orchestration at scale, without training: a `dry:` sweep of thousands of trials over
hundreds of grid points, and the store and report over 10k and 100k rows.

    python bench/scale.py [--points 200] [--trials-per-point 10] [--source runs/paper/store]
                          [--rows 10000,100000] [--cluster] [--json]

Prints: the orchestration's cost per trial (the sweep's time from the first trial's start to the
last one's end per trial, which bounds it; the driver process's CPU per trial; idle trial slots), rows lost or duplicated, rows per second into the
store (a local folder and a real S3 server process on loopback), the searcher's cost per
suggestion (200 constrained Optuna studies), results read time and report time over synthetic
stores of 10k and 100k rows. `--cluster` runs the dry sweep on the two-node loopback cluster
(deploy_ray.local_cluster) instead of a local Ray.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _grid(points: int) -> dict:
    """~`points` budget points on two boards (a latency x memory grid on BasicMotions)."""
    per_board = max(1, points // 2)
    lat_n = max(1, int(per_board ** 0.5))
    mem_n = max(1, per_board // lat_n)
    return {"latency_ms": [round(8 + 2 * i, 1) for i in range(lat_n)],
            "memory_kb": [8 + 4 * i for i in range(mem_n)]}


def dry_sweep(args, work: Path) -> dict:
    from lut_store import import_records
    from orchestrator import ResultsStore, Sweep, parse_spec

    store = str(work / "dry-store")
    for board in ("nucleo-l552ze-q", "nucleo-f446re"):
        lut, _ = import_records(args.records / board, board)
        lut.write(f"{store}/lut")
    spec = parse_spec({
        "name": "scale", "storage": store, "dry": args.source, "datasets": ["basicmotions"],
        "mcus": ["nucleo-l552ze-q", "nucleo-f446re"], "budgets": _grid(args.points),
        "resources": {"cpus_per_trial": 0.25, "max_concurrent_trials": args.concurrent},
        "optuna": {"trials_per_point": args.trials_per_point, "startup_trials": 2}})
    import resource

    sweep = Sweep(spec)
    plan = sweep.check()
    start, cpu = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
    sweep.run(plan, verbose=0, say=lambda line: None)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF)
    driver_cpu = (after.ru_utime - cpu.ru_utime) + (after.ru_stime - cpu.ru_stime)
    rows = ResultsStore(store).read(dry=True)
    expected = len(plan.runnable) * spec.trials_per_point
    work_s = float(rows["wall_s"].sum())
    # From the first trial's start to the last one's end: Ray's and Tune's start-up are paid
    # once per sweep, not per trial.
    span = (rows["finished_at"].max() - rows["started_at"].min()).total_seconds()
    return {"points": len(plan.runnable), "trials": expected, "rows": int(len(rows)),
            "lost": expected - int(rows["trial_key"].nunique()),
            "duplicated": int(len(rows) - rows["trial_key"].nunique()), "wall_s": wall,
            "trials_span_s": span, "trial_work_s_mean": work_s / max(len(rows), 1),
            # The sweep's time per trial, first trial's start to last one's end: an upper bound
            # of what the orchestration adds per trial, whatever the trials overlap.
            "span_ms_per_trial": 1000 * span / max(len(rows), 1),
            # CPU the driver process (Tune's loop, the searcher, Optuna, the store) spent per trial.
            "driver_cpu_ms_per_trial": 1000 * driver_cpu / max(len(rows), 1),
            # Trial slots left idle per trial (slots x span - the trials' work): counts every slot
            # beyond the cores as idle, so it is pessimistic where --concurrent exceeds the cores.
            "idle_slot_ms_per_trial":
                1000 * (span * args.concurrent - work_s) / max(len(rows), 1),
            "concurrent": args.concurrent, "cpus": os.cpu_count()}


def _row(i: int, now) -> dict:
    return {"trial_key": f"synthetic/{i:07d}", "sweep": "synthetic", "method": "micronas",
            "status": "ok", "dataset": "ucihar",
            "mcu": ("nucleo-l552ze-q", "nucleo-f446re")[i % 2],
            "lat_budget_ms": float(10 + i % 40), "mem_budget_kb": 64.0, "seed": 0,
            "point": f"p{i % 200}", "architecture_json": "{}", "search_latency_ms": 5.0 + i % 40,
            "search_memory_bytes": 4096.0 + i % 997, "latency_ms": 5.0 + i % 40,
            "peak_memory_bytes": 4096.0 + i % 997, "fits": True, "test_accuracy": 0.9,
            "int8_accuracy": 0.85 + (i % 1000) / 10000, "int8_macro_f1": 0.85,
            "verified_latency_ms": 5.0 + i % 40, "verified_memory_bytes": 4096.0 + i % 997,
            "flash_bytes": 20000.0, "finished_at": now}


def store_writes(url: str, n: int) -> float:
    from orchestrator import ResultsStore
    store, now = ResultsStore(url), datetime.now(UTC)
    start = time.perf_counter()
    for i in range(n):
        store.write(_row(i, now))
    return n / (time.perf_counter() - start)


def _moto(port: int = 5123):
    exe = Path(sys.executable).with_name("moto_server")
    proc = subprocess.Popen([str(exe), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import urllib.request
    for _ in range(100):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1).read()
            break
        except Exception:  # noqa: BLE001 - not up yet
            time.sleep(0.2)
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",
                      AWS_ENDPOINT_URL=f"http://127.0.0.1:{port}", AWS_DEFAULT_REGION="us-east-1")
    import boto3
    boto3.client("s3").create_bucket(Bucket="bench")
    return proc


def searcher_cost(points: int, per_point: int) -> float:
    """ms per suggest + complete pair of the sweep's searcher (outside Ray's loop)."""
    from orchestrator._optuna import PointSearcher
    from orchestrator._spec import OptunaSettings

    keys = [{"key": f"p{i}"} for i in range(points)]
    searcher = PointSearcher(keys, per_point, OptunaSettings(trials_per_point=per_point,
                                                             space={"latency_over": (0.5, 16, True)}))
    start, n = time.perf_counter(), 0
    while True:
        got = searcher.suggest(f"t{n}")
        if got is None or got == searcher.FINISHED:
            break
        searcher.on_trial_complete(f"t{n}", {"objective": 0.5, "constraint_latency": -1.0})
        n += 1
    return 1000 * (time.perf_counter() - start) / max(n, 1)


def loose_then_compacted(n: int, work: Path) -> dict:
    """`n` rows in the layout a sweep writes them (a file per trial), read as they are, then
    compacted (ResultsStore.compact, as a sweep does at its end) and read again."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from orchestrator import ResultsStore
    from orchestrator._store import SCHEMA, _name, _part

    sys.path.insert(0, str(ROOT / "bench"))
    from report import synthetic_rows

    url = str(work / f"loose-{n}")
    store = ResultsStore(url)
    for (dataset, mcu), part in synthetic_rows(n).groupby(["dataset", "mcu"]):
        folder = Path(store.results_url) / f"dataset={_part(dataset)}" / f"mcu={_part(mcu)}"
        folder.mkdir(parents=True, exist_ok=True)
        table = pa.Table.from_pandas(part.reindex(columns=SCHEMA.names), schema=SCHEMA,
                                     preserve_index=False)
        for i, key in enumerate(part["trial_key"]):   # what store.write does, without its fsyncs
            pq.write_table(table.slice(i, 1), folder / f"{_name(key.replace('/', '--'))}.parquet")
    start = time.perf_counter()
    before = store.read()
    loose_s = time.perf_counter() - start
    start = time.perf_counter()
    done = store.compact()
    compact_s = time.perf_counter() - start
    start = time.perf_counter()
    after = store.read()
    read_s = time.perf_counter() - start
    return {"rows": int(len(after)), "same_rows": bool(before.equals(after)),
            "read_loose_s": loose_s, "compact_s": compact_s, "files_merged": done["files_merged"],
            "read_compacted_s": read_s}


def read_and_report(n: int, work: Path) -> dict:
    """Read and report over `n` synthetic rows as compacted stores hold them (bench/report.py's
    generator, written in bulk files of 2,000 rows: a 2,000-trial sweep's compaction per
    partition writes one such file)."""
    from orchestrator import ResultsStore
    from orchestrator._report import build_report

    sys.path.insert(0, str(ROOT / "bench"))
    from report import synthetic_rows, write_bulk

    url = str(work / f"rows-{n}")
    write_bulk(url, synthetic_rows(n), per_file=2000)
    store = ResultsStore(url)
    start = time.perf_counter()
    rows = store.read()
    read_s = time.perf_counter() - start
    start = time.perf_counter()
    build_report(url, str(work / f"report-{n}"), reference=None)
    return {"rows": int(len(rows)), "read_s": read_s, "report_s": time.perf_counter() - start}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--records", type=Path, default=ROOT.parent / "shared" / "mcu-measurements")
    p.add_argument("--source", default=str(ROOT / "runs" / "paper" / "store"))
    p.add_argument("--points", type=int, default=200)
    p.add_argument("--trials-per-point", type=int, default=10)
    p.add_argument("--concurrent", type=int, default=8)
    p.add_argument("--rows", default="10000,100000")
    p.add_argument("--write-rows", type=int, default=1000)
    p.add_argument("--loose-rows", type=int, default=10000,
                   help="rows written a file per trial, read before and after compaction")
    p.add_argument("--skip-sweep", action="store_true", help="only the store and report figures")
    p.add_argument("--cluster", action="store_true")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    import optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    work = Path(tempfile.mkdtemp(prefix="micronas-scale-"))
    out: dict = {}
    try:
        if args.skip_sweep:
            pass
        elif args.cluster:
            from deploy_ray.local_cluster import LocalCluster
            with LocalCluster(workers=1, cpus_per_node=4) as cluster:
                os.environ["RAY_ADDRESS"] = cluster.address
                out["dry_sweep"] = dry_sweep(args, work)
        else:
            out["dry_sweep"] = dry_sweep(args, work)
        out["searcher_ms_per_suggestion"] = searcher_cost(args.points, args.trials_per_point)
        out["rows_per_s_local"] = store_writes(str(work / "writes"), args.write_rows)
        proc = _moto()
        try:
            out["rows_per_s_s3"] = store_writes("s3://bench/writes", args.write_rows)
        finally:
            proc.terminate()
        out["loose_then_compacted"] = loose_then_compacted(args.loose_rows, work)
        out["read_and_report"] = [read_and_report(int(n), work) for n in args.rows.split(",")]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json.dumps(out, indent=2))
        return
    d = out.get("dry_sweep")
    if d:
        print(f"dry sweep: {d['trials']} trials over {d['points']} points: {d['rows']} rows, "
              f"{d['lost']} lost, {d['duplicated']} duplicated, {d['wall_s']:.0f} s ({d['trials_span_s']:.0f} s "
              f"first trial to last); per trial: {d['span_ms_per_trial']:.0f} ms of sweep time "
              f"(bounds the orchestration's overhead), driver CPU {d['driver_cpu_ms_per_trial']:.0f} ms, "
              f"trial work {1000 * d['trial_work_s_mean']:.0f} ms, idle slot time "
              f"{d['idle_slot_ms_per_trial']:.0f} ms ({d['concurrent']} slots on {d['cpus']} cores)")
    print(f"searcher: {out['searcher_ms_per_suggestion']:.1f} ms per suggestion")
    print(f"store writes: {out['rows_per_s_local']:.0f} rows/s local, "
          f"{out['rows_per_s_s3']:.0f} rows/s S3 (server process on loopback)")
    c = out["loose_then_compacted"]
    print(f"{c['rows']} rows a file each: read {c['read_loose_s']:.1f} s; compacted in "
          f"{c['compact_s']:.1f} s, then read {c['read_compacted_s']:.2f} s (same rows: {c['same_rows']})")
    for r in out["read_and_report"]:
        print(f"{r['rows']} rows: read {r['read_s']:.1f} s, report {r['report_s']:.1f} s")


if __name__ == "__main__":
    main()
