"""Co-searching the sensing front end vs the data set's fixed one, at the same budgets, in one run:

    python bench/front_end.py [--datasets ucihar hapt] [--mcu nucleo-l552ze-q]
                              [--lat-ms 6,12,25] [--mem-kb 64] [--power-mw 0.2,0.6,0.8]
                              [--power-datasets ucihar] [--store runs/front-end/store]
                              [--table-only] [--json]

One sweep per data set whose points are searched at three front ends (`front_ends` in the spec):
the data set's own (UCI-HAR: 2.56 s at 50 Hz, accelerometer + gyroscope, 128 x 9), the same
2.56 s decimated to 25 Hz (anti-aliased, 64 x 9), and that without the gyroscope (64 x 6). The
fixed front end's results are the own-front-end rows; the co-search's are all rows, the front
end chosen per budget by the Pareto front. Prints per data set: both fronts' hypervolume (one
reference point), the best int8 accuracy per budget with the front end that gave it (a budget
below the fixed front end's cheapest network is "infeasible" there), and every member of both
fronts with its front end and its energy per inference and per second of sensing (formula and
data file: lut_store/_energy.py, lut_store/energy/datasheets.json).

`--power-mw` adds, for the `--power-datasets`, a sweep of power budgets (mW of sensing +
inference, at the first memory budget and no latency budget): each is kept as the latency cap it
implies for each front end, so a budget that the gyroscope alone overdraws is met only without it.
Memory everywhere is RAM as the budget counts it: the arena + the input window's int8 buffer.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FRONT_ENDS = [{},
              {"name": "25hz", "window": 64, "step": 32, "rate_hz": 25},
              {"name": "acc-25hz", "window": 64, "step": 32, "rate_hz": 25, "sensors": ["acc"]}]
FIXED = "own"


def _spec(dataset: str, args) -> dict:
    return {"name": f"front-end-{dataset}", "storage": args.store, "datasets": [dataset],
            "mcus": [args.mcu], "front_ends": FRONT_ENDS, "seeds": [args.seed],
            "budgets": {"latency_ms": args.lat, "memory_kb": args.mem},
            "resources": {"cpus_per_trial": 1, "max_concurrent_trials": args.concurrent}}


def _power_spec(dataset: str, args) -> dict:
    return {**_spec(dataset, args), "name": f"front-end-{dataset}-power",
            "budgets": {"memory_kb": args.mem[:1], "power_mw": args.power}}


def _budget_name(lat, mem, power) -> str:
    parts = [] if lat != lat else [f"{lat:g} ms"]
    parts.append(f"{mem:g} KB")
    return " / ".join(parts + ([] if power != power else [f"{power:g} mW"]))


def compare(rows, store: str) -> dict:
    """Per data set: the fixed and the co-search front from the store's rows."""
    import pandas as pd

    from lut_store import LatencyModel
    from search_core import Architecture, CostModel

    from lut_store._energy import FORMULA
    from orchestrator import ParetoFront

    rows = rows[rows["sweep"].str.startswith("front-end-")].copy()
    fixed = rows[rows["front_end"] == FIXED].assign(method="fixed front end")
    both = pd.concat([fixed, rows.assign(method="co-search")], ignore_index=True)
    # One ParetoFront over both: the same reference point per (data set, board).
    front = ParetoFront(both, metric="accuracy")
    hv = front.hypervolume.set_index(["dataset", "method"])["hypervolume"]
    costs = {}

    def predicted(mcu: str, arch_json: str) -> float:
        """Share of the latency the LUT does not hold (the predictor's): new input shapes."""
        if mcu not in costs:
            costs[mcu] = CostModel(LatencyModel.open(f"{store}/lut", mcu))
        return costs[mcu].predicted_share(Architecture.from_json(arch_json))
    out = {"formula": FORMULA, "data_file": "lut_store/energy/datasheets.json", "datasets": {}}
    for dataset, r in rows.groupby("dataset"):
        budgets = {}
        r = r.assign(power_budget_mw=r["power_budget_mw"] if "power_budget_mw" in r else float("nan"))
        for (lat, mem, power), g in r.groupby(["lat_budget_ms", "mem_budget_kb", "power_budget_mw"],
                                              dropna=False):
            ok = g[g["status"] == "ok"].sort_values("int8_accuracy", ascending=False)
            own = g[g["front_end"] == FIXED]
            own_ok = own[own["status"] == "ok"].sort_values("int8_accuracy", ascending=False)
            budgets[_budget_name(lat, mem, power)] = {
                "fixed": (float(own_ok["int8_accuracy"].iloc[0]) if len(own_ok)
                          else (own["status"].iloc[0] if len(own) else "missing")),
                "co_search": float(ok["int8_accuracy"].iloc[0]) if len(ok) else None,
                "co_search_front_end": ok["front_end"].iloc[0] if len(ok) else None,
                "co_search_power_mw": _num(ok["power_mw"].iloc[0]) if len(ok) else None}
        fronts = {}
        for method in ("fixed front end", "co-search"):
            members = front.front[(front.front["dataset"] == dataset)
                                  & (front.front["method"] == method)]
            fronts[method] = [
                {"front_end": m["front_end_text"], "int8_accuracy": float(m["metric"]),
                 "latency_ms": float(m["latency_ms"]), "memory_kb": float(m["memory_bytes"]) / 1024,
                 "energy_per_inference_mj": _num(m["energy_per_inference_mj"]),
                 "power_mw": _num(m["power_mw"]), "trial": m["trial_key"],
                 "latency_predicted_share": predicted(m["mcu"], m["architecture_json"])}
                for m in members.sort_values("latency_ms").to_dict("records")]
        out["datasets"][dataset] = {
            "hypervolume": {m: float(hv.get((dataset, m), float("nan")))
                            for m in ("fixed front end", "co-search")},
            "budgets": budgets, "fronts": fronts,
            # Over a budget: the latency (or a power budget's cap), RAM (arena + input buffer),
            # or the estimated power.
            "violations": int(((r["status"] == "ok")
                               & ((r["verified_latency_ms"]
                                   > r["lat_effective_ms"].fillna(r["lat_budget_ms"]))
                                  | (r["verified_memory_bytes"] + r["input_buffer_bytes"]
                                     > r["mem_budget_kb"] * 1024)
                                  | (r["power_mw"] > r["power_budget_mw"])))
                              .sum())}
    return out


def _num(value):
    return None if value is None or value != value else float(value)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--records", type=Path, default=ROOT.parent / "shared" / "mcu-measurements")
    p.add_argument("--datasets", nargs="+", default=["ucihar", "hapt"])
    p.add_argument("--mcu", default="nucleo-l552ze-q")
    p.add_argument("--lat-ms", default="6,12,25")
    p.add_argument("--mem-kb", default="64")
    p.add_argument("--power-mw", default="",
                   help="power budgets in mW, comma-separated (empty: none)")
    p.add_argument("--power-datasets", nargs="+", default=["ucihar"])
    p.add_argument("--concurrent", type=int, default=2, help="trials at once")
    p.add_argument("--skip-latency-sweeps", action="store_true",
                   help="run only the power sweeps (the latency sweeps are in the store)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--store", default=str(ROOT / "runs" / "front-end" / "store"))
    p.add_argument("--retry-deploy-failed", action="store_true",
                   help="run again, as sweeps of their own, the points whose deployment failed "
                        "(after a fix; the failed rows stay in the store)")
    p.add_argument("--table-only", action="store_true")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    args.lat = [float(v) for v in args.lat_ms.split(",")]
    args.mem = [float(v) for v in args.mem_kb.split(",")]
    args.power = [float(v) for v in args.power_mw.split(",") if v]

    from lut_store import import_records
    from orchestrator import ResultsStore, Sweep, parse_spec

    if not args.table_only:
        lut, _ = import_records(args.records / args.mcu, args.mcu)
        lut.write(f"{args.store}/lut")
        for dataset in ([] if args.skip_latency_sweeps else args.datasets):
            start = time.perf_counter()
            Sweep(parse_spec(_spec(dataset, args))).run(verbose=0)
            print(f"{dataset}: swept in {(time.perf_counter() - start) / 60:.1f} min",
                  file=sys.stderr, flush=True)
        for dataset in (args.power_datasets if args.power else []):
            start = time.perf_counter()
            Sweep(parse_spec(_power_spec(dataset, args))).run(verbose=0)
            print(f"{dataset}: power budgets swept in {(time.perf_counter() - start) / 60:.1f} min",
                  file=sys.stderr, flush=True)
    if args.retry_deploy_failed:
        rows = ResultsStore(args.store).read()
        rows = rows[rows["sweep"].str.startswith("front-end-")]
        failed = rows[rows["status"] == "deploy_failed"]
        fronts = {f.get("name", FIXED): f for f in FRONT_ENDS}
        for (dataset, fe), g in failed.groupby(["dataset", "front_end"]):
            done = rows[(rows["dataset"] == dataset) & (rows["front_end"] == fe)
                        & (rows["status"] == "ok")]
            todo = [(lat, mem) for lat, mem in zip(g["lat_budget_ms"], g["mem_budget_kb"])
                    if not ((done["lat_budget_ms"] == lat) & (done["mem_budget_kb"] == mem)).any()]
            if not todo:
                continue
            spec = {**_spec(dataset, args), "name": f"front-end-{dataset}-{fe}-retry",
                    "front_ends": [fronts[fe]],
                    "budgets": [{"latency_ms": lat, "memory_kb": mem} for lat, mem in todo]}
            Sweep(parse_spec(spec)).run(verbose=0)
    result = compare(ResultsStore(args.store).read(), args.store)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    for dataset, d in result["datasets"].items():
        hv = d["hypervolume"]
        print(f"## {dataset} on {args.mcu}: hypervolume fixed {hv['fixed front end']:.4g}, "
              f"co-search {hv['co-search']:.4g}; {d['violations']} budget violations")
        print("| budget | int8 % fixed front end | int8 % co-search | chosen front end | its mW |")
        print("|---|---|---|---|---|")
        for budget, b in d["budgets"].items():
            fixed = f"{100 * b['fixed']:.2f}" if isinstance(b["fixed"], float) else b["fixed"]
            co = f"{100 * b['co_search']:.2f}" if b["co_search"] is not None else "–"
            pw = b["co_search_power_mw"]
            print(f"| {budget} | {fixed} | {co} | {b['co_search_front_end'] or '–'} | "
                  f"{'–' if pw is None else f'{pw:.3g}'} |")
        print("| front | member's front end | int8 % | latency ms (predicted share) | RAM KB | "
              "mJ / inference | mW sensing |\n|---|---|---|---|---|---|---|")
        for method, members in d["fronts"].items():
            for m in members:
                e, pw = m["energy_per_inference_mj"], m["power_mw"]
                print(f"| {method} | {m['front_end']} | {100 * m['int8_accuracy']:.2f} | "
                      f"{m['latency_ms']:.2f} ({100 * m['latency_predicted_share']:.0f} %) | "
                      f"{m['memory_kb']:.2f} | "
                      f"{'–' if e is None else f'{e:.3g}'} | {'–' if pw is None else f'{pw:.3g}'} |")
    print(f"Energy: {result['formula']} (data: {result['data_file']})")


if __name__ == "__main__":
    main()
