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

from ..errors import InputError
from ._schema import (
    ACTIVATIONS,
    BUILTIN_OPERATORS,
    FILE_IDENTIFIER,
    OPT_ADD,
    OPT_CALL_ONCE,
    OPT_CONCATENATION,
    OPT_CONV2D,
    OPT_DEPTHWISE,
    OPT_FULLY_CONNECTED,
    OPT_IF,
    OPT_LEAKY_RELU,
    OPT_MUL,
    OPT_POOL2D,
    OPT_REDUCER,
    OPT_RESHAPE,
    OPT_SOFTMAX,
    OPT_SQUEEZE,
    OPT_STRIDED_SLICE,
    OPT_SUB,
    OPT_TRANSPOSE_CONV,
    OPT_WHILE,
    PADDINGS,
    TENSOR_TYPES,
)


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


class Flatbuffer:
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

    def table(self, pos: int, what: str) -> Table:
        vtable = pos - self.unpack("<i", pos, what)
        vt_size = self.unpack("<H", vtable, f"vtable of {what}")
        if vt_size < 4 or vt_size % 2:
            self.fail(f"vtable of {what} has an invalid size {vt_size}")
        if vtable + vt_size > len(self.data):
            self.fail(f"vtable of {what} runs past the end of the file")
        return Table(self, pos, vtable, vt_size, what)

    def vector(self, pos: int, elem_size: int, what: str) -> tuple[int, int]:
        """(first element position, length) of the vector whose length prefix is at `pos`."""
        n = self.unpack("<I", pos, f"length of {what}")
        start = pos + 4
        if start + n * elem_size > len(self.data):
            self.fail(f"{what} claims {n} elements, more than the file can hold")
        return start, n


class Table:
    """One flatbuffer table: its fields by id, absent ones taking the schema default."""

    def __init__(self, buf: Flatbuffer, pos: int, vtable: int, vt_size: int, what: str) -> None:
        self.buf, self.pos, self.vtable, self.vt_size, self.what = buf, pos, vtable, vt_size, what

    def field_pos(self, fid: int) -> int | None:
        entry = 4 + 2 * fid
        if entry + 2 > self.vt_size:
            return None
        rel = self.buf.unpack("<H", self.vtable + entry, f"vtable of {self.what}")
        return self.pos + rel if rel else None

    def scalar(self, fid: int, fmt: str, default, name: str):
        pos = self.field_pos(fid)
        return default if pos is None else self.buf.unpack(fmt, pos, f"{self.what}.{name}")

    def table(self, fid: int, name: str) -> Table | None:
        pos = self.field_pos(fid)
        if pos is None:
            return None
        what = f"{self.what}.{name}"
        return self.buf.table(self.buf.follow(pos, what), what)

    def vector_at(self, fid: int, elem_size: int, name: str) -> tuple[int, int, str] | None:
        pos = self.field_pos(fid)
        if pos is None:
            return None
        what = f"{self.what}.{name}"
        start, n = self.buf.vector(self.buf.follow(pos, what), elem_size, what)
        return start, n, what

    def numbers(self, fid: int, fmt: str, name: str) -> tuple:
        vec = self.vector_at(fid, struct.calcsize(fmt), name)
        if vec is None:
            return ()
        start, n, _ = vec
        return struct.unpack_from(f"<{n}{fmt[-1]}", self.buf.data, start)

    def raw(self, fid: int, name: str) -> bytes:
        vec = self.vector_at(fid, 1, name)
        if vec is None:
            return b""
        start, n, _ = vec
        return bytes(self.buf.data[start:start + n])

    def string(self, fid: int, name: str) -> str:
        return self.raw(fid, name).decode("utf-8", errors="replace")

    def tables(self, fid: int, name: str) -> list[Table]:
        vec = self.vector_at(fid, 4, name)
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
    buf = Flatbuffer(data, source)
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


def _buffer_span(buf: Flatbuffer, t: Table) -> tuple[int, int]:
    """(start, length) of a Buffer's bytes in the file; spans, not copies, because the weights
    are most of a model. Buffer: 0 data, 1 offset, 2 size. Models > 2 GB keep the data outside
    the flatbuffer, addressed by an absolute file offset (offset 0/1 mean "none")."""
    vec = t.vector_at(0, 1, "data")
    if vec is not None and vec[1]:
        return vec[0], vec[1]
    offset = t.scalar(1, "<Q", 0, "offset")
    size = t.scalar(2, "<Q", 0, "size")
    if offset > 1 and size:
        if offset + size > len(buf.data):
            buf.fail(f"{t.what} points outside the file (offset {offset}, size {size})")
        return offset, size
    return 0, 0


def _opcode(buf: Flatbuffer, t: Table) -> tuple[int, int, str]:
    """OperatorCode: 0 deprecated_builtin_code (int8), 1 custom_code, 2 version, 3 builtin_code.
    The real code is the larger of the two builtin fields (schema_utils' GetBuiltinCode)."""
    code = max(t.scalar(0, "<b", 0, "deprecated_builtin_code"),
               t.scalar(3, "<i", 0, "builtin_code"))
    return code, t.scalar(2, "<i", 1, "version"), t.string(1, "custom_code")


def _subgraph(buf: Flatbuffer, t: Table, sg_index: int, buffers: list[tuple[int, int]],
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


def _tensor(buf: Flatbuffer, t: Table, index: int, buffers: list[tuple[int, int]]) -> Tensor:
    """Tensor: 0 shape, 1 type, 2 buffer, 3 name, 4 quantization, 5 is_variable."""
    shape = tuple(t.numbers(0, "<i", "shape"))
    type_id = t.scalar(1, "<b", 0, "type")
    dtype, itemsize = (TENSOR_TYPES[type_id] if 0 <= type_id < len(TENSOR_TYPES)
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


def _options(op: Table, kind: int) -> dict[str, object]:
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

    if kind in (OPT_CONV2D, OPT_DEPTHWISE):
        # Conv2D: 0 padding, 1 stride_w, 2 stride_h, 3 activation, 4 dilation_w, 5 dilation_h.
        # Depthwise: 0 padding, 1 stride_w, 2 stride_h, 3 depth_multiplier, 4 activation,
        # 5 dilation_w, 6 dilation_h.
        shift = 1 if kind == OPT_DEPTHWISE else 0
        out = {"padding": enum(0, PADDINGS, "padding"), "stride_w": i32(1, 0, "stride_w"),
               "stride_h": i32(2, 0, "stride_h"),
               "activation": enum(3 + shift, ACTIVATIONS, "fused_activation_function"),
               "dilation_w": i32(4 + shift, 1, "dilation_w_factor"),
               "dilation_h": i32(5 + shift, 1, "dilation_h_factor")}
        if kind == OPT_DEPTHWISE:
            out["depth_multiplier"] = i32(3, 0, "depth_multiplier")
        return out
    if kind == OPT_POOL2D:
        return {"padding": enum(0, PADDINGS, "padding"), "stride_w": i32(1, 0, "stride_w"),
                "stride_h": i32(2, 0, "stride_h"), "filter_w": i32(3, 0, "filter_width"),
                "filter_h": i32(4, 0, "filter_height"),
                "activation": enum(5, ACTIVATIONS, "fused_activation_function")}
    if kind == OPT_TRANSPOSE_CONV:
        return {"padding": enum(0, PADDINGS, "padding"), "stride_w": i32(1, 0, "stride_w"),
                "stride_h": i32(2, 0, "stride_h"),
                "activation": enum(3, ACTIVATIONS, "fused_activation_function")}
    if kind == OPT_FULLY_CONNECTED:
        return {"activation": enum(0, ACTIVATIONS, "fused_activation_function"),
                "keep_num_dims": flag(2, False, "keep_num_dims")}
    if kind in (OPT_ADD, OPT_SUB, OPT_MUL):
        return {"activation": enum(0, ACTIVATIONS, "fused_activation_function")}
    if kind == OPT_CONCATENATION:
        return {"axis": i32(0, 0, "axis"),
                "activation": enum(1, ACTIVATIONS, "fused_activation_function")}
    if kind == OPT_SOFTMAX:
        return {"beta": t.scalar(0, "<f", 0.0, "beta")}
    if kind == OPT_LEAKY_RELU:
        return {"alpha": t.scalar(0, "<f", 0.0, "alpha")}
    if kind == OPT_REDUCER:
        return {"keep_dims": flag(0, False, "keep_dims")}
    if kind == OPT_RESHAPE:
        return {"new_shape": tuple(t.numbers(0, "<i", "new_shape"))}
    if kind == OPT_SQUEEZE:
        return {"squeeze_dims": tuple(t.numbers(0, "<i", "squeeze_dims"))}
    if kind == OPT_STRIDED_SLICE:
        return {"begin_mask": i32(0, 0, "begin_mask"), "end_mask": i32(1, 0, "end_mask"),
                "ellipsis_mask": i32(2, 0, "ellipsis_mask"),
                "new_axis_mask": i32(3, 0, "new_axis_mask"),
                "shrink_axis_mask": i32(4, 0, "shrink_axis_mask")}
    if kind == OPT_IF:
        return {"then_subgraph": i32(0, 0, "then_subgraph_index"),
                "else_subgraph": i32(1, 0, "else_subgraph_index")}
    if kind == OPT_WHILE:
        return {"cond_subgraph": i32(0, 0, "cond_subgraph_index"),
                "body_subgraph": i32(1, 0, "body_subgraph_index")}
    if kind == OPT_CALL_ONCE:
        return {"init_subgraph": i32(0, 0, "init_subgraph_index")}
    return {}


def int8_io(model: TfliteModel, source: str | None = None) -> tuple[Tensor, Tensor]:
    """The input and output tensor of a single-input, single-output full-int8 model (what the
    interpreters and the firmware runner take); InputError naming the file otherwise."""
    source = source or model.source
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise InputError(f"{source}: expected one input and one output, got {len(model.inputs)} "
                         f"and {len(model.outputs)}")
    inp, out = model.tensors[model.inputs[0]], model.tensors[model.outputs[0]]
    for what, t in (("input", inp), ("output", out)):
        if t.dtype != "int8":
            raise InputError(f"{source}: the {what} is {t.dtype}, not int8 (a full-int8 model with "
                             "int8 input and output is needed)")
    return inp, out
