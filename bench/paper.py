"""The paper benchmark: MicroNAS (ours) vs DARTS vs random search on UCI-HAR, both protocols
side by side, the recipe's ablation and other data sets.

    python bench/paper.py [--seeds 0,1,2] [--epochs 30] [--retrain-epochs 120] [--store runs/paper/store]
                          [--boards nucleo-l552ze-q:25,50 nucleo-f446re:15] [--methods micronas,random]
                          [--leaky nucleo-l552ze-q:50] [--extras hapt12:nucleo-l552ze-q:50 ...]
                          [--ablation runs/recipe.jsonl] [--doc docs/BENCHMARKS.md] [--table-only]

Runs one sweep per method and board on the official protocol, and the micronas sweeps of
`--leaky` on `paper-random` (windows at random across the splits: leaky, only to compare with
the published figures), all in one store (resumable); `--extras` are single searches on other
data sets (DATASET[:BOARD:LAT_MS], hapt12 = UCI-HAPT with its 12 classes). Then prints the
tables — int8 accuracy mean ± 95 % CI over seeds (Student's t) and the worst run, the int8 drop
after QAT, verified latency and memory, budget violations, gate failures, the time per point,
the paper's figure — and the recipe's ablation (bench/recipe.py's lines), and writes them to
the doc with the commands and the machine they ran on.
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
DEFAULT_STORE = str(ROOT / "runs" / "paper" / "store")
EXTRA_DATASETS = {"hapt12": ("hapt", {"classes": 12}), "basicmotions": ("basicmotions", {}),
                  "japanesevowels": ("japanesevowels", {}), "hapt": ("hapt", {}),
                  "ucihar": ("ucihar", {})}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=Path, default=ROOT.parent / "shared" / "mcu-measurements")
    parser.add_argument("--boards", nargs="+",
                        default=["nucleo-l552ze-q:25,50", "nucleo-f446re:15"],
                        help="BOARD:LAT_MS,LAT_MS ... (Mem_t = 64 KB)")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--retrain-epochs", type=int, default=120)
    parser.add_argument("--dataset", default="ucihar")
    parser.add_argument("--store", default=DEFAULT_STORE)
    parser.add_argument("--doc", type=Path, default=ROOT / "docs" / "BENCHMARKS.md")
    parser.add_argument("--leaky", nargs="*", default=["nucleo-l552ze-q:50"],
                        help="BOARD:LAT_MS points also run on the leaky paper-random protocol")
    parser.add_argument("--extras", nargs="*", default=[],
                        help="DATASET:BOARD:LAT_MS single searches on other data sets")
    parser.add_argument("--ablation", type=Path, default=ROOT / "runs" / "recipe.jsonl",
                        help="bench/recipe.py's output, rendered as the ablation table")
    parser.add_argument("--leaky-recipe", type=Path, default=ROOT / "runs" / "recipe-leaky.jsonl",
                        help="bench/recipe.py's lines for the paper-random networks (--protocol "
                             "paper-random --seeds run): rendered beside the published figure")
    parser.add_argument("--table-only", action="store_true",
                        help="run nothing: render the table from what the store holds")
    args = parser.parse_args()

    from lut_store import import_records
    from orchestrator import ResultsStore, Sweep, parse_spec

    def points(items):
        grid = {}
        for item in items:
            board, _, lats = item.partition(":")
            grid[board] = [float(v) for v in lats.split(",")]
        return grid

    grid, leaky = points(args.boards), points(args.leaky)
    seeds = [int(s) for s in args.seeds.split(",")]
    runs = [] if args.table_only else \
        [(m, b, lats, "official") for b, lats in grid.items()
         for m in args.methods.split(",") if m] + \
        [("micronas", b, lats, "paper-random") for b, lats in leaky.items()]
    for board in {b for _, b, _, _ in runs} | {e.split(":")[1] for e in args.extras if ":" in e}:
        lut, _ = import_records(args.records / board, board)
        lut.write(f"{args.store}/lut")
    for method, board, lats, protocol in runs:   # board by board
        suffix = "" if protocol == "official" else f"-{protocol}"
        spec = parse_spec({
            "name": f"paper-{method}-{board}{suffix}", "storage": args.store,
            "datasets": [args.dataset], "mcus": [board], "protocol": protocol,
            "budgets": {"latency_ms": lats, "memory_kb": [64]}, "seeds": seeds,
            "method": method,
            "search": {"epochs": args.epochs, "retrain_epochs": args.retrain_epochs},
            "resources": {"cpus_per_trial": 1, "max_concurrent_trials": 2}})
        Sweep(spec).run(verbose=0)
    extras = ROOT / "runs" / "paper" / "extras.jsonl" if args.store == DEFAULT_STORE else \
        Path(args.store).parent / "extras.jsonl"
    if not args.table_only:
        for item in args.extras:
            run_extra(item, seeds, args, extras)
    rows = ResultsStore(args.store).read()
    rows = rows[rows["sweep"].str.startswith("paper-")]
    rows, redeployed = current_deployment(rows, args.store)
    table = summarise(rows)
    if redeployed:
        table += (f"\n- **Re-derived int8** ({len(redeployed)} runs: "
                  + ", ".join(redeployed) + "): deployed during the run with an earlier QAT "
                  "setting, their int8 figures come from `micronas export` of the same retrained "
                  "network with the current deployment stage (QAT dropout 0.1, `qat_min_gain` "
                  "0.25).")
    if extras.exists():
        table += "\n\n" + extras_table(extras)
    if args.leaky_recipe.exists():
        table += "\n\n" + leaky_recipe_table(args.leaky_recipe)
    if args.ablation.exists():
        table += "\n\n" + ablation_table(args.ablation)
    print(table)
    def command(argv) -> str:
        return "python " + " ".join(shlex.quote(a) for a in [Path(sys.argv[0]).as_posix(), *argv])
    ran = [a for a in sys.argv[1:] if a != "--table-only"]
    how = (f"Runs: `{command(ran)}` (resumable); table: `{command(sys.argv[1:])}`"
           if args.table_only else f"Command: `{command(ran)}`")
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    args.doc.parent.mkdir(parents=True, exist_ok=True)
    args.doc.write_text(f"# Benchmarks: MicroNAS vs DARTS vs random search\n\n{how}  \n"
                        f"Machine: {machine}\n\n{table}\n")


def current_deployment(rows, store: str):
    """Rows deployed with another QAT setting than the current deployment stage's defaults
    (`dropout`, `qat_min_gain`, `qat_augment`) get the int8 figures of the current stage, re-run
    on the trial's own retrained network (`micronas export`; cached next to the store), so that
    every figure of the table is what the submitted code delivers. Returns the rows and the
    trials re-derived."""
    import json
    import shutil
    import subprocess
    import tempfile
    from dataclasses import asdict

    from lut_store import storage
    from search_core.deploy import DeployConfig

    current = asdict(DeployConfig())
    keys = ("dropout", "qat_min_gain", "qat_augment")
    cache = Path(store).parent / "redeployed"
    rows = rows.copy()
    changed = []
    for i, row in rows.iterrows():
        if row["status"] not in ("ok", "deploy_failed") or not isinstance(row["artifacts"], str):
            continue
        try:
            model = json.loads(storage.read_bytes(storage.join(row["artifacts"], "model.json")))
        except Exception:  # noqa: BLE001 - no bundle: nothing to re-derive
            continue
        used = model.get("config", {})
        if all(used.get(k, {"dropout": 0.3}.get(k)) == current[k] for k in keys):
            continue
        tag = "-".join(f"{k}={current[k]}" for k in keys)
        done = cache / f"{row['trial_key'].replace('/', '--')}--{tag}.json"
        if not done.exists():
            with tempfile.TemporaryDirectory() as tmp:
                run = Path(tmp) / "run"
                shutil.copytree(row["artifacts"], run)
                out = subprocess.run([sys.executable, "-m", "orchestrator.cli", "export", "--run",
                                      str(run), "--lut", f"{store}/lut", "--json", "--no-progress"],
                                     capture_output=True, text=True, check=True,
                                     env={**os.environ, "OMP_NUM_THREADS": "1",
                                          "TF_NUM_INTRAOP_THREADS": "1"})
                cache.mkdir(parents=True, exist_ok=True)
                done.write_text(out.stdout)
        report = json.loads(done.read_text())
        acc = report["accuracy"]["int8_tflm"]
        rows.loc[i, "int8_accuracy"], rows.loc[i, "int8_macro_f1"] = acc["accuracy"], acc["macro_f1"]
        rows.loc[i, "status"] = "ok" if report["status"] == "passed" else "deploy_failed"
        changed.append(f"{row['method']} {row['mcu']} {row['lat_budget_ms']:g} ms seed {row['seed']}")
    return rows, changed


def run_extra(item: str, seeds, args, out: Path) -> None:
    """One search per seed on another data set (full pipeline, 1 thread), one JSON line each."""
    import json
    import os
    import time

    import torch

    from lut_store import LatencyModel, load_mcu
    from search_core import SearchConfig, run_search
    from search_core.data import load_dataset
    from search_core.deploy import DeployConfig

    name, board, lat = (item.split(":") + ["nucleo-l552ze-q", "50"])[:3]
    dataset, options = EXTRA_DATASETS[name]
    torch.set_num_threads(1)
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
    done = {(r["extra"], r["seed"]) for r in map(json.loads, out.read_text().splitlines())} \
        if out.exists() else set()
    latency = LatencyModel.open(f"{args.store}/lut", load_mcu(board))
    for seed in seeds:
        if (item, seed) in done:
            continue
        data = load_dataset(dataset, seed=seed, **options)
        start = time.perf_counter()
        outcome = run_search(data, latency, lat_ms=float(lat), mem_kb=64.0,
                             config=SearchConfig(seed=seed, epochs=args.epochs,
                                                 retrain_epochs=args.retrain_epochs),
                             deploy=DeployConfig(seed=seed))
        rep = outcome.deployment.report
        row = {"extra": item, "dataset": name, "mcu": board, "lat_ms": float(lat), "seed": seed,
               "classes": data.n_classes, "float": outcome.result["test_accuracy"],
               "int8": rep["accuracy"]["int8_tflm"]["accuracy"], "status": rep["status"],
               "latency_ms": outcome.result["latency_ms"],
               "memory_bytes": rep["memory"]["board_arena_head_bytes"],
               "wall_s": time.perf_counter() - start}
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("a") as fh:
            fh.write(json.dumps(row) + "\n")


def _ci(values) -> str:
    """mean ± half-width of the 95 % confidence interval (Student's t; one run: no interval)."""
    import numpy as np
    from scipy.stats import t

    values = np.asarray([v for v in values if v == v], float)
    if not len(values):
        return "–"
    if len(values) == 1:
        return f"{values[0]:.2f}"
    half = t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
    return f"{values.mean():.2f} ± {half:.2f}"


def extras_table(path: Path) -> str:
    import json

    rows = [json.loads(line) for line in path.read_text().splitlines()]
    groups: dict = {}
    for r in rows:
        groups.setdefault((r["dataset"], r["classes"], r["mcu"], r["lat_ms"]), []).append(r)
    lines = ["### Other data sets (official protocol, micronas, full pipeline)", "",
             "| data set | classes | board | budget | runs | int8 acc % (95 % CI) | worst % | "
             "max int8 drop | latency ms | memory KB | min per point |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for (name, k, mcu, lat), rs in sorted(groups.items()):
        lines.append(
            f"| {name} | {k} | {mcu} | {lat:g} ms / 64 KB | {len(rs)} "
            f"| {_ci([100 * r['int8'] for r in rs])} | {100 * min(r['int8'] for r in rs):.2f} "
            f"| {max(100 * (r['float'] - r['int8']) for r in rs):+.2f} "
            f"| {max(r['latency_ms'] for r in rs):.2f} "
            f"| {max(r['memory_bytes'] for r in rs) / 1024:.2f} "
            f"| {max(r['wall_s'] for r in rs) / 60:.1f} |")
    return "\n".join(lines)


def leaky_recipe_table(path: Path) -> str:
    """The paper-random sweep's networks retrained under other recipes (bench/recipe.py with
    --protocol paper-random --seeds run: each network at its own seed, so its own split): the
    like-for-like comparison with the published figure, whose 200 epochs we do not run by default."""
    import json

    lines = [json.loads(line) for line in path.read_text().splitlines()]
    groups: dict = {}
    for r in lines:   # a variant with --set overrides is a variant of its own
        extra = ", ".join(f"{k}={v}" for k, v in sorted((r.get("set") or {}).items()))
        groups.setdefault(r["variant"] + (f" ({extra})" if extra else ""), []).append(r)
    out = ["### paper-random at 50 ms on the Nucleo-L552ZE-Q: the same networks, other recipes "
           "(bench/recipe.py)", "",
           "The three networks of the paper-random sweep above (one per seed, each retrained at its "
           "own seed and split), retrained under each variant, then QAT and int8 in TFLite-Micro. "
           "all+200ep: the defaults with the paper's 200 retraining epochs instead of 120; "
           "all+kd: the defaults plus distillation (weight 0.5) from the split's cached teacher; "
           "all-aug (retrain_epochs=200): the defaults without augmentation, 200 epochs — on a "
           "leaky split the test windows overlap training windows, so the regularisation that "
           "augmentation buys on unseen subjects does not pay there (three variants were tried, in "
           "the order listed in runs/recipe-leaky.jsonl; this was the third). "
           "Protocol **leaky** (windows at random across the splits), as the paper's figure seems "
           "to be.", "",
           "| variant | networks (seeds) | float % | int8 % (95 % CI) | worst int8 % | max int8 drop "
           "| retrain wall min (1 thread, shared machine; kd: teacher included) | paper % |",
           "|---|---|---|---|---|---|---|---|"]
    for variant, rs in sorted(groups.items()):
        f = [100 * r["float_test"] for r in rs]
        q = [100 * r["int8_test"] for r in rs]
        out.append(f"| {variant} | {len(rs)} ({', '.join(str(r['seed']) for r in rs)}) | {_ci(f)} "
                   f"| {_ci(q)} | {min(q):.2f} | {max(a - b for a, b in zip(f, q)):+.2f} "
                   f"| {sum(r['retrain_s'] for r in rs) / len(rs) / 60:.1f} | 98.86 |")
    teachers = [r["teacher"] for r in lines if r.get("teacher")]
    if teachers:   # the teacher's cost is the data set's and split's, paid once: reported apart
        out += ["", "- **Teachers** (the space's widest network, one per split, trained once and "
                "cached): float test accuracy "
                + ", ".join(f"{100 * t['test_accuracy']:.2f} %" for t in teachers)
                + "; training " + ", ".join(f"{t['seconds'] / 60:.0f}" for t in teachers)
                + " wall min each (1 thread, on the shared machine)."]
    return "\n".join(out)


def ablation_table(path: Path) -> str:
    """bench/recipe.py's lines: one searched network per budget, each recipe variant."""
    import json

    rows = [json.loads(line) for line in path.read_text().splitlines()]
    groups: dict = {}
    for r in rows:
        groups.setdefault((Path(r["run"]).name, r["variant"]), []).append(r)
    names = {"a25": "L552 25 ms", "a50": "L552 50 ms", "f15": "F446 15 ms"}
    lines = ["### Retraining recipe, one lever at a time (bench/recipe.py)", "",
             "The same searched network per budget, retrained under each variant (120 epochs, "
             "deployed with the QAT setting of the time: dropout 0.3, no gain margin, "
             "then QAT and int8 in TFLite-Micro; official protocol). base: none of the levers; "
             "aug: on-the-fly IMU augmentation; ls: label smoothing 0.1; ema: weight EMA 0.999; "
             "kd: distillation (0.5) from the cached teacher; all: aug + ls + ema (the defaults); "
             "all-X: the defaults without X.", "",
             "| network | variant | runs | float % | int8 % | int8 drop | retrain s |",
             "|---|---|---|---|---|---|---|"]
    for (run, variant), rs in sorted(groups.items()):
        f = [100 * r["float_test"] for r in rs]
        q = [100 * r["int8_test"] for r in rs]
        lines.append(f"| {names.get(run, run)} | {variant} | {len(rs)} | {_ci(f)} | {_ci(q)} "
                     f"| {max(a - b for a, b in zip(f, q)):+.2f} "
                     f"| {sum(r['retrain_s'] for r in rs) / len(rs):.0f} |")
    return "\n".join(lines)


def _pm(values, digits=2) -> str:
    values = values.dropna()
    if values.empty:
        return "–"
    return f"{values.mean():.{digits}f} ± {values.std(ddof=0):.{digits}f}"


def summarise(rows) -> str:
    """One markdown table row per (method, protocol, board, budget), then the headline comparisons."""
    lines = ["| method | protocol | board | budget | delivered | int8 acc % (95 % CI) | worst % "
             "| max int8 drop | int8 macro-F1 % | latency ms | memory KB | violations "
             "| min per point (max) | search/retrain | paper % |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    rows = rows.copy()
    rows["protocol"] = rows["protocol"].fillna("official")
    # Over the budget: by the LUT price of the derived network, or by the verified artifact (a
    # failed accuracy or parity gate is not a budget violation: it is counted under "delivered").
    mem_budget = rows["mem_budget_kb"] * 1024
    rows["violates"] = ((rows["fits"] == False)  # noqa: E712
                        | (rows["verified_latency_ms"] > rows["lat_budget_ms"])
                        | (rows["verified_memory_bytes"] > mem_budget))
    rows["ratio"] = rows["search_s"] / rows["retrain_s"]
    rows["point_s"] = rows[["search_s", "retrain_s", "deploy_s"]].sum(axis=1, min_count=1)
    ok = rows["status"] == "ok"
    accuracy = {}
    keys = ["method", "protocol", "mcu", "lat_budget_ms", "mem_budget_kb"]
    for (method, protocol, mcu, lat, mem), g in rows.groupby(keys):
        d = g[g["status"] == "ok"]
        # Accuracy of every int8 model within the budget, also those whose int8 drop exceeded the
        # deployment gate (leaving them out would flatter a method).
        m = g[~g["violates"] & g["int8_accuracy"].notna()]
        if protocol == "official":
            accuracy[(method, mcu, lat)] = 100 * m["int8_accuracy"]
        # Delivered networks: verified costs; networks over the budget (not delivered): LUT costs.
        lat_ms = g["verified_latency_ms"].fillna(g["latency_ms"])
        mem_kb = g["verified_memory_bytes"].fillna(g["peak_memory_bytes"]) / 1024
        ratio = g["ratio"].dropna()
        drop = 100 * (m["test_accuracy"] - m["int8_accuracy"])
        paper = PAPER.get((mcu, lat))
        label = protocol if protocol != "paper-random" else "paper-random (**leaky**)"
        lines.append(
            f"| {method} | {label} | {mcu} | {lat:g} ms / {mem:g} KB | {len(d)}/{len(g)} "
            f"| {_ci(100 * m['int8_accuracy'])} "
            f"| {f'{100 * m.int8_accuracy.min():.2f}' if len(m) else '–'} "
            f"| {f'{drop.max():+.2f}' if len(drop) else '–'} "
            f"| {_ci(100 * m['int8_macro_f1'])} "
            f"| {_pm(lat_ms)} | {_pm(mem_kb)} | {int(g['violates'].sum())}/{len(g)} "
            f"| {_minutes(g['point_s'])} ({g['point_s'].max() / 60:.1f}) "
            f"| {f'{ratio.mean():.2f}' if len(ratio) else '–'} "
            f"| {paper if paper else '–'} |")
    lines.append("")
    for method in sorted(rows["method"].unique()):
        g = rows[(rows["method"] == method) & (rows["protocol"] == "official")]
        gate = int((g["status"] == "deploy_failed").sum())
        lines.append(f"- **{method}**: {int(g['violates'].sum())} of {len(g)} trials over the budget "
                     f"({100 * g['violates'].mean():.0f} %); {int((g['status'] == 'ok').sum())} delivered"
                     + (f", {gate} failed a deployment gate (int8 drop or parity)" if gate else "") + ".")
    gaps = []
    for (method, mcu, lat), acc in accuracy.items():
        ours = accuracy.get(("micronas", mcu, lat))
        if method == "random" and ours is not None and len(ours) and len(acc):
            gaps.append((mcu, lat, ours.mean() - acc.mean()))
    if gaps:
        mean_gap = sum(g for *_, g in gaps) / len(gaps)
        lines.append("- **micronas − random** (int8 accuracy, points): " + ", ".join(
            f"{mcu} {lat:g} ms {gap:+.2f}" for mcu, lat, gap in gaps) + f"; mean {mean_gap:+.2f}.")
    if "nucleo-f446re" in set(rows["mcu"]):
        lines.append("- **Paper, Cortex-M4** (the F446RE's core): 93.93 % on UCI-HAR in arXiv v1, "
                     "budget not stated — hence no paper column on those rows.")
    ratio = rows.loc[ok & (rows["method"] == "micronas"), "ratio"].dropna()
    if len(ratio):
        lines.append(f"- **Search cost** (micronas, search time / retraining time of the same trial): "
                     f"median {ratio.median():.2f}, max {ratio.max():.2f} over {len(ratio)} trials.")
    return "\n".join(lines)


def _minutes(seconds) -> str:
    seconds = seconds.dropna()
    return f"{seconds.mean() / 60:.1f}" if len(seconds) else "–"

if __name__ == "__main__":
    main()
