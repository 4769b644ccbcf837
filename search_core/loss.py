"""How hardware cost enters the architecture loss — an axis of its own, independent of the search
method and of the cost model (so that Optuna can tune it and baselines can switch it off)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch


@dataclass(frozen=True)
class BudgetPenalty:
    """MicroNAS's asymmetric log-ratio penalty: λ · log(E[cost] / target), with a large λ above the
    target and a tiny one below it (a gentle pull toward smaller networks)."""

    over: float = 4.0
    under: float = 0.002

    def __call__(self, expected: torch.Tensor, target: float | None) -> torch.Tensor:
        if target is None or self.over == 0 and self.under == 0:
            return expected.new_zeros(())
        ratio = torch.log(expected / target)
        weight = self.over if float(expected.detach()) > target else self.under
        return weight * ratio


@dataclass(frozen=True)
class HardwareLoss:
    """The architecture step's loss: cross-entropy + latency, memory and flash penalties (the
    flash one only where a flash budget is set)."""

    latency: BudgetPenalty = BudgetPenalty()
    memory: BudgetPenalty = BudgetPenalty()
    flash: BudgetPenalty = BudgetPenalty()

    @classmethod
    def none(cls) -> "HardwareLoss":
        """No hardware awareness at all (the DARTS baseline)."""
        return cls(BudgetPenalty(0.0, 0.0), BudgetPenalty(0.0, 0.0), BudgetPenalty(0.0, 0.0))

    def __call__(self, ce: torch.Tensor, latency_ms: torch.Tensor, memory_bytes: torch.Tensor,
                 lat_target_ms: float | None, mem_target_bytes: float | None,
                 flash_bytes: torch.Tensor | None = None,
                 flash_target_bytes: float | None = None) -> torch.Tensor:
        loss = (ce + self.latency(latency_ms, lat_target_ms)
                + self.memory(memory_bytes, mem_target_bytes))
        if flash_bytes is not None and flash_target_bytes is not None:
            loss = loss + self.flash(flash_bytes, flash_target_bytes)
        return loss

    def to_dict(self) -> dict:
        return asdict(self)
