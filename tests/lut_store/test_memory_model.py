"""The one memory model's kernel scratch rules (read from the TFLM + CMSIS-NN sources) and its
liveness primitives."""

import pytest

from lut_store import InputError, OpConfig
from lut_store.memory import (CMSIS_NN, REFERENCE, Buffer, align, max_live_bytes, plan_extent,
                              scratch_bytes, scratch_requests)


def conv(inp, out, kernel, stride, padding="same"):
    return OpConfig("CONV_2D", inp, out, kernel, stride, padding, "relu")


def test_cmsis_nn_conv_scratch():
    # generic arm_convolve_s8: 2 im2col columns of int16, C_in·k rounded up to 4
    assert scratch_requests(conv((1, 128, 9, 1), (1, 64, 9, 4), (3, 1), (2, 1))) == (2 * 4 * 2,)
    assert scratch_requests(conv((1, 64, 9, 4), (1, 32, 9, 4), (7, 1), (2, 1))) == (2 * 28 * 2,)
    assert scratch_requests(conv((1, 16, 9, 12), (1, 16, 5, 8), (1, 9), (1, 2))) == (2 * 108 * 2,)
    assert scratch_requests(conv((1, 16, 9, 4), (1, 16, 5, 8), (1, 2), (1, 2))) == (2 * 8 * 2,)
    # 1x1 without padding: arm_convolve_1x1_s8_fast / arm_convolve_1x1_s8 need none (GCC build)
    assert scratch_requests(conv((1, 16, 5, 24), (1, 16, 5, 6), (1, 1), (1, 1))) == ()
    assert scratch_requests(conv((1, 16, 1, 24), (1, 16, 1, 8), (1, 1), (1, 2))) == ()
    # a strided 1x1 with `same` padding is padded only when the size is not a multiple
    assert scratch_requests(conv((1, 16, 5, 24), (1, 16, 3, 8), (1, 1), (1, 2))) == ()
    # valid padding never pads
    assert scratch_requests(conv((1, 16, 5, 4), (1, 14, 5, 8), (3, 1), (1, 1), "valid")) == (2 * 12 * 2,)


def test_reference_kernels_request_no_conv_scratch():
    assert scratch_requests(conv((1, 128, 9, 1), (1, 64, 9, 4), (3, 1), (2, 1)), REFERENCE) == ()


def test_reduce_scratch_is_the_same_on_both_kernel_sets():
    mean = OpConfig("MEAN", (1, 16, 5, 6), (1, 6))
    # an int32 accumulator per output, an int per input dimension, an int per reduced axis
    for kernels in (CMSIS_NN, REFERENCE):
        assert scratch_requests(mean, kernels) == (24, 16, 8)
        assert scratch_bytes(mean, kernels) == 32 + 16 + 16
    assert scratch_requests(mean, input_dtype="float32") == (16, 8)
    assert scratch_requests(OpConfig("REDUCE_MAX", (1, 16, 5, 6), (1, 6))) == (16, 8)
    assert scratch_requests(mean, reduced_axes=1) == (24, 16, 4)


@pytest.mark.parametrize("op", ["ADD", "SOFTMAX", "RESHAPE", "FULLY_CONNECTED"])
def test_ops_without_scratch(op):
    assert scratch_requests(OpConfig(op, (1, 16, 5, 8), (1, 16, 5, 8))) == ()


def test_unknown_kernel_set_is_one_clear_error():
    with pytest.raises(InputError, match="unknown kernel set 'cmsis'"):
        scratch_requests(OpConfig("ADD", (1, 4), (1, 4)), "cmsis")


def test_liveness_bound_and_extent():
    a, b, c = Buffer(align(100), 0, 1), Buffer(align(30), 1, 2), Buffer(align(64), 2, 2)
    assert (a.size, b.size) == (112, 32)
    assert max_live_bytes([a, b, c]) == 112 + 32 == 144
    assert a.overlaps(b) and not a.overlaps(c)
    assert plan_extent([a, b, c], [0, 112, 0]) == 144
