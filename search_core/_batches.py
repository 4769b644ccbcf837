"""The shuffled mini-batch order of the DNAS loop and of retraining. A generator: the permutation
is drawn from the caller's RNG when the first batch is taken, and that order of draws is part of
a seeded run's figures."""

from __future__ import annotations

import torch


def batches(n: int, size: int, generator: torch.Generator):
    order = torch.randperm(n, generator=generator)
    for start in range(0, n, size):
        yield order[start:start + size]
