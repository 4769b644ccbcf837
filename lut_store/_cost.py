"""Price a real int8 .tflite model on a board: latency from the LUT (or the predictor, flagged),
the two memory figures (liveness lower bound and what TFLM's planner really reserves), flash, and,
when TFLite-Micro is installed, the arena the real interpreter allocates."""

from __future__ import annotations

from ._lut import OpConfig
from ._pricing import LatencyModel
from .errors import InputError
from .memory import CMSIS_NN, arena_head_bytes, peak_activation_bytes
from .tflite import TfliteModel, read_model
from .tflm import tflm_arena

_CONV_OPS = {"CONV_2D", "DEPTHWISE_CONV_2D"}
_POOL_OPS = {"AVERAGE_POOL_2D", "MAX_POOL_2D"}


def op_configs(model: TfliteModel, source: str = "<model>") -> list[OpConfig]:
    """The LUT key of every operator of subgraph 0, in execution order."""
    configs = []
    for op in model.operators:
        inputs = [i for i in op.inputs if i >= 0]
        outputs = [i for i in op.outputs if i >= 0]
        if not inputs or not outputs:
            raise InputError(f"{source}: operator {op.index} ({op.op}) has no input or output")
        in_shape = model.tensors[inputs[0]].shape
        out_shape = model.tensors[outputs[0]].shape
        opts = op.options or {}
        kernel, stride, padding = (0, 0), (0, 0), ""
        if op.op in _CONV_OPS:
            if len(inputs) < 2:
                raise InputError(f"{source}: operator {op.index} ({op.op}) has no filter tensor")
            fshape = model.tensors[inputs[1]].shape  # OHWI (conv) / 1HWO (depthwise)
            kernel = (int(fshape[1]), int(fshape[2]))
            stride = (int(opts.get("stride_h", 1)), int(opts.get("stride_w", 1)))
            padding = str(opts.get("padding", "same"))
        elif op.op in _POOL_OPS:
            kernel = (int(opts.get("filter_h", 1)), int(opts.get("filter_w", 1)))
            stride = (int(opts.get("stride_h", 1)), int(opts.get("stride_w", 1)))
            padding = str(opts.get("padding", "same"))
        activation = str(opts.get("activation", "none")).lower()
        configs.append(OpConfig(op=op.op, input_shape=tuple(in_shape), output_shape=tuple(out_shape),
                                kernel=kernel, stride=stride, padding=padding, activation=activation))
    return configs


def price_model(data: bytes, latency: LatencyModel, source: str = "<model>",
                use_tflm: bool = True) -> dict:
    """Everything `micronas cost --json` prints, as a dict."""
    model = read_model(data, source)
    configs = op_configs(model, source)
    unpriceable = [c for c in configs if not latency.can_price(c)]
    if unpriceable:
        c = unpriceable[0]
        raise InputError(f"{source}: op {c.op} with input {list(c.input_shape)} is neither measured "
                         f"in the LUT nor predictable on {latency.mcu.name}")
    ops = []
    for op, config in zip(model.operators, configs):
        cost = latency.price(config)
        ops.append({
            "index": op.index, "op": config.op, "input_shape": list(config.input_shape),
            "output_shape": list(config.output_shape), "kernel": list(config.kernel),
            "stride": list(config.stride), "padding": config.padding,
            "activation": config.activation, "cycles": cost.cycles,
            "overhead_cycles": cost.overhead_cycles, "source": cost.source,
            **({"donor": cost.donor} if cost.donor else {}),
        })
    kernel = sum(o["cycles"] for o in ops)
    overhead = sum(o["overhead_cycles"] for o in ops)
    arena = tflm_arena(data) if use_tflm else None
    mcu = latency.mcu
    return {
        "model": source, "mcu": mcu.name, "clock_hz": mcu.clock_hz,
        "latency_ms": mcu.cycles_to_ms(kernel + overhead),
        "kernel_cycles": kernel, "overhead_cycles": overhead,
        "ops": ops, "unmeasured_ops": sum(o["source"] != "measured" for o in ops),
        "peak_activation_bytes": peak_activation_bytes(model),
        "planned_arena_head_bytes": arena_head_bytes(model),
        # What the board reserves: the same planner around the CMSIS-NN kernels' scratch.
        "board_arena_head_bytes": arena_head_bytes(model, kernels=CMSIS_NN),
        "offline_plan": "OfflineMemoryAllocation" in model.metadata,
        "tflm_arena_head_bytes": arena["head"] if arena else None,
        "tflm_arena_tail_bytes": arena["tail"] if arena else None,
        "tflm_arena_total_bytes": arena["total"] if arena else None,
        "flash_bytes": model.flash_bytes,
        "tflm_arena_needed_bytes": arena["needed"] if arena else None,
        "fits_sram": None if arena is None else arena["needed"] <= mcu.sram_bytes,
        "fits_flash": model.flash_bytes <= mcu.flash_bytes,
    }
