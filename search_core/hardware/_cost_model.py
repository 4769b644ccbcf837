"""`CostModel`: prices architectures exactly and relaxations differentiably on one board."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from lut_store import InputError, OpConfig

from ..architecture import Architecture
from ..space import SearchSpace
from ._cheapest import Cheapest, cheapest
from ._expected import expected_latency_cycles, relaxation_inputs, expected_memory_slots
from ._flash import build_flash_tables, expected_flash_bytes, flash_bytes, model_flash_bytes
from ._memory import MemoryEstimate, estimate_memory
from ._relaxation import Relaxation
from ._tables import Tables, build_tables

if TYPE_CHECKING:  # torch and the pricing module are only needed when used
    import torch

    from lut_store import LatencyModel


class CostModel:
    """Prices architectures and relaxations on one board. `latency` is a
    `lut_store.LatencyModel` (or anything with `.mcu` and `.price(OpConfig)` returning an object
    with `cycles` and `overhead_cycles`)."""

    def __init__(self, latency: "LatencyModel"):
        self.latency = latency
        self._tables: dict = {}
        self._cell_cache: dict = {}

    @property
    def mcu(self):
        return self.latency.mcu

    # -- exact ------------------------------------------------------------------------------------
    def op_cycles(self, config: OpConfig) -> float:
        """Kernel plus interpreter-overhead cycles of one op."""
        cost = self.latency.price(config)
        return float(cost.cycles) + float(cost.overhead_cycles)

    def latency_breakdown(self, arch: Architecture) -> list[dict]:
        rows = []
        for op in arch.graph().ops:
            cost = self.latency.price(op.config)
            rows.append({"index": op.index, "name": op.name, "op": op.config.op,
                         "input_shape": op.config.input_shape,
                         "output_shape": op.config.output_shape, "cycles": float(cost.cycles),
                         "overhead_cycles": float(cost.overhead_cycles), "source": cost.source})
        return rows

    def predicted_share(self, arch: Architecture) -> float:
        """The share of the latency (cycles) priced by the predictor, not measured in the LUT: a
        new input shape (another front end) is priced, and flagged, this way."""
        rows = self.latency_breakdown(arch)
        total = math.fsum(r["cycles"] + r["overhead_cycles"] for r in rows)
        predicted = math.fsum(r["cycles"] + r["overhead_cycles"] for r in rows
                              if r["source"] != "measured")
        return predicted / total if total else 0.0

    def latency_cycles(self, arch: Architecture) -> float:
        return math.fsum(self.op_cycles(op.config) for op in arch.graph().ops)

    def latency_ms(self, arch: Architecture) -> float:
        return self.mcu.cycles_to_ms(self.latency_cycles(arch))

    def memory(self, arch: Architecture) -> MemoryEstimate:
        return estimate_memory(arch)

    def peak_memory_bytes(self, arch: Architecture) -> int:
        return self.memory(arch).peak_bytes

    def model_flash_bytes(self, arch: Architecture) -> int:
        """The int8 .tflite's bytes (with its offline plan), priced from the architecture."""
        return model_flash_bytes(arch)

    def flash_bytes(self, arch: Architecture) -> int:
        """Delivered flash: the model's bytes + the runtime's code for its kernels on this board
        (see `search_core.hardware._flash`)."""
        return flash_bytes(self.mcu, arch)

    def fits(self, arch: Architecture, lat_ms: float | None = None,
             mem_bytes: float | None = None, flash_bytes: float | None = None) -> bool:
        """Whether `arch` meets the latency budget (ms), the peak-memory budget (bytes) and the
        flash budget (bytes); a budget of None is no constraint."""
        if lat_ms is not None and self.latency_ms(arch) > lat_ms:
            return False
        if flash_bytes is not None and self.flash_bytes(arch) > flash_bytes:
            return False
        return mem_bytes is None or self.peak_memory_bytes(arch) <= mem_bytes

    # -- the cheapest networks of a space -----------------------------------------------------------
    def cheapest(self, space: SearchSpace) -> Cheapest:
        """The smallest latency and the smallest peak memory any network of `space` reaches on
        this board, with a network reaching each (exact dynamic programming over the cell chain:
        the only tensor crossing a cell boundary is the cell's input, so a cell's latency and its
        memory peak depend on its own choices and its input width alone)."""
        return cheapest(self, space, self._cell_cache)

    # -- tables -------------------------------------------------------------------------------------
    def tables(self, space: SearchSpace, device: Any = None) -> Tables:
        """The latency and memory tables of `space` (float64 tensors), built once."""
        key = (space.key, str(device))
        if key not in self._tables:
            self._tables[key] = build_tables(self, space, device)
        return self._tables[key]

    # -- expectations -------------------------------------------------------------------------------
    def expected_latency_cycles(self, relaxation: Relaxation) -> "torch.Tensor":
        """Expected latency in cycles of the relaxed supernet (differentiable)."""
        return expected_latency_cycles(self, relaxation)

    def expected_latency_ms(self, relaxation: Relaxation) -> "torch.Tensor":
        return self.expected_latency_cycles(relaxation) * (1000.0 / self.mcu.clock_hz)

    def expected_flash_bytes(self, relaxation: Relaxation) -> "torch.Tensor":
        """Differentiable expected delivered flash (model + runtime) in bytes; exact for one-hot
        relaxations."""
        device, f, out_dtype = relaxation_inputs(relaxation)
        key = ("flash", relaxation.space.key, str(device))
        if key not in self._tables:
            self._tables[key] = build_flash_tables(self.mcu, relaxation.space, device)
        return expected_flash_bytes(self._tables[key], relaxation, f).to(out_dtype)

    def expected_memory_slots(self, relaxation: Relaxation) -> "torch.Tensor":
        """E[(live bytes + scratch)·1{op exists}] for every operator slot of the supernet, in
        execution order (see the package docstring)."""
        return expected_memory_slots(self, relaxation)

    def expected_peak_memory_bytes(self, relaxation: Relaxation,
                                   temperature: float | None = None) -> "torch.Tensor":
        """Differentiable expected peak memory: the max over operator slots of their expected
        live bytes + scratch (exact for one-hot relaxations), or with `temperature` (bytes) the
        log-sum-exp smooth max."""
        import torch
        slots = self.expected_memory_slots(relaxation)
        if temperature is None:
            return slots.max()
        if not temperature > 0:
            raise InputError(f"temperature must be positive bytes, got {temperature!r}")
        return temperature * torch.logsumexp(slots / temperature, dim=0)
