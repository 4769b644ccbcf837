"""What `lut_store.tflite` copies by hand from schema.fbs, against the generated schema code that
each installed TensorFlow / LiteRT / TFLite-Micro ships (`schema_py_generated.py`): the enums, and
the field ids and defaults the reader follows (a model written by the generated builder is read).

The generated modules are loaded from their files, without importing the packages themselves
(TensorFlow alone takes seconds); they need only `flatbuffers`."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from lut_store.tflite import _schema, read_model

# Installed package -> its generated schema module, relative to the package folder.
GENERATED = {
    "ai_edge_litert": "schema_py_generated.py",
    "tflite_micro": "tensorflow/lite/micro/python/schema_py_generated.py",
    "tensorflow": "lite/python/schema_py_generated.py",
}


def _load(package: str):
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / GENERATED[package]
    if not path.is_file():
        return None
    module_spec = importlib.util.spec_from_file_location(f"_generated_schema_{package}", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def schemas() -> dict:
    pytest.importorskip("flatbuffers")
    found = {p: m for p in GENERATED if (m := _load(p)) is not None}
    if not found:
        pytest.skip("none of TensorFlow, LiteRT, TFLite-Micro is installed")
    return found


def _enum(cls) -> dict[int, str]:
    """value -> name of a generated enum class."""
    values = {v: k for k, v in vars(cls).items() if not k.startswith("_") and isinstance(v, int)}
    assert values, cls
    return values


def _check(ours: tuple[str, ...], theirs: dict[int, str], what: str) -> None:
    """Every value the generated schema defines is ours, by the same name (ours may be newer)."""
    assert max(theirs) < len(ours), f"{what}: the schema has values beyond ours: " \
        f"{[n for v, n in sorted(theirs.items()) if v >= len(ours)]}"
    wrong = {v: (ours[v], n) for v, n in theirs.items() if ours[v] != n}
    assert not wrong, f"{what}: value -> (ours, schema's) differ: {wrong}"


@pytest.mark.parametrize("package", list(GENERATED))
def test_enums_match_the_generated_schema(schemas, package):
    if package not in schemas:
        pytest.skip(f"{package} is not installed")
    g = schemas[package]
    _check(_schema.BUILTIN_OPERATORS, _enum(g.BuiltinOperator), "BuiltinOperator")
    _check(tuple(name for name, _ in _schema.TENSOR_TYPES),
           {v: n.lower() for v, n in _enum(g.TensorType).items()}, "TensorType")
    _check(_schema.ACTIVATIONS, {v: n.lower() for v, n in _enum(g.ActivationFunctionType).items()},
           "ActivationFunctionType")
    _check(_schema.PADDINGS, {v: n.lower() for v, n in _enum(g.Padding).items()}, "Padding")
    options = vars(g.BuiltinOptions)
    wrong = {n: (v, options.get(n)) for n, v in _schema.BUILTIN_OPTIONS.items() if options.get(n) != v}
    assert not wrong, f"BuiltinOptions: name -> (ours, schema's) differ: {wrong}"


def test_every_value_we_name_is_in_some_installed_schema(schemas):
    """Ours may run ahead of one installed package, never ahead of all of them."""
    newest_ops = max(len(_enum(g.BuiltinOperator)) for g in schemas.values())
    newest_types = max(len(_enum(g.TensorType)) for g in schemas.values())
    assert len(_schema.BUILTIN_OPERATORS) == newest_ops
    assert len(_schema.TENSOR_TYPES) == newest_types



# -- field ids and defaults: a model written by the generated builder, read by ours ---------------

_PAD = ("padding", lambda v: _schema.PADDINGS[v])
_ACT = ("fusedActivationFunction", lambda v: _schema.ACTIVATIONS[v])
# Per op: its option table, and our decoded key -> the generated object's attribute.
_OPTIONS = {
    "CONV_2D": ("Conv2DOptions", {"padding": _PAD, "stride_w": "strideW", "stride_h": "strideH",
                                  "activation": _ACT, "dilation_w": "dilationWFactor",
                                  "dilation_h": "dilationHFactor"}),
    "DEPTHWISE_CONV_2D": ("DepthwiseConv2DOptions", {
        "padding": _PAD, "stride_w": "strideW", "stride_h": "strideH", "activation": _ACT,
        "dilation_w": "dilationWFactor", "dilation_h": "dilationHFactor",
        "depth_multiplier": "depthMultiplier"}),
    "AVERAGE_POOL_2D": ("Pool2DOptions", {"padding": _PAD, "stride_w": "strideW",
                                          "stride_h": "strideH", "filter_w": "filterWidth",
                                          "filter_h": "filterHeight", "activation": _ACT}),
    "TRANSPOSE_CONV": ("TransposeConvOptions", {"padding": _PAD, "stride_w": "strideW",
                                                "stride_h": "strideH", "activation": _ACT}),
    "FULLY_CONNECTED": ("FullyConnectedOptions", {"activation": _ACT, "keep_num_dims": "keepNumDims"}),
    "ADD": ("AddOptions", {"activation": _ACT}),
    "SUB": ("SubOptions", {"activation": _ACT}),
    "MUL": ("MulOptions", {"activation": _ACT}),
    "CONCATENATION": ("ConcatenationOptions", {"axis": "axis", "activation": _ACT}),
    "SOFTMAX": ("SoftmaxOptions", {"beta": "beta"}),
    "LEAKY_RELU": ("LeakyReluOptions", {"alpha": "alpha"}),
    "MEAN": ("ReducerOptions", {"keep_dims": "keepDims"}),
    "RESHAPE": ("ReshapeOptions", {"new_shape": ("newShape", lambda v: tuple(v or ()))}),
    "SQUEEZE": ("SqueezeOptions", {"squeeze_dims": ("squeezeDims", lambda v: tuple(v or ()))}),
    "STRIDED_SLICE": ("StridedSliceOptions", {
        "begin_mask": "beginMask", "end_mask": "endMask", "ellipsis_mask": "ellipsisMask",
        "new_axis_mask": "newAxisMask", "shrink_axis_mask": "shrinkAxisMask"}),
    "IF": ("IfOptions", {"then_subgraph": "thenSubgraphIndex", "else_subgraph": "elseSubgraphIndex"}),
    "WHILE": ("WhileOptions", {"cond_subgraph": "condSubgraphIndex",
                               "body_subgraph": "bodySubgraphIndex"}),
    "CALL_ONCE": ("CallOnceOptions", {"init_subgraph": "initSubgraphIndex"}),
}
# Values other than the schema defaults, by generated attribute (exact in float32 where float).
_SET = {"padding": 1, "strideW": 3, "strideH": 5, "fusedActivationFunction": 3,
        "dilationWFactor": 2, "dilationHFactor": 4, "depthMultiplier": 7, "filterWidth": 6,
        "filterHeight": 9, "keepNumDims": True, "axis": -1, "beta": 0.25, "alpha": 0.125,
        "keepDims": True, "newShape": [1, -1], "squeezeDims": [1, 2], "beginMask": 1,
        "endMask": 2, "ellipsisMask": 4, "newAxisMask": 8, "shrinkAxisMask": 16,
        "thenSubgraphIndex": 1, "elseSubgraphIndex": 2, "condSubgraphIndex": 2,
        "bodySubgraphIndex": 1, "initSubgraphIndex": 1}


def _expected(fields: dict, options) -> dict:
    out = {}
    for key, spec in fields.items():
        attr, convert = spec if isinstance(spec, tuple) else (spec, lambda v: v)
        out[key] = convert(getattr(options, attr))
    return out


def _build(g, ops: list[tuple[str, object]]) -> bytes:
    """A three-subgraph model whose subgraph 0 runs `ops` ((name, options object or None))."""
    import flatbuffers

    def tensor(name, shape, buffer=0, variable=False, quant=None):
        t = g.TensorT()
        t.name, t.shape, t.type, t.buffer, t.isVariable = name, shape, g.TensorType.INT8, buffer, variable
        if quant:
            t.quantization = g.QuantizationParametersT()
            t.quantization.scale, t.quantization.zeroPoint = quant
        return t

    model = g.ModelT()
    model.version, model.description = 3, "built by the generated code"
    buffers = [g.BufferT() for _ in range(3)]
    buffers[1].data, buffers[2].data = list(range(1, 9)), [9, 9]
    model.buffers = buffers
    meta = g.MetadataT()
    meta.name, meta.buffer = "meta", 2
    model.metadata = [meta]
    codes, operators = [], []
    for i, (name, options) in enumerate(ops):
        code = g.OperatorCodeT()
        code.builtinCode = _schema.BUILTIN_OPERATORS.index(name)
        code.deprecatedBuiltinCode = min(code.builtinCode, 127)
        code.version = 2
        if name == "CUSTOM":
            code.customCode = "MyOp"
        codes.append(code)
        op = g.OperatorT()
        op.opcodeIndex, op.inputs, op.outputs, op.intermediates = i, [0, 1, -1], [2], [1]
        if options is not None:
            op.builtinOptionsType = getattr(g.BuiltinOptions, _OPTIONS[name][0])
            op.builtinOptions = options
        operators.append(op)
    model.operatorCodes = codes
    main = g.SubGraphT()
    main.name = "main"
    main.tensors = [tensor("x", [1, 4, 4, 2], quant=([0.5], [3])), tensor("w", [2, 1, 1, 4], 1),
                    tensor("y", [1, 4, 4, 2], variable=True)]
    main.inputs, main.outputs, main.operators = [0], [2], operators
    others = []
    for name in ("then", "else"):
        sg = g.SubGraphT()
        sg.name, sg.tensors, sg.inputs, sg.outputs, sg.operators = name, [tensor("t", [1])], [0], [0], []
        others.append(sg)
    model.subgraphs = [main, *others]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=_schema.FILE_IDENTIFIER)
    return bytes(builder.Output())


@pytest.mark.parametrize("package", list(GENERATED))
@pytest.mark.parametrize("values", ["set", "defaults"])
def test_reader_decodes_what_the_generated_builder_writes(schemas, package, values):
    """Every field the reader decodes, written by the generated code: once with values other than
    the defaults (field ids), once left out (the reader's defaults are the schema's)."""
    if package not in schemas:
        pytest.skip(f"{package} is not installed")
    g = schemas[package]
    ops = []
    for name, (table, _) in _OPTIONS.items():
        options = getattr(g, table + "T")()
        if values == "set":
            for attr, value in _SET.items():
                if hasattr(options, attr):
                    setattr(options, attr, value)
        ops.append((name, options))
    ops.append(("CUSTOM", None))
    m = read_model(_build(g, ops), "built.tflite")

    assert (m.version, m.description, m.num_subgraphs) == (3, "built by the generated code", 3)
    assert dict(m.metadata) == {"meta": b"\x09\x09"} and m.subgraphs[0].name == "main"
    x, w, y = m.tensors
    assert (x.name, x.shape, x.dtype, x.nbytes, x.scale, x.zero_point) == \
        ("x", (1, 4, 4, 2), "int8", 32, (0.5,), (3,))
    assert (w.buffer, w.is_constant, x.is_constant, y.is_variable, x.is_variable) == \
        (1, True, False, True, False)
    assert (m.inputs, m.outputs) == ((0,), (2,))
    for op, (name, options) in zip(m.operators, ops, strict=True):
        assert (op.op, op.version, op.inputs, op.outputs, op.intermediates) == \
            (name, 2, (0, 1, -1), (2,), (1,))
        assert op.builtin_code == _schema.BUILTIN_OPERATORS.index(name)
        if name == "CUSTOM":
            assert op.options == {"custom_code": "MyOp"}
        else:
            assert dict(op.options) == _expected(_OPTIONS[name][1], options), name
