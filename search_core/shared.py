"""One supernet for a whole grid: its weights trained once per data set, split and seed,
independent of any board or budget, then shared by every grid point's architecture phase
(`search_architecture(..., shared=...)`) and inherited by the retraining of its network.

    shared = train_shared(data, config)                 # minutes, once
    derivation = search_architecture(data, cost, budget, config, shared=shared)   # per point

Weight training samples paths by the sandwich rule of BigNAS / once-for-all: every step trains
the largest network of the space, the smallest and `shared_paths` uniformly drawn ones (each one
path: `Supernet.forward_path`), so that every width and branch is trained for every budget a
point may ask for. The checkpoint (`SharedSupernet.to_bytes`) holds plain tensors and JSON
values and is read with `torch.load(weights_only=True)`: a shared store can never run code.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from lut_store import InputError

from ._config import SearchConfig
from .data import Dataset
from .space import SearchSpace

__all__ = ["SharedSupernet", "shared_key", "train_shared"]

# Bump when the shared training changes: older checkpoints are then not reused.
_VERSION = 1
# The config fields that shape the shared weights (and so its key); nothing about a budget.
_FIELDS = ("seed", "batch_size", "weight_lr", "weight_clip", "dropout", "shared_epochs",
           "shared_paths")


@dataclass(frozen=True)
class SharedSupernet:
    """A trained supernet's weights and what they were trained on."""

    key: str
    weights: dict        # Supernet.state_dict()
    meta: dict           # data hash, space, config fields, epochs done, seconds
    training: dict | None = None   # optimiser and RNG state, in an unfinished checkpoint

    @property
    def complete(self) -> bool:
        return self.meta["epochs_done"] >= self.meta["config"]["shared_epochs"]

    def to_bytes(self) -> bytes:
        import torch
        buffer = io.BytesIO()
        torch.save({"weights": self.weights, "meta": json.dumps(self.meta), "key": self.key,
                    "training": self.training}, buffer)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes, where: str = "shared supernet") -> SharedSupernet:
        import torch
        try:
            doc = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
            return cls(doc["key"], doc["weights"], json.loads(doc["meta"]), doc["training"])
        except Exception as exc:  # noqa: BLE001 - any damage is one line naming the file
            raise InputError(f"{where}: not a shared-supernet checkpoint ({type(exc).__name__})") \
                from None

    def supernet(self, data: Dataset):
        """The Supernet with these weights (checked against the data's search space)."""
        from .supernet import Supernet
        space = SearchSpace(data.window, data.n_channels, data.n_classes)
        if list(space.key) != self.meta["space"]:
            raise InputError(f"shared supernet {self.key}: trained for the space "
                             f"{self.meta['space']}, not {list(space.key)}")
        net = Supernet(space, self.meta["config"]["dropout"])
        net.load_state_dict(self.weights)
        return net


def shared_key(data: Dataset, config: SearchConfig) -> str:
    """What decides the shared weights: the data (its SHA-256), its space, the training fields."""
    doc = {"version": _VERSION, "data": data.content_hash(),
           "space": [data.window, data.n_channels, data.n_classes],
           **{f: getattr(config, f) for f in _FIELDS}}
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:20]


def train_shared(data: Dataset, config: SearchConfig,
                 progress: Callable[[dict], None] | None = None,
                 resume: SharedSupernet | None = None,
                 checkpoint: Callable[[SharedSupernet], None] | None = None) -> SharedSupernet:
    """Train the shared weights for `config.shared_epochs` epochs (from `resume`, a checkpoint of
    the same key, where given); `checkpoint` receives the state after every epoch (a killed
    worker resumes from the last one and ends with the same weights it would have had)."""
    import torch
    import torch.nn.functional as F

    from ._batches import batches
    from .hardware import Relaxation
    from .supernet import ArchitectureParameters, Supernet

    from ._device import resolve_device

    device = resolve_device(config.device)
    key = shared_key(data, config)
    space = SearchSpace(data.window, data.n_channels, data.n_classes)
    torch.manual_seed(config.seed)   # the initial weights (dropout's masks come from it too)
    net = Supernet(space, config.dropout).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=config.weight_lr)
    gen = torch.Generator().manual_seed(config.seed)
    epochs_done, seconds = 0, 0.0
    if resume is not None:
        if resume.key != key:
            raise InputError(f"shared supernet {resume.key}: cannot resume it as {key} "
                             "(other data or settings)")
        if resume.complete:
            return resume
        net.load_state_dict(resume.weights)
        opt.load_state_dict(resume.training["optimizer"])
        gen.set_state(resume.training["generator"])
        torch.set_rng_state(resume.training["torch_rng"])   # dropout's masks
        epochs_done, seconds = resume.meta["epochs_done"], resume.meta["seconds"]
    uniform = ArchitectureParameters(space)   # zero logits: every choice equally likely
    big, small = Relaxation.one_hot(space.largest()), Relaxation.one_hot(space.smallest())
    xt, yt = torch.from_numpy(data.x_train).to(device), torch.from_numpy(data.y_train).to(device)
    steps = math.ceil(len(xt) / config.batch_size)
    meta = {"space": list(space.key), "data_hash": data.content_hash(), "version": _VERSION,
            "config": {f: getattr(config, f) for f in _FIELDS}, "steps_per_epoch": steps}
    for epoch in range(epochs_done, config.shared_epochs):
        start = time.perf_counter()
        net.train()
        total = 0.0
        for idx in batches(len(xt), config.batch_size, gen):
            opt.zero_grad()
            with torch.no_grad():
                paths = [big, small] + [uniform.sample(1.0, gen, hard=True)
                                        for _ in range(config.shared_paths)]
            for r in paths:   # gradients of every slice summed, one step
                loss = F.cross_entropy(net.forward_path(xt[idx], r.to(device)), yt[idx]) / len(paths)
                loss.backward()
                total += float(loss.detach())
            torch.nn.utils.clip_grad_norm_(net.parameters(), config.weight_clip)
            opt.step()
        seconds += time.perf_counter() - start
        epochs_done = epoch + 1
        if progress:
            progress({"epoch": epochs_done, "train_loss": total / steps, "seconds": seconds})
        if checkpoint is not None and epochs_done < config.shared_epochs:
            checkpoint(_snapshot(key, net, opt, gen, meta, epochs_done, seconds, full=True))
    return _snapshot(key, net, opt, gen, meta, epochs_done, seconds, full=False)


def _snapshot(key, net, opt, gen, meta, epochs_done, seconds, *, full: bool) -> SharedSupernet:
    """A resumable checkpoint (`full`: optimiser and RNG too) or the finished weights."""
    import copy
    weights = {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}
    import torch
    training = {"optimizer": copy.deepcopy(opt.state_dict()), "generator": gen.get_state(),
                "torch_rng": torch.get_rng_state()} if full else None
    return SharedSupernet(key, weights, {**meta, "epochs_done": epochs_done, "seconds": seconds},
                          training)
