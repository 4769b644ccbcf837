"""Pricing .tflite models: every op measured or predicted (flagged), or a clear error."""

import pytest

from lut_store import InputError, LatencyModel, Predictor, load_mcu, price_model

L552 = "nucleo-l552ze-q"


def test_an_op_neither_measured_nor_predictable_is_named(tflite_models, l552_lut):
    # DEPTHWISE_CONV_2D / pooling / concatenation were never measured, so nothing predicts them.
    latency = LatencyModel(load_mcu(L552), l552_lut, Predictor.fit(l552_lut, [load_mcu(L552)]))
    with pytest.raises(InputError, match=r"m\.tflite: op \w+ .*neither measured in the LUT nor predictable"):
        price_model(tflite_models["ops_coverage"], latency, source="m.tflite")


@pytest.fixture(scope="module")
def other_shape_model():
    """A MicroNAS network for 100 x 6 inputs (BasicMotions): shapes no board run measured."""
    import numpy as np
    from search_core.deploy import build_keras, to_int8_tflite
    from search_core.space import SearchSpace
    calib = np.random.default_rng(0).normal(size=(4, 100, 6))
    return to_int8_tflite(build_keras(SearchSpace(100, 6, 4).largest()), calib)


def test_without_a_predictor_unmeasured_shapes_are_an_error(other_shape_model, l552_lut):
    latency = LatencyModel(load_mcu(L552), l552_lut)
    with pytest.raises(InputError, match="neither measured"):
        price_model(other_shape_model, latency, source="m.tflite", use_tflm=False)


def test_predicted_ops_are_flagged(other_shape_model, l552_lut):
    latency = LatencyModel(load_mcu(L552), l552_lut, Predictor.fit(l552_lut, [load_mcu(L552)]))
    report = price_model(other_shape_model, latency)
    predicted = [op for op in report["ops"] if op["source"] == "predicted"]
    assert predicted and report["unmeasured_ops"] == len(predicted)
    assert report["latency_ms"] == pytest.approx(
        (report["kernel_cycles"] + report["overhead_cycles"]) / 80_000)
    assert report["planned_arena_head_bytes"] == report["tflm_arena_head_bytes"]
