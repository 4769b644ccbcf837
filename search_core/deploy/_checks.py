"""Measurements on a real int8 artifact, shared by the deploy stage and `micronas verify`:
the TFLM arena with and without the offline memory plan, the analytic bounds, and the outputs of
TFLM and LiteRT-reference on the same quantised windows."""

from __future__ import annotations

import numpy as np

from lut_store import InputError
from lut_store.memory import CMSIS_NN, align, arena_head_bytes, peak_activation_bytes
from lut_store.tflite import read_model
from lut_store.tflm import tflm_arena

from ._memory import board_arena_head_bytes
from ._runtime import run_litert, run_tflm, tflm_interpreter

TAIL_NOTE = ("tail measured on the 64-bit host (interpreter bookkeeping with 8-byte pointers): "
             "smaller on a Cortex-M, so the arena size is an upper bound there")


def arena(data: bytes, source: str) -> dict[str, int]:
    """{"head", "tail", "total"} of the real TFLM arena; InputError with TFLM's reason if the
    interpreter cannot allocate the model (an operator it does not have, a malformed model)."""
    try:
        found = tflm_arena(data)
    except RuntimeError:
        tflm_interpreter(data, 16 * len(data) + (1 << 20), source)   # raises with the reason
        raise InputError(f"{source}: TFLite-Micro cannot allocate the model") from None
    if found is None:   # pragma: no cover - require_runtimes() ran before
        raise InputError("TFLite-Micro is not installed")
    return found


def check_arena_size(arena_size: int | None, needed: dict[str, int], source: str) -> None:
    if arena_size is not None and arena_size < needed["needed"]:
        raise InputError(f"{source}: an arena of {arena_size} bytes is too small: TFLite-Micro needs "
                         f"{needed['needed']} bytes ({needed['head']} head + {needed['tail']} tail"
                         + (f", and {needed['needed'] - needed['total']} more to plan it)"
                            if needed["needed"] > needed["total"] else ")"))


def memory_figures(plain: bytes, planned: bytes, source: str,
                   arena_size: int | None = None) -> dict:
    """RAM of the model without (`plain`) and with (`planned`) its offline plan: measured in the
    host's TFLM, and on the board from the memory model the search priced with (`lut_store.memory`,
    whose planner is checked here against the host interpreter's real head)."""
    greedy, with_plan = arena(plain, source), arena(planned, source)
    check_arena_size(arena_size, with_plan, source)
    peak = peak_activation_bytes(plain)
    bound = peak_activation_bytes(plain, include_scratch=True)
    board_bound = peak_activation_bytes(plain, include_scratch=True, kernels=CMSIS_NN)
    board_head = board_arena_head_bytes(planned, source)
    greedy_board = arena_head_bytes(plain, kernels=CMSIS_NN)
    head = with_plan["head"]
    return {
        "offline_plan": True,
        "peak_activation_bytes": peak,
        "lower_bound_bytes": bound,
        "tflm_arena_head_bytes": head,
        "tflm_arena_tail_bytes": with_plan["tail"],
        "tflm_arena_total_bytes": with_plan["total"],
        "greedy_arena_head_bytes": greedy["head"],
        "greedy_arena_total_bytes": greedy["total"],
        "greedy_arena_needed_bytes": greedy["needed"],
        "head_equals_peak_activation": head == peak,
        "head_equals_lower_bound": head == bound,
        # The planner model reproduces the host interpreter's head: what makes its board figure
        # (the same planner around the CMSIS-NN kernels' scratch) trustworthy.
        "planner_model_matches_host": arena_head_bytes(planned) == head
                                       and arena_head_bytes(plain) == greedy["head"],
        "board_lower_bound_bytes": board_bound,
        "board_arena_head_bytes": board_head,
        "board_head_equals_lower_bound": board_head == board_bound,
        # TFLM's default planner on the board, without the plan: what the plan saves there.
        "greedy_board_arena_head_bytes": greedy_board,
        "ram_saved_bytes": greedy_board - board_head,
        # What firmware reserves: the board's head (CMSIS-NN scratch included) and the tail.
        # ... and no less than TFLM needs to plan in it (`needed`: its planner's scratch).
        "arena_size_bytes": max(align(max(board_head, head)) + align(with_plan["tail"]),
                                align(with_plan["needed"])),
        "tflm_arena_needed_bytes": with_plan["needed"],
        "tail_note": TAIL_NOTE,
    }


def run_both(plain: bytes, planned: bytes, inputs: np.ndarray, memory: dict, source: str,
             arena_size: int | None = None) -> dict[str, np.ndarray]:
    """int8 outputs of LiteRT-reference (plain model; LiteRT ignores the plan), of TFLM on the
    planned model in the arena firmware would reserve (or `arena_size`), and of TFLM on the plain
    model with TFLM's default planner."""
    planned_arena = arena_size if arena_size is not None else memory["tflm_arena_needed_bytes"]
    return {
        "litert": run_litert(plain, inputs, source),
        "tflm": run_tflm(planned, inputs, planned_arena, source),
        "tflm_greedy": run_tflm(plain, inputs, memory["greedy_arena_needed_bytes"], source),
    }


def parity(tflm: np.ndarray, litert: np.ndarray, limit: int) -> dict:
    diff = np.abs(tflm.astype(np.int32) - litert.astype(np.int32)).reshape(len(tflm), -1)
    per_window = diff.max(axis=1) if len(diff) else np.zeros(0, np.int32)
    return {
        "reference": "LiteRT, reference kernels (OpResolverType.BUILTIN_REF)",
        "windows": int(len(tflm)),
        "max_lsb": int(per_window.max()) if len(per_window) else 0,
        "limit_lsb": int(limit),
        "windows_over_limit": int((per_window > limit).sum()),
        "windows_differing": int((per_window > 0).sum()),
        "argmax_disagreements": int((tflm.reshape(len(tflm), -1).argmax(1)
                                     != litert.reshape(len(litert), -1).argmax(1)).sum()),
    }


def int8_scores(outputs: np.ndarray, y: np.ndarray, n_classes: int) -> dict:
    from ..metrics import scores
    return scores(np.asarray(y), outputs.reshape(len(outputs), -1).argmax(1), n_classes)


def plan_check(memory: dict, outputs: dict[str, np.ndarray]) -> list[str]:
    """Failures of the offline plan: on the board the head must reach the lower bound, the planner
    model must reproduce the host interpreter, and outputs must not move."""
    failures = []
    if not memory["board_head_equals_lower_bound"]:
        failures.append(f"with the offline plan the arena head on the board is "
                        f"{memory['board_arena_head_bytes']} bytes, not the lower bound "
                        f"{memory['board_lower_bound_bytes']}")
    if not memory["planner_model_matches_host"]:
        failures.append("the memory model's TFLM planner does not reproduce the host interpreter's "
                        f"arena head ({memory['tflm_arena_head_bytes']} bytes measured)")
    same = bool(np.array_equal(outputs["tflm"], outputs["tflm_greedy"]))
    memory["outputs_bit_identical"] = same
    memory["windows_compared"] = int(len(outputs["tflm"]))
    if not same:
        failures.append("TFLM outputs with the offline plan differ from those without it")
    return failures


def model_summary(data: bytes, source: str) -> dict:
    model = read_model(data, source)
    return {"ops": [op.op for op in model.operators], "flash_bytes": model.flash_bytes}
