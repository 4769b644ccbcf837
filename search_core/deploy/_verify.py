"""`micronas verify`: re-check any full-int8 .tflite model on a board — TFLM arena with and
without an offline memory plan, LUT latency, flash, and (with data) TFLM vs LiteRT-reference
parity and int8 accuracy on the test split."""

from __future__ import annotations

import math
import time

from lut_store import InputError, LatencyModel, price_model
from lut_store.memory import (ONLINE, input_buffer_bytes, offline_plan, with_offline_plan,
                              without_offline_plan)
from lut_store.tflite import read_model

from ._checks import (arena, check_arena_size, int8_scores, memory_figures, model_summary,
                      parity, plan_check, run_both)
from ._memory import board_arena_head_bytes
from ._runtime import io_spec, require_runtimes, tflm_interpreter, windows_for


def verify_model(model: bytes, latency: LatencyModel, *, data=None, arena_size: int | None = None,
                 source: str = "<model>", max_lsb: int = 1, lat_ms: float | None = None,
                 mem_bytes: float | None = None) -> dict:
    """Everything `micronas verify --json` prints. `data` (a Dataset) adds parity and accuracy on
    its test split; `arena_size` checks the model in an arena of exactly that size."""
    start = time.perf_counter()
    require_runtimes()
    io = io_spec(model, source)
    plan = offline_plan(read_model(model, source))
    has_plan = plan is not None and any(offset != ONLINE for offset in plan)
    plain = without_offline_plan(model, source) if has_plan else model
    planned = model if has_plan else with_offline_plan(model, source)
    memory = memory_figures(plain, planned, source)
    given = arena(model, source) if has_plan else {
        "head": memory["greedy_arena_head_bytes"], "total": memory["greedy_arena_total_bytes"],
        "tail": memory["greedy_arena_total_bytes"] - memory["greedy_arena_head_bytes"],
        "needed": memory["greedy_arena_needed_bytes"]}
    check_arena_size(arena_size, given, source)
    if arena_size is not None:
        tflm_interpreter(model, arena_size, source)
    memory["offline_plan"] = has_plan
    failures: list[str] = []
    notes: list[str] = []
    if not has_plan:
        saved = memory["ram_saved_bytes"]
        notes.append(f"no offline memory plan: embedding one would bring the arena head on the "
                     f"board from {memory['greedy_board_arena_head_bytes']} to "
                     f"{memory['board_arena_head_bytes']} bytes"
                     if saved > 0 else "no offline memory plan (TFLM's greedy planner already "
                     "reaches the lower bound on this model)")

    mcu = latency.mcu
    priced = price_model(model, latency, source, use_tflm=False)
    report = {
        "model": source, "mcu": mcu.name, "status": None, "failures": failures, "notes": notes,
        "input": {"shape": list(io.input_shape), "layout": "NHWC", "dtype": "int8",
                  "scale": io.input_scale, "zero_point": io.input_zero_point},
        "output": {"shape": list(io.output_shape), "dtype": "int8", "scale": io.output_scale,
                   "zero_point": io.output_zero_point},
        "graph": model_summary(model, source),
        "memory": memory,
        "latency": {"lut_ms": priced["latency_ms"], "kernel_cycles": priced["kernel_cycles"],
                    "overhead_cycles": priced["overhead_cycles"],
                    "unmeasured_ops": priced["unmeasured_ops"]},
        "flash": {"model_bytes": len(model), "mcu_flash_bytes": mcu.flash_bytes},
    }
    board_head = (memory["board_arena_head_bytes"] if has_plan
                  else board_arena_head_bytes(model, source))
    memory["model_board_arena_head_bytes"] = board_head
    # A memory budget covers the arena and the firmware's sensing ring of one input window.
    ring = input_buffer_bytes(math.prod(io.input_shape[1:-1]), io.input_shape[-1])
    budget = {"latency_ms": lat_ms, "memory_bytes": mem_bytes, "input_buffer_bytes": ring,
              "fits_latency": None if lat_ms is None else priced["latency_ms"] <= lat_ms,
              "fits_memory": None if mem_bytes is None else board_head + ring <= mem_bytes,
              "fits_sram": given["needed"] <= mcu.sram_bytes,
              "fits_flash": len(model) <= mcu.flash_bytes}
    report["budget"] = budget
    for key, what in (("fits_latency", "latency budget"), ("fits_memory", "memory budget"),
                      ("fits_sram", f"{mcu.name}'s SRAM"), ("fits_flash", f"{mcu.name}'s flash")):
        if budget[key] is False:
            failures.append(f"the model exceeds the {what}")

    if data is not None:
        if io.output_shape[-1] != data.n_classes:
            raise InputError(f"{data.name}: {data.n_classes} classes, the model has "
                             f"{io.output_shape[-1]} outputs")
        inputs = windows_for(io, data.x_test, data.name)
        outputs = run_both(plain, planned, inputs, memory, source,
                           arena_size if has_plan else None)
        plan_failures = plan_check(memory, outputs)
        tflm = outputs["tflm"] if has_plan else outputs["tflm_greedy"]
        if has_plan:
            failures += plan_failures
        else:
            notes += [f"(the plan that would be embedded) {f}" for f in plan_failures]
        par = parity(tflm, outputs["litert"], max_lsb)
        if par["max_lsb"] > max_lsb:
            failures.append(f"TFLM and LiteRT-reference differ by {par['max_lsb']} LSB "
                            f"(limit {max_lsb}) on {par['windows_over_limit']} test windows")
        report["parity"] = par
        report["accuracy"] = {"split": "test", "dataset": data.name,
                              "int8_tflm": int8_scores(tflm, data.y_test, data.n_classes),
                              "int8_litert": int8_scores(outputs["litert"], data.y_test,
                                                         data.n_classes)}
    elif has_plan and not memory["board_head_equals_lower_bound"]:
        failures.append(f"with its offline plan the arena head on the board is "
                        f"{memory['board_arena_head_bytes']} bytes, not the lower bound "
                        f"{memory['board_lower_bound_bytes']}")
    report["status"] = "failed" if failures else "passed"
    report["seconds"] = time.perf_counter() - start
    return report
