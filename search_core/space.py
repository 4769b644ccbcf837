"""The MicroNAS search space for one input shape: its macro structure, the choices per cell, counting,
sampling and the enumeration of every operator configuration it can produce (what a LUT must cover).

Counting. `choice_combinations()` is the product of every choice's options, which is the figure
MicroNAS quotes (≈7.4·10^12 for 128 × 9); it counts a skipped cell once per value of its ignored
choices. `size()` counts distinct valid networks: a skipped cell is one network, a cell without
branches ignores its bottleneck width, and a cell with neither branches nor residual is invalid.
"""

from __future__ import annotations

import itertools
import random as _random
from functools import cached_property
from typing import Any

from lut_store import OpConfig
from lut_store.errors import InputError

from .architecture import (
    BRANCH_KERNELS, SF_BOTTLENECKS, SF_WIDTHS, TR_KERNELS, TR_WIDTHS, Architecture,
    CLASSIFIER_ACTIVATION, MacroStructure, SfCell, SfCellShape, TrCell, TrCellShape, conv_config,
    macro_structure,
)

__all__ = ["SearchSpace"]

_NO_BRANCH = (False, False, False)
_BRANCH_MASKS = tuple(m for m in itertools.product((False, True), repeat=3) if any(m))


class SearchSpace:
    """The MicroNAS space for inputs of `input_steps` × `input_channels` and `n_classes` classes."""

    TR_KERNELS = TR_KERNELS
    TR_WIDTHS = TR_WIDTHS
    BRANCH_KERNELS = BRANCH_KERNELS
    SF_BOTTLENECKS = SF_BOTTLENECKS
    SF_WIDTHS = SF_WIDTHS

    def __init__(self, input_steps: int, input_channels: int, n_classes: int):
        self.macro: MacroStructure = macro_structure(input_steps, input_channels, n_classes)

    @classmethod
    def of(cls, arch: Architecture) -> "SearchSpace":
        return cls(arch.input_steps, arch.input_channels, arch.n_classes)

    # -- identity ---------------------------------------------------------------------------------
    @property
    def input_steps(self) -> int:
        return self.macro.input_steps

    @property
    def input_channels(self) -> int:
        return self.macro.input_channels

    @property
    def n_classes(self) -> int:
        return self.macro.n_classes

    @property
    def key(self) -> tuple[int, int, int]:
        return (self.input_steps, self.input_channels, self.n_classes)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SearchSpace) and other.key == self.key

    def __hash__(self) -> int:
        return hash(("SearchSpace",) + self.key)

    def __repr__(self) -> str:
        return f"SearchSpace({self.input_steps}, {self.input_channels}, {self.n_classes})"

    def contains(self, arch: Architecture) -> bool:
        return (arch.input_steps, arch.input_channels, arch.n_classes) == self.key

    def check(self, arch: Architecture) -> None:
        if not self.contains(arch):
            raise InputError(
                f"architecture for {arch.input_steps}x{arch.input_channels} inputs with "
                f"{arch.n_classes} classes is not in the space {self.input_steps}x"
                f"{self.input_channels} with {self.n_classes} classes")

    # -- structure --------------------------------------------------------------------------------
    @property
    def tr_shapes(self) -> tuple[TrCellShape, ...]:
        return self.macro.tr

    @property
    def sf_shapes(self) -> tuple[SfCellShape, ...]:
        return self.macro.sf

    @property
    def n_tr_cells(self) -> int:
        return len(self.macro.tr)

    @property
    def n_sf_cells(self) -> int:
        return len(self.macro.sf)

    def tr_input_channels(self, i: int) -> tuple[int, ...]:
        """Channel options of TR cell i's input (the graph input has one channel)."""
        return (1,) if i == 0 else TR_WIDTHS

    def sf_input_channels(self, j: int) -> tuple[int, ...]:
        if j > 0:
            return SF_WIDTHS
        return TR_WIDTHS if self.n_tr_cells else (1,)

    @property
    def classifier_input_channels(self) -> tuple[int, ...]:
        return SF_WIDTHS

    def tr_input_shape(self, i: int, channels: int) -> tuple[int, int, int, int]:
        s = self.macro.tr[i]
        return (1, s.steps_in, s.width, channels)

    def sf_input_shape(self, j: int, channels: int) -> tuple[int, int, int, int]:
        s = self.macro.sf[j]
        return (1, s.steps, s.width_in, channels)

    def classifier_input_shape(self, channels: int) -> tuple[int, int, int, int]:
        return (1, self.macro.steps, self.macro.final_width, channels)

    # -- choices ----------------------------------------------------------------------------------
    @staticmethod
    def tr_cell_options() -> list[TrCell]:
        return [TrCell(k, w) for k in TR_KERNELS for w in TR_WIDTHS]

    @staticmethod
    def sf_cell_options(reduce: bool) -> list[SfCell]:
        """Every distinct valid SF cell (canonical form), the skipped cell first for normal cells."""
        cells = [] if reduce else [SfCell(False, SF_BOTTLENECKS[0], _NO_BRANCH, SF_WIDTHS[0],
                                          False, True)]
        cells += [SfCell(reduce, SF_BOTTLENECKS[0], _NO_BRANCH, c, True) for c in SF_WIDTHS]
        cells += [SfCell(reduce, b, mask, c, res)
                  for mask in _BRANCH_MASKS for b in SF_BOTTLENECKS for c in SF_WIDTHS
                  for res in (False, True)]
        return cells

    @cached_property
    def _options(self) -> tuple[list[TrCell], list[SfCell], list[SfCell]]:
        return self.tr_cell_options(), self.sf_cell_options(True), self.sf_cell_options(False)

    def size(self) -> int:
        """Number of distinct valid networks."""
        tr, red, norm = self._options
        n = len(tr) ** self.n_tr_cells
        for shape in self.macro.sf:
            n *= len(red) if shape.reduce else len(norm)
        return n

    def choice_combinations(self) -> int:
        """Product of the number of options of every choice (MicroNAS's way of counting)."""
        tr = len(TR_KERNELS) * len(TR_WIDTHS)
        sf = len(SF_BOTTLENECKS) * 2 ** len(BRANCH_KERNELS) * len(SF_WIDTHS) * 2
        n = tr ** self.n_tr_cells
        for shape in self.macro.sf:
            n *= sf if shape.reduce else 2 * sf
        return n

    def _arch(self, tr, sf) -> Architecture:
        return Architecture(self.input_steps, self.input_channels, self.n_classes, tuple(tr),
                            tuple(sf))

    def smallest(self) -> Architecture:
        """The structurally smallest network: narrowest TR cells with kernel 3, reducing cells
        reduced to their narrowest residual conv, normal cells skipped. (The cost model's
        `cheapest` searches for the truly cheapest one on a board.)"""
        tr = [TrCell(TR_KERNELS[0], TR_WIDTHS[0])] * self.n_tr_cells
        sf = [SfCell(True, SF_BOTTLENECKS[0], _NO_BRANCH, SF_WIDTHS[0], True) if s.reduce
              else SfCell(False, SF_BOTTLENECKS[0], _NO_BRANCH, SF_WIDTHS[0], False, True)
              for s in self.macro.sf]
        return self._arch(tr, sf)

    def largest(self) -> Architecture:
        """Every cell at its widest and most complete."""
        tr = [TrCell(TR_KERNELS[-1], TR_WIDTHS[-1])] * self.n_tr_cells
        sf = [SfCell(s.reduce, SF_BOTTLENECKS[-1], (True, True, True), SF_WIDTHS[-1], True)
              for s in self.macro.sf]
        return self._arch(tr, sf)

    def random(self, rng: Any = None, *, per_choice: bool = False) -> Architecture:
        """A random architecture. By default uniform over distinct valid networks (`size()` of
        them). With `per_choice`, every choice is drawn uniformly on its own (a cell without
        branch and residual is drawn again), which is how a uniform relaxation's argmax behaves:
        half the normal cells are skipped."""
        draw = _drawer(rng)
        if not per_choice:
            tr_opts, red, norm = self._options
            tr = [tr_opts[draw(len(tr_opts))] for _ in self.macro.tr]
            sf = [(red if s.reduce else norm)[draw(len(red if s.reduce else norm))]
                  for s in self.macro.sf]
            return self._arch(tr, sf)
        tr = [TrCell(TR_KERNELS[draw(3)], TR_WIDTHS[draw(4)]) for _ in self.macro.tr]
        sf = []
        for s in self.macro.sf:
            while True:
                branches = tuple(bool(draw(2)) for _ in BRANCH_KERNELS)
                residual = bool(draw(2))
                skip = False if s.reduce else bool(draw(2))
                bott, width = SF_BOTTLENECKS[draw(8)], SF_WIDTHS[draw(8)]
                if skip or any(branches) or residual:
                    break
            sf.append(SfCell(s.reduce, bott, branches, width, residual, skip))
        return self._arch(tr, sf)

    # -- what a LUT must cover ----------------------------------------------------------------------
    def op_configs(self) -> list[OpConfig]:
        """Every distinct operator configuration any architecture of the space can contain."""
        seen: dict[OpConfig, None] = {}
        for i, s in enumerate(self.macro.tr):
            for c_in in self.tr_input_channels(i):
                for k in TR_KERNELS:
                    for w in TR_WIDTHS:
                        seen[conv_config(self.tr_input_shape(i, c_in), w, (k, 1), (2, 1))] = None
        for j, s in enumerate(self.macro.sf):
            stride = (1, 2) if s.reduce else (1, 1)
            res_kernel = (1, 2) if s.reduce else (1, 1)
            for c_in in self.sf_input_channels(j):
                shape = self.sf_input_shape(j, c_in)
                for b in SF_BOTTLENECKS:
                    seen[conv_config(shape, b, (1, s.width_in), stride)] = None
                for c in SF_WIDTHS:
                    seen[conv_config(shape, c, res_kernel, stride)] = None
            for b in SF_BOTTLENECKS:
                for c in SF_WIDTHS:
                    for k in BRANCH_KERNELS:
                        seen[conv_config((1, s.steps, s.width_out, b), c, (k, 1), (1, 1))] = None
            for c in SF_WIDTHS:
                out = (1, s.steps, s.width_out, c)
                seen[OpConfig("ADD", out, out)] = None
        k = self.n_classes
        for c in self.classifier_input_channels:
            seen[conv_config(self.classifier_input_shape(c), k, (1, 1), (1, 1),
                             CLASSIFIER_ACTIVATION)] = None
        seen[OpConfig("MEAN", (1, self.macro.steps, self.macro.final_width, k), (1, k))] = None
        seen[OpConfig("SOFTMAX", (1, k), (1, k))] = None
        return list(seen)


def _drawer(rng: Any):
    """A function n -> uniform integer in [0, n) from a numpy Generator, a random.Random, an int
    seed or None (fresh entropy)."""
    if rng is None or (isinstance(rng, int) and not isinstance(rng, bool)):
        rng = _random.Random(rng)
    if isinstance(rng, _random.Random):
        return rng.randrange
    integers = getattr(rng, "integers", None)
    if integers is not None:                      # numpy.random.Generator
        return lambda n: int(integers(n))
    randint = getattr(rng, "randint", None)
    if randint is not None:                       # numpy.random.RandomState
        return lambda n: int(randint(n))
    raise InputError(f"rng must be a numpy Generator, a random.Random, an int seed or None, "
                     f"got {type(rng).__name__}")
