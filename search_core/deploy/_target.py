"""The model on the target: the int8 .tflite built into TFLite-Micro + CMSIS-NN firmware
(`lut_store.target`) and run on an emulated Cortex-M, its outputs compared window by window with
the host reference (TFLM's Python interpreter, reference kernels, the same int8 windows), its
32-bit arena compared with the memory model's board head, its linked flash and emulator ticks.

Shared by `micronas verify --target` and the deployment stage's optional target step (DeployConfig
`target`). Ticks on QEMU are emulator figures (QEMU instruction counts), never board cycles: every
key that holds them says `emulator`.
"""

from __future__ import annotations

import numpy as np

from lut_store import InputError

from ._checks import arena
from ._config import TARGET_CHOICES
from ._memory import board_arena_head_bytes
from ._runtime import run_tflm

DEFAULT_WINDOWS = 256
# The windows ride in the image's flash: several runs of at most this many input bytes each keep
# a large test split (UCI-HAR's 2947 x 1152 B) within the emulated 4 MB of flash.
_CHUNK_BYTES = 1 << 20
TICKS_NOTE = "emulator ticks (QEMU instruction counts, not board cycles)"


def require_target(target: str | None, tflm=None) -> None:
    """One InputError line, before anything is trained or built, if the target cannot run
    (unknown target, no cross toolchain, no QEMU, no TFLM tree)."""
    if target is None:
        return
    from lut_store.target import check_profile_target
    if target not in TARGET_CHOICES:
        raise InputError(f"unknown target {target!r} (known: {', '.join(TARGET_CHOICES)})")
    check_profile_target(target, tflm)


def pick_windows(inputs: np.ndarray, labels, n: int | None):
    """The first `n` windows (all when n is None): the same subset every run."""
    if n is None or n >= len(inputs):
        return inputs, labels
    return inputs[:n], (None if labels is None else np.asarray(labels)[:n])


def _run_chunks(model: bytes, inputs: np.ndarray, target: str, tflm) -> list:
    from lut_store.target import run_model

    if not len(inputs):
        raise InputError("no windows to run on the target")
    per = max(1, _CHUNK_BYTES // max(1, inputs[0].size))
    return [run_model(model, inputs[i:i + per], target, tflm=tflm)
            for i in range(0, len(inputs), per)]


def target_check(model: bytes, inputs: np.ndarray, target: str, *, tflm=None,
                 labels=None, n_classes: int | None = None, max_lsb: int = 1,
                 expected_head: int | None = None, expected_head_what: str = "",
                 source: str = "<model>") -> dict:
    """Run `model` on `inputs` (int8, (N, *input shape)) on `target` and compare. The `target`
    section of model.json / `verify --json`; its "failures" are the gate's:

    - the target's int8 outputs within `max_lsb` of the host reference on every window;
    - the target's arena head == `expected_head` (the search's peak memory; default the memory
      model's board head, `lut_store.memory.arena_head_bytes(model, kernels=CMSIS_NN)`).

    A model that does not fit the target's RAM, or a missing toolchain or tree, is InputError."""
    require_target(target, tflm)
    model = bytes(model)
    inputs = np.asarray(inputs)
    runs = _run_chunks(model, inputs, target, tflm)
    first = runs[0]
    outputs = np.concatenate([r.outputs for r in runs])
    ticks = np.concatenate([r.emulator_ticks for r in runs])
    op_ticks = np.concatenate([r.op_emulator_ticks for r in runs])

    # The outputs do not depend on the arena's size; a roomy one avoids the planner's limits
    # that an arena of exactly the measured size can hit on a model without an offline plan.
    host = run_tflm(model, inputs, 2 * arena(model, source)["total"] + (1 << 20), source)
    diff = np.abs(outputs.astype(np.int32) - host.astype(np.int32)).reshape(len(outputs), -1)
    per_window = diff.max(axis=1)
    board_head = board_arena_head_bytes(model, source)
    if expected_head is None:
        expected_head, expected_head_what = board_head, "the memory model's board head"
    head = int(first.arena["head"])
    flash = first.flash
    image_without_windows = int(flash["total"]) - int(flash["windows"])
    per_op = np.median(op_ticks, axis=0) if op_ticks.size else np.zeros(0)
    section = {
        "name": first.target.name, "machine": first.target.machine, "core": first.target.core,
        "windows": len(outputs),
        "parity": {
            "reference": "TFLM's Python interpreter, reference kernels, the same int8 windows",
            "bit_identical_share": float(np.mean(per_window == 0)) if len(per_window) else 1.0,
            "max_lsb": int(per_window.max()) if len(per_window) else 0,
            "limit_lsb": int(max_lsb),
            "windows_over_limit": int((per_window > max_lsb).sum()),
            "argmax_disagreements": int((outputs.reshape(len(outputs), -1).argmax(1)
                                         != host.reshape(len(host), -1).argmax(1)).sum()),
            # Few distinct outputs (a saturated or near-uniform softmax) make the match weak.
            "distinct_outputs": len({row.tobytes() for row in outputs.reshape(len(outputs), -1)}),
        },
        "arena": {"head_bytes": head, "tail_bytes": int(first.arena["tail"]),
                  "total_bytes": int(first.arena["total"]),
                  "available_bytes": int(first.arena["available"]),
                  "board_head_bytes": board_head,
                  "head_equals_board_head": head == board_head,
                  "expected_head_bytes": int(expected_head),
                  "expected_head": expected_head_what,
                  "head_equals_expected": head == int(expected_head),
                  "scratch_bytes": int(first.scratch_bytes)},
        "flash": {"image_bytes": int(flash["total"]), "model_bytes": int(flash["model"]),
                  "windows_bytes": int(flash["windows"]),
                  "image_without_windows_bytes": image_without_windows,
                  "runtime_bytes": int(flash["runtime"]),
                  "sections": {k: int(v) for k, v in flash.items()
                               if k not in ("total", "model", "windows", "runtime")},
                  "note": "linked image: text + rodata + data; the test windows ride in it, "
                          "image_without_windows_bytes is what the model and runtime need"},
        "emulator_ticks": {
            "note": TICKS_NOTE, "timer": first.timer, "timer_hz": first.timer_hz,
            "per_invoke_emulator_median": float(np.median(ticks)) if ticks.size else None,
            "per_invoke_emulator_max": int(ticks.max()) if ticks.size else None,
            "per_op_emulator_median": [{"node": i, "op": name, "emulator_ticks": float(t)}
                                       for i, (name, t) in enumerate(zip(first.op_names, per_op))],
        },
        "seconds": {"build": round(sum(r.build_seconds for r in runs), 2),
                    "library": round(sum(r.library_seconds for r in runs), 2),
                    "run": round(sum(r.run_seconds for r in runs), 2), "images": len(runs)},
    }
    if labels is not None and n_classes is not None:
        from ._checks import int8_scores
        section["accuracy"] = int8_scores(outputs, np.asarray(labels), n_classes)
    failures = []
    p = section["parity"]
    if p["max_lsb"] > max_lsb:
        failures.append(f"on {target} the int8 outputs differ from the host reference by up to "
                        f"{p['max_lsb']} LSB (limit {max_lsb}) on {p['windows_over_limit']} of "
                        f"{len(outputs)} windows")
    if head != int(expected_head):
        failures.append(f"on {target} the arena head is {head} bytes, not {expected_head_what} "
                        f"{int(expected_head)}")
    section["failures"] = failures
    section["status"] = "failed" if failures else "passed"
    return section


def describe_target(t: dict) -> list[str]:
    """The human lines of a target section (verify and export print them)."""
    p, a, f, e = t["parity"], t["arena"], t["flash"], t["emulator_ticks"]
    lines = [
        (f"on {t['name']} ({t['machine']}, {t['core']}), {t['windows']} windows: "
         f"{100 * p['bit_identical_share']:.1f} % bit-identical to the host reference, "
         f"max {p['max_lsb']} LSB"),
        (f"  arena on the 32-bit target: head {a['head_bytes']} B, tail {a['tail_bytes']} B, "
         f"total {a['total_bytes']} B; head {'==' if a['head_equals_expected'] else '!='} "
         f"{a['expected_head']} {a['expected_head_bytes']} B"),
        (f"  flash: image {f['image_bytes']} B (text+rodata+data), model {f['model_bytes']} B,"
         f" without the test windows {f['image_without_windows_bytes']} B")]
    if e["per_invoke_emulator_median"] is not None:
        lines.append(f"  {TICKS_NOTE}: {e['per_invoke_emulator_median']:.0f} per invoke (median)")
    if "accuracy" in t:
        lines.append(f"  int8 accuracy on the target {100 * t['accuracy']['accuracy']:.2f} %")
    return lines


def verify_on_target(model: bytes, target: str, *, tflm=None, data=None,
                     windows: int | None = DEFAULT_WINDOWS, max_lsb: int = 1, seed: int = 0,
                     source: str = "<model>") -> dict:
    """`micronas verify --target`: any full-int8 .tflite on `target`. Windows: the first
    `windows` of `data`'s test split (None: all of them) with its labels, or `windows` seeded
    random int8 inputs without a data set (so it runs on a model this project did not export)."""
    from lut_store.target import random_windows

    from ._runtime import io_spec, require_runtimes, windows_for

    require_target(target, tflm)           # before anything is read or built
    require_runtimes()
    io = io_spec(model, source)
    if data is not None:
        if io.output_shape[-1] != data.n_classes:
            raise InputError(f"{data.name}: {data.n_classes} classes, the model has "
                             f"{io.output_shape[-1]} outputs")
        inputs, labels = pick_windows(windows_for(io, data.x_test, data.name), data.y_test, windows)
        n_classes, what = data.n_classes, f"the first {len(inputs)} test windows of {data.name}"
    else:
        inputs = random_windows(model, windows or DEFAULT_WINDOWS, seed, source)
        labels, n_classes, what = None, None, f"{len(inputs)} seeded random int8 windows (seed {seed})"
    section = target_check(model, inputs, target, tflm=tflm, labels=labels, n_classes=n_classes,
                           max_lsb=max_lsb, source=source)
    section["inputs"] = what
    section["io"] = {"input": {"shape": list(io.input_shape), "dtype": "int8",
                               "scale": io.input_scale, "zero_point": io.input_zero_point},
                     "output": {"shape": list(io.output_shape), "dtype": "int8",
                                "scale": io.output_scale, "zero_point": io.output_zero_point}}
    return section
