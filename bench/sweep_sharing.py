"""One supernet for the whole grid vs one per trial: the same sweep with `sharing: none` and
`sharing: supernet`, side by side in one run, on one store.

    python bench/sweep_sharing.py [--boards nucleo-l552ze-q:15,25,35,50 nucleo-f446re:15,25,35,50]
                                  [--mem-kb 16,64] [--seed 0] [--trials-per-point 2]
                                  [--modes none,supernet] [--supernet-retrain best|every]
                                  [--store runs/sharing/store] [--table-only] [--json]

The `supernet` mode retrains only each point's best trial by its proxy (`retrain: best`) unless
`--supernet-retrain every`; `none` retrains every trial, as MicroNAS does. Both run the same
Optuna settings. Prints, for both modes: total CPU-seconds (each stage's CPU time, its process's
and its children's, as rows record it: `search_cpu_s`, `retrain_cpu_s`, `deploy_cpu_s`; the
shared stage's training is counted once, where it ran) and how they split over the stages, wall
time, per grid point the delivered model's int8 accuracy and exact costs (the trial the sweep
delivers: best feasible by the objective, as `Sweep.summary` picks, never by test accuracy), per
board the front's hypervolume (one reference point per board for both modes), budget
violations, how well the proxy ranked the `none` trials (Spearman's rho with int8 accuracy within
each point); then the ratios the issue's acceptance asks for.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MODES = ("none", "supernet")


def _spec(mode: str, args, grid: dict) -> dict:
    return {
        "name": f"sharing-{mode}", "storage": args.store, "datasets": ["ucihar"],
        "mcus": sorted(grid), "sharing": mode, "seeds": [args.seed],
        "budgets": [{"latency_ms": lat, "memory_kb": mem} for lat in sorted({v for vs in grid.values()
                                                                            for v in vs})
                    for mem in args.mem],
        "search": {"epochs": args.epochs, "retrain_epochs": args.retrain_epochs},
        **({"retrain": args.supernet_retrain} if mode == "supernet" else {}),
        "resources": {"cpus_per_trial": 1, "max_concurrent_trials": 2},
        "optuna": {"trials_per_point": args.trials_per_point, "startup_trials": 2,
                   "space": {"latency_over": [0.5, 16, "log"], "memory_over": [0.5, 16, "log"]}}}


def delivered(trials):
    """A point's delivered trial, as Sweep.summary picks it: the best feasible one by the
    objective (the default's, val_neg_log_loss), else the best by it."""
    feasible = trials[trials["constraint"].fillna(1) <= 0]
    return (feasible if len(feasible) else trials).sort_values(
        "val_neg_log_loss", ascending=False).iloc[0]


def proxy_rho(ok):
    """Spearman's rho of the proxy (proxy_val_neg_log_loss) with int8 accuracy among a point's
    retrained trials, averaged over the points with 3+ distinct proxies (None: too few)."""
    from scipy.stats import spearmanr
    rhos = []
    for _, g in ok.dropna(subset=["proxy_val_neg_log_loss", "int8_accuracy"]).groupby("point"):
        if g["proxy_val_neg_log_loss"].nunique() >= 3:
            rho = spearmanr(g["proxy_val_neg_log_loss"], g["int8_accuracy"]).statistic
            if rho == rho:
                rhos.append(float(rho))
    return round(sum(rhos) / len(rhos), 3) if rhos else None


def compare(rows, shared_s: dict) -> dict:
    """Both modes' figures from the store's rows (`shared_s`: mode -> shared-stage CPU-s)."""
    from orchestrator import ParetoFront

    out = {"modes": {}}
    rows = rows[rows["sweep"].isin([f"sharing-{m}" for m in MODES])].copy()
    rows["mode"] = rows["sweep"].str.removeprefix("sharing-")
    # One ParetoFront over both modes (a shared-supernet trial is its own "micronas+shared"
    # front): the same reference point per board for both, so the hypervolumes compare.
    front = ParetoFront(rows, metric="accuracy")
    hv = front.hypervolume.set_index(["mcu", "method"])["hypervolume"]
    method = {"none": "micronas", "supernet": "micronas+shared"}
    for mode in MODES:
        r = rows[rows["mode"] == mode]
        if r.empty:
            continue
        stages = {stage: float(r[f"{stage}_cpu_s"].fillna(0).sum())
                  for stage in ("search", "retrain", "deploy")}
        stages["shared"] = shared_s.get(mode, 0.0)
        cpu = sum(stages.values())
        ok = r[r["status"] == "ok"]
        points = {}
        for key, g in ok.groupby(["mcu", "lat_budget_ms", "mem_budget_kb"]):
            best = delivered(g)
            points["/".join(f"{k:g}" if isinstance(k, float) else str(k) for k in key)] = {
                "int8_accuracy": float(best["int8_accuracy"]),
                "latency_ms": float(best["verified_latency_ms"]),
                "memory_bytes": float(best["verified_memory_bytes"])}
        violations = int(((ok["verified_latency_ms"] > ok["lat_budget_ms"])
                          | (ok["verified_memory_bytes"] > ok["mem_budget_kb"] * 1024)).sum())
        out["modes"][mode] = {
            "trials": int(len(r)), "ok": int(len(ok)),
            "searched": int((r["status"] == "searched").sum()),
            "proxy_rho": proxy_rho(ok), "cpu_s": cpu, "cpu_s_by_stage": stages,
            "architectures": int(ok["architecture_json"].nunique()),
            "networks_reused": int(ok["network_reused"].fillna(False).astype(bool).sum()),
            "violations": violations,
            "points": points,
            "hypervolume": {mcu: float(hv.get((mcu, method[mode]), float("nan")))
                            for mcu in sorted(r["mcu"].unique())}}
    if set(out["modes"]) == set(MODES):
        a, b = out["modes"]["none"], out["modes"]["supernet"]
        common = sorted(set(a["points"]) & set(b["points"]))
        out["cpu_ratio"] = a["cpu_s"] / b["cpu_s"] if b["cpu_s"] else None
        out["hypervolume_share"] = {m: b["hypervolume"][m] / a["hypervolume"][m]
                                    for m in a["hypervolume"] if a["hypervolume"][m]}
        out["worst_point_loss"] = max((100 * (a["points"][k]["int8_accuracy"]
                                              - b["points"][k]["int8_accuracy"]) for k in common),
                                      default=None)
        out["points_missing"] = sorted(set(a["points"]) ^ set(b["points"]))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--records", type=Path, default=ROOT.parent / "shared" / "mcu-measurements")
    p.add_argument("--boards", nargs="+",
                   default=["nucleo-l552ze-q:15,25,35,50", "nucleo-f446re:15,25,35,50"])
    p.add_argument("--mem-kb", default="16,64")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--trials-per-point", type=int, default=2)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--retrain-epochs", type=int, default=120)
    p.add_argument("--store", default=str(ROOT / "runs" / "sharing" / "store"))
    p.add_argument("--supernet-retrain", choices=("best", "every"), default="best")
    p.add_argument("--modes", default=",".join(MODES),
                   help="which modes to run now (the table reads both from the store)")
    p.add_argument("--table-only", action="store_true")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    args.mem = [float(v) for v in args.mem_kb.split(",")]
    grid = {b: [float(v) for v in lats.split(",")] for b, _, lats in
            (item.partition(":") for item in args.boards)}

    from lut_store import import_records, storage
    from orchestrator import ResultsStore, Sweep, parse_spec

    timings = Path(args.store.replace("://", "_")).parent / "sharing-timings.json" \
        if "://" in args.store else Path(args.store).parent / "sharing-timings.json"
    recorded = json.loads(timings.read_text()) if timings.exists() else {}
    if not args.table_only:
        for board in grid:
            lut, _ = import_records(args.records / board, board)
            lut.write(f"{args.store}/lut")
        for mode in args.modes.split(","):
            start = time.perf_counter()
            summary = Sweep(parse_spec(_spec(mode, args, grid))).run(verbose=0)
            shared = sum(i["cpu_seconds"] for i in summary.get("shared", {}).values()
                         if i["trained_here"])
            recorded[mode] = {"wall_s": time.perf_counter() - start, "shared_s": shared}
            timings.parent.mkdir(parents=True, exist_ok=True)
            storage.write_file(str(timings), json.dumps(recorded, indent=2).encode())
    result = compare(ResultsStore(args.store).read(),
                     {m: v["shared_s"] for m, v in recorded.items()})
    for mode, v in recorded.items():
        if mode in result["modes"]:
            result["modes"][mode]["wall_s"] = v["wall_s"]
    if args.json:
        print(json.dumps(result, indent=2))
        return
    for mode, m in result["modes"].items():
        print(f"sharing: {mode}: {m['ok']}/{m['trials']} rows ok ({m['searched']} searched only), "
              f"proxy rho {m['proxy_rho']}, {m['architectures']} distinct "
              f"architectures, {m['networks_reused']} networks reused, {m['cpu_s']:.0f} CPU-s "
              f"(" + ", ".join(f"{k} {v:.0f}" for k, v in m["cpu_s_by_stage"].items()) + "), "
              f"wall {m.get('wall_s', float('nan')) / 60:.1f} min, {m['violations']} violations, "
              f"hypervolume " + ", ".join(f"{k} {v:.4g}" for k, v in m["hypervolume"].items()))
    print("| point (board/lat ms/mem KB) | int8 % none | int8 % supernet | latency ms | memory KB |")
    print("|---|---|---|---|---|")
    modes = result["modes"]
    for key in sorted(set().union(*(m["points"] for m in modes.values()))):
        cells = [modes[m]["points"].get(key) for m in MODES if m in modes]
        acc = [f"{100 * c['int8_accuracy']:.2f}" if c else "–" for c in cells]
        last = next((c for c in reversed(cells) if c), None)
        print(f"| {key} | {' | '.join(acc)} | {last['latency_ms']:.2f} | "
              f"{last['memory_bytes'] / 1024:.2f} |")
    if "cpu_ratio" in result:
        print(f"CPU-seconds none / supernet: {result['cpu_ratio']:.2f}x; hypervolume share: "
              + ", ".join(f"{k} {100 * v:.1f} %" for k, v in result["hypervolume_share"].items())
              + f"; worst point: {result['worst_point_loss']:+.2f} points")


if __name__ == "__main__":
    main()
