"""Kernel scratch: the buffers each TFLM kernel requests in Prepare (RequestScratchBufferInArena),
for the two kernel sets a model meets — the board's (TFLM's cmsis_nn kernels + CMSIS-NN) and the
host interpreter's reference kernels. Read from the TFLM + CMSIS-NN sources (pinned in
../shared/tflm/VERSIONS.txt); `tests/lut_store` checks the reference side against the installed
interpreter's arena.

* CONV_2D on the board (`kernels/cmsis_nn/conv.cc` → `arm_convolve_wrapper_s8_get_buffer_size`,
  GCC build, any core without MVE: Cortex-M0..M7, M33 — the DSP and plain builds size alike):
  - a 1×1 kernel without padding: none (`arm_convolve_1x1_s8_fast` for stride 1 asks
    2·C_in·sizeof(int16) only in Arm Compiler 6 builds; `arm_convolve_1x1_s8` for larger strides);
  - otherwise (`arm_convolve_s8`, and the 1×N path, which sizes alike): two im2col columns of
    int16, 2 · align4(C_in · k_h · k_w) · sizeof(int16) bytes.
  Cortex-M55/M85 (MVE) builds size differently and are not modelled.
* CONV_2D on the host (reference kernel): none for int8 filters (int4 filters ask for an unpacked
  copy, which this project never emits).
* MEAN / SUM (reference on both: CMSIS-NN has no reduce kernel, `kernels/reduce_common.cc`): an
  int32 accumulator per output element (int8/int16 inputs), then an int per input dimension and an
  int per reduced axis; REDUCE_MAX / REDUCE_MIN the last two only.
* ADD, SOFTMAX, FULLY_CONNECTED, pooling, RESHAPE, (DE)QUANTIZE: none in int8.
"""

from __future__ import annotations

import math

from .._lut import OpConfig, same_padding
from ..errors import InputError
from ._arena import align

CMSIS_NN = "cmsis-nn"     # what the firmware runs
REFERENCE = "reference"   # what the host interpreter (and LiteRT's reference resolver) runs
KERNELS = (CMSIS_NN, REFERENCE)

_REDUCE = ("MEAN", "SUM", "REDUCE_MAX", "REDUCE_MIN")


def scratch_requests(config: OpConfig, kernels: str = CMSIS_NN, *,
                     reduced_axes: int | None = None, input_dtype: str = "int8") -> tuple[int, ...]:
    """Bytes of each scratch buffer `config`'s kernel requests, in request order, before arena
    alignment. `reduced_axes` is a reduce's axis count (default: the dimensions its output lost,
    as MicroNAS's keep_dims=False MEAN has it)."""
    if kernels not in KERNELS:
        raise InputError(f"unknown kernel set {kernels!r}: expected one of {', '.join(KERNELS)}")
    if config.op == "CONV_2D":
        return (_cmsis_nn_conv(config),) if kernels == CMSIS_NN and _cmsis_nn_conv(config) else ()
    if config.op in _REDUCE:
        axes = (len(config.input_shape) - len(config.output_shape)
                if reduced_axes is None else reduced_axes)
        iterators = (4 * len(config.input_shape), 4 * axes)
        if config.op in ("MEAN", "SUM") and input_dtype in ("int8", "int16"):
            return (4 * math.prod(config.output_shape),) + iterators
        return iterators
    return ()


def scratch_bytes(config: OpConfig, kernels: str = CMSIS_NN, **kw) -> int:
    """The arena bytes of `config`'s scratch buffers (each aligned, as the planner places them)."""
    return sum(align(n) for n in scratch_requests(config, kernels, **kw))


def _cmsis_nn_conv(config: OpConfig) -> int:
    _, in_h, in_w, c_in = config.input_shape
    _, out_h, out_w, _ = config.output_shape
    (k_h, k_w), (s_h, s_w) = config.kernel, config.stride
    pad_h = pad_w = 0
    if config.padding == "same":
        pad_h = same_padding(in_h, k_h, s_h, out_h)[0]
        pad_w = same_padding(in_w, k_w, s_w, out_w)[0]
    if (k_h, k_w) == (1, 1) and pad_h == 0 and pad_w == 0:
        return 0
    rhs_cols = c_in * k_h * k_w
    return 2 * (-(-rhs_cols // 4) * 4) * 2
