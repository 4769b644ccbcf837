"""A small, bounds-checked reader for TFLite flatbuffers (schema.fbs), written with `struct`.

Why hand-written: lut_store must not depend on TensorFlow or on generated flatbuffer code, and a
model file is user input, so every offset is checked before it is followed. Anything malformed
raises `InputError("<source>: not a valid TFLite flatbuffer: <reason>")`; no IndexError or
struct.error escapes.

Flatbuffer recap (what the reader relies on): the file starts with a uoffset to the root table and
the 4-byte file identifier "TFL3". A table starts with an soffset to its vtable; the vtable holds
(vtable size, table size, field offsets...). Field id i lives at vtable entry 4 + 2*i; an absent
field (entry 0) takes the schema default. Offsets to tables, vectors and strings are unsigned and
relative to where they are stored; vectors and strings are a uint32 length followed by elements.
Field ids below are those of tensorflow/lite/schema/schema.fbs.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NoReturn

from .errors import InputError

__all__ = ["BUILTIN_OPERATORS", "Operator", "Subgraph", "Tensor", "TfliteModel",
           "add_metadata_buffer", "read_model"]

FILE_IDENTIFIER = b"TFL3"

# BuiltinOperator enum of schema.fbs (value = list index).
BUILTIN_OPERATORS: tuple[str, ...] = (
    "ADD", "AVERAGE_POOL_2D", "CONCATENATION", "CONV_2D", "DEPTHWISE_CONV_2D", "DEPTH_TO_SPACE",
    "DEQUANTIZE", "EMBEDDING_LOOKUP", "FLOOR", "FULLY_CONNECTED", "HASHTABLE_LOOKUP",
    "L2_NORMALIZATION", "L2_POOL_2D", "LOCAL_RESPONSE_NORMALIZATION", "LOGISTIC", "LSH_PROJECTION",
    "LSTM", "MAX_POOL_2D", "MUL", "RELU", "RELU_N1_TO_1", "RELU6", "RESHAPE", "RESIZE_BILINEAR",
    "RNN", "SOFTMAX", "SPACE_TO_DEPTH", "SVDF", "TANH", "CONCAT_EMBEDDINGS", "SKIP_GRAM", "CALL",
    "CUSTOM", "EMBEDDING_LOOKUP_SPARSE", "PAD", "UNIDIRECTIONAL_SEQUENCE_RNN", "GATHER",
    "BATCH_TO_SPACE_ND", "SPACE_TO_BATCH_ND", "TRANSPOSE", "MEAN", "SUB", "DIV", "SQUEEZE",
    "UNIDIRECTIONAL_SEQUENCE_LSTM", "STRIDED_SLICE", "BIDIRECTIONAL_SEQUENCE_RNN", "EXP", "TOPK_V2",
    "SPLIT", "LOG_SOFTMAX", "DELEGATE", "BIDIRECTIONAL_SEQUENCE_LSTM", "CAST", "PRELU", "MAXIMUM",
    "ARG_MAX", "MINIMUM", "LESS", "NEG", "PADV2", "GREATER", "GREATER_EQUAL", "LESS_EQUAL",
    "SELECT", "SLICE", "SIN", "TRANSPOSE_CONV", "SPARSE_TO_DENSE", "TILE", "EXPAND_DIMS", "EQUAL",
    "NOT_EQUAL", "LOG", "SUM", "SQRT", "RSQRT", "SHAPE", "POW", "ARG_MIN", "FAKE_QUANT",
    "REDUCE_PROD", "REDUCE_MAX", "PACK", "LOGICAL_OR", "ONE_HOT", "LOGICAL_AND", "LOGICAL_NOT",
    "UNPACK", "REDUCE_MIN", "FLOOR_DIV", "REDUCE_ANY", "SQUARE", "ZEROS_LIKE", "FILL", "FLOOR_MOD",
    "RANGE", "RESIZE_NEAREST_NEIGHBOR", "LEAKY_RELU", "SQUARED_DIFFERENCE", "MIRROR_PAD", "ABS",
    "SPLIT_V", "UNIQUE", "CEIL", "REVERSE_V2", "ADD_N", "GATHER_ND", "COS", "WHERE", "RANK", "ELU",
    "REVERSE_SEQUENCE", "MATRIX_DIAG", "QUANTIZE", "MATRIX_SET_DIAG", "ROUND", "HARD_SWISH", "IF",
    "WHILE", "NON_MAX_SUPPRESSION_V4", "NON_MAX_SUPPRESSION_V5", "SCATTER_ND", "SELECT_V2",
    "DENSIFY", "SEGMENT_SUM", "BATCH_MATMUL", "PLACEHOLDER_FOR_GREATER_OP_CODES", "CUMSUM",
    "CALL_ONCE", "BROADCAST_TO", "RFFT2D", "CONV_3D", "IMAG", "REAL", "COMPLEX_ABS", "HASHTABLE",
    "HASHTABLE_FIND", "HASHTABLE_IMPORT", "HASHTABLE_SIZE", "REDUCE_ALL", "CONV_3D_TRANSPOSE",
    "VAR_HANDLE", "READ_VARIABLE", "ASSIGN_VARIABLE", "BROADCAST_ARGS", "RANDOM_STANDARD_NORMAL",
    "BUCKETIZE", "RANDOM_UNIFORM", "MULTINOMIAL", "GELU", "DYNAMIC_UPDATE_SLICE", "RELU_0_TO_1",
    "UNSORTED_SEGMENT_PROD", "UNSORTED_SEGMENT_MAX", "UNSORTED_SEGMENT_SUM", "ATAN2",
    "UNSORTED_SEGMENT_MIN", "SIGN", "BITCAST", "BITWISE_XOR", "RIGHT_SHIFT", "STABLEHLO_LOGISTIC",
    "STABLEHLO_ADD", "STABLEHLO_DIVIDE", "STABLEHLO_MULTIPLY", "STABLEHLO_MAXIMUM",
    "STABLEHLO_RESHAPE", "STABLEHLO_CLAMP", "STABLEHLO_CONCATENATE", "STABLEHLO_BROADCAST_IN_DIM",
    "STABLEHLO_CONVOLUTION", "STABLEHLO_SLICE", "STABLEHLO_CUSTOM_CALL", "STABLEHLO_REDUCE",
    "STABLEHLO_ABS", "STABLEHLO_AND", "STABLEHLO_COSINE", "STABLEHLO_EXPONENTIAL",
    "STABLEHLO_FLOOR", "STABLEHLO_LOG", "STABLEHLO_MINIMUM", "STABLEHLO_NEGATE", "STABLEHLO_OR",
    "STABLEHLO_POWER", "STABLEHLO_REMAINDER", "STABLEHLO_RSQRT", "STABLEHLO_SELECT",
    "STABLEHLO_SUBTRACT", "STABLEHLO_TANH", "STABLEHLO_SCATTER", "STABLEHLO_COMPARE",
    "STABLEHLO_CONVERT", "STABLEHLO_DYNAMIC_SLICE", "STABLEHLO_DYNAMIC_UPDATE_SLICE",
    "STABLEHLO_PAD", "STABLEHLO_IOTA", "STABLEHLO_DOT_GENERAL", "STABLEHLO_REDUCE_WINDOW",
    "STABLEHLO_SORT", "STABLEHLO_WHILE", "STABLEHLO_GATHER", "STABLEHLO_TRANSPOSE", "DILATE",
    "STABLEHLO_RNG_BIT_GENERATOR", "REDUCE_WINDOW", "STABLEHLO_COMPOSITE", "STABLEHLO_SHIFT_LEFT",
    "STABLEHLO_CBRT", "STABLEHLO_CASE",
)

# TensorType enum -> (name, itemsize). Item sizes follow TFLM's TfLiteTypeSizeOf; the sub-byte and
# opaque types (string, resource, variant, int2/int4/uint4) have no fixed per-element size (0).
_TENSOR_TYPES: tuple[tuple[str, int], ...] = (
    ("float32", 4), ("float16", 2), ("int32", 4), ("uint8", 1), ("int64", 8), ("string", 0),
    ("bool", 1), ("int16", 2), ("complex64", 8), ("int8", 1), ("float64", 8), ("complex128", 16),
    ("uint64", 8), ("resource", 0), ("variant", 0), ("uint32", 4), ("uint16", 2), ("int4", 0),
    ("bfloat16", 2), ("int2", 0), ("uint4", 0), ("float8_e4m3fn", 1), ("float8_e5m2", 1),
)

_ACTIVATIONS = ("none", "relu", "relu_n1_to_1", "relu6", "tanh", "sign_bit")
_PADDINGS = ("same", "valid")

# BuiltinOptions union type ids (schema.fbs) of the option tables decoded below.
_OPT_CONV2D, _OPT_DEPTHWISE, _OPT_POOL2D, _OPT_FULLY_CONNECTED, _OPT_SOFTMAX = 1, 2, 5, 8, 9
_OPT_CONCATENATION, _OPT_ADD, _OPT_RESHAPE, _OPT_MUL = 10, 11, 17, 21
_OPT_REDUCER, _OPT_SUB = 27, 28
_OPT_SQUEEZE, _OPT_STRIDED_SLICE, _OPT_TRANSPOSE_CONV, _OPT_LEAKY_RELU = 30, 32, 49, 75
_OPT_IF, _OPT_WHILE, _OPT_CALL_ONCE = 92, 93, 103


@dataclass(frozen=True)
class Tensor:
    index: int
    name: str
    shape: tuple[int, ...]
    dtype: str
    nbytes: int                 # elements x itemsize, as TFLM's TfLiteEvalTensorByteLength
    is_constant: bool           # its buffer carries data (weights, biases, axis constants)
    is_variable: bool
    buffer: int = 0
    scale: tuple[float, ...] = ()
    zero_point: tuple[int, ...] = ()


@dataclass(frozen=True)
class Operator:
    index: int
    op: str                     # builtin name as in TFLite ("CONV_2D", "MEAN", ...)
    inputs: tuple[int, ...]     # -1 = optional input absent
    outputs: tuple[int, ...]
    intermediates: tuple[int, ...] = ()
    options: Mapping[str, object] = field(default_factory=dict, hash=False)
    builtin_code: int = 0
    version: int = 1


@dataclass(frozen=True)
class Subgraph:
    name: str
    tensors: tuple[Tensor, ...]
    operators: tuple[Operator, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]


@dataclass(frozen=True)
class TfliteModel:
    """A decoded model. `tensors`/`operators`/`inputs`/`outputs` are those of subgraph 0, the one
    that is costed; all subgraphs are kept for the memory planner (control flow, tensor count)."""

    source: str
    version: int
    subgraphs: tuple[Subgraph, ...]
    metadata: Mapping[str, bytes] = field(hash=False)
    flash_bytes: int
    description: str = ""

    @property
    def tensors(self) -> tuple[Tensor, ...]:
        return self.subgraphs[0].tensors

    @property
    def operators(self) -> tuple[Operator, ...]:
        return self.subgraphs[0].operators

    @property
    def inputs(self) -> tuple[int, ...]:
        return self.subgraphs[0].inputs

    @property
    def outputs(self) -> tuple[int, ...]:
        return self.subgraphs[0].outputs

    @property
    def num_subgraphs(self) -> int:
        return len(self.subgraphs)


class _Buf:
    """Bounds-checked primitive reads over the raw bytes; every failure names the source."""

    def __init__(self, data: bytes, source: str) -> None:
        self.data = data
        self.source = source

    def fail(self, reason: str) -> NoReturn:
        raise InputError(f"{self.source}: not a valid TFLite flatbuffer: {reason}")

    def unpack(self, fmt: str, pos: int, what: str):
        size = struct.calcsize(fmt)
        if pos < 0 or pos + size > len(self.data):
            self.fail(f"{what} at byte {pos} is outside the file ({len(self.data)} bytes)")
        return struct.unpack_from(fmt, self.data, pos)[0]

    def follow(self, pos: int, what: str) -> int:
        """Target of the uoffset stored at `pos`."""
        target = pos + self.unpack("<I", pos, what)
        if target >= len(self.data):
            self.fail(f"{what} points to byte {target}, past the end of the file")
        return target

    def table(self, pos: int, what: str) -> _Table:
        vtable = pos - self.unpack("<i", pos, what)
        vt_size = self.unpack("<H", vtable, f"vtable of {what}")
        if vt_size < 4 or vt_size % 2:
            self.fail(f"vtable of {what} has an invalid size {vt_size}")
        if vtable + vt_size > len(self.data):
            self.fail(f"vtable of {what} runs past the end of the file")
        return _Table(self, pos, vtable, vt_size, what)

    def vector(self, pos: int, elem_size: int, what: str) -> tuple[int, int]:
        """(first element position, length) of the vector whose length prefix is at `pos`."""
        n = self.unpack("<I", pos, f"length of {what}")
        start = pos + 4
        if start + n * elem_size > len(self.data):
            self.fail(f"{what} claims {n} elements, more than the file can hold")
        return start, n


class _Table:
    def __init__(self, buf: _Buf, pos: int, vtable: int, vt_size: int, what: str) -> None:
        self.buf, self.pos, self.vtable, self.vt_size, self.what = buf, pos, vtable, vt_size, what

    def _field_pos(self, fid: int) -> int | None:
        entry = 4 + 2 * fid
        if entry + 2 > self.vt_size:
            return None
        rel = self.buf.unpack("<H", self.vtable + entry, f"vtable of {self.what}")
        return self.pos + rel if rel else None

    def scalar(self, fid: int, fmt: str, default, name: str):
        pos = self._field_pos(fid)
        return default if pos is None else self.buf.unpack(fmt, pos, f"{self.what}.{name}")

    def table(self, fid: int, name: str) -> _Table | None:
        pos = self._field_pos(fid)
        if pos is None:
            return None
        what = f"{self.what}.{name}"
        return self.buf.table(self.buf.follow(pos, what), what)

    def _vector(self, fid: int, elem_size: int, name: str) -> tuple[int, int, str] | None:
        pos = self._field_pos(fid)
        if pos is None:
            return None
        what = f"{self.what}.{name}"
        start, n = self.buf.vector(self.buf.follow(pos, what), elem_size, what)
        return start, n, what

    def numbers(self, fid: int, fmt: str, name: str) -> tuple:
        vec = self._vector(fid, struct.calcsize(fmt), name)
        if vec is None:
            return ()
        start, n, _ = vec
        return struct.unpack_from(f"<{n}{fmt[-1]}", self.buf.data, start)

    def raw(self, fid: int, name: str) -> bytes:
        vec = self._vector(fid, 1, name)
        if vec is None:
            return b""
        start, n, _ = vec
        return bytes(self.buf.data[start:start + n])

    def string(self, fid: int, name: str) -> str:
        return self.raw(fid, name).decode("utf-8", errors="replace")

    def tables(self, fid: int, name: str) -> list[_Table]:
        vec = self._vector(fid, 4, name)
        if vec is None:
            return []
        start, n, what = vec
        return [self.buf.table(self.buf.follow(start + 4 * i, f"{what}[{i}]"), f"{what}[{i}]")
                for i in range(n)]


def read_model(data: bytes, source: str = "<bytes>") -> TfliteModel:
    """Decode a .tflite flatbuffer. Raises InputError naming `source` if it is malformed."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise InputError(f"{source}: expected the bytes of a .tflite file, "
                         f"got {type(data).__name__}")
    data = bytes(data)
    buf = _Buf(data, source)
    if len(data) < 8:
        buf.fail(f"file is only {len(data)} bytes long")
    if data[4:8] != FILE_IDENTIFIER:
        buf.fail(f"file identifier is {data[4:8]!r}, expected {FILE_IDENTIFIER!r}")
    model = buf.table(buf.follow(0, "root offset"), "Model")

    # Model: 0 version, 1 operator_codes, 2 subgraphs, 3 description, 4 buffers, 6 metadata.
    buffers = [_buffer_span(buf, t) for t in model.tables(4, "buffers")]
    opcodes = [_opcode(buf, t) for t in model.tables(1, "operator_codes")]
    subgraph_tables = model.tables(2, "subgraphs")
    if not subgraph_tables:
        buf.fail("the model has no subgraph")
    subgraphs = tuple(_subgraph(buf, t, i, buffers, opcodes, len(subgraph_tables))
                      for i, t in enumerate(subgraph_tables))

    metadata: dict[str, bytes] = {}
    for i, t in enumerate(model.tables(6, "metadata")):
        name = t.string(0, "name")
        index = t.scalar(1, "<I", 0, "buffer")
        if index >= len(buffers):
            buf.fail(f"metadata[{i}] ({name!r}) refers to buffer {index} of {len(buffers)}")
        start, length = buffers[index]
        metadata[name] = data[start:start + length]   # a repeated name: the last one wins (TFLM)

    return TfliteModel(source=source, version=model.scalar(0, "<I", 0, "version"),
                       subgraphs=subgraphs, metadata=metadata, flash_bytes=len(data),
                       description=model.string(3, "description"))


def _buffer_span(buf: _Buf, t: _Table) -> tuple[int, int]:
    """(start, length) of a Buffer's bytes in the file; spans, not copies, because the weights
    are most of a model. Buffer: 0 data, 1 offset, 2 size. Models > 2 GB keep the data outside
    the flatbuffer, addressed by an absolute file offset (offset 0/1 mean "none")."""
    vec = t._vector(0, 1, "data")
    if vec is not None and vec[1]:
        return vec[0], vec[1]
    offset = t.scalar(1, "<Q", 0, "offset")
    size = t.scalar(2, "<Q", 0, "size")
    if offset > 1 and size:
        if offset + size > len(buf.data):
            buf.fail(f"{t.what} points outside the file (offset {offset}, size {size})")
        return offset, size
    return 0, 0


def _opcode(buf: _Buf, t: _Table) -> tuple[int, int, str]:
    """OperatorCode: 0 deprecated_builtin_code (int8), 1 custom_code, 2 version, 3 builtin_code.
    The real code is the larger of the two builtin fields (schema_utils' GetBuiltinCode)."""
    code = max(t.scalar(0, "<b", 0, "deprecated_builtin_code"),
               t.scalar(3, "<i", 0, "builtin_code"))
    return code, t.scalar(2, "<i", 1, "version"), t.string(1, "custom_code")


def _subgraph(buf: _Buf, t: _Table, sg_index: int, buffers: list[tuple[int, int]],
              opcodes: list[tuple[int, int, str]], n_subgraphs: int) -> Subgraph:
    """SubGraph: 0 tensors, 1 inputs, 2 outputs, 3 operators, 4 name."""
    tensors = tuple(_tensor(buf, tt, i, buffers) for i, tt in enumerate(t.tables(0, "tensors")))
    n = len(tensors)

    def indices(values: tuple[int, ...], what: str, optional: bool) -> tuple[int, ...]:
        for v in values:
            if not (0 <= v < n or (optional and v == -1)):
                buf.fail(f"subgraph {sg_index}: {what} refers to tensor {v} of {n}")
        return tuple(values)

    operators = []
    for i, ot in enumerate(t.tables(3, "operators")):
        # Operator: 0 opcode_index, 1 inputs, 2 outputs, 3 builtin_options_type,
        # 4 builtin_options, 8 intermediates.
        oi = ot.scalar(0, "<I", 0, "opcode_index")
        if oi >= len(opcodes):
            buf.fail(f"subgraph {sg_index} operator {i} uses opcode {oi} of {len(opcodes)}")
        code, version, custom = opcodes[oi]
        name = BUILTIN_OPERATORS[code] if 0 <= code < len(BUILTIN_OPERATORS) else f"UNKNOWN_{code}"
        options = _options(ot, ot.scalar(3, "<B", 0, "builtin_options_type"))
        if name == "CUSTOM":
            options["custom_code"] = custom
        for key in ("then_subgraph", "else_subgraph", "cond_subgraph", "body_subgraph",
                    "init_subgraph"):
            if key in options and not 0 <= options[key] < n_subgraphs:
                buf.fail(f"subgraph {sg_index} operator {i} ({name}) calls subgraph "
                         f"{options[key]} of {n_subgraphs}")
        what = f"operator {i} ({name})"
        operators.append(Operator(
            index=i, op=name,
            inputs=indices(ot.numbers(1, "<i", "inputs"), f"{what} input", True),
            outputs=indices(ot.numbers(2, "<i", "outputs"), f"{what} output", True),
            intermediates=indices(ot.numbers(8, "<i", "intermediates"), f"{what} intermediate",
                                  True),
            options=options, builtin_code=code, version=version))
    return Subgraph(name=t.string(4, "name"), tensors=tensors, operators=tuple(operators),
                    inputs=indices(t.numbers(1, "<i", "inputs"), "input", False),
                    outputs=indices(t.numbers(2, "<i", "outputs"), "output", False))


def _tensor(buf: _Buf, t: _Table, index: int, buffers: list[tuple[int, int]]) -> Tensor:
    """Tensor: 0 shape, 1 type, 2 buffer, 3 name, 4 quantization, 5 is_variable."""
    shape = tuple(t.numbers(0, "<i", "shape"))
    type_id = t.scalar(1, "<b", 0, "type")
    dtype, itemsize = (_TENSOR_TYPES[type_id] if 0 <= type_id < len(_TENSOR_TYPES)
                       else (f"type_{type_id}", 0))
    buffer = t.scalar(2, "<I", 0, "buffer")
    if buffer >= len(buffers):
        buf.fail(f"{t.what} refers to buffer {buffer} of {len(buffers)}")
    elements = 1
    for d in shape:
        elements *= max(d, 0)
    scale: tuple[float, ...] = ()
    zero_point: tuple[int, ...] = ()
    quant = t.table(4, "quantization")
    if quant is not None:   # QuantizationParameters: 2 scale, 3 zero_point
        scale = tuple(quant.numbers(2, "<f", "scale"))
        zero_point = tuple(quant.numbers(3, "<q", "zero_point"))
    return Tensor(index=index, name=t.string(3, "name"), shape=shape, dtype=dtype,
                  nbytes=elements * itemsize, is_constant=buffers[buffer][1] > 0,
                  is_variable=bool(t.scalar(5, "<B", 0, "is_variable")), buffer=buffer,
                  scale=scale, zero_point=zero_point)


def _options(op: _Table, kind: int) -> dict[str, object]:
    """Decode the builtin options the cost model needs; other option tables decode to {}.
    Defaults are those of schema.fbs (absent field = default)."""
    if kind == 0:
        return {}
    t = op.table(4, "builtin_options")
    if t is None:
        return {}

    def i32(fid: int, default: int, name: str) -> int:
        return t.scalar(fid, "<i", default, name)

    def enum(fid: int, names: tuple[str, ...], name: str) -> str:
        v = t.scalar(fid, "<b", 0, name)
        return names[v] if 0 <= v < len(names) else f"unknown_{v}"

    def flag(fid: int, default: bool, name: str) -> bool:
        return bool(t.scalar(fid, "<B", int(default), name))

    if kind in (_OPT_CONV2D, _OPT_DEPTHWISE):
        # Conv2D: 0 padding, 1 stride_w, 2 stride_h, 3 activation, 4 dilation_w, 5 dilation_h.
        # Depthwise: 0 padding, 1 stride_w, 2 stride_h, 3 depth_multiplier, 4 activation,
        # 5 dilation_w, 6 dilation_h.
        shift = 1 if kind == _OPT_DEPTHWISE else 0
        out = {"padding": enum(0, _PADDINGS, "padding"), "stride_w": i32(1, 0, "stride_w"),
               "stride_h": i32(2, 0, "stride_h"),
               "activation": enum(3 + shift, _ACTIVATIONS, "fused_activation_function"),
               "dilation_w": i32(4 + shift, 1, "dilation_w_factor"),
               "dilation_h": i32(5 + shift, 1, "dilation_h_factor")}
        if kind == _OPT_DEPTHWISE:
            out["depth_multiplier"] = i32(3, 0, "depth_multiplier")
        return out
    if kind == _OPT_POOL2D:
        return {"padding": enum(0, _PADDINGS, "padding"), "stride_w": i32(1, 0, "stride_w"),
                "stride_h": i32(2, 0, "stride_h"), "filter_w": i32(3, 0, "filter_width"),
                "filter_h": i32(4, 0, "filter_height"),
                "activation": enum(5, _ACTIVATIONS, "fused_activation_function")}
    if kind == _OPT_TRANSPOSE_CONV:
        return {"padding": enum(0, _PADDINGS, "padding"), "stride_w": i32(1, 0, "stride_w"),
                "stride_h": i32(2, 0, "stride_h"),
                "activation": enum(3, _ACTIVATIONS, "fused_activation_function")}
    if kind == _OPT_FULLY_CONNECTED:
        return {"activation": enum(0, _ACTIVATIONS, "fused_activation_function"),
                "keep_num_dims": flag(2, False, "keep_num_dims")}
    if kind in (_OPT_ADD, _OPT_SUB, _OPT_MUL):
        return {"activation": enum(0, _ACTIVATIONS, "fused_activation_function")}
    if kind == _OPT_CONCATENATION:
        return {"axis": i32(0, 0, "axis"),
                "activation": enum(1, _ACTIVATIONS, "fused_activation_function")}
    if kind == _OPT_SOFTMAX:
        return {"beta": t.scalar(0, "<f", 0.0, "beta")}
    if kind == _OPT_LEAKY_RELU:
        return {"alpha": t.scalar(0, "<f", 0.0, "alpha")}
    if kind == _OPT_REDUCER:
        return {"keep_dims": flag(0, False, "keep_dims")}
    if kind == _OPT_RESHAPE:
        return {"new_shape": tuple(t.numbers(0, "<i", "new_shape"))}
    if kind == _OPT_SQUEEZE:
        return {"squeeze_dims": tuple(t.numbers(0, "<i", "squeeze_dims"))}
    if kind == _OPT_STRIDED_SLICE:
        return {"begin_mask": i32(0, 0, "begin_mask"), "end_mask": i32(1, 0, "end_mask"),
                "ellipsis_mask": i32(2, 0, "ellipsis_mask"),
                "new_axis_mask": i32(3, 0, "new_axis_mask"),
                "shrink_axis_mask": i32(4, 0, "shrink_axis_mask")}
    if kind == _OPT_IF:
        return {"then_subgraph": i32(0, 0, "then_subgraph_index"),
                "else_subgraph": i32(1, 0, "else_subgraph_index")}
    if kind == _OPT_WHILE:
        return {"cond_subgraph": i32(0, 0, "cond_subgraph_index"),
                "body_subgraph": i32(1, 0, "body_subgraph_index")}
    if kind == _OPT_CALL_ONCE:
        return {"init_subgraph": i32(0, 0, "init_subgraph_index")}
    return {}


# --- Editing: add a metadata entry -------------------------------------------------------------
#
# Flatbuffer offsets only point forward, so new vectors cannot simply be appended after the objects
# they list. Instead a block is inserted right after the 8-byte header: it holds a new Model table
# (copying every field of the old one, with `buffers` and `metadata` replaced by new vectors that
# list the old entries plus the new ones), the new Buffer and Metadata tables and their data. All
# old objects move by the block's length together, so their relative offsets stay valid; only the
# root offset changes. The block length is a multiple of 16 so that the old buffers keep the 16-byte
# alignment the converter gave them. The old Model table stays behind, unreferenced.

_EDIT_ALIGNMENT = 16
_MODEL_OFFSET_FIELDS = frozenset(range(1, 10))   # operator_codes ... external_buffers


def add_metadata_buffer(data: bytes, name: str, payload: bytes, source: str = "<bytes>") -> bytes:
    """Return a copy of the flatbuffer `data` with a new buffer holding `payload` and a metadata
    entry `name` pointing to it; existing metadata entries called `name` are dropped."""
    read_model(data, source)                       # validates everything followed below
    buf = _Buf(bytes(data), source)
    root = buf.follow(0, "root offset")
    model = buf.table(root, "Model")
    n_fields = (model.vt_size - 4) // 2
    present = [fid for fid in range(n_fields) if model._field_pos(fid) is not None]
    unknown = [fid for fid in present if fid != 0 and fid not in _MODEL_OFFSET_FIELDS]
    if unknown:
        buf.fail(f"Model has fields {unknown} this editor does not know; refusing to rewrite it")

    buffer_tables = [t.pos for t in model.tables(4, "buffers")]
    for i, pos in enumerate(buffer_tables):
        t = buf.table(pos, f"buffers[{i}]")
        if t.scalar(1, "<Q", 0, "offset") > 1:
            buf.fail("buffers stored outside the flatbuffer (absolute offsets) are not supported")
    metadata_tables = [t.pos for t in model.tables(6, "metadata") if t.string(0, "name") != name]
    new_buffer_index = len(buffer_tables)

    block = _BlockWriter(base=8)
    fields = sorted(set(present) | {4, 6})
    vt_model = block.vtable(len(fields), max(fields) + 1, fields)
    model_pos = block.table(vt_model, len(fields))
    slots = {fid: model_pos + 4 + 4 * k for k, fid in enumerate(fields)}
    buffers_vec = block.vector(len(buffer_tables) + 1)
    metadata_vec = block.vector(len(metadata_tables) + 1)
    vt_meta = block.vtable(2, 2, [0, 1])
    meta_pos = block.table(vt_meta, 2)
    name_pos = block.string(name.encode("utf-8"))
    vt_buffer = block.vtable(1, 1, [0])
    buffer_pos = block.table(vt_buffer, 1)
    payload_pos = block.bytes_vector(payload, _EDIT_ALIGNMENT)
    shift = block.finish(_EDIT_ALIGNMENT)

    def old(pos: int) -> int:                       # where an old object ends up
        return pos + shift

    for fid in fields:
        slot = slots[fid]
        if fid == 0:
            block.put("<I", slot, model.scalar(0, "<I", 0, "version"))
        elif fid == 4:
            block.uoffset(slot, buffers_vec)
        elif fid == 6:
            block.uoffset(slot, metadata_vec)
        else:
            block.uoffset(slot, old(buf.follow(model._field_pos(fid), f"Model field {fid}")))
    for k, pos in enumerate(buffer_tables):
        block.uoffset(buffers_vec + 4 + 4 * k, old(pos))
    block.uoffset(buffers_vec + 4 + 4 * len(buffer_tables), buffer_pos)
    for k, pos in enumerate(metadata_tables):
        block.uoffset(metadata_vec + 4 + 4 * k, old(pos))
    block.uoffset(metadata_vec + 4 + 4 * len(metadata_tables), meta_pos)
    block.uoffset(meta_pos + 4, name_pos)
    block.put("<I", meta_pos + 8, new_buffer_index)
    block.uoffset(buffer_pos + 4, payload_pos)

    out = bytearray(data[:8]) + block.data + bytearray(data[8:])
    struct.pack_into("<I", out, 0, model_pos)
    return bytes(out)


class _BlockWriter:
    """Lays out new flatbuffer objects front to back at known absolute positions."""

    def __init__(self, base: int) -> None:
        self.base = base
        self.data = bytearray()

    def _pad(self, alignment: int, extra: int = 0) -> None:
        while (self.base + len(self.data) + extra) % alignment:
            self.data.append(0)

    def _here(self) -> int:
        return self.base + len(self.data)

    def put(self, fmt: str, pos: int, value) -> None:
        struct.pack_into(fmt, self.data, pos - self.base, value)

    def uoffset(self, slot: int, target: int) -> None:
        assert target > slot, "flatbuffer offsets must point forward"
        self.put("<I", slot, target - slot)

    def vtable(self, n_slots: int, n_fields: int, fields: list[int]) -> int:
        """A vtable for a table whose present `fields` are stored in order, 4 bytes each."""
        self._pad(2)
        pos = self._here()
        entries = [0] * n_fields
        for k, fid in enumerate(fields):
            entries[fid] = 4 + 4 * k
        self.data += struct.pack(f"<HH{n_fields}H", 4 + 2 * n_fields, 4 + 4 * n_slots, *entries)
        return pos

    def table(self, vtable: int, n_slots: int) -> int:
        self._pad(4)
        pos = self._here()
        self.data += struct.pack("<i", pos - vtable) + bytes(4 * n_slots)
        return pos

    def vector(self, n: int) -> int:
        self._pad(4)
        pos = self._here()
        self.data += struct.pack("<I", n) + bytes(4 * n)
        return pos

    def string(self, raw: bytes) -> int:
        self._pad(4)
        pos = self._here()
        self.data += struct.pack("<I", len(raw)) + raw + b"\0"
        return pos

    def bytes_vector(self, raw: bytes, alignment: int) -> int:
        self._pad(alignment, extra=4)               # align the elements, not the length prefix
        pos = self._here()
        self.data += struct.pack("<I", len(raw)) + raw
        return pos

    def finish(self, alignment: int) -> int:
        self._pad(alignment)
        return len(self.data)
