"""How well does a proxy rank a point's retrained trials? For the finished trials of a sweep that
retrained every trial (`retrain: every`), Spearman's rho within each point between int8 accuracy
and
  - `recorded`: the proxy the trial recorded (its network's path in the supernet its own search
    left: what `retrain: best` ranks by),
  - `shared`: the same network's path in a shared supernet as trained (before any point's
    fine-tuning), one set of weights for every trial,
  - `objective`: the retrained network's validation log-likelihood (what `retrain: every` ranks by).

    python bench/proxy_rank.py --store runs/sharing/store --sweep sharing-none
                               [--shared-key KEY] [--json]

`--shared-key` names `<store>/shared/<key>/supernet.pt` (default: the only one there).
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
    p.add_argument("--sweep", default="sharing-none")
    p.add_argument("--shared-key", default=None)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()

    import torch
    torch.set_num_threads(1)
    from scipy.stats import spearmanr

    from lut_store import storage
    from orchestrator import ResultsStore
    from search_core import Architecture, SharedSupernet
    from search_core._dnas import path_scores
    from search_core.data import load_dataset

    rows = ResultsStore(args.store).read(sweep=args.sweep)
    rows = rows[rows["status"] == "ok"].dropna(subset=["int8_accuracy"]).copy()
    if rows.empty:
        sys.exit(f"{args.store}: no finished trial of sweep {args.sweep!r}")
    keys = [u.rstrip("/").rsplit("/", 1)[-1]
            for u in storage.list_files(storage.join(args.store, "shared"), "")] \
        if args.shared_key is None else [args.shared_key]
    if len(keys) != 1:
        sys.exit(f"{args.store}: name the shared supernet with --shared-key (found {keys})")
    shared = SharedSupernet.from_bytes(storage.read_bytes(
        storage.join(args.store, "shared", keys[0], "supernet.pt")))
    first = rows.iloc[0]
    data = load_dataset(first["dataset"], seed=int(first["seed"]))
    supernet = shared.supernet(data)
    rows["shared_proxy"] = [path_scores(supernet, Architecture.from_json(a), data)
                            ["val_neg_log_loss"] for a in rows["architecture_json"]]
    proxies = {"recorded": "proxy_val_neg_log_loss", "shared": "shared_proxy",
               "objective": "val_neg_log_loss"}
    out = {"trials": int(len(rows)), "shared_key": keys[0], "points": {}}
    for point, g in rows.groupby("point"):
        out["points"][point] = {name: float(spearmanr(g[col], g["int8_accuracy"]).statistic)
                                for name, col in proxies.items()}
    out["mean_rho"] = {name: round(sum(v[name] for v in out["points"].values())
                                   / len(out["points"]), 3) for name in proxies}
    if args.json:
        print(json.dumps(out, indent=2))
        return
    for point, rhos in out["points"].items():
        print(f"{point}: " + ", ".join(f"{k} rho {v:+.2f}" for k, v in rhos.items()))
    print(f"mean over {len(out['points'])} points ({out['trials']} trials): "
          + ", ".join(f"{k} {v:+.3f}" for k, v in out["mean_rho"].items()))


if __name__ == "__main__":
    main()
