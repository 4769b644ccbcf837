"""`SearchConfig`: everything that shapes one search besides the data, the board and the budget.
Its fields are the one source of the spec's `search:` keys and of `micronas search`'s flags: the
help text of each lives with the field (`metadata["help"]`, `metadata["choices"]`), and the
surfaces derive names, types and defaults from here.

This module must stay light (no torch): the CLI reads the fields to build its flags.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

from lut_store import InputError

if TYPE_CHECKING:
    from .loss import HardwareLoss

__all__ = ["SearchConfig"]


def _help(default, text: str, **kw):
    return field(default=default, metadata={"help": text}, **kw)


def _default_loss():
    from .loss import HardwareLoss   # torch: only when a config is actually built
    return HardwareLoss()


@dataclass(frozen=True)
class SearchConfig:
    """Everything that shapes one search besides the data, the board and the budget."""

    epochs: int = _help(30, "search epochs (warm-up included)")
    batch_size: int = _help(32, "batch size of the search and of retraining")
    seed: int = _help(0, "seed of the search, the data split and the deployment")
    weight_lr: float = _help(1e-3, "supernet weight learning rate (Adam)")
    weight_clip: float = _help(5.0, "gradient-norm clip of the weight steps")
    # Adam on the architecture logits, cosine-annealed. The paper's SGD at 0.36 collapses the
    # distribution onto the smallest network within the first epoch here (the 4x over-budget
    # penalty dominates before the weights have learnt anything).
    arch_lr: float = _help(4e-2, "architecture learning rate (Adam, cosine-annealed)")
    arch_lr_min: float = _help(4e-3, "architecture learning rate at the end of the schedule")
    # One architecture step (the whole supernet, on a validation batch) every `arch_every` weight
    # steps (one sampled network each): the architecture steps were 2/3 of the search's time,
    # and one per weight step read UCI-HAR's 731 validation windows ~9 times an epoch. The
    # learning rates are 4x the every-step ones (1e-2 -> 1e-3), so the logits move as far.
    arch_every: int = _help(4, "one architecture step every this many weight steps")
    # Weight-only epochs first: do not judge untrained candidates.
    warmup_epochs: int = _help(4, "weight-only epochs before the architecture steps start")
    tau_start: float = _help(1.0, "initial Gumbel-softmax temperature (annealed exponentially "
                                  "per batch)")
    # Gentler than the paper's 1e-5 floor (noisy gradients late on).
    tau_end: float = _help(0.1, "final Gumbel-softmax temperature")
    hard_sampling: bool = _help(True, "straight-through one-hot Gumbel samples (the supernet "
                                      "trains the networks it can deploy)")
    # Price the architecture distribution itself (E over the choice probabilities) rather than the
    # Gumbel sample: the penalty then holds the *mean* network at the budget instead of pushing
    # until nearly every noisy sample is below it, and its gradient carries no sampling noise.
    cost_on_distribution: bool = _help(True, "price the choice probabilities, not the Gumbel "
                                             "sample, in the hardware loss")
    dropout: float = _help(0.3, "the supernet's dropout after the Time-Reduce cells")
    loss: HardwareLoss = field(default_factory=_default_loss, metadata={
        "help": "hardware-loss weights (set as latency_over, latency_under, memory_over, "
                "memory_under)"})
    fill_budget: bool = _help(True, "grow the derived network into what the budget leaves")
    fill_max_drop: float = _help(3.0, "... by choices at most this many nats less likely each")
    # 120, not 60: on UCI-HAR / L552 at 25 ms the same searched network scored 93.8 / 94.4 %
    # after 60 epochs and 95.2 / 95.9 % after 120 (two seeds each). The paper trains 200.
    retrain_epochs: int = _help(120, "retraining epochs of the derived network")
    retrain_patience: int = _help(20, "early-stopping patience, only with retrain_select=best_val")
    # Retraining recipe, measured on UCI-HAR / L552 hand-picked and searched networks (40 epochs):
    # Adam 1e-3, dropout 0.3, no BN, best-val epoch: 88-90 % test; Adam 1e-2, dropout 0.1, BN,
    # last epoch: 94.9-95.2 % at 21-25 ms and 96.7 % at 46 ms.
    retrain_lr: float = _help(1e-2, "retraining learning rate (Adam, cosine schedule)")
    retrain_dropout: float = _help(0.1, "dropout after the Time-Reduce cells while retraining")
    # BatchNorm after every conv while retraining, folded into the convs afterwards (the deployed
    # graph is unchanged). Measured on UCI-HAR: +1.5-2 points test accuracy for the same network.
    batch_norm: bool = _help(True, "BatchNorm after every conv while retraining (folded into "
                                   "the convs afterwards)")
    # "last": the weights at the end of the cosine schedule; "best_val": the epoch with the best
    # validation accuracy, early-stopped after retrain_patience epochs without improvement. With
    # UCI-HAR's two validation subjects, "best_val" picks early epochs that score 2-3 points
    # lower on the test subjects than the end of the schedule.
    retrain_select: str = field(default="last", metadata={
        "help": "which retrained weights to keep: the end of the schedule or the best "
                "validation epoch", "choices": ("last", "best_val")})

    # Where to train (search, retraining, the shared supernet; QAT runs where TensorFlow does).
    device: str = _help("auto", "auto (a CUDA GPU when torch sees one, else the CPU), cpu, cuda "
                                "or cuda:N")
    # Recipe levers, measured on UCI-HAR (bench/recipe.py; docs/BENCHMARKS.md, ablation): the
    # same searched 25 ms L552 network went from 92.55 % int8 (none of them) to 97.36 % (all
    # three), and a 50 ms one to 98.19 %; the 5 validation subjects gained with them too.
    augment: bool = _help(True, "on-the-fly augmentation while retraining: scaling, jitter, "
                                "small 3-D rotations of each sensor's axes, time warp, shift")
    label_smoothing: float = _help(0.1, "label smoothing of the retraining loss")
    ema_decay: float = _help(0.999, "exponential moving average of the retrained weights (the "
                                    "averaged network is kept); 0 = off")
    distill: float = _help(0.0, "weight of distillation from the data set's cached teacher "
                                "(0 = off, 1 = soft labels only)")
    distill_temperature: float = _help(4.0, "softmax temperature of the distillation")

    # One supernet for a grid (search_core.shared; a sweep's `sharing: supernet`): its weights
    # trained once, budget-free, then each point's architecture phase on them.
    shared_epochs: int = _help(30, "epochs of the shared supernet's weight training")
    shared_paths: int = _help(2, "random paths per step of the shared training, besides the "
                                 "largest and the smallest network (sandwich rule)")
    shared_search_epochs: int = _help(8, "epochs of a grid point's architecture phase on the "
                                         "shared weights (weights fine-tuned alongside)")
    retrain_from: str = field(default="scratch", metadata={
        "help": "retrain the derived network from fresh weights, or from the weights it inherits "
                "from the shared supernet (with inherited_retrain_epochs)",
        "choices": ("scratch", "inherited")})
    inherited_retrain_epochs: int = _help(40, "retraining epochs from inherited weights")

    def __post_init__(self):
        for name in ("epochs", "batch_size", "retrain_epochs", "retrain_patience", "arch_every",
                     "shared_epochs", "shared_search_epochs", "inherited_retrain_epochs"):
            if getattr(self, name) < (0 if name == "epochs" else 1):
                raise InputError(f"search config: {name} must be positive, got {getattr(self, name)}")
        if not 0 < self.tau_end <= self.tau_start:
            raise InputError("search config: need 0 < tau_end <= tau_start")
        for name in ("dropout", "retrain_dropout", "label_smoothing", "ema_decay"):
            if not 0 <= getattr(self, name) < 1:
                raise InputError(f"search config: {name} must be in [0, 1), got {getattr(self, name)}")
        if not 0 <= self.distill <= 1 or self.distill_temperature <= 0:
            raise InputError("search config: need 0 <= distill <= 1 and distill_temperature > 0")
        from ._device import check_device
        check_device(self.device)
        if self.shared_paths < 0:
            raise InputError(f"search config: shared_paths must be >= 0, got {self.shared_paths}")
        if self.retrain_from not in ("scratch", "inherited"):
            raise InputError(f"search config: retrain_from must be 'scratch' or 'inherited', "
                             f"got {self.retrain_from!r}")
        if self.retrain_select not in ("last", "best_val"):
            raise InputError(f"search config: retrain_select must be 'last' or 'best_val', "
                             f"got {self.retrain_select!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    def to_json_dict(self) -> dict:
        """As stored with a result: the loss weights in the loss's own form."""
        return {**self.to_dict(), "loss": self.loss.to_dict()}
