"""The MicroNAS acceptance runs on UCI-HAR: search + retraining per budget on one board.

    python bench/search_ucihar.py [--records ../shared/mcu-measurements] [--mcu nucleo-l552ze-q]
                                  [--budgets 25:64,50:64,50:6] [--epochs 30] [--json]

Prints, per budget: the budget, the exact latency and peak memory of the derived network, what
the search expected, float test accuracy and macro-F1, and the wall time of search and retraining.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PAPER = {("nucleo-l552ze-q", 25.0): 0.9462, ("nucleo-l552ze-q", 50.0): 0.9886}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=Path, default=ROOT.parent / "shared" / "mcu-measurements")
    parser.add_argument("--mcu", default="nucleo-l552ze-q")
    parser.add_argument("--budgets", default="25:64,50:64,50:6", help="LAT_MS:MEM_KB,...")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--retrain-epochs", type=int, default=120)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "bench-search")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from lut_store import LatencyModel, Predictor, import_records, load_mcu
    from search_core.data import load_dataset
    from search_core.search import SearchConfig, run_search

    mcu = load_mcu(args.mcu)
    lut, _ = import_records(args.records / mcu.name, mcu.name)
    latency = LatencyModel(mcu, lut, Predictor.fit(lut, [mcu]))
    data = load_dataset("ucihar", seed=args.seed)
    rows = []
    for spec in args.budgets.split(","):
        lat, mem = (float(v) for v in spec.split(":"))
        start = time.perf_counter()
        config = SearchConfig(epochs=args.epochs, retrain_epochs=args.retrain_epochs, seed=args.seed)
        result = run_search(data, latency, lat_ms=lat, mem_kb=mem, config=config,
                            out_dir=args.out / f"{mcu.name}-{lat:g}ms-{mem:g}kb-seed{args.seed}",
                            show_progress=not args.json).result
        rows.append({
            "mcu": mcu.name, "lat_budget_ms": lat, "mem_budget_kb": mem,
            "latency_ms": result["latency_ms"], "peak_memory_kb": result["peak_memory_bytes"] / 1024,
            "expected_latency_ms": result["expected_latency_ms"],
            "expected_memory_kb": result["expected_memory_bytes"] / 1024,
            "fits": result["fits"], "test_accuracy": result["test_accuracy"],
            "test_macro_f1": result["test_macro_f1"], "paper_accuracy": PAPER.get((mcu.name, lat)),
            "search_s": result["timings"]["search_s"], "retrain_s": result["timings"]["retrain_s"],
            "wall_s": time.perf_counter() - start, "repairs": len(result["repairs"]),
            "fills": len(result["fills"]), "train_windows": len(data.x_train),
            "test_windows": len(data.x_test),
        })
        if not args.json:
            _print(rows[-1:], header=len(rows) == 1)
    if args.json:
        print(json.dumps(rows, indent=2))


def _print(rows, header: bool) -> None:
    if header:
        print(f"{'budget':>14} {'latency':>9} {'memory':>9} {'E[lat]':>8} {'E[mem]':>8} {'fits':>5} "
              f"{'test acc':>9} {'macro-F1':>9} {'paper':>7} {'search':>8} {'retrain':>8} {'wall':>7}")
    for r in rows:
        paper = f"{100 * r['paper_accuracy']:.2f}" if r["paper_accuracy"] else "-"
        print(f"{r['lat_budget_ms']:>6g}ms/{r['mem_budget_kb']:>3g}KB {r['latency_ms']:>7.2f}ms "
              f"{r['peak_memory_kb']:>7.2f}KB {r['expected_latency_ms']:>6.1f}ms "
              f"{r['expected_memory_kb']:>6.1f}KB {str(r['fits']):>5} {100 * r['test_accuracy']:>8.2f}% "
              f"{100 * r['test_macro_f1']:>8.2f}% {paper:>7} {r['search_s']:>7.0f}s "
              f"{r['retrain_s']:>7.0f}s {r['wall_s'] / 60:>5.1f}min", flush=True)


if __name__ == "__main__":
    main()
