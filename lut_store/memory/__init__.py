"""The one memory model of a TFLite-Micro deployment, used alike by the search's cost model
(`search_core.hardware`), `micronas cost` (`lut_store.price_model`) and the deployment check:

* the arena: TFLM's 16-byte alignment, buffers with lifetimes, the liveness lower bound
  (`ARENA_ALIGNMENT`, `align`, `Buffer`, `max_live_bytes`), and the sensing ring the firmware
  keeps beside it (`input_buffer_bytes`: a memory budget covers the arena and the ring);
* kernel scratch: what each kernel requests in Prepare, for the board's CMSIS-NN kernels and the
  host interpreter's reference kernels (`scratch_requests`, `CMSIS_NN`, `REFERENCE`);
* TFLM's memory planner, re-implemented exactly (`planner_buffers`, `greedy_plan`,
  `arena_head_bytes`, `peak_activation_bytes`);
* the offline memory plan: its metadata (`offline_plan`, `embed_offline_plan`) and a plan that
  reaches the lower bound (`lower_bound_offsets`, `with_offline_plan`).

The host interpreter's arena head equals `arena_head_bytes(model, kernels=REFERENCE)` (tests check
it against the installed TFLite-Micro); the board's is `arena_head_bytes(model, kernels=CMSIS_NN)`,
which a search's peak memory equals on every exported model.
"""

from ._arena import (ARENA_ALIGNMENT, ONLINE, Buffer, align, input_buffer_bytes, live_bytes,
                     max_live_bytes, plan_extent)
from ._lower_bound import lower_bound_offsets, with_offline_plan
from ._offline import OFFLINE_PLAN_METADATA, embed_offline_plan, offline_plan, without_offline_plan
from ._planner import arena_head_bytes, greedy_plan, peak_activation_bytes, planner_buffers
from ._scratch import CMSIS_NN, KERNELS, REFERENCE, scratch_bytes, scratch_requests

__all__ = ["ARENA_ALIGNMENT", "Buffer", "CMSIS_NN", "KERNELS", "OFFLINE_PLAN_METADATA", "ONLINE",
           "REFERENCE", "align", "arena_head_bytes", "embed_offline_plan", "greedy_plan",
           "input_buffer_bytes", "live_bytes", "lower_bound_offsets", "max_live_bytes", "offline_plan",
           "peak_activation_bytes", "plan_extent", "planner_buffers", "scratch_bytes",
           "scratch_requests", "with_offline_plan", "without_offline_plan"]
