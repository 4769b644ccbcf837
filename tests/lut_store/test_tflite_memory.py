"""The .tflite reader and the memory figures, checked against the real TFLite-Micro interpreter.

Models: small MicroNAS-style Keras models converted to full int8 (`_tf_models`, built once per
session by the `tflite_models` fixture). Reader and planner unit tests need neither TF nor TFLM.
"""

from __future__ import annotations

import math
import random
import struct
import subprocess
import sys

import numpy as np
import pytest

from _tf_models import MODEL_SPECS
from lut_store._memory import (
    OFFLINE_PLAN_METADATA,
    PlannedBuffer,
    embed_offline_plan,
    greedy_arena_head_bytes,
    greedy_plan,
    lower_bound_offsets,
    offline_plan,
    peak_activation_bytes,
    planner_buffers,
)
from lut_store._tflite import BUILTIN_OPERATORS, read_model
from lut_store._tflm import tflm_arena
from lut_store.errors import InputError

MODEL_NAMES = [spec.name for spec in MODEL_SPECS]


@pytest.fixture(scope="module")
def tflm():
    """The TFLM Python runtime; tests that compare with the real arena need it."""
    return pytest.importorskip("tflite_micro").runtime


def _random_input(m, rng: np.random.Generator) -> np.ndarray:
    t = m.tensors[m.inputs[0]]
    if t.dtype == "int8":
        return rng.integers(-128, 128, size=t.shape, dtype=np.int8)
    return rng.normal(size=t.shape).astype(np.float32)


def _run_tflm(runtime, data: bytes, x: np.ndarray) -> np.ndarray:
    interpreter = runtime.Interpreter.from_bytes(data, arena_size=1 << 20)
    interpreter.set_input(x, 0)
    interpreter.invoke()
    return interpreter.get_output(0)


# --- reader -------------------------------------------------------------------------------------

def test_reader_decodes_linear_model(tflite_models):
    m = read_model(tflite_models["linear"], "linear.tflite")
    assert m.num_subgraphs == 1
    assert m.flash_bytes == len(tflite_models["linear"])
    assert [op.op for op in m.operators] == ["CONV_2D"] * 4 + ["MEAN", "FULLY_CONNECTED", "SOFTMAX"]

    x = m.tensors[m.inputs[0]]
    assert (x.shape, x.dtype, x.nbytes, x.is_constant) == ((1, 128, 9, 1), "int8", 1152, False)
    y = m.tensors[m.outputs[0]]
    assert (y.shape, y.dtype) == ((1, 6), "int8")

    # Three Time-Reduce convs: (k,1) kernels, stride 2 in time, same padding, fused ReLU.
    for op, k in zip(m.operators[:3], (5, 5, 3)):
        assert op.options == {"padding": "same", "stride_h": 2, "stride_w": 1, "activation": "relu",
                              "dilation_h": 1, "dilation_w": 1}
        weights = m.tensors[op.inputs[1]]
        assert weights.is_constant and weights.dtype == "int8" and weights.shape[1:3] == (k, 1)
        assert m.tensors[op.inputs[2]].dtype == "int32"          # bias
    bottleneck = m.operators[3].options
    assert bottleneck["padding"] == "valid" and bottleneck["stride_h"] == 1
    assert m.tensors[m.operators[0].outputs[0]].shape == (1, 64, 9, 8)
    assert m.tensors[m.operators[3].outputs[0]].shape == (1, 16, 1, 24)

    mean, fc, softmax = m.operators[4:]
    assert mean.options == {"keep_dims": False}
    assert m.tensors[mean.inputs[1]].dtype == "int32" and m.tensors[mean.inputs[1]].is_constant
    assert fc.options["activation"] == "none"
    assert fc.inputs[2] == -1 or m.tensors[fc.inputs[2]].is_constant   # optional bias
    assert softmax.options == {"beta": pytest.approx(1.0)}
    assert "min_runtime_version" in m.metadata


def test_reader_decodes_branches_and_adds(tflite_models):
    m = read_model(tflite_models["three_branches_residual"])
    ops = [op.op for op in m.operators]
    # 3 branches + a residual conv summed by one Keras Add -> a chain of 3 ADD ops.
    assert ops.count("ADD") == 3 and ops.count("CONV_2D") == 7
    for op in m.operators:
        if op.op == "ADD":
            assert op.options == {"activation": "none"}
            assert len(op.inputs) == 2 and all(not m.tensors[t].is_constant for t in op.inputs)
    residual = [op for op in m.operators if op.op == "CONV_2D"][-1]
    assert residual.options["activation"] == "none"
    two = read_model(tflite_models["two_branches"])
    assert [op.op for op in two.operators].count("ADD") == 1


def test_reader_decodes_pooling_depthwise_concat_and_quantize(tflite_models):
    m = read_model(tflite_models["ops_coverage"])
    ops = {op.op: op for op in m.operators}
    assert m.operators[0].op == "QUANTIZE" and m.operators[-1].op == "DEQUANTIZE"
    assert m.tensors[m.inputs[0]].dtype == m.tensors[m.outputs[0]].dtype == "float32"
    for pool in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
        assert ops[pool].options == {"padding": "valid", "stride_h": 2, "stride_w": 1,
                                     "filter_h": 2, "filter_w": 1, "activation": "none"}
    assert ops["CONCATENATION"].options == {"axis": 3, "activation": "none"}
    dw = ops["DEPTHWISE_CONV_2D"].options
    assert dw["depth_multiplier"] == 1 and dw["activation"] == "relu" and dw["padding"] == "same"
    assert ops["REDUCE_MAX"].options == {"keep_dims": False}


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_reader_matches_generated_schema_code(tflite_models, name):
    """Cross-check against the flatbuffers-generated schema module shipped with tflite_micro."""
    runtime = pytest.importorskip("tflite_micro").runtime
    data = tflite_models[name]
    ref = runtime.convert_bytearray_to_object(bytearray(data))
    m = read_model(data)
    sg = ref.subgraphs[0]
    assert m.inputs == tuple(sg.inputs) and m.outputs == tuple(sg.outputs)
    assert len(m.tensors) == len(sg.tensors)
    for t, r in zip(m.tensors, sg.tensors):
        shape = () if r.shape is None else tuple(int(d) for d in r.shape)
        assert (t.shape, t.buffer, t.is_variable) == (shape, r.buffer, bool(r.isVariable))
        data_len = 0 if ref.buffers[r.buffer].data is None else len(ref.buffers[r.buffer].data)
        assert t.is_constant == (data_len > 0)
        assert t.name == r.name.decode()
    for op, r in zip(m.operators, sg.operators, strict=True):
        code = runtime.get_builtin_code_from_operator_code(ref.operatorCodes[r.opcodeIndex])
        assert op.op == BUILTIN_OPERATORS[code]
        assert op.inputs == tuple(r.inputs) and op.outputs == tuple(r.outputs)


def test_reader_shapes_and_sizes_are_consistent(tflite_models):
    for name, data in tflite_models.items():
        m = read_model(data, name)
        for t in m.tensors:
            assert t.nbytes == math.prod(t.shape) * {"int8": 1, "int32": 4, "float32": 4}[t.dtype]


def _garbage_cases(valid: bytes) -> list[tuple[str, bytes]]:
    rnd = random.Random(1234)
    cases = [("empty", b""), ("short", b"TFL3"), ("header only", valid[:8]),
             ("bad identifier", valid[:4] + b"XXXX" + valid[8:]),
             ("root past end", struct.pack("<I", len(valid) + 100) + valid[4:]),
             ("random", struct.pack("<I", 12) + b"TFL3"
              + bytes(rnd.randrange(256) for _ in range(300))),
             ("all ones", b"\xff\xff\xff\x7fTFL3" + b"\xff" * 64)]
    cases += [(f"truncated at {n}", valid[:n]) for n in (9, 16, 40, 100, 1000, len(valid) // 2)]
    return cases


def test_garbage_raises_input_error_naming_source(tflite_models):
    valid = tflite_models["two_branches"]
    for label, data in _garbage_cases(valid):
        with pytest.raises(InputError, match=r"^model\.tflite: not a valid TFLite flatbuffer: "):
            read_model(data, "model.tflite")
    with pytest.raises(InputError, match="^x.tflite: expected the bytes"):
        read_model("not bytes", "x.tflite")  # type: ignore[arg-type]


def test_absurd_vector_length_is_rejected():
    # Root -> Model table whose `subgraphs` (field 2) vector claims 2**31 - 1 elements.
    data = (struct.pack("<I", 20) + b"TFL3" + struct.pack("<5H", 10, 8, 0, 0, 4) + b"\0\0"
            + struct.pack("<iI", 12, 4) + struct.pack("<I", 0x7FFFFFFF))
    with pytest.raises(InputError, match=r"^m\.tflite: .*subgraphs claims 2147483647 elements"):
        read_model(data, "m.tflite")


def test_fuzzed_files_never_raise_anything_but_input_error(tflite_models):
    """Truncations and random byte changes: the reader and the planners either succeed or raise
    InputError naming the source, never IndexError/struct.error/RecursionError."""
    rnd = random.Random(7)
    valid = tflite_models["three_branches_residual"]
    cases = [valid[:n] for n in range(0, 800, 3)]
    for _ in range(1500):
        b = bytearray(valid)
        for _ in range(rnd.randint(1, 4)):
            b[rnd.randrange(min(len(b), 2048))] = rnd.randrange(256)
        cases.append(bytes(b))
    outcomes = {"ok": 0, "rejected": 0}
    for data in cases:
        try:
            m = read_model(data, "fuzz.tflite")
            greedy_arena_head_bytes(m)
            peak_activation_bytes(m)
            outcomes["ok"] += 1
        except InputError as e:
            assert str(e).startswith("fuzz.tflite: ")
            outcomes["rejected"] += 1
    assert outcomes["ok"] and outcomes["rejected"]


def test_lut_store_modules_import_without_tf_or_tflm():
    code = ("import sys, lut_store._tflite, lut_store._memory, lut_store._tflm; "
            "bad = [m for m in ('tensorflow', 'tflite_micro', 'flatbuffers', 'torch') "
            "if m in sys.modules]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_tflm_arena_returns_none_without_tflite_micro(monkeypatch):
    monkeypatch.setitem(sys.modules, "tflite_micro", None)    # makes the import raise ImportError
    assert tflm_arena(b"whatever") is None


# --- planner (pure Python) ----------------------------------------------------------------------

def _buffers(*specs: tuple[int, int, int]) -> list[PlannedBuffer]:
    return [PlannedBuffer(size, first, last) for size, first, last in specs]


def test_greedy_plan_reproduces_tflm_unit_tests():
    # greedy_memory_planner_test.cc: TestGreedyBasics, TestGreedyMedium, TestOverlapCase.
    assert greedy_plan(_buffers((10, 0, 1), (20, 2, 3))) == [0, 0]
    medium = _buffers((10, 0, 1), (20, 1, 2), (30, 2, 3), (40, 3, 4), (50, 0, 1))
    assert greedy_plan(medium) == [50, 70, 40, 0, 0]
    overlap = _buffers((100, 0, 1), (50, 2, 3), (20, 1, 2))
    assert max(o + b.size for o, b in zip(greedy_plan(overlap), overlap)) == 120


def test_greedy_plan_places_equal_sizes_latest_first():
    """The buffers of the `equal_width_fusion` model (sizes, lifetimes, MEAN scratch last).
    TFLM visits equal-sized buffers in reverse id order; this gives 4096 bytes, as the real
    interpreter reports. Visiting them in id order would give 3200."""
    bufs = _buffers((576, 0, 1), (1152, 1, 2), (1024, 2, 4), (1024, 3, 5), (1024, 4, 5),
                    (1024, 5, 6), (32, 6, 7), (16, 7, 8), (16, 8, 8), (128, 6, 6))
    offsets = greedy_plan(bufs)
    assert offsets == [1152, 0, 3072, 2048, 1024, 0, 1152, 16, 0, 1024]
    assert max(o + b.size for o, b in zip(offsets, bufs)) == 4096


def test_greedy_plan_keeps_offline_offsets_and_fills_around_them():
    bufs = [PlannedBuffer(64, 0, 2, offline_offset=32), PlannedBuffer(32, 0, 1),
            PlannedBuffer(48, 1, 2), PlannedBuffer(16, 2, 3, offline_offset=0)]
    offsets = greedy_plan(bufs)
    assert offsets[0] == 32 and offsets[3] == 0
    assert offsets[1] == 0            # fits in the 32-byte hole below the offline buffer
    assert offsets[2] == 96           # does not fit below (the offline 16 B at 0 is live at 2)


def test_offline_plan_metadata_is_validated(tflite_models):
    data = tflite_models["linear"]
    n = len(read_model(data).tensors)
    bad = embed_offline_plan(data, [-1] * n)
    assert offline_plan(read_model(bad)) == (-1,) * n
    with pytest.raises(InputError, match=r"offsets given for"):
        embed_offline_plan(data, [-1] * (n - 1))
    with pytest.raises(InputError, match="negative offsets"):
        greedy_arena_head_bytes(read_model(embed_offline_plan(data, [-2] * n)))
    from lut_store._tflite import add_metadata_buffer
    short = add_metadata_buffer(data, OFFLINE_PLAN_METADATA, struct.pack("<4i", 0, 0, n, 0))
    with pytest.raises(InputError, match=f"holds {n} offsets"):
        greedy_arena_head_bytes(read_model(short, "short.tflite"))


# --- against the real TFLite-Micro interpreter --------------------------------------------------

@pytest.fixture(scope="module")
def arenas(tflite_models, tflm):
    return {name: tflm_arena(data) for name, data in tflite_models.items()}


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_greedy_head_equals_tflm_head(tflite_models, arenas, name):
    m = read_model(tflite_models[name], name)
    head = arenas[name]["head"]
    assert arenas[name]["total"] == head + arenas[name]["tail"]
    assert greedy_arena_head_bytes(m) == head
    assert peak_activation_bytes(m) <= peak_activation_bytes(m, include_scratch=True) <= head


def test_some_models_fragment_under_the_greedy_planner(tflite_models, arenas):
    fragmented = {name for name, data in tflite_models.items()
                  if arenas[name]["head"] > peak_activation_bytes(read_model(data))}
    assert {"equal_width_fusion", "fusion_then_reduce", "ops_coverage"} <= fragmented
    assert "linear" not in fragmented


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_offline_plan_reaches_lower_bound_with_identical_outputs(tflite_models, tflm, name):
    data = tflite_models[name]
    m = read_model(data, name)
    planned = embed_offline_plan(data, lower_bound_offsets(m))
    m2 = read_model(planned, name)
    assert [(t.shape, t.dtype, t.is_constant) for t in m2.tensors] == \
           [(t.shape, t.dtype, t.is_constant) for t in m.tensors]
    assert [(o.op, o.inputs, o.outputs, dict(o.options)) for o in m2.operators] == \
           [(o.op, o.inputs, o.outputs, dict(o.options)) for o in m.operators]
    assert OFFLINE_PLAN_METADATA in m2.metadata

    # The plan reaches the liveness bound; only in `tiny` do the MEAN's scratch buffers (which
    # TFLM always places itself) sit at the peak and add to it.
    head = tflm_arena(planned)["head"]
    assert head == greedy_arena_head_bytes(m2) == peak_activation_bytes(m, include_scratch=True)
    if name != "tiny":
        assert head == peak_activation_bytes(m)

    rng = np.random.default_rng(0)
    for _ in range(3):
        x = _random_input(m, rng)
        np.testing.assert_array_equal(_run_tflm(tflm, data, x), _run_tflm(tflm, planned, x))


@pytest.mark.parametrize("name", ["two_branches", "equal_width_fusion", "random_138"])
def test_partial_offline_plans_match_tflm(tflite_models, name):
    """Offline buffers at odd offsets mixed with online ones: the mixed path of the planner."""
    data = tflite_models[name]
    m = read_model(data)
    rng = random.Random(name)
    for _ in range(4):
        offsets = [o if o < 0 or rng.random() < 0.5 else -1 for o in lower_bound_offsets(m)]
        offsets = [o + 16 * rng.randrange(40) if o >= 0 else o for o in offsets]
        planned = embed_offline_plan(data, offsets)
        assert greedy_arena_head_bytes(read_model(planned)) == tflm_arena(planned)["head"]


def test_planner_buffers_lifetimes_follow_tflm_scopes(tflite_models):
    m = read_model(tflite_models["linear"])
    bufs = planner_buffers(m)
    by_tensor = {b.tensor: b for b in bufs if b.tensor is not None}
    n_ops = len(m.operators)
    assert (by_tensor[m.inputs[0]].first, by_tensor[m.inputs[0]].last) == (0, 1)
    assert (by_tensor[m.outputs[0]].first, by_tensor[m.outputs[0]].last) == (n_ops, n_ops)
    # The int8 MEAN's scratch: int32 accumulators for its 24 outputs, 4 ints (input rank), 2 ints
    # (axes), each rounded up to 16 bytes and live during the MEAN only.
    scratch = [b for b in bufs if b.tensor is None]
    mean = next(op for op in m.operators if op.op == "MEAN")
    scope = mean.index + 1
    assert [(b.op, b.size, b.first, b.last) for b in scratch] == \
           [(mean.index, 96, scope, scope), (mean.index, 16, scope, scope),
            (mean.index, 16, scope, scope)]
    assert all(b.size % 16 == 0 for b in bufs)


def test_scratch_buffers_count_in_the_head(tflite_models, arenas):
    """In `tiny` the MEAN's scratch buffers are what sets the arena head."""
    m = read_model(tflite_models["tiny"])
    assert peak_activation_bytes(m) < peak_activation_bytes(m, include_scratch=True)
    assert greedy_arena_head_bytes(m) == arenas["tiny"]["head"] == \
           peak_activation_bytes(m, include_scratch=True)
