"""Where a DNAS search step's time goes, before and after the speed-ups (UCI-HAR, L552, 25 ms).

    python bench/search_steps.py [--repeats 30] [--threads 1] [--json]

Prints the median time (ms) of: an architecture step with gradients for every parameter vs for the
logits only; a weight step through the whole masked supernet vs through the sampled network only;
the differentiable cost model; dropout with `nn.Dropout` vs the `rand_like` mask; and what one
search epoch costs with the old schedule (an architecture step per weight step) vs the new one
(one per `arch_every` weight steps).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=Path, default=ROOT.parent / "shared" / "mcu-measurements")
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    import torch
    import torch.nn.functional as F

    from lut_store import LatencyModel, Predictor, import_records, load_mcu
    from search_core.data import load_dataset
    from search_core.search import SearchConfig, plan_budget
    from search_core.supernet import ArchitectureParameters, Dropout, Supernet

    torch.set_num_threads(args.threads)
    mcu = load_mcu("nucleo-l552ze-q")
    lut, _ = import_records(args.records / mcu.name, mcu.name)
    data = load_dataset("ucihar", seed=0)
    budget, cost = plan_budget(data, LatencyModel(mcu, lut, Predictor.fit(lut, [mcu])), 25, 64)
    torch.manual_seed(0)
    net, params = Supernet(cost_space(data)), ArchitectureParameters(cost_space(data))
    gen = torch.Generator().manual_seed(0)
    x, y = torch.from_numpy(data.x_train[:32]), torch.from_numpy(data.y_train[:32])
    logits = list(params.parameters())
    loss_fn = SearchConfig().loss

    def arch_step(logits_only: bool):
        r = params.sample(0.5, gen, hard=True)
        p = params.probabilities()
        loss = loss_fn(F.cross_entropy(net(x, r), y), cost.expected_latency_ms(p),
                       cost.expected_peak_memory_bytes(p), budget.latency_ms, budget.memory_bytes)
        if logits_only:
            torch.autograd.grad(loss, logits, allow_unused=True)
        else:
            net.zero_grad()
            loss.backward()

    def weight_step(path: bool):
        with torch.no_grad():
            r = params.sample(0.5, gen, hard=True)
        net.zero_grad()
        F.cross_entropy((net.forward_path if path else net)(x, r), y).backward()

    def costs():
        p = params.probabilities()
        torch.autograd.grad(cost.expected_latency_ms(p) + cost.expected_peak_memory_bytes(p) * 1e-6,
                            logits, allow_unused=True)

    act = torch.randn(32, 16, 64, 9)
    torch_dropout, our_dropout = torch.nn.Dropout(0.3).train(), Dropout(0.3).train()
    figures = {
        "arch_step_all_grads_ms": _median(lambda: arch_step(False), args.repeats),
        "arch_step_logit_grads_ms": _median(lambda: arch_step(True), args.repeats),
        "weight_step_supernet_ms": _median(lambda: weight_step(False), args.repeats),
        "weight_step_sampled_path_ms": _median(lambda: weight_step(True), args.repeats),
        "cost_model_ms": _median(costs, args.repeats),
        "dropout_nn_ms": _median(lambda: torch_dropout(act), args.repeats),
        "dropout_rand_like_ms": _median(lambda: our_dropout(act), args.repeats),
    }
    steps = -(-len(data.x_train) // 32)
    every = SearchConfig().arch_every
    before = steps * (figures["arch_step_all_grads_ms"] + figures["weight_step_supernet_ms"]) / 1e3
    after = steps * (figures["arch_step_logit_grads_ms"] / every
                     + figures["weight_step_sampled_path_ms"]) / 1e3
    figures.update({"search_epoch_before_s": before, "search_epoch_after_s": after,
                    "speedup": before / after, "threads": args.threads})
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    for key, value in figures.items():
        print(f"{key:32s} {value:10.2f}")


def cost_space(data):
    from search_core.space import SearchSpace
    return SearchSpace(data.window, data.n_channels, data.n_classes)


def _median(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


if __name__ == "__main__":
    main()
