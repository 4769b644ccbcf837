"""The hardware cost model: exact latency and peak memory of a discrete `Architecture` on one board,
and their differentiable expectations over the relaxed supernet's choice probabilities.

Latency. A network's latency is the sum over its TFLite operators of kernel cycles plus the per-op
interpreter overhead, both from the board's LUT (measured, or predicted and flagged), converted
with the board's clock.

Peak memory. What TFLite-Micro's arena head will be on the board, from `lut_store.memory` — the
one memory model, which the deployment check applies to the exported model: at every operator, the
16-byte-aligned int8 tensors that are live (from their producer — the graph input from op 0 — to
their last reader; the graph output to the end) plus the scratch buffers the operator's CMSIS-NN
kernel requests; the peak is the maximum over operators. The deployment embeds an offline memory
plan that reaches this bound, so the board's head equals it byte for byte (a test pins the two on
random architectures of every space). `MemoryEstimate.activation_bytes` (liveness alone) is the
number to compare with `lut_store.memory.peak_activation_bytes` of the exported model.

Expectations. Every choice is independent in the relaxation: TR kernel and width, SF bottleneck
width, each branch on/off, block width, residual on/off and skip. For a dynamic conv, the expected
latency is wᵀ·LAT·u (LAT[i, j]: output-width option i, input-width option j; w this layer's width
distribution, u the previous layer's), exact because the two widths are independent. The cell rules
follow MicroNAS: a TR cell costs Σ_k p_k·wᵀ LAT_k u; the bottleneck is weighted by
P(any branch on) = 1 − Π_b (1 − p_on,b), each branch b by p_on,b, the branch ADDs by their expected
number E[max(n_on − 1, 0)] = Σ_b p_on,b − P(any on), the residual by p_res·(lat_res +
P(any on)·lat_add) — the residual's ADD only exists when a branch is on (MicroNAS prices it with
p_res alone, which overcharges residual-only cells) —, a normal cell by p_cell = 1 − p_skip, and the
next layer sees the width distribution p_skip·u_in + p_cell·w_c. These are exact expectations under
independence, so a one-hot relaxation prices exactly like its architecture. (A kept cell with
neither branch nor residual is invalid as an architecture; the relaxation prices it at zero and
passes w_c on, as MicroNAS does.)

Expected peak memory applies the same to every operator slot of the supernet: E[(live bytes +
scratch)·1{op exists}] per slot (exact: each term is a product of independent indicator
probabilities and one size that is linear in one width distribution), then the maximum over slots
— the max of expectations. It is exact for one-hot relaxations; its gradient reaches every choice
that shapes the worst slot. `temperature` (bytes) swaps the max for a log-sum-exp smooth max
τ·log Σ exp(m_i/τ), which passes gradients to all slots but is larger than the max by at most
τ·log(#slots).

Flash. The delivered flash: the int8 .tflite's bytes, priced from the architecture by
`lut_store.model_flash_bytes` (never below the exported file, at most 11 bytes above it on every
calibrated model), + the runtime's code for its kernels (`lut_store.runtime_flash_bytes`, measured
per core). Its expectation sums per-op bytes like latency, plus ADD's operator code and kernel
weighted by P(any cell has an ADD); exact for one-hot relaxations (`_flash`).

Modules: `_memory` (a discrete network's peak), `_relaxation` (the choice probabilities), `_tables`
(a space's cost tables on a board), `_expected` (the expectations), `_cheapest` (the cheapest
networks of a space), `_flash` (delivered flash), `_cost_model` (`CostModel`, which ties them to one board).
"""

from ._cheapest import Cheapest
from ._cost_model import CostModel
from ._memory import MemoryEstimate, OpMemory, estimate_memory, graph_buffers, memory_profile
from ._relaxation import Relaxation, SfChoice, TrChoice

__all__ = ["Cheapest", "CostModel", "MemoryEstimate", "OpMemory", "Relaxation", "SfChoice",
           "TrChoice", "estimate_memory", "graph_buffers", "memory_profile"]
