"""The paper benchmark: MicroNAS (ours) vs DARTS vs random search on UCI-HAR, side by side.

    python bench/paper.py [--seeds 0,1,2] [--epochs 30] [--retrain-epochs 120] [--store runs/paper/store]
                          [--boards nucleo-l552ze-q:25,50 nucleo-f446re:15,30] [--doc docs/BENCHMARKS.md]

Runs one sweep per method (same grid, seeds, data and training settings; results in one store,
resumable), then prints one table — method, board, budget, int8 accuracy and macro-F1 (mean ± std
over seeds), verified latency and memory, budget violations, search and retraining wall time and
their ratio, and the paper's number where one exists — and writes it to the doc with the command
and the machine it ran on.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PAPER = {("nucleo-l552ze-q", 25.0): 94.62, ("nucleo-l552ze-q", 50.0): 98.86}
METHODS = ("micronas", "darts", "random")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=Path, default=ROOT.parent / "shared" / "mcu-measurements")
    parser.add_argument("--boards", nargs="+",
                        default=["nucleo-l552ze-q:25,50", "nucleo-f446re:15,30"],
                        help="BOARD:LAT_MS,LAT_MS ... (Mem_t = 64 KB)")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--retrain-epochs", type=int, default=120)
    parser.add_argument("--dataset", default="ucihar")
    parser.add_argument("--store", default=str(ROOT / "runs" / "paper" / "store"))
    parser.add_argument("--doc", type=Path, default=ROOT / "docs" / "BENCHMARKS.md")
    args = parser.parse_args()

    from lut_store import import_records
    from orchestrator import ResultsStore, Sweep, parse_spec

    grid = {}
    for item in args.boards:
        board, _, lats = item.partition(":")
        grid[board] = [float(v) for v in lats.split(",")]
    for board in grid:
        lut, _ = import_records(args.records / board, board)
        lut.write(f"{args.store}/lut")
    seeds = [int(s) for s in args.seeds.split(",")]
    for board, lats in grid.items():        # board by board: a partial run is a whole table
        for method in args.methods.split(","):
            spec = parse_spec({
                "name": f"paper-{method}-{board}", "storage": args.store,
                "datasets": [args.dataset], "mcus": [board],
                "budgets": {"latency_ms": lats, "memory_kb": [64]}, "seeds": seeds,
                "method": method,
                "search": {"epochs": args.epochs, "retrain_epochs": args.retrain_epochs},
                "resources": {"cpus_per_trial": 1, "max_concurrent_trials": 2}})
            Sweep(spec).run(verbose=0)
    rows = ResultsStore(args.store).read()
    rows = rows[rows["sweep"].str.startswith("paper-")]
    table = summarise(rows)
    print(table)
    command = "python " + " ".join(shlex.quote(a) for a in [Path(sys.argv[0]).as_posix(), *sys.argv[1:]])
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    args.doc.parent.mkdir(parents=True, exist_ok=True)
    args.doc.write_text(f"# Benchmarks: MicroNAS vs DARTS vs random search\n\nCommand: `{command}`  \n"
                        f"Machine: {machine}\n\n{table}\n")


def summarise(rows) -> str:
    """One markdown table row per (method, board, budget)."""
    lines = ["| method | board | budget | int8 acc % | int8 macro-F1 % | latency ms | memory KB | "
             "violations | search min | retrain min | search/retrain | paper % |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for (method, mcu, lat, mem), g in rows.groupby(["method", "mcu", "lat_budget_ms", "mem_budget_kb"]):
        acc, f1 = 100 * g["int8_accuracy"], 100 * g["int8_macro_f1"]
        violated = int((~g["fits"].fillna(False) | ~g["verified_fits"].fillna(False)).sum())
        search, retrain = g["search_s"].mean() / 60, g["retrain_s"].mean() / 60
        paper = PAPER.get((mcu, lat))
        lines.append(
            f"| {method} | {mcu} | {lat:g} ms / {mem:g} KB | {acc.mean():.2f} ± {acc.std(ddof=0):.2f} "
            f"| {f1.mean():.2f} ± {f1.std(ddof=0):.2f} | {g['verified_latency_ms'].mean():.2f} "
            f"| {g['verified_memory_bytes'].mean() / 1024:.2f} | {violated}/{len(g)} "
            f"| {search:.1f} | {retrain:.1f} | {search / retrain:.2f} | {paper if paper else '-'} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
