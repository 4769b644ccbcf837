"""Seconds per search and per retraining on the CPU (1 and 2 threads) and on a GPU, and search
throughput with 1, 4 and 8 concurrent searches sharing one GPU. Prints "no GPU" where there is
none.

    PYTHONPATH=. python bench/gpu.py --lut runs/gpu-lut [--epochs 2] [--retrain-epochs 2] [--json]

Runs from the source tree with only torch, numpy, pandas, pyarrow and fsspec (no Ray, no
TensorFlow, no SciPy): a GPU machine that holds just those runs it as one short script. The
windows are synthetic with UCI-HAR's shapes (5,390 training and 1,753 validation windows of
128 x 9, 6 classes: what the official protocol trains on) — the figures are times, not
accuracies. The LUT (a folder written by `micronas lut import`) prices the search's hardware
loss; the default is the quickstart's.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _data(seed: int = 0):
    import numpy as np

    from search_core.data import Dataset, check_searchable

    rng = np.random.default_rng(seed)

    def part(n):
        y = rng.integers(0, 6, n).astype(np.int64)
        x = rng.normal(0, 1, (n, 128, 9)).astype(np.float32)
        x[np.arange(n), :, y] += 0.5
        return x, y

    (xt, yt), (xv, yv), (xs, ys) = part(5390), part(1753), part(512)
    channels = tuple(f"{s}_{a}" for s in ("total_acc", "body_acc", "body_gyro") for a in "xyz")
    return check_searchable(Dataset("synthetic-ucihar", xt, yt, xv, yv, xs, ys,
                                    tuple(f"c{i}" for i in range(6)), channels, 50.0,
                                    np.zeros(9, np.float32), np.ones(9, np.float32)))


def _time(device: str, threads: int, lut: str, epochs: int, retrain_epochs: int) -> dict:
    import torch

    from lut_store import LatencyModel, load_mcu
    from search_core import SearchConfig
    from search_core._dnas import run_dnas
    from search_core._retrain import retrain
    from search_core.derive import Budget
    from search_core.hardware import CostModel

    torch.set_num_threads(threads)
    data = _data()
    cost = CostModel(LatencyModel.open(lut, load_mcu("nucleo-l552ze-q")))
    config = SearchConfig(epochs=epochs, warmup_epochs=min(1, epochs - 1),
                          retrain_epochs=retrain_epochs, device=device)
    start = time.perf_counter()
    outcome = run_dnas(data, cost, Budget(25.0, 64 * 1024), config)
    search_s = time.perf_counter() - start
    start = time.perf_counter()
    retrain(outcome.params.argmax(), data, config)
    retrain_s = time.perf_counter() - start
    return {"device": device, "threads": threads, "search_s_per_epoch": search_s / epochs,
            "retrain_s_per_epoch": retrain_s / retrain_epochs}


def _worker(args):
    return _time(*args)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lut", default=str(ROOT / "runs" / "quickstart" / "store" / "lut"))
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--retrain-epochs", type=int, default=2)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    if not os.path.isdir(args.lut):
        sys.exit(f"bench/gpu.py: {args.lut}: no LUT folder (write one with `micronas lut import`)")
    import torch

    rows = [_time("cpu", n, args.lut, args.epochs, args.retrain_epochs) for n in (1, 2)]
    gpu = torch.cuda.is_available()
    throughput = {}
    if gpu:
        rows.append(_time("cuda", 1, args.lut, args.epochs, args.retrain_epochs))
        ctx = mp.get_context("spawn")   # CUDA in forked workers is unsafe
        for n in (1, 4, 8):
            start = time.perf_counter()
            with ctx.Pool(n) as pool:
                pool.map(_worker, [("cuda", 1, args.lut, args.epochs, args.retrain_epochs)] * n)
            wall = time.perf_counter() - start
            throughput[n] = {"searches": n, "wall_s": wall, "searches_per_hour": 3600 * n / wall}
    result = {"gpu": torch.cuda.get_device_name(0) if gpu else None, "torch": torch.__version__,
              "cpu_count": os.cpu_count(), "epochs": args.epochs,
              "retrain_epochs": args.retrain_epochs, "rows": rows,
              "concurrent_on_one_gpu": throughput}
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"torch {result['torch']}, {result['cpu_count']} CPUs, GPU: {result['gpu'] or 'no GPU'}")
    print("| device | threads | search s/epoch | retrain s/epoch |")
    print("|---|---|---|---|")
    for r in rows:
        print(f"| {r['device']} | {r['threads']} | {r['search_s_per_epoch']:.2f} | "
              f"{r['retrain_s_per_epoch']:.2f} |")
    if not gpu:
        print("no GPU: the GPU rows and the concurrent-search throughput need one")
    for n, t in throughput.items():
        print(f"{n} concurrent searches (search + retraining each) on one GPU: {t['wall_s']:.1f} s, "
              f"{t['searches_per_hour']:.0f} per hour")


if __name__ == "__main__":
    main()
