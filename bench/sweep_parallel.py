"""Parallel speed-up of a sweep: the same trials one at a time, then two at a time, on a local Ray.

    python bench/sweep_parallel.py [--dataset ucihar] [--trials 4] [--repeats 1] [--json]

Each run is a fresh sweep (its own temporary store and Ray instance) of `--trials` grid points with
fixed loss weights, one CPU per trial; the figure is the wall time of `Sweep.run` (Ray start-up
included), the median over `--repeats`, and the ratio sequential / parallel.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=Path, default=ROOT.parent / "shared" / "mcu-measurements")
    parser.add_argument("--dataset", default="basicmotions")
    parser.add_argument("--trials", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from lut_store import import_records
    from orchestrator._spec import parse_spec
    from orchestrator._sweep import Sweep

    lut, _ = import_records(args.records / "nucleo-l552ze-q", "nucleo-l552ze-q")
    budgets = [{"latency_ms": 12 + i, "memory_kb": 64} for i in range(args.trials)]
    if args.dataset == "ucihar":
        budgets = [{"latency_ms": 25 + 5 * i, "memory_kb": 64} for i in range(args.trials)]
    times = {1: [], 2: []}
    for _ in range(args.repeats):
        for concurrent in (1, 2):
            with tempfile.TemporaryDirectory() as tmp:
                lut.write(f"{tmp}/store/lut")
                spec = parse_spec({
                    "name": f"parallel{concurrent}", "storage": f"{tmp}/store",
                    "datasets": [args.dataset], "mcus": ["nucleo-l552ze-q"], "budgets": budgets,
                    "search": {"epochs": args.epochs, "warmup_epochs": 1,
                               "retrain_epochs": args.epochs, "retrain_patience": args.epochs},
                    "deploy": {"qat_epochs": 0, "max_accuracy_drop": 100},
                    "resources": {"cpus_per_trial": 1, "max_concurrent_trials": concurrent}})
                sweep = Sweep(spec)
                plan = sweep.check()
                start = time.perf_counter()
                summary = sweep.run(plan, verbose=0, say=lambda line: None)
                times[concurrent].append(time.perf_counter() - start)
                assert summary["rows"] == args.trials, summary
    one, two = statistics.median(times[1]), statistics.median(times[2])
    out = {"dataset": args.dataset, "trials": args.trials, "cpus_per_trial": 1,
           "sequential_s": one, "parallel_s": two, "speedup": one / two,
           "runs": {str(k): v for k, v in times.items()}}
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(f"{args.trials} trials of {args.dataset}: one at a time {one:.1f} s, two at a time "
              f"{two:.1f} s -> speed-up {one / two:.2f}x (median of {args.repeats})")


if __name__ == "__main__":
    main()
