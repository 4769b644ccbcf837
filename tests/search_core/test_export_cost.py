"""The search's exact cost of an architecture equals what lut_store prices on the exported int8
flatbuffer, op by op, and the memory figures hold against the real TFLM interpreter."""

from lut_store import LatencyModel, load_mcu, price_model
from lut_store import op_configs
from lut_store.tflite import read_model
from search_core.hardware import CostModel

L552 = "nucleo-l552ze-q"


def test_exported_graph_is_the_priced_graph(exported_models, l552_lut):
    latency = LatencyModel(load_mcu(L552), l552_lut)
    cost = CostModel(latency)
    for arch, path in exported_models:
        data = path.read_bytes()
        assert op_configs(read_model(data)) == [op.config for op in arch.ops()]
        report = price_model(data, latency, source=str(path))
        assert report["unmeasured_ops"] == 0  # the measurements cover the whole UCI-HAR space
        assert abs(report["latency_ms"] - cost.latency_ms(arch)) < 1e-9
        assert report["peak_activation_bytes"] == cost.memory(arch).activation_bytes
        # TFLM's planner never beats the lower bound, and we predict it exactly.
        assert report["planned_arena_head_bytes"] == report["tflm_arena_head_bytes"]
        assert report["peak_activation_bytes"] <= report["tflm_arena_head_bytes"]
