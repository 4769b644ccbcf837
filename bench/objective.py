"""Which validation score should Optuna maximise? Many trials at one budget, each scored on
the validation split by every candidate objective, and how well each ranks the trials by their
test accuracy (Spearman's rho; int8 where deployed, else float) and how many trials tie on it.

    python bench/objective.py [--trials 12] [--board nucleo-l552ze-q] [--lat-ms 25]
                              [--store runs/objective/store] [--table-only] [--json]

The trials run the quickstart's short schedule, so the bench finishes in minutes (resumable: one
store). They differ by their seed (supernet initialisation, batch order, sampling): with so
short a search, trials that differ only by their hardware-loss weights mostly derive the very
same network — 11 of 12 did, identical to the last digit — and no objective can rank those.
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
        values = rows[name].dropna()
        out[name] = {"spearman_rho": q["spearman_pooled"],
                     "ties": int(len(values) - values.nunique())}
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

    name = f"objective-seeds-{args.board}-{args.lat_ms:g}ms"
    if not args.table_only:
        lut, _ = import_records(args.records / args.board, args.board)
        lut.write(f"{args.store}/lut")
        spec = parse_spec({
            "name": name, "storage": args.store, "datasets": ["ucihar"], "mcus": [args.board],
            "budgets": {"latency_ms": [args.lat_ms], "memory_kb": [64]},
            "seeds": list(range(args.trials)),
            "search": {"epochs": args.epochs, "warmup_epochs": 1,
                       "retrain_epochs": args.retrain_epochs},
            "deploy": {"qat_epochs": 1},
            "resources": {"cpus_per_trial": 1, "max_concurrent_trials": 2}})
        Sweep(spec).run(verbose=0)
    rows = ResultsStore(args.store).read(sweep=name)
    rows = rows[rows["status"].isin(("ok", "deploy_failed"))]
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
