"""The retraining recipe, one lever at a time: a searched network retrained under recipe
variants, then quantised (QAT) and scored int8, on the data set's official protocol.

    python bench/recipe.py --run RUN_FOLDER [--run ...] --variants base,aug,ls,ema,all
                           [--seeds 0,1,2|run] [--out runs/recipe.jsonl] [--set retrain_epochs=120]
                           [--protocol official|paper-random]

Each (run, variant, seed) appends one JSON line to --out (resumable: done lines are skipped):
float and int8 test accuracy, the int8 drop, validation scores, wall times. `--table` prints the
medians per variant from --out instead of running. `--seeds run` retrains each network at its own
run's seed (on a seeded protocol such as paper-random the seed is also the split).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# Every variant spells out each lever, so that a variant means the same whatever the defaults.
_OFF = {"augment": False, "label_smoothing": 0.0, "ema_decay": 0.0, "distill": 0.0}
_ALL = {"augment": True, "label_smoothing": 0.1, "ema_decay": 0.999, "distill": 0.0}
VARIANTS = {
    "base": _OFF,                                   # the recipe before the levers
    "aug": {**_OFF, "augment": True},
    "ls": {**_OFF, "label_smoothing": 0.1},
    "ema": {**_OFF, "ema_decay": 0.999},
    "kd": {**_OFF, "distill": 0.5},
    "all": _ALL,                                    # the defaults since they were measured
    "all-aug": {**_ALL, "augment": False},
    "all-ls": {**_ALL, "label_smoothing": 0.0},
    "all-ema": {**_ALL, "ema_decay": 0.0},
    "all+kd": {**_ALL, "distill": 0.5},
    "all+200ep": {**_ALL, "retrain_epochs": 200},
}


def _value(text: str):
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", action="append", default=[])
    p.add_argument("--variants", default="base,aug,ls,ema,all")
    p.add_argument("--seeds", default="0")
    p.add_argument("--out", default=str(ROOT / "runs" / "recipe.jsonl"))
    p.add_argument("--set", action="append", default=[], help="KEY=VALUE SearchConfig override")
    p.add_argument("--lut", default=os.environ.get("MICRONAS_LUT"))
    p.add_argument("--dataset", default="ucihar")
    p.add_argument("--protocol", default="official")
    p.add_argument("--table", action="store_true")
    args = p.parse_args()
    out = Path(args.out)
    done = [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []
    if args.table:
        return table(done)
    import torch
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    from lut_store import LatencyModel, load_mcu
    from search_core import DeployStage, RetrainStage, RunFolder, SearchConfig, SearchRun, run_stages
    from search_core.data import load_dataset
    from search_core.deploy import DeployConfig

    extra = {k: _value(v) for k, v in (s.split("=", 1) for s in args.set)}
    keys = {(d["run"], d["variant"], d["seed"], json.dumps(d["set"], sort_keys=True)) for d in done}
    for run_dir in args.run:
        folder = RunFolder(run_dir)
        derivation = folder.derivation()
        mcu_name, lat_ms = _point_of(run_dir)
        latency = LatencyModel.open(args.lut, load_mcu(mcu_name))
        seeds = ([json.loads((Path(run_dir) / "result.json").read_text())["seed"]]
                 if args.seeds == "run" else [int(s) for s in args.seeds.split(",")])
        for seed in seeds:
            data = load_dataset(args.dataset, seed=seed, protocol=args.protocol)
            for name in args.variants.split(","):
                key = (run_dir, name, seed, json.dumps(extra, sort_keys=True))
                if key in keys:
                    continue
                config = SearchConfig(seed=seed, **{**VARIANTS[name], **extra})
                run = SearchRun(config=config, lat_ms=lat_ms, mem_kb=64, data=data, latency=latency,
                                deploy_config=DeployConfig(seed=seed))
                run.derivation = derivation
                start = time.perf_counter()
                run_stages([RetrainStage(), DeployStage()], run, done=("search",))
                rep = run.deployment.report
                row = {"run": run_dir, "variant": name, "seed": seed, "set": extra,
                       "protocol": args.protocol,
                       "float_test": run.result["test_accuracy"],
                       "int8_test": rep["accuracy"]["int8_tflm"]["accuracy"],
                       "status": rep.get("status"),
                       "val": {k: run.result.get(k) for k in ("val_accuracy", "val_macro_f1",
                                                              "val_neg_log_loss")},
                       "teacher": run.result.get("teacher"),   # distillation: its own figures
                       "retrain_s": run.seconds.get("retrain"), "deploy_s": run.seconds.get("deploy"),
                       "total_s": time.perf_counter() - start}
                print(json.dumps(row), flush=True)
                with out.open("a") as fh:
                    fh.write(json.dumps(row) + "\n")


def _point_of(run_dir: str) -> tuple[str, float]:
    """(board, latency budget) from a run folder's result.json, else from its name (f15, a25)."""
    result = Path(run_dir) / "result.json"
    if result.exists():
        r = json.loads(result.read_text())
        return r["mcu"], r["budget"]["latency_ms"]
    name = Path(run_dir).name
    return ("nucleo-f446re" if name.startswith("f") else "nucleo-l552ze-q"), float(name[1:])


def table(rows) -> None:
    groups: dict = {}
    for r in rows:
        groups.setdefault((Path(r["run"]).name, r["variant"], json.dumps(r["set"])), []).append(r)
    print("| run | variant | set | n | float % | int8 % | drop | retrain s |")
    print("|---|---|---|---|---|---|---|---|")
    for (run, variant, extra), rs in sorted(groups.items()):
        f = statistics.mean(r["float_test"] for r in rs) * 100
        q = [r["int8_test"] for r in rs if r["int8_test"] is not None]
        qm = statistics.mean(q) * 100 if q else float("nan")
        print(f"| {run} | {variant} | {extra} | {len(rs)} | {f:.2f} | {qm:.2f} | {f - qm:+.2f} | "
              f"{statistics.mean(r['retrain_s'] for r in rs):.0f} |")


if __name__ == "__main__":
    main()
