"""Retraining: the derived architecture trained from fresh weights on the training split."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ._batches import batches as _batches
from ._config import SearchConfig
from .architecture import Architecture
from .data import Dataset
from .metrics import predict
from .supernet import Network


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
