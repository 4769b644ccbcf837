"""The memory figures, checked against the real TFLite-Micro interpreter (the .tflite reader's own
tests are in test_tflite.py).

Models: small MicroNAS-style Keras models converted to full int8 (`_tf_models`, built once per
session by the `tflite_models` fixture). Reader and planner unit tests need neither TF nor TFLM.
"""

from __future__ import annotations

import random
import struct

import numpy as np
import pytest

from _tf_models import MODEL_SPECS, random_input, run_tflm
from lut_store.memory import (
    CMSIS_NN,
    OFFLINE_PLAN_METADATA,
    REFERENCE,
    Buffer,
    arena_head_bytes,
    embed_offline_plan,
    greedy_plan,
    lower_bound_offsets,
    offline_plan,
    peak_activation_bytes,
    planner_buffers,
)
from lut_store.tflite import read_model
from lut_store.tflm import tflm_arena
from lut_store.errors import InputError

MODEL_NAMES = [spec.name for spec in MODEL_SPECS]


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
            arena_head_bytes(m)
            peak_activation_bytes(m)
            outcomes["ok"] += 1
        except InputError as e:
            assert str(e).startswith("fuzz.tflite: ")
            outcomes["rejected"] += 1
    assert outcomes["ok"] and outcomes["rejected"]


# --- planner (pure Python) ----------------------------------------------------------------------

def _buffers(*specs: tuple[int, int, int]) -> list[Buffer]:
    return [Buffer(size, first, last) for size, first, last in specs]


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
    bufs = [Buffer(64, 0, 2, offline_offset=32), Buffer(32, 0, 1),
            Buffer(48, 1, 2), Buffer(16, 2, 3, offline_offset=0)]
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
        arena_head_bytes(read_model(embed_offline_plan(data, [-2] * n)))
    from lut_store.tflite import add_metadata_buffer
    short = add_metadata_buffer(data, OFFLINE_PLAN_METADATA, struct.pack("<4i", 0, 0, n, 0))
    with pytest.raises(InputError, match=f"holds {n} offsets"):
        arena_head_bytes(read_model(short, "short.tflite"))


# --- against the real TFLite-Micro interpreter --------------------------------------------------

@pytest.fixture(scope="module")
def arenas(tflite_models, tflm):
    return {name: tflm_arena(data) for name, data in tflite_models.items()}


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_the_needed_arena_is_the_least_tflm_allocates_in(tflite_models, arenas, name):
    """`needed`: what TFLM used, or more where its planner's scratch does not fit in the head
    (a tiny network); the model loads in it, and not in 16 bytes less when that is more than
    TFLM used."""
    from tflite_micro import runtime
    found = arenas[name]
    assert found["needed"] >= found["total"]
    runtime.Interpreter.from_bytes(tflite_models[name], arena_size=found["needed"])
    if found["needed"] > found["total"]:
        with pytest.raises(Exception):
            runtime.Interpreter.from_bytes(tflite_models[name], arena_size=found["needed"] - 16)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_greedy_head_equals_tflm_head(tflite_models, arenas, name):
    m = read_model(tflite_models[name], name)
    head = arenas[name]["head"]
    assert arenas[name]["total"] == head + arenas[name]["tail"]
    assert arena_head_bytes(m) == head
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
    planned = embed_offline_plan(data, lower_bound_offsets(m, kernels=REFERENCE))
    m2 = read_model(planned, name)
    assert [(t.shape, t.dtype, t.is_constant) for t in m2.tensors] == \
           [(t.shape, t.dtype, t.is_constant) for t in m.tensors]
    assert [(o.op, o.inputs, o.outputs, dict(o.options)) for o in m2.operators] == \
           [(o.op, o.inputs, o.outputs, dict(o.options)) for o in m.operators]
    assert OFFLINE_PLAN_METADATA in m2.metadata

    # The plan reaches the liveness bound; only in `tiny` do the MEAN's scratch buffers (which
    # TFLM always places itself) sit at the peak and add to it.
    head = tflm_arena(planned)["head"]
    assert head == arena_head_bytes(m2) == peak_activation_bytes(m, include_scratch=True)
    if name != "tiny":
        assert head == peak_activation_bytes(m)

    rng = np.random.default_rng(0)
    for _ in range(3):
        x = random_input(m, rng)
        np.testing.assert_array_equal(run_tflm(tflm, data, x), run_tflm(tflm, planned, x))


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_board_plan_reaches_the_board_lower_bound(tflite_models, tflm, name):
    """The plan deployment embeds is made for the board's kernels: around the CMSIS-NN scratch
    that TFLM places at run time, the board's head is the lower bound of tensors plus that
    scratch; on the host (no CMSIS-NN scratch) the same plan never needs more."""
    data = tflite_models[name]
    m = read_model(data, name)
    planned = embed_offline_plan(data, lower_bound_offsets(m))      # kernels=CMSIS_NN
    board_bound = peak_activation_bytes(m, include_scratch=True, kernels=CMSIS_NN)
    assert arena_head_bytes(planned, kernels=CMSIS_NN) == board_bound
    assert tflm_arena(planned)["head"] == arena_head_bytes(planned) <= board_bound
    x = random_input(m, np.random.default_rng(1))
    np.testing.assert_array_equal(run_tflm(tflm, data, x), run_tflm(tflm, planned, x))


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
        assert arena_head_bytes(read_model(planned)) == tflm_arena(planned)["head"]


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
    assert arena_head_bytes(m) == arenas["tiny"]["head"] == \
           peak_activation_bytes(m, include_scratch=True)
