"""The .tflite reader and editor (`lut_store.tflite`) and the TFLM helpers (`lut_store.tflm`),
checked against the real converter's models, the generated schema code and TFLite-Micro.

Models: small MicroNAS-style Keras models converted to full int8 (`_tf_models`, built once per
session by the `tflite_models` fixture).
"""

from __future__ import annotations

import math
import os
import random
import struct
import subprocess
import sys
import threading

import numpy as np
import pytest
from _tf_models import MODEL_SPECS, random_input, run_tflm

from lut_store.errors import InputError
from lut_store.tflite import BUILTIN_OPERATORS, add_metadata_buffer, read_model
from lut_store.tflm import capture_stderr, tflm_arena

MODEL_NAMES = [spec.name for spec in MODEL_SPECS]


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


# --- editor -------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["linear", "two_branches"])
def test_added_metadata_is_read_back_and_nothing_else_changes(tflite_models, name):
    data = tflite_models[name]
    before = read_model(data, name)
    edited = add_metadata_buffer(data, "MyPlan", b"\x01\x02\x03", name)
    after = read_model(edited, name)
    assert after.metadata["MyPlan"] == b"\x01\x02\x03"
    assert {k: v for k, v in after.metadata.items() if k != "MyPlan"} == dict(before.metadata)
    assert after.subgraphs == before.subgraphs and after.version == before.version
    # Replacing an entry drops the old one (one name, one entry), and keeps the others.
    again = read_model(add_metadata_buffer(edited, "MyPlan", b"new", name))
    assert again.metadata["MyPlan"] == b"new" and set(again.metadata) == set(after.metadata)


def test_edited_models_keep_the_weights_aligned_and_run_in_tflm(tflite_models, tflm):
    data = tflite_models["two_branches"]
    edited = add_metadata_buffer(data, "MyPlan", b"x" * 5)
    shift = len(edited) - len(data)
    assert shift % 8 == 0 and edited[8 + shift:] == data[8:]    # old objects moved as one block
    x = random_input(read_model(data), np.random.default_rng(0))
    np.testing.assert_array_equal(run_tflm(tflm, data, x), run_tflm(tflm, edited, x))


def test_the_editor_refuses_what_it_cannot_rewrite():
    with pytest.raises(InputError, match="^m.tflite: not a valid TFLite flatbuffer"):
        add_metadata_buffer(b"garbage!", "x", b"", "m.tflite")


# --- TFLite-Micro helpers ------------------------------------------------------------------------

def test_lut_store_modules_import_without_tf_or_tflm():
    code = ("import sys, lut_store, lut_store.tflite, lut_store.tflm; "
            "bad = [m for m in ('tensorflow', 'ai_edge_litert', 'tflite_micro', 'flatbuffers', "
            "'torch') if m in sys.modules]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_tflm_arena_returns_none_without_tflite_micro(monkeypatch):
    monkeypatch.setitem(sys.modules, "tflite_micro", None)    # makes the import raise ImportError
    assert tflm_arena(b"whatever") is None


def test_capture_stderr_takes_what_c_code_writes_to_fd_2():
    with capture_stderr() as captured:
        os.write(2, b"from C, say\n")
    assert captured.text == "from C, say\n"
    with pytest.raises(RuntimeError), capture_stderr() as failed:
        os.write(2, b"before the error\n")
        raise RuntimeError("boom")
    assert failed.text == "before the error\n"       # fd 2 is restored, the text kept


def test_captures_of_two_threads_do_not_mix():
    texts = {}

    def write(tag: str) -> None:
        with capture_stderr() as captured:
            for _ in range(50):
                os.write(2, tag.encode())
        texts[tag] = captured.text
    threads = [threading.Thread(target=write, args=(t,)) for t in "ab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert texts == {"a": "a" * 50, "b": "b" * 50}


def test_tflm_arena_matches_the_interpreter(tflite_models, tflm):
    arena = tflm_arena(tflite_models["linear"])
    assert set(arena) == {"head", "tail", "total", "needed"}
    assert arena["needed"] >= arena["total"] >= arena["head"] > 0
