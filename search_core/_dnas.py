"""The search stage of MicroNAS: the DNAS loop over the supernet (alternating weight and
architecture steps, Gumbel-softmax samples, the hardware loss) and the derivation of a network that
fits the budget (repair, fill)."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ._batches import batches as _batches
from ._config import SearchConfig
from .data import Dataset
from .derive import Budget, fill, repair
from .hardware import CostModel
from .records import Derivation
from .space import SearchSpace
from .supernet import ArchitectureParameters, Supernet


@dataclass
class DnasOutcome:
    params: ArchitectureParameters
    history: list[dict]
    seconds: float
    device: str = "cpu"
    supernet: Supernet | None = None   # the weights as the search left them


def run_dnas(data: Dataset, cost: CostModel, budget: Budget, config: SearchConfig,
             progress: Callable[[dict], None] | None = None, shared=None) -> DnasOutcome:
    """Interleave architecture steps (validation batches, every `arch_every` training batches)
    and weight steps (training batches). With `shared` (a `search_core.shared.SharedSupernet`)
    the weights start trained: no warm-up, `shared_search_epochs` epochs."""
    from ._device import resolve_device

    device = resolve_device(config.device)
    space = SearchSpace(data.window, data.n_channels, data.n_classes)
    gen = torch.Generator().manual_seed(config.seed)
    torch.manual_seed(config.seed)
    net = (Supernet(space, config.dropout) if shared is None else shared.supernet(data)).to(device)
    epochs, warmup = ((config.epochs, config.warmup_epochs) if shared is None
                      else (config.shared_search_epochs, 0))
    params = ArchitectureParameters(space)
    w_opt = torch.optim.Adam(net.parameters(), lr=config.weight_lr)
    arch_params = list(params.parameters())
    a_opt = torch.optim.Adam(arch_params, lr=config.arch_lr, betas=(0.5, 0.999))
    # The data move to the device once; batch indices and samples are drawn on the CPU.
    xt, yt = torch.from_numpy(data.x_train).to(device), torch.from_numpy(data.y_train).to(device)
    xv, yv = torch.from_numpy(data.x_val).to(device), torch.from_numpy(data.y_val).to(device)
    steps_per_epoch = math.ceil(len(xt) / config.batch_size)
    arch_steps_per_epoch = math.ceil(steps_per_epoch / config.arch_every)
    search_steps = max((epochs - warmup) * arch_steps_per_epoch, 1)
    a_sched = torch.optim.lr_scheduler.CosineAnnealingLR(a_opt, search_steps, config.arch_lr_min)
    decay = (config.tau_end / config.tau_start) ** (1 / search_steps)
    tau, history, start = config.tau_start, [], time.perf_counter()
    lat_t, mem_t = budget.latency_ms, budget.memory_bytes
    # A hard sample is one network: a weight step computes only that one (see forward_path).
    weight_forward = net.forward_path if config.hard_sampling else net
    for epoch in range(epochs):
        searching = epoch >= warmup
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
                ce = F.cross_entropy(net(xv[vidx], r.to(device)), yv[vidx])
                priced = params.probabilities() if config.cost_on_distribution else r
                lat = cost.expected_latency_ms(priced)
                mem = cost.expected_peak_memory_bytes(priced)
                flash = (cost.expected_flash_bytes(priced) if budget.flash_bytes is not None
                         else None)
                loss = config.loss(ce.to(lat.device), lat, mem, lat_t, mem_t,
                                   flash, budget.flash_bytes)
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
            ce = F.cross_entropy(weight_forward(xt[idx], r.to(device)), yt[idx])
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
                   **({"expected_flash_bytes": float(cost.expected_flash_bytes(p))}
                      if budget.flash_bytes is not None else {}),
                   "argmax": params.argmax().to_json(), "seconds": time.perf_counter() - start}
        history.append(row)
        if progress:
            progress(row)
    return DnasOutcome(params, history, time.perf_counter() - start, str(device), net)


def search_architecture(data: Dataset, cost: CostModel, budget: Budget, config: SearchConfig,
                        progress: Callable[[dict], None] | None = None,
                        shared=None) -> Derivation:
    """The search stage: DNAS (on `shared` weights where given), then the argmax architecture
    repaired into (or grown to fill) the budget. `summary["search_fits"]` says whether DNAS
    landed inside the budget by itself."""
    outcome = run_dnas(data, cost, budget, config, progress, shared)
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
        "search_fits": bool(budget.violation_of(chosen, cost) == 0),
        "expected_latency_ms": float(cost.expected_latency_ms(expected).detach()),
        "expected_memory_bytes": float(cost.expected_peak_memory_bytes(expected).detach()),
        "search_s": outcome.seconds, "search_history": outcome.history,
        "device": outcome.device,
        "shared": None if shared is None else shared.key,
        "proxy": path_scores(outcome.supernet, arch, data)})


def path_scores(supernet: Supernet, arch, data: Dataset) -> dict:
    """Validation scores of `arch`'s path in the searched supernet (`Supernet.forward_path`, the
    weights as the search left them), keyed as the retrained network's are (`val_accuracy`,
    `val_macro_f1`, `val_neg_log_loss`). One pass over the validation windows: the proxy by
    which a sweep that retrains only each point's best trial (`retrain: best`) ranks them."""
    from .hardware import Relaxation
    from .metrics import validation_scores

    class _Path(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.supernet, self.r = supernet, Relaxation.one_hot(arch)

        def forward(self, x):
            return self.supernet.forward_path(x, self.r.to(x.device))

    got = validation_scores(_Path(), data)
    return {f"val_{k}": float(v) for k, v in got.items()}
