"""The relaxed supernet: independent choice probabilities per cell, which the cost model prices as
exact expectations."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

from lut_store import InputError

from ..architecture import BRANCH_KERNELS, SF_BOTTLENECKS, SF_WIDTHS, TR_KERNELS, TR_WIDTHS, Architecture
from ..space import SearchSpace

if TYPE_CHECKING:
    import torch


@dataclass
class TrChoice:
    """Probabilities of one TR cell: kernel (3, 5, 7) and width (4, 8, 12, 16), each summing to 1."""

    kernel: "torch.Tensor"
    width: "torch.Tensor"


@dataclass
class SfChoice:
    """Probabilities of one SF cell: bottleneck width (8 options), each branch's on-probability
    (kernels 3, 5, 7), block width (8 options), residual on-probability, and for normal cells the
    skip probability (None for reducing cells)."""

    bottleneck: "torch.Tensor"
    branches: "torch.Tensor"
    width: "torch.Tensor"
    residual: "torch.Tensor"
    skip: "torch.Tensor | None" = None


@dataclass
class Relaxation:
    """The relaxed supernet's per-choice probabilities for one search space."""

    space: SearchSpace
    tr: list[TrChoice]
    sf: list[SfChoice]

    def tensors(self) -> list["torch.Tensor"]:
        out = []
        for c in self.tr:
            out += [c.kernel, c.width]
        for c in self.sf:
            out += [c.bottleneck, c.branches, c.width, c.residual]
            if c.skip is not None:
                out.append(c.skip)
        return out

    def to(self, device) -> "Relaxation":
        """The same relaxation on `device` (differentiable: gradients flow back to the
        original tensors); itself when already there."""
        if all(t.device == device for t in self.tensors()):
            return self
        move = lambda t: None if t is None else t.to(device)  # noqa: E731
        return Relaxation(self.space, [TrChoice(move(c.kernel), move(c.width)) for c in self.tr],
                          [SfChoice(move(c.bottleneck), move(c.branches), move(c.width),
                                    move(c.residual), move(c.skip)) for c in self.sf])

    def requires_grad_(self, flag: bool = True) -> "Relaxation":
        for t in self.tensors():
            t.requires_grad_(flag)
        return self

    @classmethod
    def one_hot(cls, arch: Architecture, dtype: Any = None) -> "Relaxation":
        """The relaxation that puts probability 1 on `arch`'s choices."""
        import torch
        dtype = dtype or torch.float64

        def hot(options: Sequence[int], value: int) -> torch.Tensor:
            t = torch.zeros(len(options), dtype=dtype)
            t[options.index(value)] = 1.0
            return t

        def scalar(flag: bool) -> torch.Tensor:
            return torch.tensor(1.0 if flag else 0.0, dtype=dtype)

        tr = [TrChoice(hot(TR_KERNELS, c.kernel), hot(TR_WIDTHS, c.width)) for c in arch.tr_cells]
        sf = [SfChoice(hot(SF_BOTTLENECKS, c.bottleneck),
                       torch.tensor([1.0 if b else 0.0 for b in c.branches], dtype=dtype),
                       hot(SF_WIDTHS, c.width), scalar(c.residual),
                       None if c.reduce else scalar(c.skip))
              for c in arch.sf_cells]
        return cls(SearchSpace.of(arch), tr, sf)

    @classmethod
    def uniform(cls, space: SearchSpace, dtype: Any = None) -> "Relaxation":
        """Every categorical uniform, every on/off and skip at 1/2."""
        import torch
        dtype = dtype or torch.float64

        def flat(n: int) -> torch.Tensor:
            return torch.full((n,), 1.0 / n, dtype=dtype)

        half = lambda: torch.tensor(0.5, dtype=dtype)  # noqa: E731
        tr = [TrChoice(flat(len(TR_KERNELS)), flat(len(TR_WIDTHS))) for _ in space.tr_shapes]
        sf = [SfChoice(flat(len(SF_BOTTLENECKS)), torch.full((3,), 0.5, dtype=dtype),
                       flat(len(SF_WIDTHS)), half(), None if s.reduce else half())
              for s in space.sf_shapes]
        return cls(space, tr, sf)

    def _check(self) -> None:
        space = self.space
        if len(self.tr) != space.n_tr_cells or len(self.sf) != space.n_sf_cells:
            raise InputError(f"relaxation has {len(self.tr)} TR and {len(self.sf)} SF cells, "
                             f"{space!r} has {space.n_tr_cells} and {space.n_sf_cells}")

        def shape(t: Any, n: int | None, what: str) -> None:
            if not hasattr(t, "shape"):
                raise InputError(f"relaxation {what} must be a tensor, got {type(t).__name__}")
            if n is None:
                if t.numel() != 1:
                    raise InputError(f"relaxation {what} must be a scalar, got shape {tuple(t.shape)}")
            elif tuple(t.shape) != (n,):
                raise InputError(f"relaxation {what} must have shape ({n},), got {tuple(t.shape)}")

        for i, c in enumerate(self.tr):
            shape(c.kernel, len(TR_KERNELS), f"tr[{i}].kernel")
            shape(c.width, len(TR_WIDTHS), f"tr[{i}].width")
        for j, (c, s) in enumerate(zip(self.sf, space.sf_shapes)):
            shape(c.bottleneck, len(SF_BOTTLENECKS), f"sf[{j}].bottleneck")
            shape(c.branches, len(BRANCH_KERNELS), f"sf[{j}].branches")
            shape(c.width, len(SF_WIDTHS), f"sf[{j}].width")
            shape(c.residual, None, f"sf[{j}].residual")
            if s.reduce and c.skip is not None:
                raise InputError(f"relaxation sf[{j}] is a reducing cell: it has no skip")
            if not s.reduce:
                if c.skip is None:
                    raise InputError(f"relaxation sf[{j}] is a normal cell: it needs a skip "
                                     "probability")
                shape(c.skip, None, f"sf[{j}].skip")
