"""Does a network searched on the shared supernet retrain better from the weights it inherits
there than from fresh ones? The same architecture, the same data and seed, side by side:

    python bench/shared_inheritance.py --store runs/sharing/store --sweep sharing-supernet
                                       [--trial N] [--epochs 40] [--json]

Takes the shared supernet and one trial's architecture from a `sharing: supernet` sweep's store
(the trial with the most common architecture by default), then prints the test accuracy of
  - the architecture's path in the shared supernet, as it is (what inheriting starts from),
  - `--epochs` epochs of retraining from the inherited weights (`retrain_from: inherited`),
  - `--epochs` epochs from fresh weights, and the full recipe's `retrain_epochs` from fresh ones,
with each one's CPU seconds. Float networks only: int8 follows the float network (BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--store", default=str(ROOT / "runs" / "sharing" / "store"))
    p.add_argument("--sweep", default="sharing-supernet")
    p.add_argument("--trial", type=int, default=None, help="row index (default: most common arch)")
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()

    import torch
    torch.set_num_threads(1)
    from lut_store import storage
    from orchestrator import ResultsStore
    from search_core import Architecture, Relaxation, SearchConfig, SharedSupernet, cpu_seconds
    from search_core._retrain import retrain
    from search_core.data import load_dataset
    from search_core.metrics import predict

    rows = ResultsStore(args.store).read(sweep=args.sweep)
    rows = rows[(rows["status"] == "ok") & rows["shared_key"].notna()].reset_index(drop=True)
    if rows.empty:
        sys.exit(f"{args.store}: no sharing trial of sweep {args.sweep!r}")
    row = rows.iloc[args.trial] if args.trial is not None else \
        rows[rows["architecture_json"] == rows["architecture_json"].mode()[0]].iloc[0]
    config = json.loads(row["config_json"])["search"]
    data = load_dataset(row["dataset"], seed=int(row["seed"]))
    shared = SharedSupernet.from_bytes(storage.read_bytes(
        storage.join(args.store, "shared", row["shared_key"], "supernet.pt")))
    arch = Architecture.from_json(row["architecture_json"])
    supernet = shared.supernet(data).eval()

    def test_accuracy(net) -> float:
        return float((predict(net, data.x_test) == data.y_test).mean())

    with torch.no_grad():
        x = torch.from_numpy(data.x_test)
        path = torch.cat([supernet.forward_path(x[i:i + 512], Relaxation.one_hot(arch))
                          for i in range(0, len(x), 512)])
    out = {"trial": row["trial_key"], "point": row["point"], "shared_key": row["shared_key"],
           "architecture": json.loads(row["architecture_json"]),
           "supernet_path": float((path.argmax(1).numpy() == data.y_test).mean())}
    base = {k: v for k, v in config.items() if k in {f for f in SearchConfig.__dataclass_fields__}
            and k != "loss"}
    runs = {f"inherited_{args.epochs}": ("inherited", args.epochs),
            f"fresh_{args.epochs}": ("scratch", args.epochs),
            f"fresh_{base.get('retrain_epochs', 120)}": ("scratch", None)}
    for name, (start, epochs) in runs.items():
        cfg = SearchConfig(**{**base, "retrain_from": start,
                              **({"inherited_retrain_epochs": epochs, "retrain_epochs": epochs}
                                 if epochs else {})})
        cpu = cpu_seconds()
        trained = retrain(arch, data, cfg, supernet=supernet if start == "inherited" else None)
        out[name] = {"test_accuracy": test_accuracy(trained.network), "epochs": trained.epochs,
                     "cpu_s": cpu_seconds() - cpu}
        print(f"{name}: {100 * out[name]['test_accuracy']:.2f} % "
              f"({out[name]['cpu_s']:.0f} CPU-s)", file=sys.stderr, flush=True)
    if args.json:
        print(json.dumps(out, indent=2))
        return
    print(f"{out['point']} ({out['trial']}), shared supernet {out['shared_key']}")
    print("| start | epochs | float test % | CPU-s |\n|---|---|---|---|")
    print(f"| the supernet's path, as inherited | 0 | {100 * out['supernet_path']:.2f} | – |")
    for name in runs:
        r = out[name]
        print(f"| {name.split('_')[0]} weights | {r['epochs']} | {100 * r['test_accuracy']:.2f} | "
              f"{r['cpu_s']:.0f} |")


if __name__ == "__main__":
    main()
