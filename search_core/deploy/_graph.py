"""Is an int8 flatbuffer exactly the graph an Architecture prices? Same operators (LUT keys) in the
same order, the same data flow between them, int8 activations and nothing else (no QUANTIZE /
DEQUANTIZE, no unfused activation)."""

from __future__ import annotations

from lut_store import InputError
from lut_store import op_configs
from lut_store.tflite import read_model

from ..architecture import Architecture


def _describe(config) -> str:
    if config.op == "CONV_2D":
        return (f"CONV_2D {list(config.input_shape)}->{list(config.output_shape)} kernel "
                f"{list(config.kernel)} stride {list(config.stride)} {config.padding} "
                f"{config.activation}")
    return f"{config.op} {list(config.input_shape)}->{list(config.output_shape)}"


def graph_mismatch(data: bytes, arch: Architecture, source: str = "<model>") -> str | None:
    """None if `data` is exactly `arch.ops()`, else the first difference, in words."""
    model = read_model(data, source)
    expected = arch.ops()
    if model.num_subgraphs != 1:
        return f"{model.num_subgraphs} subgraphs instead of 1"
    try:
        configs = op_configs(model, source)
    except InputError as exc:
        return str(exc)
    kinds = [op.op for op in model.operators]
    if len(configs) != len(expected):
        extra = sorted(set(kinds) - {op.config.op for op in expected})
        return (f"{len(configs)} operators instead of the architecture's {len(expected)}"
                + (f" (extra kinds: {', '.join(extra)})" if extra else ""))
    for i, (got, op) in enumerate(zip(configs, expected)):
        if got != op.config:
            return f"operator {i} is {_describe(got)}, the architecture has {op.name}: {_describe(op.config)}"
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        return "the model must have one input and one output"
    tensor_of = {arch.graph().input: model.inputs[0]}
    for i, (mop, op) in enumerate(zip(model.operators, expected)):
        reads = sorted(t for t in mop.inputs if t >= 0 and not model.tensors[t].is_constant)
        wanted = sorted(tensor_of[t] for t in op.inputs)
        if reads != wanted:
            return f"operator {i} ({op.name}) reads other activations than the architecture's"
        outputs = [t for t in mop.outputs if t >= 0]
        if len(outputs) != 1:
            return f"operator {i} ({op.name}) has {len(outputs)} outputs"
        tensor_of[op.output] = outputs[0]
    if model.outputs[0] != tensor_of[arch.graph().output]:
        return "the model's output is not the architecture's last operator"
    for t in model.tensors:
        if not t.is_constant and t.dtype != "int8":
            return f"activation tensor {t.index} ({t.name}) is {t.dtype}, not int8"
    return None
