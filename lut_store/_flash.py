"""Flash of a deployment, priced before export: the int8 model's flatbuffer plus the runtime's code.

The model. Every byte of a .tflite that TF's converter writes for a tfmot-quantised Keras graph of
the search space (CONV_2D with bias and fused ReLU, ADD, MEAN, SOFTMAX) is one of: a constant
buffer (int8 weights, int32 biases, MEAN's axes; each padded to 4 bytes), a tensor's name
(a flatbuffer string: length, characters, NUL, padded to 4), a tensor's shape (4 bytes a
dimension), quantisation parameters (per channel a float32 scale and an int64 zero point: 12
bytes), or the tables around them — a fixed number per tensor and per operator, so one constant
per op kind, one for the model (header, operator codes, signature, metadata, the input tensor)
and one for ADD's operator code. The constants were fitted on 37 distinct models (9-90 KB)
exported by this project's runs and tests, with their offline memory plan (4 bytes per tensor,
folded into the per-op constants; tests/search_core/fixtures/flash_calibration.json): flatbuffer
alignment (of the buffers and the int64 zero-point vectors) moves the real size by a few bytes
either way, and `MODEL_FIXED_BYTES` carries the worst case, so on all of them the price is never
below the real size and at most 11 bytes above it. The tensor names are the converter's: they embed the Keras layer
names ("op004_sf0_branch5", `layer` below) under the Keras model's name, which the export fixes
(`TFLITE_MODEL_NAME`, as long as the "model_3" of the calibration files): an auto-generated one
grows a digit per ten models built in a process, a byte per occurrence (about ten per conv).

The runtime. Its code is measured once per core by linking the runner firmware
(`lut_store.target`, TFLM + CMSIS-NN) and recorded as data in
lut_store/target/firmware/runtime_flash.json, per set of registered kernels (the resolver links
exactly the model's ops: ADD's kernel is 12.6 KB). The model and the test windows are 16-byte
aligned in the image, so the measured figure moves by 8 bytes with the model's length mod 16; the
records are the larger one (an upper bound within 8 bytes). A board file may carry its own
`runtime_flash` (same shape as a core's entry: {"ADD+CONV_2D+...": bytes}) for its own
firmware; it wins over the core's record.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path

from ._lut import OpConfig
from ._mcu import Mcu
from .errors import InputError

RUNTIME_RECORDS = Path(__file__).parent / "target" / "firmware" / "runtime_flash.json"

MODEL_FIXED_BYTES = 1319          # the model's tables + the worst alignment seen (see above)
_OP_BYTES = {"CONV_2D": 302, "ADD": 121, "MEAN": 0, "SOFTMAX": 0}
ANY_ADD_BYTES = 26                # ADD's operator code entry, once per model that has one
_QUANT_BYTES = 12                 # one channel: float32 scale + int64 zero point
TFLITE_MODEL_NAME = "network"    # the exported Keras model's name, prefix of every tensor
_INPUT_NAME = "serving_default_input:0"
_OUTPUT_NAME = "StatefulPartitionedCall:0"
SEARCH_SPACE_OPS = frozenset(_OP_BYTES)


def _string(n_chars: int) -> int:
    return 4 + -(-(n_chars + 1) // 4) * 4


def _buffer(n_bytes: int) -> int:
    return -(-n_bytes // 4) * 4


def _tensor(name_chars: int, rank: int, channels: int = 1, data: int | None = None) -> int:
    return (_string(name_chars) + 4 * rank + _QUANT_BYTES * channels
            + (0 if data is None else _buffer(data)))


def op_flash_bytes(config: OpConfig, layer: str | int) -> int:
    """The flatbuffer bytes one operator adds: its constants, its output tensor and its tables.
    `layer` is the Keras layer's name (or its length: only the length counts)."""
    n = len(TFLITE_MODEL_NAME) + 1 + len("quant_") + (layer if isinstance(layer, int) else len(layer))
    out_rank = len(config.output_shape)
    if config.op == "CONV_2D":
        cin, cout = int(config.input_shape[-1]), int(config.output_shape[-1])
        weights = math.prod(config.kernel) * cin * cout
        w_name = 2 * n + len("/Conv2D;") + len("/LastValueQuant/FakeQuantWithMinMaxVarsPerChannel")
        b_name = (3 * n + len("/BiasAdd;/Conv2D;/BiasAdd/ReadVariableOp")
                  + (n + len("/Relu;") if config.activation == "relu" else 0))
        return (_OP_BYTES["CONV_2D"] + _tensor(w_name, 4, cout, weights)
                + _tensor(b_name, 1, cout, 4 * cout) + _tensor(b_name + 1, out_rank))
    if config.op == "ADD":
        return _OP_BYTES["ADD"] + _tensor(n + len("/add"), out_rank)
    if config.op == "MEAN":
        axes = len(config.input_shape) - len(config.output_shape)
        return (_OP_BYTES["MEAN"] + _tensor(n + len("/Mean/reduction_indices"), 1, 0, 4 * axes)
                + _tensor(n + len("/Mean"), out_rank))
    if config.op == "SOFTMAX":
        return _OP_BYTES["SOFTMAX"] + _tensor(len(_OUTPUT_NAME), out_rank)
    raise InputError(f"{config.op}: no flash price (the search space's ops are "
                     f"{', '.join(sorted(SEARCH_SPACE_OPS))})")


def model_fixed_bytes(input_rank: int = 4, has_add: bool = False) -> int:
    """What a model carries besides its operators: the tables, metadata and the input (and
    ADD's operator code when it has one)."""
    return (MODEL_FIXED_BYTES + _tensor(len(_INPUT_NAME), input_rank)
            + (ANY_ADD_BYTES if has_add else 0))


def model_flash_bytes(ops: Sequence[tuple[OpConfig, str]], input_rank: int = 4) -> int:
    """The .tflite's size (with its offline memory plan) of a graph of (op, layer name) pairs in
    execution order: at most 11 bytes above the exported file's, never below, on every model it
    was calibrated on (see the module docstring)."""
    has_add = any(c.op == "ADD" for c, _ in ops)
    return model_fixed_bytes(input_rank, has_add) + sum(op_flash_bytes(c, layer) for c, layer in ops)


@lru_cache(maxsize=1)
def _records() -> dict:
    try:
        doc = json.loads(RUNTIME_RECORDS.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:   # a broken install, not user input
        raise InputError(f"{RUNTIME_RECORDS}: not readable ({exc})") from None
    return doc["cores"]


def _op_set(ops: Iterable[str]) -> frozenset[str]:
    return frozenset(str(o).upper() for o in ops)


def runtime_table(mcu: Mcu) -> dict[frozenset[str], int]:
    """Runtime flash per set of registered kernels on `mcu`: its board file's `runtime_flash`,
    else its core's record."""
    table = mcu.runtime_flash if mcu.runtime_flash is not None else \
        _records().get(mcu.core_family)
    if not table:
        raise InputError(f"{mcu.name}: no runtime code size for core {mcu.core} (recorded for "
                         f"{', '.join(sorted(_records()))}); add \"runtime_flash\" to its board "
                         f"file, measured by `lut_store.target` (flash \"runtime\" of a linked image)")
    return {_op_set(key.split("+")): int(v) for key, v in table.items()}


def runtime_flash_bytes(mcu: Mcu, ops: Iterable[str]) -> int:
    """The runtime's code for a model using the op kinds `ops`: the recorded set of kernels that
    covers them with the least code (exact when the set itself is recorded)."""
    need = _op_set(ops)
    covering = [v for have, v in runtime_table(mcu).items() if need <= have]
    if not covering:
        raise InputError(f"{mcu.name}: no runtime code size recorded for the kernels "
                         f"{', '.join(sorted(need))}")
    return min(covering)
