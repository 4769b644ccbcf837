"""One MicroNAS search, start to finish: DNAS → derivation with a hard budget guarantee → float
retraining → scores. `run_search` is the Python API behind `micronas search`."""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from lut_store import InputError, LatencyModel

from .architecture import Architecture
from .data import Dataset, check_searchable
from .derive import Budget, fill, repair
from .hardware import CostModel
from ._config import SearchConfig
from .space import SearchSpace
from .supernet import ArchitectureParameters, Network, Supernet
from ._versions import versions


def _batches(n: int, size: int, generator: torch.Generator):
    order = torch.randperm(n, generator=generator)
    for start in range(0, n, size):
        yield order[start:start + size]


def scores(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> dict:
    """Accuracy, macro-F1 and the confusion matrix (rows: true class)."""
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (y_true, y_pred), 1)
    tp = np.diag(cm).astype(float)
    precision = np.divide(tp, cm.sum(0), out=np.zeros_like(tp), where=cm.sum(0) > 0)
    recall = np.divide(tp, cm.sum(1), out=np.zeros_like(tp), where=cm.sum(1) > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros_like(tp),
                   where=(precision + recall) > 0)
    present = cm.sum(1) > 0
    return {"accuracy": float(tp.sum() / max(cm.sum(), 1)),
            "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
            "confusion": cm.tolist()}


@torch.no_grad()
def predict(model: torch.nn.Module, x: np.ndarray, batch: int = 512) -> np.ndarray:
    model.eval()
    out = [model(torch.from_numpy(x[i:i + batch])).argmax(1).numpy() for i in range(0, len(x), batch)]
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


@dataclass
class DnasOutcome:
    params: ArchitectureParameters
    history: list[dict]
    seconds: float


def run_dnas(data: Dataset, cost: CostModel, budget: Budget, config: SearchConfig,
             progress: Callable[[dict], None] | None = None) -> DnasOutcome:
    """Interleave architecture steps (validation batches, every `arch_every` training batches)
    and weight steps (training batches)."""
    space = SearchSpace(data.window, data.n_channels, data.n_classes)
    gen = torch.Generator().manual_seed(config.seed)
    torch.manual_seed(config.seed)
    net = Supernet(space, config.dropout)
    params = ArchitectureParameters(space)
    w_opt = torch.optim.Adam(net.parameters(), lr=config.weight_lr)
    arch_params = list(params.parameters())
    a_opt = torch.optim.Adam(arch_params, lr=config.arch_lr, betas=(0.5, 0.999))
    xt, yt = torch.from_numpy(data.x_train), torch.from_numpy(data.y_train)
    xv, yv = torch.from_numpy(data.x_val), torch.from_numpy(data.y_val)
    steps_per_epoch = math.ceil(len(xt) / config.batch_size)
    arch_steps_per_epoch = math.ceil(steps_per_epoch / config.arch_every)
    search_steps = max((config.epochs - config.warmup_epochs) * arch_steps_per_epoch, 1)
    a_sched = torch.optim.lr_scheduler.CosineAnnealingLR(a_opt, search_steps, config.arch_lr_min)
    decay = (config.tau_end / config.tau_start) ** (1 / search_steps)
    tau, history, start = config.tau_start, [], time.perf_counter()
    lat_t, mem_t = budget.latency_ms, budget.memory_bytes
    # A hard sample is one network: a weight step computes only that one (see forward_path).
    weight_forward = net.forward_path if config.hard_sampling else net
    for epoch in range(config.epochs):
        searching = epoch >= config.warmup_epochs
        net.train()
        sums = {"ce": 0.0, "n": 0}
        val_order = _batches(len(xv), config.batch_size, gen)
        for step, idx in enumerate(_batches(len(xt), config.batch_size, gen)):
            if searching and step % config.arch_every == 0:
                vidx = next(val_order, None)
                if vidx is None:
                    val_order = _batches(len(xv), config.batch_size, gen)
                    vidx = next(val_order)
                r = params.sample(tau, gen, config.hard_sampling)
                ce = F.cross_entropy(net(xv[vidx], r), yv[vidx])
                priced = params.probabilities() if config.cost_on_distribution else r
                lat = cost.expected_latency_ms(priced)
                mem = cost.expected_peak_memory_bytes(priced)
                loss = config.loss(ce, lat, mem, lat_t, mem_t)
                # Gradients for the logits only: the weights' would be thrown away, and skipping
                # them saves a third of the backward pass. (Reducing cells leave their skip
                # logit unused: its gradient stays None.)
                grads = torch.autograd.grad(loss, arch_params, allow_unused=True)
                for param, grad in zip(arch_params, grads):
                    param.grad = grad
                a_opt.step()
                a_sched.step()
                tau = max(tau * decay, config.tau_end)
            with torch.no_grad():
                if config.hard_sampling:  # one sampled network per step, uniform in warm-up
                    r = params.sample(tau, gen, hard=True)
                else:
                    r = params.sample(tau, gen) if searching else params.probabilities()
            ce = F.cross_entropy(weight_forward(xt[idx], r), yt[idx])
            w_opt.zero_grad()
            ce.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), config.weight_clip)
            w_opt.step()
            sums["ce"] += float(ce.detach())
            sums["n"] += 1
        with torch.no_grad():
            p = params.probabilities()
            row = {"epoch": epoch + 1, "searching": searching, "tau": tau,
                   "train_loss": sums["ce"] / max(sums["n"], 1),
                   "expected_latency_ms": float(cost.expected_latency_ms(p)),
                   "expected_memory_bytes": float(cost.expected_peak_memory_bytes(p)),
                   "argmax": params.argmax().to_json(), "seconds": time.perf_counter() - start}
        history.append(row)
        if progress:
            progress(row)
    return DnasOutcome(params, history, time.perf_counter() - start)


def provenance(data: Dataset) -> dict:
    """What a result was computed with: every package's version and the data's SHA-256."""
    return {**versions(), "data_sha256": data.content_hash()}


@dataclass
class TrainOutcome:
    network: Network
    val_accuracy: float
    epochs: int
    seconds: float


def retrain(arch: Architecture, data: Dataset, config: SearchConfig,
            progress: Callable[[dict], None] | None = None) -> TrainOutcome:
    """Float training of the derived architecture from fresh weights (cosine schedule; BatchNorm
    folded into the convs at the end; the last or the best-validation epoch's weights)."""
    torch.manual_seed(config.seed + 1)
    gen = torch.Generator().manual_seed(config.seed + 1)
    net = Network(arch, config.retrain_dropout, config.batch_norm)
    opt = torch.optim.Adam(net.parameters(), lr=config.retrain_lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, config.retrain_epochs)
    xt, yt = torch.from_numpy(data.x_train), torch.from_numpy(data.y_train)
    best_val = config.retrain_select == "best_val"
    best = (-1.0, None, 0)
    start = time.perf_counter()
    epoch, acc = 0, 0.0
    for epoch in range(1, config.retrain_epochs + 1):
        net.train()
        for idx in _batches(len(xt), config.batch_size, gen):
            loss = F.cross_entropy(net(xt[idx]), yt[idx])
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), config.weight_clip)
            opt.step()
        sched.step()
        acc = float((predict(net, data.x_val) == data.y_val).mean())
        if acc > best[0]:
            best = (acc, ({k: v.clone() for k, v in net.state_dict().items()} if best_val else None),
                    epoch)
        if progress:
            progress({"epoch": epoch, "val_accuracy": acc, "best": best[0]})
        if best_val and epoch - best[2] >= config.retrain_patience:
            break
    if best_val:
        net.load_state_dict(best[1])
        acc = best[0]
    net.fold_batch_norm().eval()
    return TrainOutcome(net, acc, epoch, time.perf_counter() - start)


@dataclass
class SearchResult:
    architecture: Architecture
    result: dict
    network: Network


@dataclass
class Derivation:
    """What the search stage hands to retraining: the architecture that fits, how it was reached
    (DNAS argmax, repair and fill steps) and what the search estimated. JSON-able, so a sweep can
    checkpoint between the stages."""

    architecture: Architecture
    summary: dict

    def to_json(self) -> str:
        return json.dumps({"architecture": json.loads(self.architecture.to_json()),
                           "summary": self.summary}, default=_jsonable)

    @classmethod
    def from_json(cls, text: str) -> "Derivation":
        doc = json.loads(text)
        return cls(Architecture.from_json(json.dumps(doc["architecture"])), doc["summary"])


def plan_budget(data: Dataset, latency: LatencyModel, lat_ms: float | None,
                mem_kb: float | None) -> tuple[Budget, CostModel]:
    """Validate the data and the budget; refuse, before any training, a budget that no network of
    the space meets (naming the smallest latency and memory there are)."""
    for name, value in (("latency budget", lat_ms), ("memory budget", mem_kb)):
        if value is not None and (not math.isfinite(value) or value <= 0):
            raise InputError(f"{name} must be a positive number, got {value}")
    check_searchable(data)
    mcu = latency.mcu
    sram = mcu.sram_bytes
    budget = Budget(lat_ms, sram if mem_kb is None else min(mem_kb * 1024, sram))
    space = SearchSpace(data.window, data.n_channels, data.n_classes)
    cost = CostModel(latency)
    cheapest = cost.cheapest(space)
    if (lat_ms is not None and cheapest.latency_ms > lat_ms) or \
            cheapest.memory_bytes > budget.memory_bytes:
        raise InputError(
            f"no network of the space fits on {mcu.name}: the smallest latency is "
            f"{cheapest.latency_ms:.2f} ms (budget {lat_ms} ms) and the smallest peak memory "
            f"{cheapest.memory_bytes / 1024:.2f} KB (budget {budget.memory_bytes / 1024:.2f} KB)")
    return budget, cost


def search_architecture(data: Dataset, cost: CostModel, budget: Budget, config: SearchConfig,
                        progress: Callable[[dict], None] | None = None) -> Derivation:
    """The search stage: DNAS, then the argmax architecture repaired into (or grown to fill) the
    budget. `summary["search_fits"]` says whether DNAS landed inside the budget by itself."""
    outcome = run_dnas(data, cost, budget, config, progress)
    chosen = outcome.params.argmax()
    arch, repairs = repair(chosen, cost, budget, outcome.params.log_prob)
    fills: list[str] = []
    if config.fill_budget and not repairs:
        arch, fills = fill(arch, cost, budget, outcome.params.log_prob, config.fill_max_drop)
    expected = outcome.params.probabilities()
    chosen_mem = cost.memory(chosen).peak_bytes
    return Derivation(arch, {
        "derived": json.loads(chosen.to_json()), "repairs": repairs, "fills": fills,
        "search_latency_ms": cost.latency_ms(chosen), "search_memory_bytes": chosen_mem,
        "search_fits": bool(budget.violation(cost.latency_ms(chosen), chosen_mem) == 0),
        "expected_latency_ms": float(cost.expected_latency_ms(expected).detach()),
        "expected_memory_bytes": float(cost.expected_peak_memory_bytes(expected).detach()),
        "search_s": outcome.seconds, "search_history": outcome.history})


def describe(data: Dataset, latency: LatencyModel, cost: CostModel, budget: Budget,
             lat_ms: float | None, mem_kb: float | None, config: SearchConfig,
             derivation: Derivation, trained: TrainOutcome, data_source: str | None = None) -> dict:
    """result.json: budgets, exact and expected costs, metrics, timings, provenance."""
    arch, s = derivation.architecture, derivation.summary
    mcu = latency.mcu
    test = scores(data.y_test, predict(trained.network, data.x_test), data.n_classes)
    mem = cost.memory(arch)
    return {
        "dataset": data.name, "data_source": data_source or data.name,
        "mcu": mcu.name, "clock_hz": mcu.clock_hz,
        "budget": {"latency_ms": lat_ms, "memory_kb": mem_kb,
                   "memory_bytes_effective": budget.memory_bytes},
        "architecture": json.loads(arch.to_json()),
        "derived": s["derived"], "repairs": s["repairs"], "fills": s["fills"],
        "search_latency_ms": s["search_latency_ms"], "search_memory_bytes": s["search_memory_bytes"],
        "search_fits": s["search_fits"],
        "latency_ms": cost.latency_ms(arch), "latency_cycles": cost.latency_cycles(arch),
        "peak_memory_bytes": mem.peak_bytes, "activation_bytes": mem.activation_bytes,
        "scratch_bytes": mem.scratch_bytes,
        "expected_latency_ms": s["expected_latency_ms"],
        "expected_memory_bytes": s["expected_memory_bytes"],
        "fits": bool(budget.violation(cost.latency_ms(arch), mem.peak_bytes) == 0),
        "val_accuracy": trained.val_accuracy,
        "test_accuracy": test["accuracy"], "test_macro_f1": test["macro_f1"],
        "test_confusion": test["confusion"],
        "parameters": sum(p.numel() for p in trained.network.parameters()),
        "timings": {"search_s": s["search_s"], "retrain_s": trained.seconds,
                    "retrain_epochs": trained.epochs},
        "search_history": s["search_history"],
        "config": config.to_json_dict(),
        "seed": config.seed, "lut_hash": latency.lut.content_hash(),
        "predictor": getattr(latency.predictor, "version", None),
        "versions": provenance(data), "data": data.summary(),
    }


def run_search(data: Dataset, latency: LatencyModel, *, lat_ms: float | None,
               mem_kb: float | None, config: SearchConfig = SearchConfig(),
               out_dir: str | os.PathLike | None = None, show_progress: bool = False,
               data_source: str | None = None) -> SearchResult:
    """Search, derive (with repair), retrain, score; optionally write architecture.json and
    result.json into `out_dir` (all or nothing)."""
    budget, cost = plan_budget(data, latency, lat_ms, mem_kb)
    if out_dir is not None:
        out_dir = Path(out_dir)
        if out_dir.exists() and any(out_dir.iterdir()):
            if not (out_dir / "result.json").exists():
                raise InputError(f"{out_dir}: exists and is not empty (and holds no earlier result)")

    bars = _Progress(show_progress, config)
    derivation = search_architecture(data, cost, budget, config, bars.search)
    bars.close_search()
    trained = retrain(derivation.architecture, data, config, bars.train)
    bars.close()
    result = describe(data, latency, cost, budget, lat_ms, mem_kb, config, derivation, trained,
                      data_source)
    if out_dir is not None:
        write_run(Path(out_dir), derivation.architecture, result, trained.network)
    return SearchResult(derivation.architecture, result, trained.network)


def write_run(out_dir: Path, arch: Architecture, result: dict, network: Network) -> None:
    """Write into a fresh temporary folder beside out_dir, then move the files in: a crash leaves
    either the old result or the new one, never half of one."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        (tmp / "architecture.json").write_text(arch.to_json() + "\n")
        torch.save(network.state_dict(), tmp / "weights.pt")
        (tmp / "result.json").write_text(json.dumps(result, indent=2, default=_jsonable) + "\n")
        out_dir.mkdir(exist_ok=True)
        for name in ("architecture.json", "weights.pt", "result.json"):  # result.json last
            os.replace(tmp / name, out_dir / name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _jsonable(value: Any):
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


class _Progress:
    """tqdm bars on stderr: one for the search epochs, one for retraining."""

    def __init__(self, enabled: bool, config: SearchConfig):
        self.enabled = enabled and sys.stderr is not None
        self._search = self._train = None
        if self.enabled:
            from tqdm import tqdm
            self._tqdm = tqdm
            self._search = tqdm(total=config.epochs, desc="search", unit="epoch", file=sys.stderr)
            self._retrain_total = config.retrain_epochs

    def search(self, row: dict) -> None:
        if self._search is not None:
            self._search.set_postfix(loss=f"{row['train_loss']:.3f}",
                                     lat=f"{row['expected_latency_ms']:.1f}ms",
                                     mem=f"{row['expected_memory_bytes'] / 1024:.1f}KB",
                                     tau=f"{row['tau']:.2f}")
            self._search.update(1)

    def close_search(self) -> None:
        if self._search is not None:
            self._search.close()
            self._train = self._tqdm(total=self._retrain_total, desc="retrain", unit="epoch",
                                     file=sys.stderr)

    def train(self, row: dict) -> None:
        if self._train is not None:
            self._train.set_postfix(val_acc=f"{row['val_accuracy']:.4f}", best=f"{row['best']:.4f}")
            self._train.update(1)

    def close(self) -> None:
        if self._train is not None:
            self._train.close()
