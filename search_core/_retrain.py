"""Retraining: the derived architecture trained from fresh weights on the training split.

The recipe's levers (each a `SearchConfig` field, each measured in docs/BENCHMARKS.md's ablation):
on-the-fly augmentation (`_augment.Augmenter`), label smoothing, an exponential moving average of
the weights (the averaged network is the one kept) and distillation from a teacher's soft labels
(`search_core.teacher`: computed once per data set and split, cached).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ._augment import Augmenter
from ._batches import batches as _batches
from ._config import SearchConfig
from .architecture import Architecture
from .data import Dataset
from .metrics import predict, validation_scores
from .supernet import Network


@dataclass
class TrainOutcome:
    network: Network
    val_accuracy: float
    epochs: int
    seconds: float
    val_scores: dict | None = None   # accuracy, macro-F1, log-loss of the kept weights
    device: str = "cpu"

    def to_bytes(self) -> bytes:
        """The trained (folded) network and its figures: plain tensors and one JSON string."""
        import io
        import json
        buffer = io.BytesIO()
        torch.save({"weights": self.network.state_dict(), "meta": json.dumps({
            "format": "micronas-trained-network", "architecture": self.network.arch.to_json(),
            "val_accuracy": self.val_accuracy, "epochs": self.epochs, "seconds": self.seconds,
            "val_scores": self.val_scores, "device": self.device})}, buffer)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes, where: str = "trained network") -> TrainOutcome:
        """Read `to_bytes` (weights_only: a shared store can never run code)."""
        import io
        import json

        from lut_store import InputError
        try:
            doc = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
            meta = json.loads(doc["meta"])
            if meta.get("format") != "micronas-trained-network":
                raise ValueError(meta.get("format"))
            net = Network(Architecture.from_json(meta["architecture"]), batch_norm=False)
            net.load_state_dict(doc["weights"])
        except Exception as exc:  # noqa: BLE001 - any damage is one line naming the file
            raise InputError(f"{where}: not a trained network ({type(exc).__name__})") from None
        return cls(net.eval(), meta["val_accuracy"], meta["epochs"], meta["seconds"],
                   meta["val_scores"], meta["device"])


# The config fields that only steer the search: they never change what retraining produces, so
# two trials that differ only in them (Optuna's loss weights, above all) and derive the same
# architecture share one retrained network (`retrain_key`). Every other field, including any
# added later, is part of the key: a new field can cost a cache hit, never give a wrong one.
_SEARCH_ONLY = frozenset({"epochs", "arch_lr", "arch_lr_min", "arch_every", "warmup_epochs",
                          "tau_start", "tau_end", "hard_sampling", "cost_on_distribution",
                          "loss", "fill_budget", "fill_max_drop", "shared_search_epochs"})
# Bump when retraining changes: networks cached by an older version are then not reused.
_RETRAIN_VERSION = 1


def retrain_key(arch: Architecture, data: Dataset, config: SearchConfig,
                shared_key: str | None = None) -> str:
    """What decides a retrained network: the data (its SHA-256), the architecture, the config's
    retraining fields and, for `retrain_from: inherited`, the shared supernet it starts from."""
    import dataclasses
    import hashlib
    import json

    fields = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)
              if f.name not in _SEARCH_ONLY}
    if config.retrain_from != "inherited":
        shared_key = None
    doc = {"version": _RETRAIN_VERSION, "data": data.content_hash(),
           "architecture": json.loads(arch.to_json()), "config": fields, "shared": shared_key}
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()[:24]


def _ema(decay: float):
    """The averaging step, its decay warmed up as (1 + n) / (10 + n) (TensorFlow's
    ExponentialMovingAverage with num_updates): a fixed 0.999 over a short run (the quickstart's
    8 epochs, ~1400 steps) would still hold a quarter of the first, untrained weights."""
    def step(averaged, current, n):
        d = min(decay, (1 + float(n)) / (10 + float(n)))
        return averaged * d + current * (1 - d)
    return step


def retrain(arch: Architecture, data: Dataset, config: SearchConfig,
            progress: Callable[[dict], None] | None = None,
            teacher_logits: np.ndarray | None = None, supernet=None) -> TrainOutcome:
    """Float training of the derived architecture from fresh weights (cosine schedule; BatchNorm
    folded into the convs at the end; the last, or the best-validation, epoch's weights).
    `teacher_logits` (one row per training window) are distilled with weight `config.distill`.
    With `supernet`, the network starts from the weights it has there
    (`config.inherited_retrain_epochs` epochs instead of `retrain_epochs`)."""
    from ._device import resolve_device

    device = resolve_device(config.device)
    torch.manual_seed(config.seed + 1)
    gen = torch.Generator().manual_seed(config.seed + 1)
    net = Network(arch, config.retrain_dropout, config.batch_norm)
    epochs = config.retrain_epochs
    if supernet is not None:
        from .supernet import inherit_weights
        inherit_weights(net, supernet)
        epochs = config.inherited_retrain_epochs
    net.to(device)
    opt = torch.optim.Adam(net.parameters(), lr=config.retrain_lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    # The data move to the device once; batch order and augmentation draws come from the CPU's
    # seeded generator (the same on every device).
    xt, yt = torch.from_numpy(data.x_train).to(device), torch.from_numpy(data.y_train).to(device)
    augment = (Augmenter(data.channels, data.norm_mean, data.norm_std) if config.augment
               else None)
    distill = config.distill if teacher_logits is not None else 0.0
    soft = None
    if distill:
        temp = config.distill_temperature
        soft = torch.softmax(torch.from_numpy(np.asarray(teacher_logits, np.float32)) / temp,
                             1).to(device)
    ema = None
    if config.ema_decay > 0:
        from torch.optim.swa_utils import AveragedModel
        # use_buffers: BatchNorm's running statistics are averaged with the weights, so the
        # averaged network's BN matches its own weights when folded.
        ema = AveragedModel(net, avg_fn=_ema(config.ema_decay), use_buffers=True)
    kept = lambda: ema.module if ema is not None else net   # noqa: E731
    best_val = config.retrain_select == "best_val"
    best = (-1.0, None, 0)
    start = time.perf_counter()
    epoch, acc = 0, 0.0
    for epoch in range(1, epochs + 1):
        net.train()
        for idx in _batches(len(xt), config.batch_size, gen):
            x = xt[idx] if augment is None else augment(xt[idx], gen)
            logits = net(x)
            loss = F.cross_entropy(logits, yt[idx], label_smoothing=config.label_smoothing)
            if distill:
                log_p = F.log_softmax(logits / temp, 1)
                kd = F.kl_div(log_p, soft[idx], reduction="batchmean") * temp * temp
                loss = (1 - distill) * loss + distill * kd
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), config.weight_clip)
            opt.step()
            if ema is not None:
                ema.update_parameters(net)
        sched.step()
        acc = float((predict(kept(), data.x_val) == data.y_val).mean())
        if acc > best[0]:
            best = (acc, ({k: v.clone() for k, v in kept().state_dict().items()} if best_val
                          else None), epoch)
        if progress:
            progress({"epoch": epoch, "val_accuracy": acc, "best": best[0]})
        if best_val and epoch - best[2] >= config.retrain_patience:
            break
    final = kept()
    if best_val:
        final.load_state_dict(best[1])
        acc = best[0]
    final.fold_batch_norm().eval()
    scores = validation_scores(final, data)
    # What is saved, exported and deployed lives on the CPU, whatever trained it.
    return TrainOutcome(final.cpu(), acc, epoch, time.perf_counter() - start, scores, str(device))
