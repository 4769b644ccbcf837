"""One truth for memory: the search's peak memory of a network equals, byte for byte, the arena
head the deployment check computes for the exported int8 model on the board (TFLM's planner with
the embedded offline plan around the CMSIS-NN kernels' scratch) — on 50 random architectures of
each search space, for every built-in board."""

import numpy as np
import pytest

from lut_store import list_mcus, load_mcu
from lut_store.memory import CMSIS_NN, arena_head_bytes, peak_activation_bytes, with_offline_plan
from search_core.hardware import estimate_memory
from search_core.space import SearchSpace

pytest.importorskip("tensorflow")

SPACES = {"ucihar": (128, 9, 6), "basicmotions": (100, 6, 4)}
N_ARCHS = 50


@pytest.fixture(scope="module")
def exported():
    """(space name, architecture, int8 model) for N_ARCHS random architectures per space."""
    from search_core.deploy import build_keras, to_int8_tflite

    rng = np.random.default_rng(0)
    out = []
    for name, (steps, channels, classes) in SPACES.items():
        space = SearchSpace(steps, channels, classes)
        calibration = rng.normal(size=(8, steps, channels)).astype(np.float32)
        for i in range(N_ARCHS):
            arch = space.random(i)
            out.append((name, arch, to_int8_tflite(build_keras(arch), calibration)))
    return out


def test_the_built_in_boards_run_the_modelled_kernels():
    # CMSIS-NN sizes its conv scratch alike on every core without MVE (M0..M7, M33).
    for name in list_mcus():
        assert load_mcu(name).core_family in ("cortex-m4", "cortex-m7", "cortex-m33")


def test_search_peak_memory_equals_the_board_arena_head(exported):
    mismatches = []
    for name, arch, model in exported:
        est = estimate_memory(arch)
        planned = with_offline_plan(model)
        board = arena_head_bytes(planned, kernels=CMSIS_NN)   # the deployment check's figure
        assert est.activation_bytes == peak_activation_bytes(model)
        if board != est.peak_bytes:
            mismatches.append((name, arch.to_json(), est.peak_bytes, board))
    assert not mismatches, f"{len(mismatches)} of {len(exported)} differ: {mismatches[:3]}"
    assert len(exported) == N_ARCHS * len(SPACES)
