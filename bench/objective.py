"""Which validation score should Optuna maximise? Many trials of one grid point, each scored on
the validation split by every candidate objective, and how well each ranks the trials by their
test accuracy (Spearman's rho; int8 where deployed, else float) and how many trials tie on it.

    python bench/objective.py [--trials 12] [--board nucleo-l552ze-q] [--lat-ms 25]
                              [--store runs/objective/store] [--table-only] [--json]

The trials differ by their hardware-loss weights (random, as Optuna's start-up trials are) and
run the quickstart's short schedule, so the bench finishes in minutes; resumable (one store).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))



def ranking(rows) -> dict:
    """Per candidate objective (orchestrator.OBJECTIVES): Spearman's rho with test accuracy and
    the tied trials, as a sweep's summary reports them for its own objective."""
    from orchestrator import OBJECTIVES, objective_quality

    out = {"trials": int(len(rows))}
    for name in OBJECTIVES:
        q = objective_quality(rows, name)
        out[name] = {"spearman_rho": q["spearman_pooled"], "ties": q["max_ties"]}
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--records", type=Path, default=ROOT.parent / "shared" / "mcu-measurements")
    p.add_argument("--trials", type=int, default=12)
    p.add_argument("--board", default="nucleo-l552ze-q")
    p.add_argument("--lat-ms", type=float, default=25.0)
    p.add_argument("--store", default=str(ROOT / "runs" / "objective" / "store"))
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--retrain-epochs", type=int, default=8)
    p.add_argument("--table-only", action="store_true")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()

    from lut_store import import_records
    from orchestrator import ResultsStore, Sweep, parse_spec

    name = f"objective-{args.board}-{args.lat_ms:g}ms"
    if not args.table_only:
        lut, _ = import_records(args.records / args.board, args.board)
        lut.write(f"{args.store}/lut")
        spec = parse_spec({
            "name": name, "storage": args.store, "datasets": ["ucihar"], "mcus": [args.board],
            "budgets": {"latency_ms": [args.lat_ms], "memory_kb": [64]}, "seeds": [0],
            "search": {"epochs": args.epochs, "warmup_epochs": 1,
                       "retrain_epochs": args.retrain_epochs},
            "deploy": {"qat_epochs": 1},
            "resources": {"cpus_per_trial": 1, "max_concurrent_trials": 2},
            # Every trial a start-up (random) trial: the bench compares objectives, not TPE.
            "optuna": {"trials_per_point": args.trials, "startup_trials": args.trials,
                       "space": {"latency_over": [0.5, 16, "log"],
                                 "memory_over": [0.5, 16, "log"]}}})
        Sweep(spec).run(verbose=0)
    rows = ResultsStore(args.store).read(sweep=name)
    result = {"point": f"ucihar / {args.board} / {args.lat_ms:g} ms / 64 KB", **ranking(rows)}
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{result['point']}: {result['trials']} trials")
    print("| objective | Spearman rho with test accuracy | tied trials |")
    print("|---|---|---|")
    for name in (k for k in result if k.startswith("val_")):
        r = result[name]
        print(f"| {name} | {r['spearman_rho']} | {r['ties']} |")


if __name__ == "__main__":
    main()
